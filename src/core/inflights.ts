// A ring buffer of the AppendEntries in flight to one follower, bounded by count and by bytes:
// the flow control that lets the leader pipeline without flooding a slow follower.

import { assert } from './assert.ts';

export class Inflights {
  readonly msgsMax: number;
  readonly bytesMax: number;
  /** Last index carried by each in-flight message, oldest first. */
  readonly #lastIndex: Float64Array;
  readonly #bytes: Float64Array;
  #start = 0;
  #count = 0;
  #bytesTotal = 0;

  constructor(msgsMax: number, bytesMax: number) {
    assert(msgsMax >= 1, `inflight msgsMax must be >= 1, got ${msgsMax}`);
    this.msgsMax = msgsMax;
    this.bytesMax = bytesMax;
    this.#lastIndex = new Float64Array(msgsMax);
    this.#bytes = new Float64Array(msgsMax);
  }

  get count(): number {
    return this.#count;
  }

  get bytes(): number {
    return this.#bytesTotal;
  }

  full(): boolean {
    return this.#count === this.msgsMax || this.#bytesTotal >= this.bytesMax;
  }

  add(lastIndex: number, bytes: number): void {
    assert(!this.full(), () => `inflights full (${this.#count}/${this.msgsMax} msgs, ${this.#bytesTotal}/${this.bytesMax} bytes)`);
    const slot = (this.#start + this.#count) % this.msgsMax;
    if (this.#count > 0) {
      const prev = this.#lastIndex[(slot + this.msgsMax - 1) % this.msgsMax]!;
      assert(lastIndex > prev, () => `inflight ${lastIndex} not after ${prev}`);
    }
    this.#lastIndex[slot] = lastIndex;
    this.#bytes[slot] = bytes;
    this.#count++;
    this.#bytesTotal += bytes;
  }

  /** Frees every message whose entries are all at or below `index` (acknowledged). */
  freeLE(index: number): void {
    while (this.#count > 0 && this.#lastIndex[this.#start]! <= index) {
      this.#bytesTotal -= this.#bytes[this.#start]!;
      this.#start = (this.#start + 1) % this.msgsMax;
      this.#count--;
    }
    if (this.#count === 0) {
      this.#start = 0;
      this.#bytesTotal = 0;
    }
  }

  reset(): void {
    this.#start = 0;
    this.#count = 0;
    this.#bytesTotal = 0;
  }
}
