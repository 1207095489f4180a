// A peer's side of Raft time (Node and Deno alike): the real clocks, and a timer that wakes the driver so its
// ticks run when nothing else happens. The policy (late timers made up, stalls skipped) lives in
// the driver (src/core/tick-source.ts), where the simulator runs it too.

import type { Clock } from '../core/clock.ts';

/** performance.now() for the monotonic reading, Date.now() for the wall clock. */
export const systemClock: Clock = {
  monoMs: () => performance.now(),
  wallMs: () => Date.now(),
};

export class Ticker {
  readonly tickMs: number;
  readonly #wake: () => void;
  #timer: ReturnType<typeof setInterval> | null = null;

  constructor(tickMs: number, wake: () => void) {
    this.tickMs = tickMs;
    this.#wake = wake;
  }

  start(): void {
    if (this.#timer !== null) return;
    this.#timer = setInterval(this.#wake, this.tickMs);
  }

  stop(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }
}
