// The client protocol: requests a client sends to any member over the rpc channel and the
// answers it gets, as positional CBOR arrays (fast to decode, no room for unknown keys). Every
// decoded request is validated here before a member acts on it; what a role may ask is here too.

import { Decoder, Encoder } from 'cbor-x';
import { CodedError } from '../core/coded-error.ts';
import type { SessionRef, Value } from '../core/kv/command.ts';
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

export type Request =
  | { readonly id: number; readonly op: 'put'; readonly key: string; readonly value: Value; readonly session: SessionRef | null }
  | { readonly id: number; readonly op: 'delete'; readonly key: string; readonly session: SessionRef | null }
  | { readonly id: number; readonly op: 'cas'; readonly key: string; readonly expected: Value | null; readonly value: Value; readonly session: SessionRef | null }
  | { readonly id: number; readonly op: 'get'; readonly key: string; readonly consistency: Consistency }
  | { readonly id: number; readonly op: 'scan'; readonly prefix: string | null; readonly start: string | null; readonly end: string | null; readonly limit: number | null; readonly consistency: Consistency }
  | { readonly id: number; readonly op: 'register' }
  | { readonly id: number; readonly op: 'status' }
  | { readonly id: number; readonly op: 'members'; readonly action: MembersAction; readonly node: string | null; readonly url: string | null }
  | { readonly id: number; readonly op: 'transfer'; readonly to: string }
  /**
   * Fault injection (peers started with --faults only): drop all Raft traffic with these members,
   * and hold back the Raft messages of the listed types this member sends by their delay.
   */
  | { readonly id: number; readonly op: 'fault'; readonly block: readonly string[]; readonly delays: readonly FaultDelay[] };

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
};
const opsByCode: readonly (RequestOp | undefined)[] = [undefined, 'put', 'delete', 'cas', 'get', 'scan', 'register', 'status', 'members', 'transfer', 'fault'];

/** The answer's body, by the request's op (the client knows which op each id was). */
export type Reply =
  | { readonly kind: 'write'; readonly index: number; readonly flag: boolean | null }
  | { readonly kind: 'read'; readonly index: number; readonly path: ReadPath; readonly value: Value | null }
  | { readonly kind: 'scan'; readonly index: number; readonly path: ReadPath; readonly pairs: ReadonlyArray<readonly [string, Value]> }
  | { readonly kind: 'register'; readonly client: number }
  | { readonly kind: 'info'; readonly info: unknown };

export const errorCodes = [
  'ERR_NOT_LEADER', 'ERR_UNAVAILABLE', 'ERR_FORBIDDEN', 'ERR_BAD_REQUEST', 'ERR_TIMEOUT',
  'ERR_SESSION_EXPIRED', 'ERR_SESSION_STALE', 'ERR_OUTCOME_UNKNOWN', 'ERR_TOO_LARGE', 'ERR_BUSY', 'ERR_LEASE_UNAVAILABLE',
  'ERR_PROPOSAL_DROPPED', 'ERR_CONF_CHANGE', 'ERR_INTERNAL',
] as const;

export type ErrorCode = (typeof errorCodes)[number];

export interface ErrorReply {
  readonly code: ErrorCode;
  readonly message: string;
  /** Where to go instead (the leader, if known). */
  readonly leader: { readonly id: string; readonly url: string | null } | null;
}

export type Response =
  | { readonly id: number; readonly ok: true; readonly reply: Reply }
  | { readonly id: number; readonly ok: false; readonly error: ErrorReply };

export interface ProtocolLimits {
  /** Longest key, in UTF-16 code units. */
  readonly keyLengthMax: number;
  /** Largest value, in bytes (strings: code units x 3). */
  readonly valueBytesMax: number;
  /** Most pairs a scan returns. */
  readonly scanLimitMax: number;
}

export const protocolDefaults: ProtocolLimits = {
  keyLengthMax: 4096,
  valueBytesMax: 1024 * 1024,
  scanLimitMax: 10_000,
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

export function encodeRequest(id: number, r: RequestBody): Uint8Array {
  const code = opCodes[r.op];
  switch (r.op) {
    case 'put': return toBytes(encoder.encode([id, code, r.key, r.value, session(r.session)]));
    case 'delete': return toBytes(encoder.encode([id, code, r.key, session(r.session)]));
    case 'cas': return toBytes(encoder.encode([id, code, r.key, r.expected, r.value, session(r.session)]));
    case 'get': return toBytes(encoder.encode([id, code, r.key, consistencies.indexOf(r.consistency)]));
    case 'scan': return toBytes(encoder.encode([id, code, r.prefix, r.start, r.end, r.limit, consistencies.indexOf(r.consistency)]));
    case 'register': case 'status': return toBytes(encoder.encode([id, code]));
    case 'members': return toBytes(encoder.encode([id, code, membersActions.indexOf(r.action), r.node, r.url]));
    case 'transfer': return toBytes(encoder.encode([id, code, r.to]));
    case 'fault': return toBytes(encoder.encode(r.delays.length === 0 ? [id, code, r.block] : [id, code, r.block, r.delays.map((d) => [d.type, d.ms])]));
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
  key(i: number): string {
    const k = this.#a[i];
    if (typeof k !== 'string' || k.length > this.#limits.keyLengthMax) throw this.bad(`key must be a string of at most ${this.#limits.keyLengthMax} chars`, k);
    return k;
  }
  optString(i: number, what: string): string | null {
    const s = this.#a[i];
    if (s === null) return null;
    if (typeof s !== 'string' || s.length > this.#limits.keyLengthMax) throw this.bad(`${what} must be a string or null`, s);
    return s;
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
    case 'put': f.arity(5); return { id, op, key: f.key(2), value: f.value(3), session: f.session(4) };
    case 'delete': f.arity(4); return { id, op, key: f.key(2), session: f.session(3) };
    case 'cas': f.arity(6); return { id, op, key: f.key(2), expected: f.optValue(3), value: f.value(4), session: f.session(5) };
    case 'get': f.arity(4); return { id, op, key: f.key(2), consistency: f.consistency(3) };
    case 'scan':
      f.arity(7);
      return { id, op, prefix: f.optString(2, 'prefix'), start: f.optString(3, 'start'), end: f.optString(4, 'end'), limit: f.limit(5), consistency: f.consistency(6) };
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
    default: throw f.bad('unknown op', raw[1]);
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
    case 'get': case 'scan': case 'status': return true;
    case 'put': case 'delete': case 'cas': case 'register': return role === 'client' || role === 'admin' || role === 'peer';
    case 'members': case 'transfer': case 'fault': return role === 'admin' || role === 'peer';
  }
}

// ---- responses ----------------------------------------------------------------------------

export function encodeResponse(r: Response): Uint8Array {
  if (!r.ok) {
    const e = r.error;
    return toBytes(encoder.encode([r.id, 1, e.code, e.message, e.leader?.id ?? null, e.leader?.url ?? null]));
  }
  const b = r.reply;
  switch (b.kind) {
    case 'write': return toBytes(encoder.encode([r.id, 0, b.index, b.flag]));
    case 'read': return toBytes(encoder.encode([r.id, 0, b.index, readPaths.indexOf(b.path), b.value]));
    case 'scan': return toBytes(encoder.encode([r.id, 0, b.index, readPaths.indexOf(b.path), b.pairs]));
    case 'register': return toBytes(encoder.encode([r.id, 0, b.client]));
    case 'info': return toBytes(encoder.encode([r.id, 0, b.info]));
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
    case 'status': case 'members': case 'transfer': case 'fault':
      return { id, ok: true, reply: { kind: 'info', info: raw[2] } };
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
