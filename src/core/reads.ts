// The leader's side of linearizable reads: ReadIndex rounds (batched, confirmed by a quorum of
// heartbeat acknowledgements) and lease reads; a follower's read is forwarded to the leader and
// answered with a read index it waits to apply. The leader never answers before a commit of its
// own term, and never skips waiting for its own apply (the runtime does that wait).

import { elapsedMs, instant } from './clock.ts';
import type { RaftConfig } from './config.ts';
import { RaftError } from './errors.ts';
import type { Raft } from './raft.ts';
import type { NodeId, ReadContext, ReadPath } from './types.ts';

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

/**
 * Whether this leader may answer a read from its lease now. The clock is read here, at the
 * check, never taken from a tick: a "now" saved earlier would outlive a stall.
 */
export function leaseValid(r: Raft): boolean {
  if (!r.cfg.leaseReads || r.role !== 'leader' || r.cfg.clock === null) return false;
  // Voters grant a transfer vote even while they hold this leader's lease, so once a timeoutNow
  // has left, no round of this term can make a lease safe again.
  if (r.transferee !== null || r.leaseForfeited) return false;
  const base = r.readOnly.leaseBase;
  return base !== null && elapsedMs(r.cfg.clock, base) < leaseMs(r.cfg);
}

/**
 * The read index: the commit index, or in parallel mode the highest committed index (an entry
 * committed out of order may already have been acknowledged to its writer).
 */
function readIndexNow(r: Raft): number {
  return r.parallel ? r.log.maxCommitted() : r.log.committed;
}

function committedInCurrentTerm(r: Raft): boolean {
  // Parallel mode: the Merge stage's range is re-stamped with this term, so an entry of this
  // term being committed proves nothing until the barrier closing that range is.
  if (r.parallel) return r.log.committed >= r.par.barrier && r.role === 'leader';
  return r.log.term(r.log.committed) === r.term;
}

/**
 * A read request: local (from === null) or forwarded by a follower. Throws ERR_READ_LIMIT when
 * the pending-read bound is reached, ERR_NOT_LEADER when there is nobody to ask.
 */
export function requestRead(r: Raft, context: ReadContext, from: NodeId | null, allowLease = true): void {
  if (r.role !== 'leader') {
    if (r.leader === null || from !== null) {
      if (from === null) throw new RaftError('ERR_NOT_LEADER', 'no leader is known: cannot obtain a read index', null);
      r.dropRead(context, from);
      return;
    }
    r.send({ type: 'readIndex', from: r.id, to: r.leader, term: r.term, context });
    return;
  }
  if (r.readOnly.full() || r.readsAwaitingCommit.length >= r.cfg.pendingReadsMax) {
    if (from === null) throw new RaftError('ERR_READ_LIMIT', `too many reads pending (pendingReadsMax=${r.cfg.pendingReadsMax})`, r.id);
    r.dropRead(context, from);
    return;
  }
  if (!committedInCurrentTerm(r)) {
    // Section 6.4 step 2: until its no-op commits, the leader does not know the commit index.
    r.readsAwaitingCommit.push({ context, from, allowLease });
    return;
  }
  serveOrQueue(r, context, from, allowLease);
}

function serveOrQueue(r: Raft, context: ReadContext, from: NodeId | null, allowLease: boolean): void {
  if (r.voters.length === 1 && r.voters[0] === r.id) {
    answer(r, context, from, readIndexNow(r), 'readIndex');
    return;
  }
  if (allowLease && leaseValid(r)) {
    r.stats.leaseReads++;
    answer(r, context, from, readIndexNow(r), 'lease');
    return;
  }
  r.readOnly.enqueue({ context, from });
}

function answer(r: Raft, context: ReadContext, from: NodeId | null, index: number, path: ReadPath): void {
  if (from === null || from === r.id) r.readStates.push({ context, index, path });
  else r.send({ type: 'readIndexResp', from: r.id, to: from, term: r.term, context, index, reject: false });
}

/** The first commit of the term releases the reads that waited for it. */
export function onCommit(r: Raft): void {
  if (r.readsAwaitingCommit.length === 0 || !committedInCurrentTerm(r)) return;
  const waiting = r.readsAwaitingCommit;
  r.readsAwaitingCommit = [];
  for (const w of waiting) serveOrQueue(r, w.context, w.from, w.allowLease);
}

/** Starts a confirmation round carrying every queued read; heartbeats carry its id. */
export function startRound(r: Raft): number {
  r.readOnly.trim(r.cfg.electionTicks * 2);
  r.stats.readRounds++;
  // Taken when the round is made, before its heartbeats leave: an early send time only ends the
  // lease sooner.
  return r.readOnly.startRound(readIndexNow(r), r.cfg.clock === null ? null : instant(r.cfg.clock));
}

export function onHeartbeatAck(r: Raft, from: NodeId, round: number): void {
  for (const c of r.readOnly.ack(from, round, r.id, r.voters)) answer(r, c.context, c.from, c.index, 'readIndex');
}

/** Reads queued since the last heartbeat get their own round now rather than waiting a tick. */
export function flushReads(r: Raft): void {
  if (r.role !== 'leader' || !r.readOnly.hasQueued()) return;
  const round = startRound(r);
  for (const [id, pr] of r.progress) {
    if (id === r.id || pr.isLearner) continue;
    r.send({ type: 'hb', from: r.id, to: id, term: r.term, commit: Math.min(pr.match, r.log.committed), round });
    r.stats.heartbeatsSent++;
  }
}
