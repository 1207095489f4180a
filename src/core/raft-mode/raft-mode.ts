// Plain Raft as a replication mode: a follower takes an append only when its previous entry
// matches (truncating a conflicting suffix), with fast backtracking hints and a reorder buffer for
// appends that arrive ahead of a gap; the leader commits by quorum match (replication.ts); entries
// apply in log order; an entry's data is the command itself.

import { RaftLog } from '../log.ts';
import type { AppendMsg, AppendRespMsg, HeartbeatMsg, MergeReply, SnapshotMsg, VoteMsg, VoteRespMsg } from '../message.ts';
import { emptyModeStats, type ModeStats, type ReplicationMode } from '../mode.ts';
import type { Raft } from '../raft.ts';
import type { Entry, EntryType, Index, NodeId, Term } from '../types.ts';

export class RaftMode implements ReplicationMode {
  readonly name = 'raft' as const;
  readonly perKeyReads = false;
  readonly log = new RaftLog();
  readonly stats: ModeStats = emptyModeStats();
  #r: Raft | null = null;

  attach(raft: Raft): void {
    this.#r = raft;
  }

  get #raft(): Raft {
    return this.#r!;
  }

  // ---- terms and elections -------------------------------------------------------------------

  onNewTerm(): void {}

  onCampaign(): void {}

  voteRequest(m: VoteMsg): VoteMsg {
    return m;
  }

  voteReply(_m: VoteMsg): MergeReply | null | undefined {
    return undefined;
  }

  acceptVote(m: VoteRespMsg): boolean {
    return !m.reject;
  }

  onElected(): Index {
    return this.log.lastIndex() + 1;
  }

  onTermNoop(_index: Index): void {}

  leaderCommitted(): boolean {
    return this.log.term(this.log.committed) === this.#raft.term;
  }

  readIndex(): Index {
    return this.log.committed;
  }

  // ---- entries ----------------------------------------------------------------------------------

  entryData(_index: Index, _kind: EntryType, payload: Uint8Array, _keys: readonly string[] | null): Uint8Array {
    return payload;
  }

  appendProposals(term: Term, batch: readonly Uint8Array[]): Index {
    const first = this.log.lastIndex() + 1;
    const entries: Entry[] = new Array<Entry>(batch.length);
    for (let i = 0; i < batch.length; i++) entries[i] = { term, index: first + i, type: 'normal', data: batch[i]! };
    this.log.append(entries);
    return first;
  }

  payloadOf(e: Entry): Uint8Array {
    return e.data;
  }

  originTermOf(e: Entry): Term {
    return e.term;
  }

  // ---- replication: the follower -------------------------------------------------------------------

  onAppend(m: AppendMsg): void {
    const r = this.#raft;
    const log = this.log;
    let prevIndex = m.prevIndex;
    let prevTerm = m.prevTerm;
    let entries = m.entries;
    if (prevIndex < log.committed) {
      // The prefix up to our commit index is settled; keep only what lies beyond it.
      const skip = log.committed - prevIndex;
      if (skip >= entries.length) {
        this.#reply(m.from, log.committed);
        return;
      }
      entries = entries.slice(skip);
      prevIndex = log.committed;
      prevTerm = log.term(prevIndex);
    }
    if (log.matchTerm(prevIndex, prevTerm)) {
      const lastNew = log.appendFollowing(prevIndex, entries);
      log.commitTo(Math.min(m.commit, lastNew));
      this.#reply(m.from, lastNew);
      r.reorder.drain(() => log.lastIndex(), r.term, (held) => this.onAppend(held));
      return;
    }
    if (prevIndex > log.lastIndex() && r.reorder.hold(m, r.tickCount)) return;
    this.#reject(m.from, m.prevIndex, m.prevTerm);
  }

  #reply(to: NodeId, index: number): void {
    const r = this.#raft;
    r.send({ type: 'appResp', from: r.id, to, term: r.term, index, reject: false, hintIndex: 0, hintTerm: 0 });
  }

  #reject(to: NodeId, prevIndex: number, prevTerm: number): void {
    const r = this.#raft;
    const hintIndex = this.log.findConflictByTerm(Math.min(prevIndex, this.log.lastIndex()), prevTerm);
    const hintTerm = this.log.term(hintIndex);
    r.send({ type: 'appResp', from: r.id, to, term: r.term, index: prevIndex, reject: true, hintIndex, hintTerm: Math.max(hintTerm, 0) });
    r.stats.appendRejectsSent++;
  }

  /** Held appends whose gap did not fill in time are rejected, so the leader probes and resends. */
  expireReorder(): void {
    const r = this.#raft;
    const oldest = r.reorder.expire(r.tickCount, r.cfg.reorderTimeoutTicks);
    if (oldest !== null && oldest.term === r.term) this.#reject(oldest.from, oldest.prevIndex, oldest.prevTerm);
  }

  onHeartbeat(m: HeartbeatMsg): void {
    const r = this.#raft;
    this.log.commitTo(Math.min(m.commit, this.log.lastIndex()));
    r.send({ type: 'hbResp', from: r.id, to: m.from, term: r.term, round: m.round });
  }

  onSnapshot(m: SnapshotMsg): void {
    const r = this.#raft;
    const log = this.log;
    const meta = m.snapshot.meta;
    if (meta.index <= log.committed) {
      this.#reply(m.from, log.committed);
      return;
    }
    if (log.matchTerm(meta.index, meta.term)) {
      // We already hold the snapshot's last entry: fast-forward the commit index instead.
      log.commitTo(meta.index);
      this.#reply(m.from, meta.index);
      return;
    }
    log.restore(meta);
    r.installSnapshot(m.snapshot);
    this.#reply(m.from, meta.index);
  }

  // ---- replication: the leader -----------------------------------------------------------------

  onAppendResponse(m: AppendRespMsg): void {
    this.#raft.replication.handleAppendResponse(m);
  }

  commitSetFor(): Index[] | undefined {
    return undefined;
  }

  committedAhead(_i: Index): boolean {
    return false;
  }

  // ---- the Ready cycle ---------------------------------------------------------------------------

  durableIndex(): Index {
    return this.log.stableIndex;
  }

  onSelfDurable(_from: Index, _to: Index): void {}

  hasFills(): boolean {
    return false;
  }

  takeFills(): Entry[] {
    return [];
  }

  fillsPersisted(): void {}

  hasApplicable(): boolean {
    return this.log.applicableTo() > this.log.applied;
  }

  takeApplicable(): Entry[] {
    return this.log.applicableEntries();
  }

  applied(entries: readonly Entry[]): void {
    const last = entries[entries.length - 1];
    if (last !== undefined) this.log.appliedTo(last.index);
  }

  keyReadable(_key: string, index: Index): boolean {
    return this.log.applied >= index;
  }

  above(): { committed: readonly Index[]; applied: readonly Index[] } {
    return { committed: [], applied: [] };
  }
}
