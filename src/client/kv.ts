// The client SDK: one object that talks to a cluster through any of its members (caller.ts finds
// the leader, retries across leader changes, and makes every write exactly-once through a
// session). This file is the API: keys and ranges with etcd's revisions, transactions (txn.ts),
// leases (lease.ts), watches (watch.ts), and the lock and election recipes (recipes.ts).
// Runtime-neutral: the dialer is injected.

import type { Value } from '../core/kv/command.ts';
import { readClaims, unsignedToken } from '../transport/token-claims.ts';
import { Caller } from './caller.ts';
import { ClientError } from './errors.ts';
import { fromWire, requestKey, requestRange, userKey, type Key, type KeyValue, type RangeSpec } from './keys.ts';
import { defaultMarginMs, Lease, LeaseKeeper, systemClock, type LeaseClock } from './lease.ts';
import type { Consistency, FaultDelay, MembersAction, ReadPath, Reply } from './protocol.ts';
import { Election, acquireLock, type ElectionOptions, type Lock, type LockOptions } from './recipes.ts';
import { fromWireResult, leaseIdOf, toWireTxn, type LeaseRef, type TxnRequest, type TxnResponse } from './txn.ts';
import { Watcher, type WatchOptions } from './watch.ts';
import { pullBackup, type BackupChunk, type BackupOptions } from './backup.ts';
import type { Dialer } from '../transport/socket.ts';

export type { Consistency, ReadPath, Value };

export interface ConnectOptions {
  /** Member addresses (ws://host:port, or wss://host:port for a TLS cluster); any one that answers is enough to start. */
  readonly peers: readonly string[];
  /** A token from `edgeraft token`; omit only for clusters run with --insecure. */
  readonly token?: string;
  /** Cluster id; read from the token when there is one. */
  readonly cluster?: string;
  /** Give up on one operation after this long. */
  readonly timeoutMs?: number;
  /** Give up on one attempt (one member) after this long and try again. */
  readonly attemptTimeoutMs?: number;
  /**
   * The longest pause between attempts while no member leads (default 250 ms): attempts back off
   * from 20 ms, so a client notices a new leader within this after its election.
   */
  readonly retryBackoffMaxMs?: number;
  /** Requests in flight at once; more wait. */
  readonly inflightMax?: number;
  /** Opens sockets (ws in Node, the native WebSocket elsewhere). */
  readonly dial: Dialer;
  /**
   * Node only (edgeraft/client's Node connect()): the CA certificate(s), PEM text or bytes, that
   * wss:// members' certificates must be signed by, in place of the system's CA store (a cluster
   * with certificates from \`edgeraft cert --dev\` or a private CA). Browsers and Deno trust
   * their own store (Deno: --cert FILE or DENO_CERT), so their connect() refuses this option.
   */
  readonly ca?: string | Uint8Array;
  /** The clock leases are timed with (tests inject one; default: monotonic, epoch-scaled ms). */
  readonly clock?: LeaseClock;
}

export interface ReadMeta<T> {
  readonly value: T;
  /** The log index the read reflects (at least): the store's revision when it was served. */
  readonly index: number;
  /** How it was served: 'lease' or 'readIndex' by the leader, 'follower', or 'stale'. */
  readonly path: ReadPath;
  /** The member that answered. */
  readonly servedBy: string;
}

export interface ScanOptions {
  readonly prefix?: string;
  readonly start?: string;
  readonly end?: string;
  readonly limit?: number;
  readonly consistency?: Consistency;
}

export interface RangeOptions {
  /** At most this many keys (the member caps it at its scanLimitMax); `more` says if there were more. */
  readonly limit?: number;
  readonly consistency?: Consistency;
}

export interface RangeResult {
  /** In byte order of their keys. */
  readonly kvs: readonly KeyValue[];
  /** More keys matched than `limit`. */
  readonly more: boolean;
  /** The store's revision the answer reflects. */
  readonly revision: number;
  readonly path: ReadPath;
  readonly servedBy: string;
}

export interface LeaseInfoResult {
  readonly id: number;
  readonly ttlMs: number;
  /** Time left on the leader's clock; null when the member that answered does not lead. */
  readonly remainingMs: number | null;
  readonly keys: readonly Key[];
  readonly revision: number;
}

/** A revocation as the leader applied it. */
export interface TokenRevocation {
  readonly by: 'sub' | 'jti';
  readonly name: string;
  /** Tokens of a subject issued at or before this time (ms since the epoch) are refused. */
  readonly revokedAtMs: number;
  /** The cluster forgets it at this time: every token it covers has expired by then. */
  readonly untilMs: number;
  /** The log index it applied at. */
  readonly index: number;
  /** Revocations in force after it. */
  readonly revocations: number;
}

export interface GrantOptions {
  /** Ask for this id (0 or omitted: the cluster picks one). ERR_LEASE_EXISTS if it is taken; ERR_FORBIDDEN with a scoped token (only the cluster picks a tenant's lease ids). */
  readonly id?: number;
  /** Reserved before the cluster may expire it (lease.ts); default a tenth of the TTL, at most 2 s. */
  readonly marginMs?: number;
}

function reply<K extends Reply['kind']>(r: Reply, kind: K, what: string): Extract<Reply, { kind: K }> {
  if (r.kind !== kind) throw new ClientError('ERR_INTERNAL', `${what} was answered with a ${r.kind} reply`);
  return r as Extract<Reply, { kind: K }>;
}

function target(c: Consistency): 'leader' | 'any' {
  return c === 'follower' || c === 'stale' ? 'any' : 'leader';
}

export class KvClient {
  readonly #c: Caller;
  readonly #clock: LeaseClock;
  readonly #keepers = new Map<number, LeaseKeeper>();
  readonly #watchers = new Set<Watcher>();

  constructor(o: ConnectOptions) {
    if (!Array.isArray(o.peers) || o.peers.length === 0) throw new ClientError('ERR_OPTIONS', 'connect() needs peers: at least one ws://host:port address');
    for (const p of o.peers) {
      if (typeof p !== 'string' || !/^wss?:\/\//.test(p)) throw new ClientError('ERR_OPTIONS', `peer address ${JSON.stringify(p)} must start with ws:// or wss://`);
    }
    for (const [name, v] of [['timeoutMs', o.timeoutMs], ['attemptTimeoutMs', o.attemptTimeoutMs], ['retryBackoffMaxMs', o.retryBackoffMaxMs], ['inflightMax', o.inflightMax]] as const) {
      if (v !== undefined && !(typeof v === 'number' && Number.isFinite(v) && v > 0)) throw new ClientError('ERR_OPTIONS', `connect(): ${name} must be a positive number (got ${String(v)})`);
    }
    let cluster = o.cluster ?? 'edgeraft';
    let token = o.token;
    if (token !== undefined) {
      try {
        cluster = readClaims(token).cluster;
      } catch (err) {
        throw new ClientError('ERR_OPTIONS', `the token is malformed: ${(err as Error).message}`);
      }
    } else {
      token = unsignedToken({ role: 'admin', sub: 'anonymous', cluster, expMs: 8.64e15 });
    }
    const timeoutMs = o.timeoutMs ?? 10_000;
    this.#c = new Caller({
      peers: o.peers, token, cluster, timeoutMs, attemptTimeoutMs: o.attemptTimeoutMs ?? Math.min(2000, timeoutMs / 2),
      retryBackoffMaxMs: o.retryBackoffMaxMs ?? 250,
      inflightMax: o.inflightMax ?? 4096, dial: o.dial,
    });
    this.#clock = o.clock ?? systemClock;
  }

  /** Connects to the first member that answers (connect() awaits this). */
  async ready(): Promise<void> {
    await this.#c.call({ op: 'status' }, 'any');
  }

  // ---- keys -------------------------------------------------------------------------------

  /** Writes `value` (attached to `lease` if given); resolves once applied, with its revision (index). */
  async put(key: Key, value: Value, options: { lease?: LeaseRef } = {}): Promise<{ index: number }> {
    const k = requestKey(key);
    if (typeof value !== 'string' && !(value instanceof Uint8Array)) throw new ClientError('ERR_BAD_REQUEST', 'a value must be a string or a Uint8Array');
    const lease = leaseIdOf(options.lease);
    const r = reply(await this.#c.write((session) => ({ op: 'put', key: k, value, lease, session })), 'write', 'a put');
    return { index: r.index };
  }

  /** The value, or undefined; linearizable unless another consistency is asked for. */
  async get(key: Key, options: { consistency?: Consistency } = {}): Promise<Value | undefined> {
    return (await this.getWithMeta(key, options)).value;
  }

  async getWithMeta(key: Key, options: { consistency?: Consistency } = {}): Promise<ReadMeta<Value | undefined>> {
    const k = requestKey(key);
    const consistency = options.consistency ?? 'linearizable';
    const { reply: r, servedBy } = await this.#c.call({ op: 'get', key: k, consistency }, target(consistency));
    const read = reply(r, 'read', 'a get');
    return { value: read.value ?? undefined, index: read.index, path: read.path, servedBy };
  }

  /** Deletes `key`; resolves with whether it existed. */
  async delete(key: Key): Promise<{ index: number; existed: boolean }> {
    const k = requestKey(key);
    const r = reply(await this.#c.write((session) => ({ op: 'delete', key: k, session })), 'write', 'a delete');
    return { index: r.index, existed: r.flag === true };
  }

  /**
   * Compare-and-set: writes `value` only if the key holds `expected` (undefined: the key is
   * absent). True if it swapped. A transaction: { value = expected } or { createRevision = 0 }.
   */
  async cas(key: Key, expected: Value | undefined, value: Value): Promise<boolean> {
    const r = await this.txn({
      compare: [expected === undefined ? { key, target: 'createRevision', op: '=', value: 0 } : { key, target: 'value', op: '=', value: expected }],
      success: [{ op: 'put', key, value }],
    });
    return r.succeeded;
  }

  /** Key-value pairs in key order, by prefix or [start, end) (string keys; see range() for bytes). */
  async scan(options: ScanOptions = {}): Promise<Array<[string, Value]>> {
    return (await this.scanWithMeta(options)).value;
  }

  async scanWithMeta(options: ScanOptions = {}): Promise<ReadMeta<Array<[string, Value]>>> {
    const consistency = options.consistency ?? 'linearizable';
    const opt = (k: string | undefined, what: string) => (k === undefined ? null : requestRange({ start: k }, what).start);
    const { reply: r, servedBy } = await this.#c.call({
      op: 'scan', prefix: opt(options.prefix, 'prefix'), start: opt(options.start, 'start'), end: opt(options.end, 'end'),
      limit: options.limit ?? null, consistency,
    }, target(consistency));
    const s = reply(r, 'scan', 'a scan');
    return { value: s.pairs.map(([k, v]) => [k, v]), index: s.index, path: s.path, servedBy };
  }

  /** Keys with their revisions, by key, prefix or [start, end), in byte order. */
  async range(spec: RangeSpec, options: RangeOptions = {}): Promise<RangeResult> {
    const { start, end } = requestRange(spec);
    const consistency = options.consistency ?? 'linearizable';
    const limit = options.limit ?? null;
    if (limit !== null && (!Number.isSafeInteger(limit) || limit < 1)) throw new ClientError('ERR_BAD_REQUEST', `limit must be a positive integer (got ${String(limit)})`);
    const { reply: r, servedBy } = await this.#c.call({ op: 'range', start, end, limit, consistency }, target(consistency));
    const g = reply(r, 'range', 'a range');
    return { kvs: g.kvs.map(fromWire), more: g.more, revision: g.index, path: g.path, servedBy };
  }

  /** Deletes every key of a prefix or [start, end) in one revision; resolves with how many went. */
  async deleteRange(spec: RangeSpec): Promise<{ deleted: number; revision: number }> {
    const { start, end } = requestRange(spec);
    const r = reply(await this.#c.write((session) => ({ op: 'deleteRange', start, end, session })), 'deleted', 'a deleteRange');
    return { deleted: r.deleted, revision: r.index };
  }

  /** Runs a transaction (txn.ts): the compares, then one branch, atomically, as one log entry. */
  async txn(t: TxnRequest): Promise<TxnResponse> {
    const w = toWireTxn(t);
    const r = reply(await this.#c.write((session) => ({ op: 'txn', ...w, session })), 'txn', 'a txn');
    return { succeeded: r.succeeded, revision: r.index, results: r.results.map(fromWireResult) };
  }

  /** Forgets the watch history up to and including `revision` (admin token). */
  async compact(revision: number): Promise<{ compactRevision: number; revision: number }> {
    if (!Number.isSafeInteger(revision) || revision < 1) throw new ClientError('ERR_BAD_REQUEST', `compact needs a revision, a positive integer (got ${String(revision)})`);
    const { reply: r } = await this.#c.call({ op: 'compact', revision }, 'leader');
    const c = reply(r, 'compact', 'a compact');
    return { compactRevision: c.compactRevision, revision: c.index };
  }

  // ---- leases -----------------------------------------------------------------------------

  /**
   * Grants a lease of `ttlMs`. The returned Lease is not renewed until keepAlive(lease): until
   * then it counts down from the grant's send time.
   */
  async grant(ttlMs: number, options: GrantOptions = {}): Promise<Lease> {
    if (!Number.isSafeInteger(ttlMs) || ttlMs < 1) throw new ClientError('ERR_BAD_REQUEST', `a lease's TTL must be a positive integer of ms (got ${String(ttlMs)})`);
    const id = options.id ?? 0;
    if (!Number.isSafeInteger(id) || id < 0) throw new ClientError('ERR_BAD_REQUEST', `a lease id must be a non-negative integer (got ${String(id)})`);
    const marginMs = options.marginMs ?? defaultMarginMs(ttlMs);
    if (!(Number.isFinite(marginMs) && marginMs >= 0 && marginMs <= ttlMs / 2)) {
      throw new ClientError('ERR_OPTIONS', `marginMs must be in [0, ttlMs / 2] = [0, ${ttlMs / 2}] (got ${String(marginMs)}): past half the TTL, keep-alives every third of it could not keep the lease`);
    }
    const sentAt = this.#clock.now();
    const r = reply(await this.#c.write((session) => ({ op: 'leaseGrant', ttlMs, lease: id, session })), 'lease', 'a lease grant');
    return this.#track(new Lease(r.lease, r.ttlMs, marginMs, sentAt, this.#clock), sentAt);
  }

  /**
   * Takes over a lease granted elsewhere (another process, an earlier run): one keep-alive now,
   * whose answer gives its TTL and starts its clock. Then keepAlive() it like a granted one.
   * ERR_LEASE_NOT_FOUND if it is gone.
   */
  async resumeLease(lease: LeaseRef, options: Pick<GrantOptions, 'marginMs'> = {}): Promise<Lease> {
    const id = leaseIdOf(lease);
    if (id === 0) throw new ClientError('ERR_BAD_REQUEST', 'lease 0 means "no lease": there is nothing to resume');
    const sentAt = this.#clock.now();
    const ttlMs = await this.#keepAliveOnce(id, this.#c.o.timeoutMs);
    const marginMs = options.marginMs ?? defaultMarginMs(ttlMs);
    if (!(Number.isFinite(marginMs) && marginMs >= 0 && marginMs <= ttlMs / 2)) throw new ClientError('ERR_OPTIONS', `marginMs must be in [0, ${ttlMs / 2}] (got ${String(marginMs)})`);
    this.#keepers.get(id)?.stop('closed', new ClientError('ERR_CLOSED', `lease ${id} was resumed by another Lease object of this client`));
    return this.#track(new Lease(id, ttlMs, marginMs, sentAt, this.#clock), sentAt);
  }

  #track(lease: Lease, sentAt: number): Lease {
    const keeper = new LeaseKeeper(lease, sentAt, this.#clock, (timeoutMs) => this.#keepAliveOnce(lease.id, timeoutMs));
    this.#keepers.set(lease.id, keeper);
    lease.signal.addEventListener('abort', () => {
      if (this.#keepers.get(lease.id) === keeper) this.#keepers.delete(lease.id);
    }, { once: true });
    return lease;
  }

  /**
   * Keeps `lease` alive in the background (a keep-alive every third of its TTL, to the leader)
   * until it is revoked, lost or the client closes. Throws ERR_LEASE_LOST if it is over already.
   */
  keepAlive(lease: Lease): Lease {
    const keeper = this.#keepers.get(lease.id);
    if (keeper === undefined || keeper.lease !== lease) {
      throw lease.error ?? new ClientError('ERR_BAD_REQUEST', `lease ${lease.id} was not granted by this client: keepAlive() renews leases from grant()`);
    }
    keeper.start();
    return lease;
  }

  /**
   * One keep-alive now, answered by the leader: the lease lives its TTL from when this was sent.
   * A Lease this client keeps alive moves its lost time on too. ERR_LEASE_NOT_FOUND if it is gone.
   */
  async keepAliveOnce(lease: LeaseRef): Promise<{ ttlMs: number }> {
    const id = leaseIdOf(lease);
    if (id === 0) throw new ClientError('ERR_BAD_REQUEST', 'lease 0 means "no lease": there is nothing to keep alive');
    const sentAt = this.#clock.now();
    const ttlMs = await this.#keepAliveOnce(id, this.#c.o.timeoutMs);
    this.#keepers.get(id)?.lease.renewed(sentAt, ttlMs);
    return { ttlMs };
  }

  async #keepAliveOnce(id: number, timeoutMs: number): Promise<number> {
    const attemptTimeoutMs = Math.max(1, Math.min(this.#c.o.attemptTimeoutMs, timeoutMs));
    const { reply: r } = await this.#c.call({ op: 'leaseKeepAlive', lease: id }, 'leader', { timeoutMs, attemptTimeoutMs });
    return reply(r, 'lease', 'a keep-alive').ttlMs;
  }

  /** Revokes a lease: its keys are deleted at once. Resolves with how many. */
  async revoke(lease: LeaseRef): Promise<{ deleted: number; revision: number }> {
    const id = leaseIdOf(lease);
    if (id === 0) throw new ClientError('ERR_BAD_REQUEST', 'lease 0 means "no lease": nothing to revoke');
    this.#keepers.get(id)?.stop('revoked', new ClientError('ERR_LEASE_LOST', `lease ${id} was revoked by this client`));
    const r = reply(await this.#c.write((session) => ({ op: 'leaseRevoke', lease: id, session })), 'deleted', 'a lease revoke');
    return { deleted: r.deleted, revision: r.index };
  }

  /**
   * A lease's TTL, its keys, and its time left. Asked of the leader by default ('readindex'):
   * only the leader keeps lease time, so with 'linearizable', 'follower' or 'stale' a follower
   * may answer, and then remainingMs is null.
   */
  async leaseInfo(lease: LeaseRef, options: { consistency?: Consistency } = {}): Promise<LeaseInfoResult> {
    const id = leaseIdOf(lease);
    const consistency = options.consistency ?? 'readindex';
    const { reply: r } = await this.#c.call({ op: 'leaseInfo', lease: id, consistency }, target(consistency));
    const i = reply(r, 'leaseInfo', 'a lease info');
    return { id: i.lease, ttlMs: i.ttlMs, remainingMs: i.remainingMs === null ? null : Math.round(i.remainingMs), keys: i.keys.map(userKey), revision: i.index };
  }

  // ---- watch and recipes ------------------------------------------------------------------

  /** Changes to a key or range, as an async iterator of batches (watch.ts). */
  watch(spec: RangeSpec, options: WatchOptions = {}): Watcher {
    if (this.#c.closed) throw new ClientError('ERR_CLOSED', 'the client was closed');
    const w = new Watcher(this.#c, requestRange(spec, 'watch'), options, () => this.#watchers.delete(w));
    this.#watchers.add(w);
    return w;
  }

  /** Takes the lock `name`, waiting for earlier holders (recipes.ts). */
  lock(name: string, options: LockOptions = {}): Promise<Lock> {
    return acquireLock(this, name, options);
  }

  /** The election `name` (recipes.ts). */
  election(name: string, options: ElectionOptions = {}): Election {
    return new Election(this, name, options);
  }

  // ---- the cluster ------------------------------------------------------------------------

  /** One member's view: the leader's by default, 'any' member's, or the member at `url`. */
  async status(url?: string): Promise<Record<string, unknown>> {
    const { reply: r } = await this.#c.call({ op: 'status' }, url ?? 'leader');
    return reply(r, 'info', 'status').info as Record<string, unknown>;
  }

  /** Membership: list, or change it (admin token). */
  async members(action: MembersAction = 'list', node?: string, url?: string): Promise<Record<string, unknown>> {
    const { reply: r } = await this.#c.call({ op: 'members', action, node: node ?? null, url: url ?? null }, 'leader');
    return reply(r, 'info', 'members').info as Record<string, unknown>;
  }

  /**
   * Fault injection on the member at `url` (peers run with --faults, admin token): drop its Raft
   * traffic with the listed members, and hold back the Raft messages of the given types it sends
   * (say a leadership transfer's timeoutNow) by their delays. Empty lists heal it.
   */
  async injectFault(url: string, block: readonly string[], delays: readonly FaultDelay[] = []): Promise<void> {
    await this.#c.call({ op: 'fault', block, delays }, url);
  }

  /** Moves leadership to `to` (admin token). */
  async transferLeader(to: string): Promise<void> {
    await this.#c.call({ op: 'transfer', to }, 'leader');
  }

  /**
   * An online backup (admin token): the snapshot of the state at an applied index at or above a
   * linearizable read index taken when it starts, in order, chunk by chunk (backup.ts).
   */
  backup(options: BackupOptions = {}): AsyncGenerator<BackupChunk> {
    return pullBackup(this.#c, options);
  }

  /**
   * Revokes tokens through the log (admin token, whole keyspace): every token of subject `sub`
   * issued until now, or the one token with id `jti` (give its `expMs` when known: the cluster
   * forgets the revocation then, instead of after its longest token lifetime). Resolves once the
   * leader applied it: from then on the leader refuses the tokens, and so does every member for
   * linearizable reads; other requests at a follower within its apply lag (docs/operations.md,
   * "Scoped tokens and revocation").
   */
  async revokeTokens(which: { readonly sub: string } | { readonly jti: string; readonly expMs?: number }): Promise<TokenRevocation> {
    const body = 'sub' in which
      ? { op: 'tokenRevoke' as const, by: 'sub' as const, name: which.sub, expMs: null }
      : { op: 'tokenRevoke' as const, by: 'jti' as const, name: which.jti, expMs: which.expMs ?? null };
    const { reply: r } = await this.#c.call(body, 'leader');
    return reply(r, 'info', 'tokenRevoke').info as TokenRevocation;
  }

  /** Stops every renewer and watcher, and closes the connections. Leases left run out on the cluster. */
  async close(): Promise<void> {
    for (const k of [...this.#keepers.values()]) k.stop('closed', new ClientError('ERR_CLOSED', `the client was closed: lease ${k.lease.id} is no longer renewed`));
    this.#keepers.clear();
    for (const w of [...this.#watchers]) w.close();
    this.#c.close();
  }
}

/** Connects to a cluster; resolves once one member answered. */
export async function connectWith(options: ConnectOptions): Promise<KvClient> {
  const kv = new KvClient(options);
  try {
    await kv.ready();
  } catch (err) {
    await kv.close();
    throw err;
  }
  return kv;
}
