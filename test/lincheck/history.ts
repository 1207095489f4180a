// The history format the linearizability checker reads: one record per client operation on the
// key-value store, with its call and return times. Tests, the simulator and the real-process fault
// suite all produce it; JSON lines keep a failing history on disk so it can be checked again.
//
// Format (one object per operation; in a .jsonl file, one object per line):
//   id        unique safe integer
//   client    string or number naming the client (only printed; the checker orders by time)
//   op        'put' | 'get' | 'delete' | 'cas'
//   key       string; the checker partitions the history per key
//   value     put: the value written; cas: the new value. Required for put and cas.
//   expected  cas: the value the key must hold for the swap; missing or null = the key is absent
//   callMs    number: when the client sent the request (any clock: ms, ticks; only order matters)
//   returnMs  number when the client got the answer; null when the outcome is 'unknown'
//   result    get: the value read, missing or null = absent; cas: true when it swapped
//   outcome   'ok'      the answer arrived: the op took effect once, between callMs and returnMs
//             'fail'    definitely not applied (rejected before proposing): dropped by the checker
//             'unknown' timed out / connection lost: it may take effect at any time after callMs,
//                       or never. Checked with returnMs = +Infinity; unknown gets are dropped.
// Values are strings or bytes. Bytes compare by content, and bytes equal a string when they are its
// UTF-8 encoding; in JSON lines, bytes are written as {"$b64": "<base64>"}. Strings are assumed to be
// well-formed Unicode. Two ops whose times are equal (one returns at t, another is called at t) are
// treated as concurrent, which can only hide a violation, never invent one.
import { readFileSync, writeFileSync } from 'node:fs';

export type OpName = 'put' | 'get' | 'delete' | 'cas';
export type Outcome = 'ok' | 'fail' | 'unknown';
export type Value = string | Uint8Array;

export interface HistoryOp {
  readonly id: number;
  readonly client: string | number;
  readonly op: OpName;
  readonly key: string;
  readonly value?: Value | undefined;
  readonly expected?: Value | null | undefined;
  readonly callMs: number;
  readonly returnMs: number | null;
  readonly result?: Value | boolean | null | undefined;
  readonly outcome: Outcome;
}

export type HistoryErrorCode = 'ERR_HISTORY_JSON' | 'ERR_HISTORY_FIELD' | 'ERR_HISTORY_DUPLICATE_ID';

/** A history the checker cannot read: the message names the source, line or op id, field and value. */
export class HistoryError extends Error {
  override readonly name = 'HistoryError';
  readonly code: HistoryErrorCode;

  constructor(code: HistoryErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

const OP_NAMES: ReadonlySet<string> = new Set(['put', 'get', 'delete', 'cas']);
const OUTCOMES: ReadonlySet<string> = new Set(['ok', 'fail', 'unknown']);

function isValue(v: unknown): v is Value {
  return typeof v === 'string' || v instanceof Uint8Array;
}

function show(v: unknown): string {
  if (v instanceof Uint8Array) return `<${v.length} bytes>`;
  const text = JSON.stringify(v) ?? String(v);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** Throws HistoryError for the first malformed op; `where(i)` names its position for the message. */
export function validateHistory(history: readonly HistoryOp[], where: (i: number) => string = (i) => `op[${i}]`): void {
  const ids = new Set<number>();
  for (let i = 0; i < history.length; i++) {
    const op = history[i] as HistoryOp;
    const problem = checkOp(op);
    // Messages are built only on failure: validation runs on every op of every check.
    if (problem !== null) {
      const [field, rule, value] = problem;
      throw new HistoryError('ERR_HISTORY_FIELD', `${where(i)} (id ${show(op.id)}): \`${field}\` must be ${rule}, got ${show(value)}`);
    }
    if (ids.has(op.id)) throw new HistoryError('ERR_HISTORY_DUPLICATE_ID', `${where(i)} (id ${show(op.id)}): id ${op.id} appears twice`);
    ids.add(op.id);
  }
}

/** The first broken rule of one op as [field, rule, value], or null. */
function checkOp(op: HistoryOp): [string, string, unknown] | null {
  if (!Number.isSafeInteger(op.id)) return ['id', 'a safe integer', op.id];
  if (typeof op.client !== 'string' && typeof op.client !== 'number') return ['client', 'a string or number', op.client];
  if (!OP_NAMES.has(op.op)) return ['op', "'put', 'get', 'delete' or 'cas'", op.op];
  if (typeof op.key !== 'string') return ['key', 'a string', op.key];
  if (!OUTCOMES.has(op.outcome)) return ['outcome', "'ok', 'fail' or 'unknown'", op.outcome];
  if (typeof op.callMs !== 'number' || !Number.isFinite(op.callMs)) return ['callMs', 'a finite number', op.callMs];
  if (op.outcome !== 'unknown') {
    if (typeof op.returnMs !== 'number' || !Number.isFinite(op.returnMs)) {
      return ['returnMs', `a finite number when the outcome is '${op.outcome}'`, op.returnMs];
    }
    if (op.returnMs < op.callMs) return ['returnMs', `>= callMs (${op.callMs})`, op.returnMs];
  } else if (op.returnMs !== null && typeof op.returnMs !== 'number') {
    return ['returnMs', 'null or a number', op.returnMs];
  }
  if ((op.op === 'put' || op.op === 'cas') && !isValue(op.value)) return ['value', `a string or bytes for ${op.op}`, op.value];
  if (op.op === 'cas' && op.expected !== undefined && op.expected !== null && !isValue(op.expected)) {
    return ['expected', 'a string, bytes, or null (absent)', op.expected];
  }
  if (op.outcome !== 'ok') return null;
  if (op.op === 'cas' && typeof op.result !== 'boolean') return ['result', 'a boolean for an ok cas', op.result];
  if (op.op === 'get' && op.result !== undefined && op.result !== null && !isValue(op.result)) {
    return ['result', 'a string, bytes, or null (absent) for an ok get', op.result];
  }
  return null;
}

// JSON has no bytes: they travel as {"$b64": "..."} and come back as Uint8Array.
function encodeValue(v: unknown): unknown {
  return v instanceof Uint8Array ? { $b64: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64') } : v;
}

function decodeValue(v: unknown, at: string, field: string): unknown {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return v;
  const b64 = (v as { $b64?: unknown }).$b64;
  if (typeof b64 !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(b64)) {
    throw new HistoryError('ERR_HISTORY_FIELD', `${at}: \`${field}\` must be a string, null or {"$b64": "<base64>"}, got ${show(v)}`);
  }
  const buf = Buffer.from(b64, 'base64');
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

/** One JSON object per line, fields in the documented order; bytes become {"$b64": ...}. */
export function toJsonl(history: readonly HistoryOp[]): string {
  let out = '';
  for (const op of history) {
    out += JSON.stringify({
      id: op.id, client: op.client, op: op.op, key: op.key,
      value: encodeValue(op.value), expected: encodeValue(op.expected),
      callMs: op.callMs, returnMs: op.returnMs, result: encodeValue(op.result), outcome: op.outcome,
    });
    out += '\n';
  }
  return out;
}

/** Parses and validates JSON lines; blank lines are skipped. `source` names the file in errors. */
export function parseJsonl(text: string, source = '<input>'): HistoryOp[] {
  const ops: HistoryOp[] = [];
  const lineOf: number[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] as string).trim();
    if (line === '') continue;
    const at = `${source}:${i + 1}`;
    let raw: unknown;
    try {
      raw = JSON.parse(line);
    } catch (e) {
      throw new HistoryError('ERR_HISTORY_JSON', `${at}: not JSON (${(e as Error).message}): ${show(line)}`);
    }
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
      throw new HistoryError('ERR_HISTORY_JSON', `${at}: expected an object, got ${show(raw)}`);
    }
    const r = raw as Record<string, unknown>;
    for (const field of ['value', 'expected', 'result']) {
      if (field in r) r[field] = decodeValue(r[field], at, field);
    }
    if (!('returnMs' in r)) r['returnMs'] = null;
    ops.push(r as unknown as HistoryOp);
    lineOf.push(i + 1);
  }
  validateHistory(ops, (i) => `${source}:${lineOf[i] ?? '?'}`);
  return ops;
}

export function loadHistory(path: string): HistoryOp[] {
  return parseJsonl(readFileSync(path, 'utf8'), path);
}

export function saveHistory(path: string, history: readonly HistoryOp[]): void {
  writeFileSync(path, toJsonl(history));
}
