// The sequential specification the checker linearizes against: per key, one register that is
// either absent or holds a value. Values are interned per key to small integers (0 = absent) so a
// model state is one number and a step is a switch, which keeps the search cheap.
//
// cas(key, expected, new): swaps when the key holds `expected`; `expected` missing or null means
// "the key is absent", so cas(k, null, v) is create-if-absent. An ok cas records result true/false;
// a cas with unknown outcome swaps or not according to the state where it lands, like the server.
import type { HistoryOp, Value } from './history.ts';

export const ABSENT = 0;
/** Returned by applyOp when the op cannot take effect in this state. */
export const REJECTED = -1;

export const OP_PUT = 0;
export const OP_DELETE = 1;
export const OP_GET = 2;
export const OP_CAS_TRUE = 3;
export const OP_CAS_FALSE = 4;
/** A cas whose outcome is unknown: it swaps if it lands where the key holds `expected`. */
export const OP_CAS_MAYBE = 5;
export type OpCode = 0 | 1 | 2 | 3 | 4 | 5;

/** One op of one key, compiled for the search. */
export interface KeyOp {
  /** Position of the op in the checked history array, for reports. */
  readonly index: number;
  readonly code: OpCode;
  /** put/cas: id of the value written. */
  readonly valueId: number;
  /** cas: id of the expected value. */
  readonly expectedId: number;
  /** get: id of the value read. */
  readonly resultId: number;
  readonly callMs: number;
  /** +Infinity when the outcome is unknown. */
  readonly returnMs: number;
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
// Bytes that are not UTF-8 cannot equal any well-formed string: a lone low surrogate marks them.
const RAW_BYTES = '\uDFFF';

/** A value's identity: bytes equal the string they are the UTF-8 encoding of. */
export function valueKey(v: Value): string {
  if (typeof v === 'string') return v;
  try {
    return utf8.decode(v);
  } catch {
    let hex = '';
    for (const b of v) hex += b.toString(16).padStart(2, '0');
    return RAW_BYTES + hex;
  }
}

/** Printable form of a value identity (JSON string, 0x... for raw bytes), shortened. */
export function showValueKey(key: string | null): string {
  if (key === null) return '(absent)';
  if (key.startsWith(RAW_BYTES)) return `0x${key.length > 41 ? `${key.slice(1, 41)}...` : key.slice(1)}`;
  const text = JSON.stringify(key);
  return text.length > 48 ? `${text.slice(0, 45)}..."` : text;
}

/** Interns the values of one key: id 0 is "absent". */
export class ValueTable {
  readonly #ids = new Map<string, number>();
  readonly #keys: string[] = [];

  id(v: Value | null | undefined): number {
    if (v === null || v === undefined) return ABSENT;
    const key = valueKey(v);
    let id = this.#ids.get(key);
    if (id === undefined) {
      this.#keys.push(key);
      id = this.#keys.length;
      this.#ids.set(key, id);
    }
    return id;
  }

  show(id: number): string {
    return showValueKey(id === ABSENT ? null : (this.#keys[id - 1] ?? '?'));
  }
}

/** Compiles an op of the key `table` belongs to; the caller has dropped fail ops and unknown gets. */
export function compileOp(op: HistoryOp, index: number, table: ValueTable): KeyOp {
  const unknown = op.outcome === 'unknown';
  let code: OpCode;
  switch (op.op) {
    case 'put': code = OP_PUT; break;
    case 'delete': code = OP_DELETE; break;
    case 'get': code = OP_GET; break;
    case 'cas': code = unknown ? OP_CAS_MAYBE : op.result === true ? OP_CAS_TRUE : OP_CAS_FALSE; break;
    case 'txn': throw new Error(`lincheck: txn #${op.id} in a single-key partition (the checker gives txns the multi-key model)`);
  }
  const result = op.op === 'get' && typeof op.result !== 'boolean' ? op.result : null;
  return {
    index,
    code,
    valueId: op.op === 'put' || op.op === 'cas' ? table.id(op.value) : ABSENT,
    expectedId: op.op === 'cas' ? table.id(op.expected) : ABSENT,
    resultId: table.id(result),
    callMs: op.callMs,
    returnMs: unknown ? Infinity : (op.returnMs as number),
  };
}

/** The state after `op` takes effect in `state`, or REJECTED when its recorded result contradicts it. */
export function applyOp(state: number, op: KeyOp): number {
  switch (op.code) {
    case OP_PUT: return op.valueId;
    case OP_DELETE: return ABSENT;
    case OP_GET: return state === op.resultId ? state : REJECTED;
    case OP_CAS_TRUE: return state === op.expectedId ? op.valueId : REJECTED;
    case OP_CAS_FALSE: return state !== op.expectedId ? state : REJECTED;
    case OP_CAS_MAYBE: return state === op.expectedId ? op.valueId : state;
  }
}

/** The value id `op` needs the key to hold (get, swapped cas), or REJECTED when it needs none. */
export function readOf(op: KeyOp): number {
  return op.code === OP_GET ? op.resultId : op.code === OP_CAS_TRUE ? op.expectedId : REJECTED;
}

/** The value id `op` may leave in the key (absent for delete), or REJECTED when it never writes. */
export function writeOf(op: KeyOp): number {
  return op.code === OP_GET || op.code === OP_CAS_FALSE ? REJECTED : op.code === OP_DELETE ? ABSENT : op.valueId;
}

/**
 * Positions of the ops that read a value no other op could have written before they returned: no
 * op writes it, or every op that does was called after the read returned. The key starts absent.
 */
export function unreachableReads(ops: readonly KeyOp[]): number[] {
  // Per value, the earliest call of an op that writes it.
  const firstWriteMs = new Map<number, number>([[ABSENT, -Infinity]]);
  for (const op of ops) {
    const written = writeOf(op);
    if (written !== REJECTED && op.callMs < (firstWriteMs.get(written) ?? Infinity)) firstWriteMs.set(written, op.callMs);
  }
  const found: number[] = [];
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i] as KeyOp;
    const read = readOf(op);
    if (read === REJECTED) continue;
    // A swap of a value to itself is its own earliest writer, which cannot come before it.
    const earliestMs = op.code === OP_CAS_TRUE && op.valueId === read ? earliestOther(ops, i, read) : firstWriteMs.get(read) ?? Infinity;
    if (earliestMs > op.returnMs) found.push(i);
  }
  return found;
}

function earliestOther(ops: readonly KeyOp[], self: number, value: number): number {
  let earliestMs = value === ABSENT ? -Infinity : Infinity;
  for (let j = 0; j < ops.length; j++) {
    const op = ops[j] as KeyOp;
    if (j !== self && writeOf(op) === value) earliestMs = Math.min(earliestMs, op.callMs);
  }
  return earliestMs;
}

/** Why `op` cannot take effect in `state` (for reports); null when it can. */
export function rejectReason(state: number, op: KeyOp, table: ValueTable): string | null {
  if (applyOp(state, op) !== REJECTED) return null;
  const holds = `the key holds ${table.show(state)}`;
  switch (op.code) {
    case OP_GET: return `it read ${table.show(op.resultId)} but ${holds}`;
    case OP_CAS_TRUE: return `it swapped, so the key must hold ${table.show(op.expectedId)}, but ${holds}`;
    case OP_CAS_FALSE: return `it did not swap, so the key must not hold ${table.show(op.expectedId)}, but it does`;
    default: return 'rejected';
  }
}
