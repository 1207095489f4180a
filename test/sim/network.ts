// The simulated network: seeded delay, drop, duplication and long reorders, plus partitions of
// any subset, one-way (asymmetric) cuts, senders that are slow for a while, and the messages of a
// leadership transfer (timeoutNow and the votes it sets off) delayed or lost on their own. It
// only decides fates; the simulator delivers.

import type { Message } from '../../src/core/message.ts';
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
  /**
   * A leadership transfer's own messages: the timeoutNow, and the votes carrying the transfer
   * flag. Each is lost with dropRate, or held back by [delayMinMs, delayMaxMs) with delayRate (so a
   * transfer can finish long after its leader gave up on it).
   */
  timeoutNow?: MessageFaults;
  transferVote?: MessageFaults;
}

export interface MessageFaults {
  readonly dropRate: number;
  readonly delayRate: number;
  readonly delayMinMs: number;
  readonly delayMaxMs: number;
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
  /** Senders whose every message takes up to this much longer, for now. */
  readonly #slow = new Map<string, number>();
  sent = 0;
  dropped = 0;
  duplicated = 0;
  reordered = 0;

  constructor(options: NetworkOptions, rng: SeededPrng) {
    this.options = options;
    this.#rng = rng;
  }

  /** Delivery delays for one message: [] when it is lost, two when it is duplicated. */
  fate(from: string, to: string, m?: Message): number[] {
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
    let extra = this.#slow.has(from) ? this.#rng.nextFloat() * this.#slow.get(from)! : 0;
    const t = m === undefined ? undefined : m.type === 'timeoutNow' ? o.timeoutNow : m.type === 'vote' && m.transfer ? o.transferVote : undefined;
    if (t !== undefined) {
      if (this.#rng.nextFloat() < t.dropRate) {
        this.dropped++;
        return [];
      }
      if (this.#rng.nextFloat() < t.delayRate) {
        this.transfersDelayed++;
        extra += t.delayMinMs + this.#rng.nextFloat() * (t.delayMaxMs - t.delayMinMs);
      }
    }
    const out = [this.#delay() + extra];
    if (o.duplicateRate > 0 && this.#rng.nextFloat() < o.duplicateRate) {
      this.duplicated++;
      out.push(this.#delay() + extra);
    }
    return out;
  }

  transfersDelayed = 0;

  /** Everything `id` sends takes up to `extraMs` longer, until heal() (or slow(id, 0)). */
  slow(id: string, extraMs: number): void {
    if (extraMs <= 0) this.#slow.delete(id);
    else this.#slow.set(id, extraMs);
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

  /** Restores every cut link and every slow sender. */
  heal(): void {
    this.#cut.clear();
    this.#slow.clear();
  }
}
