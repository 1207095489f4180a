// docs/parallel-bench.md from one `npm run bench:parallel` (stdout gets the same text): the
// machine, the method, the three tables, the goal met or missed, and what the counters say,
// in sentences built from the figures so that a rerun never leaves stale prose behind.

import { defaults } from '../../src/core/config.ts';
import { fmt, median } from '../machine.ts';
import type { MachineInfo } from './machine-info.ts';
import {
  compare, countersTable, equalTolerance, p99RatioGoal, ratiosTable, resultsTable, type Cell, type Comparison, type Mode,
} from './parallel-report.ts';

/** What the proxy really did at one jitter setting (over all its chunks, both modes). */
export interface RealizedJitter {
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly chunks: number;
  readonly connections: number;
}

export interface Method {
  readonly modes: readonly Mode[];
  /** Why a mode asked for was not measured, by mode. */
  readonly skipped: Readonly<Partial<Record<Mode, string>>>;
  /** By jitter setting, in the order measured. */
  readonly jitter: ReadonlyArray<readonly [number, RealizedJitter]>;
  readonly connections: number;
  readonly writers: number;
  readonly clients: number;
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

function methodLines(m: Method): string[] {
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
    '(moved away with transfer-leader when an election puts it there), so it is always the leader\'s link to one follower that is jittered.',
    `- **Load**: ${m.writers} concurrent writers in ${m.procs} forked generator processes (\`bench/cluster-load.ts\`, as \`npm run bench\`), ` +
    `${m.clients} SDK clients (${m.clients} client sessions) shared among them, ${m.valueBytes}-byte values, puts to keys picked by a seeded PRNG ` +
    'among N keys all written beforehand. Latency is what the client observes for each put (commit, apply and the client round trip), not the ' +
    'leader\'s internal commit time.',
    `- **Runs**: ${m.warmupS} s warm-up, then ${m.seconds} s measured; median of ${m.runs} run(s) per cell; the runs alternate between the modes ` +
    '(raft first in odd runs, parallel first in even ones), so a slow spell of the shared machine falls on both. Percentiles from one merged histogram per run (1 % buckets).',
    '- **Counters**: every peer\'s /metrics scraped as the measured window opens and closes, increases summed over the 3 peers, median over runs. ' +
    '"reorder held" counts AppendEntries messages that arrived ahead of a gap (both modes: in parallel mode, those beyond the look-behind window); ' +
    '"look-behind" counts entries a parallel follower acknowledged past a hole; the other parallel counters count entries. entries/sync and ms/sync: ' +
    'all peers\' persist batches.',
    `- **Goal** (issue 8): with jitter, parallel p99 ≤ ${p99RatioGoal}× raft p99 with writes/s within ±${equalTolerance * 100} %; without jitter, no loss ` +
    `(writes/s ≥ ${1 - equalTolerance}× and p99 ≤ ${1 + equalTolerance}× raft; the tolerance is this shared machine's run-to-run noise).`,
    `- **Leaders** (at the end): ${m.leaders.join('; ')}.`,
    ...Object.entries(m.skipped).map(([mode, why]) => `- **${mode} mode was not measured**: ${why}`),
  ];
}

function per1k(v: number, writes: number): string {
  return writes > 0 && Number.isFinite(v) ? fmt((v * 1000) / writes, 1) : '–';
}

/** Sentences on what the counters and ratios show, built from the figures. */
export function findings(cells: readonly Cell[], comparisons: readonly Comparison[]): string[] {
  const lines: string[] = [];
  for (const c of comparisons) {
    if (c.raft === null || c.parallel === null) continue;
    const r = c.raft.figures;
    const p = c.parallel.figures;
    lines.push(
      `- ${c.jitterMs} ms jitter, ${fmt(c.keyCount)} keys: parallel ${fmt(p.writesPerS)} writes/s, p99 ${fmt(p.p99Ms, 1)} ms against raft ` +
      `${fmt(r.writesPerS)} writes/s, p99 ${fmt(r.p99Ms, 1)} ms (goal ${c.status}). Per 1,000 writes: raft held ${per1k(r.counters.reorderHeld, r.writes)} ` +
      `messages in its reorder buffer; parallel held ${per1k(p.counters.reorderHeld, p.writes)}, acknowledged ${per1k(p.counters.lookBehind, p.writes)} ` +
      `entries past a hole, committed ${per1k(p.counters.committedOutOfOrder, p.writes)} and applied ${per1k(p.counters.appliedOutOfOrder, p.writes)} ` +
      `out of order, and held ${per1k(p.counters.applyHeldByConflict, p.writes)} back on a key conflict.`,
    );
  }
  if (lines.length === 0) lines.push('- Only one mode was measured: no comparison.');
  const par = cells.filter((c) => c.mode === 'parallel');
  if (par.length > 0 && par.every((c) => c.figures.counters.lookBehind === 0)) {
    const batch = median(par.map((c) => (c.figures.counters.syncs > 0 ? c.figures.counters.syncedEntries / c.figures.counters.syncs : 0)));
    lines.push(
      '- No parallel follower acknowledged a single entry past a hole in any cell, so nothing could commit or apply out of order. An ' +
      `AppendEntries carries a turn's worth of entries (persist batches held a median of ${fmt(batch, 1)} entries here), so a message that ` +
      'overtakes another starts that many entries past the hole: beyond the look-behind window, which admits only entries within ' +
      `lookBehindEntries + 1 of the verified prefix (default ${defaults.lookBehindEntries}). Such messages wait in the reorder buffer, as in raft mode.`,
    );
  }
  const others = cells.map((c) => Math.max(0, c.figures.otherCpuPct));
  if (others.length > 0) {
    lines.push(`- Other processes used a median of ${fmt(median(others))} % of one core during the measured windows (max ${fmt(Math.max(...others))} %).`);
  }
  return lines;
}

export function parallelMarkdown(r: ParallelReport): string {
  const mc = r.machine;
  const comparisons = compare(r.cells);
  const out = [
    '# Benchmark: does ParallelRaft pay?',
    '',
    `Generated by \`npm run bench:parallel\` on ${mc.date.slice(0, 16).replace('T', ' ')} UTC in ${fmt(r.durationS / 60, 1)} minutes. ` +
    'Do not edit: run it again. The protocol is in [parallel-raft.md](parallel-raft.md).',
    '',
    '## Machine',
    '',
    `- CPU: ${mc.cpuModel}, ${mc.cores} cores; RAM ${mc.memGiB} GiB; Linux ${mc.kernel}`,
    `- Node ${mc.node}; edgeraft ${mc.commit}`,
    '',
    '## Method',
    '',
    ...methodLines(r.method),
    '',
    '## Throughput and latency',
    '',
    resultsTable(r.cells),
    '',
    '## Parallel against raft',
    '',
    ratiosTable(comparisons),
    '',
    '## Out of order: what each mode did (per measured window, summed over peers)',
    '',
    countersTable(r.cells),
    '',
    '## What the figures say',
    '',
    ...findings(r.cells, comparisons),
  ];
  return `${out.join('\n')}\n`;
}
