// The in-memory Raft log: entries after the latest snapshot, the commit and apply cursors, and how
// far the runtime has made the log durable. The core keeps the uncompacted log in memory
// (compaction by snapshots bounds it); stores only make it durable and give it back on start.
// Every cursor is private: the log keeps its own invariants, whoever asks it to move.

import { assert } from './assert.ts';
import type { Entry, Index, SnapshotMeta, Term } from './types.ts';
import { entryBytes } from './types.ts';

export class RaftLog {
  /** Index and term of the last entry covered by the snapshot (0, 0 with none). */
  #snapIndex: Index = 0;
  #snapTerm: Term = 0;
  /** Invariant: #entries[k].index === #snapIndex + 1 + k. */
  #entries: Entry[] = [];
  // Invariant: applied <= committed (contiguously), and only durable entries are applied.
  #committed: Index = 0;
  #applied: Index = 0;
  /** Entries up to here are durable in the runtime's store and match this log. */
  #stableIndex: Index = 0;
  /** First index not yet handed to the runtime in a Ready. Invariant: stableIndex < unstableFrom. */
  #unstableFrom: Index = 1;
  /**
   * Last index of the Ready currently being persisted (0 when none). A truncation below it while
   * the write is in flight clamps it, so persisted() never marks an overwritten entry stable.
   */
  #inProgressTo: Index = 0;

  get snapIndex(): Index {
    return this.#snapIndex;
  }

  get snapTerm(): Term {
    return this.#snapTerm;
  }

  /** The entries after the snapshot, oldest first (read only: the log changes them). */
  get entries(): readonly Entry[] {
    return this.#entries;
  }

  get committed(): Index {
    return this.#committed;
  }

  get applied(): Index {
    return this.#applied;
  }

  get stableIndex(): Index {
    return this.#stableIndex;
  }

  get unstableFrom(): Index {
    return this.#unstableFrom;
  }

  get inProgressTo(): Index {
    return this.#inProgressTo;
  }

  firstIndex(): Index {
    return this.#snapIndex + 1;
  }

  lastIndex(): Index {
    return this.#snapIndex + this.#entries.length;
  }

  lastTerm(): Term {
    const n = this.#entries.length;
    return n === 0 ? this.#snapTerm : this.#entries[n - 1]!.term;
  }

  /** The term at `i`, or -1 when it is compacted away or beyond the last index. */
  term(i: Index): Term {
    if (i === this.#snapIndex) return this.#snapTerm;
    if (i < this.#snapIndex || i > this.lastIndex()) return -1;
    return this.#entries[i - this.#snapIndex - 1]!.term;
  }

  entry(i: Index): Entry {
    const e = this.#entries[i - this.#snapIndex - 1];
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

  // ---- loading and the Ready cycle -------------------------------------------------------------

  /**
   * What a store loaded on start: its snapshot (or none), the entries after it and its commit
   * index. All of it is durable already.
   */
  load(snapshot: SnapshotMeta | null, entries: readonly Entry[], commit: Index): void {
    assert(this.lastIndex() === 0 && this.#snapIndex === 0, 'load() into a log that is not empty');
    if (snapshot !== null) {
      this.#snapIndex = snapshot.index;
      this.#snapTerm = snapshot.term;
      this.#committed = snapshot.index;
      this.#applied = snapshot.index;
    }
    for (let i = 0; i < entries.length; i++) {
      assert(entries[i]!.index === this.#snapIndex + 1 + i, () => `loaded entry ${i} has index ${entries[i]!.index}, expected ${this.#snapIndex + 1 + i}`);
    }
    this.#entries = [...entries];
    this.#stableIndex = this.lastIndex();
    this.#unstableFrom = this.lastIndex() + 1;
    assert(commit <= this.lastIndex(), () => `loaded commit ${commit} beyond the last entry ${this.lastIndex()}`);
    this.#committed = Math.max(this.#committed, commit);
  }

  /** Whether entries wait to be handed to the runtime for persisting. */
  hasUnstable(): boolean {
    return this.#unstableFrom <= this.lastIndex();
  }

  /** Hands the entries not yet given to the runtime out for persisting (one Ready's worth). */
  takeUnstable(): Entry[] {
    const last = this.lastIndex();
    if (this.#unstableFrom > last) return [];
    const out = this.#entries.slice(this.#unstableFrom - this.#snapIndex - 1);
    this.#inProgressTo = last;
    this.#unstableFrom = last + 1;
    return out;
  }

  /** The entries last taken by takeUnstable() are durable (those not overwritten meanwhile). */
  persisted(): void {
    this.#stableIndex = Math.max(this.#stableIndex, this.#inProgressTo);
    this.#inProgressTo = 0;
  }

  /** A snapshot at `index` the runtime received is durable: if it is still ours, so is its index. */
  snapshotPersisted(index: Index): void {
    if (this.#snapIndex === index) this.#stableIndex = Math.max(this.#stableIndex, index);
  }

  /** Committed, durable entries not yet handed out for applying (raft mode: in order). */
  applicableTo(): Index {
    return Math.min(this.#committed, this.#stableIndex);
  }

  /** The entries (applied, applicableTo()], in order. */
  applicableEntries(): Entry[] {
    const to = this.applicableTo();
    if (to <= this.#applied) return [];
    return this.#entries.slice(this.#applied - this.#snapIndex, to - this.#snapIndex);
  }

  /** The state machine has applied through `index` (or was restored to it): the cursor only grows. */
  appliedTo(index: Index): void {
    if (index > this.#applied) this.#applied = index;
  }

  // ---- changing the log -------------------------------------------------------------------------

  /** Appends entries that directly follow the last index (the leader's own proposals). */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    assert(entries[0]!.index === this.lastIndex() + 1, () => `append at ${entries[0]!.index} after last ${this.lastIndex()}`);
    for (const e of entries) this.#entries.push(e);
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
        if (e.index > this.#snapIndex && this.term(e.index) !== e.term) {
          assert(e.index > this.#committed, () => `conflict at ${e.index} would overwrite committed ${this.#committed}`);
          this.truncateFrom(e.index);
          break;
        }
        k++;
      }
    }
    for (; k < entries.length; k++) {
      const e = entries[k]!;
      if (e.index <= this.lastIndex()) continue;
      this.#entries.push(e);
    }
    return lastNew;
  }

  /** Drops entries from index `i` on (a conflicting, never committed suffix). */
  truncateFrom(i: Index): void {
    assert(i > this.#committed, () => `truncate at ${i} below commit ${this.#committed}`);
    assert(i > this.#snapIndex, () => `truncate at ${i} inside snapshot ${this.#snapIndex}`);
    this.#entries.length = i - this.#snapIndex - 1;
    if (this.#stableIndex >= i) this.#stableIndex = i - 1;
    if (this.#inProgressTo >= i) this.#inProgressTo = i - 1;
    if (this.#unstableFrom > i) this.#unstableFrom = i;
  }

  /**
   * The conflict hint of a rejection (fast backtracking): the largest index <= `index` whose
   * term is <= `term`. Everything after it up to `index` has a larger term and cannot match.
   */
  findConflictByTerm(index: Index, term: Term): Index {
    let i = Math.min(index, this.lastIndex());
    while (i > this.#snapIndex && this.term(i) > term) i--;
    return i;
  }

  /** Entries in [lo, hi) that fit in `bytesMax` (always at least one). */
  slice(lo: Index, hi: Index, bytesMax: number): Entry[] {
    assert(lo > this.#snapIndex, () => `slice from ${lo} is compacted (snapshot ${this.#snapIndex})`);
    assert(hi <= this.lastIndex() + 1, () => `slice to ${hi} past last ${this.lastIndex()}`);
    const start = lo - this.#snapIndex - 1;
    let end = start;
    let bytes = 0;
    const stop = hi - this.#snapIndex - 1;
    while (end < stop) {
      bytes += entryBytes(this.#entries[end]!);
      if (bytes > bytesMax && end > start) break;
      end++;
    }
    return this.#entries.slice(start, end);
  }

  commitTo(i: Index): void {
    if (i <= this.#committed) return;
    assert(i <= this.lastIndex(), () => `commit ${i} beyond last index ${this.lastIndex()}`);
    this.#committed = i;
    this.onCommitted();
  }

  /** Replaces the whole log with a snapshot received from the leader. */
  restore(meta: SnapshotMeta): void {
    this.replaceWithSnapshot(meta, []);
  }

  /** Drops entries covered by a local snapshot at `index` (which must be applied). */
  compact(index: Index, term: Term): void {
    assert(index <= this.#applied, () => `compact to ${index} beyond applied ${this.#applied}`);
    if (index <= this.#snapIndex) return;
    assert(this.term(index) === term, () => `compact at ${index}: term ${term} but log has ${this.term(index)}`);
    this.#entries = this.#entries.slice(index - this.#snapIndex);
    this.#snapIndex = index;
    this.#snapTerm = term;
  }

  // ---- for logs with more rules (ParallelRaft's, src/core/parallel/log.ts) ----------------------

  /** The commit cursor moved (a subclass may absorb commits it holds above it). */
  protected onCommitted(): void {}

  /** Writes `e` at its index, over what is there, keeping the rest of the log. */
  /**
   * Every invariant of the log, checked in full. O(entries in memory): it runs only under the
   * debugChecks option (tests and the simulator), after every Ready and advance.
   */
  checkInvariants(): void {
    const last = this.lastIndex();
    assert(this.#snapIndex <= this.#committed && this.#committed <= last,
      () => `log cursors out of order: snapshot ${this.#snapIndex}, commit ${this.#committed}, last ${last}`);
    assert(this.#applied <= this.#committed, () => `applied ${this.#applied} beyond commit ${this.#committed}`);
    assert(this.#stableIndex <= last && this.#inProgressTo <= last && this.#unstableFrom <= last + 1,
      () => `persistence cursors past the log's end ${last}: stable ${this.#stableIndex}, in progress ${this.#inProgressTo}, unstable from ${this.#unstableFrom}`);
    this.#entries.forEach((e, k) => {
      assert(e.index === this.#snapIndex + 1 + k, () => `log entry ${k} has index ${e.index}, expected ${this.#snapIndex + 1 + k}`);
    });
    this.checkTerms();
  }

  /** Terms never fall along a Raft log (ParallelLog allows stale entries and holes). */
  protected checkTerms(): void {
    let prev = this.#snapTerm;
    for (const e of this.#entries) {
      assert(e.term >= prev, () => `entry ${e.index} has term ${e.term} below the term ${prev} before it`);
      prev = e.term;
    }
  }

  protected overwrite(e: Entry): void {
    assert(e.index > this.#snapIndex && e.index <= this.lastIndex(), () => `overwrite at ${e.index} outside (${this.#snapIndex}, ${this.lastIndex()}]`);
    this.#entries[e.index - this.#snapIndex - 1] = e;
  }

  /**
   * Installs a snapshot and keeps `kept` after it (entries that follow it without a gap, or none):
   * the commit cursor moves to the snapshot; what was durable stays so only up to what was
   * applied, since entries between applied and the snapshot are gone from the log.
   */
  protected replaceWithSnapshot(meta: SnapshotMeta, kept: readonly Entry[]): void {
    assert(kept.length === 0 || kept[0]!.index === meta.index + 1, 'kept entries must follow the snapshot');
    this.#snapIndex = meta.index;
    this.#snapTerm = meta.term;
    this.#entries = [...kept];
    this.#committed = meta.index;
    this.#stableIndex = Math.min(this.#stableIndex, this.#applied);
    this.#inProgressTo = Math.min(this.#inProgressTo, meta.index);
    this.#unstableFrom = meta.index + 1;
  }

  /** Sets the apply cursor exactly (a subclass tracking applies above it keeps it contiguous). */
  protected setApplied(index: Index): void {
    assert(index >= this.#applied, () => `applied cursor moved back from ${this.#applied} to ${index}`);
    this.#applied = index;
  }
}
