// Raft time from an injected clock: how many ticks are due since the last look. A timer that
// fired late is made up with a few ticks at once. A longer gap is a stall (a long GC, SIGSTOP,
// CPU starvation, a suspended VM): it is skipped, not replayed, because a burst of ticks would
// time out elections and CheckQuorum before the messages that piled up meanwhile are read.
// Skipping only makes a node's timers later, which is the safe direction for the vote guard that
// a leader lease relies on; the lease itself is measured on the clock, not in ticks (reads.ts).

import { assert } from './assert.ts';
import type { Clock } from './clock.ts';

export interface TickSourceOptions {
  readonly clock: Clock;
  /** Milliseconds per tick. */
  readonly tickMs: number;
  /** Ticks made up at once at most; more missed ticks count as a stall. */
  readonly burstTicksMax?: number;
}

export interface DueTicks {
  /** Ticks to run now. */
  readonly ticks: number;
  /** Milliseconds skipped as a stall (0 when none). */
  readonly stalledMs: number;
}

const none: DueTicks = { ticks: 0, stalledMs: 0 };

export class TickSource {
  readonly tickMs: number;
  readonly burstTicksMax: number;
  readonly #clock: Clock;
  /** Monotonic time up to which ticks were handed out. Invariant: never ahead of the clock. */
  #last: number;

  constructor(o: TickSourceOptions) {
    assert(Number.isFinite(o.tickMs) && o.tickMs > 0, () => `tickMs must be positive, got ${o.tickMs}`);
    this.tickMs = o.tickMs;
    this.burstTicksMax = o.burstTicksMax ?? 5;
    assert(Number.isSafeInteger(this.burstTicksMax) && this.burstTicksMax >= 1, 'burstTicksMax must be an integer >= 1');
    this.#clock = o.clock;
    this.#last = o.clock.monoMs();
  }

  /** The ticks due now; call before anything that depends on Raft time. */
  take(): DueTicks {
    const now = this.#clock.monoMs();
    const due = Math.floor((now - this.#last) / this.tickMs);
    if (due <= 0) return none;
    if (due > this.burstTicksMax) {
      this.#last = now;
      return { ticks: 1, stalledMs: due * this.tickMs };
    }
    this.#last += due * this.tickMs;
    return { ticks: due, stalledMs: 0 };
  }

  /** Milliseconds until the next tick is due (for a runtime's timer). */
  untilNextMs(): number {
    return Math.max(0, this.#last + this.tickMs - this.#clock.monoMs());
  }
}
