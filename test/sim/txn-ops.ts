// Transactions for the simulated clients, and their translation into the checker's history
// format. Each txn stays inside one group of two keys under a prefix of its own (g<j>@<epoch>/a and
// /b), so the checker can verify each group as one small multi-key partition. The shapes cover
// what a lock or an election recipe does (create-if-absent, compare a revision then write), what
// the ParallelRaft conflict sets must get right (a compare on a key the branch does not write), and
// range reads and range deletes over the group.

import type { KvCommand, Compare, TxnOp } from '../../src/core/kv/command.ts';
import { prefixEnd } from '../../src/core/kv/keys.ts';
import type { KeyValue, KvResult } from '../../src/core/kv/machine.ts';
import type { SeededPrng } from '../../src/core/prng.ts';
import type { ReadKv, TxnCompare, TxnResult, TxnSpec, TxnStep, TxnStepResult } from '../lincheck/history.ts';

export type TxnCommand = Extract<KvCommand, { op: 'txn' }>;

export interface TxnGroup {
  readonly prefix: string;
  /** Two keys under the prefix. */
  readonly keys: readonly [string, string];
}

export function txnGroup(name: string): TxnGroup {
  const prefix = `${name}/`;
  return { prefix, keys: [`${prefix}a`, `${prefix}b`] };
}

/**
 * The shapes randomTxn picks from, by number: shape 1 (a compare on a key the branch neither
 * writes nor reads) three times as often, as it is ParallelRaft's hazard (issue 16: a txn's
 * conflict set must hold its compared keys).
 */
const SHAPES: readonly number[] = [0, 1, 1, 1, 2, 3, 4, 5, 6, 7];

/**
 * A txn over `g`, comparing against what some replica holds (`look`, possibly stale, so compares
 * both hold and fail); `value()` gives a fresh value to write.
 */
export function randomTxn(rng: SeededPrng, g: TxnGroup, look: (key: string) => KeyValue | undefined, value: () => string): { cmd: TxnCommand; spec: TxnSpec } {
  const [a, b] = g.keys;
  const end = prefixEnd(g.prefix);
  const seenA = look(a);
  const seenB = look(b);
  const valueOf = (kv: KeyValue | undefined): string => (kv === undefined || typeof kv.value !== 'string' ? 'none' : kv.value);
  let compare: Compare[];
  let success: TxnOp[];
  let failure: TxnOp[];
  switch (SHAPES[rng.nextInt(SHAPES.length)]) {
    case 0:
      compare = [{ key: a, target: 'value', op: '=', value: valueOf(seenA) }];
      success = [{ op: 'put', key: b, value: value() }];
      failure = [{ op: 'get', key: a }, { op: 'get', key: b }];
      break;
    case 1:
      // The compared key is neither written nor read: only the compare puts it in the conflict set.
      compare = [{ key: a, target: 'value', op: '=', value: valueOf(seenA) }];
      success = [{ op: 'put', key: b, value: value() }];
      failure = [];
      break;
    case 2:
      compare = [
        { key: a, target: 'version', op: '=', value: seenA?.version ?? 0 },
        { key: b, target: 'modRevision', op: '=', value: seenB?.modRevision ?? 0 },
      ];
      success = [{ op: 'put', key: a, value: value() }, { op: 'delete', key: b }];
      failure = [{ op: 'range', start: g.prefix, end, limit: 100 }];
      break;
    case 3:
      compare = [{ key: a, target: 'modRevision', op: '=', value: seenA?.modRevision ?? 0 }];
      success = [{ op: 'put', key: a, value: value() }];
      failure = [{ op: 'get', key: a }];
      break;
    case 4:
      compare = [];
      success = [{ op: 'put', key: a, value: value() }, { op: 'put', key: b, value: value() }];
      failure = [];
      break;
    case 5:
      compare = [{ key: b, target: 'value', op: '!=', value: valueOf(seenB) }];
      success = [{ op: 'deleteRange', start: g.prefix, end }];
      failure = [{ op: 'put', key: b, value: value() }];
      break;
    case 6:
      // Create-if-absent, as a lock or an election takes its key.
      compare = [{ key: a, target: 'createRevision', op: '=', value: 0 }];
      success = [{ op: 'put', key: a, value: value() }];
      failure = [{ op: 'get', key: a }, { op: 'get', key: b }];
      break;
    default:
      compare = [{ key: a, target: 'version', op: '<', value: 1 + rng.nextInt(3) }];
      success = [{ op: 'put', key: a, value: value() }, { op: 'get', key: a }];
      failure = [{ op: 'get', key: b }];
      break;
  }
  const cmd: TxnCommand = { op: 'txn', compare, success, failure };
  return { cmd, spec: specOf(cmd) };
}

/** The checker's form of a txn command (keys are ASCII here: byte keys and user keys agree). */
export function specOf(cmd: TxnCommand): TxnSpec {
  const compare = cmd.compare.map((c): TxnCompare => {
    if (c.target === 'value') return { key: c.key, target: 'value', op: c.op, value: c.value };
    if (c.target === 'lease') throw new Error('the checker does not model lease compares');
    return { key: c.key, target: c.target, op: c.op, value: c.value };
  });
  const step = (o: TxnOp): TxnStep => {
    switch (o.op) {
      case 'put': return { op: 'put', key: o.key, value: o.value };
      case 'delete': case 'get': return { op: o.op, key: o.key };
      case 'deleteRange': return { op: 'deleteRange', start: o.start, end: o.end };
      case 'range': return { op: 'range', start: o.start, end: o.end };
    }
  };
  return { compare, success: cmd.success.map(step), failure: cmd.failure.map(step) };
}

function readKv(kv: KeyValue): ReadKv {
  return { value: kv.value, version: kv.version, createRevision: kv.createRevision, modRevision: kv.modRevision };
}

/** The checker's form of a txn's answer. */
export function txnResultOf(r: Extract<KvResult, { op: 'txn' }>): TxnResult {
  const results = r.results.map((x): TxnStepResult => {
    switch (x.op) {
      case 'put': return { op: 'put' };
      case 'delete': case 'deleteRange': return { op: x.op, deleted: x.deleted };
      case 'get': return { op: 'get', kv: x.kv === null ? null : readKv(x.kv) };
      case 'range': return { op: 'range', kvs: x.kvs.map((kv) => ({ key: kv.key, ...readKv(kv) })) };
    }
  });
  return { succeeded: r.succeeded, results };
}
