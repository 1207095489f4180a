// Log replication: the leader's pipelined AppendEntries (flow-controlled per follower), commit by
// quorum for entries of the current term only (Figure 8), heartbeats; and the follower's side,
// with fast backtracking hints and the reorder buffer for appends that arrive ahead of a gap.

import { assert } from './assert.ts';
import type { AppendMsg, AppendRespMsg, HeartbeatMsg, HeartbeatRespMsg, SnapshotMsg } from './message.ts';
import type { Progress } from './progress.ts';
import { committedIndex } from './quorum.ts';
import type { Raft } from './raft.ts';
import * as reads from './reads.ts';
import { commitSetFor } from './parallel/leader.ts';
import type { Index, NodeId } from './types.ts';
import { entryBytes } from './types.ts';

// ---- leader ----------------------------------------------------------------------------------

/**
 * Sends what each follower is owed: new entries while its flow control allows, else a commit
 * notice if it lags the commit index. Called once per Ready, so proposals and acknowledgements
 * that arrived together share messages.
 */
export function flush(r: Raft): void {
  assert(r.role === 'leader', 'flush on a non-leader');
  const last = r.log.lastIndex();
  for (const [id, pr] of r.progress) {
    if (id !== r.id) flushTo(r, id, pr, last);
  }
  if (wantsTimeoutNow(r)) {
    r.forfeitLease();
    r.send({ type: 'timeoutNow', from: r.id, to: r.transferee!, term: r.term });
    r.progress.get(r.transferee!)!.timeoutNowSent = true;
  }
}

/**
 * Sends one follower (or observer) what it is owed of the log up to `last`: the leader passes
 * its last index, a follower relaying to observers its commit index (relay.ts).
 */
export function flushTo(r: Raft, id: NodeId, pr: Progress, last: Index): void {
  let sent = false;
  while (wantsAppend(r, pr, last)) {
    sendAppend(r, id, pr, last);
    sent = true;
    if (pr.state !== 'replicate') break;
  }
  if (sent) return;
  if (wantsCommit(r, pr)) sendCommit(r, id, pr);
  else if (wantsProbe(pr, last)) sendAppend(r, id, pr, last);
}

/** Whether flushTo() would send anything. */
export function owesTo(r: Raft, pr: Progress, last: Index): boolean {
  return wantsAppend(r, pr, last) || wantsCommit(r, pr) || wantsProbe(pr, last);
}

/** Whether flush() would send anything: hasReady() must agree with flush() exactly. */
export function owes(r: Raft): boolean {
  const last = r.log.lastIndex();
  for (const [id, pr] of r.progress) {
    if (id !== r.id && owesTo(r, pr, last)) return true;
  }
  return wantsTimeoutNow(r);
}

function wantsAppend(r: Raft, pr: Progress, last: number): boolean {
  if (pr.isPaused() || pr.next > last) return false;
  // A compacted prefix means a snapshot, sent only to a follower that is known to be alive.
  return r.log.term(pr.next - 1) !== -1 || (pr.recentActive && r.snapshot !== null);
}

function wantsCommit(r: Raft, pr: Progress): boolean {
  if (pr.state === 'snapshot') return false;
  return pr.sentCommit < Math.min(r.log.committed, pr.match) || (pr.commitSetDirty && r.role === 'leader');
}

/** A probe with nothing new to carry still finds where a follower stands. */
function wantsProbe(pr: Progress, last: number): boolean {
  return pr.state === 'probe' && !pr.probeSent && pr.next > last && pr.match < last;
}

function wantsTimeoutNow(r: Raft): boolean {
  if (r.transferee === null) return false;
  const pr = r.progress.get(r.transferee);
  return pr !== undefined && pr.match === r.log.lastIndex() && !pr.timeoutNowSent;
}

/** One AppendEntries from pr.next up to `last` (or a snapshot when that prefix is compacted). */
function sendAppend(r: Raft, to: NodeId, pr: Progress, last: Index): void {
  const prevIndex = pr.next - 1;
  const prevTerm = r.log.term(prevIndex);
  if (prevTerm === -1) {
    sendSnapshot(r, to, pr);
    return;
  }
  const entries = pr.next <= last ? r.log.slice(pr.next, last + 1, r.cfg.msgBytesMax) : [];
  const commit = r.log.committed;
  const commitSet = r.parallel && r.role === 'leader' ? commitSetFor(r, pr, prevIndex + entries.length) : undefined;
  if (commitSet !== undefined) pr.commitSetDirty = false;
  r.send(commitSet === undefined
    ? { type: 'app', from: r.id, to, term: r.term, prevIndex, prevTerm, entries, commit }
    : { type: 'app', from: r.id, to, term: r.term, prevIndex, prevTerm, entries, commit, commitSet });
  r.stats.appendsSent++;
  r.stats.entriesSent += entries.length;
  pr.sentCommit = Math.max(pr.sentCommit, Math.min(commit, prevIndex + entries.length));
  if (pr.state === 'replicate' && entries.length > 0) {
    if (pr.inflights.count === 0) pr.progressTick = r.tickCount;
    let bytes = 0;
    for (const e of entries) bytes += entryBytes(e);
    pr.sentTo(entries[entries.length - 1]!.index, bytes);
  } else if (pr.state === 'probe') {
    pr.probeSent = true;
  }
}

/**
 * A commit notice: a heartbeat outside any read round, carrying the commit index capped at what
 * the follower is known to hold (so it never commits entries it may not have).
 */
function sendCommit(r: Raft, to: NodeId, pr: Progress): void {
  const commit = Math.min(r.log.committed, pr.match);
  pr.commitSetDirty = false;
  const commitSet = r.parallel && r.role === 'leader' ? commitSetFor(r, pr, pr.match) : undefined;
  r.send(commitSet === undefined
    ? { type: 'hb', from: r.id, to, term: r.term, commit, round: 0 }
    : { type: 'hb', from: r.id, to, term: r.term, commit, round: 0, commitSet });
  r.stats.heartbeatsSent++;
  pr.sentCommit = commit;
}

function sendSnapshot(r: Raft, to: NodeId, pr: Progress): void {
  const snap = r.snapshot;
  assert(snap !== null, () => `follower ${to} needs entries before ${r.log.firstIndex()} but there is no snapshot`);
  pr.becomeSnapshot(snap.meta.index);
  r.send({ type: 'snap', from: r.id, to, term: r.term, snapshot: snap });
  r.stats.snapshotsSent++;
}

export function handleAppendResponse(r: Raft, m: AppendRespMsg): void {
  const pr = r.progress.get(m.from);
  if (pr === undefined) return;
  if (onAppendResponse(r, pr, m) && !pr.isLearner) maybeCommit(r);
}

/** Flow control on an acknowledgement or rejection; true when the follower's match advanced. */
export function onAppendResponse(r: Raft, pr: Progress, m: AppendRespMsg): boolean {
  pr.recentActive = true;
  if (m.reject) {
    r.stats.appendRejectsReceived++;
    const probeFrom = m.hintTerm > 0 ? r.log.findConflictByTerm(m.hintIndex, m.hintTerm) : m.hintIndex;
    if (pr.maybeDecrTo(m.index, probeFrom)) {
      if (pr.state === 'replicate') pr.becomeProbe();
      pr.sentCommit = 0;
    }
    return false;
  }
  if (!pr.maybeUpdate(m.index)) {
    if (pr.state === 'replicate') pr.inflights.freeLE(m.index);
    return false;
  }
  pr.progressTick = r.tickCount;
  switch (pr.state) {
    case 'probe': pr.becomeReplicate(); break;
    case 'snapshot': if (pr.match >= pr.pendingSnapshot) pr.becomeProbe(); break;
    case 'replicate': pr.inflights.freeLE(m.index); break;
  }
  return true;
}

/** Commits the quorum's match index if it is an entry of this leader's term (Figure 8). */
export function maybeCommit(r: Raft): boolean {
  const idx = committedIndex(r.voters, (id) => r.progress.get(id)?.match ?? 0);
  if (idx <= r.log.committed) return false;
  if (r.log.term(idx) !== r.term) return false;
  const from = r.log.committed + 1;
  // Proposals are charged against the uncommitted-bytes budget until they commit (out-of-order
  // commits in parallel mode were charged off already).
  for (let i = Math.max(from, r.log.firstIndex()); i <= idx; i++) {
    if (!r.log.committedAbove.has(i)) r.uncommittedBytes -= proposalBytes(r.log.entry(i));
  }
  r.log.commitTo(idx);
  if (r.uncommittedBytes < 0) r.uncommittedBytes = 0;
  reads.onCommit(r);
  return true;
}

export function proposalBytes(e: { readonly data: Uint8Array; readonly type: string }): number {
  return e.type === 'normal' ? entryBytes(e as Parameters<typeof entryBytes>[0]) : 0;
}

export function broadcastHeartbeat(r: Raft): void {
  const round = reads.startRound(r);
  for (const [id, pr] of r.progress) {
    if (id === r.id) continue;
    const commit = Math.min(pr.match, r.log.committed);
    const commitSet = r.parallel ? commitSetFor(r, pr, pr.match) : undefined;
    if (commitSet !== undefined) pr.commitSetDirty = false;
    r.send(commitSet === undefined
      ? { type: 'hb', from: r.id, to: id, term: r.term, commit, round }
      : { type: 'hb', from: r.id, to: id, term: r.term, commit, round, commitSet });
    r.stats.heartbeatsSent++;
  }
}

/** Ticks without an acknowledgement, while appends are in flight, before the leader resends. */
function stallTicks(r: Raft): number {
  return Math.max(2 * r.cfg.heartbeatTicks, r.cfg.reorderTimeoutTicks + 1);
}

export function handleHeartbeatResponse(r: Raft, m: HeartbeatRespMsg): void {
  const pr = r.progress.get(m.from);
  if (pr === undefined) return;
  if (m.round > 0 && !pr.isLearner) reads.onHeartbeatAck(r, m.from, m.round);
  onHeartbeatResponse(r, pr);
}

/** Liveness and stall detection on a heartbeat answer (leader to followers, relay to observers). */
export function onHeartbeatResponse(r: Raft, pr: Progress): void {
  pr.recentActive = true;
  pr.probeSent = false;
  // A pipeline that made no progress for a while lost a message: resend from match.
  if (pr.state === 'replicate' && pr.inflights.count > 0 && r.tickCount - pr.progressTick >= stallTicks(r)) {
    pr.becomeProbe();
    r.stats.stalledProbes++;
  }
  if (pr.match < r.log.committed) pr.sentCommit = Math.min(pr.sentCommit, pr.match);
}

/** The runtime could not deliver to `to` (connection down, queue shed): re-probe it. */
export function reportUnreachable(r: Raft, to: NodeId): void {
  const pr = r.progress.get(to) ?? r.relay.progress.get(to);
  if (pr !== undefined && pr.state === 'replicate') pr.becomeProbe();
}

export function reportSnapshot(r: Raft, to: NodeId, ok: boolean): void {
  const pr = r.progress.get(to) ?? r.relay.progress.get(to);
  if (pr === undefined || pr.state !== 'snapshot') return;
  // On success wait for the follower's answer before replicating; on failure probe again.
  if (!ok) pr.pendingSnapshot = 0;
  pr.becomeProbe();
  pr.probeSent = ok;
}

// ---- follower --------------------------------------------------------------------------------

export function handleAppend(r: Raft, m: AppendMsg): void {
  const log = r.log;
  let prevIndex = m.prevIndex;
  let prevTerm = m.prevTerm;
  let entries = m.entries;
  if (prevIndex < log.committed) {
    // The prefix up to our commit index is settled; keep only what lies beyond it.
    const skip = log.committed - prevIndex;
    if (skip >= entries.length) {
      reply(r, m.from, log.committed);
      return;
    }
    entries = entries.slice(skip);
    prevIndex = log.committed;
    prevTerm = log.term(prevIndex);
  }
  if (log.matchTerm(prevIndex, prevTerm)) {
    const lastNew = log.appendFollowing(prevIndex, entries);
    log.commitTo(Math.min(m.commit, lastNew));
    reply(r, m.from, lastNew);
    drainReorder(r);
    return;
  }
  if (prevIndex > log.lastIndex() && r.reorder.hold(m, r.tickCount)) return;
  reject(r, m.from, m.prevIndex, m.prevTerm);
}

function reply(r: Raft, to: NodeId, index: number): void {
  r.send({ type: 'appResp', from: r.id, to, term: r.term, index, reject: false, hintIndex: 0, hintTerm: 0 });
}

function reject(r: Raft, to: NodeId, prevIndex: number, prevTerm: number): void {
  const hintIndex = r.log.findConflictByTerm(Math.min(prevIndex, r.log.lastIndex()), prevTerm);
  const hintTerm = r.log.term(hintIndex);
  r.send({ type: 'appResp', from: r.id, to, term: r.term, index: prevIndex, reject: true, hintIndex, hintTerm: Math.max(hintTerm, 0) });
  r.stats.appendRejectsSent++;
}

/** Accepts held appends whose gap has filled, in log order. */
function drainReorder(r: Raft): void {
  r.reorder.drain(() => r.log.lastIndex(), r.term, (m) => handleAppend(r, m));
}

/** Held appends whose gap did not fill in time are rejected, so the leader probes and resends. */
export function expireReorder(r: Raft): void {
  const oldest = r.reorder.expire(r.tickCount, r.cfg.reorderTimeoutTicks);
  if (oldest !== null && oldest.term === r.term) reject(r, oldest.from, oldest.prevIndex, oldest.prevTerm);
}

export function handleHeartbeat(r: Raft, m: HeartbeatMsg): void {
  r.log.commitTo(Math.min(m.commit, r.log.lastIndex()));
  r.send({ type: 'hbResp', from: r.id, to: m.from, term: r.term, round: m.round });
}

export function handleSnapshot(r: Raft, m: SnapshotMsg): void {
  const meta = m.snapshot.meta;
  if (meta.index <= r.log.committed) {
    reply(r, m.from, r.log.committed);
    return;
  }
  if (r.log.matchTerm(meta.index, meta.term) && (!r.parallel || meta.index <= r.par.verified)) {
    // We already hold the snapshot's last entry: fast-forward the commit index instead.
    r.log.commitTo(meta.index);
    reply(r, m.from, meta.index);
    return;
  }
  if (r.parallel) {
    r.log.restoreKeepingSuffix(meta);
    r.par.verified = meta.index;
  } else {
    r.log.restore(meta);
  }
  r.setConf(meta.conf);
  r.snapshot = m.snapshot;
  r.pendingSnapshot = m.snapshot;
  reply(r, m.from, meta.index);
}
