// The simulated network: seeded delay, drop, duplication and long reorders, plus partitions of
// any subset and one-way (asymmetric) cuts. It only decides fates; the simulator delivers.

import type { SeededPrng } from '../../src/core/prng.ts';

export interface NetworkOptions {
  /** Per-message one-way delay, uniform in [delayMinMs, delayMaxMs]. */
  delayMinMs: number;
  delayMaxMs: number;
  dropRate: number;
  duplicateRate: number;
  /** Chance that a message is held back by an extra delay, overtaking later messages. */
  reorderRate: number;
  reorderDelayMaxMs: number;
}

export const reliableNetwork: NetworkOptions = {
  delayMinMs: 1, delayMaxMs: 3, dropRate: 0, duplicateRate: 0, reorderRate: 0, reorderDelayMaxMs: 0,
};

export const unreliableNetwork: NetworkOptions = {
  delayMinMs: 0, delayMaxMs: 26, dropRate: 0.1, duplicateRate: 0.02, reorderRate: 0.05, reorderDelayMaxMs: 200,
};

export class Network {
  options: NetworkOptions;
  readonly #rng: SeededPrng;
  /** Directed links that are cut, as "from>to". */
  readonly #cut = new Set<string>();
  sent = 0;
  dropped = 0;
  duplicated = 0;
  reordered = 0;

  constructor(options: NetworkOptions, rng: SeededPrng) {
    this.options = options;
    this.#rng = rng;
  }

  /** Delivery delays for one message: [] when it is lost, two when it is duplicated. */
  fate(from: string, to: string): number[] {
    this.sent++;
    if (this.#cut.has(`${from}>${to}`)) {
      this.dropped++;
      return [];
    }
    const o = this.options;
    if (o.dropRate > 0 && this.#rng.nextFloat() < o.dropRate) {
      this.dropped++;
      return [];
    }
    const out = [this.#delay()];
    if (o.duplicateRate > 0 && this.#rng.nextFloat() < o.duplicateRate) {
      this.duplicated++;
      out.push(this.#delay());
    }
    return out;
  }

  #delay(): number {
    const o = this.options;
    let d = o.delayMinMs + this.#rng.nextFloat() * (o.delayMaxMs - o.delayMinMs);
    if (o.reorderRate > 0 && this.#rng.nextFloat() < o.reorderRate) {
      this.reordered++;
      d += this.#rng.nextFloat() * o.reorderDelayMaxMs;
    }
    return d;
  }

  connected(from: string, to: string): boolean {
    return !this.#cut.has(`${from}>${to}`);
  }

  cutOneWay(from: string, to: string): void {
    this.#cut.add(`${from}>${to}`);
  }

  cut(a: string, b: string): void {
    this.#cut.add(`${a}>${b}`);
    this.#cut.add(`${b}>${a}`);
  }

  /** Cuts every link between different groups; links inside a group are left as they are. */
  partition(groups: readonly (readonly string[])[]): void {
    for (let i = 0; i < groups.length; i++) {
      for (let j = 0; j < groups.length; j++) {
        if (i === j) continue;
        for (const a of groups[i]!) for (const b of groups[j]!) this.#cut.add(`${a}>${b}`);
      }
    }
  }

  isolate(id: string, all: readonly string[]): void {
    for (const other of all) if (other !== id) this.cut(id, other);
  }

  heal(): void {
    this.#cut.clear();
  }
}
