// The core never draws its own random numbers: randomness (election timeout jitter) comes from a seeded
// generator the runtime injects, so a simulator seed reproduces every decision exactly.

export interface Prng {
  /** A uniformly distributed integer in [0, bound). */
  nextInt(bound: number): number;
}

/** SplitMix32-style generator: tiny, fast, and good enough for timeouts and fault schedules. */
export class SeededPrng implements Prng {
  #state: number;

  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  nextU32(): number {
    this.#state = (this.#state + 0x9e3779b9) >>> 0;
    let z = this.#state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  }

  nextInt(bound: number): number {
    if (bound <= 1) return 0;
    return this.nextU32() % bound;
  }

  /** A float in [0, 1). */
  nextFloat(): number {
    return this.nextU32() / 4294967296;
  }
}
