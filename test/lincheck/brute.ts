// A brute-force reference for the checker's tests: tries every order of the ops that respects
// real time, with each op of unknown outcome either placed somewhere or left out, remembering only
// the (placed set, state) pairs that failed. None of the search's pruning rules, so it can judge them.
import type { HistoryOp } from './history.ts';
import { REJECTED, ValueTable, applyOp, compileOp } from './model.ts';
import type { KeyOp } from './model.ts';

/** True when the history (any keys) has a linearization; `opsMax` guards against misuse. */
export function bruteForceLinearizable(history: readonly HistoryOp[], opsMax = 16): boolean {
  const byKey = new Map<string, HistoryOp[]>();
  for (const op of history) {
    if (op.outcome === 'fail' || (op.outcome === 'unknown' && op.op === 'get')) continue;
    byKey.set(op.key, [...(byKey.get(op.key) ?? []), op]);
  }
  for (const ops of byKey.values()) {
    if (ops.length > opsMax) throw new Error(`bruteForceLinearizable: ${ops.length} ops on one key, over opsMax=${opsMax}`);
    const table = new ValueTable();
    if (!extend(ops.map((op, i) => compileOp(op, i, table)), 0, 0, new Set())) return false;
  }
  return true;
}

// placed: bitmask of ops already in the order. An op may go next when every op that returned
// before its call is placed; ops of unknown outcome may also stay out for good.
function extend(ops: readonly KeyOp[], placed: number, state: number, failed: Set<number>): boolean {
  const node = placed * 64 + state;
  if (failed.has(node)) return false;
  let mustPlace = false;
  for (let i = 0; i < ops.length; i++) {
    if ((placed & (1 << i)) === 0 && (ops[i] as KeyOp).returnMs !== Infinity) mustPlace = true;
  }
  if (!mustPlace) return true;
  for (let i = 0; i < ops.length; i++) {
    if ((placed & (1 << i)) !== 0) continue;
    const op = ops[i] as KeyOp;
    let ready = true;
    for (let j = 0; j < ops.length; j++) {
      if ((placed & (1 << j)) === 0 && j !== i && (ops[j] as KeyOp).returnMs < op.callMs) ready = false;
    }
    if (!ready) continue;
    const after = applyOp(state, op);
    if (after !== REJECTED && extend(ops, placed | (1 << i), after, failed)) return true;
  }
  failed.add(node);
  return false;
}
