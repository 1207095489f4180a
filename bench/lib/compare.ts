// What `npm run bench` compares: its load points (system, cluster size, operation, clients), the
// metric names they report under, which etcd load each edgeraft load is set beside, the ratios
// (> 1 always means edgeraft is better) and the targets of issue 9 with met or missed. Pure.

import type { LoadConsistency, LoadOp } from './load-protocol.ts';

export type System = 'edgeraft' | 'etcd';

export interface Point {
  /** Metric prefix: writes_256, reads_lease_1, mixed_256, p5_writes_1, etcd_reads_serializable_256, etcd5_mixed_256... */
  readonly key: string;
  readonly label: string;
  readonly system: System;
  readonly members: number;
  readonly op: LoadOp;
  readonly concurrency: number;
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

export function pointKey(system: System, members: number, op: LoadOp, consistency: LoadConsistency, concurrency: number): string {
  const body = op === 'write' ? `writes_${concurrency}` : op === 'read' ? `reads_${consistency}_${concurrency}` : `mixed_${concurrency}`;
  return `${keyPrefix(system, members)}${body}`;
}

export function makePoint(system: System, members: number, op: LoadOp, consistency: LoadConsistency, concurrency: number, valueBytes: number, newKeys = false): Point {
  const clients = `${concurrency} client${concurrency === 1 ? '' : 's'}`;
  const what = op === 'write' ? 'writes' : op === 'read' ? `reads ${consistency}` : `mixed ${100 - mixedWriteShare * 100}/${mixedWriteShare * 100}`;
  return {
    key: pointKey(system, members, op, consistency, concurrency), label: `${what}, ${clients}`, system, members, op, concurrency,
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
  return pointKey('etcd', p.members, p.op, etcdConsistencyFor(p.consistency), p.concurrency);
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
  readonly metric: 'ops' | 'p50';
  /** The ratio to etcd it needs (see Ratios: > 1 is better). */
  readonly ratioMin: number;
  readonly text: string;
}

/** Issue 9's targets on this machine, against etcd measured in the same run. */
export const targets: readonly Target[] = [
  { key: 'writes_256', metric: 'ops', ratioMin: 20, text: 'writes/s with 256 clients ≥ 20× etcd' },
  { key: 'writes_1', metric: 'p50', ratioMin: 2, text: 'single-client write p50 ≤ ½ etcd' },
  { key: 'reads_readindex_256', metric: 'ops', ratioMin: 30, text: 'linearizable (ReadIndex) reads/s ≥ 30× etcd' },
  { key: 'reads_lease_256', metric: 'ops', ratioMin: 30, text: 'linearizable (lease) reads/s ≥ 30× etcd' },
  { key: 'reads_follower_256', metric: 'ops', ratioMin: 30, text: 'linearizable (follower) reads/s ≥ 30× etcd' },
];

export interface TargetStatus {
  readonly target: Target;
  /** null when either side was not measured. */
  readonly ratio: number | null;
  readonly met: boolean | null;
}

export function targetStatus(target: Target, r: Ratios | null): TargetStatus {
  if (r === null) return { target, ratio: null, met: null };
  const ratio = target.metric === 'ops' ? r.ops : r.p50;
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
