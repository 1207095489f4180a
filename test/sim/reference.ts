// The reference key-value machine: one more KvMachine, outside the cluster, that applies the
// committed log in index order (each entry as the first node to apply it handed it over; the
// simulator's checker already proves every node applies the same entry at an index). Its events
// are the applied history that every watcher's stream is checked against, and it checks on each
// lease expiry and revoke that the lease's keys go in that one revision: every key attached to the
// lease just before, and no other.

import { decodeCommand } from '../../src/core/kv/command.ts';
import { eventBytes, type KvEvent } from '../../src/core/kv/history.ts';
import { KvMachine, type KvResult } from '../../src/core/kv/machine.ts';
import type { Entry } from '../../src/core/types.ts';
import { SafetyViolation } from './checker.ts';
import type { Sim } from './sim.ts';

/** What the reference saw of one lease. */
export interface LeaseRecord {
  readonly id: number;
  readonly ttlMs: number;
  /** Revision it was granted at. */
  readonly granted: number;
  /** Revision of its expiry or revoke, and which (null while it lives). */
  ended: number | null;
  how: 'expired' | 'revoked' | null;
  /** Keys it held when it ended. */
  keys: number;
}

export class ReferenceLog {
  readonly machine: KvMachine;
  /** Revision -> its events (only revisions that have some). */
  readonly events = new Map<number, readonly KvEvent[]>();
  /** Revision -> the result of the command at that index (normal entries only). */
  readonly results = new Map<number, KvResult>();
  /** Revisions of applied compact commands, and what they compacted to. */
  readonly compactions: Array<{ revision: number; to: number }> = [];
  readonly leases = new Map<number, LeaseRecord>();
  #pending = new Map<number, Entry>();
  #sim: Sim;
  /** Prefix sums over revisions, built on demand: events and bytes through each revision. */
  #sums: { events: number[]; bytes: number[] } | null = null;

  constructor(sim: Sim) {
    this.#sim = sim;
    // Unbounded history: the reference keeps every event.
    this.machine = new KvMachine({ ...sim.opts.kvMachine, outOfOrder: sim.opts.mode === 'parallel', history: { eventsMax: Number.MAX_SAFE_INTEGER, bytesMax: Number.MAX_SAFE_INTEGER } });
    this.machine.onEvents((rev, events) => this.events.set(rev, events));
    this.machine.onLease((id, ttlMs, e) => {
      if (ttlMs !== null) this.leases.set(id, { id, ttlMs, granted: e.index, ended: null, how: null, keys: 0 });
    });
    sim.hooks.applied.push((_node, e) => this.#seen(e));
  }

  /** The applied prefix the reference has reached. */
  get revision(): number {
    return this.machine.appliedIndex;
  }

  #seen(e: Entry): void {
    if (e.index <= this.machine.appliedIndex || this.#pending.has(e.index)) return;
    this.#pending.set(e.index, e);
    for (let next = this.#pending.get(this.machine.appliedIndex + 1); next !== undefined; next = this.#pending.get(this.machine.appliedIndex + 1)) {
      this.#pending.delete(next.index);
      this.#apply(next);
    }
  }

  #apply(e: Entry): void {
    this.#sums = null;
    const cmd = e.type === 'normal' ? decodeCommand(e.data).cmd : null;
    const ending = cmd !== null && (cmd.op === 'leaseExpire' || cmd.op === 'leaseRevoke') ? cmd.id : null;
    const before = ending === null ? null : this.machine.lease(ending);
    const result = this.machine.apply(e);
    if (result !== null) this.results.set(e.index, result);
    if (cmd?.op === 'compact' && result?.op === 'compact') this.compactions.push({ revision: e.index, to: cmd.revision });
    if (ending === null || before === undefined || before === null) return;
    const deleted = (this.events.get(e.index) ?? []).filter((x) => x.type === 'delete').map((x) => x.kv.key);
    const ended = (result?.op === 'leaseExpire' && result.found) || result?.op === 'leaseRevoke';
    if (!ended) {
      // Refused (an expiry that came too late to count): nothing of the lease may be gone.
      if (deleted.length > 0 || this.machine.lease(ending) === undefined) {
        throw new SafetyViolation(`lease ${ending}: ${cmd!.op} at ${e.index} answered ${JSON.stringify(result)} yet deleted [${deleted.join(', ')}]${this.machine.lease(ending) === undefined ? ' and ended the lease' : ''}`);
      }
      return;
    }
    // The lease ended here: its keys, and only they, were deleted at this one revision.
    const want = before.keys;
    if (deleted.length !== want.length || deleted.some((k, i) => k !== want[i])) {
      throw new SafetyViolation(`lease ${ending} ended at ${e.index} (${cmd!.op}) deleting [${deleted.join(', ')}], but it held [${want.join(', ')}]`);
    }
    for (const k of want) {
      if (this.machine.getKv(k) !== undefined) throw new SafetyViolation(`lease ${ending} ended at ${e.index}, but its key ${k} is still there`);
    }
    const rec = this.leases.get(ending);
    if (rec !== undefined) {
      rec.ended = e.index;
      rec.how = cmd!.op === 'leaseExpire' ? 'expired' : 'revoked';
      rec.keys = want.length;
    }
  }

  /** Throws unless the reference applied every committed entry (call once the cluster converged). */
  checkComplete(): void {
    const target = this.#sim.checker.maxCommitted;
    if (this.machine.appliedIndex < target) {
      throw new SafetyViolation(`the reference machine stopped at ${this.machine.appliedIndex} of ${target} committed entries: no node applied ${this.machine.appliedIndex + 1}`);
    }
  }

  /** Events and bytes of the revisions in [from, to]. */
  span(from: number, to: number): { events: number; bytes: number } {
    if (this.#sums === null) {
      const n = this.machine.appliedIndex;
      const events = new Array<number>(n + 1).fill(0);
      const bytes = new Array<number>(n + 1).fill(0);
      for (let r = 1; r <= n; r++) {
        const evs = this.events.get(r) ?? [];
        events[r] = events[r - 1]! + evs.length;
        bytes[r] = bytes[r - 1]! + evs.reduce((sum, x) => sum + eventBytes(x), 0);
      }
      this.#sums = { events, bytes };
    }
    const top = Math.min(to, this.#sums.events.length - 1);
    const lo = Math.max(0, from - 1);
    if (top < lo) return { events: 0, bytes: 0 };
    return { events: this.#sums.events[top]! - this.#sums.events[lo]!, bytes: this.#sums.bytes[top]! - this.#sums.bytes[lo]! };
  }
}
