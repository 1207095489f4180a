// bench:wan's pure parts: its flags (bad ones are usage errors naming the flag), where the leader
// goes and each region's floor on the wan3 profile, the inflight window against the
// bandwidth-delay product, medians over runs, the counters read from two /metrics scrapes, the
// failover summary, and the report (markdown sections, chart, JSON keys with units). Made-up
// figures only: no timings here.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { hashOf } from '../../src/runtime-browser/source-policy.ts';
import { chartSvg } from '../../bench/lib/chart-svg.ts';
import { profiles, type NetProfile } from '../../bench/lib/net/profiles.ts';
import { windowCounters } from '../../bench/lib/wan-load.ts';
import { parseWanFlags, UsageError } from '../../bench/lib/wan-options.ts';
import {
  bytesPerWrite, closedLoopBound, memberRtts, electionRangeMs, latencyTargets, meanJitterMs, nearestMember, noGauge, preferredLeader,
  readFloorMs, subjectFor, tabFloorMs, summarizeCell, summarizeFailover, throughputTarget, wanChart, wanJson, wanMarkdown, windowChecks, writeFloor,
  type CellResult, type FailoverResult, type LinkFigures, type LoadRun, type WanReport, type WindowCounters,
} from '../../bench/lib/wan-report.ts';

const test = suite('wan-report');
const wan3 = profiles.wan3!;
const lan = profiles.lan!;

// ---- flags ------------------------------------------------------------------------------------

test('flags: defaults and --quick', () => {
  const o = parseWanFlags([]);
  assert.is(o.net, 'wan3');
  assert.is(o.baseline, 'lan');
  assert.is(o.runs, 3);
  assert.equal(o.clients, [1, 16, 256]);
  assert.is(o.highClients * o.highLoops, 2048, 'thousands in flight per region: closed loops are bounded by concurrency over latency');
  assert.ok(o.docs);
  assert.equal([...o.only].sort(), ['failover', 'reads', 'tabs', 'writes']);
  const q = parseWanFlags(['--quick']);
  assert.is(q.runs, 1);
  assert.not.ok(q.docs, 'a smoke test writes no docs');
  assert.ok(q.seconds < o.seconds);
});

test('flags: values are parsed and checked', () => {
  const o = parseWanFlags(['--net', 'lossy', '--baseline', 'none', '--clients', '16,1,16', '--high', '8x64', '--modes', 'lease,stale', '--only', 'writes', '--no-docs']);
  assert.is(o.net, 'lossy');
  assert.is(o.baseline, null);
  assert.equal(o.clients, [1, 16]);
  assert.is(o.highClients, 8);
  assert.is(o.highLoops, 64);
  assert.equal(o.modes, ['lease', 'stale']);
  assert.equal([...o.only], ['writes']);
  assert.not.ok(o.docs);
});

test('flags: bad ones are usage errors that name the flag', () => {
  const bad: Array<[string[], RegExp]> = [
    [['--bogus'], /bogus/],
    [['--runs', '0'], /--runs/],
    [['--runs', 'x'], /--runs/],
    [['--seconds', '-1'], /--seconds/],
    [['--clients', '1,a'], /--clients/],
    [['--high', '32'], /--high/],
    [['--modes', 'lease,fast'], /--modes.*fast/],
    [['--only', 'writes,nap'], /--only/],
    [['--signals', 'hup'], /--signals/],
    [['--sync', 'sometimes'], /--sync/],
    [['--baseline', 'wan3'], /--baseline/],
    [['stray'], /stray|positional/i],
  ];
  for (const [argv, re] of bad) {
    try {
      parseWanFlags(argv);
      assert.unreachable(`${argv.join(' ')} was accepted`);
    } catch (err) {
      assert.instance(err, UsageError, argv.join(' '));
      assert.match((err as Error).message, re, argv.join(' '));
    }
  }
});

// ---- geometry ---------------------------------------------------------------------------------

test('wan3: the leader goes to us-east; nearest members; floors', () => {
  assert.is(preferredLeader(wan3, 3), 0, 'us-east: 20 ms to its quorum and the least mean RTT to the clients');
  assert.is(nearestMember(wan3, 3, 2), 2);
  assert.is(nearestMember(wan3, 3, 0, 0), 1, 'us-east without the leader: us-central, 20 ms');
  assert.is(nearestMember(wan3, 3, 2, 0), 2);
  const f = writeFloor(wan3, 3, 0, 2, 0.5);
  assert.is(f.clientRttMs, 70);
  assert.is(f.quorumRttMs, 20);
  assert.is(f.floorMs, 90.5);
  assert.ok(Math.abs(meanJitterMs(wan3) - 4.33) < 0.01, 'normal jitter of 4 ms truncated at 0 averages 4.33 ms');
  assert.ok(Math.abs(f.jitterMs - 4 * meanJitterMs(wan3)) < 1e-9);
  assert.is(writeFloor(lan, 3, 0, 0, 1).floorMs, 1.4);
  assert.is(meanJitterMs(lan), 0);
});

test('read floors per mode', () => {
  assert.is(readFloorMs(wan3, 3, 0, 2, 'lease'), 70);
  assert.is(readFloorMs(wan3, 3, 0, 2, 'readindex'), 90);
  assert.is(readFloorMs(wan3, 3, 0, 2, 'follower'), 1 + 70, 'eu-west reads at w3, which asks the leader');
  assert.is(readFloorMs(wan3, 3, 0, 0, 'follower'), 1, 'us-east: the nearest member is the leader');
  assert.is(readFloorMs(wan3, 3, 0, 1, 'stale'), 1);
  assert.is(tabFloorMs(wan3, 3, 0, 0, 1), 20 + 20, 'a us-east tab served by us-central, which asks us-east');
  assert.ok(Number.isNaN(tabFloorMs(wan3, 3, 0, 0, null)));
});

test('a tab subject picks the wanted follower', () => {
  for (const f of ['w2', 'w3']) {
    const sub = subjectFor('tab', ['w3', 'w2'], f);
    assert.is(['w2', 'w3'][hashOf(sub) % 2], f);
  }
  assert.throws(() => subjectFor('tab', ['w2'], 'w9'), /not among/);
});

test('timeouts: the election range of peer flags', () => {
  assert.equal(electionRangeMs([]), [500, 1000]);
  assert.equal(electionRangeMs(['--tick-ms', '90']), [900, 1800]);
});

// ---- counters and windows -----------------------------------------------------------------------

function counters(o: Partial<WindowCounters> = {}): WindowCounters {
  return {
    committed: 10_000, persistBatches: 100, persistEntries: 10_000, persistP50Ms: 1, entryBytes: 3_000_000, peerDataBytes: 6_000_000, peerEntriesSent: 20_000,
    stalledProbes: 0, sendDropped: 0, reorderHeld: 0, elections: 0, readRounds: 0, leaseReads: 0,
    inflightMsgs: { mean: 10, max: 20, samples: 8 }, inflightBytes: { mean: 100_000, max: 200_000, samples: 8 }, pendingProposals: noGauge, ...o,
  };
}

test('bytes per write: the leader\'s data frames per entry per follower, else the payload', () => {
  assert.is(bytesPerWrite(counters(), 3, 256), 300);
  assert.is(bytesPerWrite(counters({ peerDataBytes: 0 }), 3, 256), 300, 'payload bytes per entry');
  assert.is(bytesPerWrite(counters({ peerDataBytes: 0, entryBytes: 0 }), 3, 256), 256);
  assert.is(bytesPerWrite(counters({ peerDataBytes: 10 }), 3, 256), 256, 'never below the value: such counters came from a member that stopped leading');
});

test('the inflight window against the bandwidth-delay product', () => {
  const limits = { msgsMax: 256, bytesMax: 32 * 2 ** 20 };
  const checks = windowChecks(wan3, 3, 0, 10_000, counters(), limits, 256);
  assert.equal(checks.map((c) => [c.follower, c.rttMs]), [[1, 20], [2, 70]]);
  assert.is(checks[1]!.neededBytes, 10_000 * 300 * 0.07);
  assert.ok(checks.every((c) => c.bytesCovered && !c.msgsSaturated));
  const tight = windowChecks(wan3, 3, 0, 10_000, counters({ inflightMsgs: { mean: 240, max: 256, samples: 8 } }), { msgsMax: 256, bytesMax: 100_000 }, 256);
  assert.ok(tight.every((c) => c.msgsSaturated));
  assert.equal(tight.map((c) => c.bytesCovered), [true, false], '60 KB fits 100 KB, 210 KB does not');
  assert.is(closedLoopBound(1000, 100), 10_000);
});

test('window counters from two scrapes of every member, gauges from the samples', () => {
  const m = (o: Record<string, number>) => new Map(Object.entries(o));
  const before = [
    m({ edgeraft_commit_index: 100, edgeraft_persist_batch_entries_count: 10, edgeraft_persist_batch_entries_sum: 100, 'edgeraft_sent_bytes_total{to="peers",kind="data"}': 1000, 'edgeraft_sent_bytes_total{to="peers",kind="rpc"}': 5, edgeraft_elections_total: 1 }),
    m({ edgeraft_elections_total: 0, edgeraft_reorder_held_total: 2 }),
  ];
  const after = [
    m({ edgeraft_commit_index: 600, edgeraft_persist_batch_entries_count: 15, edgeraft_persist_batch_entries_sum: 600, 'edgeraft_sent_bytes_total{to="peers",kind="data"}': 9000, 'edgeraft_sent_bytes_total{to="peers",kind="rpc"}': 500, edgeraft_elections_total: 1 }),
    m({ edgeraft_elections_total: 1, edgeraft_reorder_held_total: 5 }),
  ];
  const samples = [
    m({ 'edgeraft_follower_inflight_messages{follower="a"}': 3, 'edgeraft_follower_inflight_messages{follower="b"}': 7, edgeraft_pending_proposals: 4 }),
    m({ 'edgeraft_follower_inflight_messages{follower="a"}': 1, 'edgeraft_follower_inflight_messages{follower="b"}': 5, edgeraft_pending_proposals: 8 }),
    m({}),
  ];
  const c = windowCounters(before, after, 0, samples);
  assert.is(c.committed, 500);
  assert.is(c.persistBatches, 5);
  assert.is(c.persistEntries, 500);
  assert.is(c.peerDataBytes, 8000, 'data frames only, not rpc');
  assert.is(c.elections, 1, 'every member');
  assert.is(c.reorderHeld, 3);
  assert.equal(c.inflightMsgs, { mean: 6, max: 7, samples: 2 }, 'the busiest follower per sample; a sample without the gauge is left out');
  assert.equal(c.pendingProposals, { mean: 6, max: 8, samples: 2 });
  assert.is(c.inflightBytes.samples, 0);
});

// ---- medians and the report ---------------------------------------------------------------------

function run(opsPerS: number, p50s: readonly number[], o: Partial<LoadRun> = {}): LoadRun {
  return {
    opsPerS, p50Ms: p50s[0]!, p99Ms: p50s[0]! * 2, errors: 0,
    regions: p50s.map((p50, region) => ({ region, ops: opsPerS, opsPerS: opsPerS / p50s.length, p50Ms: p50, p99Ms: p50 * 2, errors: 0, errorCodes: {}, paths: { lease: 5 }, servedBy: {} })),
    counters: counters({ committed: opsPerS }), leaderCpuPct: 50, followerCpuPct: 30, generatorCpuPct: 40, relayCpuPct: 20, otherCpuPct: 3, leaderChanged: false, ...o,
  };
}

test('a cell: medians over runs, the spread, counters of the median run', () => {
  const c: CellResult = {
    profile: 'wan3', clientsPerRegion: 1, spec: { key: 'writes_1', op: 'write', mode: null, clientsPerRegion: 1, loopsPerClient: 1 },
    runs: [run(300, [30, 50, 100]), run(100, [40, 60, 110]), run(200, [20, 55, 90], { leaderChanged: true })],
  };
  const s = summarizeCell(c);
  assert.is(s.opsPerS, 200);
  assert.is(s.opsMin, 100);
  assert.is(s.opsMax, 300);
  assert.is(s.regions[0]!.p50Ms, 30);
  assert.is(s.regions[0]!.p50MinMs, 20);
  assert.is(s.regions[2]!.p50MaxMs, 110);
  assert.is(s.counters.committed, 200, 'the counters of the median run');
  assert.ok(s.leaderChanged);
  assert.equal(s.regions[1]!.paths, { lease: 15 });
});

function link(name: string, heldP50Ms: number, heldP99Ms: number, chunks = 10): LinkFigures {
  return { name, chunks, bytes: 1000, heldP50Ms, heldP99Ms, lost: 0 };
}

test('member round trips from the relays\' holds: there and back on the dialer\'s connections', () => {
  const stats = { links: [link('w1->w2', 10, 12), link('w1<-w2', 11, 13), link('w3->w1', 36, 40), link('w3<-w1', 37, 41), link('us-east->w1', 1, 2), link('us-east<-w1', 1, 2), link('w2->w3', 46, 50), link('w2<-w3', 0, 0, 0)], timerLagP50Ms: 0, timerLagP99Ms: 0, eventLoopLagP99Ms: 0 };
  assert.equal(memberRtts(stats, ['w1', 'w2', 'w3']), [
    { a: 'w1', b: 'w2', p50Ms: 21, p99Ms: 25 },
    { a: 'w3', b: 'w1', p50Ms: 73, p99Ms: 81 },
  ], 'a pair with an idle direction is left out');
});

function report(o: Partial<WanReport> = {}): WanReport {
  const w = (profile: string, key: string, clients: number, loops: number, ops: number, p50s: number[]): CellResult => ({
    profile, clientsPerRegion: clients * (profile === 'lan' ? 3 : 1), spec: { key, op: 'write', mode: null, clientsPerRegion: clients, loopsPerClient: loops },
    runs: [run(ops, p50s), run(ops * 1.1, p50s), run(ops * 0.9, p50s)],
  });
  const failover: FailoverResult = {
    status: 'measured', reason: null, derivedFrom: 'test', attemptTimeoutMs: 2000, args: { default: [], derived: ['--tick-ms', '90'] },
    runs: [
      { timeouts: 'default', peerArgs: [], signal: 'kill', run: 1, victim: 'w1', newLeader: 'w2', leaderKnownMs: 900, ackMs: { 0: 1200, 1: 1100, 2: Number.NaN }, clientErrors: {} },
      { timeouts: 'default', peerArgs: [], signal: 'kill', run: 2, victim: 'w1', newLeader: 'w2', leaderKnownMs: 700, ackMs: { 0: 1000, 1: 900, 2: 1500 }, clientErrors: {} },
      { timeouts: 'derived', peerArgs: ['--tick-ms', '90'], signal: 'stop', run: 1, victim: 'd1', newLeader: 'd3', leaderKnownMs: 1900, ackMs: { 0: 2500, 1: 2400, 2: 2600 }, clientErrors: {} },
    ],
  };
  return {
    machine: { cpuModel: 'Test CPU', cores: 2, memGiB: 8, kernel: '6.0', node: 'v20.0.0', commit: 'abc1234', date: '2026-01-01T00:00:00.000Z' },
    profile: wan3, baseline: lan, leader: 0,
    method: {
      members: 3, valueBytes: 256, keyCount: 1000, runs: 3, seconds: 3, warmupS: 1, sync: 'fdatasync', quick: false, fsyncP50Ms: 1, fsyncBytes: 322,
      generatorsPerRegion: { wan3: 1, lan: 3 }, connectConcurrency: 5, leaders: ['wan3: w1'], memberIds: ['w1', 'w2', 'w3'],
      limits: { msgsMax: 256, bytesMax: 32 * 2 ** 20, sdkInflightMax: 4096, handshakesMax: 16 },
      net: [{ profile: 'wan3', stats: { links: [link('w1->w2', 10.5, 14), link('w1<-w2', 12, 15)], timerLagP50Ms: 0.3, timerLagP99Ms: 2, eventLoopLagP99Ms: 3 }, error: null },
        { profile: 'lan', stats: null, error: 'gone' }],
    },
    writes: [
      w('wan3', 'writes_1', 1, 1, 30, [25, 60, 95]), w('lan', 'writes_1', 1, 1, 900, [2]),
      w('wan3', 'writes_high', 32, 32, 9000, [110, 130, 180]), w('lan', 'writes_high', 32, 32, 10_000, [300]),
    ],
    reads: [{
      profile: 'wan3', clientsPerRegion: 16, spec: { key: 'reads_lease', op: 'read', mode: 'lease', clientsPerRegion: 16, loopsPerClient: 1 },
      runs: [run(5000, [2, 21, 71])],
    }],
    tabs: { status: 'skipped', reason: 'no Chromium here' },
    failover, notes: ['a note'], durationS: 600, ...o,
  };
}

test('targets: throughput against the baseline, p50 against the floor per region', () => {
  const r = report();
  const t = throughputTarget(r)!;
  assert.is(t.ratio, 0.9);
  assert.ok(t.met);
  const lat = latencyTargets(r);
  assert.equal(lat.map((x) => x.region), [0, 1, 2]);
  assert.is(lat[0]!.floor.floorMs, 1 + 20 + 1);
  assert.equal(lat.map((x) => x.met), [true, false, true], '25/22 and 95/91 within 1.2x, 60/41 not');
});

test('failover summary: medians per timeouts and signal, runs without an ack counted', () => {
  const cells = summarizeFailover(report().failover!, [0, 1, 2]);
  assert.is(cells.length, 2);
  const k = cells.find((c) => c.timeouts === 'default' && c.signal === 'kill')!;
  assert.is(k.leaderKnownMs, 800);
  assert.is(k.ackMs[2]!.missing, 1);
  assert.is(k.ackMs[2]!.ms, 1500);
});

test('the markdown: generated, with every section, the targets and the reading', () => {
  const md = wanMarkdown(report(), 'wan-latency.svg');
  for (const part of ['Do not edit: run it again', '## Method', '## Targets', '## Writes', '## Reads', '## Browser tabs served by a follower relay',
    '## Elections and failover', '## What to set', '## What the figures say', 'wan-latency.svg', 'timer lag p50 0.30 ms', 'no stats (gone)',
    'Skipped: no Chromium here', '--tick-ms 90', 'a note', 'w1–w2 p50 22.5']) {
    assert.ok(md.includes(part), `missing: ${part}`);
  }
  assert.match(md, /Throughput[^\n]*0\.90×[^\n]*met/);
  assert.not.ok(wanMarkdown(report(), null).includes('wan-latency.svg'), 'stdout gets no image');
  assert.equal(md.split('\n').filter((l) => l.includes('NaN')), [], 'missing figures print as n/a');
});

test('the chart: one panel per client region, well-formed', () => {
  const spec = wanChart(report());
  assert.equal(spec.panels.map((p) => p.title), ['clients in us-east', 'clients in us-central', 'clients in eu-west']);
  const svg = chartSvg(spec);
  assert.ok(svg.startsWith('<svg'));
  assert.is((svg.match(/<g class="series"/g) ?? []).length, 3 * 4, 'p50, p99, the baseline and the floor in each panel');
});

test('the JSON: one flat object, numbers under unit-suffixed keys', () => {
  const j = wanJson(report());
  assert.is(j.net, 'wan3');
  assert.is(j.writes_high_ratio_to_lan, 0.9);
  assert.is(j.target_throughput_met, true);
  assert.is(j.wan3_writes_1_eu_west_floor_ms, 91);
  assert.is(j.failover_default_kill_leader_known_ms, 800);
  const units = /(_per_s|_ms|_pct|_s|_bytes|_msgs|_errors|_elections|_per_region|_ratio_to_[a-z0-9]+|^members|^runs|^seconds)$/;
  for (const [k, v] of Object.entries(j)) {
    if (typeof v === 'number') assert.match(k, units, `${k} has no unit`);
  }
});

test('floors use the given profile', () => {
  const p: NetProfile = { ...wan3, name: 'two', regions: ['a', 'b'], rttMs: [[2, 40], [40, 2]], memberRegion: (i) => (i === 0 ? 0 : 1), clientRegions: [0, 1] };
  assert.is(preferredLeader(p, 3), 1, 'two members in b: the quorum is within b');
  assert.is(writeFloor(p, 3, 1, 0, 0).floorMs, 40 + 2);
});

test.run();
