// The replicated key-value state machine: applied in log order on every peer and learner (or out
// of order in ParallelRaft, see apply-order.ts), it keeps the keyspace with etcd's revisions,
// leases (with the scoped token subject that owns each) and their keys, the watch history, token
// revocations, and client sessions for exactly-once writes (expired by log time, never by local
// clocks); it answers each command and snapshots to bytes.

import { assert } from '../assert.ts';
import type { Entry, Index } from '../types.ts';
import { AnyOrder, LogOrder, type ApplyOrder } from './apply-order.ts';
import { ByteReader, ByteWriter } from './bytes.ts';
import {
  compareValues, decodeCommand, valuesEqual, type CommandEnvelope, type Compare, type KvCommand, type TxnOp, type Value,
} from './command.ts';
import { EventHistory, type HistoryLimits, type KvEvent, type RevisionEvents } from './history.ts';
import { byteKey, isReserved, prefixEnd, type ByteKey } from './keys.ts';
import { Records, type KeyValue } from './records.ts';
import { RevocationLimitError, Revocations, type RevocableToken, type Revocation } from './revocations.ts';
import { readTree, writeTree, type Tree } from './tree.ts';

export type { KeyValue } from './records.ts';
export type { KvEvent, RevisionEvents } from './history.ts';

/** What one operation of a transaction's branch gave. */
export type TxnOpResult<KV = KeyValue> =
  | { readonly op: 'put' }
  | { readonly op: 'delete'; readonly deleted: number }
  | { readonly op: 'deleteRange'; readonly deleted: number }
  | { readonly op: 'get'; readonly kv: KV | null }
  | { readonly op: 'range'; readonly kvs: readonly KV[]; readonly more: boolean };

export type KvResult =
  | { readonly op: 'put'; readonly index: Index }
  | { readonly op: 'delete'; readonly index: Index; readonly existed: boolean }
  | { readonly op: 'cas'; readonly index: Index; readonly swapped: boolean }
  | { readonly op: 'deleteRange'; readonly index: Index; readonly deleted: number }
  | { readonly op: 'txn'; readonly index: Index; readonly succeeded: boolean; readonly results: readonly TxnOpResult[] }
  | { readonly op: 'leaseGrant'; readonly index: Index; readonly id: number; readonly ttlMs: number }
  | { readonly op: 'leaseRevoke'; readonly index: Index; readonly deleted: number }
  | { readonly op: 'leaseExpire'; readonly index: Index; readonly found: boolean; readonly deleted: number }
  | { readonly op: 'leaseEpoch'; readonly index: Index; readonly term: number }
  | { readonly op: 'compact'; readonly index: Index; readonly compactRevision: number }
  | { readonly op: 'register'; readonly index: Index; readonly client: number }
  /** revocations: how many are in force after it. */
  | { readonly op: 'tokenRevoke'; readonly index: Index; readonly revocations: number }
  | { readonly op: 'error'; readonly index: Index; readonly code: KvErrorCode; readonly message: string };

/**
 * ERR_SESSION_EXPIRED: the session is gone, nothing of this request was applied now (whether an
 * earlier attempt was is for the client to know). ERR_SESSION_STALE: the client acknowledged this
 * sequence number's answer already. ERR_OUTCOME_UNKNOWN: the answer was evicted from the session's
 * cache (more than sessionResultsMax answers were outstanding), so the request may have applied
 * once; it is not run again. ERR_LEASE_NOT_FOUND: a put or revoke named a lease that does not
 * exist (never granted, revoked or expired): nothing was written. ERR_LEASE_EXISTS: a grant asked
 * for an id in use. ERR_BAD_REQUEST: a compaction past the current revision.
 * ERR_REVOCATION_LIMIT: revocationsMax token revocations are in force already.
 */
export type KvErrorCode =
  | 'ERR_SESSION_EXPIRED' | 'ERR_SESSION_STALE' | 'ERR_OUTCOME_UNKNOWN' | 'ERR_LEASE_NOT_FOUND' | 'ERR_LEASE_EXISTS' | 'ERR_BAD_REQUEST'
  | 'ERR_REVOCATION_LIMIT';

export interface KvMachineOptions {
  /** A session not used for this long, in log time, expires. */
  readonly sessionTtlMs?: number;
  /** Sessions kept at once; registering one more evicts the least recently used. */
  readonly sessionsMax?: number;
  /** Results remembered per session for retries of requests still in flight. */
  readonly sessionResultsMax?: number;
  /** Watch history kept (history.ts): past either limit the oldest revisions are compacted. */
  readonly history?: Partial<HistoryLimits>;
  /**
   * ParallelRaft: entries arrive out of log order (never two that touch the same key, see
   * kvKeysOf). Log time then moves only with session commands, which keep log order among
   * themselves, so session expiry is the same on every replica; events wait for the contiguous
   * applied prefix, so watchers see them in revision order.
   */
  readonly outOfOrder?: boolean;
  /** Token revocations in force at once (revocations.ts); one more is refused. */
  readonly revocationsMax?: number;
}

export interface ScanOptions {
  readonly prefix?: ByteKey;
  /** Inclusive lower bound. */
  readonly start?: ByteKey;
  /** Exclusive upper bound. */
  readonly end?: ByteKey;
  readonly limit?: number;
}

export type ChangeListener = (key: ByteKey, value: Value | undefined, index: Index) => void;
/** Called once per revision that has events, in revision order. */
export type EventsListener = (revision: Index, events: readonly KvEvent[]) => void;

export interface LeaseInfo {
  readonly id: number;
  readonly ttlMs: number;
  /** The subject of the scoped token that granted it ('': none, a grant for the whole keyspace). */
  readonly owner: string;
  /** The keys attached, in byte order. */
  readonly keys: readonly ByteKey[];
}

/** A lease's change as applied: granted (ttlMs) or gone (null: revoked or expired). */
export type LeaseListener = (id: number, ttlMs: number | null, entry: Entry) => void;

interface Session {
  lastTimeMs: number;
  /** Results of applied requests the client has not acknowledged yet, by sequence number. */
  readonly results: Map<number, KvResult>;
  firstUnacked: number;
  /**
   * The highest sequence number whose result was evicted from `results` (0: none). A request at or
   * below it that is not cached may have applied already: it is answered ERR_OUTCOME_UNKNOWN.
   */
  evictedMax: number;
}

/**
 * Format 5 adds each lease's owner and the token revocations to format 4.
 * Format 4 adds the lease epoch (the term of the latest leader whose lease clocks run) to format 3.
 * Format 3: byte keys with their revisions, leases, the watch history and answers as data trees.
 * Format 2 adds each session's evictedMax to format 1. Both older formats load: their keys get
 * the snapshot's index as create and mod revision and version 1 (the true ones were not kept).
 */
const SNAPSHOT_FORMAT = 5;

interface Lease {
  readonly ttlMs: number;
  readonly keys: Set<ByteKey>;
  /** The subject of the scoped token that granted it; '' for none. */
  readonly owner: string;
}

const emptyKv = (key: ByteKey, revision: number): KeyValue => ({ key, value: '', createRevision: 0, modRevision: revision, version: 0, lease: 0 });

export class KvMachine {
  readonly sessionTtlMs: number;
  readonly sessionsMax: number;
  readonly sessionResultsMax: number;
  readonly #order: ApplyOrder;
  /** Log time: the largest leader timestamp applied so far. */
  logTimeMs = 0;
  readonly #records = new Records();
  readonly #leases = new Map<number, Lease>();
  /** The latest leaseEpoch applied: expiries proposed in earlier terms are void. */
  #leaseEpoch = 0;
  readonly #revocations: Revocations;
  readonly #history: EventHistory;
  /** Out of order: events of entries applied above the contiguous prefix, until it reaches them. */
  readonly #pending = new Map<Index, KvEvent[]>();
  /** Events are delivered (to the history and listeners) through here. */
  #delivered: Index = 0;
  /** Client sessions; the apply order keeps their recency (apply-order.ts). */
  readonly #sessions = new Map<number, Session>();
  #listeners: ChangeListener[] = [];
  #eventListeners: EventsListener[] = [];
  #leaseListeners: LeaseListener[] = [];
  #restoreListeners: Array<() => void> = [];
  #revokeListeners: Array<(r: Revocation) => void> = [];
  /** The entry being applied (lease listeners get it). */
  #entry: Entry | null = null;

  constructor(options: KvMachineOptions = {}) {
    this.sessionTtlMs = options.sessionTtlMs ?? 10 * 60 * 1000;
    this.sessionsMax = options.sessionsMax ?? 100_000;
    this.sessionResultsMax = options.sessionResultsMax ?? 4096;
    this.#order = options.outOfOrder === true ? new AnyOrder() : new LogOrder();
    this.#history = new EventHistory(options.history);
    this.#revocations = new Revocations(options.revocationsMax);
    assert(this.sessionTtlMs > 0 && this.sessionsMax > 0 && this.sessionResultsMax > 0, 'kv machine limits must be positive');
  }

  /** Every entry up to here is applied (out of order, some above it may be too: appliedAbove). */
  get appliedIndex(): Index {
    return this.#order.appliedIndex;
  }

  /**
   * The store's revision: the applied prefix, every event through it delivered. Reads served
   * here reflect exactly the writes at or below it.
   */
  get revision(): Index {
    return this.#delivered;
  }

  get size(): number {
    return this.#records.size;
  }

  get sessions(): number {
    return this.#sessions.size;
  }

  get leaseCount(): number {
    return this.#leases.size;
  }

  /** The term of the latest lease epoch applied (0: none): the lessor of that term is in office. */
  get leaseEpoch(): number {
    return this.#leaseEpoch;
  }

  get history(): Pick<EventHistory, 'compactRevision' | 'events' | 'bytes' | 'lastRevision' | 'since' | 'limits'> {
    return this.#history;
  }

  onChange(listener: ChangeListener): () => void {
    this.#listeners.push(listener);
    return () => { this.#listeners = this.#listeners.filter((l) => l !== listener); };
  }

  onEvents(listener: EventsListener): () => void {
    this.#eventListeners.push(listener);
    return () => { this.#eventListeners = this.#eventListeners.filter((l) => l !== listener); };
  }

  onLease(listener: LeaseListener): () => void {
    this.#leaseListeners.push(listener);
    return () => { this.#leaseListeners = this.#leaseListeners.filter((l) => l !== listener); };
  }

  /** Called when a token revocation applies (the peer closes the connections it covers). */
  onRevoke(listener: (r: Revocation) => void): () => void {
    this.#revokeListeners.push(listener);
    return () => { this.#revokeListeners = this.#revokeListeners.filter((l) => l !== listener); };
  }

  /** Called after a snapshot replaced the state (revisions jumped; watchers catch up from history). */
  onRestore(listener: () => void): () => void {
    this.#restoreListeners.push(listener);
    return () => { this.#restoreListeners = this.#restoreListeners.filter((l) => l !== listener); };
  }

  /** Applies one committed entry; returns the command's result (null for no-op and config). */
  apply(e: Entry): KvResult | null {
    this.#order.markApplied(e.index);
    let result: KvResult | null = null;
    if (e.type === 'normal') {
      this.#entry = e;
      try {
        result = this.applyCommand(decodeCommand(e.data), e.index);
      } finally {
        this.#entry = null;
      }
    }
    this.#deliver();
    return result;
  }

  /** Applied out of order above appliedIndex (snapshots are taken only when there are none). */
  get appliedAbove(): number {
    return this.#order.appliedAbove;
  }

  applyCommand(env: CommandEnvelope, index: Index): KvResult {
    // Whatever the order entries apply in, every replica reaches the same expiry decisions
    // (apply-order.ts says how).
    if (this.#order.movesTime(env.cmd.op) && env.timeMs > this.logTimeMs) {
      this.logTimeMs = env.timeMs;
      this.#expireSessions();
    }
    const cmd = env.cmd;
    if (cmd.op === 'register') return this.#register(index);
    const s = env.session;
    if (s === null) return this.#execute(cmd, index);
    let session = this.#sessions.get(s.client);
    if (session !== undefined && this.#order.expiredBy(session, env.timeMs, this.sessionTtlMs)) {
      this.#sessions.delete(s.client);
      session = undefined;
    }
    if (session === undefined) {
      return { op: 'error', index, code: 'ERR_SESSION_EXPIRED', message: `client session ${s.client} expired or was never registered: register a new one` };
    }
    this.#order.touch(this.#sessions, s.client, session, env.timeMs, this.logTimeMs);
    if (s.firstUnacked > session.firstUnacked) {
      session.firstUnacked = s.firstUnacked;
      for (const seq of session.results.keys()) if (seq < s.firstUnacked) session.results.delete(seq);
    }
    const cached = session.results.get(s.seq);
    if (cached !== undefined) return cached;
    if (s.seq < session.firstUnacked) {
      return { op: 'error', index, code: 'ERR_SESSION_STALE', message: `request ${s.seq} of client ${s.client} was already answered` };
    }
    if (s.seq <= session.evictedMax) {
      return {
        op: 'error', index, code: 'ERR_OUTCOME_UNKNOWN',
        message: `request ${s.seq} of client ${s.client} may have applied already: its answer was evicted (more than sessionResultsMax=${this.sessionResultsMax} outstanding)`,
      };
    }
    const result = this.#execute(cmd, index);
    session.results.set(s.seq, result);
    if (session.results.size > this.sessionResultsMax) this.#evictLowest(session);
    return result;
  }

  /**
   * Forgets the result of the lowest sequence number: the request the client has waited on
   * longest. Lowest, not first inserted: out of order (ParallelRaft) they differ.
   */
  #evictLowest(session: Session): void {
    let lowest = Infinity;
    for (const seq of session.results.keys()) if (seq < lowest) lowest = seq;
    assert(Number.isFinite(lowest), 'evicting from an empty result cache');
    session.results.delete(lowest);
    if (lowest > session.evictedMax) session.evictedMax = lowest;
  }

  /** Runs a command; the events it makes become revision `index`. */
  #execute(cmd: KvCommand, index: Index): KvResult {
    const events: KvEvent[] = [];
    const result = this.#run(cmd, index, events);
    if (events.length > 0) this.#pending.set(index, events);
    return result;
  }

  #run(cmd: KvCommand, index: Index, events: KvEvent[]): KvResult {
    switch (cmd.op) {
      case 'put': {
        const lease = cmd.lease ?? 0;
        if (lease !== 0 && !this.#leases.has(lease)) return this.#noLease(index, lease);
        this.#put(cmd.key, cmd.value, lease, index, events);
        return { op: 'put', index };
      }
      case 'delete':
        return { op: 'delete', index, existed: this.#delete(cmd.key, index, events) };
      case 'cas': {
        const current = this.#records.get(cmd.key);
        const swapped = cmd.expected === null ? current === undefined : current !== undefined && valuesEqual(current.value, cmd.expected);
        if (swapped) this.#put(cmd.key, cmd.value, 0, index, events);
        return { op: 'cas', index, swapped };
      }
      case 'deleteRange':
        return { op: 'deleteRange', index, deleted: this.#deleteRange(cmd.start, cmd.end, index, events) };
      case 'txn': {
        const succeeded = cmd.compare.every((c) => this.#holds(c));
        const ops = succeeded ? cmd.success : cmd.failure;
        for (const o of ops) {
          if (o.op === 'put' && o.lease !== undefined && o.lease !== 0 && !this.#leases.has(o.lease)) return this.#noLease(index, o.lease);
        }
        return { op: 'txn', index, succeeded, results: ops.map((o) => this.#txnOp(o, index, events)) };
      }
      case 'leaseGrant': {
        if (cmd.id !== 0 && this.#leases.has(cmd.id)) return { op: 'error', index, code: 'ERR_LEASE_EXISTS', message: `lease ${cmd.id} exists already` };
        // An id the cluster picks: the entry's index, or the next free one if a grant named it.
        let id = cmd.id === 0 ? index : cmd.id;
        while (this.#leases.has(id)) id++;
        this.#leases.set(id, { ttlMs: cmd.ttlMs, keys: new Set(), owner: cmd.owner ?? '' });
        this.#leaseChanged(id, cmd.ttlMs);
        return { op: 'leaseGrant', index, id, ttlMs: cmd.ttlMs };
      }
      case 'leaseRevoke': {
        if (!this.#leases.has(cmd.id)) return this.#noLease(index, cmd.id);
        return { op: 'leaseRevoke', index, deleted: this.#endLease(cmd.id, index, events) };
      }
      case 'leaseExpire': {
        // An earlier leader's decision, applied after a later leader took office: that leader
        // may have renewed the lease since. Void; the leader in office expires it when it is due.
        if ((cmd.term ?? 0) < this.#leaseEpoch) return { op: 'leaseExpire', index, found: false, deleted: 0 };
        const found = this.#leases.has(cmd.id);
        return { op: 'leaseExpire', index, found, deleted: found ? this.#endLease(cmd.id, index, events) : 0 };
      }
      case 'leaseEpoch':
        if (cmd.term > this.#leaseEpoch) this.#leaseEpoch = cmd.term;
        return { op: 'leaseEpoch', index, term: this.#leaseEpoch };
      case 'compact': {
        if (cmd.revision >= index) {
          return { op: 'error', index, code: 'ERR_BAD_REQUEST', message: `compaction to revision ${cmd.revision}: the store is only at ${index - 1}` };
        }
        // Events of entries still pending (out of order, above the prefix) are not in the history
        // yet; compaction stops below them.
        this.#history.compact(Math.min(cmd.revision, this.#delivered));
        return { op: 'compact', index, compactRevision: this.#history.compactRevision };
      }
      case 'register':
        return this.#register(index);
      case 'tokenRevoke':
        return this.#revoke(cmd, index);
    }
  }

  /** Records a revocation; the ones whose tokens have all expired by its time are forgotten first. */
  #revoke(cmd: Extract<KvCommand, { op: 'tokenRevoke' }>, index: Index): KvResult {
    const r: Revocation = { by: cmd.by, name: cmd.name, revokedAtMs: cmd.revokedAtMs, untilMs: cmd.untilMs };
    try {
      this.#revocations.add(r, cmd.revokedAtMs);
    } catch (err) {
      if (!(err instanceof RevocationLimitError)) throw err;
      return { op: 'error', index, code: 'ERR_REVOCATION_LIMIT', message: err.message };
    }
    for (const l of this.#revokeListeners) l(r);
    return { op: 'tokenRevoke', index, revocations: this.#revocations.size };
  }

  /** The revocation in force for a token, if any (client-service.ts refuses its requests). */
  revocation(t: RevocableToken): Revocation | undefined {
    return this.#revocations.find(t);
  }

  /** Every revocation kept (some may be past their untilMs until the next one forgets them). */
  revocations(): Revocation[] {
    return this.#revocations.all();
  }

  #noLease(index: Index, id: number): KvResult {
    return { op: 'error', index, code: 'ERR_LEASE_NOT_FOUND', message: `lease ${id} does not exist (never granted, revoked, or expired)` };
  }

  #holds(c: Compare): boolean {
    const kv = this.#records.get(c.key);
    let cmp: number;
    if (c.target === 'value') {
      if (kv === undefined) return c.op === '!=';
      cmp = compareValues(kv.value, c.value);
    } else {
      const have = kv === undefined ? 0 : c.target === 'version' ? kv.version : c.target === 'createRevision' ? kv.createRevision : c.target === 'modRevision' ? kv.modRevision : kv.lease;
      cmp = have < c.value ? -1 : have > c.value ? 1 : 0;
    }
    switch (c.op) {
      case '=': return cmp === 0;
      case '!=': return cmp !== 0;
      case '<': return cmp < 0;
      case '>': return cmp > 0;
    }
  }

  #txnOp(o: TxnOp, index: Index, events: KvEvent[]): TxnOpResult {
    switch (o.op) {
      case 'put':
        this.#put(o.key, o.value, o.lease ?? 0, index, events);
        return { op: 'put' };
      case 'delete':
        return { op: 'delete', deleted: this.#delete(o.key, index, events) ? 1 : 0 };
      case 'deleteRange':
        return { op: 'deleteRange', deleted: this.#deleteRange(o.start, o.end, index, events) };
      case 'get':
        return { op: 'get', kv: this.#records.get(o.key) ?? null };
      case 'range': {
        // Limit 0: no limit (etcd's; the protocol sends it for a range without one).
        const limit = o.limit === 0 ? Infinity : o.limit;
        const keys = this.#userKeys(o.start, o.end, limit + 1);
        const more = keys.length > limit;
        return { op: 'range', kvs: keys.slice(0, limit).map((k) => this.#records.get(k)!), more };
      }
    }
  }

  /**
   * Keys in a range a client named: the reserved ones (0x00...) are never part of it. They sort
   * between the empty key (a user key) and every other key, so the range steps over them; the
   * limit counts user keys only.
   */
  #userKeys(start: ByteKey, end: ByteKey | null, limit = Infinity): ByteKey[] {
    if (limit <= 0) return [];
    const out: ByteKey[] = start === '' && end !== '' && this.#records.get('') !== undefined ? [''] : [];
    const from = start === '' || isReserved(start) ? '\u0001' : start;
    return out.concat(this.#records.keysInRange(from, end, limit - out.length));
  }

  #put(key: ByteKey, value: Value, lease: number, index: Index, events: KvEvent[]): void {
    const { kv, prev } = this.#records.put(key, value, index, lease);
    if (prev !== undefined && prev.lease !== 0 && prev.lease !== lease) this.#leases.get(prev.lease)?.keys.delete(key);
    if (lease !== 0) this.#leases.get(lease)!.keys.add(key);
    events.push({ type: 'put', kv, prev: prev ?? null });
    for (const l of this.#listeners) l(key, value, index);
  }

  #delete(key: ByteKey, index: Index, events: KvEvent[]): boolean {
    const prev = this.#records.delete(key);
    if (prev === undefined) return false;
    if (prev.lease !== 0) this.#leases.get(prev.lease)?.keys.delete(key);
    events.push({ type: 'delete', kv: emptyKv(key, index), prev });
    for (const l of this.#listeners) l(key, undefined, index);
    return true;
  }

  #deleteRange(start: ByteKey, end: ByteKey | null, index: Index, events: KvEvent[]): number {
    let n = 0;
    for (const k of this.#userKeys(start, end)) if (this.#delete(k, index, events)) n++;
    return n;
  }

  /** Deletes a lease and its keys, in byte order (the same on every replica). */
  #endLease(id: number, index: Index, events: KvEvent[]): number {
    const lease = this.#leases.get(id)!;
    let n = 0;
    for (const k of [...lease.keys].sort()) if (this.#delete(k, index, events)) n++;
    this.#leases.delete(id);
    this.#leaseChanged(id, null);
    return n;
  }

  #leaseChanged(id: number, ttlMs: number | null): void {
    const e = this.#entry;
    if (e === null) return;
    for (const l of this.#leaseListeners) l(id, ttlMs, e);
  }

  /** Hands events to the history and the watchers once the applied prefix reaches them. */
  #deliver(): void {
    const to = this.#order.appliedIndex;
    while (this.#delivered < to) {
      const rev = ++this.#delivered;
      if (this.#pending.size === 0) {
        this.#delivered = to;
        break;
      }
      const events = this.#pending.get(rev);
      if (events === undefined) continue;
      this.#pending.delete(rev);
      this.#history.append(rev, events);
      for (const l of this.#eventListeners) l(rev, events);
    }
  }

  #register(index: Index): KvResult {
    while (this.#sessions.size >= this.sessionsMax) {
      const lru = this.#order.leastRecent(this.#sessions);
      if (lru === undefined) break;
      this.#sessions.delete(lru);
    }
    this.#sessions.set(index, { lastTimeMs: this.logTimeMs, results: new Map(), firstUnacked: 0, evictedMax: 0 });
    return { op: 'register', index, client: index };
  }

  #expireSessions(): void {
    this.#order.expire(this.#sessions, this.logTimeMs - this.sessionTtlMs);
  }

  get(key: ByteKey): Value | undefined {
    return this.#records.get(key)?.value;
  }

  /** A key with its revisions. */
  getKv(key: ByteKey): KeyValue | undefined {
    return this.#records.get(key);
  }

  /** Keys in [start, end) with their revisions (end null: to the last key), reserved keys left out. */
  range(start: ByteKey, end: ByteKey | null, limit = Infinity): KeyValue[] {
    return this.#userKeys(start, end, limit).map((k) => this.#records.get(k)!);
  }

  /** Pairs by prefix or [start, end), reserved keys included (the peer reads its own with it). */
  scan(o: ScanOptions = {}): Array<[ByteKey, Value]> {
    let lo = o.start ?? '';
    let hi: ByteKey | null = o.end ?? null;
    if (o.prefix !== undefined) {
      if (o.prefix > lo) lo = o.prefix;
      const pe = prefixEnd(o.prefix);
      if (pe !== null && (hi === null || pe < hi)) hi = pe;
    }
    return this.#records.keysInRange(lo, hi, o.limit ?? Infinity).map((k) => [k, this.#records.get(k)!.value]);
  }

  lease(id: number): LeaseInfo | undefined {
    const l = this.#leases.get(id);
    return l === undefined ? undefined : { id, ttlMs: l.ttlMs, owner: l.owner, keys: [...l.keys].sort() };
  }

  /** Every lease with its TTL (the leader's lessor starts its clocks from these). */
  leases(): Array<{ id: number; ttlMs: number }> {
    return [...this.#leases].map(([id, l]) => ({ id, ttlMs: l.ttlMs }));
  }

  /** The whole state as bytes: keys, leases, watch history, sessions and log time. */
  snapshot(): Uint8Array {
    assert(this.#order.appliedAbove === 0, () => `kv snapshot with ${this.#order.appliedAbove} entries applied out of order above ${this.appliedIndex}`);
    assert(this.#pending.size === 0 && this.#delivered === this.appliedIndex, 'kv snapshot with events not delivered');
    const w = new ByteWriter(1024);
    w.u8(SNAPSHOT_FORMAT).num(this.appliedIndex).num(this.logTimeMs).varint(this.#records.size);
    for (const kv of this.#records.values()) writeKv(w, kv);
    w.varint(this.#leases.size);
    for (const [id, l] of this.#leases) w.num(id).num(l.ttlMs).str(l.owner);
    w.num(this.#leaseEpoch);
    this.#revocations.write(w);
    const batches = this.#history.all();
    w.num(this.#history.compactRevision).varint(batches.length);
    for (const b of batches) {
      w.num(b.revision).varint(b.events.length);
      for (const e of b.events) {
        w.u8(e.type === 'put' ? 0 : 1);
        writeKv(w, e.kv);
        if (e.prev === null) w.u8(0);
        else writeKv(w.u8(1), e.prev);
      }
    }
    w.varint(this.#sessions.size);
    for (const [id, s] of this.#sessions) {
      w.num(id).num(s.lastTimeMs).num(s.firstUnacked).num(s.evictedMax).varint(s.results.size);
      for (const [seq, r] of s.results) {
        w.num(seq);
        writeTree(w, r as unknown as Tree);
      }
    }
    return w.finish();
  }

  /** Replaces the state with a snapshot taken by snapshot() (this format or an older one). */
  restore(bytes: Uint8Array): void {
    const r = new ByteReader(bytes, 'kv snapshot');
    const format = r.u8();
    if (format < 1 || format > SNAPSHOT_FORMAT) throw new RangeError(`kv snapshot: unknown format ${format} (this version reads 1 to ${SNAPSHOT_FORMAT})`);
    const applied = r.num();
    this.#order.reset(applied);
    this.#delivered = applied;
    this.#pending.clear();
    this.logTimeMs = r.num();
    this.#records.clear();
    this.#leases.clear();
    this.#leaseEpoch = 0;
    this.#revocations.clear();
    const n = r.varint();
    for (let i = 0; i < n; i++) {
      if (format >= 3) {
        this.#records.load(readKv(r));
        continue;
      }
      const key = byteKey(r.str());
      const value = r.u8() === 0 ? r.str() : r.bytes().slice();
      this.#records.load({ key, value, createRevision: applied, modRevision: applied, version: 1, lease: 0 });
    }
    if (format >= 3) {
      for (let i = r.varint(); i > 0; i--) this.#leases.set(r.num(), { ttlMs: r.num(), keys: new Set(), owner: format >= 5 ? r.str() : '' });
      this.#leaseEpoch = format >= 4 ? r.num() : 0;
      if (format >= 5) this.#revocations.read(r);
      for (const kv of this.#records.values()) {
        if (kv.lease === 0) continue;
        const l = this.#leases.get(kv.lease);
        if (l === undefined) throw new RangeError(`kv snapshot: key attached to lease ${kv.lease}, which it does not hold`);
        l.keys.add(kv.key);
      }
      const compactRevision = r.num();
      const batches: RevisionEvents[] = [];
      for (let i = r.varint(); i > 0; i--) {
        const revision = r.num();
        const events: KvEvent[] = [];
        for (let j = r.varint(); j > 0; j--) {
          const tag = r.u8();
          if (tag > 1) throw new RangeError(`kv snapshot: unknown event type ${tag}`);
          const type = tag === 0 ? 'put' : 'delete';
          const kv = readKv(r);
          events.push({ type, kv, prev: r.u8() === 0 ? null : readKv(r) });
        }
        batches.push({ revision, events });
      }
      this.#history.load(compactRevision, batches);
    } else {
      // Older snapshots kept no history: a watch from before this point must reload.
      this.#history.load(applied, []);
    }
    this.#sessions.clear();
    const sessions = r.varint();
    for (let i = 0; i < sessions; i++) {
      const id = r.num();
      const lastTimeMs = r.num();
      const firstUnacked = r.num();
      const s: Session = { lastTimeMs, firstUnacked, evictedMax: format === 1 ? 0 : r.num(), results: new Map() };
      const results = r.varint();
      for (let j = 0; j < results; j++) {
        const seq = r.num();
        s.results.set(seq, (format >= 3 ? readTree(r) : JSON.parse(r.str())) as unknown as KvResult);
      }
      this.#sessions.set(id, s);
    }
    if (!r.done) throw new RangeError('kv snapshot: trailing bytes');
    for (const l of this.#restoreListeners) l();
  }
}

function writeKv(w: ByteWriter, kv: KeyValue): void {
  w.bin(kv.key);
  if (typeof kv.value === 'string') w.u8(0).str(kv.value);
  else w.u8(1).bytes(kv.value);
  w.num(kv.createRevision).num(kv.modRevision).num(kv.version).num(kv.lease);
}

function readKv(r: ByteReader): KeyValue {
  const key = r.bin();
  const tag = r.u8();
  if (tag > 1) throw new RangeError(`kv snapshot: unknown value tag ${tag}`);
  const value = tag === 0 ? r.str() : r.bytes().slice();
  return { key, value, createRevision: r.num(), modRevision: r.num(), version: r.num(), lease: r.num() };
}
