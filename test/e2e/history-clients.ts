// Concurrent SDK clients for the fault suite: each its own KvClient, one operation in flight at a
// time, doing put, get (every consistency mode), cas and delete on a few hot keys and many cold
// ones, and recording every call in a History. Hot keys rotate every `hotEpochMs`, which bounds
// how many operations (and open unknown writes) the checker has to order on any one key.

import type { KvClient } from '../../src/client/kv.ts';
import type { Consistency } from '../../src/client/protocol.ts';
import { SeededPrng } from '../../src/core/prng.ts';
import type { History } from './history.ts';

export interface WorkloadOptions {
  /** Prefix of every key this workload touches (a soak round uses its own). */
  readonly prefix: string;
  readonly seed: number;
  /** Hot keys at a time; every client hits them often. */
  readonly hotKeys?: number;
  /** The hot key set is replaced by a fresh one this often. */
  readonly hotEpochMs?: number;
  readonly coldKeys?: number;
  /** Share of operations on a hot key, in percent. */
  readonly hotPercent?: number;
  /** Each client sleeps up to this long between operations (keeps a 2-core machine breathing). */
  readonly thinkMsMax?: number;
}

const defaults = { hotKeys: 3, hotEpochMs: 8000, coldKeys: 2000, hotPercent: 40, thinkMsMax: 4 } as const;

/** Reads: every mode the SDK offers. 'stale' is recorded apart (not linearizable by design). */
export const readModes: readonly Consistency[] = ['linearizable', 'readindex', 'lease', 'follower', 'stale'];

export interface WorkloadStats {
  readonly calls: number;
  readonly byOp: Readonly<Record<string, number>>;
  /** Errors by code (a write error is recorded as an unknown outcome, a read error dropped). */
  readonly errors: Readonly<Record<string, number>>;
}

function errorCode(err: unknown): string {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' ? code : 'ERR_CONNECTION';
}

export class Workload {
  readonly #history: History;
  readonly #o: Required<WorkloadOptions>;
  readonly #loops: Promise<void>[] = [];
  readonly #byOp = new Map<string, number>();
  readonly #errors = new Map<string, number>();
  #calls = 0;
  #stopped = false;

  constructor(history: History, clients: readonly KvClient[], options: WorkloadOptions) {
    this.#history = history;
    this.#o = { ...defaults, ...options };
    clients.forEach((kv, i) => this.#loops.push(this.#loop(kv, `c${i + 1}`, new SeededPrng((options.seed ^ Math.imul(i + 1, 0x9e3779b1)) >>> 0))));
  }

  get stats(): WorkloadStats {
    return { calls: this.#calls, byOp: Object.fromEntries(this.#byOp), errors: Object.fromEntries(this.#errors) };
  }

  /** Stops issuing operations; resolves once every client's last one settled. */
  async stop(): Promise<WorkloadStats> {
    this.#stopped = true;
    await Promise.all(this.#loops);
    return this.stats;
  }

  #key(prng: SeededPrng): string {
    const o = this.#o;
    if (prng.nextInt(100) < o.hotPercent) {
      const epoch = Math.floor(this.#history.now() / o.hotEpochMs);
      return `${o.prefix}h${epoch}.${prng.nextInt(o.hotKeys)}`;
    }
    return `${o.prefix}c${String(prng.nextInt(o.coldKeys)).padStart(5, '0')}`;
  }

  async #loop(kv: KvClient, name: string, prng: SeededPrng): Promise<void> {
    // What this client last saw in each key (its cas expects it): the newest value it read or wrote.
    const seen = new Map<string, string | null>();
    let seq = 0;
    while (!this.#stopped) {
      const key = this.#key(prng);
      const roll = prng.nextInt(100);
      const value = `${name}.${++seq}`;
      this.#calls++;
      if (roll < 25) await this.#put(kv, name, key, value, seen);
      else if (roll < 40) await this.#cas(kv, name, key, seen.get(key) ?? null, value, seen);
      else if (roll < 48) await this.#delete(kv, name, key, seen);
      else await this.#get(kv, name, key, readModes[prng.nextInt(readModes.length)]!, seen);
      const think = prng.nextInt(this.#o.thinkMsMax + 1);
      if (think > 0) await new Promise((r) => setTimeout(r, think));
    }
  }

  #count(op: string, err?: unknown): void {
    this.#byOp.set(op, (this.#byOp.get(op) ?? 0) + 1);
    if (err !== undefined) {
      const code = errorCode(err);
      this.#errors.set(code, (this.#errors.get(code) ?? 0) + 1);
    }
  }

  async #put(kv: KvClient, name: string, key: string, value: string, seen: Map<string, string | null>): Promise<void> {
    const p = this.#history.call(name, 'put', key, { value });
    try {
      await kv.put(key, value);
      this.#history.ok(p);
      seen.set(key, value);
      this.#count('put');
    } catch (err) {
      // A write that got no answer may still apply: never 'fail'.
      this.#history.unknown(p);
      seen.delete(key);
      this.#count('put', err);
    }
  }

  async #cas(kv: KvClient, name: string, key: string, expected: string | null, value: string, seen: Map<string, string | null>): Promise<void> {
    const p = this.#history.call(name, 'cas', key, { value, expected });
    try {
      const swapped = await kv.cas(key, expected ?? undefined, value);
      this.#history.ok(p, swapped);
      if (swapped) seen.set(key, value);
      else seen.delete(key);
      this.#count('cas');
    } catch (err) {
      this.#history.unknown(p);
      seen.delete(key);
      this.#count('cas', err);
    }
  }

  async #delete(kv: KvClient, name: string, key: string, seen: Map<string, string | null>): Promise<void> {
    const p = this.#history.call(name, 'delete', key);
    try {
      await kv.delete(key);
      this.#history.ok(p);
      seen.set(key, null);
      this.#count('delete');
    } catch (err) {
      this.#history.unknown(p);
      seen.delete(key);
      this.#count('delete', err);
    }
  }

  async #get(kv: KvClient, name: string, key: string, consistency: Consistency, seen: Map<string, string | null>): Promise<void> {
    const op = `get:${consistency}`;
    if (consistency === 'stale') {
      const callMs = this.#history.now();
      try {
        const r = await kv.getWithMeta(key, { consistency });
        this.#history.stale(name, key, callMs, typeof r.value === 'string' ? r.value : null, r.servedBy);
        this.#count(op);
      } catch (err) {
        this.#count(op, err);
      }
      return;
    }
    const p = this.#history.call(name, 'get', key);
    try {
      const v = await kv.get(key, { consistency });
      const result = typeof v === 'string' ? v : null;
      this.#history.ok(p, result);
      seen.set(key, result);
      this.#count(op);
    } catch (err) {
      // A read that failed observed nothing: the checker drops it.
      this.#history.unknown(p);
      this.#count(op, err);
    }
  }
}
