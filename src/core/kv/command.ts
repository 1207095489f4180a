// The key-value commands replicated through the log, and their binary encoding. Each entry carries
// one command stamped with the leader's clock (log time, for deterministic session expiry) and,
// for exactly-once writes, the client's session and sequence number. Keys are byte strings
// (keys.ts). Format 3 adds the lease owner (the scoped token subject that granted it) and token
// revocations; format 2 added transactions, range deletes, leases and compaction; format 1
// entries (string keys; put, delete, cas, register) and format 2 entries still decode.

import { ByteReader, ByteWriter, utf8Length } from './bytes.ts';
import { byteKey, type ByteKey } from './keys.ts';
import { revokeByKinds, type RevokeBy } from './revocations.ts';

export type Value = string | Uint8Array;

export type CompareOp = '=' | '!=' | '<' | '>';
export const compareOps: readonly CompareOp[] = ['=', '!=', '<', '>'];
export type CompareTarget = 'value' | 'version' | 'createRevision' | 'modRevision' | 'lease';
export const compareTargets: readonly CompareTarget[] = ['value', 'version', 'createRevision', 'modRevision', 'lease'];

/**
 * One condition of a transaction, on one key. A missing key has version, createRevision,
 * modRevision and lease 0, and no value: a value compare on it holds only for '!='.
 */
export type Compare<K = ByteKey> =
  | { readonly key: K; readonly target: 'value'; readonly op: CompareOp; readonly value: Value }
  | { readonly key: K; readonly target: Exclude<CompareTarget, 'value'>; readonly op: CompareOp; readonly value: number };

/** One operation of a transaction's branch. Ranges are [start, end), end null: to the last key. */
export type TxnOp =
  | { readonly op: 'put'; readonly key: ByteKey; readonly value: Value; readonly lease?: number }
  | { readonly op: 'delete'; readonly key: ByteKey }
  | { readonly op: 'deleteRange'; readonly start: ByteKey; readonly end: ByteKey | null }
  | { readonly op: 'get'; readonly key: ByteKey }
  /** limit 0: no limit. */
  | { readonly op: 'range'; readonly start: ByteKey; readonly end: ByteKey | null; readonly limit: number };

export type KvCommand =
  /** lease: attach the key to this lease (0 or absent: none; the key then outlives any lease). */
  | { readonly op: 'put'; readonly key: ByteKey; readonly value: Value; readonly lease?: number }
  | { readonly op: 'delete'; readonly key: ByteKey }
  | { readonly op: 'cas'; readonly key: ByteKey; readonly expected: Value | null; readonly value: Value }
  | { readonly op: 'deleteRange'; readonly start: ByteKey; readonly end: ByteKey | null }
  | { readonly op: 'txn'; readonly compare: readonly Compare[]; readonly success: readonly TxnOp[]; readonly failure: readonly TxnOp[] }
  /**
   * id 0: the lease's id is the entry's index. owner: the subject of the scoped token that granted
   * it (absent or '': none, as for every grant before format 3); only it may use the lease
   * (server/authorize.ts).
   */
  | { readonly op: 'leaseGrant'; readonly id: number; readonly ttlMs: number; readonly owner?: string }
  | { readonly op: 'leaseRevoke'; readonly id: number }
  /**
   * Proposed by the leader when a lease's time ran out on its clock (lessor.ts), never by clients.
   * `term`: the term of the leader that proposed it; void when applied after a later leader's
   * leaseEpoch (that leader may have renewed the lease since). Absent: 0.
   */
  | { readonly op: 'leaseExpire'; readonly id: number; readonly term?: number }
  /**
   * Proposed by a new leader before it renews or expires any lease: from here on, an expiry
   * proposed in an earlier term is void. ParallelRaft's Merge stage can commit an old leader's
   * expiry long after a newer leader renewed the lease; this orders the two.
   */
  | { readonly op: 'leaseEpoch'; readonly term: number }
  /** Forget watch history up to and including `revision`. */
  | { readonly op: 'compact'; readonly revision: number }
  /** Opens a client session (Raft dissertation, section 6.3); its id is the entry's index. */
  | { readonly op: 'register' }
  /**
   * Revokes a token subject's tokens issued at or before revokedAtMs, or one token by its id;
   * kept until untilMs (log time), when every token it covers has expired (revocations.ts).
   */
  | { readonly op: 'tokenRevoke'; readonly by: RevokeBy; readonly name: string; readonly revokedAtMs: number; readonly untilMs: number };

export type KvOp = KvCommand['op'];

export interface SessionRef {
  readonly client: number;
  readonly seq: number;
  /** Every sequence number below this one has been answered to the client: forget their results. */
  readonly firstUnacked: number;
}

export interface CommandEnvelope {
  /** The proposing leader's wall clock, in ms: the log's notion of time. */
  readonly timeMs: number;
  readonly session: SessionRef | null;
  readonly cmd: KvCommand;
}

const OP: Readonly<Record<KvOp, number>> = {
  put: 1, delete: 2, cas: 3, register: 4, deleteRange: 5, txn: 6, leaseGrant: 7, leaseRevoke: 8, leaseExpire: 9, compact: 10, leaseEpoch: 11,
  tokenRevoke: 12,
};
const OPS: readonly (KvOp | undefined)[] = [
  undefined, 'put', 'delete', 'cas', 'register', 'deleteRange', 'txn', 'leaseGrant', 'leaseRevoke', 'leaseExpire', 'compact', 'leaseEpoch', 'tokenRevoke',
];
const TXN_OPS: readonly TxnOp['op'][] = ['put', 'delete', 'deleteRange', 'get', 'range'];
const FLAG_SESSION = 1;
const FLAG_VALUE_BYTES = 2;
const FLAG_EXPECTED = 4;
const FLAG_EXPECTED_BYTES = 8;
const FLAG_LEASE = 16;
/**
 * Format 1: string keys, four commands. Format 2: byte keys, every command above but tokenRevoke.
 * Format 3: format 2 with the lease grant's owner, and tokenRevoke; only those are written in it.
 * Put and delete are laid out alike in formats 2 and 3 (putOrDeleteKeys reads both).
 */
const FORMAT = 3;

function writeValue(w: ByteWriter, v: Value): void {
  if (typeof v === 'string') w.str(v);
  else w.bytes(v);
}

function writeTagged(w: ByteWriter, v: Value): void {
  if (typeof v === 'string') w.u8(0).str(v);
  else w.u8(1).bytes(v);
}

function readTagged(r: ByteReader): Value {
  const t = r.u8();
  if (t === 0) return r.str();
  if (t === 1) return r.bytes().slice();
  throw new RangeError(`kv command: unknown value tag ${t}`);
}

function writeEnd(w: ByteWriter, end: ByteKey | null): void {
  if (end === null) w.u8(0);
  else w.u8(1).bin(end);
}

function readEnd(r: ByteReader): ByteKey | null {
  const t = r.u8();
  if (t === 0) return null;
  if (t === 1) return r.bin();
  throw new RangeError(`kv command: unknown range end tag ${t}`);
}

function writeTxnOp(w: ByteWriter, o: TxnOp): void {
  w.u8(TXN_OPS.indexOf(o.op));
  switch (o.op) {
    case 'put': w.bin(o.key); writeTagged(w, o.value); w.num(o.lease ?? 0); break;
    case 'delete': case 'get': w.bin(o.key); break;
    case 'deleteRange': w.bin(o.start); writeEnd(w, o.end); break;
    case 'range': w.bin(o.start); writeEnd(w, o.end); w.num(o.limit); break;
  }
}

function readTxnOp(r: ByteReader): TxnOp {
  const op = TXN_OPS[r.u8()];
  switch (op) {
    case 'put': {
      const key = r.bin();
      const value = readTagged(r);
      const lease = r.num();
      return lease === 0 ? { op, key, value } : { op, key, value, lease };
    }
    case 'delete': case 'get': return { op, key: r.bin() };
    case 'deleteRange': return { op, start: r.bin(), end: readEnd(r) };
    case 'range': return { op, start: r.bin(), end: readEnd(r), limit: r.num() };
  }
  throw new RangeError('kv command: unknown txn operation');
}

function writeCompare(w: ByteWriter, c: Compare): void {
  w.bin(c.key).u8(compareTargets.indexOf(c.target)).u8(compareOps.indexOf(c.op));
  if (c.target === 'value') writeTagged(w, c.value);
  else w.num(c.value);
}

function readCompare(r: ByteReader): Compare {
  const key = r.bin();
  const target = compareTargets[r.u8()];
  const op = compareOps[r.u8()];
  if (target === undefined || op === undefined) throw new RangeError('kv command: unknown compare target or operator');
  return target === 'value' ? { key, target, op, value: readTagged(r) } : { key, target, op, value: r.num() };
}

export function encodeCommand(env: CommandEnvelope): Uint8Array {
  const c = env.cmd;
  let flags = env.session !== null ? FLAG_SESSION : 0;
  if ((c.op === 'put' || c.op === 'cas') && typeof c.value !== 'string') flags |= FLAG_VALUE_BYTES;
  if (c.op === 'cas' && c.expected !== null) {
    flags |= FLAG_EXPECTED;
    if (typeof c.expected !== 'string') flags |= FLAG_EXPECTED_BYTES;
  }
  if (c.op === 'put' && c.lease !== undefined && c.lease !== 0) flags |= FLAG_LEASE;
  // The hot commands are sized exactly, so they are written once with no growth and no copy.
  let size = 3 + 8 + (env.session !== null ? 24 : 0);
  if (c.op === 'put' || c.op === 'delete' || c.op === 'cas') size += sized(c.key.length);
  if (c.op === 'put' || c.op === 'cas') size += valueSize(c.value);
  if (c.op === 'cas' && c.expected !== null) size += valueSize(c.expected);
  if ((flags & FLAG_LEASE) !== 0) size += 8;
  const w = new ByteWriter(size);
  // Format 2 where it suffices, so members of the previous version still read every entry but
  // the new kinds (a mixed cluster during a rolling upgrade).
  const format = c.op === 'tokenRevoke' || (c.op === 'leaseGrant' && (c.owner ?? '') !== '') ? FORMAT : 2;
  w.u8(format).u8(OP[c.op]).u8(flags).num(env.timeMs);
  if (env.session !== null) w.num(env.session.client).num(env.session.seq).num(env.session.firstUnacked);
  switch (c.op) {
    case 'put':
      w.bin(c.key);
      writeValue(w, c.value);
      if ((flags & FLAG_LEASE) !== 0) w.num(c.lease!);
      break;
    case 'delete': w.bin(c.key); break;
    case 'cas':
      w.bin(c.key);
      if (c.expected !== null) writeValue(w, c.expected);
      writeValue(w, c.value);
      break;
    case 'deleteRange': w.bin(c.start); writeEnd(w, c.end); break;
    case 'txn':
      w.varint(c.compare.length);
      for (const x of c.compare) writeCompare(w, x);
      w.varint(c.success.length);
      for (const o of c.success) writeTxnOp(w, o);
      w.varint(c.failure.length);
      for (const o of c.failure) writeTxnOp(w, o);
      break;
    case 'leaseGrant':
      w.num(c.id).num(c.ttlMs);
      if (format === FORMAT) w.str(c.owner!);
      break;
    case 'leaseRevoke': w.num(c.id); break;
    case 'leaseExpire': w.num(c.id).num(c.term ?? 0); break;
    case 'leaseEpoch': w.num(c.term); break;
    case 'compact': w.num(c.revision); break;
    case 'register': break;
    case 'tokenRevoke': w.u8(revokeByKinds.indexOf(c.by)).str(c.name).num(c.revokedAtMs).num(c.untilMs); break;
  }
  return w.finish();
}

/** Bytes of a length-prefixed field of `n` bytes (LEB128 length). */
function sized(n: number): number {
  let prefix = 1;
  for (let v = n; v >= 0x80; v = Math.floor(v / 0x80)) prefix++;
  return prefix + n;
}

function valueSize(v: Value): number {
  return sized(typeof v === 'string' ? utf8Length(v) : v.length);
}

export function decodeCommand(data: Uint8Array): CommandEnvelope {
  const r = new ByteReader(data, 'kv command');
  const format = r.u8();
  if (format < 1 || format > FORMAT) throw new RangeError(`kv command: unknown format ${format} (this version reads 1 to ${FORMAT})`);
  const op = OPS[r.u8()];
  const flags = r.u8();
  const timeMs = r.num();
  const session = (flags & FLAG_SESSION) !== 0 ? { client: r.num(), seq: r.num(), firstUnacked: r.num() } : null;
  const value = (bytesFlag: number): Value => ((flags & bytesFlag) !== 0 ? r.bytes().slice() : r.str());
  // Format 1 wrote keys as UTF-8 strings; their bytes are the same, read as a byte string.
  const key = (): ByteKey => (format === 1 ? byteKey(r.str()) : r.bin());
  if (op === undefined) throw new RangeError('kv command: unknown op');
  if (format === 1 && op !== 'put' && op !== 'delete' && op !== 'cas' && op !== 'register') throw new RangeError(`kv command: op ${op ?? 'unknown'} in a format 1 command`);
  if (format < 3 && op === 'tokenRevoke') throw new RangeError(`kv command: op ${op} in a format ${format} command`);
  let cmd: KvCommand;
  switch (op) {
    case 'put': {
      const k = key();
      const v = value(FLAG_VALUE_BYTES);
      cmd = (flags & FLAG_LEASE) !== 0 ? { op, key: k, value: v, lease: r.num() } : { op, key: k, value: v };
      break;
    }
    case 'delete': cmd = { op, key: key() }; break;
    case 'cas': {
      const k = key();
      const expected = (flags & FLAG_EXPECTED) !== 0 ? value(FLAG_EXPECTED_BYTES) : null;
      cmd = { op, key: k, expected, value: value(FLAG_VALUE_BYTES) };
      break;
    }
    case 'deleteRange': cmd = { op, start: r.bin(), end: readEnd(r) }; break;
    case 'txn': {
      const compare: Compare[] = [];
      for (let n = r.varint(); n > 0; n--) compare.push(readCompare(r));
      const success: TxnOp[] = [];
      for (let n = r.varint(); n > 0; n--) success.push(readTxnOp(r));
      const failure: TxnOp[] = [];
      for (let n = r.varint(); n > 0; n--) failure.push(readTxnOp(r));
      cmd = { op, compare, success, failure };
      break;
    }
    case 'leaseGrant': {
      const id = r.num();
      const ttlMs = r.num();
      const owner = format >= 3 ? r.str() : '';
      cmd = owner === '' ? { op, id, ttlMs } : { op, id, ttlMs, owner };
      break;
    }
    case 'leaseRevoke': cmd = { op, id: r.num() }; break;
    case 'leaseExpire': {
      const id = r.num();
      const term = r.num();
      cmd = term === 0 ? { op, id } : { op, id, term };
      break;
    }
    case 'leaseEpoch': cmd = { op, term: r.num() }; break;
    case 'compact': cmd = { op, revision: r.num() }; break;
    case 'register': cmd = { op }; break;
    case 'tokenRevoke': {
      const by = revokeByKinds[r.u8()];
      if (by === undefined) throw new RangeError('kv command: unknown revocation kind');
      cmd = { op, by, name: r.str(), revokedAtMs: r.num(), untilMs: r.num() };
      break;
    }
    case undefined: throw new RangeError('kv command: unknown op');
  }
  if (!r.done) throw new RangeError('kv command: trailing bytes');
  return { timeMs, session, cmd };
}

/** The conflict key of a lease: commands that attach keys to it, grant or revoke it share it. */
export function leaseConflictKey(id: number): string {
  return `\u0000lease:${id}`;
}

/**
 * The keys a command touches, for ParallelRaft's conflict sets: every key it reads or writes, and
 * the leases it attaches to. null: the command's keys are not known before it runs (a range, a
 * lease revoke or expiry deletes keys found only then; a grant with an id chosen at apply; a
 * compaction; a registration, which may evict any session), so it conflicts with everything.
 */
export function commandKeys(cmd: KvCommand): string[] | null {
  switch (cmd.op) {
    case 'put': return cmd.lease !== undefined && cmd.lease !== 0 ? [cmd.key, leaseConflictKey(cmd.lease)] : [cmd.key];
    case 'delete': case 'cas': return [cmd.key];
    case 'txn': {
      const keys = new Set<string>();
      for (const c of cmd.compare) keys.add(c.key);
      for (const o of [...cmd.success, ...cmd.failure]) {
        if (o.op === 'deleteRange' || o.op === 'range') return null;
        keys.add(o.key);
        if (o.op === 'put' && o.lease !== undefined && o.lease !== 0) keys.add(leaseConflictKey(o.lease));
      }
      return [...keys];
    }
    case 'leaseGrant': return cmd.id === 0 ? null : [leaseConflictKey(cmd.id)];
    // A revocation conflicts with everything, so every replica applies it at the same point of
    // the log relative to the requests it refuses.
    case 'deleteRange': case 'leaseRevoke': case 'leaseExpire': case 'leaseEpoch': case 'compact': case 'register': case 'tokenRevoke': return null;
  }
}

/**
 * The conflict set of an encoded command for ParallelRaft (RaftOptions.keysOf): its keys, plus its
 * client session (a session's commands keep log order among themselves); null (everything) when
 * commandKeys says so, and for a command that does not decode.
 */
export function kvKeysOf(data: Uint8Array): readonly string[] | null {
  const quick = putOrDeleteKeys(data);
  if (quick !== undefined) return quick;
  let env: CommandEnvelope;
  try {
    env = decodeCommand(data);
  } catch {
    return null;
  }
  const keys = commandKeys(env.cmd);
  if (keys === null) return null;
  if (env.session !== null) keys.push(`\u0000session:${env.session.client}`);
  return keys;
}

/**
 * kvKeysOf for a put or delete (most of a write load) without decoding the value: the leader runs
 * it on every proposal. Undefined for any other command (the full decode decides), and for bytes
 * that do not read as one: the full decode then fails and says "everything".
 */
function putOrDeleteKeys(data: Uint8Array): string[] | undefined {
  if (data.length < 11 || (data[0] !== FORMAT && data[0] !== 2)) return undefined;
  const op = OPS[data[1]!];
  if (op !== 'put' && op !== 'delete') return undefined;
  try {
    const r = new ByteReader(data, 'kv command');
    r.u8();
    r.u8();
    const flags = r.u8();
    r.num();
    let client: number | null = null;
    if ((flags & FLAG_SESSION) !== 0) {
      client = r.num();
      r.num();
      r.num();
    }
    const keys = [r.bin()];
    if (op === 'put') {
      r.bytes(); // the value, as a string or bytes: the same framing, skipped unread
      const lease = (flags & FLAG_LEASE) !== 0 ? r.num() : 0;
      if (lease !== 0) keys.push(leaseConflictKey(lease));
    }
    if (!r.done) return undefined;
    if (client !== null) keys.push(`\u0000session:${client}`);
    return keys;
  } catch {
    return undefined;
  }
}

export function valuesEqual(a: Value | undefined, b: Value | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  if (typeof a === 'string' || typeof b === 'string') return a === b;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Orders two values bytewise (a string by its UTF-8 bytes), for '<' and '>' compares: -1, 0 or 1.
 */
export function compareValues(a: Value, b: Value): number {
  const x = byteKey(a);
  const y = byteKey(b);
  return x < y ? -1 : x > y ? 1 : 0;
}
