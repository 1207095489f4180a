// The pure parts of `npm run bench:parallel`: counter deltas summed over peers, medians per cell,
// parallel/raft ratios and issue 8's goal, the --json keys, and the relay's delay model (seeded
// normal draws, FIFO per connection). Made-up figures; nothing is measured here.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { SeededPrng } from '../../src/core/prng.ts';
import { findings } from '../../bench/lib/parallel-doc.ts';
import { jitterDelayMs, releaseAtMs } from '../../bench/lib/parallel-jitter.ts';
import {
  compare, counterMetrics, goalStatus, metricsJson, summarizeCell, windowCounters, type Counters, type Mode, type Run,
} from '../../bench/lib/parallel-report.ts';

const test = suite('bench parallel report');

const zero: Counters = {
  reorderHeld: 0, reorderAccepted: 0, lookBehind: 0, committedOutOfOrder: 0, appliedOutOfOrder: 0, applyHeldByConflict: 0,
  merges: 0, syncs: 0, syncMs: 0, syncedEntries: 0,
};

function run(writesPerS: number, p99Ms: number, counters: Partial<Counters> = {}): Run {
  return {
    writesPerS, p50Ms: p99Ms / 4, p99Ms, p999Ms: p99Ms * 1.5, writes: writesPerS * 3, errors: 0, counters: { ...zero, ...counters },
    otherCpuPct: 10, leaderCpuPct: 80, leaderChanged: false,
  };
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

test('a cell is the median of its runs; errors are summed and a leader change in any run shows', () => {
  const runs = [run(100, 10, { reorderHeld: 4 }), { ...run(300, 30, { reorderHeld: 1 }), errors: 2, leaderChanged: true }, run(200, 20, { reorderHeld: 9 })];
  const c = summarizeCell({ mode: 'raft', jitterMs: 2, keyCount: 8 }, runs);
  assert.is(c.figures.writesPerS, 200);
  assert.is(c.figures.p99Ms, 20);
  assert.is(c.figures.counters.reorderHeld, 4);
  assert.is(c.figures.errors, 2);
  assert.is(c.figures.leaderChanged, true);
  assert.is(c.runs, 3);
  assert.throws(() => summarizeCell({ mode: 'raft', jitterMs: 0, keyCount: 8 }, []), /at least one run/);
});

test('goal: under jitter half the p99 at equal throughput; without jitter no loss', () => {
  assert.is(goalStatus(2, 1.0, 0.5), 'met');
  assert.is(goalStatus(2, 1.0, 0.51), 'missed');
  assert.is(goalStatus(2, 0.8, 0.3), 'missed', 'a lower p99 bought with less throughput is not equal throughput');
  assert.is(goalStatus(0.5, 1.08, 0.4), 'met');
  assert.is(goalStatus(0, 0.95, 1.05), 'met');
  assert.is(goalStatus(0, 0.85, 1.0), 'missed');
  assert.is(goalStatus(0, 1.0, 1.2), 'missed');
  assert.is(goalStatus(0, Number.NaN, 1), 'not measured');
});

test('comparisons pair the modes per (jitter, keys) with ratios parallel/raft', () => {
  const cell = (mode: Mode, jitterMs: number, w: number, p99: number) => summarizeCell({ mode, jitterMs, keyCount: 8 }, [run(w, p99)]);
  const cmp = compare([cell('raft', 0, 1000, 40), cell('parallel', 0, 1000, 40), cell('raft', 2, 1000, 80), cell('parallel', 2, 1050, 30)]);
  assert.is(cmp.length, 2);
  assert.is(cmp[0]!.status, 'met');
  assert.is(cmp[1]!.writesRatio, 1.05);
  assert.is(cmp[1]!.p99Ratio, 0.375);
  assert.is(cmp[1]!.status, 'met');
  const alone = compare([cell('raft', 2, 1000, 80)]);
  assert.is(alone[0]!.parallel, null);
  assert.is(alone[0]!.status, 'not measured');
  assert.ok(Number.isNaN(alone[0]!.p99Ratio));
});

test('--json keys carry mode, jitter and keys, with units last', () => {
  const cells = [
    summarizeCell({ mode: 'raft', jitterMs: 0.5, keyCount: 100000 }, [run(1000, 40, { lookBehind: 0 })]),
    summarizeCell({ mode: 'parallel', jitterMs: 0.5, keyCount: 100000 }, [run(1000, 20, { lookBehind: 7 })]),
  ];
  const j = metricsJson(cells, compare(cells));
  assert.is(j.raft_jitter_0_5ms_keys_100000_writes_per_s, 1000);
  assert.is(j.parallel_jitter_0_5ms_keys_100000_p99_ms, 20);
  assert.is(j.parallel_jitter_0_5ms_keys_100000_lookbehind_accepted_total, 7);
  assert.is(j.jitter_0_5ms_keys_100000_p99_ms_ratio_parallel_to_raft, 0.5);
  assert.is(j.jitter_0_5ms_keys_100000_goal, 'met');
  const lines = findings(cells, compare(cells));
  assert.match(lines[0]!, /acknowledged 2\.3 entries past a hole/);
  assert.not.ok(lines.some((l) => l.includes('No parallel follower')), 'the window was used in this run');
});

test('findings say so when the look-behind window was never used, with the batch size that explains it', () => {
  const counters = { lookBehind: 0, syncs: 10, syncedEntries: 640 };
  const cells = [
    summarizeCell({ mode: 'raft', jitterMs: 2, keyCount: 8 }, [run(1000, 40, counters)]),
    summarizeCell({ mode: 'parallel', jitterMs: 2, keyCount: 8 }, [run(900, 50, counters)]),
  ];
  const line = findings(cells, compare(cells)).find((l) => l.includes('No parallel follower'));
  assert.ok(line !== undefined);
  assert.match(line, /median of 64\.0 entries/);
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
