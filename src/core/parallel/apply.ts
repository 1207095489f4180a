// ParallelRaft: which committed entries may apply now, out of order. Entry j applies when it is
// committed and durable here, everything more than lookBehindEntries before it is applied, and no
// unapplied entry in its window writes one of its keys (by what this log holds there and by what
// j's creator knew). Re-stamped entries (merged by a later leader) apply in log order only: their
// look-behind describes an older leader's log. Linearizable reads wait per key.

import type { Entry, Index } from '../types.ts';
import { keysConflict, type KeySet } from './header.ts';
import { knowsCommits } from './leader.ts';
import type { ParallelContext } from './state.ts';

/** Keys the entry at `k` may write, as far as `e` (at k + d) and this log know; null: anything. */
function keysBehind(c: ParallelContext, e: Entry, k: Index): KeySet {
  const log = c.log;
  const b = c.state.decoded(e).header.behind[e.index - k - 1];
  const told: KeySet = b === undefined || b.originTerm === 0 ? null : b.keys;
  if (told === null) return null;
  if (k <= log.snapIndex || log.isHole(k)) return told;
  const held = c.state.decoded(log.entry(k)).header.keys;
  if (held === null) return null;
  return held.length === 0 ? told : told.length === 0 ? held : [...told, ...held];
}

function isRestamped(c: ParallelContext, e: Entry): boolean {
  return c.state.decoded(e).header.originTerm !== e.term;
}

/**
 * Committed entries that may be handed to the state machine now, in index order. `count` (when
 * they are taken, not when the node only asks whether there are any) updates the statistics.
 */
export function applicable(c: ParallelContext, count = false): Entry[] {
  const { raft: r, log, state } = c;
  const n = r.cfg.lookBehindEntries;
  const hi = log.maxCommitted();
  const out: Entry[] = [];
  // A received snapshot not yet restored: nothing applies until it is.
  if (hi <= log.applied || log.applied < log.snapIndex) return out;
  const taken = new Set<Index>();
  const done = (i: Index) => log.isApplied(i) || taken.has(i);
  let watermark = log.applied;
  for (let i = log.applied + 1; i <= hi; i++) {
    if (i - n - 1 > watermark) break;
    if (done(i)) continue;
    if (!log.isCommitted(i) || log.isHole(i) || !log.durable(i)) continue;
    const e = log.entry(i);
    const inOrderOnly = e.type === 'config' || isRestamped(c, e);
    let blocked = inOrderOnly && watermark !== i - 1;
    if (!blocked) {
      const mine = state.decoded(e).header.keys;
      for (let k = Math.max(i - n, log.applied + 1); k < i; k++) {
        if (!done(k) && keysConflict(mine, keysBehind(c, e, k))) {
          blocked = true;
          break;
        }
      }
    }
    if (blocked) {
      if (count) state.stats.applyHeldByConflict++;
      continue;
    }
    if (count && i !== watermark + 1) state.stats.outOfOrderApplied++;
    out.push(e);
    taken.add(i);
    while (done(watermark + 1)) watermark++;
  }
  return out;
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
