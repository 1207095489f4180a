// The real RaftNode with the simulator's checks on every Ready it hands out: the driver calls
// ready() exactly as it does in a peer, and the checker sees each Ready at that moment (Election
// Safety, Leader Completeness on a new leader, Log Matching, State Machine Safety on commits),
// plus the busy-loop rule: hasReady() never promises an empty Ready.

import { RaftNode, type RaftNodeInit, type Ready } from '../../src/core/node.ts';
import { entryKey, type Checker } from './checker.ts';

export interface CheckedNodeHooks {
  readonly id: string;
  readonly checker: Checker;
  readonly mode: 'raft' | 'parallel';
  /** A Ready was just taken (the simulator's own bookkeeping: observers, tracing). */
  readonly taken?: (node: CheckedNode, rd: Ready, becameLeader: boolean) => void;
}

export class CheckedNode extends RaftNode {
  readonly #h: CheckedNodeHooks;
  #wasLeader = false;
  #lastSoft = 'follower/null';
  /** Highest index this node was seen to consider committed. */
  commitSeen: number;

  constructor(init: RaftNodeInit, hooks: CheckedNodeHooks) {
    super(init);
    this.#h = hooks;
    this.commitSeen = init.restore?.snapshot?.meta.index ?? 0;
  }

  override ready(): Ready {
    const rd = super.ready();
    const soft = `${rd.softState.role}/${rd.softState.leader}`;
    if (isEmpty(rd) && soft === this.#lastSoft) this.#h.checker.fail(`${this.#h.id}: hasReady() was true but the Ready is empty (a busy loop)`);
    this.#lastSoft = soft;
    const becameLeader = rd.softState.role === 'leader' && !this.#wasLeader;
    this.#check(rd, becameLeader);
    this.#h.taken?.(this, rd, becameLeader);
    return rd;
  }

  #check(rd: Ready, becameLeader: boolean): void {
    const c = this.#h.checker;
    const term = this.term;
    if (rd.softState.role === 'leader') {
      c.leader(this.#h.id, term);
      if (becameLeader) c.leaderComplete(this.#h.id, term, this.firstIndex - 1, (i) => this.termAt(i), (i) => this.entryAt(i));
    }
    this.#wasLeader = rd.softState.role === 'leader';
    // Log Matching is Raft's; parallel mode replaces it by origin identity (checked on commit).
    if (this.#h.mode === 'raft') {
      let prevTerm = -1;
      for (const e of rd.entries) {
        c.logEntry(this.#h.id, e, prevTerm !== -1 ? prevTerm : this.termAt(e.index - 1));
        prevTerm = e.term;
      }
    }
    const commit = this.commitIndex;
    if (commit > this.commitSeen) {
      for (let i = Math.max(this.commitSeen + 1, this.firstIndex); i <= commit; i++) {
        const e = this.entryAt(i);
        if (e !== undefined) c.commit(this.#h.id, e, term);
      }
      this.commitSeen = commit;
    }
    if (this.#h.mode === 'parallel') {
      for (const i of this.status().committedAbove) {
        const e = this.entryAt(i);
        if (e !== undefined) c.commit(this.#h.id, e, term);
      }
    }
  }
}

function isEmpty(rd: Ready): boolean {
  return rd.hardState === null && rd.snapshot === null && rd.entries.length === 0 && rd.fills.length === 0 &&
    rd.messages.length === 0 && rd.messagesAfterPersist.length === 0 && rd.committedEntries.length === 0 &&
    rd.readStates.length === 0 && rd.droppedReads.length === 0;
}

export { entryKey };
