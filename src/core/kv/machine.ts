// The replicated key-value state machine: applied in log order on every peer and learner, it
// answers writes with their results, keeps client sessions for exactly-once writes (expired by
// log time, never by local clocks), serves reads and scans, and snapshots to bytes.

import { assert } from '../assert.ts';
import type { Entry, Index } from '../types.ts';
import { AnyOrder, LogOrder, type ApplyOrder } from './apply-order.ts';
import { ByteReader, ByteWriter } from './bytes.ts';
import { decodeCommand, valuesEqual, type CommandEnvelope, type Value } from './command.ts';

export type KvResult =
  | { readonly op: 'put'; readonly index: Index }
  | { readonly op: 'delete'; readonly index: Index; readonly existed: boolean }
  | { readonly op: 'cas'; readonly index: Index; readonly swapped: boolean }
  | { readonly op: 'register'; readonly index: Index; readonly client: number }
  | { readonly op: 'error'; readonly index: Index; readonly code: KvErrorCode; readonly message: string };

/**
 * ERR_SESSION_EXPIRED: the session is gone, nothing of this request was applied now (whether an
 * earlier attempt was is for the client to know). ERR_SESSION_STALE: the client acknowledged this
 * sequence number's answer already. ERR_OUTCOME_UNKNOWN: the answer was evicted from the session's
 * cache (more than sessionResultsMax answers were outstanding), so the request may have applied
 * once; it is not run again.
 */
export type KvErrorCode = 'ERR_SESSION_EXPIRED' | 'ERR_SESSION_STALE' | 'ERR_OUTCOME_UNKNOWN';

export interface KvMachineOptions {
  /** A session not used for this long, in log time, expires. */
  readonly sessionTtlMs?: number;
  /** Sessions kept at once; registering one more evicts the least recently used. */
  readonly sessionsMax?: number;
  /** Results remembered per session for retries of requests still in flight. */
  readonly sessionResultsMax?: number;
  /**
   * ParallelRaft: entries arrive out of log order (never two that write the same key, see
   * kvKeysOf). Log time then moves only with session commands, which keep log order among
   * themselves, so session expiry is the same on every replica.
   */
  readonly outOfOrder?: boolean;
}

export interface ScanOptions {
  readonly prefix?: string;
  /** Inclusive lower bound. */
  readonly start?: string;
  /** Exclusive upper bound. */
  readonly end?: string;
  readonly limit?: number;
}

export type ChangeListener = (key: string, value: Value | undefined, index: Index) => void;

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

/** Format 2 adds each session's evictedMax; format 1 snapshots load with none evicted. */
const SNAPSHOT_FORMAT = 2;

export class KvMachine {
  readonly sessionTtlMs: number;
  readonly sessionsMax: number;
  readonly sessionResultsMax: number;
  readonly #order: ApplyOrder;
  /** Log time: the largest leader timestamp applied so far. */
  logTimeMs = 0;
  readonly #data = new Map<string, Value>();
  #sorted: string[] | null = null;
  /** Client sessions; the apply order keeps their recency (apply-order.ts). */
  readonly #sessions = new Map<number, Session>();
  #listeners: ChangeListener[] = [];

  constructor(options: KvMachineOptions = {}) {
    this.sessionTtlMs = options.sessionTtlMs ?? 10 * 60 * 1000;
    this.sessionsMax = options.sessionsMax ?? 100_000;
    this.sessionResultsMax = options.sessionResultsMax ?? 4096;
    this.#order = options.outOfOrder === true ? new AnyOrder() : new LogOrder();
    assert(this.sessionTtlMs > 0 && this.sessionsMax > 0 && this.sessionResultsMax > 0, 'kv machine limits must be positive');
  }

  /** Every entry up to here is applied (out of order, some above it may be too: appliedAbove). */
  get appliedIndex(): Index {
    return this.#order.appliedIndex;
  }

  get size(): number {
    return this.#data.size;
  }

  get sessions(): number {
    return this.#sessions.size;
  }

  onChange(listener: ChangeListener): () => void {
    this.#listeners.push(listener);
    return () => { this.#listeners = this.#listeners.filter((l) => l !== listener); };
  }

  /** Applies one committed entry; returns the command's result (null for no-op and config). */
  apply(e: Entry): KvResult | null {
    this.#order.markApplied(e.index);
    if (e.type !== 'normal') return null;
    return this.applyCommand(decodeCommand(e.data), e.index);
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
    if (s === null) return this.#execute(env, index);
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
    const result = this.#execute(env, index);
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

  #execute(env: CommandEnvelope, index: Index): KvResult {
    const cmd = env.cmd;
    switch (cmd.op) {
      case 'put':
        this.#set(cmd.key, cmd.value, index);
        return { op: 'put', index };
      case 'delete': {
        const existed = this.#data.has(cmd.key);
        if (existed) this.#set(cmd.key, undefined, index);
        return { op: 'delete', index, existed };
      }
      case 'cas': {
        const current = this.#data.get(cmd.key);
        const swapped = cmd.expected === null ? current === undefined : valuesEqual(current, cmd.expected);
        if (swapped) this.#set(cmd.key, cmd.value, index);
        return { op: 'cas', index, swapped };
      }
      case 'register':
        return this.#register(index);
    }
  }

  #set(key: string, value: Value | undefined, index: Index): void {
    const had = this.#data.has(key);
    if (value === undefined) this.#data.delete(key);
    else this.#data.set(key, value);
    if (had !== (value !== undefined)) this.#sorted = null;
    for (const l of this.#listeners) l(key, value, index);
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

  get(key: string): Value | undefined {
    return this.#data.get(key);
  }

  scan(o: ScanOptions = {}): Array<[string, Value]> {
    if (this.#sorted === null) this.#sorted = [...this.#data.keys()].sort();
    const keys = this.#sorted;
    const lo = o.prefix !== undefined && (o.start === undefined || o.prefix > o.start) ? o.prefix : o.start ?? '';
    let i = lowerBound(keys, lo);
    const out: Array<[string, Value]> = [];
    const limit = o.limit ?? Infinity;
    for (; i < keys.length && out.length < limit; i++) {
      const k = keys[i]!;
      if (o.end !== undefined && k >= o.end) break;
      if (o.prefix !== undefined && !k.startsWith(o.prefix)) break;
      out.push([k, this.#data.get(k)!]);
    }
    return out;
  }

  /** The whole state as bytes: data, sessions and log time. */
  snapshot(): Uint8Array {
    assert(this.#order.appliedAbove === 0, () => `kv snapshot with ${this.#order.appliedAbove} entries applied out of order above ${this.appliedIndex}`);
    const w = new ByteWriter(1024);
    w.u8(SNAPSHOT_FORMAT).num(this.appliedIndex).num(this.logTimeMs).varint(this.#data.size);
    for (const [k, v] of this.#data) {
      w.str(k);
      if (typeof v === 'string') w.u8(0).str(v);
      else w.u8(1).bytes(v);
    }
    w.varint(this.#sessions.size);
    for (const [id, s] of this.#sessions) {
      w.num(id).num(s.lastTimeMs).num(s.firstUnacked).num(s.evictedMax).varint(s.results.size);
      for (const [seq, r] of s.results) w.num(seq).str(JSON.stringify(r));
    }
    return w.finish();
  }

  /** Replaces the state with a snapshot taken by snapshot(). */
  restore(bytes: Uint8Array): void {
    const r = new ByteReader(bytes, 'kv snapshot');
    const format = r.u8();
    if (format !== SNAPSHOT_FORMAT && format !== 1) throw new RangeError(`kv snapshot: unknown format ${format} (this version reads 1 and ${SNAPSHOT_FORMAT})`);
    this.#order.reset(r.num());
    this.logTimeMs = r.num();
    this.#data.clear();
    this.#sorted = null;
    const n = r.varint();
    for (let i = 0; i < n; i++) {
      const k = r.str();
      this.#data.set(k, r.u8() === 0 ? r.str() : r.bytes().slice());
    }
    this.#sessions.clear();
    const sessions = r.varint();
    for (let i = 0; i < sessions; i++) {
      const id = r.num();
      const lastTimeMs = r.num();
      const firstUnacked = r.num();
      const s: Session = { lastTimeMs, firstUnacked, evictedMax: format === 1 ? 0 : r.num(), results: new Map() };
      const results = r.varint();
      for (let j = 0; j < results; j++) s.results.set(r.num(), JSON.parse(r.str()) as KvResult);
      this.#sessions.set(id, s);
    }
    if (!r.done) throw new RangeError('kv snapshot: trailing bytes');
  }
}

function lowerBound(keys: readonly string[], target: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (keys[mid]! < target) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
