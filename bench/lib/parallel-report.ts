// The arithmetic and text of `npm run bench:parallel`, free of I/O so it can be tested: counter
// deltas over the measured window summed over peers, the median of each cell's runs, the
// parallel/raft ratios, issue 8's goal met or missed, the tables and the `--json` object.

import { fmt, median, table } from '../machine.ts';

export type Mode = 'raft' | 'parallel';

/** The counters read from every peer's /metrics (gauges of cumulative counts, per peer). */
export const counterMetrics = {
  reorderHeld: 'edgeraft_reorder_held_total',
  reorderAccepted: 'edgeraft_reorder_accepted_total',
  lookBehind: 'edgeraft_parallel_events_total{event="accepted_out_of_order"}',
  committedOutOfOrder: 'edgeraft_parallel_events_total{event="committed_out_of_order"}',
  appliedOutOfOrder: 'edgeraft_parallel_events_total{event="applied_out_of_order"}',
  applyHeldByConflict: 'edgeraft_parallel_events_total{event="apply_held_by_conflict"}',
  merges: 'edgeraft_parallel_events_total{event="merge"}',
  syncs: 'edgeraft_persist_duration_ms_count',
  syncMs: 'edgeraft_persist_duration_ms_sum',
  syncedEntries: 'edgeraft_persist_batch_entries_sum',
} as const;

export type Counters = { readonly [K in keyof typeof counterMetrics]: number };
export const counterKeys = Object.keys(counterMetrics) as Array<keyof typeof counterMetrics>;

/** Each counter's increase over the window, summed over peers (a metric a peer lacks counts 0). */
export function windowCounters(before: ReadonlyArray<ReadonlyMap<string, number>>, after: ReadonlyArray<ReadonlyMap<string, number>>): Counters {
  if (before.length !== after.length) throw new RangeError(`scrapes of ${before.length} and ${after.length} peers do not pair up`);
  const out = {} as Record<keyof typeof counterMetrics, number>;
  for (const k of counterKeys) {
    const name = counterMetrics[k];
    out[k] = before.reduce((s, b, i) => s + Math.max(0, (after[i]!.get(name) ?? 0) - (b.get(name) ?? 0)), 0);
  }
  return out;
}

export interface Run {
  readonly writesPerS: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly p999Ms: number;
  readonly writes: number;
  readonly errors: number;
  readonly counters: Counters;
  readonly otherCpuPct: number;
  readonly leaderCpuPct: number;
  readonly leaderChanged: boolean;
}

export interface CellKey {
  readonly mode: Mode;
  readonly jitterMs: number;
  readonly keyCount: number;
}

export interface Cell extends CellKey {
  readonly runs: number;
  /** Medians over the runs (errors: summed; leaderChanged: in any run). */
  readonly figures: Run;
}

export function summarizeCell(key: CellKey, runs: readonly Run[]): Cell {
  if (runs.length === 0) throw new RangeError('a cell needs at least one run');
  const med = (f: (r: Run) => number) => {
    const xs = runs.map(f).filter((v) => Number.isFinite(v));
    return xs.length === 0 ? Number.NaN : median(xs);
  };
  const counters = {} as Record<keyof typeof counterMetrics, number>;
  for (const k of counterKeys) counters[k] = med((r) => r.counters[k]);
  return {
    ...key, runs: runs.length,
    figures: {
      writesPerS: med((r) => r.writesPerS), p50Ms: med((r) => r.p50Ms), p99Ms: med((r) => r.p99Ms), p999Ms: med((r) => r.p999Ms),
      writes: med((r) => r.writes), errors: runs.reduce((s, r) => s + r.errors, 0), counters,
      otherCpuPct: med((r) => r.otherCpuPct), leaderCpuPct: med((r) => r.leaderCpuPct), leaderChanged: runs.some((r) => r.leaderChanged),
    },
  };
}

/** Throughput within this fraction counts as equal, and as no loss (the machine is shared and noisy). */
export const equalTolerance = 0.1;
/** Issue 8: under jitter, parallel p99 at most this fraction of raft's. */
export const p99RatioGoal = 0.5;

export type GoalStatus = 'met' | 'missed' | 'not measured';

export interface Comparison {
  readonly jitterMs: number;
  readonly keyCount: number;
  readonly raft: Cell | null;
  readonly parallel: Cell | null;
  /** parallel / raft; NaN when a side is missing. */
  readonly writesRatio: number;
  readonly p99Ratio: number;
  readonly p999Ratio: number;
  readonly goal: string;
  readonly status: GoalStatus;
}

export function goalText(jitterMs: number): string {
  return jitterMs > 0
    ? `p99 ≤ ${p99RatioGoal}× raft at equal writes/s (±${equalTolerance * 100}%)`
    : `no loss: writes/s ≥ ${1 - equalTolerance}× and p99 ≤ ${1 + equalTolerance}× raft`;
}

export function goalStatus(jitterMs: number, writesRatio: number, p99Ratio: number): GoalStatus {
  if (!Number.isFinite(writesRatio) || !Number.isFinite(p99Ratio)) return 'not measured';
  if (jitterMs > 0) return p99Ratio <= p99RatioGoal && Math.abs(writesRatio - 1) <= equalTolerance ? 'met' : 'missed';
  return writesRatio >= 1 - equalTolerance && p99Ratio <= 1 + equalTolerance ? 'met' : 'missed';
}

/** One comparison per (jitter, key count) present, in the order the cells first name them. */
export function compare(cells: readonly Cell[]): Comparison[] {
  const seen = new Map<string, { jitterMs: number; keyCount: number }>();
  for (const c of cells) seen.set(`${c.jitterMs}|${c.keyCount}`, { jitterMs: c.jitterMs, keyCount: c.keyCount });
  return [...seen.values()].map(({ jitterMs, keyCount }) => {
    const find = (mode: Mode) => cells.find((c) => c.mode === mode && c.jitterMs === jitterMs && c.keyCount === keyCount) ?? null;
    const raft = find('raft');
    const parallel = find('parallel');
    const ratio = (f: (r: Run) => number) => (raft !== null && parallel !== null ? f(parallel.figures) / f(raft.figures) : Number.NaN);
    const writesRatio = ratio((r) => r.writesPerS);
    const p99Ratio = ratio((r) => r.p99Ms);
    return {
      jitterMs, keyCount, raft, parallel, writesRatio, p99Ratio, p999Ratio: ratio((r) => r.p999Ms),
      goal: goalText(jitterMs), status: goalStatus(jitterMs, writesRatio, p99Ratio),
    };
  });
}

const n2 = (v: number, d = 2) => (Number.isFinite(v) ? fmt(v, v >= 100 ? 0 : v >= 10 ? 1 : d) : '–');
const ratioText = (v: number) => (Number.isFinite(v) ? `${fmt(v, 2)}×` : '–');
const count = (v: number) => (Number.isFinite(v) ? fmt(v) : '–');
const keysText = (k: number) => (k <= 64 ? `${k} (high conflict)` : `${fmt(k)} (low conflict)`);

export function resultsTable(cells: readonly Cell[]): string {
  return table(['jitter ms', 'keys', 'mode', 'writes/s', 'p50 ms', 'p99 ms', 'p99.9 ms', 'errors', 'leader CPU %', 'other CPU %'],
    cells.map((c) => {
      const f = c.figures;
      return [String(c.jitterMs), keysText(c.keyCount), c.mode, count(f.writesPerS), n2(f.p50Ms), n2(f.p99Ms), n2(f.p999Ms),
        `${f.errors}${f.leaderChanged ? ' (leader changed)' : ''}`, count(f.leaderCpuPct), count(Math.max(0, f.otherCpuPct))];
    }));
}

export function countersTable(cells: readonly Cell[]): string {
  return table(['jitter ms', 'keys', 'mode', 'writes', 'reorder held', 'reorder accepted', 'look-behind (acked past a hole)',
    'committed out of order', 'applied out of order', 'apply held by conflict', 'entries/sync', 'ms/sync'],
  cells.map((c) => {
    const k = c.figures.counters;
    return [String(c.jitterMs), keysText(c.keyCount), c.mode, count(c.figures.writes), count(k.reorderHeld), count(k.reorderAccepted),
      count(k.lookBehind), count(k.committedOutOfOrder), count(k.appliedOutOfOrder), count(k.applyHeldByConflict),
      n2(k.syncs > 0 ? k.syncedEntries / k.syncs : Number.NaN, 1), n2(k.syncs > 0 ? k.syncMs / k.syncs : Number.NaN)];
  }));
}

export function ratiosTable(comparisons: readonly Comparison[]): string {
  return table(['jitter ms', 'keys', 'writes/s parallel/raft', 'p99 parallel/raft', 'p99.9 parallel/raft', 'goal', 'status'],
    comparisons.map((c) => [String(c.jitterMs), keysText(c.keyCount), ratioText(c.writesRatio), ratioText(c.p99Ratio), ratioText(c.p999Ratio), c.goal, c.status]));
}

/** `0.5` -> `0_5`: a JSON key part. */
function keyPart(jitterMs: number): string {
  return String(jitterMs).replace('.', '_');
}

export function cellJsonKey(c: CellKey): string {
  return `${c.mode}_jitter_${keyPart(c.jitterMs)}ms_keys_${c.keyCount}`;
}

/** The metrics of `--json`, names with units last. */
export function metricsJson(cells: readonly Cell[], comparisons: readonly Comparison[]): Record<string, number | string | boolean | null> {
  const rd = (v: number, d = 3) => (Number.isFinite(v) ? Number(v.toFixed(d)) : null);
  const j: Record<string, number | string | boolean | null> = {};
  for (const c of cells) {
    const p = cellJsonKey(c);
    const f = c.figures;
    const k = f.counters;
    Object.assign(j, {
      [`${p}_writes_per_s`]: rd(f.writesPerS, 0), [`${p}_p50_ms`]: rd(f.p50Ms), [`${p}_p99_ms`]: rd(f.p99Ms), [`${p}_p999_ms`]: rd(f.p999Ms),
      [`${p}_errors_total`]: f.errors, [`${p}_reorder_held_total`]: rd(k.reorderHeld, 0), [`${p}_reorder_accepted_total`]: rd(k.reorderAccepted, 0),
      [`${p}_lookbehind_accepted_total`]: rd(k.lookBehind, 0), [`${p}_committed_out_of_order_total`]: rd(k.committedOutOfOrder, 0),
      [`${p}_applied_out_of_order_total`]: rd(k.appliedOutOfOrder, 0), [`${p}_apply_held_by_conflict_total`]: rd(k.applyHeldByConflict, 0),
      [`${p}_other_cpu_pct`]: rd(Math.max(0, f.otherCpuPct), 0),
    });
  }
  for (const c of comparisons) {
    const p = `jitter_${keyPart(c.jitterMs)}ms_keys_${c.keyCount}`;
    Object.assign(j, {
      [`${p}_writes_per_s_ratio_parallel_to_raft`]: rd(c.writesRatio), [`${p}_p99_ms_ratio_parallel_to_raft`]: rd(c.p99Ratio),
      [`${p}_p999_ms_ratio_parallel_to_raft`]: rd(c.p999Ratio), [`${p}_goal`]: c.status,
    });
  }
  return j;
}
