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
  }

  /** Committed, durable entries not yet handed out for applying. */
  applicableTo(): Index {
    return Math.min(this.committed, this.stableIndex);
  }

  /** Replaces the whole log with a snapshot received from the leader. */
  restore(meta: SnapshotMeta): void {
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
