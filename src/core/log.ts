// The in-memory Raft log: entries after the latest snapshot, the commit index, and how far the
// runtime has made the log durable. The core keeps the uncompacted log in memory (compaction by
// snapshots bounds it); stores only make it durable and give it back on start.

import { assert } from './assert.ts';
import type { Entry, Index, SnapshotMeta, Term } from './types.ts';
import { entryBytes } from './types.ts';

export class RaftLog {
  /** Index and term of the last entry covered by the snapshot (0, 0 with none). */
  snapIndex: Index = 0;
  snapTerm: Term = 0;
  /** entries[k].index === snapIndex + 1 + k. */
  entries: Entry[] = [];
  // Invariant: applied <= committed, and applied <= stableIndex (only durable entries are applied).
  committed: Index = 0;
  applied: Index = 0;
  /** Entries up to here are durable in the runtime's store and match this log. */
  stableIndex: Index = 0;
  /** First index not yet handed to the runtime in a Ready. Invariant: stableIndex < unstableFrom. */
  unstableFrom: Index = 1;
  /**
   * Last index of the Ready currently being persisted (0 when none). A truncation below it while
   * the write is in flight clamps it, so advance() never marks an overwritten entry stable.
   */
  inProgressTo: Index = 0;

  // ---- parallel mode only (docs/parallel-raft.md) --------------------------------------------
  // A follower's log may have holes (placeholders of term 0) and is overwritten in place, never
  // truncated; commits and applies may run ahead of the contiguous `committed`/`applied`.
  /** Slots rewritten in place (holes filled, stale entries replaced) since the last Ready. */
  readonly unstableFills = new Map<Index, Entry>();
  /** Indexes of the fills in the Ready being persisted. */
  fillsInProgress = new Set<Index>();
  /** Committed indexes above `committed`. */
  readonly committedAbove = new Set<Index>();
  /** Applied indexes above `applied`. */
  readonly appliedAbove = new Set<Index>();

  firstIndex(): Index {
    return this.snapIndex + 1;
  }

  lastIndex(): Index {
    return this.snapIndex + this.entries.length;
  }

  lastTerm(): Term {
    const n = this.entries.length;
    return n === 0 ? this.snapTerm : this.entries[n - 1]!.term;
  }

  /** The term at `i`, or -1 when it is compacted away or beyond the last index. */
  term(i: Index): Term {
    if (i === this.snapIndex) return this.snapTerm;
    if (i < this.snapIndex || i > this.lastIndex()) return -1;
    return this.entries[i - this.snapIndex - 1]!.term;
  }

  entry(i: Index): Entry {
    const e = this.entries[i - this.snapIndex - 1];
    assert(e !== undefined && e.index === i, () => `log has no entry ${i} (first ${this.firstIndex()}, last ${this.lastIndex()})`);
    return e;
  }

  matchTerm(i: Index, t: Term): boolean {
    const have = this.term(i);
    return have !== -1 && have === t;
  }

  /** Section 5.4.1: a candidate's log is at least as up to date as ours. */
  isUpToDate(lastIndex: Index, lastTerm: Term): boolean {
    const myTerm = this.lastTerm();
    return lastTerm > myTerm || (lastTerm === myTerm && lastIndex >= this.lastIndex());
  }

  /** Appends entries that directly follow the last index (the leader's own proposals). */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    assert(entries[0]!.index === this.lastIndex() + 1, () => `append at ${entries[0]!.index} after last ${this.lastIndex()}`);
    for (const e of entries) this.entries.push(e);
  }

  /**
   * Follower side of AppendEntries when prev matched: skips entries already present, truncates
   * at the first conflict, appends the rest. Returns the last index the message covers.
   */
  appendFollowing(prevIndex: Index, entries: readonly Entry[]): Index {
    const lastNew = prevIndex + entries.length;
    let k = 0;
    // Fast path: nothing after prev, so nothing to compare.
    if (prevIndex < this.lastIndex()) {
      while (k < entries.length) {
        const e = entries[k]!;
        if (e.index > this.lastIndex()) break;
        if (e.index > this.snapIndex && this.term(e.index) !== e.term) {
          assert(e.index > this.committed, () => `conflict at ${e.index} would overwrite committed ${this.committed}`);
          this.truncateFrom(e.index);
          break;
        }
        k++;
      }
    }
    for (; k < entries.length; k++) {
      const e = entries[k]!;
      if (e.index <= this.lastIndex()) continue;
      this.entries.push(e);
    }
    return lastNew;
  }

  /** Drops entries from index `i` on (a conflicting, never committed suffix). */
  truncateFrom(i: Index): void {
    assert(i > this.committed, () => `truncate at ${i} below commit ${this.committed}`);
    assert(i > this.snapIndex, () => `truncate at ${i} inside snapshot ${this.snapIndex}`);
    this.entries.length = i - this.snapIndex - 1;
    if (this.stableIndex >= i) this.stableIndex = i - 1;
    if (this.inProgressTo >= i) this.inProgressTo = i - 1;
    if (this.unstableFrom > i) this.unstableFrom = i;
  }

  /**
   * The conflict hint of a rejection (fast backtracking): the largest index <= `index` whose
   * term is <= `term`. Everything after it up to `index` has a larger term and cannot match.
   */
  findConflictByTerm(index: Index, term: Term): Index {
    let i = Math.min(index, this.lastIndex());
    while (i > this.snapIndex && this.term(i) > term) i--;
    return i;
  }

  /** Entries in [lo, hi) that fit in `bytesMax` (always at least one). */
  slice(lo: Index, hi: Index, bytesMax: number): Entry[] {
    assert(lo > this.snapIndex, () => `slice from ${lo} is compacted (snapshot ${this.snapIndex})`);
    assert(hi <= this.lastIndex() + 1, () => `slice to ${hi} past last ${this.lastIndex()}`);
    const start = lo - this.snapIndex - 1;
    let end = start;
    let bytes = 0;
    const stop = hi - this.snapIndex - 1;
    while (end < stop) {
      bytes += entryBytes(this.entries[end]!);
      if (bytes > bytesMax && end > start) break;
      end++;
    }
    return this.entries.slice(start, end);
  }

  commitTo(i: Index): void {
    if (i <= this.committed) return;
    assert(i <= this.lastIndex(), () => `commit ${i} beyond last index ${this.lastIndex()}`);
    this.committed = i;
    if (this.committedAbove.size > 0) this.#absorbCommitted();
  }

  /** Committed, durable entries not yet handed out for applying. */
  applicableTo(): Index {
    return Math.min(this.committed, this.stableIndex);
  }

  // ---- parallel mode -------------------------------------------------------------------------

  isHole(i: Index): boolean {
    return i > this.snapIndex && i <= this.lastIndex() && this.entries[i - this.snapIndex - 1]!.term === 0;
  }

  /**
   * Puts `e` at its index: appended (after holes, if it lies beyond the end) or written over the
   * hole or stale entry there, in place — the suffix stays, since it may hold acknowledged entries.
   */
  placeAt(e: Entry): void {
    assert(e.term > 0, () => `placing a hole at ${e.index}`);
    assert(e.index > this.committed && e.index > this.snapIndex,
      () => `overwrite at ${e.index} at or below commit ${this.committed} / snapshot ${this.snapIndex}`);
    const last = this.lastIndex();
    if (e.index > last) {
      for (let i = last + 1; i < e.index; i++) this.entries.push(holeAt(i));
      this.entries.push(e);
      return;
    }
    this.entries[e.index - this.snapIndex - 1] = e;
    if (e.index < this.unstableFrom) this.unstableFills.set(e.index, e);
  }

  /** Entry `i` is in the store as it is here (neither a pending nor an in-flight rewrite). */
  durable(i: Index): boolean {
    return i <= this.stableIndex && !this.unstableFills.has(i) && !this.fillsInProgress.has(i);
  }

  /** The last index up to which everything here is durable as it is. */
  durablePrefix(): Index {
    let p = this.stableIndex;
    for (const i of this.unstableFills.keys()) if (i <= p) p = i - 1;
    for (const i of this.fillsInProgress) if (i <= p) p = i - 1;
    return p;
  }

  isCommitted(i: Index): boolean {
    return i <= this.committed || this.committedAbove.has(i);
  }

  /** The highest committed index (a read index must cover out-of-order commits too). */
  maxCommitted(): Index {
    let m = this.committed;
    for (const i of this.committedAbove) if (i > m) m = i;
    return m;
  }

  /** Out-of-order commit of `i`; the contiguous watermark follows when the gap closes. */
  commitOne(i: Index): void {
    if (i <= this.committed) return;
    this.committedAbove.add(i);
    this.#absorbCommitted();
  }

  /** Raises the watermark through out-of-order commits that became contiguous. */
  #absorbCommitted(): void {
    while (this.committedAbove.delete(this.committed + 1)) this.committed++;
    if (this.committedAbove.size > 0) for (const i of this.committedAbove) if (i <= this.committed) this.committedAbove.delete(i);
  }

  isApplied(i: Index): boolean {
    return i <= this.applied || this.appliedAbove.has(i);
  }

  markApplied(i: Index): void {
    if (i <= this.applied) return;
    // A received snapshot not yet restored replaces the state machine: nothing above it counts
    // as applied before that (node.ts advance()).
    assert(this.applied >= this.snapIndex || i <= this.snapIndex, () => `entry ${i} marked applied while the snapshot at ${this.snapIndex} awaits restore (applied ${this.applied})`);
    if (i !== this.applied + 1) {
      this.appliedAbove.add(i);
      return;
    }
    this.applied = i;
    while (this.appliedAbove.delete(this.applied + 1)) this.applied++;
  }

  /** The state machine was restored to `index` (a snapshot): the watermark moves there at least. */
  appliedTo(index: Index): void {
    if (index <= this.applied) return;
    this.applied = index;
    for (const i of this.appliedAbove) if (i <= index) this.appliedAbove.delete(i);
    while (this.appliedAbove.delete(this.applied + 1)) this.applied++;
  }

  /** Replaces the whole log with a snapshot received from the leader. */
  restore(meta: SnapshotMeta): void {
    this.unstableFills.clear();
    this.fillsInProgress.clear();
    this.committedAbove.clear();
    this.appliedAbove.clear();
    this.snapIndex = meta.index;
    this.snapTerm = meta.term;
    this.entries = [];
    this.committed = meta.index;
    // Entries between applied and the snapshot are gone: nothing below the snapshot is applied
    // from the log any more, the state machine is replaced once the snapshot is durable.
    this.stableIndex = Math.min(this.stableIndex, this.applied);
    this.inProgressTo = Math.min(this.inProgressTo, meta.index);
    this.unstableFrom = meta.index + 1;
  }

  /**
   * Parallel mode: installs a leader's snapshot but keeps the entries after it. They may be
   * acknowledged entries that count toward a commit (Raft's Log Matching, which makes dropping
   * them safe there, does not hold across re-stamps); stale ones get overwritten in place.
   */
  restoreKeepingSuffix(meta: SnapshotMeta): void {
    const kept = this.entries.filter((e) => e.index > meta.index);
    for (const i of [...this.unstableFills.keys()]) if (i <= meta.index) this.unstableFills.delete(i);
    for (const i of [...this.committedAbove]) if (i <= meta.index) this.committedAbove.delete(i);
    // The state machine is replaced by the snapshot: entries after it apply again.
    this.appliedAbove.clear();
    this.snapIndex = meta.index;
    this.snapTerm = meta.term;
    this.entries = kept[0]?.index === meta.index + 1 ? kept : [];
    this.committed = meta.index;
    while (this.committedAbove.delete(this.committed + 1)) this.committed++;
    this.stableIndex = Math.min(this.stableIndex, this.applied);
    this.inProgressTo = Math.min(this.inProgressTo, meta.index);
    // Stores replace their whole log with a snapshot, so the kept entries are written again after
    // it, in the same Ready (see docs/parallel-raft.md on the torn-write window this leaves).
    this.unstableFrom = meta.index + 1;
  }

  /** Drops entries covered by a local snapshot at `index` (which must be applied). */
  compact(index: Index, term: Term): void {
    assert(index <= this.applied, () => `compact to ${index} beyond applied ${this.applied}`);
    if (index <= this.snapIndex) return;
    assert(this.term(index) === term, () => `compact at ${index}: term ${term} but log has ${this.term(index)}`);
    this.entries = this.entries.slice(index - this.snapIndex);
    this.snapIndex = index;
    this.snapTerm = term;
  }
}

/** A placeholder for an entry not received yet (parallel mode); term 0 never names a real entry. */
export function holeAt(index: Index): Entry {
  return { term: 0, index, type: 'noop', data: new Uint8Array(0) };
}
