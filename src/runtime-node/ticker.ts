// Raft time from the monotonic clock. A timer wakes the ticker and the number of ticks comes from
// performance.now(), so late timer fires are made up. A stall longer than a few ticks (a long GC,
// SIGSTOP, CPU starvation) is not replayed as a burst of ticks — that would time out elections and
// CheckQuorum before the messages that piled up meanwhile are read — but skipped and reported:
// the peer then drops its leader lease, so a paused leader never serves a lease read from a lease
// whose real time ran out while it slept.

export class Ticker {
  readonly tickMs: number;
  readonly #onTick: () => void;
  readonly #onStall: (stalledMs: number) => void;
  /** Ticks made up at once at most; more missed ticks count as a stall. */
  readonly #burstMax: number;
  #last: number;
  #timer: ReturnType<typeof setInterval> | null = null;

  constructor(tickMs: number, onTick: () => void, onStall: (stalledMs: number) => void = () => {}, burstMax = 5) {
    this.tickMs = tickMs;
    this.#onTick = onTick;
    this.#onStall = onStall;
    this.#burstMax = burstMax;
    this.#last = performance.now();
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

  /** Applies the ticks that are due. Call it before anything that depends on Raft time. */
  catchUp(): void {
    const now = performance.now();
    const due = Math.floor((now - this.#last) / this.tickMs);
    if (due <= 0) return;
    if (due > this.#burstMax) {
      // Skip the stalled time (elections and CheckQuorum only run late) and report it first, so
      // the lease is gone before anything else happens.
      this.#last = now;
      this.#onStall(due * this.tickMs);
      this.#onTick();
      return;
    }
    this.#last += due * this.tickMs;
    for (let i = 0; i < due; i++) this.#onTick();
  }
}
