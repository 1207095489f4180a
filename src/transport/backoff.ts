// Reconnect delays: exponential growth with jitter, capped. Randomness is injected (a Prng), so a
// test or a simulator with a fixed seed sees the same delays every run.

import type { Prng } from '../core/prng.ts';
import { invalidOption } from './limits.ts';

export interface BackoffOptions {
  /** Delay before the first retry. */
  readonly initialMs: number;
  /** Upper bound of any delay. */
  readonly maxMs: number;
  /** Growth per failed attempt. */
  readonly factor: number;
  /** Share of each delay that is random: the delay lies in [d * (1 - jitterRatio), d]. */
  readonly jitterRatio: number;
}

export const defaultBackoff: BackoffOptions = { initialMs: 100, maxMs: 5000, factor: 2, jitterRatio: 0.5 };

export function resolveBackoff(partial: Partial<BackoffOptions> = {}): BackoffOptions {
  const o = { ...defaultBackoff, ...partial };
  if (!Number.isFinite(o.initialMs) || o.initialMs < 0) throw invalidOption('backoff.initialMs', 'a number >= 0', o.initialMs);
  if (!Number.isFinite(o.maxMs) || o.maxMs < o.initialMs) throw invalidOption('backoff.maxMs', `a number >= initialMs (${o.initialMs})`, o.maxMs);
  if (!Number.isFinite(o.factor) || o.factor < 1) throw invalidOption('backoff.factor', 'a number >= 1', o.factor);
  if (!(o.jitterRatio >= 0 && o.jitterRatio <= 1)) throw invalidOption('backoff.jitterRatio', 'a number in [0, 1]', o.jitterRatio);
  return o;
}

export class Backoff {
  readonly #options: BackoffOptions;
  readonly #prng: Prng;
  #attempt = 0;

  constructor(options: BackoffOptions, prng: Prng) {
    this.#options = options;
    this.#prng = prng;
  }

  get attempt(): number {
    return this.#attempt;
  }

  /** The delay before the next attempt; each call counts one more failure. */
  next(): number {
    const { initialMs, maxMs, factor, jitterRatio } = this.#options;
    const base = Math.min(maxMs, initialMs * factor ** Math.min(this.#attempt, 64));
    this.#attempt += 1;
    const random = this.#prng.nextInt(1_000_000) / 1_000_000;
    return Math.round(base * (1 - jitterRatio * random));
  }

  reset(): void {
    this.#attempt = 0;
  }
}
