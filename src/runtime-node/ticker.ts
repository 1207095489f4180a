// Raft time from the monotonic clock. A timer wakes the ticker, but the number of ticks comes
// from performance.now(): after a stall (GC, SIGSTOP, a busy loop) the missed ticks are applied
// at once, so a paused leader sees its lease run out before it serves anything again.

export class Ticker {
  readonly tickMs: number;
  readonly #onTick: () => void;
  #last: number;
  #timer: ReturnType<typeof setInterval> | null = null;
  /** Ticks applied in one catch-up at most; beyond that, time is skipped (everything expired anyway). */
  readonly #catchUpMax: number;

  constructor(tickMs: number, onTick: () => void, catchUpMax = 10_000) {
    this.tickMs = tickMs;
    this.#onTick = onTick;
    this.#last = performance.now();
    this.#catchUpMax = catchUpMax;
  }

  start(): void {
    if (this.#timer !== null) return;
    this.#last = performance.now();
    this.#timer = setInterval(() => this.catchUp(), this.tickMs);
  }

  stop(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }

  /** Applies every tick that is due. Call it before anything that depends on Raft time. */
  catchUp(): void {
    const now = performance.now();
    let due = Math.floor((now - this.#last) / this.tickMs);
    if (due <= 0) return;
    this.#last += due * this.tickMs;
    if (due > this.#catchUpMax) due = this.#catchUpMax;
    for (let i = 0; i < due; i++) this.#onTick();
  }
}
