// Turns a failed search into something a person can act on: the deepest linearization found for
// the failing key, the state it leaves, and for every op that could go next, why it cannot (most
// often it does not fit the model: one that fits would have gone deeper).
import type { HistoryOp } from './history.ts';
import { ABSENT, REJECTED, applyOp, readOf, rejectReason, showValueKey, unreachableReads, valueKey, writeOf } from './model.ts';
import type { KeyOp, ValueTable } from './model.ts';
import { showState, type MultiModel, type MultiOp, type MultiState } from './txn-model.ts';
import type { TxnCompare, TxnStep, TxnStepResult } from './history.ts';

export interface PlacedOp {
  readonly op: HistoryOp;
  /** The key's value after this op, printed. */
  readonly stateAfter: string;
}

export interface BlockedOp {
  readonly op: HistoryOp;
  readonly reason: string;
}

export interface Violation {
  /**
   * 'unreachable-value': some op read a value that no op of the key wrote, or none before the read
   * returned (`blocked` lists them).
   * 'no-order': every order fails; the fields below show where the longest one stops.
   */
  readonly kind: 'unreachable-value' | 'no-order';
  readonly key: string;
  /** Every checked op of the key, in call order. */
  readonly ops: readonly HistoryOp[];
  /** The longest linearization found, in order. */
  readonly prefix: readonly PlacedOp[];
  readonly stateAfterPrefix: string;
  /** The op not in the prefix that returned first: it had to be placed before anything later. */
  readonly deadline: HistoryOp;
  /** The ops called by then and not in the prefix; none can take effect next. */
  readonly blocked: readonly BlockedOp[];
}

// Long prefixes and partitions are cut to what a person reads.
const PREFIX_SHOWN_MAX = 12;
const PARTITION_SHOWN_MAX = 30;
const BLOCKED_SHOWN_MAX = 20;

export function buildViolation(
  key: string, history: readonly HistoryOp[], keyOps: readonly KeyOp[], table: ValueTable, deepest: readonly number[],
): Violation {
  const ops = keyOps.map((op) => history[op.index] as HistoryOp).sort((a, b) => a.callMs - b.callMs || a.id - b.id);
  const unreachable = unreachableReads(keyOps).map((i) => keyOps[i] as KeyOp);
  const firstUnreachable = unreachable[0];
  if (firstUnreachable !== undefined) {
    const blocked = unreachable.map((op) => ({ op: history[op.index] as HistoryOp, reason: whyUnreachable(op, keyOps, history, table) }));
    return {
      kind: 'unreachable-value', key, ops, prefix: [], stateAfterPrefix: table.show(ABSENT),
      deadline: history[firstUnreachable.index] as HistoryOp, blocked,
    };
  }
  // An op of unknown outcome last in the prefix explains nothing (it could as well go at the end).
  const prefix = deepest.slice();
  while (prefix.length > 0 && (keyOps[prefix[prefix.length - 1] as number] as KeyOp).returnMs === Infinity) prefix.pop();
  const placed: PlacedOp[] = [];
  let state = ABSENT;
  const inPrefix = new Set<number>();
  for (const i of prefix) {
    const op = keyOps[i] as KeyOp;
    state = applyOp(state, op);
    if (state === REJECTED) throw new Error(`lincheck: prefix replay rejected op index ${op.index}`);
    placed.push({ op: history[op.index] as HistoryOp, stateAfter: table.show(state) });
    inPrefix.add(i);
  }
  const rest = keyOps.filter((_, i) => !inPrefix.has(i));
  // The first return in the search's time order: earliest returnMs, then lowest position.
  let first: KeyOp | undefined;
  for (const op of rest) if (first === undefined || op.returnMs < first.returnMs) first = op;
  if (first === undefined || first.returnMs === Infinity) throw new Error(`lincheck: key ${key} failed with every op placed`);
  const deadlineMs = first.returnMs;
  const blocked = rest
    .filter((op) => op.callMs <= deadlineMs)
    .map((op) => ({ op: history[op.index] as HistoryOp, reason: whyNotNext(state, op, rest, history, table) }));
  return {
    kind: 'no-order', key, ops, prefix: placed, stateAfterPrefix: table.show(state), deadline: history[first.index] as HistoryOp, blocked,
  };
}

/** The same report for a partition that txns tie together (keys: its keys joined by ' + '). */
export function buildMultiViolation(
  key: string, history: readonly HistoryOp[], model: MultiModel, ops: readonly MultiOp[],
  deepest: ReadonlyArray<{ readonly op: number; readonly after: MultiState }>,
): Violation {
  const all = ops.map((op) => history[op.index] as HistoryOp).sort((a, b) => a.callMs - b.callMs || a.id - b.id);
  const prefix = deepest.slice();
  while (prefix.length > 0 && ops[prefix[prefix.length - 1]!.op]!.returnMs === Infinity) prefix.pop();
  const state = prefix.length === 0 ? model.initial() : prefix[prefix.length - 1]!.after;
  const inPrefix = new Set(prefix.map((p) => p.op));
  const rest = ops.map((op, i) => ({ op, i })).filter(({ i }) => !inPrefix.has(i));
  let first: MultiOp | undefined;
  for (const { op } of rest) if (first === undefined || op.returnMs < first.returnMs) first = op;
  if (first === undefined || first.returnMs === Infinity) throw new Error(`lincheck: keys ${key} failed with every op placed`);
  const deadlineMs = first.returnMs;
  const blocked = rest.filter(({ op }) => op.callMs <= deadlineMs).map(({ op }) => {
    const r = op.step(state);
    const reason = typeof r === 'string' ? r
      : op.returnMs === Infinity ? 'its outcome is unknown, and taking effect here leads nowhere'
        : 'it fits, but no order of the remaining ops works from there';
    return { op: history[op.index] as HistoryOp, reason };
  });
  return {
    kind: 'no-order', key, ops: all,
    prefix: prefix.map((p) => ({ op: history[ops[p.op]!.index] as HistoryOp, stateAfter: showState(model.keys, p.after) })),
    stateAfterPrefix: showState(model.keys, state), deadline: history[first.index] as HistoryOp, blocked,
  };
}

function showCompare(c: TxnCompare): string {
  return `${c.key}.${c.target} ${c.op} ${typeof c.value === 'number' ? c.value : showValue(c.value)}`;
}

function showStep(s: TxnStep): string {
  switch (s.op) {
    case 'put': return `put ${s.key}=${showValue(s.value)}`;
    case 'delete': case 'get': return `${s.op} ${s.key}`;
    case 'range': case 'deleteRange': return `${s.op} [${s.start}, ${s.end ?? '∞'})`;
  }
}

function showStepResult(r: TxnStepResult): string {
  switch (r.op) {
    case 'put': return 'ok';
    case 'delete': case 'deleteRange': return `${r.deleted} deleted`;
    case 'get': return r.kv === null ? '(absent)' : `${showValue(r.kv.value)} v${r.kv.version} mod ${r.kv.modRevision}`;
    case 'range': return `[${r.kvs.map((kv) => `${kv.key}=${showValue(kv.value)}`).join(', ')}]`;
  }
}

function whyUnreachable(op: KeyOp, keyOps: readonly KeyOp[], history: readonly HistoryOp[], table: ValueTable): string {
  const value = readOf(op);
  let writer: KeyOp | undefined;
  for (const o of keyOps) if (o !== op && writeOf(o) === value && (writer === undefined || o.callMs < writer.callMs)) writer = o;
  if (writer === undefined) return `no op of this key writes ${table.show(value)}`;
  const w = history[writer.index] as HistoryOp;
  return `${table.show(value)} is first written by #${w.id}, called at ${w.callMs}, after this op returned`;
}

function whyNotNext(state: number, op: KeyOp, rest: readonly KeyOp[], history: readonly HistoryOp[], table: ValueTable): string {
  const rejected = rejectReason(state, op, table);
  if (rejected !== null) return rejected;
  const after = applyOp(state, op);
  if (after !== state) {
    // A write that strands a read: the value it overwrites is still needed and never written again.
    const writesAgain = rest.some((o) => o !== op && writeOf(o) === state);
    const reader = rest.find((o) => o !== op && readOf(o) === state);
    if (!writesAgain && reader !== undefined) {
      return `it would overwrite ${table.show(state)}, which #${(history[reader.index] as HistoryOp).id} still has to read, and nothing left writes it again`;
    }
  }
  if (op.returnMs === Infinity) {
    return after === state ? 'its outcome is unknown, and here it would change nothing' : 'its outcome is unknown, and taking effect here leads nowhere';
  }
  return `it fits (the key would hold ${table.show(after)}), but no order of the remaining ops works from there`;
}

function showValue(v: unknown): string {
  if (v === null || v === undefined) return '(absent)';
  if (typeof v === 'boolean') return String(v);
  return showValueKey(valueKey(v as string | Uint8Array));
}

/** One op on one line: `#7 c2 get() -> "a" [10, 15] ok`. */
export function formatOp(op: HistoryOp): string {
  let call: string;
  switch (op.op) {
    case 'put': call = `put(${showValue(op.value)})`; break;
    case 'delete': call = 'delete()'; break;
    case 'get': call = op.outcome === 'ok' ? `get() -> ${showValue(op.result)}` : 'get()'; break;
    case 'cas': {
      const swapped = op.outcome === 'ok' ? ` -> ${String(op.result)}` : '';
      call = `cas(${showValue(op.expected)} => ${showValue(op.value)})${swapped}`;
      break;
    }
    case 'txn': {
      const t = op.txn!;
      const r = op.txnResult;
      const ran = r === undefined ? '' : ` -> ${r.succeeded ? 'success' : 'failure'} [${r.results.map(showStepResult).join('; ')}]`;
      call = `txn(if ${t.compare.map(showCompare).join(' && ') || 'true'} then ${t.success.map(showStep).join('; ') || 'nothing'} else ${t.failure.map(showStep).join('; ') || 'nothing'})${ran}`;
      break;
    }
  }
  if (op.revision !== undefined && op.op !== 'get') call += ` @${op.revision}`;
  const ret = op.outcome === 'unknown' ? '?' : String(op.returnMs);
  return `#${op.id} client ${op.client} ${call} [${op.callMs}, ${ret}] ${op.outcome}`;
}

export function formatViolation(v: Violation): string {
  const lines: string[] = [];
  lines.push(`${v.key.includes(' + ') ? 'keys' : 'key'} ${JSON.stringify(v.key)}: no linearization of its ${v.ops.length} ops exists.`);
  if (v.kind === 'unreachable-value') {
    lines.push('These ops read a value that no op of this key wrote before they returned:');
    for (const b of v.blocked.slice(0, BLOCKED_SHOWN_MAX)) lines.push(`  ${formatOp(b.op)}: ${b.reason}`);
    if (v.blocked.length > BLOCKED_SHOWN_MAX) lines.push(`  ... and ${v.blocked.length - BLOCKED_SHOWN_MAX} more`);
    return lines.join('\n');
  }
  lines.push(`Longest linearizable prefix: ${v.prefix.length} of ${v.ops.length} ops, in linearization order:`);
  const skipped = Math.max(0, v.prefix.length - PREFIX_SHOWN_MAX);
  if (skipped > 0) lines.push(`      ... ${skipped} earlier ops`);
  v.prefix.slice(skipped).forEach((p, k) => {
    lines.push(`  ${String(skipped + k + 1).padStart(4)}. ${formatOp(p.op)}  => ${v.key.includes(' + ') ? '' : 'key holds '}${p.stateAfter}`);
  });
  if (v.prefix.length === 0) lines.push('      (none)');
  lines.push(`After it ${v.key.includes(' + ') ? 'the keys are' : 'the key holds'} ${v.stateAfterPrefix}. Op #${v.deadline.id} returned at ${v.deadline.returnMs},`);
  lines.push('so it or an op called by then must come next, and none can:');
  for (const b of v.blocked.slice(0, BLOCKED_SHOWN_MAX)) lines.push(`  ${formatOp(b.op)}: ${b.reason}`);
  if (v.blocked.length > BLOCKED_SHOWN_MAX) lines.push(`  ... and ${v.blocked.length - BLOCKED_SHOWN_MAX} more (see result.violation.blocked)`);
  if (v.ops.length <= PARTITION_SHOWN_MAX) {
    lines.push(`All checked ops of ${JSON.stringify(v.key)}, by call time:`);
    for (const op of v.ops) lines.push(`  ${formatOp(op)}`);
  }
  return lines.join('\n');
}
