// What bench/cluster.ts measures and how it is shown: each load point's figures, the targets and
// etcd's figures beside them (with ratios that read the same way for rates and latencies), the
// table and the JSON object that `--json` prints last.

import { cpus } from 'node:os';
import type { Consistency } from '../../src/client/protocol.ts';
import { fmt, machineLine, table } from '../machine.ts';

export interface Point {
  /** Metric prefix: writes_256, reads_lease_1... */
  readonly key: string;
  readonly label: string;
  readonly op: 'write' | 'read';
  readonly concurrency: number;
  readonly consistency: Consistency;
}

export interface RunFigures {
  readonly opsPerS: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly errors: number;
  readonly errorCodes: Record<string, number>;
  readonly paths: Record<string, number>;
  readonly servedBy: Record<string, number>;
  /** Percent of one core over the measured window. */
  readonly generatorCpuPct: number;
  readonly leaderCpuPct: number;
  readonly followerCpuPct: number;
  /** Writes only, from the leader's /metrics: entries per fdatasync and ms per persist. */
  readonly entriesPerSync: number;
  readonly persistMs: number;
  readonly leaderChanged: boolean;
  /** CPU other processes on the machine used during the window, in percent of one core. */
  readonly otherCpuPct: number;
  /** CPU microseconds per operation: what each op costs the leader and the load generators. */
  readonly leaderUsPerOp: number;
  readonly generatorUsPerOp: number;
}

export interface PointFigures extends RunFigures {
  readonly procs: number;
  readonly clientsPerProc: number;
}

export interface Method {
  readonly sync: string;
  readonly leaderId: string;
  readonly valueBytes: number;
  readonly keyCount: number;
  readonly newKeys: boolean;
  readonly warmupS: number;
  readonly seconds: number;
  readonly runs: number;
}

export type Done = ReadonlyArray<readonly [Point, PointFigures]>;

interface Target {
  readonly metric: 'ops' | 'p50';
  readonly target: number;
  /** etcd 3.4.23, 3 members on this machine (RECIPES.md). */
  readonly etcd: number | null;
}

const targets: Readonly<Record<string, Target>> = {
  writes_256: { metric: 'ops', target: 50_000, etcd: 2500 },
  writes_1: { metric: 'p50', target: 1, etcd: 1.9 },
  reads_readindex_256: { metric: 'ops', target: 100_000, etcd: 2400 },
  reads_lease_256: { metric: 'ops', target: 200_000, etcd: 2400 },
};

/** >= 1 means at least as good as `reference` (more per second, or fewer ms). */
function ratio(t: Target, f: PointFigures, reference: number): number {
  return t.metric === 'ops' ? f.opsPerS / reference : reference / f.p50Ms;
}

function shares(counts: Record<string, number>): string {
  const total = Object.values(counts).reduce((s, v) => s + v, 0);
  return Object.entries(counts).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${fmt((v / total) * 100, v === total ? 0 : 1)}%`).join(', ');
}

function row(p: Point, f: PointFigures): string[] {
  const t = targets[p.key];
  const goal = t === undefined ? '' : t.metric === 'ops' ? `≥ ${fmt(t.target)}/s` : `p50 ≤ ${t.target} ms`;
  const etcd = t?.etcd == null ? '' : t.metric === 'ops' ? `${fmt(t.etcd)}/s` : `p50 ${t.etcd} ms`;
  const notes = [
    `CPU µs/op leader ${fmt(f.leaderUsPerOp, 1)}, gen ${fmt(f.generatorUsPerOp, 1)}`,
    p.op === 'write' ? `${fmt(f.entriesPerSync, 1)} entries/fsync, ${fmt(f.persistMs, 2)} ms/persist` : `path: ${shares(f.paths) || 'none'}`,
    ...(f.errors > 0 ? [`${f.errors} errors ${JSON.stringify(f.errorCodes)}`] : []),
    ...(f.leaderChanged ? ['leader changed'] : []),
  ];
  return [
    p.label, fmt(f.opsPerS), fmt(f.p50Ms, 2), fmt(f.p99Ms, 2), goal, t === undefined ? '' : fmt(ratio(t, f, t.target), 2),
    etcd, t?.etcd == null ? '' : `${fmt(ratio(t, f, t.etcd), 1)}×`,
    `${fmt(f.generatorCpuPct)} / ${fmt(f.leaderCpuPct)} / ${fmt(f.followerCpuPct)} / ${fmt(Math.max(0, f.otherCpuPct))}`,
    `${f.procs} × ${f.clientsPerProc}`, notes.join('; '),
  ];
}

export function reportText(done: Done, m: Method): string {
  const keys = m.newKeys ? 'each put creates a new key; readers read' : 'writers overwrite and readers read';
  return [
    `edgeraft cluster benchmark: ${machineLine()}`,
    `method: 3 peers (node dist/node/cli.js peer --sync ${m.sync}, tick 20 ms) on 127.0.0.1, leader ${m.leaderId}; ` +
    `load through the SDK (put, getWithMeta) from forked load-generator processes that share the ${cpus().length} cores with the peers; ` +
    `${m.valueBytes}-byte values; ${keys} ${fmt(m.keyCount)} keys written beforehand; ` +
    `${m.warmupS} s warm-up + ${m.seconds} s measured, median of ${m.runs} runs.`,
    '',
    table(['load', 'ops/s', 'p50 ms', 'p99 ms', 'target', 'ratio', 'etcd 3.4', 'vs etcd', 'CPU % gen/leader/follower/other', 'procs × clients', 'notes'],
      done.map(([p, f]) => row(p, f))),
    '',
    'ratio and vs etcd: measured/target for rates, target/measured for latency, so >= 1 meets it. etcd 3.4.23, 3 members on this',
    'machine (RECIPES.md): its linearizable reads are ReadIndex reads. CPU: percent of one core over the measured window (all cores',
    '= 100% × cores); gen = all load generators together, follower = mean of the two, other = processes this benchmark did not start',
    '(other users of the machine, roughly: figures measured while it is high are not trustworthy). CPU µs/op: CPU time per',
    'operation, a cost that does not depend on how busy the machine was. path: what getWithMeta reported serving the reads.',
  ].join('\n');
}

export function reportJson(done: Done, m: Method): Record<string, unknown> {
  const j: Record<string, unknown> = {
    machine: machineLine(), node: process.version, runs: m.runs, seconds: m.seconds, warmup_s: m.warmupS, sync: m.sync, new_keys: m.newKeys,
  };
  const toTarget: Record<string, number> = {};
  const toEtcd: Record<string, number> = {};
  const r = (x: number, d = 3) => Number(x.toFixed(d));
  for (const [p, f] of done) {
    const unit = p.op === 'write' ? 'writes_per_s' : 'reads_per_s';
    Object.assign(j, {
      [`${p.key}_${unit}`]: Math.round(f.opsPerS), [`${p.key}_p50_ms`]: r(f.p50Ms), [`${p.key}_p99_ms`]: r(f.p99Ms),
      [`${p.key}_generator_cpu_pct`]: r(f.generatorCpuPct, 0), [`${p.key}_leader_cpu_pct`]: r(f.leaderCpuPct, 0),
      [`${p.key}_follower_cpu_pct`]: r(f.followerCpuPct, 0), [`${p.key}_other_cpu_pct`]: r(Math.max(0, f.otherCpuPct), 0),
      [`${p.key}_leader_cpu_us_per_op`]: r(f.leaderUsPerOp, 2), [`${p.key}_generator_cpu_us_per_op`]: r(f.generatorUsPerOp, 2),
      [`${p.key}_errors`]: f.errors,
    });
    if (p.op === 'write') j[`${p.key}_entries_per_sync`] = r(f.entriesPerSync, 1);
    else j[`${p.key}_paths`] = f.paths;
    const t = targets[p.key];
    if (t !== undefined) {
      const name = t.metric === 'ops' ? `${p.key}_${unit}` : `${p.key}_p50_ms`;
      toTarget[name] = r(ratio(t, f, t.target));
      if (t.etcd !== null) toEtcd[name] = r(ratio(t, f, t.etcd));
    }
  }
  j.ratio_to_target = toTarget;
  j.ratio_to_etcd = toEtcd;
  return j;
}
