// The leader's lease clocks, as etcd's lessor keeps them: grants, revokes and expiries go through
// the log, but remaining time lives only in the leader's memory (keep-alives are not logged). A
// new leader cannot know when a lease was last renewed, so it gives every lease its full TTL plus
// an extension before expiring any (etcd's Promote). Pure: time is passed in, nothing is proposed
// here; lease-keeper.ts drives it.

import { assert } from '../assert.ts';

export interface LessorOptions {
  /**
   * Added to every lease's TTL when this member becomes leader: the old leader may have renewed a
   * lease just before it lost office (an election timeout covers the time it could still do so).
   */
  readonly promoteExtensionMs: number;
  /** Clocks may run fast by this much: a deadline is TTL x (1 + driftPercent/100) out. */
  readonly driftPercent: number;
  /** Expiries handed out per call of due(): mass expiries are spread over ticks, not proposed at once. */
  readonly expiriesPerCall: number;
  /** An expiry proposed but not applied after this long is proposed again (say, it was dropped). */
  readonly expiryRetryMs: number;
}

export class Lessor {
  readonly #o: LessorOptions;
  /** The term this member leads in, 0 when it does not: no clocks are kept then. */
  #term = 0;
  /** Lease id to its deadline, on this member's monotonic clock. */
  readonly #deadlines = new Map<number, number>();
  /** Leases whose expiry was proposed, with when: they are never renewed again. */
  readonly #expiring = new Map<number, number>();

  constructor(o: LessorOptions) {
    assert(o.promoteExtensionMs >= 0 && o.driftPercent >= 0 && o.expiriesPerCall > 0 && o.expiryRetryMs > 0, 'lessor options out of range');
    this.#o = o;
  }

  /** The term it keeps clocks for (0: not leading). */
  get term(): number {
    return this.#term;
  }

  get leases(): number {
    return this.#deadlines.size;
  }

  #span(ttlMs: number): number {
    return ttlMs * (1 + this.#o.driftPercent / 100);
  }

  /** This member leads in `term` from now: every lease gets its TTL plus the extension. */
  promote(term: number, nowMs: number, leases: Iterable<{ readonly id: number; readonly ttlMs: number }>): void {
    this.#term = term;
    this.#deadlines.clear();
    this.#expiring.clear();
    for (const l of leases) this.#deadlines.set(l.id, nowMs + this.#span(l.ttlMs) + this.#o.promoteExtensionMs);
  }

  /** Not the leader any more: forget every clock (the next leader starts its own). */
  demote(): void {
    this.#term = 0;
    this.#deadlines.clear();
    this.#expiring.clear();
  }

  /**
   * A grant applied while leading. `inThisTerm`: the grant was proposed in this term, so nobody
   * renewed it before; otherwise an earlier leader may have, and it gets the extension too.
   */
  granted(id: number, ttlMs: number, nowMs: number, inThisTerm: boolean): void {
    if (this.#term === 0) return;
    this.#deadlines.set(id, nowMs + this.#span(ttlMs) + (inThisTerm ? 0 : this.#o.promoteExtensionMs));
  }

  /** Revoked or expired (applied). */
  gone(id: number): void {
    this.#deadlines.delete(id);
    this.#expiring.delete(id);
  }

  /**
   * A keep-alive received at `receivedMs` (before the leadership check it waited for): the lease
   * lives TTL from then. Null when the lease is unknown here or its expiry is under way.
   */
  renew(id: number, ttlMs: number, receivedMs: number): number | null {
    if (this.#term === 0 || this.#expiring.has(id)) return null;
    const d = this.#deadlines.get(id);
    if (d === undefined) return null;
    this.#deadlines.set(id, Math.max(d, receivedMs + this.#span(ttlMs)));
    return ttlMs;
  }

  /** Time left before this member would expire the lease (null: not tracked here). */
  remainingMs(id: number, nowMs: number): number | null {
    const d = this.#deadlines.get(id);
    return d === undefined ? null : Math.max(0, d - nowMs);
  }

  /** Leases whose deadline passed and whose expiry should be proposed now, oldest deadline first. */
  due(nowMs: number): number[] {
    if (this.#term === 0) return [];
    const out: Array<[number, number]> = [];
    for (const [id, d] of this.#deadlines) {
      if (d > nowMs) continue;
      const proposed = this.#expiring.get(id);
      if (proposed !== undefined && nowMs - proposed < this.#o.expiryRetryMs) continue;
      out.push([id, d]);
    }
    out.sort((a, b) => a[1] - b[1] || a[0] - b[0]);
    const ids = out.slice(0, this.#o.expiriesPerCall).map(([id]) => id);
    for (const id of ids) this.#expiring.set(id, nowMs);
    return ids;
  }
}
