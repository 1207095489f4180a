// A follower that relays the log to observers (follower-readers such as browser tabs) that chose
// it instead of the leader, to take that load off the leader. It sends committed entries only
// (they never change, so the relay needs no say in the log), and passes the observers' read-index
// requests to the leader and the answers back. This class owns the relay's progress and reads.

import { RaftError } from './errors.ts';
import type { AppendRespMsg, HeartbeatRespMsg, ReadIndexMsg, ReadIndexRespMsg } from './message.ts';
import { Progress } from './progress.ts';
import type { Raft } from './raft.ts';
import type { NodeId, ReadContext } from './types.ts';

/** Read contexts the relay puts on forwarded reads; runtimes must not use this prefix. */
export const relayReadPrefix = '\u0000relay:';

interface RelayedRead {
  readonly observer: NodeId;
  readonly context: ReadContext;
  readonly tick: number;
}

export class Relay {
  readonly #r: Raft;
  /** One per observer this follower relays to (created on first flush). */
  readonly #progress = new Map<NodeId, Progress>();
  readonly #reads = new Map<string, RelayedRead>();
  #nextRead = 1;
  #heartbeatElapsed = 0;

  constructor(raft: Raft) {
    this.#r = raft;
  }

  /** Whether this node relays now: a follower, allowed to, with observers connected. */
  active(): boolean {
    const r = this.#r;
    return r.role === 'follower' && r.cfg.relayObservers && r.tracker.observers.size > 0;
  }

  progress(id: NodeId): Progress | undefined {
    return this.#progress.get(id);
  }

  /** The relay's horizon: committed entries it holds. */
  #last(): number {
    const log = this.#r.log;
    return Math.min(log.committed, log.lastIndex());
  }

  #progressFor(id: NodeId): Progress {
    let pr = this.#progress.get(id);
    if (pr === undefined) {
      const cfg = this.#r.cfg;
      pr = new Progress(this.#last() + 1, true, cfg.learnerInflightMsgsMax, cfg.learnerInflightBytesMax);
      pr.recentActive = true;
      this.#progress.set(id, pr);
    }
    return pr;
  }

  flush(): void {
    if (!this.active()) return;
    const last = this.#last();
    for (const id of this.#r.tracker.observers) this.#r.replication.flushTo(id, this.#progressFor(id), last);
  }

  /** Follower ticks: heartbeats to observers (their liveness and commit notices), read expiry. */
  tick(): void {
    const r = this.#r;
    if (this.#reads.size > 0) {
      for (const [key, read] of this.#reads) {
        if (r.tickCount - read.tick < 2 * r.cfg.electionTicks) break;
        this.#reads.delete(key);
        r.reads.drop(read.context, read.observer);
      }
    }
    if (!this.active() || ++this.#heartbeatElapsed < r.cfg.heartbeatTicks) return;
    this.#heartbeatElapsed = 0;
    for (const [id, pr] of this.#progress) {
      r.send({ type: 'hb', from: r.id, to: id, term: r.term, commit: Math.min(pr.match, r.log.committed), round: 0 });
    }
  }

  onAppendResponse(m: AppendRespMsg): void {
    const pr = this.#progress.get(m.from);
    if (pr !== undefined) this.#r.replication.onAppendResponse(pr, m);
  }

  onHeartbeatResponse(m: HeartbeatRespMsg): void {
    const pr = this.#progress.get(m.from);
    if (pr !== undefined) this.#r.replication.onHeartbeatResponse(pr);
  }

  /** An observer's read: ask the leader under a relay context, bounded by pendingReadsMax. */
  forwardRead(m: ReadIndexMsg): void {
    const r = this.#r;
    if (!r.tracker.observers.has(m.from) || r.leader === null || this.#reads.size >= r.cfg.pendingReadsMax) {
      r.reads.drop(m.context, m.from);
      return;
    }
    const key = `${relayReadPrefix}${this.#nextRead++}`;
    this.#reads.set(key, { observer: m.from, context: m.context, tick: r.tickCount });
    r.send({ type: 'readIndex', from: r.id, to: r.leader, term: r.term, context: key });
  }

  /** The leader's answer to a relayed read goes back to the observer; false if it was not relayed. */
  onReadIndexResponse(m: ReadIndexRespMsg): boolean {
    if (typeof m.context !== 'string' || !m.context.startsWith(relayReadPrefix)) return false;
    const r = this.#r;
    const read = this.#reads.get(m.context);
    if (read === undefined) return true;
    this.#reads.delete(m.context);
    if (m.reject) r.reads.drop(read.context, read.observer);
    else r.send({ type: 'readIndexResp', from: r.id, to: read.observer, term: r.term, context: read.context, index: m.index, reject: false });
    return true;
  }

  /** Leadership or term changed: observers probe afresh, reads in flight are refused (they retry). */
  reset(): void {
    const r = this.#r;
    this.#progress.clear();
    this.#heartbeatElapsed = 0;
    for (const read of this.#reads.values()) r.reads.drop(read.context, read.observer);
    this.#reads.clear();
  }
}

export function assertContext(context: ReadContext): void {
  if (typeof context === 'string' && context.startsWith(relayReadPrefix)) {
    throw new RaftError('ERR_CONFIG_INVALID', `read context ${JSON.stringify(context)} uses the reserved relay prefix`, null);
  }
}
