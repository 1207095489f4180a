// Linearizability checker for key-value histories: validates the history, drops what cannot
// matter (failed ops, reads of unknown outcome), splits it per key (a KV store is linearizable iff
// each key is) and runs the memoised Wing & Gong search on each key within named budgets.
// Transactions tie keys together: every key a txn touches (and every key of the history inside a
// range it reads or deletes) joins one partition, checked as a whole against a multi-key model
// (txn-model.ts, multi-search.ts). Linearizability is compositional over objects, so partitions
// that share no op are still checked apart; keep each txn to a small group of keys.
import { ValueTable, compileOp } from './model.ts';
import type { KeyOp } from './model.ts';
import { validateHistory } from './history.ts';
import type { HistoryOp } from './history.ts';
import { searchKey } from './search.ts';
import type { Budget } from './search.ts';
import { buildMultiViolation, buildViolation, formatViolation } from './explain.ts';
import { searchMulti } from './multi-search.ts';
import { MultiModel, keyInRange, keysOfOp } from './txn-model.ts';
import type { Violation } from './explain.ts';

export type { Budget } from './search.ts';
export type { Violation } from './explain.ts';

export interface CheckOptions {
  /** Search steps one key may take before it is reported `unknown`. */
  readonly stepsPerKeyMax?: number;
  /** (linearized ops, state) pairs one key may remember; bounds memory (~ (ops/8 + 8) bytes each). */
  readonly visitedPerKeyMax?: number;
  /** Wall-clock budget for the whole check; keys not finished by then are `unknown`. */
  readonly timeoutMs?: number;
}

export const CHECK_DEFAULTS: Required<CheckOptions> = {
  stepsPerKeyMax: 20_000_000,
  visitedPerKeyMax: 4_000_000,
  timeoutMs: 120_000,
};

// The plainer search used for explanations gets at most this many steps before the checker falls
// back to explaining with the search that found the violation.
const EXPLAIN_STEPS_MAX = 2_000_000;

export interface CheckStats {
  readonly opsTotal: number;
  readonly opsChecked: number;
  readonly opsDroppedFailed: number;
  readonly opsDroppedUnknownReads: number;
  readonly keys: number;
  readonly steps: number;
  readonly elapsedMs: number;
}

export interface KeyUnknown {
  readonly key: string;
  readonly ops: number;
  readonly budget: Budget;
  readonly steps: number;
}

export type CheckResult =
  | { readonly ok: true; readonly verdict: 'linearizable'; readonly stats: CheckStats }
  | {
    readonly ok: false;
    readonly verdict: 'violation';
    /** The failing key with the fewest ops; `violation` explains it. */
    readonly key: string;
    readonly violation: Violation;
    readonly failingKeys: readonly string[];
    /** Keys whose check ran out of budget (not known to be linearizable either). */
    readonly unknownKeys: readonly KeyUnknown[];
    readonly stats: CheckStats;
    readonly explanation: string;
  }
  | {
    /** Not proven linearizable: a caller treating `!ok` as failure stays safe. */
    readonly ok: false;
    readonly verdict: 'unknown';
    readonly key: string;
    readonly budget: Budget;
    readonly unknownKeys: readonly KeyUnknown[];
    readonly stats: CheckStats;
    readonly explanation: string;
  };

function resolveOptions(options: CheckOptions): Required<CheckOptions> {
  const resolved = { ...CHECK_DEFAULTS, ...options };
  for (const name of ['stepsPerKeyMax', 'visitedPerKeyMax', 'timeoutMs'] as const) {
    const v = resolved[name];
    if (!Number.isSafeInteger(v) || v <= 0) throw new TypeError(`lincheck: \`${name}\` must be a positive integer, got ${String(v)}`);
  }
  return resolved;
}

interface Partition {
  /** The key, or for a multi-key partition its keys joined by ' + '. */
  readonly key: string;
  readonly indices: number[];
  /** Set when txns tie several keys (or a range) into this partition. */
  multi: MultiModel | null;
}

function partition(history: readonly HistoryOp[]): { parts: Partition[]; failed: number; unknownReads: number } {
  let failed = 0;
  let unknownReads = 0;
  const kept: number[] = [];
  // Union-find over keys: a txn joins every key it touches.
  const parent = new Map<string, string>();
  const find = (k: string): string => {
    let r = parent.get(k);
    if (r === undefined) {
      parent.set(k, k);
      return k;
    }
    while (parent.get(r) !== r) r = parent.get(r)!;
    parent.set(k, r);
    return r;
  };
  const union = (a: string, b: string): void => { parent.set(find(a), find(b)); };
  const txns: Array<{ keys: string[]; ranges: Array<{ start: string; end: string | null }> }> = [];
  for (let i = 0; i < history.length; i++) {
    const op = history[i] as HistoryOp;
    if (op.outcome === 'fail') { failed++; continue; }
    if (op.outcome === 'unknown' && op.op === 'get') { unknownReads++; continue; }
    kept.push(i);
    find(op.key);
    if (op.op !== 'txn') continue;
    const t = keysOfOp(op);
    t.keys.push(op.key);
    for (const k of t.keys) union(k, op.key);
    txns.push(t);
  }
  const allKeys = [...parent.keys()];
  for (const t of txns) {
    for (const r of t.ranges) for (const k of allKeys) if (keyInRange(k, r.start, r.end)) union(k, t.keys[0]!);
  }
  const byRoot = new Map<string, { keys: Set<string>; indices: number[]; txn: boolean }>();
  for (const i of kept) {
    const op = history[i] as HistoryOp;
    const root = find(op.key);
    let g = byRoot.get(root);
    if (g === undefined) byRoot.set(root, (g = { keys: new Set(), indices: [], txn: false }));
    g.indices.push(i);
    if (op.op === 'txn') g.txn = true;
  }
  for (const k of allKeys) byRoot.get(find(k))?.keys.add(k);
  const parts: Partition[] = [];
  for (const g of byRoot.values()) {
    if (!g.txn) {
      parts.push({ key: (history[g.indices[0]!] as HistoryOp).key, indices: g.indices, multi: null });
      continue;
    }
    const multi = new MultiModel(g.keys);
    parts.push({ key: multi.keys.join(' + '), indices: g.indices, multi });
  }
  return { parts, failed, unknownReads };
}

/** Searches one partition: the single-key search, or the multi-key one for txns. */
function searchPartition(history: readonly HistoryOp[], part: Partition, limits: { stepsMax: number; visitedMax: number; deadlineMs: number }): { verdict: 'ok' | 'violation' | 'unknown'; steps: number; budget?: Budget } {
  if (part.multi === null) return searchKey(compile(history, part).ops, limits);
  const m = part.multi;
  return searchMulti(part.indices.map((i) => m.compile(history[i] as HistoryOp, i)), m.initial(), limits);
}

function compile(history: readonly HistoryOp[], part: Partition): { ops: KeyOp[]; table: ValueTable } {
  const table = new ValueTable();
  return { ops: part.indices.map((i) => compileOp(history[i] as HistoryOp, i, table)), table };
}

/** Checks the whole history; throws HistoryError when it is malformed. */
export function checkHistory(history: readonly HistoryOp[], options: CheckOptions = {}): CheckResult {
  const opts = resolveOptions(options);
  const startedMs = performance.now();
  const deadlineMs = startedMs + opts.timeoutMs;
  validateHistory(history);
  const { parts, failed, unknownReads } = partition(history);
  const limits = { stepsMax: opts.stepsPerKeyMax, visitedMax: opts.visitedPerKeyMax, deadlineMs };
  const failing: Partition[] = [];
  const unknown: KeyUnknown[] = [];
  let steps = 0;
  let opsChecked = 0;
  for (const part of parts) {
    opsChecked += part.indices.length;
    if (performance.now() > deadlineMs) {
      unknown.push({ key: part.key, ops: part.indices.length, budget: 'timeoutMs', steps: 0 });
      continue;
    }
    const outcome = searchPartition(history, part, limits);
    steps += outcome.steps;
    if (outcome.verdict === 'violation') failing.push(part);
    if (outcome.verdict === 'unknown') unknown.push({ key: part.key, ops: part.indices.length, budget: outcome.budget!, steps: outcome.steps });
  }
  const stats = (): CheckStats => ({
    opsTotal: history.length, opsChecked, opsDroppedFailed: failed, opsDroppedUnknownReads: unknownReads,
    keys: parts.length, steps, elapsedMs: performance.now() - startedMs,
  });
  if (failing.length > 0) return violationResult(history, failing, unknown, limits, stats);
  const first = unknown[0];
  if (first !== undefined) {
    const s = stats();
    return { ok: false, verdict: 'unknown', key: first.key, budget: first.budget, unknownKeys: unknown, stats: s, explanation: explainUnknown(unknown, s, opts) };
  }
  return { ok: true, verdict: 'linearizable', stats: stats() };
}

function violationResult(
  history: readonly HistoryOp[], failing: Partition[], unknown: KeyUnknown[],
  limits: { stepsMax: number; visitedMax: number; deadlineMs: number }, stats: () => CheckStats,
): CheckResult {
  let smallest = failing[0] as Partition;
  for (const p of failing) if (p.indices.length < smallest.indices.length) smallest = p;
  if (smallest.multi !== null) {
    const m = smallest.multi;
    const ops = smallest.indices.map((i) => m.compile(history[i] as HistoryOp, i));
    const again = searchMulti(ops, m.initial(), { ...limits, deadlineMs: Infinity });
    if (again.verdict !== 'violation') throw new Error(`lincheck: keys ${smallest.key} did not fail again`);
    const violation = buildMultiViolation(smallest.key, history, m, ops, again.prefix);
    return finishViolation(violation, failing, unknown, stats);
  }
  // The plainer search explains better but may need more steps; the first search's mode, tracking
  // the prefix, takes the same steps as before, so it fits the budget.
  const { ops, table } = compile(history, smallest);
  const untimed = { ...limits, deadlineMs: Infinity };
  let again = searchKey(ops, { ...untimed, stepsMax: Math.min(limits.stepsMax, EXPLAIN_STEPS_MAX) }, { trackPrefix: true, allowStranding: true });
  if (again.verdict === 'unknown') again = searchKey(ops, untimed, { trackPrefix: true });
  if (again.verdict !== 'violation' || again.prefix === null) throw new Error(`lincheck: key ${smallest.key} did not fail again`);
  return finishViolation(buildViolation(smallest.key, history, ops, table, again.prefix), failing, unknown, stats);
}

function finishViolation(violation: Violation, failing: Partition[], unknown: KeyUnknown[], stats: () => CheckStats): CheckResult {
  const failingKeys = failing.map((p) => p.key);
  const s = stats();
  const listed = failingKeys.slice(0, 5).map((k) => JSON.stringify(k)).join(', ') + (failingKeys.length > 5 ? ', ...' : '');
  const others = failingKeys.length > 1 ? ` (${failingKeys.length} keys fail: ${listed}; this one has the fewest ops)` : '';
  const unknownNote = unknown.length > 0 ? `\n${unknown.length} other key(s) ran out of budget and were not decided.` : '';
  const explanation = `NOT LINEARIZABLE${others}: ${formatViolation(violation)}${unknownNote}`;
  return { ok: false, verdict: 'violation', key: violation.key, violation, failingKeys, unknownKeys: unknown, stats: s, explanation };
}

function explainUnknown(unknown: readonly KeyUnknown[], stats: CheckStats, opts: Required<CheckOptions>): string {
  const lines = [`UNKNOWN: ${unknown.length} of ${stats.keys} keys could not be decided within budget; the others are linearizable.`];
  for (const u of unknown.slice(0, 10)) {
    lines.push(`  key ${JSON.stringify(u.key)} (${u.ops} ops): ${u.budget}=${opts[u.budget]} ran out after ${u.steps} steps`);
  }
  if (unknown.length > 10) lines.push(`  ... and ${unknown.length - 10} more`);
  lines.push('Raise the named budget (CheckOptions or the CLI flag) or shorten the history on those keys.');
  return lines.join('\n');
}

/** The printable verdict: a one-line summary when linearizable, the explanation otherwise. */
export function formatResult(result: CheckResult): string {
  if (!result.ok) return result.explanation;
  const s = result.stats;
  return `LINEARIZABLE: ${s.opsChecked} ops on ${s.keys} keys checked in ${s.elapsedMs.toFixed(1)} ms ` +
    `(${s.steps} search steps; dropped ${s.opsDroppedFailed} failed ops and ${s.opsDroppedUnknownReads} reads of unknown outcome)`;
}
