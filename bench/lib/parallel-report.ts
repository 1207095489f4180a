// The arithmetic and text of `npm run bench:parallel`, free of I/O so it can be tested: counter
// deltas over the measured window summed over peers, latency above each client region's floor,
// the median (and spread) of each cell's runs, the parallel/raft ratios, issue 17's targets met
// or missed, the tables and the `--json` object.

import { histogramBuckets } from './histogram.ts';
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

/** Entries in a peer's in-memory log: it drops when the peer snapshots and compacts. */
export const logEntriesMetric = 'edgeraft_log_entries';

/**
 * Peers that took a snapshot (compacted their log) within the window: serializing the whole state
 * stalls a peer for a while (about half a second for 100,000 keys here), which lands in that
 * window's tail, whichever the mode.
 */
export function snapshotsInWindow(before: ReadonlyArray<ReadonlyMap<string, number>>, after: ReadonlyArray<ReadonlyMap<string, number>>): number {
  return before.filter((b, i) => {
    const x = b.get(logEntriesMetric);
    const y = after[i]?.get(logEntriesMetric);
    return x !== undefined && y !== undefined && y < x;
  }).length;
}

// ---- the floor ------------------------------------------------------------------------------

/**
 * The upper edge of bucket i of bench/lib/histogram.ts, in ms (1 µs growing 1 % a bucket): what
 * Histogram.quantileMs reports for a sample in that bucket. A test holds the two together.
 */
export function bucketUpperMs(i: number): number {
  return 1.01 ** i / 1000;
}

/** One client region's latencies (Histogram counts) and the floor of a write from there. */
export interface FloorGroup {
  readonly histogram: ArrayLike<number>;
  readonly floorMs: number;
}

/**
 * The q-quantile of (latency − its region's floor) over every group's samples together: how far
 * above what the network and the disk allow the writes took, with clients in several regions
 * (a p99 of the raw latencies would be the far region's alone). NaN when there are no samples.
 */
export function aboveFloorQuantileMs(groups: readonly FloorGroup[], q: number): number {
  const points: Array<readonly [number, number]> = [];
  let total = 0;
  for (const g of groups) {
    if (g.histogram.length !== histogramBuckets) throw new RangeError(`a histogram of ${g.histogram.length} buckets (expected ${histogramBuckets})`);
    for (let i = 0; i < g.histogram.length; i++) {
      const c = g.histogram[i]!;
      if (c > 0) {
        points.push([bucketUpperMs(i) - g.floorMs, c]);
        total += c;
      }
    }
  }
  if (total === 0) return Number.NaN;
  points.sort((a, b) => a[0] - b[0]);
  const rank = Math.max(1, Math.ceil(q * total));
  let seen = 0;
  for (const [v, c] of points) {
    seen += c;
    if (seen >= rank) return v;
  }
  return points[points.length - 1]![0];
}

/** A write's floor from one region: the round trip to the leader, the leader's to its nearest quorum, and one fsync. */
export function floorMs(clientToLeaderRttMs: number, quorumRttMs: number, fsyncMs: number): number {
  return clientToLeaderRttMs + quorumRttMs + (Number.isFinite(fsyncMs) ? fsyncMs : 0);
}

/**
 * The q-quantile of the sum of `hops` independent draws (Monte Carlo, `samples` sums): what jitter
 * alone adds above the floor, which counts none. A write crosses four jittered hops (to the leader,
 * to the nearest follower and back, back to the client), so no ordering can bring its p99 above
 * the floor under this.
 */
export function sumQuantileMs(draw: () => number, hops: number, q: number, samples = 100_000): number {
  const sums = new Float64Array(samples);
  for (let i = 0; i < samples; i++) {
    let s = 0;
    for (let h = 0; h < hops; h++) s += draw();
    sums[i] = s;
  }
  sums.sort();
  return sums[Math.min(samples - 1, Math.max(0, Math.ceil(q * samples) - 1))]!;
}

// ---- runs and cells -------------------------------------------------------------------------

export interface Run {
  readonly writesPerS: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly p999Ms: number;
  /** Quantiles of latency minus the writer's region floor (aboveFloorQuantileMs). */
  readonly p50AboveFloorMs: number;
  readonly p99AboveFloorMs: number;
  readonly p999AboveFloorMs: number;
  /** The floor by client region name (that region's round trips plus fsyncMs). */
  readonly floorsMs: Readonly<Record<string, number>>;
  /** The leader's median fsync over the window. */
  readonly fsyncMs: number;
  readonly writes: number;
  readonly errors: number;
  readonly counters: Counters;
  /** Peers that took a snapshot in the window (a cell: runs in which any did). */
  readonly snapshots: number;
  readonly otherCpuPct: number;
  readonly leaderCpuPct: number;
  readonly leaderChanged: boolean;
}

export interface CellKey {
  readonly mode: Mode;
  /** The jitter of the links (--jitter without --net; the profile's with it). */
  readonly jitterMs: number;
  readonly keyCount: number;
  /** Closed-loop writers (the offered load): the same for both modes of a cell. */
  readonly writers: number;
}

/** The lowest and highest of the runs. */
export interface Spread {
  readonly min: number;
  readonly max: number;
}

export interface Cell extends CellKey {
  readonly runs: number;
  /** Medians over the runs (errors: summed; snapshots: runs with one; leaderChanged: in any run). */
  readonly figures: Run;
  readonly spread: { readonly writesPerS: Spread; readonly p99AboveFloorMs: Spread };
}

function spreadOf(xs: readonly number[]): Spread {
  const ok = xs.filter((v) => Number.isFinite(v));
  return ok.length === 0 ? { min: Number.NaN, max: Number.NaN } : { min: Math.min(...ok), max: Math.max(...ok) };
}

export function summarizeCell(key: CellKey, runs: readonly Run[]): Cell {
  if (runs.length === 0) throw new RangeError('a cell needs at least one run');
  const med = (f: (r: Run) => number) => {
    const xs = runs.map(f).filter((v) => Number.isFinite(v));
    return xs.length === 0 ? Number.NaN : median(xs);
  };
  const counters = {} as Record<keyof typeof counterMetrics, number>;
  for (const k of counterKeys) counters[k] = med((r) => r.counters[k]);
  const floorsMs: Record<string, number> = {};
  for (const region of new Set(runs.flatMap((r) => Object.keys(r.floorsMs)))) floorsMs[region] = med((r) => r.floorsMs[region] ?? Number.NaN);
  return {
    ...key, runs: runs.length,
    figures: {
      writesPerS: med((r) => r.writesPerS), p50Ms: med((r) => r.p50Ms), p99Ms: med((r) => r.p99Ms), p999Ms: med((r) => r.p999Ms),
      p50AboveFloorMs: med((r) => r.p50AboveFloorMs), p99AboveFloorMs: med((r) => r.p99AboveFloorMs), p999AboveFloorMs: med((r) => r.p999AboveFloorMs),
      floorsMs, fsyncMs: med((r) => r.fsyncMs),
      writes: med((r) => r.writes), errors: runs.reduce((s, r) => s + r.errors, 0), counters, snapshots: runs.filter((r) => r.snapshots > 0).length,
      otherCpuPct: med((r) => r.otherCpuPct), leaderCpuPct: med((r) => r.leaderCpuPct), leaderChanged: runs.some((r) => r.leaderChanged),
    },
    spread: { writesPerS: spreadOf(runs.map((r) => r.writesPerS)), p99AboveFloorMs: spreadOf(runs.map((r) => r.p99AboveFloorMs)) },
  };
}

// ---- targets --------------------------------------------------------------------------------

/** Issue 17: under jitter, parallel's p99 above the floor at most this fraction of raft's. */
export const p99RatioGoal = 0.5;
/** Issue 17: without jitter, parallel keeps at least this fraction of raft's throughput (and under jitter, must not buy its tail with less). */
export const writesRatioGoal = 0.9;

export type GoalStatus = 'met' | 'missed' | 'not measured';

export interface Comparison {
  readonly jitterMs: number;
  readonly keyCount: number;
  readonly writers: number;
  readonly raft: Cell | null;
  readonly parallel: Cell | null;
  /** parallel / raft; NaN when a side is missing (or raft's p99 sat on its floor). */
  readonly writesRatio: number;
  readonly p99AboveFloorRatio: number;
  readonly p999AboveFloorRatio: number;
  readonly goal: string;
  readonly status: GoalStatus;
}

export function goalText(jitterMs: number): string {
  return jitterMs > 0
    ? `p99 above floor ≤ ${p99RatioGoal}× raft, writes/s ≥ ${writesRatioGoal}×, commits out of order`
    : `writes/s ≥ ${writesRatioGoal}× raft`;
}

/** Under jitter the tail must halve, with no throughput given up for it and with out-of-order commits doing it. */
export function goalStatus(jitterMs: number, writesRatio: number, p99AboveFloorRatio: number, committedOutOfOrder: number): GoalStatus {
  if (!Number.isFinite(writesRatio)) return 'not measured';
  if (jitterMs === 0) return writesRatio >= writesRatioGoal ? 'met' : 'missed';
  if (!Number.isFinite(p99AboveFloorRatio)) return 'not measured';
  return p99AboveFloorRatio <= p99RatioGoal && writesRatio >= writesRatioGoal && committedOutOfOrder > 0 ? 'met' : 'missed';
}

/** parallel / raft of a latency above the floor; NaN unless raft's is above its floor (a ratio of two ~0 figures says nothing). */
function aboveFloorRatio(parallel: number, raft: number): number {
  return raft > 0 && Number.isFinite(parallel) ? Math.max(0, parallel) / raft : Number.NaN;
}

const cellId = (c: { jitterMs: number; keyCount: number; writers: number }) => `${c.jitterMs}|${c.keyCount}|${c.writers}`;

/** One comparison per (jitter, key count, writers) present, in the order the cells first name them. */
export function compare(cells: readonly Cell[]): Comparison[] {
  const seen = new Map<string, { jitterMs: number; keyCount: number; writers: number }>();
  for (const c of cells) seen.set(cellId(c), { jitterMs: c.jitterMs, keyCount: c.keyCount, writers: c.writers });
  return [...seen.values()].map((k) => {
    const find = (mode: Mode) => cells.find((c) => c.mode === mode && cellId(c) === cellId(k)) ?? null;
    const raft = find('raft');
    const parallel = find('parallel');
    const both = raft !== null && parallel !== null;
    const writesRatio = both ? parallel.figures.writesPerS / raft.figures.writesPerS : Number.NaN;
    const p99AboveFloorRatio = both ? aboveFloorRatio(parallel.figures.p99AboveFloorMs, raft.figures.p99AboveFloorMs) : Number.NaN;
    return {
      ...k, raft, parallel, writesRatio, p99AboveFloorRatio,
      p999AboveFloorRatio: both ? aboveFloorRatio(parallel.figures.p999AboveFloorMs, raft.figures.p999AboveFloorMs) : Number.NaN,
      goal: goalText(k.jitterMs),
      status: goalStatus(k.jitterMs, writesRatio, p99AboveFloorRatio, parallel?.figures.counters.committedOutOfOrder ?? 0),
    };
  });
}

// ---- tables ---------------------------------------------------------------------------------

export const n2 = (v: number, d = 2): string => (Number.isFinite(v) ? fmt(v, Math.abs(v) >= 100 ? 0 : Math.abs(v) >= 10 ? 1 : d) : '–');
export const ratioText = (v: number): string => (Number.isFinite(v) ? `${fmt(v, 2)}×` : '–');
const count = (v: number) => (Number.isFinite(v) ? fmt(v) : '–');
export const keysText = (k: number): string => (k <= 64 ? `${k} (high conflict)` : `${fmt(k)} (low conflict)`);

/** "median (min–max)" when there were several runs. */
function withSpread(v: number, s: Spread, runs: number, f: (x: number) => string): string {
  return runs > 1 && Number.isFinite(s.min) ? `${f(v)} (${f(s.min)}–${f(s.max)})` : f(v);
}

/** Which columns the tables start with: the jitter only when it varies (no --net). */
export interface TableShape {
  readonly jitterColumn: boolean;
}

function lead(shape: TableShape, c: { jitterMs: number; keyCount: number; writers: number }): string[] {
  return [...(shape.jitterColumn ? [String(c.jitterMs)] : []), keysText(c.keyCount), String(c.writers)];
}

function leadHeader(shape: TableShape): string[] {
  return [...(shape.jitterColumn ? ['jitter ms'] : []), 'keys', 'writers'];
}

export function floorsText(floors: Readonly<Record<string, number>>): string {
  const vs = Object.values(floors);
  return vs.length === 0 ? '–' : vs.map((v) => n2(v, 1)).join(' / ');
}

/** The errors, and what else happened in the cell's windows that shows in its tail (snapshots, a new leader). */
function notesText(f: Run): string {
  const notes = [...(f.snapshots > 0 ? [`snapshot in ${f.snapshots} run${f.snapshots > 1 ? 's' : ''}`] : []), ...(f.leaderChanged ? ['leader changed'] : [])];
  return `${f.errors}${notes.length > 0 ? ` (${notes.join(', ')})` : ''}`;
}

export function resultsTable(cells: readonly Cell[], shape: TableShape): string {
  const regions = [...new Set(cells.flatMap((c) => Object.keys(c.figures.floorsMs)))];
  const floorHeader = regions.length > 1 ? `floor ms (${regions.join(' / ')})` : 'floor ms';
  return table([...leadHeader(shape), 'mode', 'writes/s', 'p50 ms', 'p99 ms', 'p99.9 ms', floorHeader, 'p99 above floor ms', 'errors (events)', 'leader CPU %', 'other CPU %'],
    cells.map((c) => {
      const f = c.figures;
      return [...lead(shape, c), c.mode, withSpread(f.writesPerS, c.spread.writesPerS, c.runs, count), n2(f.p50Ms), n2(f.p99Ms), n2(f.p999Ms),
        floorsText(f.floorsMs), withSpread(f.p99AboveFloorMs, c.spread.p99AboveFloorMs, c.runs, (v) => n2(v, 1)),
        notesText(f), count(f.leaderCpuPct), count(Math.max(0, f.otherCpuPct))];
    }));
}

export function countersTable(cells: readonly Cell[], shape: TableShape): string {
  return table([...leadHeader(shape), 'mode', 'writes', 'reorder held', 'reorder accepted', 'acked past a hole',
    'committed out of order', 'applied out of order', 'held by conflict', 'entries/sync', 'ms/sync'],
  cells.map((c) => {
    const k = c.figures.counters;
    return [...lead(shape, c), c.mode, count(c.figures.writes), count(k.reorderHeld), count(k.reorderAccepted),
      count(k.lookBehind), count(k.committedOutOfOrder), count(k.appliedOutOfOrder), count(k.applyHeldByConflict),
      n2(k.syncs > 0 ? k.syncedEntries / k.syncs : Number.NaN, 1), n2(k.syncs > 0 ? k.syncMs / k.syncs : Number.NaN)];
  }));
}

export function ratiosTable(comparisons: readonly Comparison[], shape: TableShape): string {
  return table([...leadHeader(shape), 'writes/s parallel/raft', 'p99 above floor parallel/raft', 'p99.9 above floor parallel/raft', 'target', 'status'],
    comparisons.map((c) => [...lead(shape, c), ratioText(c.writesRatio), ratioText(c.p99AboveFloorRatio), ratioText(c.p999AboveFloorRatio), c.goal, c.status]));
}

// ---- --json ---------------------------------------------------------------------------------

/** `0.5` -> `0_5`: a JSON key part. */
function keyPart(jitterMs: number): string {
  return String(jitterMs).replace('.', '_');
}

function condition(c: { jitterMs: number; keyCount: number; writers: number }): string {
  return `jitter_${keyPart(c.jitterMs)}ms_keys_${c.keyCount}_writers_${c.writers}`;
}

export function cellJsonKey(c: CellKey): string {
  return `${c.mode}_${condition(c)}`;
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
      [`${p}_writes_per_s`]: rd(f.writesPerS, 0), [`${p}_writes_per_s_min`]: rd(c.spread.writesPerS.min, 0), [`${p}_writes_per_s_max`]: rd(c.spread.writesPerS.max, 0),
      [`${p}_p50_ms`]: rd(f.p50Ms), [`${p}_p99_ms`]: rd(f.p99Ms), [`${p}_p999_ms`]: rd(f.p999Ms),
      [`${p}_p99_above_floor_ms`]: rd(f.p99AboveFloorMs), [`${p}_p99_above_floor_ms_min`]: rd(c.spread.p99AboveFloorMs.min),
      [`${p}_p99_above_floor_ms_max`]: rd(c.spread.p99AboveFloorMs.max), [`${p}_p999_above_floor_ms`]: rd(f.p999AboveFloorMs),
      [`${p}_fsync_ms`]: rd(f.fsyncMs), [`${p}_errors_total`]: f.errors, [`${p}_runs_with_snapshot_total`]: f.snapshots,
      [`${p}_reorder_held_total`]: rd(k.reorderHeld, 0), [`${p}_reorder_accepted_total`]: rd(k.reorderAccepted, 0),
      [`${p}_lookbehind_accepted_total`]: rd(k.lookBehind, 0), [`${p}_committed_out_of_order_total`]: rd(k.committedOutOfOrder, 0),
      [`${p}_applied_out_of_order_total`]: rd(k.appliedOutOfOrder, 0), [`${p}_apply_held_by_conflict_total`]: rd(k.applyHeldByConflict, 0),
      [`${p}_other_cpu_pct`]: rd(Math.max(0, f.otherCpuPct), 0),
    });
  }
  for (const c of comparisons) {
    const p = condition(c);
    Object.assign(j, {
      [`${p}_writes_per_s_ratio_parallel_to_raft`]: rd(c.writesRatio), [`${p}_p99_above_floor_ratio_parallel_to_raft`]: rd(c.p99AboveFloorRatio),
      [`${p}_p999_above_floor_ratio_parallel_to_raft`]: rd(c.p999AboveFloorRatio), [`${p}_goal`]: c.status,
    });
  }
  return j;
}
