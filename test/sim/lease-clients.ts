// Simulated lease holders: each grants a lease (a TTL of a few election timeouts), attaches keys to
// it, and keeps it alive through the LeaseKeeper of the member it believes leads, every third of
// the TTL, across the simulated network like any request (a keep-alive is answered from the
// leader's memory after a linearizable read, never logged). Some stop renewing (the holder crashed
// or walked away) so the lease expires; some revoke it. A client that sticks to the member it last
// saw lead keeps sending to a paused or cut-off old leader, as a pinned SDK would.
//
// The safety property a lock needs (etcd's lease contract): no expiry of a lease is applied on
// any replica before (send time of the last keep-alive whose answer reached the client + TTL), in
// global (virtual) time. Each client records the send time of every acknowledged keep-alive (and
// of its grant, which starts the first TTL); every node's apply of a leaseExpire that found the
// lease records when. Either order of the two is checked as it happens. The reference machine
// checks that the keys go in one step (reference.ts).

import { RaftError } from '../../src/core/errors.ts';
import { encodeCommand, type KvCommand } from '../../src/core/kv/command.ts';
import type { KvResult } from '../../src/core/kv/machine.ts';
import { SeededPrng } from '../../src/core/prng.ts';
import { decodeCommand } from '../../src/core/kv/command.ts';
import { SafetyViolation } from './checker.ts';
import type { Settled, Sim } from './sim.ts';

export interface LeaseClientOptions {
  readonly seed: number;
  readonly clients: number;
  /** TTLs are drawn from [ttlMinMs, ttlMaxMs]. */
  readonly ttlMinMs: number;
  readonly ttlMaxMs: number;
  /** Keys attached to each lease, at most. */
  readonly keysMax?: number;
  /** Chance that a holder stops renewing at some point (its lease then expires). */
  readonly abandonChance?: number;
  /** Chance that a holder revokes its lease at some point. */
  readonly revokeChance?: number;
  /** Every holder pins itself to the member it last saw lead (default: two in three do). */
  readonly sticky?: boolean;
}

export interface LeaseStats {
  granted: number;
  keepAlivesAcked: number;
  /** Leases whose expiry was applied (first apply anywhere), revoked, abandoned by their holders. */
  expired: number;
  revoked: number;
  abandoned: number;
  /** Leases a holder was still renewing when it learned they were gone (ERR_LEASE_NOT_FOUND). */
  lostWhileRenewing: number;
  /** Expiries applied to leases whose last acknowledged keep-alive was sent within 1.5 TTL before. */
  closeCalls: number;
}

interface Held {
  readonly id: number;
  readonly ttlMs: number;
  readonly keys: string[];
  /** Still sending keep-alives. */
  renewing: boolean;
  ended: boolean;
}

interface Client {
  readonly id: number;
  /**
   * 'sticky' stays with the member it last saw lead for as long as that member leads in its own
   * eyes (a paused or cut-off old leader too: what it sends waits in that member's socket buffer);
   * 'fresh' asks for the current leader every time.
   */
  readonly finds: 'sticky' | 'fresh';
  leader: string | null;
  held: Held | null;
  nextLease: number;
  /** The last time a keep-alive of its current lease was acknowledged (its send time). */
  lastAckAt: number;
}

export class LeaseClients {
  readonly stats: LeaseStats = { granted: 0, keepAlivesAcked: 0, expired: 0, revoked: 0, abandoned: 0, lostWhileRenewing: 0, closeCalls: 0 };
  readonly #sim: Sim;
  readonly #o: Required<LeaseClientOptions>;
  readonly #rng: SeededPrng;
  readonly #clients: Client[] = [];
  #running = false;
  /** Lease id -> TTL and the send time of its last acknowledged keep-alive (or grant). */
  readonly #acked = new Map<number, { ttlMs: number; sentAt: number; client: number }>();
  /** Lease id -> first time (and node) its expiry was applied anywhere. */
  readonly #expired = new Map<number, { at: number; node: string; index: number }>();

  constructor(sim: Sim, o: LeaseClientOptions) {
    this.#sim = sim;
    this.#o = { keysMax: 3, abandonChance: 0.4, revokeChance: 0.15, sticky: false, ...o };
    this.#rng = new SeededPrng(o.seed ^ 0x1ea5e);
    sim.hooks.applied.push((node, e, r) => { if (r?.op === 'leaseExpire' && r.found) this.#expiryApplied(node, e.index, decodeCommand(e.data).cmd); });
  }

  start(): void {
    this.#running = true;
    for (let c = 0; c < this.#o.clients; c++) {
      // Most pin themselves to a member, as an SDK connected to one peer does.
      const client: Client = { id: c, finds: this.#o.sticky || this.#rng.nextInt(3) !== 0 ? 'sticky' : 'fresh', leader: null, held: null, nextLease: 1, lastAckAt: 0 };
      this.#clients.push(client);
      this.#sim.at(this.#rng.nextInt(100), () => this.#grant(client));
    }
  }

  stop(): void {
    this.#running = false;
  }

  /** Leases currently held and renewed, with their ids. */
  get holding(): number[] {
    return this.#clients.flatMap((c) => (c.held !== null && c.held.renewing && !c.held.ended ? [c.held.id] : []));
  }

  // ---- the property ----------------------------------------------------------------------

  #expiryApplied(node: string, index: number, cmd: KvCommand): void {
    if (cmd.op !== 'leaseExpire') return;
    const id = cmd.id;
    const now = this.#sim.now;
    if (!this.#expired.has(id)) {
      this.#expired.set(id, { at: now, node, index });
      this.stats.expired++;
      const a = this.#acked.get(id);
      if (a !== undefined && now < a.sentAt + 1.5 * a.ttlMs) this.stats.closeCalls++;
    }
    this.#check(id);
  }

  #acknowledged(c: Client, id: number, ttlMs: number, sentAt: number): void {
    const a = this.#acked.get(id);
    if (a === undefined || sentAt > a.sentAt) this.#acked.set(id, { ttlMs, sentAt, client: c.id });
    this.#check(id);
  }

  #check(id: number): void {
    const a = this.#acked.get(id);
    const x = this.#expired.get(id);
    if (a === undefined || x === undefined) return;
    if (x.at < a.sentAt + a.ttlMs) {
      throw new SafetyViolation(`lease ${id} (TTL ${a.ttlMs} ms, held by lease client ${a.client}): its expiry (entry ${x.index}) was applied on ${x.node} at ${x.at.toFixed(1)} ms, ` +
        `but a keep-alive sent at ${a.sentAt.toFixed(1)} ms was acknowledged: the lease had to last until ${(a.sentAt + a.ttlMs).toFixed(1)} ms`);
    }
  }

  // ---- the holders -------------------------------------------------------------------------

  #leaderFor(c: Client): string | null {
    if (c.finds === 'sticky' && c.leader !== null && this.#sim.role(c.leader) === 'leader') return c.leader;
    c.leader = this.#sim.leader();
    return c.leader;
  }

  #propose(c: Client, cmd: KvCommand, answer: (r: Settled<{ index: number; result: KvResult | null }>) => void): boolean {
    const node = this.#leaderFor(c);
    if (node === null) return false;
    const data = encodeCommand({ timeMs: this.#sim.now, session: null, cmd });
    this.#sim.request(node, (n) => n.driver!.propose(data), answer);
    return true;
  }

  #grant(c: Client): void {
    if (!this.#running) return;
    const ttlMs = this.#o.ttlMinMs + this.#rng.nextInt(this.#o.ttlMaxMs - this.#o.ttlMinMs + 1);
    // Half choose their lease id (as a client that retries a grant must), half let the log pick it.
    const id = this.#rng.nextInt(2) === 0 ? (c.id + 1) * 100_000 + c.nextLease++ : 0;
    const sentAt = this.#sim.now;
    let settled = false;
    const retry = (): void => { if (!settled) { settled = true; this.#sim.at(10 + this.#rng.nextInt(40), () => this.#grant(c)); } };
    // An unanswered grant is left behind (it may exist: nobody renews it, so it expires).
    this.#sim.at(ttlMs / 2, retry);
    if (!this.#propose(c, { op: 'leaseGrant', id, ttlMs }, (r) => {
      if (settled) return;
      if (!r.ok || r.value.result?.op !== 'leaseGrant') {
        c.leader = null;
        retry();
        return;
      }
      settled = true;
      const lease = r.value.result;
      this.stats.granted++;
      const held: Held = { id: lease.id, ttlMs: lease.ttlMs, keys: [], renewing: true, ended: false };
      c.held = held;
      c.lastAckAt = sentAt;
      // The grant starts the first TTL: the lessor counts it from its apply, after this send.
      this.#acknowledged(c, lease.id, lease.ttlMs, sentAt);
      this.#attach(c, held, 1 + this.#rng.nextInt(this.#o.keysMax));
      this.#sim.at(this.#renewDelay(held), () => this.#keepAlive(c, held));
      const roll = this.#rng.nextFloat();
      if (roll < this.#o.abandonChance) this.#sim.at(this.#rng.nextInt(4 * held.ttlMs), () => this.#abandon(c, held));
      else if (roll < this.#o.abandonChance + this.#o.revokeChance) this.#sim.at(this.#rng.nextInt(4 * held.ttlMs), () => this.#revoke(c, held));
    })) retry();
  }

  #renewDelay(h: Held): number {
    return (h.ttlMs / 3) * (0.8 + this.#rng.nextFloat() * 0.4);
  }

  /** Puts the lease's keys one by one (a put to an ended lease is refused ERR_LEASE_NOT_FOUND). */
  #attach(c: Client, h: Held, count: number, attempt = 0): void {
    if (h.ended || h.keys.length >= count || !this.#running) return;
    const key = `L${h.id}/k${h.keys.length}`;
    const again = (): void => { if (attempt < 5) this.#sim.at(10, () => this.#attach(c, h, count, attempt + 1)); };
    if (!this.#propose(c, { op: 'put', key, value: `c${c.id}-${h.id}`, lease: h.id }, (r) => {
      if (!r.ok || r.value.result === null) {
        c.leader = null;
        again();
        return;
      }
      if (r.value.result.op === 'error') return; // the lease is gone
      h.keys.push(key);
      this.#attach(c, h, count);
    })) again();
  }

  #keepAlive(c: Client, h: Held): void {
    if (!h.renewing || h.ended || !this.#running) return;
    this.#sim.at(this.#renewDelay(h), () => this.#keepAlive(c, h));
    const node = this.#leaderFor(c);
    if (node === null) return;
    const sentAt = this.#sim.now;
    // Answers are not awaited in turn: a late acknowledgement still counts, from its own send time.
    this.#sim.request(node, (n) => n.keeper!.keepAlive(h.id), (r) => {
      if (r.ok) {
        this.stats.keepAlivesAcked++;
        if (sentAt > c.lastAckAt && c.held === h) c.lastAckAt = sentAt;
        this.#acknowledged(c, h.id, h.ttlMs, sentAt);
        return;
      }
      const code = r.error.code;
      if (code === 'ERR_LEASE_NOT_FOUND') {
        if (!h.ended && h.renewing) this.stats.lostWhileRenewing++;
        this.#ended(c, h);
        return;
      }
      if (r.error instanceof RaftError && code === 'ERR_NOT_LEADER') c.leader = r.error.leaderHint;
    });
  }

  /** The holder stops renewing (it crashed, or walked away); it comes back later with a new lease. */
  #abandon(c: Client, h: Held): void {
    if (h.ended) return;
    h.renewing = false;
    this.stats.abandoned++;
    this.#ended(c, h, 2 * h.ttlMs);
  }

  #revoke(c: Client, h: Held): void {
    if (h.ended || !this.#running) return;
    if (!this.#propose(c, { op: 'leaseRevoke', id: h.id }, (r) => {
      if (r.ok && r.value.result?.op === 'leaseRevoke') {
        this.stats.revoked++;
        this.#ended(c, h);
      } else if (!h.ended) {
        c.leader = null;
        this.#sim.at(20, () => this.#revoke(c, h));
      }
    })) this.#sim.at(20, () => this.#revoke(c, h));
  }

  #ended(c: Client, h: Held, afterMs = 10 + this.#rng.nextInt(50)): void {
    if (h.ended) return;
    h.ended = true;
    h.renewing = false;
    if (c.held === h) c.held = null;
    this.#sim.at(afterMs, () => this.#grant(c));
  }
}
