// The sequential specification for a partition of keys that transactions tie together: the state is
// every key of the partition at once (absent, or a value with its version, createRevision and
// modRevision), and a txn is one atomic step that evaluates its compares and runs one branch. The
// single-key ops (put, get, delete, cas) run on the same state. Revisions are labels: a write's
// `revision` (the log index it took effect at, known for ok writes and learned afterwards for the
// unknown ones that applied). A compare or read that meets a write whose revision is not known
// accepts either outcome, so a missing label can hide a violation but never invent one.
import { byteKey } from '../../src/core/kv/keys.ts';
import type { HistoryOp, ReadKv, TxnCompare, TxnStep, TxnStepResult, Value } from './history.ts';
import { showValueKey, valueKey } from './model.ts';

/** A revision no write is known to carry. */
export const UNKNOWN_REV = -1;

/** One key in a model state; `v` is the value's bytes as a byte string (ordered as the store orders values). */
export interface Rec {
  readonly v: string;
  readonly version: number;
  readonly mod: number;
  readonly create: number;
}

/** The partition's keys, in byte order, each absent (null) or a record. */
export type MultiState = ReadonlyArray<Rec | null>;

/** One op of the partition, compiled. */
export interface MultiOp {
  /** Position of the op in the checked history array. */
  readonly index: number;
  readonly callMs: number;
  /** +Infinity when the outcome is unknown. */
  readonly returnMs: number;
  /** The revision it took effect at, when known (the search tries candidates in this order first). */
  readonly revision: number;
  /** It changes nothing in any state (a get, a cas that did not swap, a txn whose branch only reads). */
  readonly readOnly: boolean;
  /** The states it may leave (an unknown txn whose compare is undecided: two), or why it cannot run here. */
  readonly step: (state: MultiState) => MultiState[] | string;
}

/** Every key an op touches, and the [start, end) ranges of its range steps. */
export function keysOfOp(op: HistoryOp): { keys: string[]; ranges: Array<{ start: string; end: string | null }> } {
  if (op.op !== 'txn' || op.txn === undefined) return { keys: [op.key], ranges: [] };
  const keys = new Set<string>();
  const ranges: Array<{ start: string; end: string | null }> = [];
  for (const c of op.txn.compare) keys.add(c.key);
  for (const s of [...op.txn.success, ...op.txn.failure]) {
    if (s.op === 'range' || s.op === 'deleteRange') ranges.push({ start: s.start, end: s.end });
    else keys.add(s.key);
  }
  return { keys: [...keys], ranges };
}

/** Whether user key `k` lies in [start, end), in byte order. */
export function keyInRange(k: string, start: string, end: string | null): boolean {
  const b = byteKey(k);
  return b >= byteKey(start) && (end === null || b < byteKey(end));
}

/** A state's identity, for the search's memo. */
export function stateKey(s: MultiState): string {
  let out = '';
  for (const r of s) out += r === null ? '_;' : `${r.v.length}:${r.v}|${r.version}|${r.mod}|${r.create};`;
  return out;
}

function bytesOf(v: Value): string {
  return byteKey(typeof v === 'string' ? v : v);
}

function showBytes(v: string): string {
  // A byte string back to a value identity, for messages.
  const bytes = Uint8Array.from(v, (c) => c.charCodeAt(0));
  return showValueKey(valueKey(bytes));
}

export function showState(keys: readonly string[], s: MultiState): string {
  return keys.map((k, i) => {
    const r = s[i];
    return `${k}=${r === null || r === undefined ? '(absent)' : `${showBytes(r.v)} v${r.version} mod ${showRev(r.mod)} create ${showRev(r.create)}`}`;
  }).join(', ');
}

function showRev(r: number): string {
  return r === UNKNOWN_REV ? '?' : String(r);
}

/** true, false, or null when it depends on a revision that is not known. */
function holds(c: TxnCompare, r: Rec | null): boolean | null {
  let cmp: number;
  if (c.target === 'value') {
    if (r === null) return c.op === '!=';
    const want = bytesOf(c.value);
    cmp = r.v < want ? -1 : r.v > want ? 1 : 0;
  } else {
    const have = r === null ? 0 : c.target === 'version' ? r.version : c.target === 'modRevision' ? r.mod : r.create;
    if (have === UNKNOWN_REV) return null;
    cmp = have < c.value ? -1 : have > c.value ? 1 : 0;
  }
  switch (c.op) {
    case '=': return cmp === 0;
    case '!=': return cmp !== 0;
    case '<': return cmp < 0;
    case '>': return cmp > 0;
  }
}

function revMatches(have: number, seen: number): boolean {
  return have === UNKNOWN_REV || have === seen;
}

/** Why a read kv does not match the record (null: it matches). */
function kvMismatch(key: string, r: Rec | null, kv: ReadKv | null): string | null {
  if (r === null || kv === null) {
    return r === null && kv === null ? null : `it read ${key}=${kv === null ? '(absent)' : showValueKey(valueKey(kv.value))} but the key is ${r === null ? 'absent' : showBytes(r.v)}`;
  }
  if (bytesOf(kv.value) !== r.v) return `it read ${key}=${showValueKey(valueKey(kv.value))} but the key holds ${showBytes(r.v)}`;
  if (kv.version !== r.version) return `it read ${key} at version ${kv.version} but the key is at version ${r.version}`;
  if (!revMatches(r.mod, kv.modRevision)) return `it read ${key} with modRevision ${kv.modRevision} but the last write to it was at ${r.mod}`;
  if (!revMatches(r.create, kv.createRevision)) return `it read ${key} with createRevision ${kv.createRevision} but it was created at ${r.create}`;
  return null;
}

export class MultiModel {
  /** The partition's keys in byte order. */
  readonly keys: readonly string[];
  readonly #pos: ReadonlyMap<string, number>;

  constructor(keys: Iterable<string>) {
    this.keys = [...new Set(keys)].sort((a, b) => {
      const x = byteKey(a);
      const y = byteKey(b);
      return x < y ? -1 : x > y ? 1 : 0;
    });
    this.#pos = new Map(this.keys.map((k, i) => [k, i]));
  }

  initial(): MultiState {
    return this.keys.map(() => null);
  }

  #at(key: string): number {
    const i = this.#pos.get(key);
    if (i === undefined) throw new Error(`lincheck: key ${JSON.stringify(key)} is not in its partition`);
    return i;
  }

  #inRange(start: string, end: string | null): number[] {
    const out: number[] = [];
    this.keys.forEach((k, i) => { if (keyInRange(k, start, end)) out.push(i); });
    return out;
  }

  compile(op: HistoryOp, index: number): MultiOp {
    const label = op.revision ?? UNKNOWN_REV;
    const unknown = op.outcome === 'unknown';
    const reads = (steps: readonly TxnStep[]): boolean => steps.every((x) => x.op === 'get' || x.op === 'range');
    const readOnly = !unknown && (op.op === 'get' || (op.op === 'cas' && op.result === false) ||
      (op.op === 'txn' && reads(op.txnResult!.succeeded ? op.txn!.success : op.txn!.failure)));
    const base = { index, callMs: op.callMs, returnMs: unknown ? Infinity : (op.returnMs as number), revision: op.revision ?? Infinity, readOnly };
    const put = (s: Array<Rec | null>, i: number, value: Value): void => {
      const prev = s[i] ?? null;
      s[i] = { v: bytesOf(value), version: prev === null ? 1 : prev.version + 1, mod: label, create: prev === null ? label : prev.create };
    };
    switch (op.op) {
      case 'put': {
        const i = this.#at(op.key);
        return { ...base, step: (st) => { const s = [...st]; put(s, i, op.value as Value); return [s]; } };
      }
      case 'delete': {
        const i = this.#at(op.key);
        return { ...base, step: (st) => { const s = [...st]; s[i] = null; return [s]; } };
      }
      case 'get': {
        const i = this.#at(op.key);
        const want = op.result === null || op.result === undefined || typeof op.result === 'boolean' ? null : bytesOf(op.result);
        return {
          ...base,
          step: (st) => {
            const have = st[i]?.v ?? null;
            return have === want ? [st] : `it read ${want === null ? '(absent)' : showBytes(want)} but ${op.key} holds ${have === null ? '(absent)' : showBytes(have)}`;
          },
        };
      }
      case 'cas': {
        const i = this.#at(op.key);
        const expected = op.expected === null || op.expected === undefined ? null : bytesOf(op.expected);
        return {
          ...base,
          step: (st) => {
            const have = st[i]?.v ?? null;
            const swaps = have === expected;
            if (!unknown && swaps !== (op.result === true)) {
              return swaps ? `it did not swap, but ${op.key} holds what it expected` : `it swapped, but ${op.key} holds ${have === null ? '(absent)' : showBytes(have)}`;
            }
            if (!swaps) return [st];
            const s = [...st];
            put(s, i, op.value as Value);
            return [s];
          },
        };
      }
      case 'txn':
        return { ...base, step: (st) => this.#txn(op, st, unknown, put) };
    }
  }

  #txn(op: HistoryOp, st: MultiState, unknown: boolean, put: (s: Array<Rec | null>, i: number, v: Value) => void): MultiState[] | string {
    const t = op.txn!;
    let decided: boolean | null = true;
    for (const c of t.compare) {
      const h = holds(c, st[this.#at(c.key)] ?? null);
      if (h === false) { decided = false; break; }
      if (h === null) decided = null;
    }
    const branches: boolean[] = unknown ? (decided === null ? [true, false] : [decided]) : [op.txnResult!.succeeded];
    if (!unknown && decided !== null && decided !== op.txnResult!.succeeded) {
      return `its compares ${decided ? 'hold' : 'fail'} here, but the ${op.txnResult!.succeeded ? 'success' : 'failure'} branch ran`;
    }
    const out: MultiState[] = [];
    for (const b of branches) {
      const r = this.#run(b ? t.success : t.failure, st, unknown ? null : op.txnResult!.results, put);
      if (typeof r === 'string') return r;
      out.push(r);
    }
    return out;
  }

  /** Runs a branch's steps; checks each result when known. */
  #run(steps: readonly TxnStep[], st: MultiState, results: readonly TxnStepResult[] | null, put: (s: Array<Rec | null>, i: number, v: Value) => void): MultiState | string {
    const s = [...st];
    for (let n = 0; n < steps.length; n++) {
      const step = steps[n]!;
      const res = results?.[n];
      switch (step.op) {
        case 'put': put(s, this.#at(step.key), step.value); break;
        case 'delete': {
          const i = this.#at(step.key);
          const deleted = s[i] === null ? 0 : 1;
          if (res?.op === 'delete' && res.deleted !== deleted) return `its delete of ${step.key} reports ${res.deleted} deleted, but the key is ${deleted === 0 ? 'absent' : 'present'}`;
          s[i] = null;
          break;
        }
        case 'deleteRange': {
          const hit = this.#inRange(step.start, step.end).filter((i) => s[i] !== null);
          if (res?.op === 'deleteRange' && res.deleted !== hit.length) return `its range delete reports ${res.deleted} deleted, but ${hit.length} keys are present`;
          for (const i of hit) s[i] = null;
          break;
        }
        case 'get': {
          if (res?.op !== 'get') break;
          const why = kvMismatch(step.key, s[this.#at(step.key)] ?? null, res.kv);
          if (why !== null) return why;
          break;
        }
        case 'range': {
          if (res?.op !== 'range') break;
          const present = this.#inRange(step.start, step.end).filter((i) => s[i] !== null);
          const got = res.kvs;
          const names = present.map((i) => this.keys[i]!);
          if (got.length !== present.length || got.some((kv, k) => kv.key !== names[k])) {
            return `its range read returned keys [${got.map((kv) => kv.key).join(', ')}] but [${names.join(', ')}] are present`;
          }
          for (let k = 0; k < got.length; k++) {
            const why = kvMismatch(names[k]!, s[present[k]!] ?? null, got[k]!);
            if (why !== null) return why;
          }
          break;
        }
      }
    }
    return s;
  }
}
