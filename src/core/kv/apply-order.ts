// The order in which the key-value machine sees committed entries, chosen once when it is made.
// In log order (plain Raft) the applied index is a counter and every entry moves log time. Out of
// order (ParallelRaft: entries on disjoint keys apply as they commit) the applied index is a
// watermark with a set above it, and only commands that keep log order among themselves may move
// time, so every replica expires the same sessions whatever order its entries came in.

import { assert } from '../assert.ts';
import type { Index } from '../types.ts';

/** What the order rules need of a client session. */
export interface Timed {
  lastTimeMs: number;
}

export interface ApplyOrder {
  /** Every entry up to here is applied. */
  readonly appliedIndex: Index;
  /** How many entries are applied above appliedIndex. */
  readonly appliedAbove: number;
  /** Records entry `index` as applied; applying one twice (or out of turn in log order) is a bug. */
  markApplied(index: Index): void;
  /** A snapshot replaced the state: everything up to `index` is applied, nothing above. */
  reset(index: Index): void;
  /** Whether a command moves log time (and so sweeps expired sessions). */
  movesTime(op: string): boolean;
  /** Whether a command stamped `timeMs` finds its session expired by its own time. */
  expiredBy(s: Timed, timeMs: number, ttlMs: number): boolean;
  /** The session was used by a command stamped `timeMs` at log time `logTimeMs`. */
  touch<S extends Timed>(sessions: Map<number, S>, id: number, s: S, timeMs: number, logTimeMs: number): void;
  /** The session to evict first. */
  leastRecent<S extends Timed>(sessions: ReadonlyMap<number, S>): number | undefined;
  /** Drops every session last used before `cutoff`. */
  expire<S extends Timed>(sessions: Map<number, S>, cutoff: number): void;
}

/** Plain Raft: one entry after another; the session map is kept in recency order. */
export class LogOrder implements ApplyOrder {
  appliedIndex: Index = 0;
  readonly appliedAbove = 0;

  markApplied(index: Index): void {
    assert(index === this.appliedIndex + 1, () => `kv apply of ${index} after ${this.appliedIndex}`);
    this.appliedIndex = index;
  }

  reset(index: Index): void {
    this.appliedIndex = index;
  }

  movesTime(): boolean {
    return true;
  }

  expiredBy(): boolean {
    // Log time alone expires sessions, swept before the command runs.
    return false;
  }

  touch<S extends Timed>(sessions: Map<number, S>, id: number, s: S, _timeMs: number, logTimeMs: number): void {
    s.lastTimeMs = logTimeMs;
    sessions.delete(id);
    sessions.set(id, s);
  }

  leastRecent<S extends Timed>(sessions: ReadonlyMap<number, S>): number | undefined {
    return sessions.keys().next().value;
  }

  expire<S extends Timed>(sessions: Map<number, S>, cutoff: number): void {
    for (const [id, s] of sessions) {
      if (s.lastTimeMs >= cutoff) break;
      sessions.delete(id);
    }
  }
}

/**
 * ParallelRaft: entries apply in any order that keeps conflicting ones in log order. The map's
 * order would depend on that order, so recency is each session's own latest time instead.
 */
export class AnyOrder implements ApplyOrder {
  #applied: Index = 0;
  readonly #above = new Set<Index>();

  get appliedIndex(): Index {
    return this.#applied;
  }

  get appliedAbove(): number {
    return this.#above.size;
  }

  markApplied(index: Index): void {
    assert(index > this.#applied && !this.#above.has(index), () => `kv apply of ${index} twice (applied through ${this.#applied})`);
    if (index !== this.#applied + 1) {
      this.#above.add(index);
      return;
    }
    this.#applied = index;
    while (this.#above.delete(this.#applied + 1)) this.#applied++;
  }

  reset(index: Index): void {
    this.#applied = index;
    this.#above.clear();
  }

  movesTime(op: string): boolean {
    // Registrations conflict with every entry, so they apply in log order on every replica.
    return op === 'register';
  }

  expiredBy(s: Timed, timeMs: number, ttlMs: number): boolean {
    // A session's own commands keep log order among themselves: their stamps decide its expiry.
    return timeMs - s.lastTimeMs > ttlMs;
  }

  touch<S extends Timed>(_sessions: Map<number, S>, _id: number, s: S, timeMs: number): void {
    s.lastTimeMs = Math.max(s.lastTimeMs, timeMs);
  }

  leastRecent<S extends Timed>(sessions: ReadonlyMap<number, S>): number | undefined {
    let best: number | undefined;
    let bestTime = Infinity;
    for (const [id, s] of sessions) {
      if (s.lastTimeMs < bestTime || (s.lastTimeMs === bestTime && best !== undefined && id < best)) {
        best = id;
        bestTime = s.lastTimeMs;
      }
    }
    return best;
  }

  expire<S extends Timed>(sessions: Map<number, S>, cutoff: number): void {
    for (const [id, s] of sessions) if (s.lastTimeMs < cutoff) sessions.delete(id);
  }
}
