// Time as the core sees it: injected, like randomness, so a simulator's seed reproduces every
// decision. Two readings, because a leader lease must end when either one says its time is up: the
// monotonic clock never jumps but stops while a VM or laptop is suspended; the wall clock keeps
// counting through a suspend but may be stepped by NTP.

export interface Clock {
  /** Milliseconds on a monotonic clock (the runtime supplies it: systemClock, browserClock). */
  monoMs(): number;
  /** Milliseconds on the wall clock, as the runtime supplies it. */
  wallMs(): number;
}

/** Both readings taken at one moment. */
export interface Instant {
  readonly mono: number;
  readonly wall: number;
}

export function instant(clock: Clock): Instant {
  return { mono: clock.monoMs(), wall: clock.wallMs() };
}

/**
 * Milliseconds elapsed since `since`, by whichever clock says more: a suspended machine's
 * monotonic clock stood still while its wall clock ran on. A wall clock stepped backwards counts
 * as nothing elapsed on it (the monotonic clock still counts).
 */
export function elapsedMs(clock: Clock, since: Instant): number {
  return Math.max(clock.monoMs() - since.mono, clock.wallMs() - since.wall);
}

/** A clock moved by hand (tests, tools that replay time). */
export class ManualClock implements Clock {
  #mono: number;
  #wall: number;

  constructor(monoMs = 0, wallMs = 1_700_000_000_000) {
    this.#mono = monoMs;
    this.#wall = wallMs;
  }

  monoMs(): number {
    return this.#mono;
  }

  wallMs(): number {
    return this.#wall;
  }

  /** Both clocks move on by `ms`. */
  advance(ms: number): void {
    this.#mono += ms;
    this.#wall += ms;
  }

  /** A suspended machine: the wall clock moves on, the monotonic clock does not. */
  suspend(ms: number): void {
    this.#wall += ms;
  }

  /** An NTP step of the wall clock alone (negative: backwards). */
  stepWall(ms: number): void {
    this.#wall += ms;
  }
}
