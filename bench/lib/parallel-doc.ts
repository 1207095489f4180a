// docs/parallel-bench.md (or docs/parallel-bench-PROFILE.md with --net) from one `npm run
// bench:parallel` (stdout gets the same text): the machine, the method with what the emulator
// really did, the tables, a chart of p99 above the floor, the targets met or missed, and what the
// counters say, in sentences built from the figures so that a rerun never leaves stale prose.

import { defaults } from '../../src/core/config.ts';
import { fmt, median, table } from '../machine.ts';
import type { ChartPanel, ChartSpec } from './chart-svg.ts';
import { machineSection, type MachineInfo } from './machine-info.ts';
import {
  compare, countersTable, keysText, n2, p99RatioGoal, ratiosTable, ratioText, resultsTable, writesRatioGoal,
  type Cell, type Comparison, type Mode, type TableShape,
} from './parallel-report.ts';

/** What the proxy really did at one jitter setting (over all its chunks, both modes; no --net). */
export interface RealizedJitter {
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly chunks: number;
  readonly connections: number;
}

/** One direction of one emulated link, over one mode's measured windows. */
export interface LinkSummary {
  /** Members as m1..mN (the same in both clusters), client links by region: `m1->m2`, `us-east<-m1`. */
  readonly name: string;
  /** The regions it joins, and its configured one-way latency (before jitter, loss and bandwidth). */
  readonly regions: string;
  readonly oneWayMs: number;
  readonly chunks: number;
  /** Medians over the windows of the realized hold per chunk. */
  readonly heldP50Ms: number;
  readonly heldP99Ms: number;
  readonly lost: number;
}

export interface NetMethod {
  readonly profile: string;
  /** Peer flags derived from the profile (suggestedPeerArgs: its tick and read rounds). */
  readonly peerArgs: readonly string[];
  readonly description: string;
  /** The profile's chance a chunk is lost, and what a loss costs (every link, the clients' too). */
  readonly loss: number;
  readonly rtoMs: number;
  /** The profile's jitter on a write's four hops alone, its p99 (sumQuantileMs): the least any mode's p99 above the floor can be. */
  readonly jitterAloneP99Ms: number;
  /** Where each member sits (m1: us-east, ...). */
  readonly memberRegions: readonly string[];
  /** The member leadership is kept on, as m<i> and its region. */
  readonly leader: string;
  /** The network part of the floor by client region: client->leader RTT + leader's nearest-quorum RTT. */
  readonly networkFloorMs: Readonly<Record<string, number>>;
  readonly quorumRttMs: number;
  readonly relayProcesses: number;
  /** Per mode, the links that carried data in its windows. */
  readonly links: Readonly<Partial<Record<Mode, readonly LinkSummary[]>>>;
  /** The relays' timer lag (p50: median of the windows'; p99: the worst window's) and event-loop lag p99 (the worst window's). */
  readonly timerLagP50Ms: number;
  readonly timerLagP99Ms: number;
  readonly eventLoopLagP99Ms: number;
  readonly generatorsPerRegion: number;
}

export interface Method {
  readonly modes: readonly Mode[];
  /** Why a mode asked for was not measured, by mode. */
  readonly skipped: Readonly<Partial<Record<Mode, string>>>;
  /** --net: the profile and what the emulator did; null: the jitter proxy on one follower. */
  readonly net: NetMethod | null;
  /** By jitter setting, in the order measured (no --net). */
  readonly jitter: ReadonlyArray<readonly [number, RealizedJitter]>;
  readonly connections: number;
  readonly writers: readonly number[];
  /** SDK clients shared by the writers (no --net); with --net every writer has its own. */
  readonly clients: number | null;
  readonly procs: number;
  readonly valueBytes: number;
  readonly sync: string;
  readonly warmupS: number;
  readonly seconds: number;
  readonly runs: number;
  readonly leaders: readonly string[];
}

export interface ParallelReport {
  readonly machine: MachineInfo;
  readonly method: Method;
  readonly cells: readonly Cell[];
  readonly durationS: number;
}

/** The doc and chart a run writes into docs/: parallel-bench.md without --net, parallel-bench-PROFILE.md with it. */
export function docNames(net: string | null): { readonly markdown: string; readonly chart: string } {
  const base = net === null ? 'parallel-bench' : `parallel-bench-${net}`;
  return { markdown: `${base}.md`, chart: `${base}.svg` };
}

export function shapeOf(m: Method): TableShape {
  return { jitterColumn: m.net === null };
}

function writersText(ws: readonly number[]): string {
  return ws.length === 1 ? String(ws[0]) : `${ws.slice(0, -1).join(', ')} and ${ws[ws.length - 1]}`;
}

function runsLine(m: Method): string {
  return `- **Runs**: ${m.warmupS} s warm-up, then ${m.seconds} s measured; median of ${m.runs} run(s) per cell, the lowest and highest ` +
    'in brackets; the runs alternate between the modes (raft first in odd runs, parallel first in even ones), so a slow spell of the shared ' +
    'machine falls on both. Percentiles from one merged histogram per run (1 % buckets).';
}

function countersLine(): string {
  return '- **Counters**: every peer\'s /metrics scraped as the measured window opens and closes, increases summed over the 3 peers, median ' +
    'over runs. "reorder held" counts AppendEntries messages that arrived ahead of a gap (both modes: in parallel mode, those beyond the ' +
    'look-behind window); "acked past a hole" counts entries a parallel follower acknowledged past a hole (`accepted_out_of_order`); ' +
    '"committed/applied out of order" and "held by conflict" count entries (`edgeraft_parallel_events_total`). entries/sync and ms/sync: all ' +
    'peers\' persist batches.';
}

function targetsLine(): string {
  return `- **Targets** (issue 17): under jitter (\`wan3\`, \`lossy\`), parallel's p99 above the floor ≤ ${p99RatioGoal}× raft's at equal offered ` +
    `load, with out-of-order commits actually happening and writes/s ≥ ${writesRatioGoal}× raft (a tail bought with less throughput does not ` +
    `count); without jitter (\`lan\`, or 0 ms), writes/s ≥ ${writesRatioGoal}× raft.`;
}

function netLines(m: Method, n: NetMethod): string[] {
  const floors = Object.entries(n.networkFloorMs).map(([r, v]) => `${r} ${n2(v, 1)} ms`).join(', ');
  return [
    `- **Clusters**: two 3-peer clusters on 127.0.0.1 from the built CLI, one per mode (\`edgeraft peer --mode raft|parallel --connections ${m.connections} ` +
    `--sync ${m.sync}${n.peerArgs.length > 0 ? ` ${n.peerArgs.join(' ')}` : ''}\`; ${n.peerArgs.length > 0 ? 'the flags the profile\'s round trips suggest, as `suggestedPeerArgs` derives them' : 'default tick'}), ` +
    'each with its own temp data dirs. Both run for the whole benchmark; the idle one exchanges only heartbeats.',
    `- **Network** (\`--net ${n.profile}\`): ${n.description}. Members: ${n.memberRegions.join(', ')}. This kernel has no netem, so every peer ` +
    `connection (\`--connections ${m.connections}\` per member pair) and every client connection runs through the emulator's relay process` +
    `${n.relayProcesses > 1 ? `es (${n.relayProcesses})` : ''} (\`bench/lib/net/\`): each chunk is held its link's one-way latency plus the ` +
    'jitter (and loss, and bandwidth, as the profile says), never past an earlier chunk of its connection (FIFO, as TCP), so messages reorder ' +
    'only across the connections of a pair. Jitter is on every link, so whichever follower answers first is on the commit path. Leadership is ' +
    `kept on ${n.leader} in both clusters (moved back with transfer-leader if an election moves it), so both modes have the same floor.`,
    `- **Floor**: for a client region, its round trip to the leader plus the leader's round trip to its nearest quorum (${n2(n.quorumRttMs, 1)} ms) ` +
    `plus the leader's median fsync in that window: ${floors}, plus the fsync. "p99 above floor" is the p99 of each write's latency minus its ` +
    'own region\'s floor, over all regions\' writes together (a p99 of the raw latencies would be the farthest region\'s alone).',
    `- **Emulator, as measured** over the measured windows: ${Number.isFinite(n.timerLagP50Ms)
      ? `relay timer lag p50 ${n2(n.timerLagP50Ms)} ms (median of the windows), p99 ${n2(n.timerLagP99Ms)} ms (worst window)`
      : 'no relay timer fired (every chunk was due within the timer grain and went out at once)'}; relay event-loop lag p99 ` +
    `${n2(n.eventLoopLagP99Ms)} ms (worst window). Timers fire on whole milliseconds and the relays share the 2 cores with ` +
    'everything else, so holds come out a little longer than configured. Realized hold per chunk by link direction, median over the windows ' +
    '(links that carried data; `a->b`: data on the connections a dialed to b, `a<-b`: the replies on them):',
    '',
    linksTable(n),
    '',
    `- **Load**: ${writersText(m.writers)} closed-loop writers per cell, spread evenly over the client regions (${n.generatorsPerRegion} forked ` +
    'generator process(es) per region, `bench/cluster-load.ts`), each writer its own SDK client (its own client session and connection, ' +
    `dialing through its region's relays): put, wait for the answer, put again. ${m.valueBytes}-byte values to keys picked by a seeded PRNG ` +
    'among N keys all written beforehand. Both modes get the same writers, so the offered load (concurrency) is equal; writes/s shows what ' +
    'each served. Latency is what the client observes for each put.',
    runsLine(m),
    countersLine(),
    targetsLine(),
    `- **Leaders** (at the end): ${m.leaders.join('; ')}.`,
  ];
}

function linksTable(n: NetMethod): string {
  const names = new Map<string, LinkSummary>();
  for (const rows of Object.values(n.links)) for (const l of rows ?? []) if (!names.has(l.name)) names.set(l.name, l);
  const find = (mode: Mode, name: string) => n.links[mode]?.find((l) => l.name === name);
  const cells = (l: LinkSummary | undefined) => (l === undefined ? ['–', '–', '–', '–'] : [fmt(l.chunks), n2(l.heldP50Ms), n2(l.heldP99Ms), fmt(l.lost)]);
  return table(['link', 'regions', 'one-way ms', 'raft chunks', 'raft held p50', 'raft held p99', 'raft lost', 'parallel chunks', 'parallel held p50', 'parallel held p99', 'parallel lost'],
    [...names.values()].sort((a, b) => a.name.localeCompare(b.name)).map((l) => [l.name, l.regions, n2(l.oneWayMs, 1), ...cells(find('raft', l.name)), ...cells(find('parallel', l.name))]));
}

function jitterLines(m: Method): string[] {
  const seen = m.jitter.map(([j, r]) => `${j} ms: p50 ${fmt(r.p50Ms, 2)} ms, p99 ${fmt(r.p99Ms, 2)} ms over ${fmt(r.chunks)} chunks`);
  return [
    `- **Clusters**: two 3-peer clusters on 127.0.0.1 from the built CLI, one per mode (\`edgeraft peer --mode raft|parallel --connections ${m.connections} ` +
    `--sync ${m.sync}\`, default tick), each with its own temp data dirs. Both run for the whole benchmark; the idle one exchanges only heartbeats.`,
    '- **Jitter**: this kernel has no netem (`CONFIG_NET_SCH_NETEM` is not set, so `tc qdisc ... netem` fails), so one follower of each cluster ' +
    'reaches its peers, and they reach it, through a TCP relay process (`bench/lib/parallel-proxy.ts`; each member is given its own `--peers` list). ' +
    'The relay holds every chunk, in each direction, a normally distributed time of mean X and spread X ms (negative draws go out at once), but never ' +
    `past an earlier chunk of the same connection: messages reorder across the ${m.connections} connections of a peer pair, and wait behind a slow chunk ` +
    'inside one, as TCP does after a delayed segment. At 0 ms the relay passes chunks on at once (it is still in the path). Node timers have a ' +
    `grain of about 1 ms, so small holds come out longer; what the relay really held: ${seen.join('; ')}. Leadership is kept off the jittered follower ` +
    '(moved away with transfer-leader when an election puts it there), so the leader and the clean follower form the quorum: the jittered ' +
    'follower is not on the commit path (`--net` puts jitter on every link).',
    '- **Floor**: on loopback the round trips are ~0, so the floor is the leader\'s median fsync in that window; "p99 above floor" is p99 minus it.',
    `- **Load**: ${writersText(m.writers)} concurrent writers in ${m.procs} forked generator processes (\`bench/cluster-load.ts\`, as \`npm run bench\`), ` +
    `${m.clients ?? 'one per writer'} SDK clients (client sessions) shared among them, ${m.valueBytes}-byte values, puts to keys picked by a seeded PRNG ` +
    'among N keys all written beforehand. Latency is what the client observes for each put (commit, apply and the client round trip), not the ' +
    'leader\'s internal commit time.',
    runsLine(m),
    countersLine(),
    targetsLine(),
    `- **Leaders** (at the end): ${m.leaders.join('; ')}.`,
  ];
}

function methodLines(m: Method): string[] {
  return [
    ...(m.net !== null ? netLines(m, m.net) : jitterLines(m)),
    ...Object.entries(m.skipped).map(([mode, why]) => `- **${mode} mode was not measured**: ${why}`),
  ];
}

function per1k(v: number, writes: number): string {
  return writes > 0 && Number.isFinite(v) ? fmt((v * 1000) / writes, 1) : '–';
}

function conditionText(c: Comparison, net: string | null): string {
  return `${net === null ? `${c.jitterMs} ms jitter, ` : ''}${fmt(c.keyCount)} keys, ${c.writers} writers`;
}

/** Writes per 1,000 held back on a key conflict past which the conflicts are called the cause. */
const conflictShare = 0.5;

/** For a missed target: the figures that show why (throughput given up, conflicts, raft's own tail), in one clause. */
export function whyMissed(c: Comparison): string {
  if (c.status !== 'missed' || c.raft === null || c.parallel === null) return '';
  const r = c.raft.figures;
  const p = c.parallel.figures;
  const why: string[] = [];
  if (c.writesRatio < writesRatioGoal) {
    const ms = (f: typeof r) => (f.counters.syncs > 0 ? f.counters.syncMs / f.counters.syncs : Number.NaN);
    why.push(`parallel served ${ratioText(c.writesRatio)} raft's writes/s with the same writers, so each write took longer (leader CPU ` +
      `${fmt(p.leaderCpuPct)} % against ${fmt(r.leaderCpuPct)} %, ${n2(ms(p))} against ${n2(ms(r))} ms per persist batch)`);
  }
  if (p.writes > 0 && p.counters.applyHeldByConflict / p.writes >= conflictShare) {
    why.push(`the peers held an apply back behind an earlier write to the same key ${per1k(p.counters.applyHeldByConflict, p.writes)} times per ` +
      '1,000 writes (summed over the peers), so out-of-order commits bought little: those applies still ran in order');
  }
  if (c.jitterMs > 0 && p.counters.committedOutOfOrder === 0) why.push('no entry committed out of order');
  if (c.jitterMs > 0 && Number.isFinite(c.p99AboveFloorRatio) && r.p99AboveFloorMs < 4 * c.jitterMs) {
    why.push(`raft's own p99 was only ${n2(r.p99AboveFloorMs, 1)} ms above its floor, a few jitters: little for out-of-order commits to save`);
  }
  return why.length > 0 ? ` Why missed: ${why.join('; ')}.` : '';
}

/** Sentences on what the counters and ratios show, built from the figures. */
export function findings(cells: readonly Cell[], comparisons: readonly Comparison[], net: Pick<NetMethod, 'profile' | 'loss' | 'rtoMs' | 'jitterAloneP99Ms'> | null = null): string[] {
  const lines: string[] = [];
  for (const c of comparisons) {
    if (c.raft === null || c.parallel === null) continue;
    const r = c.raft.figures;
    const p = c.parallel.figures;
    const judged = c.jitterMs > 0
      ? `p99 above floor ${n2(p.p99AboveFloorMs, 1)} ms against raft's ${n2(r.p99AboveFloorMs, 1)} ms (${ratioText(c.p99AboveFloorRatio)}, target ≤ ${p99RatioGoal}×)` +
        ` at ${fmt(p.writesPerS)} against ${fmt(r.writesPerS)} writes/s (${ratioText(c.writesRatio)})`
      : `${fmt(p.writesPerS)} writes/s against raft's ${fmt(r.writesPerS)} (${ratioText(c.writesRatio)}, target ≥ ${writesRatioGoal}×), p99 above floor ` +
        `${n2(p.p99AboveFloorMs, 1)} against ${n2(r.p99AboveFloorMs, 1)} ms`;
    lines.push(
      `- ${conditionText(c, net?.profile ?? null)}: parallel ${judged}: **${c.status}**. Per 1,000 writes: raft held ${per1k(r.counters.reorderHeld, r.writes)} ` +
      `messages in its reorder buffer; parallel held ${per1k(p.counters.reorderHeld, p.writes)}, acknowledged ${per1k(p.counters.lookBehind, p.writes)} ` +
      `entries past a hole, committed ${per1k(p.counters.committedOutOfOrder, p.writes)} and applied ${per1k(p.counters.appliedOutOfOrder, p.writes)} ` +
      `out of order, and held ${per1k(p.counters.applyHeldByConflict, p.writes)} back on a key conflict.${whyMissed(c)}`,
    );
  }
  if (lines.length === 0) lines.push('- Only one mode was measured: no comparison.');
  const par = cells.filter((c) => c.mode === 'parallel');
  const batch = median(par.map((c) => (c.figures.counters.syncs > 0 ? c.figures.counters.syncedEntries / c.figures.counters.syncs : 0)));
  if (par.length > 0 && par.every((c) => c.figures.counters.lookBehind === 0)) {
    lines.push(
      '- No parallel follower acknowledged a single entry past a hole in any cell, so nothing could commit or apply out of order. An ' +
      `AppendEntries carries a turn's worth of entries (persist batches held a median of ${fmt(batch, 1)} entries here), so a message that ` +
      'overtakes another starts that many entries past the hole; a follower acknowledges past a hole only within the look-behind window ' +
      `(lookBehindEntries ${defaults.lookBehindEntries}, lookBehindBatches ${defaults.lookBehindBatches} by default). Messages beyond it wait in the ` +
      'reorder buffer, as in raft mode; and with no jitter nothing arrives out of order in the first place.',
    );
  } else if (par.length > 0 && par.every((c) => c.figures.counters.committedOutOfOrder === 0)) {
    lines.push(
      '- Parallel followers acknowledged entries past a hole, but no entry committed out of order: the leader still advanced its commit index ' +
      'only in order (or the holes filled before a quorum had the later entries).',
    );
  }
  if (net !== null && net.jitterAloneP99Ms > 0) {
    const j = net.jitterAloneP99Ms;
    const raftLow = comparisons.filter((c) => c.raft !== null && c.raft.figures.p99AboveFloorMs < 2 * j);
    lines.push(
      `- The jitter of a write's own four hops (to the leader, to the nearest follower and back, back to the client; the profile's draws, ` +
      `independent) has a p99 of ${n2(j, 1)} ms by itself: no ordering removes it, so no mode's p99 above the floor goes much under it. ` +
      (raftLow.length > 0
        ? `Raft's was under twice that in ${raftLow.length} of ${comparisons.length} cells (${raftLow.map((c) => `${fmt(c.keyCount)} keys, ${c.writers} writers: ` +
          `${n2(c.raft!.figures.p99AboveFloorMs, 1)} ms`).join('; ')}): there, halving it would take parallel under the jitter alone.`
        : 'Raft\'s was above twice that in every cell: its ordering costs more than the jitter itself, which is the part parallel mode can win back.'),
    );
  }
  if (net !== null && net.loss > 0) {
    // A write's request and its answer each cross the client's own lossy link once.
    const share = 1 - (1 - net.loss) ** 2;
    lines.push(
      `- ${net.profile} loses ${fmt(net.loss * 100, 1)} % of the chunks on every link, the clients' own included: a write whose request or ` +
      `answer is lost there waits ${fmt(net.rtoMs)} ms more in either mode, about ${fmt(share * 100, 1)} % of writes` +
      `${share >= 0.01 ? `, so both modes' p99 carries that wait and the p99 ratio is bounded away from 0 by it (compare the p99.9 and the p50)` : ''}.`,
    );
  }
  const snapshotted = cells.filter((c) => c.figures.snapshots > 0);
  if (snapshotted.length > 0) {
    lines.push(
      `- A peer took a snapshot (every ${fmt(50_000)} applied entries by default) inside the measured window of ${snapshotted.reduce((s, c) => s + c.figures.snapshots, 0)} ` +
      `run(s) (${snapshotted.map((c) => `${c.mode}, ${fmt(c.keyCount)} keys, ${c.writers} writers`).join('; ')}): serializing the state stalls that ` +
      'peer, which shows in that run\'s tail whatever the mode; the median over the runs keeps one such run from deciding a cell.',
    );
  }
  const met = comparisons.filter((c) => c.status === 'met').length;
  const judged = comparisons.filter((c) => c.status !== 'not measured').length;
  if (judged > 0) lines.push(`- Targets met in ${met} of ${judged} cells.`);
  const others = cells.map((c) => Math.max(0, c.figures.otherCpuPct));
  if (others.length > 0) {
    lines.push(`- Other processes used a median of ${fmt(median(others))} % of one core during the measured windows (max ${fmt(Math.max(...others))} %).`);
  }
  return lines;
}

const modeColor: Readonly<Record<Mode, string>> = { raft: '#1f77b4', parallel: '#d62728' };

/** p99 above the floor against the number of writers, one panel per (jitter, keys), one line per mode. */
export function parallelChart(r: ParallelReport): ChartSpec {
  const net = r.method.net;
  const conditions = new Map<string, { jitterMs: number; keyCount: number }>();
  for (const c of r.cells) conditions.set(`${c.jitterMs}|${c.keyCount}`, { jitterMs: c.jitterMs, keyCount: c.keyCount });
  const panels: ChartPanel[] = [...conditions.values()].map(({ jitterMs, keyCount }) => ({
    title: `${net === null ? `${jitterMs} ms jitter, ` : ''}${keysText(keyCount)}`,
    series: r.method.modes.map((mode) => ({
      name: mode, color: modeColor[mode], dashed: mode === 'raft', marker: mode === 'raft' ? 'square' as const : 'circle' as const,
      points: r.cells.filter((c) => c.mode === mode && c.jitterMs === jitterMs && c.keyCount === keyCount)
        .sort((a, b) => a.writers - b.writers)
        .map((c) => ({ x: c.writers, y: c.figures.p99AboveFloorMs, label: `${n2(c.figures.p99AboveFloorMs, 1)} ms` })),
    })),
  }));
  return {
    title: `p99 write latency above the floor: raft and parallel mode${net !== null ? ` on ${net.profile}` : ''}`,
    subtitle: `median of ${r.method.runs} run(s) per point; lower is better; target: parallel ≤ ${p99RatioGoal}× raft under jitter`,
    xLabel: 'closed-loop writers', yLabel: 'p99 above floor (ms)', panels, columns: Math.min(3, panels.length),
  };
}

export function parallelMarkdown(r: ParallelReport): string {
  const mc = r.machine;
  const net = r.method.net;
  const shape = shapeOf(r.method);
  const comparisons = compare(r.cells);
  const names = docNames(net?.profile ?? null);
  const command = `npm run bench:parallel${net !== null ? ` -- --net ${net.profile}` : ''}`;
  const out = [
    `# Benchmark: does ParallelRaft pay${net !== null ? ` on ${net.profile}` : ''}?`,
    '',
    `Generated by \`${command}\` on ${mc.date.slice(0, 16).replace('T', ' ')} UTC in ${fmt(r.durationS / 60, 1)} minutes. ` +
    'Do not edit: run it again. The protocol is in [parallel-raft.md](parallel-raft.md). ' +
    (net === null
      ? 'Over emulated WAN links: `npm run bench:parallel -- --net wan3` (and `lossy`, `lan`) writes `parallel-bench-wan3.md` and so on.'
      : `Without the emulator (one jittered follower on loopback): [parallel-bench.md](parallel-bench.md).`),
    '',
    ...machineSection(mc),
    '',
    '## Method',
    '',
    ...methodLines(r.method),
    '',
    '## Throughput and latency',
    '',
    resultsTable(r.cells, shape),
    '',
    `![p99 above the floor per cell](${names.chart})`,
    '',
    '## Parallel against raft',
    '',
    ratiosTable(comparisons, shape),
    '',
    '## Out of order: what each mode did (per measured window, summed over peers)',
    '',
    countersTable(r.cells, shape),
    '',
    '## What the figures say',
    '',
    ...findings(r.cells, comparisons, net),
  ];
  return `${out.join('\n')}\n`;
}
