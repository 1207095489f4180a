// The client protocol: requests a client sends to any member over the rpc channel and the
// answers it gets, as positional CBOR arrays (fast to decode, no room for unknown keys). Every
// decoded request is validated here before a member acts on it; what a role may ask is here too.

import { Decoder, Encoder } from 'cbor-x';
import { CodedError } from '../core/coded-error.ts';
import { compareOps, compareTargets, type Compare, type SessionRef, type TxnOp, type Value } from '../core/kv/command.ts';
import type { KvEvent, RevisionEvents } from '../core/kv/history.ts';
import { byteKey, userKey, type ByteKey, type Key } from '../core/kv/keys.ts';
import type { KeyValue, TxnOpResult } from '../core/kv/machine.ts';
import { revokeByKinds, type RevokeBy } from '../core/kv/revocations.ts';
import type { MessageType } from '../core/message.ts';
import type { TokenRole } from '../transport/token.ts';
import type { PeerRole } from '../transport/transport.ts';

export type Consistency = 'linearizable' | 'readindex' | 'lease' | 'follower' | 'stale';
export const consistencies: readonly Consistency[] = ['linearizable', 'readindex', 'lease', 'follower', 'stale'];
/** Which path served a read. */
export type ReadPath = 'readIndex' | 'lease' | 'follower' | 'stale' | 'log';
export const readPaths: readonly ReadPath[] = ['readIndex', 'lease', 'follower', 'stale', 'log'];

export type MembersAction = 'list' | 'addVoter' | 'addLearner' | 'promote' | 'remove';
export const membersActions: readonly MembersAction[] = ['list', 'addVoter', 'addLearner', 'promote', 'remove'];

/**
 * Keys travel as CBOR text (a string key, its UTF-8 bytes) or bytes; decoded requests hold them
 * as the machine's byte strings (keys.ts), and answers carry them back as userKey() gives them.
 * Ranges are [start, end); end null: to the last key.
 */
export type Request =
  /** lease 0: none. */
  | { readonly id: number; readonly op: 'put'; readonly key: ByteKey; readonly value: Value; readonly lease: number; readonly session: SessionRef | null }
  | { readonly id: number; readonly op: 'delete'; readonly key: ByteKey; readonly session: SessionRef | null }
  | { readonly id: number; readonly op: 'cas'; readonly key: ByteKey; readonly expected: Value | null; readonly value: Value; readonly session: SessionRef | null }
  | { readonly id: number; readonly op: 'get'; readonly key: ByteKey; readonly consistency: Consistency }
  | { readonly id: number; readonly op: 'scan'; readonly prefix: ByteKey | null; readonly start: ByteKey | null; readonly end: ByteKey | null; readonly limit: number | null; readonly consistency: Consistency }
  /** Keys with their revisions (etcd's Range). */
  | { readonly id: number; readonly op: 'range'; readonly start: ByteKey; readonly end: ByteKey | null; readonly limit: number | null; readonly consistency: Consistency }
  | { readonly id: number; readonly op: 'deleteRange'; readonly start: ByteKey; readonly end: ByteKey | null; readonly session: SessionRef | null }
  | { readonly id: number; readonly op: 'txn'; readonly compare: readonly Compare[]; readonly success: readonly TxnOp[]; readonly failure: readonly TxnOp[]; readonly session: SessionRef | null }
  /** id 0: the cluster picks one. */
  | { readonly id: number; readonly op: 'leaseGrant'; readonly ttlMs: number; readonly lease: number; readonly session: SessionRef | null }
  | { readonly id: number; readonly op: 'leaseRevoke'; readonly lease: number; readonly session: SessionRef | null }
  /** Answered by the leader from memory (not logged). */
  | { readonly id: number; readonly op: 'leaseKeepAlive'; readonly lease: number }
  | { readonly id: number; readonly op: 'leaseInfo'; readonly lease: number; readonly consistency: Consistency }
  /**
   * A stream: answered by 'watch' replies (events, or progress with none) under this request's id
   * until it is cancelled or fails (ERR_COMPACTED, ERR_WATCH_SLOW with where to resume).
   */
  | { readonly id: number; readonly op: 'watch'; readonly start: ByteKey; readonly end: ByteKey | null; readonly fromRevision: number; readonly prevValue: boolean }
  /** Ends the watch started by request `watch` on this connection. */
  | { readonly id: number; readonly op: 'watchCancel'; readonly watch: number }
  | { readonly id: number; readonly op: 'compact'; readonly revision: number }
  | { readonly id: number; readonly op: 'register' }
  | { readonly id: number; readonly op: 'status' }
  | { readonly id: number; readonly op: 'members'; readonly action: MembersAction; readonly node: string | null; readonly url: string | null }
  | { readonly id: number; readonly op: 'transfer'; readonly to: string }
  /**
   * Fault injection (peers started with --faults only): drop all Raft traffic with these members,
   * and hold back the Raft messages of the listed types this member sends by their delay.
   */
  | { readonly id: number; readonly op: 'fault'; readonly block: readonly string[]; readonly delays: readonly FaultDelay[] }
  /**
   * Online backup (admin): backup 0 takes a snapshot at or above a linearizable read index and
   * answers its first chunk; later requests name the backup and the offset of the next chunk
   * wanted (the client pulls, so a slow one holds back nothing but its own snapshot).
   */
  | { readonly id: number; readonly op: 'backup'; readonly backup: number; readonly offset: number }
  /**
   * Token revocation (admin, through the log): every token of subject `name` issued until now, or
   * the token whose id (jti) is `name`. expMs: that token's expiry when known (it is forgotten
   * then); otherwise it is kept for the longest token lifetime the member accepts.
   */
  | { readonly id: number; readonly op: 'tokenRevoke'; readonly by: RevokeBy; readonly name: string; readonly expMs: number | null };

/** A message type this member's sends of which are held back, and by how long (fault injection). */
export interface FaultDelay {
  readonly type: MessageType;
  readonly ms: number;
}

/** The longest hold a fault may put on a message. */
export const faultDelayMsMax = 60_000;

export type RequestOp = Request['op'];
const opCodes: Readonly<Record<RequestOp, number>> = {
  put: 1, delete: 2, cas: 3, get: 4, scan: 5, register: 6, status: 7, members: 8, transfer: 9, fault: 10,
  range: 11, deleteRange: 12, txn: 13, leaseGrant: 14, leaseRevoke: 15, leaseKeepAlive: 16, leaseInfo: 17, watch: 18, watchCancel: 19, compact: 20,
  backup: 21, tokenRevoke: 22,
};
const opsByCode: readonly (RequestOp | undefined)[] = [
  undefined, 'put', 'delete', 'cas', 'get', 'scan', 'register', 'status', 'members', 'transfer', 'fault',
  'range', 'deleteRange', 'txn', 'leaseGrant', 'leaseRevoke', 'leaseKeepAlive', 'leaseInfo', 'watch', 'watchCancel', 'compact',
  'backup', 'tokenRevoke',
];

/** The answer's body, by the request's op (the client knows which op each id was). */
export type Reply =
  | { readonly kind: 'write'; readonly index: number; readonly flag: boolean | null }
  | { readonly kind: 'read'; readonly index: number; readonly path: ReadPath; readonly value: Value | null }
  | { readonly kind: 'scan'; readonly index: number; readonly path: ReadPath; readonly pairs: ReadonlyArray<readonly [string, Value]> }
  | { readonly kind: 'register'; readonly client: number }
  | { readonly kind: 'info'; readonly info: unknown }
  | { readonly kind: 'range'; readonly index: number; readonly path: ReadPath; readonly kvs: readonly KeyValue[]; readonly more: boolean }
  /** deleteRange: how many keys went. */
  | { readonly kind: 'deleted'; readonly index: number; readonly deleted: number }
  | { readonly kind: 'txn'; readonly index: number; readonly succeeded: boolean; readonly results: readonly TxnOpResult[] }
  /** leaseGrant, leaseKeepAlive: the lease and its TTL (from the keep-alive's receipt). */
  | { readonly kind: 'lease'; readonly index: number; readonly lease: number; readonly ttlMs: number }
  /** leaseInfo: null remainingMs when the member answering does not lead (only the leader keeps time). */
  | { readonly kind: 'leaseInfo'; readonly index: number; readonly lease: number; readonly ttlMs: number; readonly remainingMs: number | null; readonly keys: readonly ByteKey[] }
  /** One message of a watch stream: events through `revision` (none: a progress notice). */
  | { readonly kind: 'watch'; readonly revision: number; readonly batches: readonly RevisionEvents[] }
  | { readonly kind: 'compact'; readonly index: number; readonly compactRevision: number }
  /**
   * One chunk of backup `backup`: the snapshot of cluster `cluster` (in `mode`) at log index
   * `index` of term `term`, `size` bytes in all; `chunk` holds the bytes from `offset`.
   */
  | { readonly kind: 'backup'; readonly backup: number; readonly cluster: string; readonly mode: string; readonly index: number; readonly term: number; readonly size: number; readonly offset: number; readonly chunk: Uint8Array };

export const errorCodes = [
  'ERR_NOT_LEADER', 'ERR_UNAVAILABLE', 'ERR_FORBIDDEN', 'ERR_BAD_REQUEST', 'ERR_TIMEOUT',
  'ERR_SESSION_EXPIRED', 'ERR_SESSION_STALE', 'ERR_OUTCOME_UNKNOWN', 'ERR_TOO_LARGE', 'ERR_BUSY', 'ERR_LEASE_UNAVAILABLE',
  'ERR_PROPOSAL_DROPPED', 'ERR_CONF_CHANGE', 'ERR_INTERNAL',
  'ERR_LEASE_NOT_FOUND', 'ERR_LEASE_EXISTS', 'ERR_LEASE_LIMIT', 'ERR_COMPACTED', 'ERR_WATCH_SLOW', 'ERR_WATCH_LIMIT',
  'ERR_REVOCATION_LIMIT',
] as const;

export type ErrorCode = (typeof errorCodes)[number];

export interface ErrorReply {
  readonly code: ErrorCode;
  readonly message: string;
  /** Where to go instead (the leader, if known). */
  readonly leader: { readonly id: string; readonly url: string | null } | null;
  /**
   * ERR_COMPACTED: the compaction revision (read the state, resume after it). ERR_WATCH_SLOW:
   * the last revision the watcher was sent (resume after it).
   */
  readonly detail?: { readonly compactRevision?: number; readonly revision?: number };
}

export type Response =
  | { readonly id: number; readonly ok: true; readonly reply: Reply }
  | { readonly id: number; readonly ok: false; readonly error: ErrorReply };

export interface ProtocolLimits {
  /** Longest key, in bytes. */
  readonly keyLengthMax: number;
  /** Largest value, in bytes (strings: code units x 3). */
  readonly valueBytesMax: number;
  /** Most pairs a scan returns. */
  readonly scanLimitMax: number;
  /** Most compares, and most operations in each branch, of a transaction (etcd: 128). */
  readonly txnOpsMax: number;
}

export const protocolDefaults: ProtocolLimits = {
  keyLengthMax: 4096,
  valueBytesMax: 1024 * 1024,
  scanLimitMax: 10_000,
  txnOpsMax: 128,
};

/** A request (or an answer) that does not decode or validate: answered as ERR_BAD_REQUEST. */
export class ProtocolError extends CodedError<'ERR_BAD_REQUEST'> {
  override readonly name = 'ProtocolError';
  /** The request id when it could be read (so the error can be answered), else -1. */
  readonly id: number;
  constructor(id: number, message: string, options?: { cause?: unknown }) {
    super('ERR_BAD_REQUEST', message, options);
    this.id = id;
  }

  override toJSON(): { name: string; code: 'ERR_BAD_REQUEST'; message: string; id: number } {
    return { ...super.toJSON(), id: this.id };
  }
}

const encoder = new Encoder({ useRecords: false, tagUint8Array: false });
const decoder = new Decoder({ useRecords: false, mapsAsObjects: true, int64AsNumber: true } as ConstructorParameters<typeof Decoder>[0]);

function toBytes(b: Uint8Array): Uint8Array {
  // cbor-x returns a Buffer under Node: hand out plain Uint8Arrays everywhere.
  return b.constructor === Uint8Array ? b : new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

function session(s: SessionRef | null): unknown {
  return s === null ? null : [s.client, s.seq, s.firstUnacked];
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
/** A request without its id (the client assigns ids as it sends). */
export type RequestBody = DistributiveOmit<Request, 'id'>;

/** A key as it travels: text when it is UTF-8 (string keys stay strings), else bytes. */
const wk = (k: ByteKey): Key => userKey(k);
const wend = (k: ByteKey | null): Key | null => (k === null ? null : userKey(k));
const txnOpNames: readonly TxnOp['op'][] = ['put', 'delete', 'deleteRange', 'get', 'range'];

function wireTxnOp(o: TxnOp): unknown[] {
  const code = txnOpNames.indexOf(o.op);
  switch (o.op) {
    case 'put': return [code, wk(o.key), o.value, o.lease ?? 0];
    case 'delete': case 'get': return [code, wk(o.key)];
    case 'deleteRange': return [code, wk(o.start), wend(o.end)];
    case 'range': return [code, wk(o.start), wend(o.end), o.limit === 0 ? null : o.limit];
  }
}

function wireCompare(c: Compare): unknown[] {
  return [wk(c.key), compareTargets.indexOf(c.target), compareOps.indexOf(c.op), c.value];
}

function wireKv(kv: KeyValue): unknown[] {
  return [wk(kv.key), kv.value, kv.createRevision, kv.modRevision, kv.version, kv.lease];
}

function wireEvent(e: KvEvent): unknown[] {
  return [e.type === 'put' ? 0 : 1, wireKv(e.kv), e.prev === null ? null : wireKv(e.prev)];
}

function wireTxnResult(r: TxnOpResult): unknown[] {
  switch (r.op) {
    case 'put': return [0];
    case 'delete': return [1, r.deleted];
    case 'deleteRange': return [2, r.deleted];
    case 'get': return [3, r.kv === null ? null : wireKv(r.kv)];
    case 'range': return [4, r.kvs.map(wireKv), r.more];
  }
}

export function encodeRequest(id: number, r: RequestBody): Uint8Array {
  const code = opCodes[r.op];
  switch (r.op) {
    case 'put':
      return toBytes(encoder.encode(r.lease === 0 ? [id, code, wk(r.key), r.value, session(r.session)] : [id, code, wk(r.key), r.value, session(r.session), r.lease]));
    case 'delete': return toBytes(encoder.encode([id, code, wk(r.key), session(r.session)]));
    case 'cas': return toBytes(encoder.encode([id, code, wk(r.key), r.expected, r.value, session(r.session)]));
    case 'get': return toBytes(encoder.encode([id, code, wk(r.key), consistencies.indexOf(r.consistency)]));
    case 'scan': return toBytes(encoder.encode([id, code, wend(r.prefix), wend(r.start), wend(r.end), r.limit, consistencies.indexOf(r.consistency)]));
    case 'range': return toBytes(encoder.encode([id, code, wk(r.start), wend(r.end), r.limit, consistencies.indexOf(r.consistency)]));
    case 'deleteRange': return toBytes(encoder.encode([id, code, wk(r.start), wend(r.end), session(r.session)]));
    case 'txn':
      return toBytes(encoder.encode([id, code, r.compare.map(wireCompare), r.success.map(wireTxnOp), r.failure.map(wireTxnOp), session(r.session)]));
    case 'leaseGrant': return toBytes(encoder.encode([id, code, r.ttlMs, r.lease, session(r.session)]));
    case 'leaseRevoke': return toBytes(encoder.encode([id, code, r.lease, session(r.session)]));
    case 'leaseKeepAlive': return toBytes(encoder.encode([id, code, r.lease]));
    case 'leaseInfo': return toBytes(encoder.encode([id, code, r.lease, consistencies.indexOf(r.consistency)]));
    case 'watch': return toBytes(encoder.encode([id, code, wk(r.start), wend(r.end), r.fromRevision, r.prevValue]));
    case 'watchCancel': return toBytes(encoder.encode([id, code, r.watch]));
    case 'compact': return toBytes(encoder.encode([id, code, r.revision]));
    case 'register': case 'status': return toBytes(encoder.encode([id, code]));
    case 'members': return toBytes(encoder.encode([id, code, membersActions.indexOf(r.action), r.node, r.url]));
    case 'transfer': return toBytes(encoder.encode([id, code, r.to]));
    case 'fault': return toBytes(encoder.encode(r.delays.length === 0 ? [id, code, r.block] : [id, code, r.block, r.delays.map((d) => [d.type, d.ms])]));
    case 'backup': return toBytes(encoder.encode([id, code, r.backup, r.offset]));
    case 'tokenRevoke': return toBytes(encoder.encode([id, code, revokeByKinds.indexOf(r.by), r.name, r.expMs]));
  }
}

// ---- decoding requests (untrusted) --------------------------------------------------------

function isId(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
}

class Fields {
  readonly #a: readonly unknown[];
  readonly id: number;
  readonly #limits: ProtocolLimits;
  constructor(a: readonly unknown[], id: number, limits: ProtocolLimits) {
    this.#a = a;
    this.id = id;
    this.#limits = limits;
  }
  bad(what: string, got: unknown): ProtocolError {
    const shown = typeof got === 'string' ? JSON.stringify(got.length > 40 ? `${got.slice(0, 40)}…` : got)
      : got instanceof Uint8Array ? `${got.byteLength} bytes` : typeof got === 'object' ? (got === null ? 'null' : 'an object') : String(got);
    return new ProtocolError(this.id, `request ${this.id}: ${what} (got ${shown})`);
  }
  arity(n: number): void {
    if (this.#a.length !== n) throw this.bad(`expected ${n} fields`, this.#a.length);
  }
  key(i: number, what = 'key'): ByteKey {
    const k = this.#a[i];
    if (typeof k !== 'string' && !(k instanceof Uint8Array)) throw this.bad(`${what} must be a string or bytes`, k);
    const b = byteKey(k);
    if (b.length > this.#limits.keyLengthMax) throw this.bad(`${what} is ${b.length} bytes, over keyLengthMax (${this.#limits.keyLengthMax})`, k);
    return b;
  }
  optKey(i: number, what: string): ByteKey | null {
    return this.#a[i] === null ? null : this.key(i, what);
  }
  optString(i: number, what: string): string | null {
    const s = this.#a[i];
    if (s === null) return null;
    if (typeof s !== 'string' || s.length > this.#limits.keyLengthMax) throw this.bad(`${what} must be a string or null`, s);
    return s;
  }
  /** A non-negative safe integer (a revision, a lease id, a request id). */
  count(i: number, what: string, max = Number.MAX_SAFE_INTEGER): number {
    const n = this.#a[i];
    if (!isId(n) || n > max) throw this.bad(`${what} must be an integer in [0, ${max}]`, n);
    return n;
  }
  bool(i: number, what: string): boolean {
    const b = this.#a[i];
    if (typeof b !== 'boolean') throw this.bad(`${what} must be true or false`, b);
    return b;
  }
  list(i: number, what: string): readonly unknown[] {
    const l = this.#a[i];
    if (!Array.isArray(l)) throw this.bad(`${what} must be a list`, l);
    if (l.length > this.#limits.txnOpsMax) throw this.bad(`${what} has ${l.length} items, over txnOpsMax (${this.#limits.txnOpsMax})`, l.length);
    return l;
  }
  /** A nested list's fields, validated with the same limits. */
  sub(l: unknown, what: string): Fields {
    if (!Array.isArray(l)) throw this.bad(`${what} must be a list`, l);
    return new Fields(l, this.id, this.#limits);
  }
  get length(): number {
    return this.#a.length;
  }
  raw(i: number): unknown {
    return this.#a[i];
  }
  value(i: number): Value {
    const v = this.#a[i];
    if (typeof v === 'string') {
      if (v.length * 3 > this.#limits.valueBytesMax && v.length > this.#limits.valueBytesMax / 3) throw this.bad(`value over valueBytesMax (${this.#limits.valueBytesMax})`, v.length);
      return v;
    }
    if (v instanceof Uint8Array) {
      if (v.byteLength > this.#limits.valueBytesMax) throw this.bad(`value over valueBytesMax (${this.#limits.valueBytesMax})`, v);
      // A view into the frame: it is copied once, into the log entry, right after.
      return toBytes(v);
    }
    throw this.bad('value must be a string or bytes', v);
  }
  optValue(i: number): Value | null {
    return this.#a[i] === null ? null : this.value(i);
  }
  session(i: number): SessionRef | null {
    const s = this.#a[i];
    if (s === null) return null;
    if (!Array.isArray(s) || s.length !== 3 || !s.every(isId)) throw this.bad('session must be [client, seq, firstUnacked]', s);
    return { client: s[0] as number, seq: s[1] as number, firstUnacked: s[2] as number };
  }
  consistency(i: number): Consistency {
    const c = consistencies[this.#a[i] as number];
    if (c === undefined) throw this.bad(`consistency must be 0..${consistencies.length - 1}`, this.#a[i]);
    return c;
  }
  limit(i: number): number | null {
    const l = this.#a[i];
    if (l === null) return null;
    if (!isId(l) || l < 1 || l > this.#limits.scanLimitMax) throw this.bad(`limit must be 1..${this.#limits.scanLimitMax}`, l);
    return l;
  }
  node(i: number): string {
    const n = this.#a[i];
    if (typeof n !== 'string' || n.length === 0 || n.length > 256 || /\s/.test(n)) throw this.bad('node must be a member id', n);
    return n;
  }
}

/** Decodes and validates one request; throws ProtocolError (with the id when it was readable). */
export function decodeRequest(payload: Uint8Array, limits: ProtocolLimits = protocolDefaults): Request {
  let raw: unknown;
  try {
    raw = decoder.decode(payload);
  } catch {
    throw new ProtocolError(-1, `request of ${payload.byteLength} bytes is not valid CBOR`);
  }
  if (!Array.isArray(raw) || raw.length < 2 || !isId(raw[0])) throw new ProtocolError(-1, 'request must be [id, op, ...]');
  const id = raw[0];
  const f = new Fields(raw, id, limits);
  const op = typeof raw[1] === 'number' ? opsByCode[raw[1]] : undefined;
  switch (op) {
    case 'put':
      if (raw.length !== 5 && raw.length !== 6) throw f.bad('expected 5 or 6 fields', raw.length);
      return { id, op, key: f.key(2), value: f.value(3), session: f.session(4), lease: raw.length === 6 ? f.count(5, 'lease') : 0 };
    case 'delete': f.arity(4); return { id, op, key: f.key(2), session: f.session(3) };
    case 'cas': f.arity(6); return { id, op, key: f.key(2), expected: f.optValue(3), value: f.value(4), session: f.session(5) };
    case 'get': f.arity(4); return { id, op, key: f.key(2), consistency: f.consistency(3) };
    case 'scan':
      f.arity(7);
      return { id, op, prefix: f.optKey(2, 'prefix'), start: f.optKey(3, 'start'), end: f.optKey(4, 'end'), limit: f.limit(5), consistency: f.consistency(6) };
    case 'range': f.arity(6); return { id, op, start: f.key(2, 'start'), end: f.optKey(3, 'end'), limit: f.limit(4), consistency: f.consistency(5) };
    case 'deleteRange': f.arity(5); return { id, op, start: f.key(2, 'start'), end: f.optKey(3, 'end'), session: f.session(4) };
    case 'txn': {
      f.arity(6);
      const compare = f.list(2, 'compare').map((c, i) => decodeCompare(f.sub(c, `compare ${i}`)));
      const success = f.list(3, 'success').map((o, i) => decodeTxnOp(f.sub(o, `success ${i}`)));
      const failure = f.list(4, 'failure').map((o, i) => decodeTxnOp(f.sub(o, `failure ${i}`)));
      return { id, op, compare, success, failure, session: f.session(5) };
    }
    case 'leaseGrant': f.arity(5); return { id, op, ttlMs: f.count(2, 'ttlMs'), lease: f.count(3, 'lease'), session: f.session(4) };
    case 'leaseRevoke': f.arity(4); return { id, op, lease: f.count(2, 'lease'), session: f.session(3) };
    case 'leaseKeepAlive': f.arity(3); return { id, op, lease: f.count(2, 'lease') };
    case 'leaseInfo': f.arity(4); return { id, op, lease: f.count(2, 'lease'), consistency: f.consistency(3) };
    case 'watch': f.arity(6); return { id, op, start: f.key(2, 'start'), end: f.optKey(3, 'end'), fromRevision: f.count(4, 'fromRevision'), prevValue: f.bool(5, 'prevValue') };
    case 'watchCancel': f.arity(3); return { id, op, watch: f.count(2, 'watch') };
    case 'compact': f.arity(3); return { id, op, revision: f.count(2, 'revision') };
    case 'register': case 'status': f.arity(2); return { id, op };
    case 'members': {
      f.arity(5);
      const action = membersActions[raw[2] as number];
      if (action === undefined) throw f.bad('unknown members action', raw[2]);
      const node = action === 'list' ? null : f.node(3);
      const url = f.optString(4, 'url');
      return { id, op, action, node, url };
    }
    case 'transfer': f.arity(3); return { id, op, to: f.node(2) };
    case 'fault': {
      if (raw.length !== 3 && raw.length !== 4) throw f.bad('expected 3 or 4 fields', raw.length);
      const list = raw[2];
      if (!Array.isArray(list) || list.length > 64) throw f.bad('block must be a list of at most 64 member ids', list);
      const block = list.map((_, i) => new Fields(list, id, limits).node(i));
      return { id, op, block, delays: raw.length === 4 ? faultDelays(f, raw[3]) : [] };
    }
    case 'backup': f.arity(4); return { id, op, backup: f.count(2, 'backup'), offset: f.count(3, 'offset') };
    case 'tokenRevoke': {
      f.arity(5);
      const by = revokeByKinds[raw[2] as number];
      if (by === undefined) throw f.bad(`a revocation is by 0..${revokeByKinds.length - 1} (${revokeByKinds.join(', ')})`, raw[2]);
      const name = raw[3];
      if (typeof name !== 'string' || name.length === 0 || name.length > 256) throw f.bad(`a revocation names a ${by === 'sub' ? 'subject' : 'token id'} of 1 to 256 characters`, name);
      return { id, op, by, name, expMs: raw[4] === null ? null : f.count(4, 'expMs') };
    }
    default: throw f.bad('unknown op', raw[1]);
  }
}

function decodeCompare(f: Fields): Compare {
  f.arity(4);
  const key = f.key(0);
  const target = compareTargets[f.raw(1) as number];
  const op = compareOps[f.raw(2) as number];
  if (target === undefined) throw f.bad(`a compare's target must be 0..${compareTargets.length - 1} (${compareTargets.join(', ')})`, f.raw(1));
  if (op === undefined) throw f.bad(`a compare's operator must be 0..${compareOps.length - 1} (${compareOps.join(' ')})`, f.raw(2));
  if (target === 'value') return { key, target, op, value: f.value(3) };
  return { key, target, op, value: f.count(3, `a ${target} compare's operand`) };
}

function decodeTxnOp(f: Fields): TxnOp {
  const op = txnOpNames[f.raw(0) as number];
  switch (op) {
    case 'put': f.arity(4); return { op, key: f.key(1), value: f.value(2), lease: f.count(3, 'lease') };
    case 'delete': case 'get': f.arity(2); return { op, key: f.key(1) };
    case 'deleteRange': f.arity(3); return { op, start: f.key(1, 'start'), end: f.optKey(2, 'end') };
    case 'range': f.arity(4); return { op, start: f.key(1, 'start'), end: f.optKey(2, 'end'), limit: f.limit(3) ?? 0 };
    default: throw f.bad(`a txn operation must start with 0..${txnOpNames.length - 1} (${txnOpNames.join(', ')})`, f.raw(0));
  }
}

/** Message types a fault may hold back (snapshots travel by their own stream: not these). */
const messageTypes: ReadonlySet<string> = new Set<MessageType>([
  'app', 'appResp', 'hb', 'hbResp', 'vote', 'preVote', 'voteResp', 'preVoteResp', 'timeoutNow', 'readIndex', 'readIndexResp',
]);

function faultDelays(f: Fields, raw: unknown): FaultDelay[] {
  if (!Array.isArray(raw) || raw.length > messageTypes.size) throw f.bad(`delays must be a list of at most ${messageTypes.size} [type, ms] pairs`, raw);
  return raw.map((d: unknown) => {
    if (!Array.isArray(d) || d.length !== 2) throw f.bad('a delay must be [message type, ms]', d);
    const [type, ms] = d as [unknown, unknown];
    if (typeof type !== 'string' || !messageTypes.has(type)) throw f.bad(`a delay's type must be one of ${[...messageTypes].join(', ')}`, type);
    if (typeof ms !== 'number' || !Number.isInteger(ms) || ms < 0 || ms > faultDelayMsMax) throw f.bad(`a delay must be an integer number of ms in [0, ${faultDelayMsMax}]`, ms);
    return { type: type as MessageType, ms };
  });
}

/** What each role may ask. Learners read; readers read; clients also write; admins do all. */
export function allowed(role: PeerRole | TokenRole, op: RequestOp): boolean {
  switch (op) {
    case 'get': case 'scan': case 'status': case 'range': case 'watch': case 'watchCancel': case 'leaseInfo': return true;
    case 'put': case 'delete': case 'cas': case 'register': case 'deleteRange': case 'txn': case 'leaseGrant': case 'leaseRevoke': case 'leaseKeepAlive':
      return role === 'client' || role === 'admin' || role === 'peer';
    case 'members': case 'transfer': case 'fault': case 'compact': case 'backup': case 'tokenRevoke': return role === 'admin' || role === 'peer';
  }
}

// ---- responses ----------------------------------------------------------------------------

export function encodeResponse(r: Response): Uint8Array {
  if (!r.ok) {
    const e = r.error;
    const head: unknown[] = [r.id, 1, e.code, e.message, e.leader?.id ?? null, e.leader?.url ?? null];
    if (e.detail !== undefined) head.push([e.detail.compactRevision ?? 0, e.detail.revision ?? 0]);
    return toBytes(encoder.encode(head));
  }
  const b = r.reply;
  switch (b.kind) {
    case 'write': return toBytes(encoder.encode([r.id, 0, b.index, b.flag]));
    case 'read': return toBytes(encoder.encode([r.id, 0, b.index, readPaths.indexOf(b.path), b.value]));
    case 'scan': return toBytes(encoder.encode([r.id, 0, b.index, readPaths.indexOf(b.path), b.pairs]));
    case 'register': return toBytes(encoder.encode([r.id, 0, b.client]));
    case 'info': return toBytes(encoder.encode([r.id, 0, b.info]));
    case 'range': return toBytes(encoder.encode([r.id, 0, b.index, readPaths.indexOf(b.path), b.kvs.map(wireKv), b.more]));
    case 'deleted': return toBytes(encoder.encode([r.id, 0, b.index, b.deleted]));
    case 'txn': return toBytes(encoder.encode([r.id, 0, b.index, b.succeeded, b.results.map(wireTxnResult)]));
    case 'lease': return toBytes(encoder.encode([r.id, 0, b.index, b.lease, b.ttlMs]));
    case 'leaseInfo': return toBytes(encoder.encode([r.id, 0, b.index, b.lease, b.ttlMs, b.remainingMs, b.keys.map(wk)]));
    case 'watch': return toBytes(encoder.encode([r.id, 0, b.revision, b.batches.map((x) => [x.revision, x.events.map(wireEvent)])]));
    case 'compact': return toBytes(encoder.encode([r.id, 0, b.index, b.compactRevision]));
    case 'backup': return toBytes(encoder.encode([r.id, 0, b.backup, b.cluster, b.mode, b.index, b.term, b.size, b.offset, b.chunk]));
  }
}

/**
 * Decodes an answer to a request of kind `op` (the client looks it up by id first, via
 * responseId). Members are trusted less than nothing: a malformed answer throws ProtocolError.
 */
export function decodeResponse(raw: readonly unknown[], op: RequestOp): Response {
  const id = raw[0] as number;
  const bad = (what: string): ProtocolError => new ProtocolError(id, `answer to request ${id}: ${what}`);
  if (raw[1] === 1) {
    const [, , code, message, leaderId, leaderUrl] = raw;
    if (typeof code !== 'string' || typeof message !== 'string') throw bad('malformed error');
    if (!(errorCodes as readonly string[]).includes(code)) throw bad(`unknown error code ${JSON.stringify(code.slice(0, 40))}`);
    const leader = typeof leaderId === 'string' ? { id: leaderId, url: typeof leaderUrl === 'string' ? leaderUrl : null } : null;
    const d = raw[6];
    if (d !== undefined) {
      if (!Array.isArray(d) || !isId(d[0]) || !isId(d[1])) throw bad('malformed error detail');
      return { id, ok: false, error: { code: code as ErrorCode, message, leader, detail: { compactRevision: d[0], revision: d[1] } } };
    }
    return { id, ok: false, error: { code: code as ErrorCode, message, leader } };
  }
  if (raw[1] !== 0) throw bad('status must be 0 or 1');
  const value = (v: unknown): Value | null => {
    if (v === null || v === undefined || typeof v === 'string') return v ?? null;
    if (v instanceof Uint8Array) return toBytes(v);
    throw bad('value must be a string, bytes or null');
  };
  switch (op) {
    case 'put': case 'delete': case 'cas': {
      if (!isId(raw[2])) throw bad('index must be a safe integer');
      const flag = raw[3];
      return { id, ok: true, reply: { kind: 'write', index: raw[2], flag: typeof flag === 'boolean' ? flag : null } };
    }
    case 'get': case 'scan': {
      const path = readPaths[raw[3] as number];
      if (!isId(raw[2]) || path === undefined) throw bad('index and path must be valid');
      if (op === 'get') return { id, ok: true, reply: { kind: 'read', index: raw[2], path, value: value(raw[4]) } };
      if (!Array.isArray(raw[4])) throw bad('pairs must be an array');
      const pairs = (raw[4] as unknown[]).map((p) => {
        if (!Array.isArray(p) || typeof p[0] !== 'string') throw bad('each pair must be [key, value]');
        return [p[0], value(p[1]) as Value] as const;
      });
      return { id, ok: true, reply: { kind: 'scan', index: raw[2], path, pairs } };
    }
    case 'register':
      if (!isId(raw[2])) throw bad('client must be a safe integer');
      return { id, ok: true, reply: { kind: 'register', client: raw[2] } };
    case 'status': case 'members': case 'transfer': case 'fault': case 'watchCancel': case 'tokenRevoke':
      return { id, ok: true, reply: { kind: 'info', info: raw[2] } };
    case 'range': {
      const path = readPaths[raw[3] as number];
      if (!isId(raw[2]) || path === undefined || !Array.isArray(raw[4]) || typeof raw[5] !== 'boolean') throw bad('a range answer must be [index, path, kvs, more]');
      return { id, ok: true, reply: { kind: 'range', index: raw[2], path, kvs: (raw[4] as unknown[]).map((x) => readKv(x, bad)), more: raw[5] } };
    }
    case 'deleteRange':
      if (!isId(raw[2]) || !isId(raw[3])) throw bad('a deleteRange answer must be [index, deleted]');
      return { id, ok: true, reply: { kind: 'deleted', index: raw[2], deleted: raw[3] } };
    case 'txn': {
      if (!isId(raw[2]) || typeof raw[3] !== 'boolean' || !Array.isArray(raw[4])) throw bad('a txn answer must be [index, succeeded, results]');
      return { id, ok: true, reply: { kind: 'txn', index: raw[2], succeeded: raw[3], results: (raw[4] as unknown[]).map((x) => readTxnResult(x, bad)) } };
    }
    case 'leaseGrant': case 'leaseKeepAlive':
      if (!isId(raw[2]) || !isId(raw[3]) || !isId(raw[4])) throw bad('a lease answer must be [index, lease, ttlMs]');
      return { id, ok: true, reply: { kind: 'lease', index: raw[2], lease: raw[3], ttlMs: raw[4] } };
    case 'leaseRevoke':
      if (!isId(raw[2]) || !isId(raw[3])) throw bad('a revoke answer must be [index, deleted]');
      return { id, ok: true, reply: { kind: 'deleted', index: raw[2], deleted: raw[3] } };
    case 'leaseInfo': {
      const [, , index, lease, ttlMs, remainingMs, keys] = raw;
      if (!isId(index) || !isId(lease) || !isId(ttlMs) || !(remainingMs === null || typeof remainingMs === 'number') || !Array.isArray(keys)) throw bad('a lease info answer must be [index, lease, ttlMs, remainingMs, keys]');
      return { id, ok: true, reply: { kind: 'leaseInfo', index, lease, ttlMs, remainingMs, keys: keys.map((k) => readKey(k, bad)) } };
    }
    case 'watch': {
      if (!isId(raw[2]) || !Array.isArray(raw[3])) throw bad('a watch answer must be [revision, batches]');
      const batches = (raw[3] as unknown[]).map((b): RevisionEvents => {
        if (!Array.isArray(b) || !isId(b[0]) || !Array.isArray(b[1])) throw bad('a watch batch must be [revision, events]');
        return { revision: b[0], events: (b[1] as unknown[]).map((e) => readEvent(e, bad)) };
      });
      return { id, ok: true, reply: { kind: 'watch', revision: raw[2], batches } };
    }
    case 'compact':
      if (!isId(raw[2]) || !isId(raw[3])) throw bad('a compact answer must be [index, compactRevision]');
      return { id, ok: true, reply: { kind: 'compact', index: raw[2], compactRevision: raw[3] } };
    case 'backup': {
      const [, , backup, cluster, mode, index, term, size, offset, chunk] = raw;
      if (!isId(backup) || typeof cluster !== 'string' || typeof mode !== 'string' || !isId(index) || !isId(term) || !isId(size) || !isId(offset) || !(chunk instanceof Uint8Array)) {
        throw bad('a backup answer must be [backup, cluster, mode, index, term, size, offset, chunk]');
      }
      if (offset + chunk.byteLength > size) throw bad(`backup chunk [${offset}, ${offset + chunk.byteLength}) runs past the snapshot's ${size} bytes`);
      return { id, ok: true, reply: { kind: 'backup', backup, cluster, mode, index, term, size, offset, chunk: toBytes(chunk) } };
    }
  }
}

type Bad = (what: string) => ProtocolError;

function readKey(k: unknown, bad: Bad): ByteKey {
  if (typeof k === 'string') return byteKey(k);
  if (k instanceof Uint8Array) return byteKey(toBytes(k));
  throw bad('a key must be a string or bytes');
}

function readValue(v: unknown, bad: Bad): Value {
  if (typeof v === 'string') return v;
  if (v instanceof Uint8Array) return toBytes(v);
  throw bad('a value must be a string or bytes');
}

function readKv(x: unknown, bad: Bad): KeyValue {
  if (!Array.isArray(x) || x.length !== 6 || !isId(x[2]) || !isId(x[3]) || !isId(x[4]) || !isId(x[5])) throw bad('a key-value must be [key, value, createRevision, modRevision, version, lease]');
  return { key: readKey(x[0], bad), value: readValue(x[1], bad), createRevision: x[2], modRevision: x[3], version: x[4], lease: x[5] };
}

function readEvent(x: unknown, bad: Bad): KvEvent {
  if (!Array.isArray(x) || x.length !== 3 || (x[0] !== 0 && x[0] !== 1)) throw bad('an event must be [type, kv, prev]');
  return { type: x[0] === 0 ? 'put' : 'delete', kv: readKv(x[1], bad), prev: x[2] === null ? null : readKv(x[2], bad) };
}

function readTxnResult(x: unknown, bad: Bad): TxnOpResult {
  if (!Array.isArray(x)) throw bad('a txn result must be a list');
  switch (x[0]) {
    case 0: return { op: 'put' };
    case 1: if (!isId(x[1])) throw bad('a delete result must be [1, deleted]'); return { op: 'delete', deleted: x[1] };
    case 2: if (!isId(x[1])) throw bad('a deleteRange result must be [2, deleted]'); return { op: 'deleteRange', deleted: x[1] };
    case 3: return { op: 'get', kv: x[1] === null ? null : readKv(x[1], bad) };
    case 4:
      if (!Array.isArray(x[1]) || typeof x[2] !== 'boolean') throw bad('a range result must be [4, kvs, more]');
      return { op: 'range', kvs: (x[1] as unknown[]).map((k) => readKv(k, bad)), more: x[2] };
    default: throw bad('unknown txn result kind');
  }
}

/** Decodes the outer array of an answer and returns it with its id, for the client to route. */
export function decodeResponseHead(payload: Uint8Array): readonly unknown[] {
  let raw: unknown;
  try {
    raw = decoder.decode(payload);
  } catch {
    throw new ProtocolError(-1, `answer of ${payload.byteLength} bytes is not valid CBOR`);
  }
  if (!Array.isArray(raw) || raw.length < 3 || !isId(raw[0])) throw new ProtocolError(-1, 'answer must be [id, status, ...]');
  return raw;
}
