// ParallelRaft, follower side: appends that match are written in place (never truncating: the
// suffix may hold acknowledged entries); entries of the leader's term up to lookBehindEntries
// past a hole are persisted, and acknowledged on their own once their batch's head is held too
// (the head carries the look-behind a Merge must see); commit sets mark out-of-order commits.

import type { AppendMsg, HeartbeatMsg, SnapshotMsg } from '../message.ts';
import type { Index, NodeId } from '../types.ts';
import type { ParallelContext } from './state.ts';

export function onAppend(c: ParallelContext, m: AppendMsg): void {
  const { raft: r, log, state } = c;
  // Entries of this term already held (say, from before a restart) are the leader's.
  extendVerified(c);
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
  if (prevIndex <= state.verified && log.matchTerm(prevIndex, prevTerm)) {
    for (const e of entries) if (log.term(e.index) !== e.term) log.placeAt(e);
    state.raiseVerified(prevIndex + entries.length);
    afterAccept(c, m.from, m.commit, m.commitSet);
    return;
  }
  // Out of order: entries of this term within the window past the verified prefix.
  const windowEnd = state.verified + r.cfg.lookBehindEntries + 1;
  let placed = 0;
  let beyond = false;
  for (const e of entries) {
    if (e.index <= state.verified || e.index <= log.committed) continue;
    if (e.term !== r.term || e.index > windowEnd) {
      beyond = true;
      continue;
    }
    if (log.term(e.index) !== e.term) {
      log.placeAt(e);
      state.stats.outOfOrderAccepted++;
    }
    placed++;
  }
  if (placed > 0) {
    // The rest waits in the reorder buffer for the hole to close (or is resent by the leader).
    if (beyond) r.reorder.hold(m, r.tickCount);
    afterAccept(c, m.from, m.commit, m.commitSet);
    return;
  }
  if (prevIndex > state.verified && r.reorder.hold(m, r.tickCount)) return;
  reject(c, m.from, m.prevIndex);
}

function afterAccept(c: ParallelContext, leader: NodeId, commit: Index, commitSet: readonly Index[] | undefined): void {
  extendVerified(c);
  learnCommit(c, commit, commitSet);
  reply(c, leader);
  c.raft.reorder.drain(() => c.state.verified, c.raft.term, (m) => onAppend(c, m));
}

/** Entries of the leader's term right after the verified prefix are the leader's: extend over them. */
function extendVerified(c: ParallelContext): void {
  const { raft: r, log, state } = c;
  const last = log.lastIndex();
  let v = state.verified;
  while (v < last && log.term(v + 1) === r.term) v++;
  state.raiseVerified(v);
}

/** Commit cursor up to what is verified here; out-of-order commits of entries held from this term. */
function learnCommit(c: ParallelContext, commit: Index, commitSet: readonly Index[] | undefined): void {
  const { raft: r, log, state } = c;
  log.commitTo(Math.min(commit, state.verified));
  if (commitSet !== undefined) {
    for (const i of commitSet) {
      if (i > log.committed && i <= log.lastIndex() && log.term(i) === r.term) log.commitOne(i);
    }
  }
  // Committed entries are final (whatever their stamp), so the verified prefix covers them.
  if (state.verified < log.committed) {
    state.raiseVerified(log.committed);
    extendVerified(c);
  }
}

/**
 * Whether the head of the batch of entry `i` (of this term) is held here as the leader made it:
 * a Merge that sees an acknowledged entry must also see the look-behind it was created against.
 */
function headHeld(c: ParallelContext, i: Index): boolean {
  const { log, state } = c;
  const h = state.decoded(log.entry(i)).header;
  const head = i - h.headOffset;
  if (head <= state.verified) return true;
  if (log.isHole(head) || log.term(head) !== c.raft.term) return false;
  return state.decoded(log.entry(head)).header.originTerm === h.originTerm;
}

/** Acknowledges the verified prefix plus every entry of this term held beyond it with its batch's head. */
function reply(c: ParallelContext, to: NodeId): void {
  const { raft: r, log, state } = c;
  const v = state.verified;
  const acks: Index[] = [];
  const end = Math.min(log.lastIndex(), v + r.cfg.lookBehindEntries + 1);
  for (let i = v + 2; i <= end; i++) if (log.term(i) === r.term && headHeld(c, i)) acks.push(i);
  const base = { type: 'appResp' as const, from: r.id, to, term: r.term, index: v, reject: false, hintIndex: 0, hintTerm: 0 };
  r.send(acks.length > 0 ? { ...base, acks } : base);
}

function reject(c: ParallelContext, to: NodeId, prevIndex: Index): void {
  const { raft: r, log, state } = c;
  // Logs may hold stale entries of older terms anywhere past the verified prefix: hint from it.
  const hintIndex = Math.min(prevIndex, state.verified, log.lastIndex());
  const hintTerm = Math.max(log.term(hintIndex), 0);
  r.send({ type: 'appResp', from: r.id, to, term: r.term, index: prevIndex, reject: true, hintIndex, hintTerm });
  r.stats.appendRejectsSent++;
}

/** A held append whose hole did not close in time is rejected, so the leader resends. */
export function expireReorder(c: ParallelContext): void {
  const r = c.raft;
  const oldest = r.reorder.expire(r.tickCount, r.cfg.reorderTimeoutTicks);
  if (oldest !== null && oldest.term === r.term) reject(c, oldest.from, oldest.prevIndex);
}

export function onHeartbeat(c: ParallelContext, m: HeartbeatMsg): void {
  const r = c.raft;
  learnCommit(c, m.commit, m.commitSet);
  r.send({ type: 'hbResp', from: r.id, to: m.from, term: r.term, round: m.round });
}

/**
 * The leader's snapshot: installed keeping the suffix, unless this log already holds its last
 * entry inside the verified prefix (then only the commit cursor moves).
 */
export function onSnapshot(c: ParallelContext, m: SnapshotMsg): void {
  const { raft: r, log, state } = c;
  const meta = m.snapshot.meta;
  const ack = (index: Index) => r.send({ type: 'appResp', from: r.id, to: m.from, term: r.term, index, reject: false, hintIndex: 0, hintTerm: 0 });
  if (meta.index <= log.committed) {
    ack(log.committed);
    return;
  }
  if (log.matchTerm(meta.index, meta.term) && meta.index <= state.verified) {
    log.commitTo(meta.index);
    ack(meta.index);
    return;
  }
  log.restoreKeepingSuffix(meta);
  state.resetVerified(meta.index);
  r.installSnapshot(m.snapshot);
  ack(meta.index);
}
