// Parallel mode, follower side: appends that match are written in place (never truncating: the
// suffix may hold acknowledged entries); entries of the leader's term up to lookBehindEntries
// past a hole are persisted and acknowledged on their own; commit sets mark out-of-order commits.

import type { AppendMsg, HeartbeatMsg } from '../message.ts';
import type { Raft } from '../raft.ts';
import type { Index, NodeId } from '../types.ts';

export function handleAppend(r: Raft, m: AppendMsg): void {
  const log = r.log;
  // Entries of this term already held (say, from before a restart) are the leader's.
  extendVerified(r);
  let prevIndex = m.prevIndex;
  let prevTerm = m.prevTerm;
  let entries = m.entries;
  if (prevIndex <= log.committed) {
    // The committed prefix is settled: its content is final, though its terms may differ from
    // the leader's re-stamped copy, so it matches whatever term the leader names.
    const skip = log.committed - prevIndex;
    entries = skip >= entries.length ? [] : entries.slice(skip);
    prevIndex = log.committed;
    prevTerm = log.term(prevIndex);
  }
  // A match counts only inside the verified prefix: past it a slot may precede a hole.
  if (prevIndex <= r.par.verified && log.matchTerm(prevIndex, prevTerm)) {
    for (const e of entries) if (log.term(e.index) !== e.term) log.placeAt(e);
    const lastNew = prevIndex + entries.length;
    if (lastNew > r.par.verified) r.par.verified = lastNew;
    afterAccept(r, m.from, m.commit, m.commitSet);
    return;
  }
  // Out of order: entries of this term within the window past the verified prefix.
  const windowEnd = r.par.verified + r.cfg.lookBehindEntries + 1;
  let placed = 0;
  let beyond = false;
  for (const e of entries) {
    if (e.index <= r.par.verified || e.index <= log.committed) continue;
    if (e.term !== r.term || e.index > windowEnd) {
      beyond = true;
      continue;
    }
    if (log.term(e.index) !== e.term) {
      log.placeAt(e);
      r.par.stats.outOfOrderAccepted++;
    }
    placed++;
  }
  if (placed > 0) {
    // The rest waits in the reorder buffer for the hole to close (or is resent by the leader).
    if (beyond) r.reorder.hold(m, r.tickCount);
    afterAccept(r, m.from, m.commit, m.commitSet);
    return;
  }
  if (prevIndex > r.par.verified && r.reorder.hold(m, r.tickCount)) return;
  reject(r, m.from, m.prevIndex);
}

function afterAccept(r: Raft, leader: NodeId, commit: Index, commitSet: readonly Index[] | undefined): void {
  extendVerified(r);
  learnCommit(r, commit, commitSet);
  reply(r, leader);
  drainReorder(r);
}

/** Entries of the leader's term right after the verified prefix are the leader's: extend over them. */
function extendVerified(r: Raft): void {
  const log = r.log;
  const last = log.lastIndex();
  while (r.par.verified < last && log.term(r.par.verified + 1) === r.term) r.par.verified++;
}

/** Commit watermark up to what is verified here; out-of-order commits of entries held from this term. */
function learnCommit(r: Raft, commit: Index, commitSet: readonly Index[] | undefined): void {
  const log = r.log;
  log.commitTo(Math.min(commit, r.par.verified));
  if (commitSet !== undefined) {
    for (const i of commitSet) {
      if (i > log.committed && i <= log.lastIndex() && log.term(i) === r.term) log.commitOne(i);
    }
  }
  // Committed entries are final (whatever their stamp), so the verified prefix covers them.
  if (r.par.verified < log.committed) {
    r.par.verified = log.committed;
    extendVerified(r);
  }
}

/** Acknowledges the verified prefix plus every entry of this term held beyond it. */
function reply(r: Raft, to: NodeId): void {
  const log = r.log;
  const v = r.par.verified;
  const acks: Index[] = [];
  const end = Math.min(log.lastIndex(), v + r.cfg.lookBehindEntries + 1);
  for (let i = v + 2; i <= end; i++) if (log.term(i) === r.term) acks.push(i);
  const base = { type: 'appResp' as const, from: r.id, to, term: r.term, index: v, reject: false, hintIndex: 0, hintTerm: 0 };
  r.send(acks.length > 0 ? { ...base, acks } : base);
}

function reject(r: Raft, to: NodeId, prevIndex: Index): void {
  // Logs may hold stale entries of older terms anywhere past the verified prefix: hint from it.
  const hintIndex = Math.min(prevIndex, r.par.verified, r.log.lastIndex());
  const hintTerm = Math.max(r.log.term(hintIndex), 0);
  r.send({ type: 'appResp', from: r.id, to, term: r.term, index: prevIndex, reject: true, hintIndex, hintTerm });
  r.stats.appendRejectsSent++;
}

function drainReorder(r: Raft): void {
  r.reorder.drain(() => r.par.verified, r.term, (m) => handleAppend(r, m));
}

/** A held append whose hole did not close in time is rejected, so the leader resends. */
export function expireReorder(r: Raft): void {
  const oldest = r.reorder.expire(r.tickCount, r.cfg.reorderTimeoutTicks);
  if (oldest !== null && oldest.term === r.term) reject(r, oldest.from, oldest.prevIndex);
}

export function handleHeartbeat(r: Raft, m: HeartbeatMsg): void {
  learnCommit(r, m.commit, m.commitSet);
  r.send({ type: 'hbResp', from: r.id, to: m.from, term: r.term, round: m.round });
}

/** A new term: only the committed prefix is known to match the new leader's log. */
export function onNewTerm(r: Raft): void {
  r.par.verified = r.log.committed;
}
