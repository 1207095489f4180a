// Linearizable reads: ReadIndex rounds (batched, confirmed by a quorum of heartbeat
// acknowledgements) and the leader lease; a follower's read is forwarded to the leader and
// answered with a read index it waits to apply. The leader never answers before it knows its
// commit index, and never skips waiting for its own apply (the runtime does that wait). This
// class owns every read in flight and the lease (docs/ready-advance.md, "The lease").

import { elapsedMs, instant } from './clock.ts';
import type { RaftConfig } from './config.ts';
import { RaftError } from './errors.ts';
import type { Raft } from './raft.ts';
import { ReadOnly } from './read-only.ts';
import type { NodeId, ReadContext, ReadPath, ReadState } from './types.ts';

/**
 * How long a lease lasts after the send of the newest round a quorum confirmed, in milliseconds.
 * A voter that acknowledged that round refuses votes until electionTicks of its own ticks have
 * passed since it received it; its first tick may come at once, so it holds out at least
 * (electionTicks - 1) ticks of its clock. The drift margin covers clocks that run at different
 * rates. It is only as good as the voters' settings: every member must use the same ones.
 */
export function leaseMs(cfg: RaftConfig): number {
  return (cfg.electionTicks - 1) * cfg.tickMs * (1 - cfg.leaseDriftPercent / 100);
}

interface WaitingRead {
  readonly context: ReadContext;
  readonly from: NodeId | null;
  readonly allowLease: boolean;
}

export class Reads {
  readonly #r: Raft;
  readonly #readOnly: ReadOnly;
  /** Leader: reads waiting for it to know its commit index before they can take one. */
  #awaitingCommit: WaitingRead[] = [];
  /** Reads answered (or given up) since the last Ready. */
  #states: ReadState[] = [];
  #dropped: ReadContext[] = [];
  /**
   * Leader: a timeoutNow left this term, so voters may elect the transferee despite this
   * leader's lease (transfer votes bypass it). No lease is valid again until a new term.
   */
  #leaseForfeited = false;

  constructor(raft: Raft) {
    this.#r = raft;
    this.#readOnly = new ReadOnly(raft.cfg.pendingReadsMax);
  }

  get pending(): number {
    return this.#readOnly.pending + this.#awaitingCommit.length;
  }

  /** The lease's base, for tests and the lease rules' unit tests. */
  get readOnly(): ReadOnly {
    return this.#readOnly;
  }

  /**
   * Whether this leader may answer a read from its lease now. The clock is read here, at the
   * check, never taken from a tick: a "now" saved earlier would outlive a stall.
   */
  leaseValid(): boolean {
    const r = this.#r;
    if (!r.cfg.leaseReads || r.role !== 'leader' || r.cfg.clock === null) return false;
    // Voters grant a transfer vote even while they hold this leader's lease, so once a timeoutNow
    // has left, no round of this term can make a lease safe again.
    if (r.transferee !== null || this.#leaseForfeited) return false;
    const base = this.#readOnly.leaseBase;
    return base !== null && elapsedMs(r.cfg.clock, base) < leaseMs(r.cfg);
  }

  /** A timeoutNow is leaving: from now on this term's reads go by ReadIndex. Counted once a term. */
  forfeitLease(): void {
    if (this.#leaseForfeited) return;
    this.#leaseForfeited = true;
    this.#r.stats.leaseForfeitedTerms++;
  }

  /** A new leadership: its own lease, once a round is confirmed. */
  startLeading(): void {
    this.#leaseForfeited = false;
  }

  /**
   * A read request: local (from === null) or forwarded by a follower. Throws ERR_READ_LIMIT when
   * the pending-read bound is reached, ERR_NOT_LEADER when there is nobody to ask.
   */
  request(context: ReadContext, from: NodeId | null, allowLease = true): void {
    const r = this.#r;
    if (r.role !== 'leader') {
      if (r.leader === null || from !== null) {
        if (from === null) throw new RaftError('ERR_NOT_LEADER', 'no leader is known: cannot obtain a read index', null);
        this.drop(context, from);
        return;
      }
      r.send({ type: 'readIndex', from: r.id, to: r.leader, term: r.term, context });
      return;
    }
    if (this.#readOnly.full() || this.#awaitingCommit.length >= r.cfg.pendingReadsMax) {
      if (from === null) throw new RaftError('ERR_READ_LIMIT', `too many reads pending (pendingReadsMax=${r.cfg.pendingReadsMax})`, r.id);
      this.drop(context, from);
      return;
    }
    if (!r.mode.leaderCommitted()) {
      // Section 6.4 step 2: until its no-op commits, the leader does not know the commit index.
      this.#awaitingCommit.push({ context, from, allowLease });
      return;
    }
    this.#serveOrQueue(context, from, allowLease);
  }

  #serveOrQueue(context: ReadContext, from: NodeId | null, allowLease: boolean): void {
    const r = this.#r;
    const voters = r.tracker.voters;
    if (voters.length === 1 && voters[0] === r.id) {
      this.#answer(context, from, r.mode.readIndex(), 'readIndex');
      return;
    }
    if (allowLease && this.leaseValid()) {
      r.stats.leaseReads++;
      this.#answer(context, from, r.mode.readIndex(), 'lease');
      return;
    }
    this.#readOnly.enqueue({ context, from });
  }

  #answer(context: ReadContext, from: NodeId | null, index: number, path: ReadPath): void {
    const r = this.#r;
    if (from === null || from === r.id) this.#states.push({ context, index, path });
    else r.send({ type: 'readIndexResp', from: r.id, to: from, term: r.term, context, index, reject: false });
  }

  /** A commit: the first one of the term releases the reads that waited for it. */
  onCommit(): void {
    if (this.#awaitingCommit.length === 0 || !this.#r.mode.leaderCommitted()) return;
    const waiting = this.#awaitingCommit;
    this.#awaitingCommit = [];
    for (const w of waiting) this.#serveOrQueue(w.context, w.from, w.allowLease);
  }

  /** Starts a confirmation round carrying every queued read; heartbeats carry its id. */
  startRound(): number {
    const r = this.#r;
    this.#readOnly.trim(r.cfg.electionTicks * 2);
    r.stats.readRounds++;
    // Taken when the round is made, before its heartbeats leave: an early send time only ends the
    // lease sooner.
    return this.#readOnly.startRound(r.mode.readIndex(), r.cfg.clock === null ? null : instant(r.cfg.clock));
  }

  onHeartbeatAck(from: NodeId, round: number): void {
    for (const c of this.#readOnly.ack(from, round, this.#r.id, this.#r.tracker.voters)) this.#answer(c.context, c.from, c.index, 'readIndex');
  }

  hasQueued(): boolean {
    return this.#readOnly.hasQueued();
  }

  /**
   * Reads queued since the last heartbeat get their own round now rather than waiting a tick,
   * unless readRoundsInFlightMax rounds with reads are unconfirmed: then they go with the next
   * round once one confirms (the Ready that answers it flushes again) or with the next heartbeat.
   */
  flush(): void {
    const r = this.#r;
    if (r.role !== 'leader' || !this.#readOnly.hasQueued()) return;
    if (this.#readOnly.readRounds >= r.cfg.readRoundsInFlightMax) return;
    const round = this.startRound();
    for (const [id, pr] of r.tracker.entries()) {
      if (id === r.id || pr.isLearner) continue;
      r.send({ type: 'hb', from: r.id, to: id, term: r.term, commit: Math.min(pr.match, r.log.committed), round });
      r.stats.heartbeatsSent++;
    }
  }

  /** The leader answered a read this follower forwarded. */
  answered(context: ReadContext, index: number): void {
    this.#states.push({ context, index, path: 'readIndex' });
  }

  /** A read that cannot be served here (lost leadership, no leader): the runtime retries it. */
  drop(context: ReadContext, from: NodeId | null): void {
    const r = this.#r;
    if (from === null || from === r.id) this.#dropped.push(context);
    else r.send({ type: 'readIndexResp', from: r.id, to: from, term: r.term, context, index: 0, reject: true });
  }

  /** Leadership or term changed: every read in flight is given up (callers retry). */
  reset(): void {
    for (const q of this.#readOnly.drain()) this.drop(q.context, q.from);
    for (const w of this.#awaitingCommit) this.drop(w.context, w.from);
    this.#awaitingCommit = [];
  }

  hasOutcomes(): boolean {
    return this.#states.length > 0 || this.#dropped.length > 0;
  }

  /** The reads answered and given up since the last call, for a Ready. */
  takeOutcomes(): { states: ReadState[]; dropped: ReadContext[] } {
    const out = { states: this.#states, dropped: this.#dropped };
    this.#states = [];
    this.#dropped = [];
    return out;
  }
}
