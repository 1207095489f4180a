// Where IdbStore's entries sit: runs of consecutive entries, one IndexedDB record per run keyed by
// its first index (Chromium spends ~80 us per record whatever its size: a catch-up must not cost a
// record per entry). It plans the writes of appends, truncations, in-place fills (parallel mode)
// and compactions, nothing more.

import { assert, entryBytes } from '../core/index.ts';
import type { Index } from '../core/index.ts';
import type { LogState } from '../core/store/log-state.ts';
import type { EntryRecord } from './idb-codec.ts';

/** A request of a write: put a record, or delete the records with keys in [lo, hi]. */
export type WriteOp =
  | { readonly kind: 'put'; readonly key: IDBValidKey; readonly value: unknown }
  | { readonly kind: 'delete'; readonly lo: number; readonly hi: number };

export class EntryRecords {
  readonly #recordBytesMax: number;
  /**
   * First index of every entry record of the accepted view, ascending. Record k holds the entries
   * from #starts[k] to #starts[k + 1] - 1 (the last one up to the log's last index): the records
   * tile the log exactly, which is what lets a truncation or compaction find the one record it cuts.
   */
  #starts: number[];

  constructor(starts: readonly number[], recordBytesMax: number) {
    for (let k = 1; k < starts.length; k++) assert(starts[k]! > starts[k - 1]!, () => `record starts not ascending at ${k}`);
    this.#starts = [...starts];
    this.#recordBytesMax = recordBytesMax;
  }

  get count(): number {
    return this.#starts.length;
  }

  /** `entries` as runs of at most recordBytesMax bytes (at least one entry each), keyed by first index. */
  planAppend(entries: readonly EntryRecord[]): { ops: WriteOp[]; starts: number[] } {
    const ops: WriteOp[] = [];
    const starts: number[] = [];
    let run: EntryRecord[] = [];
    let bytes = 0;
    const close = (): void => {
      if (run.length === 0) return;
      starts.push(run[0]!.index);
      ops.push({ kind: 'put', key: run[0]!.index, value: run });
      run = [];
      bytes = 0;
    };
    for (const e of entries) {
      const b = entryBytes(e);
      if (run.length > 0 && bytes + b > this.#recordBytesMax) close();
      run.push(e);
      bytes += b;
    }
    close();
    return { ops, starts };
  }

  /**
   * Drops every entry at or after `from` (a conflicting suffix being overwritten): deletes the
   * records from there on, and rewrites the one record that starts before `from` and reaches
   * past it as its prefix. `log` is the accepted view before the overwrite.
   */
  planTruncate(from: Index, log: LogState): WriteOp[] {
    const ops: WriteOp[] = [{ kind: 'delete', lo: from, hi: Infinity }];
    const k = this.#containing(from);
    if (k >= 0 && this.#starts[k]! < from) {
      const start = this.#starts[k]!;
      ops.push({ kind: 'put', key: start, value: log.range(start, from) });
    }
    return ops;
  }

  /**
   * Replaces entries in place (ParallelRaft's fills: a hole or stale entry rewritten, the rest of
   * the log untouched): rewrites each record holding one, as it is with the fills put in. A record
   * that outgrows recordBytesMax (a run of holes filled) is split, so `starts` may name new records
   * inside it. `fills` lie at or below `end`, the log's last index after this batch's truncation;
   * `log` is the accepted view before the batch.
   */
  planFills(fills: ReadonlyMap<Index, EntryRecord>, end: Index, log: LogState): { ops: WriteOp[]; starts: number[]; bytes: number } {
    const ops: WriteOp[] = [];
    const starts: number[] = [];
    let bytes = 0;
    const done = new Set<number>();
    for (const index of fills.keys()) {
      const k = this.#containing(index);
      assert(k >= 0, () => `fill at ${index} lies in no record`);
      if (done.has(k)) continue;
      done.add(k);
      const start = this.#starts[k]!;
      const recordEnd = Math.min(k + 1 < this.#starts.length ? this.#starts[k + 1]! - 1 : log.lastIndex(), end);
      assert(index <= recordEnd, () => `fill at ${index} lies past the log's end ${end}`);
      const run: EntryRecord[] = log.range(start, recordEnd + 1);
      for (let i = 0; i < run.length; i++) run[i] = fills.get(start + i) ?? run[i]!;
      for (const e of run) bytes += entryBytes(e);
      const planned = this.planAppend(run);
      ops.push(...planned.ops);
      // The first run keeps the record's key (overwriting it); the others are new records.
      starts.push(...planned.starts.slice(1));
    }
    return { ops, starts, bytes };
  }

  /** Records a split by planFills created (all inside the log, before any appended record). */
  insert(starts: readonly number[]): void {
    if (starts.length === 0) return;
    const all = new Set([...this.#starts, ...starts]);
    this.#starts = [...all].sort((a, b) => a - b);
  }

  truncate(from: Index): void {
    while (this.#starts.length > 0 && this.#starts[this.#starts.length - 1]! >= from) this.#starts.pop();
  }

  /**
   * Drops every entry at or before `upTo` (a local snapshot compacts them): deletes the records
   * that start there or before, and writes the surviving tail of the one it cuts under upTo + 1.
   * `log` is the accepted view before the compaction.
   */
  planCompact(upTo: Index, log: LogState): WriteOp[] {
    const ops: WriteOp[] = [{ kind: 'delete', lo: -Infinity, hi: upTo }];
    const k = this.#containing(upTo);
    if (k < 0) return ops;
    const end = k + 1 < this.#starts.length ? this.#starts[k + 1]! - 1 : log.lastIndex();
    if (end > upTo) ops.push({ kind: 'put', key: upTo + 1, value: log.range(upTo + 1, end + 1) });
    return ops;
  }

  /** After planCompact's writes: `lastIndex` is the log's last index (the tail record's end). */
  compact(upTo: Index, lastIndex: Index): void {
    const k = this.#containing(upTo);
    if (k < 0) return;
    const end = k + 1 < this.#starts.length ? this.#starts[k + 1]! - 1 : lastIndex;
    this.#starts.splice(0, k + 1);
    if (end > upTo) this.#starts.unshift(upTo + 1);
  }

  /** A snapshot from the leader replaced the whole log. */
  clear(): void {
    this.#starts = [];
  }

  push(starts: readonly number[]): void {
    for (const s of starts) {
      assert(this.#starts.length === 0 || s > this.#starts[this.#starts.length - 1]!, () => `record start ${s} not after the last one`);
      this.#starts.push(s);
    }
  }

  /** The record holding `index`: the last one starting at or before it, or -1. */
  #containing(index: Index): number {
    let lo = 0;
    let hi = this.#starts.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#starts[mid]! <= index) {
        found = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return found;
  }
}
