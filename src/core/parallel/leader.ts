// ParallelRaft, leader side: acknowledgements of entries held past a hole, and out-of-order
// commit — an entry of this term is committed once a quorum holds it, without waiting for the
// entries before it, but only after the Merge stage's range (up to the barrier) is committed.

import type { AppendRespMsg } from '../message.ts';
import type { Progress } from '../progress.ts';
import { proposalBytes } from '../replication.ts';
import type { Index } from '../types.ts';
import type { ParallelContext } from './state.ts';

export function onAppendResponse(c: ParallelContext, m: AppendRespMsg): void {
  const { raft: r, log } = c;
  const pr = r.tracker.get(m.from);
  if (pr === undefined) return;
  const before = pr.match;
  const wasProbe = pr.state === 'probe';
  const advanced = r.replication.onAppendResponse(pr, m);
  if (m.reject) return;
  // A probe answered with a verified prefix short of it: the follower holds our entries only past
  // a hole, so resend from the end of its prefix (a Raft follower would have rejected instead).
  // After a restart that prefix may even lie below match (progress.ts lowerMatchTo). The probe is
  // sent again only when it moved: an unchanged answer waits for the next heartbeat, never a
  // zero-time loop of probes and answers (parallel seed 2829).
  if (wasProbe && pr.state === 'probe' && m.index + 1 < pr.next) {
    if (m.index < pr.match) pr.lowerMatchTo(m.index);
    pr.next = m.index + 1;
    pr.probeSent = false;
  }
  const fresh: Index[] = [];
  if (m.acks !== undefined) {
    const last = log.lastIndex();
    for (const i of m.acks) {
      if (i > pr.match && i <= last && !pr.ooo.has(i)) {
        pr.ooo.add(i);
        fresh.push(i);
      }
    }
  }
  if (pr.isLearner) return;
  if (advanced) {
    r.replication.maybeCommit();
    for (let i = before + 1; i <= pr.match; i++) fresh.push(i);
  }
  commitOutOfOrder(c, fresh);
}

/** The leader's own log became durable through `to` (from `from`): its vote may commit more. */
export function onSelfDurable(c: ParallelContext, from: Index, to: Index): void {
  const fresh: Index[] = [];
  for (let i = from + 1; i <= to; i++) fresh.push(i);
  commitOutOfOrder(c, fresh);
}

/**
 * Whether this node leads with a complete view of what is committed: its barrier is committed, so
 * every index up to it is, and above it only this leader commits. During its Merge stage a leader
 * cannot tell which entries older leaders committed out of order (it re-stamped them, uncommitted).
 */
export function knowsCommits(c: ParallelContext): boolean {
  return c.raft.role === 'leader' && c.log.committed >= c.state.barrier;
}

function holds(pr: Progress, i: Index): boolean {
  return pr.match >= i || pr.ooo.has(i);
}

/** Commits each candidate index of this term that a quorum of voters holds. */
function commitOutOfOrder(c: ParallelContext, candidates: readonly Index[]): void {
  const { raft: r, log, state } = c;
  if (candidates.length === 0 || log.committed < state.barrier) return;
  const need = r.tracker.quorum();
  let any = false;
  for (const i of candidates) {
    if (log.isCommitted(i) || log.term(i) !== r.term) continue;
    let n = 0;
    for (const id of r.tracker.voters) {
      const pr = r.tracker.get(id);
      if (pr !== undefined && holds(pr, i)) n++;
    }
    if (n < need) continue;
    r.releaseUncommitted(proposalBytes(log.entry(i)));
    const wasAhead = i > log.committed + 1;
    log.commitOne(i);
    if (wasAhead) state.stats.outOfOrderCommitted++;
    any = true;
  }
  if (!any) return;
  for (const [id, pr] of r.tracker.entries()) if (id !== r.id) pr.commitSetDirty = true;
  r.reads.onCommit();
}

/**
 * The out-of-order commits a follower should hear about: those it holds (or is being sent, up to
 * `upTo`). Undefined when there are none, so raft-shaped messages stay small.
 */
export function commitSetFor(c: ParallelContext, pr: Progress, upTo: Index): Index[] | undefined {
  const above = c.log.committedAbove;
  if (above.size === 0) return undefined;
  const out: Index[] = [];
  for (const i of above) if (i <= upTo || holds(pr, i)) out.push(i);
  return out.length > 0 ? out : undefined;
}
