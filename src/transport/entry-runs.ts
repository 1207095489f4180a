// Recent AppendEntries' entry columns as first written into a frame, so a leader encodes a batch
// once however many followers and tabs ask for it: every later frame copies those bytes in one
// piece instead of sizing and writing each entry again (the wire format is unchanged).

import { assert } from '../core/assert.ts';
import type { Entry } from '../core/types.ts';
import type { CborWriter } from './cbor-writer.ts';
import { columnsBytes, writeColumns } from './entry-columns.ts';

/** What the cache keeps at most; a frame of a run it dropped is encoded again, never wrong. */
export interface EntryRunLimits {
  /**
   * Encoded runs kept (every destination of one Ready asks within a turn: a few suffice). Each is
   * a view into the frame it was first written in, which it keeps alive; a frame carved from the
   * codec's slab keeps that 256 KiB slab, so this also bounds what the views retain.
   */
  readonly runsMax: number;
  /** Bytes of encoded runs kept. */
  readonly bytesMax: number;
}

export const entryRunDefaults: EntryRunLimits = { runsMax: 32, bytesMax: 8 * 1024 * 1024 };

/** Counters a peer exports: encoded once per batch, framed once per destination. */
export interface EntryRunStats {
  /** Entries written into a newly encoded run (a cache miss). */
  readonly entriesEncoded: number;
  /** Entries put into AppendEntries frames, one count per destination (copied from a run). */
  readonly entriesFramed: number;
}

/**
 * One encoded run, with what it was encoded from. Entries are immutable in the core, so the
 * entry objects identify it; their data and term are compared as well, so a run rebuilt or
 * altered in place since (a new leader's entries at the same indexes) is encoded afresh.
 */
interface Run {
  readonly entries: readonly Entry[];
  readonly data: readonly Uint8Array[];
  readonly terms: readonly number[];
  readonly bytes: Uint8Array;
}

export class EntryRuns {
  readonly #limits: EntryRunLimits;
  /** By the run's first entry; several lengths may start at one entry (followers at one `next`). */
  readonly #byFirst = new Map<Entry, Run[]>();
  /** Oldest first, for eviction. */
  readonly #order: Run[] = [];
  #bytes = 0;
  #encoded = 0;
  #framed = 0;

  constructor(limits: Partial<EntryRunLimits> = {}) {
    this.#limits = { ...entryRunDefaults, ...limits };
    assert(Number.isSafeInteger(this.#limits.runsMax) && this.#limits.runsMax >= 1, () => `runsMax must be an integer >= 1, got ${this.#limits.runsMax}`);
    assert(Number.isSafeInteger(this.#limits.bytesMax) && this.#limits.bytesMax >= 1, () => `bytesMax must be an integer >= 1, got ${this.#limits.bytesMax}`);
  }

  get stats(): EntryRunStats {
    return { entriesEncoded: this.#encoded, entriesFramed: this.#framed };
  }

  /** Bytes of the columns of `es` (terms, kinds, lens, blob, confs): what write() will add. */
  size(es: readonly Entry[]): number {
    const first = es[0];
    const hit = first === undefined ? null : this.#find(first, es);
    return hit !== null ? hit.bytes.byteLength : columnsBytes(es);
  }

  /**
   * Writes the columns of `es` at the writer's position: a copy of the run's bytes when it was
   * written before, else entry by entry, keeping a view of what was written for the next frame.
   */
  write(w: CborWriter, es: readonly Entry[]): void {
    this.#framed += es.length;
    const first = es[0];
    const hit = first === undefined ? null : this.#find(first, es);
    if (hit !== null) {
      w.raw(hit.bytes);
      return;
    }
    const start = w.pos;
    writeColumns(w, es);
    if (first === undefined) return;
    this.#encoded += es.length;
    // A run bigger than the whole budget is used once and not kept.
    if (w.pos - start <= this.#limits.bytesMax) this.#keep(first, es, w.buf.subarray(start, w.pos));
  }

  #find(first: Entry, es: readonly Entry[]): Run | null {
    const runs = this.#byFirst.get(first);
    if (runs === undefined) return null;
    for (const run of runs) if (sameRun(run, es)) return run;
    return null;
  }

  #keep(first: Entry, es: readonly Entry[], bytes: Uint8Array): void {
    const n = es.length;
    const data = new Array<Uint8Array>(n);
    const terms = new Array<number>(n);
    for (let i = 0; i < n; i++) {
      data[i] = es[i]!.data;
      terms[i] = es[i]!.term;
    }
    // A copy of the array: the caller's may change after this returns.
    const run: Run = { entries: es.slice(), data, terms, bytes };
    while (this.#order.length >= this.#limits.runsMax || (this.#order.length > 0 && this.#bytes + bytes.byteLength > this.#limits.bytesMax)) {
      this.#evictOldest();
    }
    const list = this.#byFirst.get(first);
    if (list === undefined) this.#byFirst.set(first, [run]);
    else list.push(run);
    this.#order.push(run);
    this.#bytes += bytes.byteLength;
  }

  #evictOldest(): void {
    const run = this.#order.shift();
    if (run === undefined) return;
    this.#bytes -= run.bytes.byteLength;
    const first = run.entries[0]!;
    const list = this.#byFirst.get(first);
    if (list === undefined) return;
    const at = list.indexOf(run);
    if (at >= 0) list.splice(at, 1);
    if (list.length === 0) this.#byFirst.delete(first);
  }
}

function sameRun(run: Run, es: readonly Entry[]): boolean {
  const n = es.length;
  if (run.entries.length !== n) return false;
  for (let i = 0; i < n; i++) {
    const e = es[i]!;
    if (e !== run.entries[i] || e.data !== run.data[i] || e.term !== run.terms[i]) return false;
  }
  return true;
}

