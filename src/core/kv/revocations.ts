// Token revocations as the replicated machine keeps them: by subject (every token of that subject
// issued at or before the revocation) or by token id (jti), each forgotten once every token it
// covers has expired (untilMs, fixed by the proposer). Pure: time comes from the log entry that
// revokes, so every replica keeps and forgets the same entries; the set is bounded.

import { assert } from '../assert.ts';
import type { ByteReader, ByteWriter } from './bytes.ts';

export type RevokeBy = 'sub' | 'jti';
export const revokeByKinds: readonly RevokeBy[] = ['sub', 'jti'];

export interface Revocation {
  readonly by: RevokeBy;
  /** The subject or the token id. */
  readonly name: string;
  /** When it was revoked (the proposer's clock): a subject's tokens issued after it stay valid. */
  readonly revokedAtMs: number;
  /** Forgotten from here on: every token it covers has expired by then. */
  readonly untilMs: number;
}

/** What a token states about itself, as far as revocation goes. */
export interface RevocableToken {
  readonly sub: string;
  readonly jti: string | null;
  /** Issue time; null when the token does not say (then every revocation of its subject covers it). */
  readonly issuedAtMs: number | null;
}

/** Revocations kept at once by default. */
export const revocationsMaxDefault = 10_000;

export class RevocationLimitError extends Error {
  override readonly name = 'RevocationLimitError';
}

export class Revocations {
  readonly max: number;
  /** `${by}:${name}` to the revocation; insertion order is apply order on every replica. */
  readonly #map = new Map<string, Revocation>();

  constructor(max = revocationsMaxDefault) {
    assert(Number.isSafeInteger(max) && max > 0, 'revocationsMax must be a positive integer');
    this.max = max;
  }

  get size(): number {
    return this.#map.size;
  }

  /**
   * Records `r` at log time `nowMs`, first forgetting every revocation whose untilMs has passed.
   * A second revocation of the same subject or id keeps the later time and the later forget
   * time. Throws RevocationLimitError when `max` are still in force.
   */
  add(r: Revocation, nowMs: number): void {
    this.forget(nowMs);
    const key = `${r.by}:${r.name}`;
    const had = this.#map.get(key);
    if (had === undefined && this.#map.size >= this.max) {
      throw new RevocationLimitError(`${this.max} token revocations are in force (revocationsMax): wait until some are forgotten (at the expiry of the tokens they cover), or revoke by subject instead of by token id`);
    }
    this.#map.set(key, had === undefined ? r : {
      by: r.by, name: r.name, revokedAtMs: Math.max(had.revokedAtMs, r.revokedAtMs), untilMs: Math.max(had.untilMs, r.untilMs),
    });
  }

  /** Forgets every revocation whose untilMs is at or before `nowMs`. */
  forget(nowMs: number): void {
    for (const [key, r] of this.#map) if (r.untilMs <= nowMs) this.#map.delete(key);
  }

  /**
   * The revocation that covers `t`, if any. One past its untilMs still answers (until a later
   * revocation forgets it): harmless, as every token it covers has expired by then.
   */
  find(t: RevocableToken): Revocation | undefined {
    if (t.jti !== null) {
      const byId = this.#map.get(`jti:${t.jti}`);
      if (byId !== undefined) return byId;
    }
    const bySub = this.#map.get(`sub:${t.sub}`);
    if (bySub !== undefined && (t.issuedAtMs === null || t.issuedAtMs <= bySub.revokedAtMs)) return bySub;
    return undefined;
  }

  all(): Revocation[] {
    return [...this.#map.values()];
  }

  clear(): void {
    this.#map.clear();
  }

  write(w: ByteWriter): void {
    w.varint(this.#map.size);
    for (const r of this.#map.values()) w.u8(revokeByKinds.indexOf(r.by)).str(r.name).num(r.revokedAtMs).num(r.untilMs);
  }

  /** Loads what write() wrote (a snapshot may hold more than this member's max: all are kept). */
  read(r: ByteReader): void {
    this.#map.clear();
    for (let n = r.varint(); n > 0; n--) {
      const by = revokeByKinds[r.u8()];
      if (by === undefined) throw new RangeError('kv snapshot: unknown revocation kind');
      const name = r.str();
      this.#map.set(`${by}:${name}`, { by, name, revokedAtMs: r.num(), untilMs: r.num() });
    }
  }
}
