// ParallelRaft: which committed entries may apply now, out of order. Entry j of a batch applies
// when it is committed and durable here and no unapplied entry before it may write one of its keys:
// by the keys of the entries this log holds there, and, where it does not hold them as j's creator
// did, by what the creator had (its own batch must be held; before it, the head's look-behind and
// its key summary); everything before the look-behind must be applied. Re-stamped entries (merged
// by a later leader) and config entries apply in log order only. Linearizable reads wait per key.

import type { Entry, Index } from '../types.ts';
import { entryId, lookBehindIdAt, summaryMayConflict, type KeySet } from './header.ts';
import { knowsCommits } from './leader.ts';
import type { ParallelContext } from './state.ts';

function idOf(c: ParallelContext, e: Entry): string {
  return entryId(e.type, c.state.decoded(e).header.originTerm);
}

/**
 * Whether committed entry `e` may apply before the unapplied entries below it (`done` tells which
 * are applied or taken; everything up to `watermark` is), as far as what it was created against
 * goes: the keys of the entries held here are checked by the caller. Sound because the entry
 * finally at an index its creator described is that same entry or a no-op (docs/parallel-raft.md).
 */
function mayOvertake(c: ParallelContext, e: Entry, watermark: Index, done: (i: Index) => boolean): boolean {
  const { log, state } = c;
  const h = state.decoded(e).header;
  if (e.type === 'config' || h.originTerm !== e.term) return false;
  const id = entryId(e.type, h.originTerm);
  const head = e.index - h.headOffset;
  // Its own batch: only entries held here as their creator made them.
  for (let k = Math.max(head, watermark + 1); k < e.index; k++) {
    if (done(k)) continue;
    if (log.isHole(k) || idOf(c, log.entry(k)) !== id) return false;
  }
  if (head <= watermark + 1) return true;
  // Before its batch: the head's look-behind, which must be held here as its creator made it.
  if (log.isHole(head)) return false;
  const headEntry = log.entry(head);
  if (idOf(c, headEntry) !== id) return false;
  const w = state.decoded(headEntry).header.lookBehind;
  // Everything before the look-behind must be applied (a fast exit: the loop below stops at the
  // first unapplied index the look-behind cannot name).
  if (w === null || head - w.length - 1 > watermark) return false;
  for (let k = watermark + 1; k < head; k++) {
    if (done(k)) continue;
    const told = lookBehindIdAt(w, head, k);
    if (told === null) return false;
    // Held as its creator had it: its keys (checked by the caller) are all that index will write.
    if (!log.isHole(k) && idOf(c, log.entry(k)) === told) continue;
    // A hole or another entry here: whatever finally lands is the creator's entry or a no-op.
    if (summaryMayConflict(w.summary, h.keys)) return false;
  }
  return true;
}

/**
 * Committed entries that may be handed to the state machine now, in index order (at most `max`).
 * `count` (when they are taken, not when the node only asks whether there are any) updates the
 * statistics.
 */
export function applicable(c: ParallelContext, count = false, max = Number.MAX_SAFE_INTEGER): Entry[] {
  const { raft: r, log, state } = c;
  const hi = log.maxCommitted();
  const out: Entry[] = [];
  // A received snapshot not yet restored: nothing applies until it is.
  if (hi <= log.applied || log.applied < log.snapIndex) return out;
  const taken = new Set<Index>();
  const done = (i: Index) => log.isApplied(i) || taken.has(i);
  let watermark = log.applied;
  // The keys the unapplied entries held here before it may write (a stale entry's too): an entry
  // that shares one waits. The check against what it was created against (mayOvertake, linear in
  // its look-behind) runs only for the others, at most overtakeChecksMax times per call.
  const pending = new Set<string>();
  let pendingAll = false;
  const notePending = (i: Index) => {
    if (pendingAll || log.isHole(i)) return;
    const keys = state.decoded(log.entry(i)).header.keys;
    if (keys === null) pendingAll = true;
    else for (const k of keys) pending.add(k);
  };
  let checks = 0;
  // An entry further than a look-behind and a batch past the watermark cannot overtake it.
  const reach = 2 * r.cfg.lookBehindEntries + 1;
  for (let i = log.applied + 1; i <= hi && i <= watermark + reach; i++) {
    if (done(i)) continue;
    if (!log.isCommitted(i) || log.isHole(i) || !log.durable(i)) {
      notePending(i);
      continue;
    }
    const e = log.entry(i);
    if (i !== watermark + 1) {
      if (sharesPending(state.decoded(e).header.keys, pending, pendingAll) || checks++ >= overtakeChecksMax || !mayOvertake(c, e, watermark, done)) {
        if (count) state.heldByConflict(i);
        notePending(i);
        continue;
      }
      if (count) state.stats.outOfOrderApplied++;
    }
    out.push(e);
    if (out.length >= max) break;
    taken.add(i);
    while (done(watermark + 1)) watermark++;
  }
  return out;
}

/** Full out-of-order checks per applicable() call: the rest wait for the next call. */
const overtakeChecksMax = 128;

function sharesPending(keys: KeySet, pending: ReadonlySet<string>, all: boolean): boolean {
  if (keys === null || all) return true;
  for (const k of keys) if (pending.has(k)) return true;
  return false;
}

/**
 * Whether a linearizable read of `key` at read index `index` may be served from this node's
 * state now: every committed entry up to `index` that may write `key` is applied. Skipping the
 * entries up to `index` not committed here is sound only where this node's commit set is complete:
 * on a leader whose barrier is committed. Anywhere else — a follower, whose view of out-of-order
 * commits lags, or a leader still in its Merge stage (a read index a follower obtained from the
 * previous leader survives the follower's election, and the entries that leader committed and
 * acknowledged are uncommitted re-stamps here) — the whole prefix must be committed here first.
 */
export function keyReadable(c: ParallelContext, key: string, index: Index): boolean {
  const { log, state } = c;
  if (log.applied >= index) return true;
  if (log.applied < log.snapIndex) return false;
  if (!knowsCommits(c) && log.committed < index) return false;
  for (let i = log.applied + 1; i <= index; i++) {
    if (log.isApplied(i) || !log.isCommitted(i)) continue;
    const keys = state.decoded(log.entry(i)).header.keys;
    if (keys === null || keys.includes(key)) return false;
  }
  return true;
}
