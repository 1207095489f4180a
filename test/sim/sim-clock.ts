// One simulated node's clocks, read from the simulator's virtual time: they run at the node's own
// rate (clock drift), the wall clock starts at an offset of its own, and a suspended machine's
// monotonic clock stands still while its wall clock runs on (what performance.now() and Date.now()
// do on a VM that is suspended and resumed).

import type { Clock } from '../../src/core/clock.ts';

export class SimClock implements Clock {
  readonly #now: () => number;
  /** Clock rate against real (virtual) time: 1 ± drift. */
  #rate: number;
  /** Readings at virtual time #since, from which the clocks run on at #rate. */
  #since: number;
  #mono: number;
  #wall: number;

  constructor(now: () => number, rate: number, wallOffsetMs: number) {
    this.#now = now;
    this.#rate = rate;
    this.#since = now();
    this.#mono = 0;
    this.#wall = wallOffsetMs;
  }

  get rate(): number {
    return this.#rate;
  }

  monoMs(): number {
    return this.#mono + (this.#now() - this.#since) * this.#rate;
  }

  wallMs(): number {
    return this.#wall + (this.#now() - this.#since) * this.#rate;
  }

  /** From now on the clocks run at `rate` (a clock that goes bad); readings stay continuous. */
  setRate(rate: number): void {
    this.#rebase();
    this.#rate = rate;
  }

  /** The machine was suspended for `virtualMs` of real time: the monotonic clock did not run. */
  suspended(virtualMs: number): void {
    this.#rebase();
    this.#mono -= virtualMs * this.#rate;
  }

  /** Virtual milliseconds until this clock has moved on by `localMs`. */
  virtualFor(localMs: number): number {
    return localMs / this.#rate;
  }

  #rebase(): void {
    this.#mono = this.monoMs();
    this.#wall = this.wallMs();
    this.#since = this.#now();
  }
}
