// The history format the linearizability checker reads: one record per client operation on the
// key-value store, with its call and return times. Tests, the simulator and the real-process fault
// suite all produce it; JSON lines keep a failing history on disk so it can be checked again.
//
// Format (one object per operation; in a .jsonl file, one object per line):
//   id        unique safe integer
//   client    string or number naming the client (only printed; the checker orders by time)
//   op        'put' | 'get' | 'delete' | 'cas' | 'txn'
//   key       string; the checker partitions the history per key (a txn: any key it touches, for
//             printing; its keys are those of `txn`, and it joins their partitions into one)
//   value     put: the value written; cas: the new value. Required for put and cas.
//   expected  cas: the value the key must hold for the swap; missing or null = the key is absent
//   callMs    number: when the client sent the request (any clock: ms, ticks; only order matters)
//   returnMs  number when the client got the answer; null when the outcome is 'unknown'
//   result    get: the value read, missing or null = absent; cas: true when it swapped
//   outcome   'ok'      the answer arrived: the op took effect once, between callMs and returnMs
//             'fail'    definitely not applied (rejected before proposing): dropped by the checker
//             'unknown' timed out / connection lost: it may take effect at any time after callMs,
//                       or never. Checked with returnMs = +Infinity; unknown gets are dropped.
//   txn       txn: { compare, success, failure } (TxnSpec below): compares on one key's value,
//             version, createRevision or modRevision, then the branch's steps (put, delete, get,
//             range and deleteRange over [start, end), end null: no bound)
//   txnResult txn, required when ok: { succeeded, results }, one result per step of the branch run
//   revision  optional: the revision (log index) a write took effect at, when it did (from the
//             answer, or learned later from the server for an unknown outcome). Needed to model
//             modRevision and createRevision; without it, compares and reads of those accept anything.
// Values are strings or bytes. Bytes compare by content, and bytes equal a string when they are its
// UTF-8 encoding; in JSON lines, bytes are written as {"$b64": "<base64>"}. Strings are assumed to be
// well-formed Unicode. Two ops whose times are equal (one returns at t, another is called at t) are
// treated as concurrent, which can only hide a violation, never invent one.
import { readFileSync, writeFileSync } from 'node:fs';

export type OpName = 'put' | 'get' | 'delete' | 'cas' | 'txn';
export type Outcome = 'ok' | 'fail' | 'unknown';
export type Value = string | Uint8Array;

export type TxnCompareOp = '=' | '!=' | '<' | '>';

/** One condition of a txn: a missing key has version, createRevision and modRevision 0 and no value. */
export type TxnCompare =
  | { readonly key: string; readonly target: 'value'; readonly op: TxnCompareOp; readonly value: Value }
  | { readonly key: string; readonly target: 'version' | 'createRevision' | 'modRevision'; readonly op: TxnCompareOp; readonly value: number };

export type TxnStep =
  | { readonly op: 'put'; readonly key: string; readonly value: Value }
  | { readonly op: 'delete'; readonly key: string }
  | { readonly op: 'get'; readonly key: string }
  | { readonly op: 'range'; readonly start: string; readonly end: string | null }
  | { readonly op: 'deleteRange'; readonly start: string; readonly end: string | null };

export interface TxnSpec {
  readonly compare: readonly TxnCompare[];
  readonly success: readonly TxnStep[];
  readonly failure: readonly TxnStep[];
}

/** A key as a txn read it. */
export interface ReadKv {
  readonly value: Value;
  readonly version: number;
  readonly createRevision: number;
  readonly modRevision: number;
}

export type TxnStepResult =
  | { readonly op: 'put' }
  | { readonly op: 'delete'; readonly deleted: number }
  | { readonly op: 'deleteRange'; readonly deleted: number }
  | { readonly op: 'get'; readonly kv: ReadKv | null }
  | { readonly op: 'range'; readonly kvs: ReadonlyArray<ReadKv & { readonly key: string }> };

export interface TxnResult {
  readonly succeeded: boolean;
  readonly results: readonly TxnStepResult[];
}

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
  readonly txn?: TxnSpec | undefined;
  readonly txnResult?: TxnResult | undefined;
  readonly revision?: number | undefined;
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

const OP_NAMES: ReadonlySet<string> = new Set(['put', 'get', 'delete', 'cas', 'txn']);
const COMPARE_OPS: ReadonlySet<string> = new Set(['=', '!=', '<', '>']);
const COMPARE_TARGETS: ReadonlySet<string> = new Set(['value', 'version', 'createRevision', 'modRevision']);
const STEP_OPS: ReadonlySet<string> = new Set(['put', 'delete', 'get', 'range', 'deleteRange']);
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
  if (!OP_NAMES.has(op.op)) return ['op', "'put', 'get', 'delete', 'cas' or 'txn'", op.op];
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
  if (op.revision !== undefined && !Number.isSafeInteger(op.revision)) return ['revision', 'a safe integer when given', op.revision];
  if (op.op === 'txn') return checkTxn(op);
  if (op.outcome !== 'ok') return null;
  if (op.op === 'cas' && typeof op.result !== 'boolean') return ['result', 'a boolean for an ok cas', op.result];
  if (op.op === 'get' && op.result !== undefined && op.result !== null && !isValue(op.result)) {
    return ['result', 'a string, bytes, or null (absent) for an ok get', op.result];
  }
  return null;
}

function checkTxn(op: HistoryOp): [string, string, unknown] | null {
  const t = op.txn;
  if (t === undefined || t === null || typeof t !== 'object') return ['txn', 'an object { compare, success, failure } for a txn', t];
  if (!Array.isArray(t.compare) || !Array.isArray(t.success) || !Array.isArray(t.failure)) return ['txn', 'arrays compare, success and failure', t];
  for (const c of t.compare) {
    if (typeof c?.key !== 'string' || !COMPARE_TARGETS.has(c.target) || !COMPARE_OPS.has(c.op)) return ['txn.compare', 'a key, a target and an operator each', c];
    if (c.target === 'value' ? !isValue(c.value) : !Number.isSafeInteger(c.value)) return ['txn.compare', `a ${c.target === 'value' ? 'value' : 'number'} to compare ${c.target} with`, c];
  }
  for (const step of [...t.success, ...t.failure]) {
    if (!STEP_OPS.has(step?.op)) return ['txn step', "'put', 'delete', 'get', 'range' or 'deleteRange'", step];
    if ((step.op === 'range' || step.op === 'deleteRange') ? typeof step.start !== 'string' || (step.end !== null && typeof step.end !== 'string') : typeof step.key !== 'string') {
      return ['txn step', 'a key (or start and end for a range)', step];
    }
    if (step.op === 'put' && !isValue(step.value)) return ['txn step', 'a value for a put', step];
  }
  if (op.outcome !== 'ok') return null;
  const r = op.txnResult;
  if (r === undefined || typeof r.succeeded !== 'boolean' || !Array.isArray(r.results)) return ['txnResult', '{ succeeded, results } for an ok txn', r];
  const steps = r.succeeded ? t.success : t.failure;
  if (r.results.length !== steps.length || r.results.some((x, i) => x?.op !== steps[i]?.op)) return ['txnResult.results', 'one result per step of the branch that ran', r.results];
  return null;
}

// JSON has no bytes: they travel as {"$b64": "..."} and come back as Uint8Array.
function encodeValue(v: unknown): unknown {
  return v instanceof Uint8Array ? { $b64: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64') } : v;
}

/** A txn's spec or result with every value inside encoded. */
function encodeDeep(v: unknown): unknown {
  if (v instanceof Uint8Array) return encodeValue(v);
  if (Array.isArray(v)) return v.map(encodeDeep);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, encodeDeep(x)]));
  return v;
}

function decodeDeep(v: unknown, at: string, field: string): unknown {
  if (Array.isArray(v)) return v.map((x) => decodeDeep(x, at, field));
  if (v !== null && typeof v === 'object') {
    if ('$b64' in v) return decodeValue(v, at, field);
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, decodeDeep(x, at, field)]));
  }
  return v;
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
      ...(op.txn !== undefined ? { txn: encodeDeep(op.txn) } : {}),
      ...(op.txnResult !== undefined ? { txnResult: encodeDeep(op.txnResult) } : {}),
      ...(op.revision !== undefined ? { revision: op.revision } : {}),
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
    for (const field of ['txn', 'txnResult']) {
      if (field in r) r[field] = decodeDeep(r[field], at, field);
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
