// The comparison math of `npm run bench`: metric keys (client shape last), which etcd load each
// edgeraft load stands beside, ratios that read > 1 when edgeraft is better, the targets against
// etcd and against itself met or missed, the persist quantile read off a histogram, and the
// `--json` object built from them. Made-up figures; nothing is measured here.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { reportJson, selfTargets, type Done, type Report } from '../../bench/lib/cluster-report.ts';
import { reportMarkdown } from '../../bench/lib/bench-doc.ts';
import { etcdKeyFor, makePoint, ratios, rows, targets, targetStatus, type Figures } from '../../bench/lib/compare.ts';
import { bucketQuantile, histogramBuckets, type PointFigures } from '../../bench/lib/measure.ts';

const test = suite('bench comparison');

function figures(f: Figures, more: Partial<PointFigures> = {}): PointFigures {
  return {
    ...f, errors: 0, errorCodes: {}, paths: {}, servedBy: {}, generatorCpuPct: 50, leaderCpuPct: 80, followerCpuPct: 30,
    entriesPerSync: 10, persistMs: 1, persistP50Ms: 0.3, bytesPerSync: 2560, rawSyncP50Ms: Number.NaN, leaderChanged: false, otherCpuPct: 5,
    leaderUsPerOp: 10, followerUsPerOp: 4, generatorUsPerOp: 5, procs: 2, clientsPerProc: 4, runs: 3, opsMin: f.opsPerS * 0.9, opsMax: f.opsPerS * 1.1,
    ...more,
  };
}

const ind = 'independent' as const;
const mux = 'multiplexed' as const;

test('metric keys: the client shape comes last; other sizes and etcd get a prefix', () => {
  assert.is(makePoint('edgeraft', 3, 'write', 'linearizable', 256, 256, ind).key, 'writes_256_independent');
  assert.is(makePoint('edgeraft', 3, 'read', 'lease', 1, 256, mux).key, 'reads_lease_1_multiplexed');
  assert.is(makePoint('edgeraft', 5, 'mixed', 'readindex', 256, 256, ind).key, 'p5_mixed_256_independent');
  assert.is(makePoint('etcd', 3, 'read', 'serializable', 256, 256, ind).key, 'etcd_reads_serializable_256_independent');
  assert.is(makePoint('etcd', 5, 'write', 'linearizable', 16, 256, mux).key, 'etcd5_writes_16_multiplexed');
  assert.is(makePoint('edgeraft', 3, 'mixed', 'readindex', 16, 256, ind).label, 'mixed 90/10, 16 independent clients');
  assert.is(makePoint('edgeraft', 3, 'write', 'linearizable', 16, 256, mux).label, 'writes, 16 multiplexed clients');
});

test('each edgeraft read stands beside the etcd read of the same guarantee, size and shape', () => {
  const key = (mode: 'readindex' | 'lease' | 'follower' | 'stale', members = 3) => etcdKeyFor(makePoint('edgeraft', members, 'read', mode, 256, 256, ind));
  assert.is(key('readindex'), 'etcd_reads_linearizable_256_independent');
  assert.is(key('lease'), 'etcd_reads_linearizable_256_independent');
  assert.is(key('follower'), 'etcd_reads_linearizable_256_independent');
  assert.is(key('stale'), 'etcd_reads_serializable_256_independent');
  assert.is(key('readindex', 5), 'etcd5_reads_linearizable_256_independent');
  assert.is(etcdKeyFor(makePoint('edgeraft', 3, 'write', 'linearizable', 1, 256, mux)), 'etcd_writes_1_multiplexed');
});

test('ratios are > 1 when edgeraft is better, for rates and for latencies', () => {
  const r = ratios({ opsPerS: 50_000, p50Ms: 1, p99Ms: 8 }, { opsPerS: 2500, p50Ms: 2, p99Ms: 4 });
  assert.is(r.ops, 20);
  assert.is(r.p50, 2);
  assert.is(r.p99, 0.5);
});

test('targets against etcd: met at the bound, missed below it, unknown without etcd', () => {
  const writes = targets.find((t) => t.key === 'writes_256_independent' && t.metric === 'ops')!;
  const p99 = targets.find((t) => t.key === 'writes_256_independent' && t.metric === 'p99')!;
  const p50 = targets.find((t) => t.key === 'writes_1_independent')!;
  assert.equal(targetStatus(writes, { ops: 10, p50: 1, p99: 1 }).met, true);
  assert.equal(targetStatus(writes, { ops: 9.9, p50: 9, p99: 9 }).met, false);
  assert.equal(targetStatus(p99, { ops: 20, p50: 9, p99: 0.99 }).met, false);
  assert.equal(targetStatus(p99, { ops: 1, p50: 0.1, p99: 1 }).met, true);
  assert.equal(targetStatus(p50, { ops: 0.1, p50: 2, p99: 0.1 }).met, true);
  assert.equal(targetStatus(p50, { ops: 9, p50: 1.5, p99: 9 }).met, false);
  assert.equal(targetStatus(p50, null), { target: p50, ratio: null, met: null });
  assert.is(targets.find((t) => t.key === 'reads_readindex_256_independent')!.ratioMin, 30);
});

test('the persist p50 is read off the difference of two cumulative histograms, inside its bucket', () => {
  const m = new Map([
    ['edgeraft_persist_duration_ms_bucket{le="0.1"}', 10], ['edgeraft_persist_duration_ms_bucket{le="0.2"}', 30],
    ['edgeraft_persist_duration_ms_bucket{le="0.5"}', 40], ['edgeraft_persist_duration_ms_bucket{le="+Inf"}', 40], ['edgeraft_persist_duration_ms_sum', 7],
  ]);
  const b1 = histogramBuckets(m, 'edgeraft_persist_duration_ms');
  assert.equal(b1.map(([le]) => le), [0.1, 0.2, 0.5, Infinity]);
  const b0 = b1.map(([le]) => [le, 0] as const);
  // 40 samples: the 20th is halfway through (0.1, 0.2].
  assert.ok(Math.abs(bucketQuantile(b0, b1, 0.5) - 0.15) < 1e-9);
  // Only what happened between the two samples counts: 10 new samples, all in (0.2, 0.5].
  const later = b1.map(([le, c]) => [le, c + (le >= 0.5 ? 10 : 0)] as const);
  assert.ok(bucketQuantile(b1, later, 0.5) > 0.2 && bucketQuantile(b1, later, 0.5) <= 0.5);
  assert.ok(Number.isNaN(bucketQuantile(b1, b1, 0.5)));
  assert.equal(histogramBuckets(m, 'etcd_disk_wal_fsync_duration_seconds', 1000), []);
});

const done: Done = [
  [makePoint('edgeraft', 3, 'write', 'linearizable', 256, 256, ind), figures({ opsPerS: 30_000, p50Ms: 8, p99Ms: 26 }, { persistP50Ms: 0.45, rawSyncP50Ms: 0.2 })],
  [makePoint('etcd', 3, 'write', 'linearizable', 256, 256, ind), figures({ opsPerS: 2500, p50Ms: 90, p99Ms: 200 })],
  [makePoint('edgeraft', 3, 'write', 'linearizable', 256, 256, mux), figures({ opsPerS: 40_000, p50Ms: 6, p99Ms: 20 })],
  [makePoint('edgeraft', 3, 'write', 'linearizable', 1024, 256, ind), figures({ opsPerS: 28_000, p50Ms: 30, p99Ms: 90 })],
  [makePoint('edgeraft', 3, 'write', 'linearizable', 1, 256, ind), figures({ opsPerS: 400, p50Ms: 2.5, p99Ms: 12 }, { persistP50Ms: 0.3, rawSyncP50Ms: 0.25 })],
  [makePoint('etcd', 3, 'write', 'linearizable', 1, 256, ind), figures({ opsPerS: 500, p50Ms: 1.9, p99Ms: 5 })],
  [makePoint('edgeraft', 3, 'read', 'readindex', 256, 256, ind), figures({ opsPerS: 120_000, p50Ms: 1.8, p99Ms: 9 })],
  [makePoint('etcd', 3, 'read', 'linearizable', 256, 256, ind), figures({ opsPerS: 2400, p50Ms: 100, p99Ms: 150 })],
  [makePoint('edgeraft', 5, 'write', 'linearizable', 256, 256, ind), figures({ opsPerS: 20_000, p50Ms: 12, p99Ms: 40 })],
];

const memory = { clients: 1024, leaderRssBefore: 80 * 2 ** 20, leaderRssAfter: 150 * 2 ** 20, leaderBytesPerClient: 70 * 1024, followerBytesPerClient: 100 };

test('rows pair loads, leave etcd empty where it was not measured, and judge the targets', () => {
  const rs = rows(done);
  assert.equal(rs.map((r) => r.edgeraft.key), [
    'writes_256_independent', 'writes_256_multiplexed', 'writes_1024_independent', 'writes_1_independent', 'reads_readindex_256_independent', 'p5_writes_256_independent',
  ]);
  assert.is(rs[0]!.ratios!.ops, 12);
  assert.equal(rs[0]!.targets.map((t) => t.met), [true, true]);
  assert.is(rs[1]!.ratios, null);
  assert.equal(rs[3]!.targets.map((t) => t.met), [false]);
  assert.equal(rs[4]!.targets.map((t) => t.met), [true]);
  assert.is(rs[5]!.etcd, null);
  assert.equal(rs[5]!.targets, []);
});

test('targets against itself: 1,024 against 256, independent against multiplexed, persist against raw, memory', () => {
  const t = new Map(selfTargets(done, memory).map((s) => [s.key, s]));
  assert.ok(Math.abs(t.get('ratio_writes_1024_to_256_independent')!.value! - 28 / 30) < 1e-9);
  assert.is(t.get('ratio_writes_1024_to_256_independent')!.met, true);
  assert.is(t.get('ratio_independent_to_multiplexed_writes_256')!.value, 0.75);
  assert.is(t.get('ratio_independent_to_multiplexed_writes_256')!.met, true);
  assert.is(t.get('writes_1_independent_p50_ms')!.met, false);
  assert.is(t.get('persist_p50_ratio_to_raw_writes_256_independent')!.met, false);
  assert.ok(Math.abs(t.get('persist_p50_ratio_to_raw_writes_1_independent')!.value! - 1.2) < 1e-9);
  assert.is(t.get('persist_p50_ratio_to_raw_writes_1_independent')!.met, true);
  assert.is(t.get('memory_per_idle_client_kib')!.value, 70);
  assert.is(t.get('memory_per_idle_client_kib')!.met, false);
  assert.is(new Map(selfTargets(done, null).map((s) => [s.key, s])).get('memory_per_idle_client_kib')!.met, null);
});

const report: Report = {
  done,
  method: {
    sync: 'fdatasync', leaders: ['edgeraft 3 peers: p1'], valueBytes: 256, keyCount: 1000, newKeys: false, warmupS: 1, seconds: 3, runs: 3,
    edgeraftPeers: [3, 5], shapes: [ind, mux],
  },
  etcd: {
    notMeasured: null, version: '3.4.23', members: [3], gatewayCheckPerfKey: null,
    checkPerf: { load: 'l', members: 3, error: null, summary: { pass: false, writesPerS: 2491, throughputPass: false, slowestMs: 400, slowestPass: true, stddevMs: 30, stddevPass: true, errors: [] } },
  },
  memory,
  machine: { cpuModel: 'Test CPU', cores: 2, memGiB: 24, kernel: '6', node: 'v20', commit: 'abc1234', date: '2026-11-22T00:00:00.000Z' },
  durationS: 600,
};

test('--json: metric keys with units last, ratio_to_etcd and the targets', () => {
  const j = reportJson(report);
  assert.is(j.writes_256_independent_writes_per_s, 30_000);
  assert.is(j.etcd_writes_256_independent_writes_per_s, 2500);
  assert.is(j.reads_readindex_256_independent_reads_per_s, 120_000);
  assert.is(j.ratio_to_etcd_writes_256_independent, 12);
  assert.is(j.writes_256_independent_min_writes_per_s, 27_000);
  const toEtcd = j.ratio_to_etcd as Record<string, number>;
  assert.is(toEtcd.writes_256_independent_writes_per_s, 12);
  assert.is(toEtcd.writes_256_independent_p50_ms, 11.25);
  assert.not.ok('p5_writes_256_independent_writes_per_s' in toEtcd);
  const met = j.targets_met as Record<string, boolean | null>;
  assert.is(met.writes_256_independent_writes_per_s, true);
  assert.is(met.writes_256_independent_p99_ms, true);
  assert.is(met.writes_1_independent_p50_ms, false);
  assert.is(met.reads_readindex_256_independent_reads_per_s, true);
  assert.is(met.memory_per_idle_client_kib, false);
  assert.is(j.persist_p50_ratio_to_raw_writes_256_independent, 2.25);
  assert.is(j.memory_per_idle_client_kib, 70);
  assert.is(j.etcd_check_perf_writes_per_s, 2491);
  assert.is(JSON.parse(JSON.stringify(j)).etcd_version, '3.4.23');
});

test('the Markdown report says missed and met, and says so when etcd was not measured', () => {
  const md = reportMarkdown(report, true);
  assert.match(md, 'writes/s with 256 independent clients ≥ 10× etcd: 12.00× — met');
  assert.match(md, 'ReadIndex reads/s with 256 independent clients ≥ 30× etcd linearizable: 50.00× — met');
  assert.match(md, '3 peers, writes, 256 clients: independent ≥ 0.6× multiplexed: 0.75 — met');
  assert.match(md, 'peer memory per idle client connection ≤ 64 KiB: 70.00 — missed');
  assert.match(md, '![Latency against throughput](benchmarks-latency.svg)');
  assert.match(md, 'FAIL. Throughput 2,491 writes/s');
  const without = reportMarkdown({ ...report, done: done.filter(([p]) => p.system === 'edgeraft'), etcd: { notMeasured: 'etcd is not installed', version: null, members: [], checkPerf: null, gatewayCheckPerfKey: null } }, false);
  assert.match(without, '**etcd was not measured**: etcd is not installed');
  assert.match(without, 'writes/s with 256 independent clients ≥ 10× etcd: not measured');
  assert.not.match(without, 'benchmarks-latency.svg');
});

test.run();
