// Where each entry of the log lives on disk (segment, offset, record size) and its term, in
// number columns rather than one object per entry. Replay builds it; the WAL keeps it current as
// it encodes, and reads entries back from the segments through it.
import { NumberLog } from '../core/store/number-log.ts';
import type { Index, Term } from '../core/types.ts';

const u32Limit = 4294967296;

export interface EntryPlace {
  readonly seq: number;
  readonly offset: number;
  readonly bytes: number;
}

export class EntryIndex {
  /** Index just before the first entry (the snapshot index once replay is complete). */
  base = 0;
  readonly terms = new NumberLog();
  // Invariant: pos and bytes have terms.length numbers; pos = seq * 2^32 + offset.
  readonly #pos = new NumberLog();
  readonly #bytes = new NumberLog();

  get length(): number {
    return this.terms.length;
  }

  lastIndex(): Index {
    return this.base + this.terms.length;
  }

  /** Records entry `index` at a place; it replaces the entries from `index` on (base < index <= last + 1). */
  place(index: Index, term: Term, seq: number, offset: number, bytes: number): void {
    const keep = index - this.base - 1;
    if (keep < this.terms.length) {
      this.terms.truncate(keep);
      this.#pos.truncate(keep);
      this.#bytes.truncate(keep);
    }
    this.terms.push(term);
    this.#pos.push(seq * u32Limit + offset);
    this.#bytes.push(bytes);
  }

  /** Parallel mode: entry `index` now lives at another place; nothing else changes (base < index <= last). */
  replace(index: Index, term: Term, seq: number, offset: number, bytes: number): void {
    const k = index - this.base - 1;
    this.terms.set(k, term);
    this.#pos.set(k, seq * u32Limit + offset);
    this.#bytes.set(k, bytes);
  }

  /** Forgets every entry; the log restarts after `base` (a snapshot install). */
  reset(base: Index): void {
    this.base = base;
    this.terms.clear();
    this.#pos.clear();
    this.#bytes.clear();
  }

  /** Drops the entries through `index` (base <= index). */
  compact(index: Index): void {
    const n = index - this.base;
    this.terms.dropFront(n);
    this.#pos.dropFront(n);
    this.#bytes.dropFront(n);
    this.base = index;
  }

  /** Where entry `index` is (base < index <= last). */
  placeOf(index: Index): EntryPlace {
    const k = index - this.base - 1;
    const pos = this.#pos.at(k);
    const seq = Math.floor(pos / u32Limit);
    return { seq, offset: pos - seq * u32Limit, bytes: this.#bytes.at(k) };
  }
}
