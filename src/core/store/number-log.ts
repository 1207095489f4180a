// A column of numbers with a moving head, the stores' compact per-entry metadata.

/**
 * A growable column of numbers indexed from a moving head: append, truncate the tail, drop from
 * the front. Stores keep per-entry metadata (terms, file positions) in these instead of one object
 * per entry, so a long log costs 8 bytes a column per entry and no garbage-collector work.
 */
export class NumberLog {
  #a: Float64Array;
  #head = 0;
  #len = 0;

  constructor(capacity = 1024) {
    this.#a = new Float64Array(capacity);
  }

  get length(): number {
    return this.#len;
  }

  /** The k-th number, 0 <= k < length. */
  at(k: number): number {
    return this.#a[this.#head + k]!;
  }

  push(v: number): void {
    if (this.#head + this.#len === this.#a.length) this.#makeRoom();
    this.#a[this.#head + this.#len++] = v;
  }

  truncate(length: number): void {
    if (length < this.#len) this.#len = Math.max(0, length);
  }

  dropFront(n: number): void {
    const k = Math.min(n, this.#len);
    this.#head += k;
    this.#len -= k;
    if (this.#len === 0) this.#head = 0;
  }

  clear(): void {
    this.#head = 0;
    this.#len = 0;
  }

  /** Replaces the k-th number, 0 <= k < length. */
  set(k: number, v: number): void {
    this.#a[this.#head + k] = v;
  }

  #makeRoom(): void {
    if (this.#head >= this.#a.length / 2) {
      this.#a.copyWithin(0, this.#head, this.#head + this.#len);
    } else {
      const grown = new Float64Array(this.#a.length * 2);
      grown.set(this.#a.subarray(this.#head, this.#head + this.#len));
      this.#a = grown;
    }
    this.#head = 0;
  }
}
