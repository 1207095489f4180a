// Runs the lessor on whichever member leads: it starts the clocks when this member takes office,
// answers keep-alives from memory once a linearizable check has shown that this member still leads
// and the lease still exists, and proposes an expiry (through the log, so every replica deletes
// the same keys at the same revision) for each lease whose time ran out. Every runtime and the
// simulator run this one loop: the runtime calls tick() on its ticker.

import type { Clock } from '../clock.ts';
import { CodedError } from '../coded-error.ts';
import type { RaftDriver } from '../driver.ts';
import { RaftError } from '../errors.ts';
import type { Entry } from '../types.ts';
import { encodeCommand } from './command.ts';
import { Lessor, type LessorOptions } from './lessor.ts';
import type { KvMachine, KvResult } from './machine.ts';

export class LeaseError extends CodedError<'ERR_LEASE_NOT_FOUND'> {
  override readonly name = 'LeaseError';
}

export interface LeaseKeeperOptions {
  readonly driver: Pick<RaftDriver<KvResult>, 'role' | 'leader' | 'node' | 'propose' | 'read'>;
  readonly machine: Pick<KvMachine, 'onLease' | 'lease' | 'leases' | 'leaseEpoch'>;
  /** The same clock the driver ticks by. */
  readonly clock: Clock;
  readonly lessor?: Partial<LessorOptions>;
}

export interface LeaseKeeperStats {
  keepAlives: number;
  expiriesProposed: number;
}

export class LeaseKeeper {
  readonly #d: LeaseKeeperOptions['driver'];
  readonly #m: LeaseKeeperOptions['machine'];
  readonly #clock: Clock;
  readonly #lessor: Lessor;
  readonly stats: LeaseKeeperStats = { keepAlives: 0, expiriesProposed: 0 };
  readonly #unlisten: () => void;
  /** This term's lease epoch as proposed: resolves true once applied here, false if dropped. */
  #epoch: { readonly term: number; readonly applied: Promise<boolean> } | null = null;

  constructor(o: LeaseKeeperOptions) {
    this.#d = o.driver;
    this.#m = o.machine;
    this.#clock = o.clock;
    const cfg = o.driver.node.cfg;
    this.#lessor = new Lessor({
      promoteExtensionMs: cfg.electionTicks * cfg.tickMs,
      driftPercent: cfg.leaseDriftPercent,
      expiriesPerCall: 16,
      expiryRetryMs: 2 * cfg.electionTicks * cfg.tickMs,
      ...o.lessor,
    });
    this.#unlisten = this.#m.onLease((id, ttlMs, entry) => this.#applied(id, ttlMs, entry));
  }

  close(): void {
    this.#unlisten();
    this.#lessor.demote();
  }

  /** Leases this member keeps clocks for (0 unless it leads). */
  get tracked(): number {
    return this.#lessor.leases;
  }

  /** Starts or drops the clocks as this member takes or leaves office. */
  #sync(): boolean {
    if (this.#d.role !== 'leader') {
      if (this.#lessor.term !== 0) this.#lessor.demote();
      return false;
    }
    const term = this.#d.node.term;
    if (this.#lessor.term !== term) this.#lessor.promote(term, this.#clock.monoMs(), this.#m.leases());
    return true;
  }

  #applied(id: number, ttlMs: number | null, entry: Entry): void {
    if (!this.#sync()) return;
    if (ttlMs === null) this.#lessor.gone(id);
    else this.#lessor.granted(id, ttlMs, this.#clock.monoMs(), entry.term === this.#lessor.term);
  }

  /**
   * Resolves true once this term's lease epoch is applied here, proposing it first (again, when
   * the last proposal was dropped); false when it was dropped. Until it is applied this leader
   * renews and expires nothing: an expiry an earlier leader proposed can still commit
   * (ParallelRaft's Merge stage can adopt it long after), and the epoch, ordered before anything
   * this leader renews, voids it. (Proposed from tick and keepAlive, never from inside an apply.)
   */
  #epochApplied(term: number): Promise<boolean> {
    if (this.#m.leaseEpoch >= term) return Promise.resolve(true);
    if (this.#epoch === null || this.#epoch.term !== term) {
      const data = encodeCommand({ timeMs: this.#clock.wallMs(), session: null, cmd: { op: 'leaseEpoch', term } });
      const epoch = { term, applied: this.#d.propose(data).then(() => true, () => false) };
      this.#epoch = epoch;
      void epoch.applied.then((ok) => { if (!ok && this.#epoch === epoch) this.#epoch = null; });
    }
    return this.#epoch.applied;
  }

  /** Proposes the expiries that are due. Call it on every tick. */
  tick(): void {
    if (!this.#sync()) return;
    if (this.#m.leaseEpoch < this.#lessor.term) {
      void this.#epochApplied(this.#lessor.term);
      return;
    }
    for (const id of this.#lessor.due(this.#clock.monoMs())) {
      this.stats.expiriesProposed++;
      const data = encodeCommand({ timeMs: this.#clock.wallMs(), session: null, cmd: { op: 'leaseExpire', id, term: this.#lessor.term } });
      // A dropped proposal is proposed again after expiryRetryMs; a new leader starts over.
      this.#d.propose(data).catch(() => {});
    }
  }

  /**
   * Renews a lease, as a linearizable operation: received now, answered once a read has shown
   * this member led after receiving it and the lease still existed then. A deposed leader cannot
   * renew (its read fails), and a lease whose expiry committed is gone by the read's index.
   * Resolves to the TTL granted from the receive time.
   */
  async keepAlive(id: number): Promise<{ id: number; ttlMs: number }> {
    if (!this.#sync()) throw new RaftError('ERR_NOT_LEADER', 'lease keep-alives go to the leader', this.#d.leader);
    const received = this.#clock.monoMs();
    const term = this.#lessor.term;
    if (!(await this.#epochApplied(term))) throw new RaftError('ERR_NOT_LEADER', 'leadership changed before this leader started its lease clocks', this.#d.leader);
    await this.#d.read({ allowLease: true });
    if (!this.#sync() || this.#lessor.term !== term) throw new RaftError('ERR_NOT_LEADER', 'leadership changed during the keep-alive', this.#d.leader);
    const lease = this.#m.lease(id);
    if (lease === undefined) throw new LeaseError('ERR_LEASE_NOT_FOUND', `lease ${id} does not exist (never granted, revoked, or expired)`);
    const ttl = this.#lessor.renew(id, lease.ttlMs, received);
    if (ttl === null) throw new LeaseError('ERR_LEASE_NOT_FOUND', `lease ${id} has expired (its expiry is being applied)`);
    this.stats.keepAlives++;
    return { id, ttlMs: ttl };
  }

  /** Time left on this member's clock (null when it does not lead or does not know the lease). */
  remainingMs(id: number): number | null {
    if (!this.#sync()) return null;
    return this.#lessor.remainingMs(id, this.#clock.monoMs());
  }
}
