// The comparison math of `npm run bench`: metric keys, which etcd load each edgeraft load stands
// beside, ratios that read > 1 when edgeraft is better, issue 9's targets met or missed, and the
// `--json` object built from them. Made-up figures; nothing is measured here.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { reportJson, type Done, type Report } from '../../bench/lib/cluster-report.ts';
import { reportMarkdown } from '../../bench/lib/bench-doc.ts';
import { etcdKeyFor, makePoint, ratios, rows, targets, targetStatus, type Figures } from '../../bench/lib/compare.ts';
import type { PointFigures } from '../../bench/lib/measure.ts';

const test = suite('bench comparison');

function figures(f: Figures): PointFigures {
  return {
    ...f, errors: 0, errorCodes: {}, paths: {}, servedBy: {}, generatorCpuPct: 50, leaderCpuPct: 80, followerCpuPct: 30,
    entriesPerSync: 10, persistMs: 1, leaderChanged: false, otherCpuPct: 5, leaderUsPerOp: 10, generatorUsPerOp: 5, procs: 2, clientsPerProc: 4, runs: 3,
  };
}

test('metric keys: 3-peer edgeraft keeps the old names; other sizes and etcd get a prefix', () => {
  assert.is(makePoint('edgeraft', 3, 'write', 'linearizable', 256, 256).key, 'writes_256');
  assert.is(makePoint('edgeraft', 3, 'read', 'lease', 1, 256).key, 'reads_lease_1');
  assert.is(makePoint('edgeraft', 5, 'mixed', 'readindex', 256, 256).key, 'p5_mixed_256');
  assert.is(makePoint('etcd', 3, 'read', 'serializable', 256, 256).key, 'etcd_reads_serializable_256');
  assert.is(makePoint('etcd', 5, 'write', 'linearizable', 16, 256).key, 'etcd5_writes_16');
  assert.is(makePoint('edgeraft', 3, 'mixed', 'readindex', 16, 256).label, 'mixed 90/10, 16 clients');
});

test('each edgeraft read stands beside the etcd read of the same guarantee and size', () => {
  const key = (mode: 'readindex' | 'lease' | 'follower' | 'stale', members = 3) => etcdKeyFor(makePoint('edgeraft', members, 'read', mode, 256, 256));
  assert.is(key('readindex'), 'etcd_reads_linearizable_256');
  assert.is(key('lease'), 'etcd_reads_linearizable_256');
  assert.is(key('follower'), 'etcd_reads_linearizable_256');
  assert.is(key('stale'), 'etcd_reads_serializable_256');
  assert.is(key('readindex', 5), 'etcd5_reads_linearizable_256');
  assert.is(etcdKeyFor(makePoint('edgeraft', 3, 'write', 'linearizable', 1, 256)), 'etcd_writes_1');
  assert.is(etcdKeyFor(makePoint('edgeraft', 3, 'mixed', 'readindex', 256, 256)), 'etcd_mixed_256');
});

test('ratios are > 1 when edgeraft is better, for rates and for latencies', () => {
  const r = ratios({ opsPerS: 50_000, p50Ms: 1, p99Ms: 8 }, { opsPerS: 2500, p50Ms: 2, p99Ms: 4 });
  assert.is(r.ops, 20);
  assert.is(r.p50, 2);
  assert.is(r.p99, 0.5);
});

test('targets: met at the bound, missed below it, unknown without etcd', () => {
  const writes = targets.find((t) => t.key === 'writes_256')!;
  const p50 = targets.find((t) => t.key === 'writes_1')!;
  assert.equal(targetStatus(writes, { ops: 20, p50: 1, p99: 1 }).met, true);
  assert.equal(targetStatus(writes, { ops: 19.9, p50: 9, p99: 9 }).met, false);
  assert.equal(targetStatus(p50, { ops: 0.1, p50: 2, p99: 0.1 }).met, true);
  assert.equal(targetStatus(p50, { ops: 9, p50: 1.5, p99: 9 }).met, false);
  assert.equal(targetStatus(p50, null), { target: p50, ratio: null, met: null });
  assert.is(targets.find((t) => t.key === 'reads_readindex_256')!.ratioMin, 30);
});

const done: Done = [
  [makePoint('edgeraft', 3, 'write', 'linearizable', 256, 256), figures({ opsPerS: 30_000, p50Ms: 8, p99Ms: 26 })],
  [makePoint('etcd', 3, 'write', 'linearizable', 256, 256), figures({ opsPerS: 2500, p50Ms: 90, p99Ms: 200 })],
  [makePoint('edgeraft', 3, 'write', 'linearizable', 1, 256), figures({ opsPerS: 400, p50Ms: 2.5, p99Ms: 12 })],
  [makePoint('etcd', 3, 'write', 'linearizable', 1, 256), figures({ opsPerS: 500, p50Ms: 1.9, p99Ms: 5 })],
  [makePoint('edgeraft', 3, 'read', 'readindex', 256, 256), figures({ opsPerS: 120_000, p50Ms: 1.8, p99Ms: 9 })],
  [makePoint('etcd', 3, 'read', 'linearizable', 256, 256), figures({ opsPerS: 2400, p50Ms: 100, p99Ms: 150 })],
  [makePoint('edgeraft', 5, 'write', 'linearizable', 256, 256), figures({ opsPerS: 20_000, p50Ms: 12, p99Ms: 40 })],
];

test('rows pair loads, leave etcd empty where it was not measured, and judge the targets', () => {
  const rs = rows(done);
  assert.equal(rs.map((r) => r.edgeraft.key), ['writes_256', 'writes_1', 'reads_readindex_256', 'p5_writes_256']);
  assert.is(rs[0]!.ratios!.ops, 12);
  assert.equal(rs[0]!.targets.map((t) => t.met), [false]);
  assert.equal(rs[1]!.targets.map((t) => t.met), [false]);
  assert.equal(rs[2]!.targets.map((t) => t.met), [true]);
  assert.is(rs[3]!.etcd, null);
  assert.is(rs[3]!.ratios, null);
  assert.equal(rs[3]!.targets, []);
});

const report: Report = {
  done,
  method: { sync: 'fdatasync', leaders: ['edgeraft 3 peers: p1'], valueBytes: 256, keyCount: 1000, newKeys: false, warmupS: 1, seconds: 3, runs: 3, edgeraftPeers: [3, 5] },
  etcd: {
    notMeasured: null, version: '3.4.23', members: [3], gatewayCheckPerfKey: null,
    checkPerf: { load: 'l', members: 3, error: null, summary: { pass: false, writesPerS: 2491, throughputPass: false, slowestMs: 400, slowestPass: true, stddevMs: 30, stddevPass: true, errors: [] } },
  },
  machine: { cpuModel: 'Test CPU', cores: 2, memGiB: 24, kernel: '6', node: 'v20', commit: 'abc1234', date: '2026-11-22T00:00:00.000Z' },
  durationS: 600,
};

test('--json: metric keys with units last, ratio_to_etcd and the targets', () => {
  const j = reportJson(report);
  assert.is(j.writes_256_writes_per_s, 30_000);
  assert.is(j.etcd_writes_256_writes_per_s, 2500);
  assert.is(j.reads_readindex_256_reads_per_s, 120_000);
  const toEtcd = j.ratio_to_etcd as Record<string, number>;
  assert.is(toEtcd.writes_256_writes_per_s, 12);
  assert.is(toEtcd.writes_256_p50_ms, 11.25);
  assert.is(toEtcd.reads_readindex_256_reads_per_s, 50);
  assert.not.ok('p5_writes_256_writes_per_s' in toEtcd);
  assert.equal(j.targets_met, { writes_256_writes_per_s: false, writes_1_p50_ms: false, reads_readindex_256_reads_per_s: true });
  assert.equal(j.target_ratio_to_etcd, { writes_256_writes_per_s: 20, writes_1_p50_ms: 2, reads_readindex_256_reads_per_s: 30 });
  assert.is(j.etcd_check_perf_writes_per_s, 2491);
  assert.is(j.etcd_check_perf_pass, false);
  assert.is(JSON.parse(JSON.stringify(j)).etcd_version, '3.4.23');
});

test('the Markdown report says missed and met, and says so when etcd was not measured', () => {
  const md = reportMarkdown(report, true);
  assert.match(md, 'writes/s with 256 clients ≥ 20× etcd: 12.00× — missed');
  assert.match(md, 'linearizable (ReadIndex) reads/s ≥ 30× etcd: 50.00× — met');
  assert.match(md, '![Latency against throughput](benchmarks-latency.svg)');
  assert.match(md, 'FAIL. Throughput 2,491 writes/s');
  const without = reportMarkdown({ ...report, done: done.filter(([p]) => p.system === 'edgeraft'), etcd: { notMeasured: 'etcd is not installed', version: null, members: [], checkPerf: null, gatewayCheckPerfKey: null } }, false);
  assert.match(without, '**etcd was not measured**: etcd is not installed');
  assert.match(without, 'writes/s with 256 clients ≥ 20× etcd: not measured');
  assert.not.match(without, 'benchmarks-latency.svg');
});

test.run();
