// How bench/cluster.ts shows what it measured: the side-by-side table (edgeraft and etcd, ratios
// that read > 1 when edgeraft is better, the targets against etcd and edgeraft's own targets met
// or missed), etcdctl check perf's summary, a details table per load, and the `--json` object.

import { fmt } from '../machine.ts';
import { etcdConsistencyFor, metText, rows, targets, type Point, type Row, type Shape } from './compare.ts';
import { checkPerfLoads, checkPerfSeconds, type CheckPerfLoad, type CheckPerfSummary } from './etcd-check-perf.ts';
import { coordinationJson } from './coordination-report.ts';
import type { CoordinationReport } from './coordination.ts';
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
  readonly shapes: readonly Shape[];
}

/** Peer memory with idle independent clients connected (bench/cluster.ts measureMemory). */
export interface MemoryFigures {
  readonly clients: number;
  readonly leaderRssBefore: number;
  readonly leaderRssAfter: number;
  readonly leaderBytesPerClient: number;
  /** The larger of the followers' (clients connect to the leader; followers see only its traffic). */
  readonly followerBytesPerClient: number;
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
  readonly memory: MemoryFigures | null;
  /** Watches, leases and transactions (lib/coordination.ts), measured or why not; absent: a report from before that phase. */
  readonly coordination?: CoordinationReport;
  readonly machine: MachineInfo;
  readonly durationS: number;
}

/** Absolute goals: measured/goal for rates and goal/measured for p50, so >= 1 meets the goal. */
const absoluteGoals: Readonly<Record<string, { readonly metric: 'ops' | 'p50'; readonly goal: number }>> = {
  writes_1_independent: { metric: 'p50', goal: 1 },
};

/** One of edgeraft's own targets (no etcd in it): a named ratio and the bound it must meet. */
export interface SelfTarget {
  /** The JSON key (units last). */
  readonly key: string;
  readonly text: string;
  readonly value: number | null;
  /** 'min': value >= bound meets it; 'max': value <= bound. */
  readonly bound: number;
  readonly sense: 'min' | 'max';
  readonly met: boolean | null;
}

/** Issue 15's targets that compare edgeraft with itself or with the disk, from what the run measured. */
export function selfTargets(done: Done, memory: MemoryFigures | null): SelfTarget[] {
  const get = (key: string) => done.find(([p]) => p.key === key)?.[1];
  const out: SelfTarget[] = [];
  const add = (key: string, text: string, value: number | null | undefined, bound: number, sense: 'min' | 'max') => {
    const v = value === undefined || value === null || !Number.isFinite(value) ? null : value;
    out.push({ key, text, value: v, bound, sense, met: v === null ? null : sense === 'min' ? v >= bound : v <= bound });
  };
  const w256 = get('writes_256_independent');
  const w1024 = get('writes_1024_independent');
  add('ratio_writes_1024_to_256_independent', '1,024 independent clients keep ≥ 90% of the 256-client writes/s',
    w256 !== undefined && w1024 !== undefined ? w1024.opsPerS / w256.opsPerS : null, 0.9, 'min');
  for (const [p, f] of done) {
    if (p.system !== 'edgeraft' || p.shape !== 'independent' || p.concurrency <= 1) continue;
    const m = get(p.key.replace(/_independent$/, '_multiplexed'));
    if (m === undefined) continue;
    const body = p.key.replace(/_independent$/, '');
    add(`ratio_independent_to_multiplexed_${body}`, `${p.members} peers, ${p.label.replace(/ independent clients$/, ' clients')}: independent ≥ 0.6× multiplexed`, f.opsPerS / m.opsPerS, 0.6, 'min');
  }
  const w1 = get('writes_1_independent');
  add('writes_1_independent_p50_ms', 'single-client write p50 ≤ 1 ms', w1?.p50Ms, 1, 'max');
  for (const key of ['writes_1_independent', 'writes_256_independent']) {
    const f = get(key);
    add(`persist_p50_ratio_to_raw_${key}`, `leader persist p50 ≤ 1.5× raw write + fdatasync (${key.replace(/_/g, ' ')})`,
      f === undefined ? null : f.persistP50Ms / f.rawSyncP50Ms, 1.5, 'max');
  }
  add('memory_per_idle_client_kib', 'peer memory per idle client connection ≤ 64 KiB', memory === null ? null : memory.leaderBytesPerClient / 1024, 64, 'max');
  return out;
}

export function selfTargetLines(done: Done, memory: MemoryFigures | null): string[] {
  return selfTargets(done, memory).map((t) => `- ${t.text}: ${t.value === null ? 'not measured' : `${fmt(t.value, 2)} — ${t.met ? 'met' : 'missed'}`}`);
}

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
  return r.targets.map((t) => `≥ ${t.target.ratioMin}× ${t.target.metric === 'ops' ? 'ops/s' : t.target.metric}: ${metText(t)}`).join('; ');
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
  'system', 'size', 'load', 'ops/s', 'runs min–max', 'p50 ms', 'p99 ms', 'CPU % gen/leader/follower/other', 'CPU µs/op leader, follower, gen',
  'entries/save', 'persist p50 ms (raw)', 'procs × clients', 'notes',
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
      p.system, String(p.members), p.label, fmt(f.opsPerS), `${fmt(f.opsMin)}–${fmt(f.opsMax)}`, ms(f.p50Ms), ms(f.p99Ms),
      `${fmt(f.generatorCpuPct)} / ${fmt(f.leaderCpuPct)} / ${fmt(f.followerCpuPct)} / ${fmt(Math.max(0, f.otherCpuPct))}`,
      `${fmt(f.leaderUsPerOp, 1)}, ${fmt(f.followerUsPerOp, 1)}, ${fmt(f.generatorUsPerOp, 1)}`,
      p.op === 'read' ? '' : fmt(f.entriesPerSync, 1),
      p.op === 'read' ? '' : `${fmt(f.persistP50Ms, 3)}${Number.isFinite(f.rawSyncP50Ms) ? ` (${fmt(f.rawSyncP50Ms, 3)})` : ''}`,
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
      [`${p.key}_follower_cpu_us_per_op`]: rd(f.followerUsPerOp, 2),
      [`${p.key}_min_${unit}`]: Math.round(f.opsMin), [`${p.key}_max_${unit}`]: Math.round(f.opsMax),
      [`${p.key}_errors`]: f.errors,
    });
    if (p.op !== 'read') {
      j[`${p.key}_entries_per_sync`] = rd(f.entriesPerSync, 1);
      j[`${p.key}_persist_p50_ms`] = rd(f.persistP50Ms);
      if (Number.isFinite(f.rawSyncP50Ms)) j[`${p.key}_raw_sync_p50_ms`] = rd(f.rawSyncP50Ms);
    }
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
      const name = t.target.metric === 'ops' ? `${p.key}_${unit}` : `${p.key}_${t.target.metric}_ms`;
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
  for (const t of selfTargets(r.done, r.memory)) {
    j[t.key] = t.value === null ? null : rd(t.value);
    met[t.key] = t.met;
  }
  if (r.memory !== null) {
    Object.assign(j, {
      memory_idle_clients: r.memory.clients, memory_leader_rss_before_mib: rd(r.memory.leaderRssBefore / 2 ** 20, 1),
      memory_leader_rss_after_mib: rd(r.memory.leaderRssAfter / 2 ** 20, 1),
      memory_follower_per_idle_client_kib: rd(r.memory.followerBytesPerClient / 1024, 2),
    });
  }
  // The headline ratios to etcd under the names the issue uses, e.g. ratio_to_etcd_writes_256_independent.
  for (const row of rows(r.done)) if (row.ratios !== null) j[`ratio_to_etcd_${row.edgeraft.key}`] = rd(row.ratios.ops);
  if (r.coordination !== undefined) {
    const coordination = coordinationJson(r.coordination);
    Object.assign(j, coordination.keys);
    Object.assign(toEtcd, coordination.ratioToEtcd);
  }
  j.ratio_to_target = toTarget;
  j.target_ratio_to_etcd = need;
  j.targets_met = met;
  j.ratio_to_etcd = toEtcd;
  return j;
}
