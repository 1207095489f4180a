// What `npm run bench` compares: its load points (system, cluster size, operation, clients and
// their shape), the metric names they report under, which etcd load each edgeraft load is set
// beside, the ratios (> 1 always means edgeraft is better) and the targets against etcd. Pure.

import type { LoadConsistency, LoadOp } from './load-protocol.ts';

export type System = 'edgeraft' | 'etcd';

/**
 * How the clients are made. independent: every client its own SDK instance (its own connect(),
 * connections and session), as browser tabs, edge function instances and services are;
 * multiplexed: a few SDK instances per load process, each carrying many request loops.
 */
export type Shape = 'independent' | 'multiplexed';
export const shapes: readonly Shape[] = ['independent', 'multiplexed'];

export interface Point {
  /** Metric prefix: writes_256_independent, reads_lease_1_multiplexed, p5_mixed_256_independent, etcd_reads_serializable_256_independent... */
  readonly key: string;
  readonly label: string;
  readonly system: System;
  readonly members: number;
  readonly op: LoadOp;
  readonly concurrency: number;
  readonly shape: Shape;
  /** Of the reads (writes: 'linearizable'). */
  readonly consistency: LoadConsistency;
  readonly valueBytes: number;
  /** Every put creates a new key (etcdctl check perf's shape) instead of overwriting one. */
  readonly newKeys: boolean;
}

export interface Figures {
  readonly opsPerS: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

/** The share of writes in a mixed load. */
export const mixedWriteShare = 0.1;

/** edgeraft's 3-peer keys keep the names earlier runs used; other sizes and etcd get a prefix. */
export function keyPrefix(system: System, members: number): string {
  if (system === 'edgeraft') return members === 3 ? '' : `p${members}_`;
  return members === 3 ? 'etcd_' : `etcd${members}_`;
}

export function pointKey(system: System, members: number, op: LoadOp, consistency: LoadConsistency, concurrency: number, shape: Shape): string {
  const body = op === 'write' ? `writes_${concurrency}` : op === 'read' ? `reads_${consistency}_${concurrency}` : `mixed_${concurrency}`;
  return `${keyPrefix(system, members)}${body}_${shape}`;
}

export function makePoint(
  system: System, members: number, op: LoadOp, consistency: LoadConsistency, concurrency: number, valueBytes: number, shape: Shape, newKeys = false,
): Point {
  const clients = shape === 'independent'
    ? `${concurrency} independent client${concurrency === 1 ? '' : 's'}`
    : `${concurrency} multiplexed client${concurrency === 1 ? '' : 's'}`;
  const what = op === 'write' ? 'writes' : op === 'read' ? `reads ${consistency}` : `mixed ${100 - mixedWriteShare * 100}/${mixedWriteShare * 100}`;
  return {
    key: pointKey(system, members, op, consistency, concurrency, shape), label: `${what}, ${clients}`, system, members, op, concurrency, shape,
    consistency: op === 'write' ? 'linearizable' : consistency, valueBytes, newKeys,
  };
}

/**
 * The etcd read that matches an edgeraft read mode: etcd's linearizable read is a ReadIndex round
 * (so it stands beside readindex, lease and follower reads), its serializable read is a local read
 * that may be stale (beside stale).
 */
export function etcdConsistencyFor(c: LoadConsistency): LoadConsistency {
  return c === 'stale' || c === 'serializable' ? 'serializable' : 'linearizable';
}

/** The key of the etcd load an edgeraft load is compared with. */
export function etcdKeyFor(p: Point): string {
  return pointKey('etcd', p.members, p.op, etcdConsistencyFor(p.consistency), p.concurrency, p.shape);
}

export interface Ratios {
  /** edgeraft/etcd ops per second. */
  readonly ops: number;
  /** etcd/edgeraft latency: > 1 means edgeraft answers faster. */
  readonly p50: number;
  readonly p99: number;
}

export function ratios(edgeraft: Figures, etcd: Figures): Ratios {
  return { ops: edgeraft.opsPerS / etcd.opsPerS, p50: etcd.p50Ms / edgeraft.p50Ms, p99: etcd.p99Ms / edgeraft.p99Ms };
}

export interface Target {
  /** The edgeraft point it is about. */
  readonly key: string;
  readonly metric: 'ops' | 'p50' | 'p99';
  /** The ratio to etcd it needs (see Ratios: > 1 is better). */
  readonly ratioMin: number;
  readonly text: string;
}

/** The targets against etcd measured in the same run, for the client shape users have (issue 15). */
export const targets: readonly Target[] = [
  { key: 'writes_256_independent', metric: 'ops', ratioMin: 10, text: 'writes/s with 256 independent clients ≥ 10× etcd' },
  { key: 'writes_256_independent', metric: 'p99', ratioMin: 1, text: 'write p99 with 256 independent clients no worse than etcd' },
  { key: 'writes_1_independent', metric: 'p50', ratioMin: 2, text: 'single-client write p50 ≤ ½ etcd' },
  { key: 'reads_readindex_256_independent', metric: 'ops', ratioMin: 30, text: 'ReadIndex reads/s with 256 independent clients ≥ 30× etcd linearizable' },
  { key: 'reads_lease_256_independent', metric: 'ops', ratioMin: 30, text: 'lease reads/s with 256 independent clients ≥ 30× etcd linearizable' },
];

export interface TargetStatus {
  readonly target: Target;
  /** null when either side was not measured. */
  readonly ratio: number | null;
  readonly met: boolean | null;
}

export function targetStatus(target: Target, r: Ratios | null): TargetStatus {
  if (r === null) return { target, ratio: null, met: null };
  const ratio = target.metric === 'ops' ? r.ops : target.metric === 'p50' ? r.p50 : r.p99;
  return { target, ratio: Number.isFinite(ratio) ? ratio : null, met: Number.isFinite(ratio) ? ratio >= target.ratioMin : null };
}

export function metText(s: TargetStatus): string {
  return s.met === null ? 'not measured' : s.met ? 'met' : 'missed';
}

export interface Row {
  readonly edgeraft: Point;
  readonly edgeraftFigures: Figures;
  readonly etcd: Point | null;
  readonly etcdFigures: Figures | null;
  readonly ratios: Ratios | null;
  readonly targets: readonly TargetStatus[];
}

/** One row per edgeraft load, with the etcd load beside it when that was measured. */
export function rows<F extends Figures>(done: ReadonlyArray<readonly [Point, F]>): Row[] {
  const byKey = new Map(done.map(([p, f]) => [p.key, [p, f] as const]));
  return done.filter(([p]) => p.system === 'edgeraft').map(([p, f]) => {
    const other = byKey.get(etcdKeyFor(p)) ?? null;
    const r = other === null ? null : ratios(f, other[1]);
    return {
      edgeraft: p, edgeraftFigures: f, etcd: other?.[0] ?? null, etcdFigures: other?.[1] ?? null, ratios: r,
      targets: targets.filter((t) => t.key === p.key).map((t) => targetStatus(t, r)),
    };
  });
}
