// ParallelRaft's log: a Raft log whose follower copy may have holes (placeholders of term 0), is
// written in place and never truncated (the suffix may hold acknowledged entries), and whose
// commits and applies may run ahead of the contiguous cursors. docs/parallel-raft.md says why.

import { assert } from '../assert.ts';
import { RaftLog } from '../log.ts';
import type { Entry, Index, SnapshotMeta } from '../types.ts';

/** A placeholder for an entry not received yet; term 0 never names a real entry. */
export function holeAt(index: Index): Entry {
  return { term: 0, index, type: 'noop', data: new Uint8Array(0) };
}

export class ParallelLog extends RaftLog {
  /** Slots rewritten in place (holes filled, stale entries replaced) since the last Ready. */
  readonly #unstableFills = new Map<Index, Entry>();
  /** Indexes of the fills in the Ready being persisted. */
  #fillsInProgress = new Set<Index>();
  /** Committed indexes above the contiguous commit cursor. Invariant: all > committed. */
  readonly #committedAbove = new Set<Index>();
  /** Applied indexes above the contiguous apply cursor. Invariant: all > applied. */
  readonly #appliedAbove = new Set<Index>();

  get committedAbove(): ReadonlySet<Index> {
    return this.#committedAbove;
  }

  get appliedAbove(): ReadonlySet<Index> {
    return this.#appliedAbove;
  }

  isHole(i: Index): boolean {
    return i > this.snapIndex && i <= this.lastIndex() && this.entry(i).term === 0;
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
      for (let i = last + 1; i < e.index; i++) this.append([holeAt(i)]);
      this.append([e]);
      return;
    }
    this.overwrite(e);
    if (e.index < this.unstableFrom) this.#unstableFills.set(e.index, e);
  }

  hasFills(): boolean {
    return this.#unstableFills.size > 0;
  }

  /** Hands the in-place rewrites out for persisting, in index order. */
  takeFills(): Entry[] {
    if (this.#unstableFills.size === 0) return [];
    const fills = [...this.#unstableFills.values()].sort((a, b) => a.index - b.index);
    this.#fillsInProgress = new Set(this.#unstableFills.keys());
    this.#unstableFills.clear();
    return fills;
  }

  /** The fills last taken are durable. */
  fillsPersisted(): void {
    this.#fillsInProgress = new Set();
  }

  /** Entry `i` is in the store as it is here (neither a pending nor an in-flight rewrite). */
  durable(i: Index): boolean {
    return i <= this.stableIndex && !this.#unstableFills.has(i) && !this.#fillsInProgress.has(i);
  }

  /** The last index up to which everything here is durable as it is. */
  durablePrefix(): Index {
    let p = this.stableIndex;
    for (const i of this.#unstableFills.keys()) if (i <= p) p = i - 1;
    for (const i of this.#fillsInProgress) if (i <= p) p = i - 1;
    return p;
  }

  isCommitted(i: Index): boolean {
    return i <= this.committed || this.#committedAbove.has(i);
  }

  /** The highest committed index (a read index must cover out-of-order commits too). */
  maxCommitted(): Index {
    let m = this.committed;
    for (const i of this.#committedAbove) if (i > m) m = i;
    return m;
  }

  /** Out-of-order commit of `i`; the contiguous cursor follows when the gap closes. */
  commitOne(i: Index): void {
    if (i <= this.committed) return;
    this.#committedAbove.add(i);
    this.#absorbCommitted();
  }

  protected override onCommitted(): void {
    if (this.#committedAbove.size > 0) this.#absorbCommitted();
  }

  /** Raises the commit cursor through out-of-order commits that became contiguous. */
  #absorbCommitted(): void {
    let c = this.committed;
    while (this.#committedAbove.delete(c + 1)) c++;
    for (const i of this.#committedAbove) if (i <= c) this.#committedAbove.delete(i);
    if (c > this.committed) this.commitTo(c);
  }

  isApplied(i: Index): boolean {
    return i <= this.applied || this.#appliedAbove.has(i);
  }

  markApplied(i: Index): void {
    if (i <= this.applied) return;
    // A received snapshot not yet restored replaces the state machine: nothing above it counts
    // as applied before that (ParallelMode.applied()).
    assert(this.applied >= this.snapIndex || i <= this.snapIndex, () => `entry ${i} marked applied while the snapshot at ${this.snapIndex} awaits restore (applied ${this.applied})`);
    if (i !== this.applied + 1) {
      this.#appliedAbove.add(i);
      return;
    }
    let a = i;
    while (this.#appliedAbove.delete(a + 1)) a++;
    this.setApplied(a);
  }

  /** The state machine was restored to `index` (a snapshot): the cursor moves there at least. */
  override appliedTo(index: Index): void {
    if (index <= this.applied) return;
    for (const i of this.#appliedAbove) if (i <= index) this.#appliedAbove.delete(i);
    let a = index;
    while (this.#appliedAbove.delete(a + 1)) a++;
    this.setApplied(a);
  }

  protected override checkTerms(): void {
    // Holes (term 0) and stale entries beside re-stamped ones: only what commits must be real.
    for (const i of this.#committedAbove) {
      assert(i > this.committed && i <= this.lastIndex(), () => `out-of-order commit ${i} outside (${this.committed}, ${this.lastIndex()}]`);
      assert(!this.isHole(i), () => `out-of-order commit ${i} is a hole`);
    }
    for (let i = Math.max(this.snapIndex + 1, this.applied + 1); i <= this.committed; i++) {
      assert(!this.isHole(i), () => `committed entry ${i} is a hole (commit ${this.committed})`);
    }
    for (const i of this.#appliedAbove) {
      assert(i > this.applied && this.isCommitted(i), () => `entry ${i} applied out of order but not committed above the applied cursor ${this.applied}`);
    }
    for (const [i, e] of this.#unstableFills) assert(e.index === i && e.term > 0, () => `fill at ${i} is a hole or misplaced (${e.index}/${e.term})`);
  }

  /** Replaces the whole log with a snapshot (a follower whose suffix needs no keeping). */
  override restore(meta: SnapshotMeta): void {
    this.#unstableFills.clear();
    this.#fillsInProgress.clear();
    this.#committedAbove.clear();
    this.#appliedAbove.clear();
    super.restore(meta);
  }

  /**
   * Installs a leader's snapshot but keeps the entries after it. They may be acknowledged
   * entries that count toward a commit (Raft's Log Matching, which makes dropping them safe
   * there, does not hold across re-stamps); stale ones get overwritten in place. Stores replace
   * their whole log with a snapshot, so the kept entries are written again after it, in the same
   * Ready (see docs/parallel-raft.md on the torn-write window this leaves).
   */
  restoreKeepingSuffix(meta: SnapshotMeta): void {
    const kept = this.entries.filter((e) => e.index > meta.index);
    for (const i of [...this.#unstableFills.keys()]) if (i <= meta.index) this.#unstableFills.delete(i);
    for (const i of [...this.#committedAbove]) if (i <= meta.index) this.#committedAbove.delete(i);
    // The state machine is replaced by the snapshot: entries after it apply again.
    this.#appliedAbove.clear();
    this.replaceWithSnapshot(meta, kept[0]?.index === meta.index + 1 ? kept : []);
    this.#absorbCommitted();
  }
}
