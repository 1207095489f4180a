// Locks and elections, built as etcd's `concurrency` package builds them, from a lease, a key
// per contender and create revisions.
//
// Each contender puts its own key `${prefix}${name}/${lease id in hex}`, attached to a lease it
// keeps alive, with a transaction that only creates it (createRevision = 0). The contenders are
// ordered by their keys' create revisions: the lowest holds the lock (leads). A waiter watches
// only its predecessor, the key with the highest create revision below its own, for its
// deletion: one release wakes one waiter, not all of them (no herd). The holder's create
// revision is its fencing token: holders follow each other in create-revision order, so tokens
// strictly increase, and a resource that remembers the highest token it saw refuses a late
// write from an older holder. If the holder dies, its lease runs out and its key goes; if its
// lease is lost (lease.ts), the lock or leadership reports it (`signal`, the 'lost' event).

import { ClientError } from './errors.ts';
import { prefixEnd } from '../core/kv/keys.ts';
import { byteKey, userKey, type Key, type KeyValue, type Value } from './keys.ts';
import type { KvClient } from './kv.ts';
import type { Lease } from './lease.ts';

export interface ContenderOptions {
  /** The lease's TTL when the recipe grants one (default 10 s). */
  readonly ttlMs?: number;
  /** Use this lease (kept alive by the caller) instead of granting one; releasing then keeps it. */
  readonly lease?: Lease;
  /** Stops waiting (the call rejects with ERR_ABORTED and withdraws its key). */
  readonly signal?: AbortSignal;
}

export interface LockOptions extends ContenderOptions {
  /** Keys live under `${prefix}${name}/` (default 'edgeraft/lock/'). */
  readonly prefix?: string;
}

export interface ElectionOptions {
  /** Keys live under `${prefix}${name}/` (default 'edgeraft/election/'). */
  readonly prefix?: string;
  /** The lease's TTL when campaign() grants one (default 10 s). */
  readonly ttlMs?: number;
}

export const recipeDefaults = { ttlMs: 10_000, lockPrefix: 'edgeraft/lock/', electionPrefix: 'edgeraft/election/' } as const;

/** What holding a lock or a leadership gives. */
interface Held {
  /** This contender's key. */
  readonly key: string;
  /** The create revision of the key: pass it to what the lock protects; it only grows. */
  readonly fencingToken: number;
  readonly lease: Lease;
  /** Aborted when the lease is lost, revoked, or the client closes (its reason says which). */
  readonly signal: AbortSignal;
  /** Still held: the lease is alive and it was not released. */
  readonly held: boolean;
  /** Calls `cb` once if the lease is lost while held; returns the unsubscribe. */
  on(event: 'lost', cb: (err: ClientError) => void): () => void;
}

export interface Lock extends Held {
  /** Releases it (revokes its lease when the lock granted it, else deletes the key). Idempotent. */
  release(): Promise<void>;
}

export interface Leadership extends Held {
  /** The value it leads with (proclaim() changes it). */
  readonly value: Value;
  /** Changes the value while still the leader (a txn on this key's create revision). */
  proclaim(value: Value): Promise<void>;
  /** Steps down: the next candidate leads. Idempotent. */
  resign(): Promise<void>;
}

/** The current leader as anyone sees it. */
export interface LeaderInfo {
  readonly key: Key;
  readonly value: Value;
  /** Its key's create revision: the leadership's fencing token. */
  readonly createRevision: number;
  /** Its value's last write (proclaim moves it). */
  readonly modRevision: number;
  /** The revision this view is from. */
  readonly revision: number;
}

function checkName(name: unknown, what: string): string {
  if (typeof name !== 'string' || name.length === 0 || name.includes('/')) {
    throw new ClientError('ERR_BAD_REQUEST', `a ${what} name must be a non-empty string without '/' (got ${JSON.stringify(name)})`);
  }
  return name;
}

function aborted(signal: AbortSignal | undefined, what: string): ClientError | null {
  if (signal?.aborted !== true) return null;
  const r: unknown = signal.reason;
  return r instanceof ClientError ? r : new ClientError('ERR_ABORTED', `${what}: aborted${r instanceof Error ? ` (${r.message})` : ''}`);
}

/** A signal aborted when any of `signals` is. */
function anySignal(signals: ReadonlyArray<AbortSignal | undefined>): AbortSignal {
  const c = new AbortController();
  for (const s of signals) {
    if (s === undefined) continue;
    if (s.aborted) {
      c.abort(s.reason);
      break;
    }
    s.addEventListener('abort', () => c.abort(s.reason), { once: true });
  }
  return c.signal;
}

/** Keys read per page when listing the contenders. */
const pageKeysMax = 1000;

/** Every key of a prefix (paged), and the lowest revision any page was read at. */
async function rangeAll(kv: KvClient, prefix: string): Promise<{ kvs: KeyValue[]; revision: number }> {
  const kvs: KeyValue[] = [];
  let revision = Number.MAX_SAFE_INTEGER;
  const end = prefixEnd(byteKey(prefix));
  let start: string | null = null;
  for (;;) {
    const r = await kv.range(start === null ? { prefix } : { start: userKey(start), end: end === null ? null : userKey(end) }, { limit: pageKeysMax });
    kvs.push(...r.kvs);
    revision = Math.min(revision, r.revision);
    const last = r.kvs[r.kvs.length - 1];
    if (!r.more || last === undefined) return { kvs, revision };
    start = `${byteKey(last.key)}\u0000`;
  }
}

/** A contender's key in place: its create revision, with the lease it keeps. */
interface Entry {
  readonly kv: KvClient;
  readonly prefix: string;
  readonly key: string;
  readonly rev: number;
  readonly lease: Lease;
  readonly ownLease: boolean;
}

/** Grants (or takes) the lease and creates the contender's key; `value` goes in it. */
async function enter(kv: KvClient, prefix: string, value: Value, o: ContenderOptions): Promise<Entry> {
  const ttlMs = o.ttlMs ?? recipeDefaults.ttlMs;
  const ownLease = o.lease === undefined;
  const lease = o.lease ?? await kv.grant(ttlMs);
  if (ownLease) kv.keepAlive(lease);
  const key = `${prefix}${lease.id.toString(16)}`;
  try {
    const r = await kv.txn({
      compare: [{ key, target: 'createRevision', op: '=', value: 0 }],
      success: [{ op: 'put', key, value, lease }],
      failure: [{ op: 'get', key }],
    });
    const got = r.results[0];
    const rev = r.succeeded ? r.revision : got?.op === 'get' && got.kv !== null ? got.kv.createRevision : 0;
    if (rev === 0) throw new ClientError('ERR_INTERNAL', `the key ${key} neither was created nor exists`);
    return { kv, prefix, key, rev, lease, ownLease };
  } catch (err) {
    if (ownLease) await kv.revoke(lease).catch(() => {});
    throw err;
  }
}

/** Withdraws a contender: revokes its own lease (its key goes with it), else deletes the key. */
async function leave(e: Entry): Promise<void> {
  if (e.ownLease) await e.kv.revoke(e.lease).catch((err: unknown) => { if (!(err instanceof ClientError && err.code === 'ERR_LEASE_NOT_FOUND')) throw err; });
  else await e.kv.delete(e.key);
}

/**
 * Waits until `e` has the lowest create revision under its prefix: while some key has a lower
 * one, it watches the highest of those (its predecessor) for a delete, then looks again.
 */
async function waitTurn(e: Entry, signal: AbortSignal | undefined, what: string): Promise<void> {
  const stop = anySignal([signal, e.lease.signal]);
  for (;;) {
    const err = aborted(stop, what);
    if (err !== null) throw err;
    const { kvs, revision } = await rangeAll(e.kv, e.prefix);
    if (!kvs.some((k) => byteKey(k.key) === byteKey(e.key) && k.createRevision === e.rev)) {
      throw new ClientError('ERR_LEASE_LOST', `${what}: its key ${e.key} is gone (its lease ran out, or someone deleted it)`);
    }
    let pred: KeyValue | null = null;
    for (const k of kvs) if (k.createRevision < e.rev && (pred === null || k.createRevision > pred.createRevision)) pred = k;
    if (pred === null) return;
    const w = e.kv.watch({ key: pred.key }, { fromRevision: revision + 1, signal: stop });
    try {
      for await (const b of w) if (b.events.some((ev) => ev.type === 'delete')) break;
    } catch (err) {
      // Its history was compacted away: look again from the current state.
      if (!(err instanceof ClientError && err.code === 'ERR_COMPACTED')) throw err;
    } finally {
      w.close();
    }
  }
}

function held(e: Entry): Omit<Held, 'held'> {
  return { key: e.key, fencingToken: e.rev, lease: e.lease, signal: e.lease.signal, on: (event, cb) => e.lease.on(event, cb) };
}

/** Enters, then waits for its turn; on any failure (abort, lost lease) withdraws and throws. */
async function contend(kv: KvClient, prefix: string, value: Value, o: ContenderOptions, what: string): Promise<Entry> {
  const early = aborted(o.signal, what);
  if (early !== null) throw early;
  const e = await enter(kv, prefix, value, o);
  try {
    await waitTurn(e, o.signal, what);
    return e;
  } catch (err) {
    await leave(e).catch(() => {});
    throw err;
  }
}

export async function acquireLock(kv: KvClient, name: string, o: LockOptions = {}): Promise<Lock> {
  const prefix = `${o.prefix ?? recipeDefaults.lockPrefix}${checkName(name, 'lock')}/`;
  const e = await contend(kv, prefix, '', o, `lock ${name}`);
  let released = false;
  return {
    ...held(e),
    get held() { return !released && e.lease.alive; },
    release: async () => {
      if (released) return;
      released = true;
      await leave(e);
    },
  };
}

export class Election {
  readonly #kv: KvClient;
  readonly #name: string;
  readonly #prefix: string;
  readonly #ttlMs: number;
  #current: Leadership | null = null;

  /** @internal Made by KvClient.election(). */
  constructor(kv: KvClient, name: string, o: ElectionOptions) {
    this.#kv = kv;
    this.#name = checkName(name, 'election');
    this.#prefix = `${o.prefix ?? recipeDefaults.electionPrefix}${name}/`;
    this.#ttlMs = o.ttlMs ?? recipeDefaults.ttlMs;
  }

  /** Runs for leader with `value`; resolves once this contender leads. */
  async campaign(value: Value, o: Omit<ContenderOptions, 'ttlMs'> = {}): Promise<Leadership> {
    const what = `election ${this.#name}`;
    const e = await contend(this.#kv, this.#prefix, value, { ttlMs: this.#ttlMs, ...o }, what);
    let current = value;
    let resigned = false;
    const leadership: Leadership = {
      ...held(e),
      get held() { return !resigned && e.lease.alive; },
      get value() { return current; },
      proclaim: async (v: Value) => {
        if (resigned || !e.lease.alive) throw new ClientError('ERR_LEASE_LOST', `${what}: not the leader any more`);
        const r = await this.#kv.txn({ compare: [{ key: e.key, target: 'createRevision', op: '=', value: e.rev }], success: [{ op: 'put', key: e.key, value: v, lease: e.lease }] });
        if (!r.succeeded) throw new ClientError('ERR_LEASE_LOST', `${what}: its key ${e.key} is gone: not the leader any more`);
        current = v;
      },
      resign: async () => {
        if (resigned) return;
        resigned = true;
        if (this.#current === leadership) this.#current = null;
        await leave(e);
      },
    };
    this.#current = leadership;
    return leadership;
  }

  /** The leadership the last campaign() of this object won, while it has not resigned. */
  get leadership(): Leadership | null {
    return this.#current;
  }

  /** Resigns the leadership this object holds (none: nothing to do). */
  async resign(): Promise<void> {
    await this.#current?.resign();
  }

  /** Changes the value of the leadership this object holds; ERR_LEASE_LOST when it holds none. */
  async proclaim(value: Value): Promise<void> {
    if (this.#current === null) throw new ClientError('ERR_LEASE_LOST', `election ${this.#name}: this client does not lead (campaign first)`);
    await this.#current.proclaim(value);
  }

  /** The current leader (linearizable), or null when nobody runs. */
  async leader(): Promise<LeaderInfo | null> {
    const { kvs, revision } = await rangeAll(this.#kv, this.#prefix);
    return leaderOf(kvs, revision);
  }

  /**
   * The leader now, then every change of leader or of its value, as they happen (null: nobody
   * runs). Ends when `signal` aborts; throws what the watch throws.
   */
  async *observe(o: { signal?: AbortSignal } = {}): AsyncGenerator<LeaderInfo | null, void, undefined> {
    let last: LeaderInfo | null | undefined;
    const changed = (l: LeaderInfo | null) => last === undefined || (l === null) !== (last === null)
      || (l !== null && last !== null && (l.createRevision !== last.createRevision || l.modRevision !== last.modRevision));
    for (;;) {
      if (o.signal?.aborted === true) return;
      const { kvs, revision } = await rangeAll(this.#kv, this.#prefix);
      const all = new Map(kvs.map((k) => [byteKey(k.key), k]));
      const now = leaderOf(kvs, revision);
      if (changed(now)) yield (last = now);
      const w = this.#kv.watch({ prefix: this.#prefix }, { fromRevision: revision + 1, ...(o.signal !== undefined ? { signal: o.signal } : {}) });
      try {
        for await (const b of w) {
          for (const ev of b.events) {
            if (ev.type === 'put') all.set(byteKey(ev.key), ev);
            else all.delete(byteKey(ev.key));
          }
          const l = leaderOf([...all.values()], b.revision);
          if (changed(l)) yield (last = l);
        }
        return;
      } catch (err) {
        // Its history was compacted away: look again from the current state.
        if (!(err instanceof ClientError && err.code === 'ERR_COMPACTED')) throw err;
      } finally {
        w.close();
      }
    }
  }
}

function leaderOf(kvs: readonly KeyValue[], revision: number): LeaderInfo | null {
  let first: KeyValue | null = null;
  for (const k of kvs) if (first === null || k.createRevision < first.createRevision) first = k;
  return first === null ? null : { key: first.key, value: first.value, createRevision: first.createRevision, modRevision: first.modRevision, revision };
}
