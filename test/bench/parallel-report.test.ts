// The pure parts of `npm run bench:parallel`: counter deltas summed over peers, latency above each
// region's floor, medians and spreads per cell, parallel/raft ratios and issue 17's targets, the
// --json keys, the doc's findings and chart, and the relay's delay model (seeded normal draws,
// FIFO per connection). Made-up figures; nothing is measured here.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { SeededPrng } from '../../src/core/prng.ts';
import { chartSvg } from '../../bench/lib/chart-svg.ts';
import { Histogram } from '../../bench/lib/histogram.ts';
import { docNames, findings, parallelChart, whyMissed, type Method } from '../../bench/lib/parallel-doc.ts';
import { peersFlagPorts } from '../../bench/lib/parallel-cluster.ts';
import { jitterDelayMs, releaseAtMs } from '../../bench/lib/parallel-jitter.ts';
import {
  aboveFloorQuantileMs, bucketUpperMs, compare, counterMetrics, floorMs, goalStatus, logEntriesMetric, metricsJson, snapshotsInWindow, summarizeCell,
  sumQuantileMs, windowCounters,
  type Counters, type Mode, type Run,
} from '../../bench/lib/parallel-report.ts';

const test = suite('bench parallel report');

const zero: Counters = {
  reorderHeld: 0, reorderAccepted: 0, lookBehind: 0, committedOutOfOrder: 0, appliedOutOfOrder: 0, applyHeldByConflict: 0,
  merges: 0, syncs: 0, syncMs: 0, syncedEntries: 0,
};

/** A run whose floor is 10 ms and whose latencies above it are p99Ms - 10 at the p99. */
function run(writesPerS: number, p99Ms: number, counters: Partial<Counters> = {}): Run {
  return {
    writesPerS, p50Ms: p99Ms / 4, p99Ms, p999Ms: p99Ms * 1.5, p50AboveFloorMs: p99Ms / 4 - 10, p99AboveFloorMs: p99Ms - 10, p999AboveFloorMs: p99Ms * 1.5 - 10,
    floorsMs: { 'us-east': 10 }, fsyncMs: 2, writes: writesPerS * 3, errors: 0, counters: { ...zero, ...counters }, snapshots: 0,
    otherCpuPct: 10, leaderCpuPct: 80, leaderChanged: false,
  };
}

function histogramOf(ms: readonly number[]): number[] {
  const h = new Histogram();
  for (const v of ms) h.recordMs(v);
  return h.toArray();
}

test('window counters: increases summed over peers, a missing metric counts 0, a reset never goes negative', () => {
  const held = counterMetrics.reorderHeld;
  const look = counterMetrics.lookBehind;
  const before = [new Map([[held, 10], [look, 5]]), new Map([[held, 3]]), new Map([[held, 100]])];
  const after = [new Map([[held, 15], [look, 9]]), new Map([[held, 3], [look, 2]]), new Map([[held, 0]])];
  const c = windowCounters(before, after);
  assert.is(c.reorderHeld, 5);
  assert.is(c.lookBehind, 6);
  assert.is(c.applyHeldByConflict, 0);
  assert.throws(() => windowCounters(before, after.slice(1)), /do not pair up/);
});

test('a peer whose in-memory log shrank over the window took a snapshot', () => {
  const at = (n: number) => new Map([[logEntriesMetric, n]]);
  assert.is(snapshotsInWindow([at(50_000), at(100), new Map()], [at(40), at(900), at(3)]), 1);
});

test('bucket edges are the histogram\'s: a quantile of one sample is its bucket\'s upper edge', () => {
  for (const ms of [0.5, 3.3, 47, 812]) {
    const h = new Histogram(histogramOf([ms]));
    const i = h.counts.findIndex((c) => c > 0);
    assert.ok(Math.abs(bucketUpperMs(i) - h.quantileMs(0.5)) < 1e-9 * ms, `${ms} ms`);
  }
});

test('above the floor: each region\'s samples less its own floor, quantiles over all regions together', () => {
  // A near region (floor 20 ms) and a far one (floor 90 ms), each 1-2 ms above its floor but one far write 40 ms above.
  const near = histogramOf(Array.from({ length: 100 }, (_, i) => 21 + (i % 2)));
  const far = histogramOf([...Array.from({ length: 99 }, (_, i) => 91 + (i % 2)), 130]);
  const groups = [{ histogram: near, floorMs: 20 }, { histogram: far, floorMs: 90 }];
  const p50 = aboveFloorQuantileMs(groups, 0.5);
  assert.ok(p50 > 0.9 && p50 < 2.1, `p50 ${p50}`);
  // The largest sample, 40 ms above its floor, is the 200th of 200.
  const top = aboveFloorQuantileMs(groups, 1);
  assert.ok(top >= 40 && top < 41.4, `top ${top} (a bucket's upper edge: up to 1 % of 130 ms above)`);
  assert.ok(aboveFloorQuantileMs(groups, 0.99) < 3, 'the raw p99 would be the far region\'s ~92 ms');
  assert.ok(Number.isNaN(aboveFloorQuantileMs([{ histogram: new Histogram().toArray(), floorMs: 1 }], 0.99)));
  assert.throws(() => aboveFloorQuantileMs([{ histogram: [1, 2], floorMs: 0 }], 0.5), /buckets/);
  assert.is(floorMs(20, 20, 3), 43);
  assert.is(floorMs(0, 0, Number.NaN), 0, 'no fsync measured (sync none): the network alone');
});

test('a cell is the median of its runs, with their spread; errors are summed and a leader change in any run shows', () => {
  const runs = [run(100, 10, { reorderHeld: 4 }), { ...run(300, 30, { reorderHeld: 1 }), errors: 2, leaderChanged: true, snapshots: 2 }, run(200, 20, { reorderHeld: 9 })];
  const c = summarizeCell({ mode: 'raft', jitterMs: 2, keyCount: 8, writers: 16 }, runs);
  assert.is(c.figures.writesPerS, 200);
  assert.is(c.figures.p99Ms, 20);
  assert.is(c.figures.p99AboveFloorMs, 10);
  assert.equal(c.spread.writesPerS, { min: 100, max: 300 });
  assert.equal(c.spread.p99AboveFloorMs, { min: 0, max: 20 });
  assert.equal(c.figures.floorsMs, { 'us-east': 10 });
  assert.is(c.figures.counters.reorderHeld, 4);
  assert.is(c.figures.errors, 2);
  assert.is(c.figures.leaderChanged, true);
  assert.is(c.figures.snapshots, 1, 'runs in which a peer snapshotted');
  assert.is(c.runs, 3);
  assert.throws(() => summarizeCell({ mode: 'raft', jitterMs: 0, keyCount: 8, writers: 16 }, []), /at least one run/);
});

test('targets: under jitter half the tail above the floor, no throughput given up, commits out of order; without jitter 0.9x throughput', () => {
  assert.is(goalStatus(4, 1.0, 0.5, 10), 'met');
  assert.is(goalStatus(4, 1.3, 0.2, 10), 'met', 'more throughput is fine');
  assert.is(goalStatus(4, 1.0, 0.51, 10), 'missed');
  assert.is(goalStatus(4, 0.8, 0.3, 10), 'missed', 'a lower tail bought with less throughput does not count');
  assert.is(goalStatus(4, 1.0, 0.3, 0), 'missed', 'not done by committing out of order');
  assert.is(goalStatus(0, 0.95, 3, 0), 'met', 'without jitter only throughput counts');
  assert.is(goalStatus(0, 0.85, 1.0, 0), 'missed');
  assert.is(goalStatus(0, Number.NaN, 1, 0), 'not measured');
  assert.is(goalStatus(4, 1, Number.NaN, 5), 'not measured');
});

test('comparisons pair the modes per (jitter, keys, writers) with ratios parallel/raft of p99 above floor', () => {
  const cell = (mode: Mode, writers: number, w: number, p99: number, ooo = 5) =>
    summarizeCell({ mode, jitterMs: 4, keyCount: 8, writers }, [run(w, p99, { committedOutOfOrder: ooo })]);
  const cmp = compare([cell('raft', 16, 1000, 50), cell('parallel', 16, 1050, 30), cell('raft', 256, 1000, 90), cell('parallel', 256, 1000, 80)]);
  assert.is(cmp.length, 2);
  assert.is(cmp[0]!.writers, 16);
  assert.is(cmp[0]!.writesRatio, 1.05);
  assert.is(cmp[0]!.p99AboveFloorRatio, 0.5, '(30 - 10) / (50 - 10)');
  assert.is(cmp[0]!.status, 'met');
  assert.is(cmp[1]!.status, 'missed');
  const alone = compare([cell('raft', 16, 1000, 80)]);
  assert.is(alone[0]!.parallel, null);
  assert.is(alone[0]!.status, 'not measured');
  assert.ok(Number.isNaN(alone[0]!.p99AboveFloorRatio));
  const onFloor = compare([cell('raft', 16, 1000, 10), cell('parallel', 16, 1000, 12)]);
  assert.ok(Number.isNaN(onFloor[0]!.p99AboveFloorRatio), 'raft on its floor: no ratio');
});

test('--json keys carry mode, jitter, keys and writers, with units last', () => {
  const cells = [
    summarizeCell({ mode: 'raft', jitterMs: 0.5, keyCount: 100000, writers: 256 }, [run(1000, 50, { lookBehind: 0 })]),
    summarizeCell({ mode: 'parallel', jitterMs: 0.5, keyCount: 100000, writers: 256 }, [run(1000, 30, { lookBehind: 7, committedOutOfOrder: 3 })]),
  ];
  const j = metricsJson(cells, compare(cells));
  assert.is(j.raft_jitter_0_5ms_keys_100000_writers_256_writes_per_s, 1000);
  assert.is(j.parallel_jitter_0_5ms_keys_100000_writers_256_p99_ms, 30);
  assert.is(j.parallel_jitter_0_5ms_keys_100000_writers_256_p99_above_floor_ms, 20);
  assert.is(j.parallel_jitter_0_5ms_keys_100000_writers_256_lookbehind_accepted_total, 7);
  assert.is(j.jitter_0_5ms_keys_100000_writers_256_p99_above_floor_ratio_parallel_to_raft, 0.5);
  assert.is(j.jitter_0_5ms_keys_100000_writers_256_goal, 'met');
  const lines = findings(cells, compare(cells));
  assert.match(lines[0]!, /acknowledged 2\.3 entries past a hole/);
  assert.match(lines[0]!, /\*\*met\*\*/);
  assert.not.ok(lines.some((l) => l.includes('No parallel follower')), 'the window was used in this run');
  assert.ok(lines.some((l) => l.includes('Targets met in 1 of 1 cells')));
});

test('findings say so when the look-behind window was never used, with the batch size that explains it', () => {
  const counters = { lookBehind: 0, syncs: 10, syncedEntries: 640 };
  const cells = [
    summarizeCell({ mode: 'raft', jitterMs: 2, keyCount: 8, writers: 16 }, [run(1000, 40, counters)]),
    summarizeCell({ mode: 'parallel', jitterMs: 2, keyCount: 8, writers: 16 }, [run(900, 50, counters)]),
  ];
  const lines = findings(cells, compare(cells), { profile: 'wan3', loss: 0, rtoMs: 200, jitterAloneP99Ms: 0 });
  const line = lines.find((l) => l.includes('No parallel follower'));
  assert.ok(line !== undefined);
  assert.match(line, /median of 64\.0 entries/);
  assert.match(lines[0]!, /^- 8 keys, 16 writers: /, 'with --net the jitter is the profile\'s: not repeated');
  assert.not.ok(lines.some((l) => l.includes('loses')));
  const lossy = findings(cells, compare(cells), { profile: 'lossy', loss: 0.01, rtoMs: 200, jitterAloneP99Ms: 0 }).find((l) => l.includes('loses'));
  assert.ok(lossy !== undefined);
  assert.match(lossy, /about 2\.0 % of writes, so both modes' p99 carries that wait/);
});

test('the chart: a panel per key count, a line per mode, p99 above floor against writers; doc names per profile', () => {
  const cells = [16, 256].flatMap((writers) => (['raft', 'parallel'] as const).flatMap((mode) => [100000, 8].map((keyCount) =>
    summarizeCell({ mode, jitterMs: 4, keyCount, writers }, [run(1000, mode === 'raft' ? 60 : 30)]))));
  const method = { modes: ['raft', 'parallel'], runs: 1, net: { profile: 'wan3' } } as unknown as Method;
  const spec = parallelChart({ machine: {} as never, method, cells, durationS: 1 });
  assert.is(spec.panels.length, 2);
  assert.equal(spec.panels[0]!.series.map((s) => s.name), ['raft', 'parallel']);
  assert.equal(spec.panels[0]!.series[1]!.points.map((p) => [p.x, p.y]), [[16, 20], [256, 20]]);
  assert.match(chartSvg(spec), /<svg/);
  assert.equal(docNames('wan3'), { markdown: 'parallel-bench-wan3.md', chart: 'parallel-bench-wan3.svg' });
  assert.equal(docNames(null), { markdown: 'parallel-bench.md', chart: 'parallel-bench.svg' });
});

test('a --peers value gives each id its port (to map relay addresses a member may hint)', () => {
  assert.equal(peersFlagPorts('r1=127.0.0.1:4001,r2=127.0.0.1:39211'), [['r1', 4001], ['r2', 39211]]);
  assert.throws(() => peersFlagPorts('r1'), /id=host:port/);
});

test('a missed target says why: throughput given up, writes held on conflicts, no out-of-order commits', () => {
  const cells = [
    summarizeCell({ mode: 'raft', jitterMs: 4, keyCount: 8, writers: 256 }, [run(2000, 100, { syncs: 10, syncMs: 30 })]),
    summarizeCell({ mode: 'parallel', jitterMs: 4, keyCount: 8, writers: 256 }, [run(1000, 200, { applyHeldByConflict: 2400, syncs: 10, syncMs: 80 })]),
  ];
  const [c] = compare(cells);
  assert.is(c!.status, 'missed');
  const why = whyMissed(c!);
  assert.match(why, /served 0\.50× raft's writes\/s/);
  assert.match(why, /8\.00 against 3\.00 ms per persist batch/);
  assert.match(why, /same key 800\.0 times per 1,000 writes/);
  assert.match(why, /no entry committed out of order/);
  const met = compare([cells[0]!, summarizeCell({ mode: 'parallel', jitterMs: 4, keyCount: 8, writers: 256 }, [run(2000, 40, { committedOutOfOrder: 9 })])]);
  assert.is(whyMissed(met[0]!), '');
});

test('jitter alone: the sum of independent draws, and what it says about halving raft\'s tail', () => {
  const prng = new SeededPrng(7);
  const flat = sumQuantileMs(() => 2, 4, 0.99, 1000);
  assert.is(flat, 8);
  const uniform = sumQuantileMs(() => prng.nextFloat() * 10, 4, 0.5, 20_000);
  assert.ok(Math.abs(uniform - 20) < 0.5, `median of 4 uniform(0, 10): ${uniform}`);
  const cells = [
    summarizeCell({ mode: 'raft', jitterMs: 4, keyCount: 8, writers: 16 }, [run(1000, 50)]),
    summarizeCell({ mode: 'parallel', jitterMs: 4, keyCount: 8, writers: 16 }, [run(1000, 48, { committedOutOfOrder: 3 })]),
  ];
  const line = findings(cells, compare(cells), { profile: 'wan3', loss: 0, rtoMs: 200, jitterAloneP99Ms: 30 }).find((l) => l.includes('four hops'));
  assert.ok(line !== undefined);
  assert.match(line, /p99 of 30\.0 ms by itself/);
  assert.match(line, /under twice that in 1 of 1 cells \(8 keys, 16 writers: 40\.0 ms\)/);
});

test('relay delays: 0 passes at once; draws are seeded, never negative, centred on the jitter', () => {
  const a = new SeededPrng(42);
  const b = new SeededPrng(42);
  assert.is(jitterDelayMs(a, 0), 0);
  const xs = Array.from({ length: 20_000 }, () => jitterDelayMs(a, 2));
  const ys = Array.from({ length: 20_000 }, () => jitterDelayMs(b, 2));
  assert.equal(xs, ys, 'the same seed draws the same delays');
  assert.ok(xs.every((x) => x >= 0));
  const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
  // The mean of max(0, N(2, 2)) is about 2.17.
  assert.ok(mean > 2.0 && mean < 2.35, `mean ${mean}`);
  assert.ok(xs.filter((x) => x === 0).length > 0.1 * xs.length, 'about 16 % of draws are clipped to 0');
  assert.throws(() => jitterDelayMs(a, -1), /jitter must be/);
});

test('relay order: a chunk never leaves before the previous one of its connection', () => {
  assert.is(releaseAtMs(0, 10, 2), 12);
  assert.is(releaseAtMs(15, 10, 2), 15);
  assert.is(releaseAtMs(12, 10, 0), 12);
});

test.run();
