// The key-value commands replicated through the log, and their binary encoding. Each entry carries
// one command stamped with the leader's clock (log time, for deterministic session expiry) and,
// for exactly-once writes, the client's session and sequence number.

import { ByteReader, ByteWriter, utf8Length } from './bytes.ts';

export type Value = string | Uint8Array;

export type KvCommand =
  | { readonly op: 'put'; readonly key: string; readonly value: Value }
  | { readonly op: 'delete'; readonly key: string }
  | { readonly op: 'cas'; readonly key: string; readonly expected: Value | null; readonly value: Value }
  /** Opens a client session (Raft dissertation, section 6.3); its id is the entry's index. */
  | { readonly op: 'register' };

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

const OP = { put: 1, delete: 2, cas: 3, register: 4 } as const;
const FLAG_SESSION = 1;
const FLAG_VALUE_BYTES = 2;
const FLAG_EXPECTED = 4;
const FLAG_EXPECTED_BYTES = 8;
const FORMAT = 1;

function writeValue(w: ByteWriter, v: Value): void {
  if (typeof v === 'string') w.str(v);
  else w.bytes(v);
}

export function encodeCommand(env: CommandEnvelope): Uint8Array {
  const c = env.cmd;
  let flags = env.session !== null ? FLAG_SESSION : 0;
  if ((c.op === 'put' || c.op === 'cas') && typeof c.value !== 'string') flags |= FLAG_VALUE_BYTES;
  if (c.op === 'cas' && c.expected !== null) {
    flags |= FLAG_EXPECTED;
    if (typeof c.expected !== 'string') flags |= FLAG_EXPECTED_BYTES;
  }
  // Sized exactly, so the command is written once with no growth and no final copy.
  let size = 3 + 8 + (env.session !== null ? 24 : 0);
  if (c.op !== 'register') size += sized(utf8Length(c.key));
  if (c.op === 'put' || c.op === 'cas') size += valueSize(c.value);
  if (c.op === 'cas' && c.expected !== null) size += valueSize(c.expected);
  const w = new ByteWriter(size);
  w.u8(FORMAT).u8(OP[c.op]).u8(flags).num(env.timeMs);
  if (env.session !== null) w.num(env.session.client).num(env.session.seq).num(env.session.firstUnacked);
  switch (c.op) {
    case 'put': w.str(c.key); writeValue(w, c.value); break;
    case 'delete': w.str(c.key); break;
    case 'cas':
      w.str(c.key);
      if (c.expected !== null) writeValue(w, c.expected);
      writeValue(w, c.value);
      break;
    case 'register': break;
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
  if (format !== FORMAT) throw new RangeError(`kv command: unknown format ${format}`);
  const op = r.u8();
  const flags = r.u8();
  const timeMs = r.num();
  const session = (flags & FLAG_SESSION) !== 0 ? { client: r.num(), seq: r.num(), firstUnacked: r.num() } : null;
  const value = (bytesFlag: number): Value => ((flags & bytesFlag) !== 0 ? r.bytes().slice() : r.str());
  let cmd: KvCommand;
  switch (op) {
    case OP.put: cmd = { op: 'put', key: r.str(), value: value(FLAG_VALUE_BYTES) }; break;
    case OP.delete: cmd = { op: 'delete', key: r.str() }; break;
    case OP.cas: {
      const key = r.str();
      const expected = (flags & FLAG_EXPECTED) !== 0 ? value(FLAG_EXPECTED_BYTES) : null;
      cmd = { op: 'cas', key, expected, value: value(FLAG_VALUE_BYTES) };
      break;
    }
    case OP.register: cmd = { op: 'register' }; break;
    default: throw new RangeError(`kv command: unknown op ${op}`);
  }
  if (!r.done) throw new RangeError('kv command: trailing bytes');
  return { timeMs, session, cmd };
}

/** The keys a command writes (ParallelRaft's conflict sets). */
export function commandKeys(cmd: KvCommand): readonly string[] {
  return cmd.op === 'register' ? [] : [cmd.key];
}

/**
 * The conflict set of an encoded command for ParallelRaft (RaftOptions.keysOf): its key, plus its
 * client session (a session's commands keep log order among themselves); a registration may
 * sweep and evict every session, so it conflicts with everything (null), as does a command that
 * does not decode.
 */
export function kvKeysOf(data: Uint8Array): readonly string[] | null {
  let env: CommandEnvelope;
  try {
    env = decodeCommand(data);
  } catch {
    return null;
  }
  if (env.cmd.op === 'register') return null;
  return env.session === null ? [env.cmd.key] : [env.cmd.key, `\u0000session:${env.session.client}`];
}

export function valuesEqual(a: Value | undefined, b: Value | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  if (typeof a === 'string' || typeof b === 'string') return a === b;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
