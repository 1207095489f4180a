// How bench/cluster.ts shows what it measured: the side-by-side table (edgeraft and etcd, ratios
// that read > 1 when edgeraft is better, issue 9's targets met or missed), etcdctl check perf's
// summary, a details table per load, and the JSON object that `--json` prints last.

import { fmt } from '../machine.ts';
import { etcdConsistencyFor, metText, rows, targets, type Point, type Row } from './compare.ts';
import { checkPerfLoads, checkPerfSeconds, type CheckPerfLoad, type CheckPerfSummary } from './etcd-check-perf.ts';
import type { MachineInfo } from './machine-info.ts';
import type { PointFigures } from './measure.ts';

export type Done = ReadonlyArray<readonly [Point, PointFigures]>;

export interface Method {
  readonly sync: string;
  /** "3 peers: p2" and the like, per cluster measured. */
  readonly leaders: readonly string[];
  readonly valueBytes: number;
  readonly keyCount: number;
  readonly newKeys: boolean;
  readonly warmupS: number;
  readonly seconds: number;
  readonly runs: number;
  readonly edgeraftPeers: readonly number[];
}

export interface CheckPerfRun {
  readonly load: CheckPerfLoad;
  readonly members: number;
  readonly summary: CheckPerfSummary | null;
  readonly error: string | null;
}

export interface EtcdReport {
  /** null when etcd was measured; else why not. */
  readonly notMeasured: string | null;
  readonly version: string | null;
  readonly members: readonly number[];
  readonly checkPerf: CheckPerfRun | null;
  /** The gateway load in check perf's shape (its key in `done`), if measured. */
  readonly gatewayCheckPerfKey: string | null;
}

export interface Report {
  readonly done: Done;
  readonly method: Method;
  readonly etcd: EtcdReport;
  readonly machine: MachineInfo;
  readonly durationS: number;
}

/**
 * Absolute goals from before etcd ran beside edgeraft (kept so runs stay comparable): measured/goal
 * for rates and goal/measured for p50, so >= 1 meets the goal.
 */
const absoluteGoals: Readonly<Record<string, { readonly metric: 'ops' | 'p50'; readonly goal: number }>> = {
  writes_256: { metric: 'ops', goal: 50_000 },
  writes_1: { metric: 'p50', goal: 1 },
  reads_readindex_256: { metric: 'ops', goal: 100_000 },
  reads_lease_256: { metric: 'ops', goal: 200_000 },
};

function shares(counts: Record<string, number>): string {
  const total = Object.values(counts).reduce((s, v) => s + v, 0);
  return Object.entries(counts).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${fmt((v / total) * 100, v === total ? 0 : 1)}%`).join(', ');
}

function x(r: number | undefined): string {
  return r === undefined || !Number.isFinite(r) ? '' : `${fmt(r, r < 10 ? 2 : 1)}×`;
}

function ms(v: number | undefined): string {
  return v === undefined || !Number.isFinite(v) ? '' : fmt(v, v < 10 ? 2 : 1);
}

function targetCell(r: Row): string {
  return r.targets.map((t) => `≥ ${t.target.ratioMin}× ${t.target.metric === 'ops' ? 'ops/s' : 'p50'}: ${metText(t)}`).join('; ');
}

export const comparisonHeader = [
  'peers', 'load', 'edgeraft ops/s', 'p50 ms', 'p99 ms', 'etcd read', 'etcd ops/s', 'p50 ms', 'p99 ms', 'ops/s ratio', 'p50 ratio', 'p99 ratio', 'target',
];

export function comparisonRows(done: Done): string[][] {
  return rows(done).map((r) => {
    const e = r.edgeraftFigures;
    const c = r.etcdFigures;
    return [
      String(r.edgeraft.members), r.edgeraft.label, fmt(e.opsPerS), ms(e.p50Ms), ms(e.p99Ms),
      r.edgeraft.op === 'write' ? '' : etcdConsistencyFor(r.edgeraft.consistency),
      c === null ? '—' : fmt(c.opsPerS), ms(c?.p50Ms), ms(c?.p99Ms),
      x(r.ratios?.ops), x(r.ratios?.p50), x(r.ratios?.p99), targetCell(r),
    ];
  });
}

export const detailHeader = [
  'system', 'size', 'load', 'ops/s', 'p50 ms', 'p99 ms', 'CPU % gen/leader/follower/other', 'CPU µs/op leader, gen', 'entries/fsync', 'ms/fsync', 'procs × clients', 'notes',
];

export function detailRows(done: Done): string[][] {
  return done.map(([p, f]) => {
    const goal = absoluteGoals[p.key];
    const goalRatio = goal === undefined ? null : goal.metric === 'ops' ? f.opsPerS / goal.goal : goal.goal / f.p50Ms;
    const notes = [
      ...(p.op !== 'write' ? [`served: ${shares(f.paths) || 'none'}`] : []),
      ...(goal !== undefined && goalRatio !== null ? [`goal ${goal.metric === 'ops' ? `${fmt(goal.goal)}/s` : `p50 ${goal.goal} ms`}: ${fmt(goalRatio, 2)}`] : []),
      ...(f.errors > 0 ? [`${f.errors} errors ${JSON.stringify(f.errorCodes)}`] : []),
      ...(f.leaderChanged ? ['LEADER CHANGED'] : []),
    ];
    return [
      p.system, String(p.members), p.label, fmt(f.opsPerS), ms(f.p50Ms), ms(f.p99Ms),
      `${fmt(f.generatorCpuPct)} / ${fmt(f.leaderCpuPct)} / ${fmt(f.followerCpuPct)} / ${fmt(Math.max(0, f.otherCpuPct))}`,
      `${fmt(f.leaderUsPerOp, 1)}, ${fmt(f.generatorUsPerOp, 1)}`,
      p.op === 'read' ? '' : fmt(f.entriesPerSync, 1), p.op === 'read' ? '' : ms(f.persistMs),
      `${f.procs} × ${f.clientsPerProc}`, notes.join('; '),
    ];
  });
}

export function targetLines(done: Done): string[] {
  const all = rows(done).flatMap((r) => r.targets);
  return targets.map((t) => {
    const s = all.find((a) => a.target === t);
    if (s === undefined || s.met === null) return `- ${t.text}: not measured`;
    return `- ${t.text}: ${fmt(s.ratio!, 2)}× — ${s.met ? 'met' : 'missed'}`;
  });
}

export function checkPerfLines(e: EtcdReport, done: Done): string[] {
  const run = e.checkPerf;
  if (run === null) return ['etcdctl check perf: not run.'];
  const shape = checkPerfLoads[run.load];
  const head = `etcdctl check perf --load ${run.load} (${run.members} members; etcd's own gRPC client: ${shape.clients} clients, a new 256-byte key with a 1 KiB value per put, ` +
    `at most ${fmt(shape.limitPerS)} writes/s, ${checkPerfSeconds} s)`;
  if (run.summary === null) return [`${head}: failed to run: ${run.error ?? 'unknown error'}`];
  const s = run.summary;
  const pf = (ok: boolean) => (ok ? 'PASS' : 'FAIL');
  const lines = [
    `${head}: ${pf(s.pass)}. Throughput ${fmt(s.writesPerS)} writes/s (${pf(s.throughputPass)}), slowest request ${fmt(s.slowestMs, 1)} ms ` +
    `(${pf(s.slowestPass)}), stddev ${fmt(s.stddevMs, 1)} ms (${pf(s.stddevPass)})${s.errors.length > 0 ? `; ${s.errors.join(', ')}` : ''}.`,
  ];
  const gw = e.gatewayCheckPerfKey === null ? undefined : done.find(([p]) => p.key === e.gatewayCheckPerfKey);
  if (gw !== undefined) {
    const [p, f] = gw;
    lines.push(`The same shape through the JSON gateway (this benchmark's generator, ${p.concurrency} clients, new keys, ${fmt(p.valueBytes)}-byte values, no rate limit): ` +
      `${fmt(f.opsPerS)} writes/s, p50 ${ms(f.p50Ms)} ms, p99 ${ms(f.p99Ms)} ms: ${fmt((f.opsPerS / s.writesPerS) * 100)}% of etcdctl's throughput` +
      `${s.writesPerS >= shape.limitPerS * 0.9 ? ' (etcdctl hit its rate limit, so this understates what gRPC reaches)' : ''}.`);
  }
  return lines;
}

export function reportJson(r: Report): Record<string, unknown> {
  const rd = (v: number, d = 3) => (Number.isFinite(v) ? Number(v.toFixed(d)) : null);
  const j: Record<string, unknown> = {
    machine: `${r.machine.cpuModel} × ${r.machine.cores} cores, ${r.machine.memGiB} GiB`, node: r.machine.node, edgeraft_commit: r.machine.commit,
    etcd_version: r.etcd.version, etcd_measured: r.etcd.notMeasured === null, runs: r.method.runs, seconds: r.method.seconds,
    warmup_s: r.method.warmupS, sync: r.method.sync, new_keys: r.method.newKeys, duration_s: Math.round(r.durationS),
  };
  for (const [p, f] of r.done) {
    const unit = p.op === 'write' ? 'writes_per_s' : p.op === 'read' ? 'reads_per_s' : 'ops_per_s';
    Object.assign(j, {
      [`${p.key}_${unit}`]: Math.round(f.opsPerS), [`${p.key}_p50_ms`]: rd(f.p50Ms), [`${p.key}_p99_ms`]: rd(f.p99Ms),
      [`${p.key}_generator_cpu_pct`]: rd(f.generatorCpuPct, 0), [`${p.key}_leader_cpu_pct`]: rd(f.leaderCpuPct, 0),
      [`${p.key}_follower_cpu_pct`]: rd(f.followerCpuPct, 0), [`${p.key}_other_cpu_pct`]: rd(Math.max(0, f.otherCpuPct), 0),
      [`${p.key}_leader_cpu_us_per_op`]: rd(f.leaderUsPerOp, 2), [`${p.key}_generator_cpu_us_per_op`]: rd(f.generatorUsPerOp, 2),
      [`${p.key}_errors`]: f.errors,
    });
    if (p.op !== 'read') j[`${p.key}_entries_per_sync`] = rd(f.entriesPerSync, 1);
    if (p.op !== 'write') j[`${p.key}_paths`] = f.paths;
  }
  const toEtcd: Record<string, number | null> = {};
  const toTarget: Record<string, number | null> = {};
  const met: Record<string, boolean | null> = {};
  const need: Record<string, number> = {};
  for (const row of rows(r.done)) {
    const p = row.edgeraft;
    const unit = p.op === 'write' ? 'writes_per_s' : p.op === 'read' ? 'reads_per_s' : 'ops_per_s';
    if (row.ratios !== null) {
      toEtcd[`${p.key}_${unit}`] = rd(row.ratios.ops);
      toEtcd[`${p.key}_p50_ms`] = rd(row.ratios.p50);
      toEtcd[`${p.key}_p99_ms`] = rd(row.ratios.p99);
    }
    for (const t of row.targets) {
      const name = t.target.metric === 'ops' ? `${p.key}_${unit}` : `${p.key}_p50_ms`;
      need[name] = t.target.ratioMin;
      met[name] = t.met;
    }
    const goal = absoluteGoals[p.key];
    if (goal !== undefined) {
      const f = row.edgeraftFigures;
      toTarget[goal.metric === 'ops' ? `${p.key}_${unit}` : `${p.key}_p50_ms`] = rd(goal.metric === 'ops' ? f.opsPerS / goal.goal : goal.goal / f.p50Ms);
    }
  }
  const cp = r.etcd.checkPerf?.summary ?? null;
  if (cp !== null) {
    Object.assign(j, {
      etcd_check_perf_load: r.etcd.checkPerf!.load, etcd_check_perf_pass: cp.pass, etcd_check_perf_writes_per_s: cp.writesPerS,
      etcd_check_perf_slowest_ms: rd(cp.slowestMs, 1), etcd_check_perf_stddev_ms: rd(cp.stddevMs, 1),
    });
  }
  j.ratio_to_target = toTarget;
  j.target_ratio_to_etcd = need;
  j.targets_met = met;
  j.ratio_to_etcd = toEtcd;
  return j;
}
