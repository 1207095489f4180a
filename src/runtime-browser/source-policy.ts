// Whom a follower-reader replicates from, as a pure policy: the leader, or a relaying follower
// picked by the replica's subject so tabs spread out; a source that stays silent is left alone for
// a backoff and another is tried. Time comes from an injected clock, so every rule is unit-tested
// without sockets or timers (test/runtime-browser/source-policy.test.ts).

import { Backoff, defaultBackoff } from '../transport/backoff.ts';
import type { Prng } from '../core/prng.ts';

/** A member and the address a replica dials. */
export interface Target {
  readonly id: string;
  readonly url: string;
}

/** Who leads and which voters could relay, as one member sees it. */
export interface ClusterView {
  readonly leader: Target;
  readonly followers: readonly Target[];
}

export interface SourcePolicyOptions {
  /** The replica's member id (its token subject): spreads replicas over the followers. */
  readonly self: string;
  readonly serveFrom: 'leader' | 'follower';
  /** A source that sent nothing for this long does not serve us. */
  readonly notFollowedMs: number;
  /** Milliseconds on a monotonic clock. */
  readonly now: () => number;
  readonly prng: Prng;
}

/** The verdict on a silent source: drop it, and leave it alone for waitMs. */
export interface Silence {
  readonly source: string;
  readonly silentMs: number;
  readonly waitMs: number;
}

export class SourcePolicy {
  readonly #o: SourcePolicyOptions;
  /** Members that accepted our link but sent nothing, and until when we leave them alone. */
  readonly #avoid = new Map<string, number>();
  readonly #backoff: Backoff;
  #linked: string | null = null;
  /** When #linked was chosen, when its link last came up, when it last sent us something. */
  #linkedAtMs = 0;
  #linkUpAtMs: number | null = null;
  #heardAtMs: number | null = null;

  constructor(options: SourcePolicyOptions) {
    this.#o = options;
    this.#backoff = new Backoff({ ...defaultBackoff, initialMs: 1000, maxMs: 10_000 }, options.prng);
  }

  /** The source linked now, or null. */
  get linked(): string | null {
    return this.#linked;
  }

  /** Whether the linked source sent something within notFollowedMs. */
  following(): boolean {
    return this.#heardAtMs !== null && this.#o.now() - this.#heardAtMs < this.#o.notFollowedMs;
  }

  /**
   * The member to replicate from: the leader, or (serveFrom 'follower') a follower picked by the
   * subject, then the leader. Keeps a current source that serves us (a relink costs a re-probe);
   * skips members left alone. Null: every candidate is left alone for now.
   */
  choose(view: ClusterView): Target | null {
    const now = this.#o.now();
    for (const [id, until] of this.#avoid) if (until <= now) this.#avoid.delete(id);
    const followers = [...view.followers].sort((a, b) => (a.id < b.id ? -1 : 1));
    const turn = followers.length === 0 ? 0 : hashOf(this.#o.self) % followers.length;
    const ranked = this.#o.serveFrom === 'follower' ? [...followers.slice(turn), ...followers.slice(0, turn), view.leader] : [view.leader];
    const current = ranked.find((t) => t.id === this.#linked);
    if (current !== undefined && this.#heardAtMs !== null) return current;
    return ranked.find((t) => !this.#avoid.has(t.id)) ?? null;
  }

  /** The replica linked `id` (a new source restarts the silence clock). */
  linkedTo(id: string): void {
    if (this.#linked !== id) {
      this.#linkedAtMs = this.#o.now();
      this.#linkUpAtMs = null;
      this.#heardAtMs = null;
    }
    this.#linked = id;
  }

  unlinked(): void {
    this.#linked = null;
    this.#linkUpAtMs = null;
    this.#heardAtMs = null;
  }

  linkUp(id: string): void {
    if (id === this.#linked) this.#linkUpAtMs = this.#o.now();
  }

  linkDown(id: string): void {
    if (id === this.#linked) this.#linkUpAtMs = null;
  }

  /** The linked source sent us something: it serves us. */
  heard(id: string): boolean {
    if (id !== this.#linked) return false;
    this.#heardAtMs = this.#o.now();
    this.#backoff.reset();
    return true;
  }

  /**
   * A source silent for notFollowedMs does not serve us (down, or it follows too many tabs
   * already): the verdict says for how long to leave it alone. The caller unlinks it.
   */
  checkSilence(): Silence | null {
    if (this.#linked === null) return null;
    const now = this.#o.now();
    const since = Math.max(this.#heardAtMs ?? 0, this.#linkUpAtMs ?? 0, this.#linkedAtMs);
    if (now - since < this.#o.notFollowedMs) return null;
    const waitMs = this.#backoff.next();
    this.#avoid.set(this.#linked, now + waitMs);
    return { source: this.#linked, silentMs: now - since, waitMs };
  }

  /** Resuming from a pause: everyone gets another chance. */
  forgive(): void {
    this.#avoid.clear();
  }
}

/** A small stable hash (FNV-1a) of a subject, to spread tabs over the followers. */
export function hashOf(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}
