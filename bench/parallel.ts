// `npm run bench:parallel`: does ParallelRaft pay? (issues 8 and 17). A raft-mode and a
// parallel-mode 3-peer cluster on 127.0.0.1 (fsync on, several connections per peer pair). With
// --net PROFILE every peer and client link runs through the WAN emulator (bench/lib/net/: latency
// by region, jitter on every link, loss, bandwidth), leadership is kept on member 1, and 16 and
// 256 independent writers (each its own SDK client) sit in the profile's client regions; without
// it, one follower's links are jittered (0, 0.5, 2 ms) through a relay on loopback. Low- and
// high-conflict keys; runs interleaved between the modes. Prints the tables and writes
// docs/parallel-bench.md (--net: docs/parallel-bench-PROFILE.md) and its chart (.svg): writes/s,
// p50/p99/p99.9, p99 above the floor, the out-of-order counters from /metrics, the
// parallel/raft ratios and issue 17's targets met or missed.
//   npm run bench:parallel [-- --json] [--quick] [--net lan|wan3|wan5|lossy] [--modes raft,parallel]
//     [--jitter 0,0.5,2 (no --net)] [--keys 100000,8] [--writers 16,256 (no --net: 256)] [--clients 64 (no --net)]
//     [--procs 2] [--connections 4] [--relays 1] [--runs 3] [--seconds 5] [--warmup 1] [--seed 17]
//     [--sync fdatasync|none] [--no-docs] [--quiet-budget S] [--profile DIR]
//   --net: every writer is its own client; --procs generators are spread over the client regions (at least one each).
//   --relays N: relay processes of the emulator (1-4).
//   --profile DIR: V8 CPU profiles of every peer, summarized per mode over its measured windows.
//   --quick: one short run per cell, fewer keys, no docs (a smoke test).

import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { SeededPrng } from '../src/core/prng.ts';
import { mintToken } from '../src/transport/token.ts';
import { chartSvg } from './lib/chart-svg.ts';
import { profileReport, type WindowUs } from './lib/cpuprofile.ts';
import { Histogram } from './lib/histogram.ts';
import { machineInfo } from './lib/machine-info.ts';
import { share } from './lib/measure.ts';
import { NetEmulator, type NetStats } from './lib/net/emulator.ts';
import { extraDelayMs, oneWayMs, parseNet, quorumRttMs, suggestedPeerArgs, type NetProfile } from './lib/net/profiles.ts';
import { ModeCluster, modeRefusal, type ConsensusMode, type Links } from './lib/parallel-cluster.ts';
import { docNames, parallelChart, parallelMarkdown, type LinkSummary, type Method, type NetMethod, type RealizedJitter } from './lib/parallel-doc.ts';
import { JitterProxy } from './lib/parallel-jitter.ts';
import { WriteLoad, type RawRun, type WriteGroup } from './lib/parallel-load.ts';
import {
  aboveFloorQuantileMs, compare, floorMs, metricsJson, n2, snapshotsInWindow, summarizeCell, sumQuantileMs, windowCounters, type Cell, type Run,
} from './lib/parallel-report.ts';
import { startBenchRun } from './lib/bench-run.ts';
import { cpuMs, settleDisk, sleep } from './lib/procs.ts';
import { fmt, machineLine, median } from './machine.ts';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const cliPath = join(repo, 'dist/node/cli.js');
const loadScript = join(repo, 'bench/cluster-load.ts');
const proxyScript = join(repo, 'bench/lib/parallel-proxy.ts');
const valueBytes = 256;
const members = 3;
/** No --net: the follower whose connections are jittered, the last member (leadership is kept off it). */
const jittered = members - 1;
/** --net: the member leadership is kept on (wan3: us-east, whose nearest quorum is us-central). */
const homeLeader = 0;
const allModes: readonly ConsensusMode[] = ['raft', 'parallel'];
/** Jittered hops of one write: client to leader, leader to its nearest follower and back, leader to client. */
const writeHops = 4;
/** Writes after the prefill that take it past the snapshot point it ends near (see startClusters). */
const prefillPad = 2_000;

// ---- options --------------------------------------------------------------------------------

const { values: flags } = parseArgs({
  options: {
    json: { type: 'boolean' }, quick: { type: 'boolean' }, net: { type: 'string' }, modes: { type: 'string' }, jitter: { type: 'string' },
    keys: { type: 'string' }, writers: { type: 'string' }, clients: { type: 'string' }, procs: { type: 'string' }, connections: { type: 'string' },
    relays: { type: 'string' }, runs: { type: 'string' }, seconds: { type: 'string' }, warmup: { type: 'string' }, seed: { type: 'string' },
    sync: { type: 'string' }, 'no-docs': { type: 'boolean' }, 'quiet-budget': { type: 'string' }, profile: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (flags.help === true) {
  const lines = readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n');
  process.stdout.write(`${lines.slice(0, lines.findIndex((l) => !l.startsWith('//'))).join('\n')}\n`);
  process.exit(0);
}

function usage(message: string): never {
  process.stderr.write(`bench/parallel: ${message}\n`);
  process.exit(2);
}

function num(name: string, text: string | undefined, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n) || n < min || n > max) usage(`--${name} must be a number in [${min}, ${max}] (got '${text}')`);
  return n;
}

function list(name: string, text: string | undefined, fallback: readonly number[], min: number, max: number, integers: boolean): number[] {
  if (text === undefined) return [...fallback];
  const xs = text.split(',').map((t) => Number(t));
  if (text.trim() === '' || xs.some((v) => !Number.isFinite(v) || v < min || v > max || (integers && !Number.isInteger(v)))) {
    usage(`--${name} must be a comma-separated list of ${integers ? 'integers' : 'numbers'} in [${min}, ${max}] (got '${text}')`);
  }
  return [...new Set(xs)];
}

function netFlag(text: string | undefined): NetProfile | null {
  try {
    return parseNet(text);
  } catch (err) {
    return usage(`--net: ${(err as Error).message}`);
  }
}

const quick = flags.quick === true;
const net = netFlag(flags.net);
if (net !== null && flags.jitter !== undefined) usage(`--jitter is for runs without --net (the profile '${net.name}' sets the jitter: ${net.jitterMs} ms on every link)`);
if (net !== null && flags.clients !== undefined) usage('--clients is for runs without --net (with --net every writer is its own SDK client)');
if (net === null && flags.relays !== undefined) usage('--relays is for runs with --net (the emulator\'s relay processes)');
const opts = {
  json: flags.json === true,
  modes: [...new Set((flags.modes ?? allModes.join(',')).split(','))] as ConsensusMode[],
  jitterMs: net !== null ? [net.jitterMs] : list('jitter', flags.jitter, [0, 0.5, 2], 0, 100, false),
  keys: list('keys', flags.keys, quick ? [10_000, 8] : [100_000, 8], 1, 10_000_000, true),
  writers: list('writers', flags.writers, net !== null ? [16, 256] : [256], 1, 4096, true).sort((a, b) => a - b),
  /** Without --net: SDK clients shared by the writers; with it, one per writer. */
  clients: net !== null ? null : Math.round(num('clients', flags.clients, 64, 1, 4096)),
  procs: Math.round(num('procs', flags.procs, 2, 1, 16)),
  connections: Math.round(num('connections', flags.connections, 4, 1, 16)),
  relays: Math.round(num('relays', flags.relays, 1, 1, 4)),
  runs: Math.round(num('runs', flags.runs, quick ? 1 : 3, 1, 99)),
  seconds: num('seconds', flags.seconds, quick ? 2 : 5, 0.5, 600),
  warmupS: num('warmup', flags.warmup, quick ? 0.5 : 1, 0, 600),
  seed: Math.round(num('seed', flags.seed, 17, 0, 2 ** 31)),
  sync: flags.sync ?? 'fdatasync',
  docs: flags['no-docs'] !== true && !quick,
  quietBudgetS: num('quiet-budget', flags['quiet-budget'], quick ? 10 : 180, 0, 3600),
  profileDir: flags.profile !== undefined ? resolve(flags.profile) : null,
};
for (const m of opts.modes) if (!allModes.includes(m)) usage(`--modes must list some of ${allModes.join(', ')} (got '${m}')`);
if (opts.sync !== 'fdatasync' && opts.sync !== 'none') usage(`--sync must be fdatasync or none (got '${opts.sync}')`);
if (!existsSync(cliPath)) usage(`${cliPath} is missing: run \`node build.mjs\` (npm run bench:parallel does)`);

/** Generator processes per client region (--net): --procs spread over the regions, at least one each. */
const procsPerRegion = net !== null ? Math.max(1, Math.ceil(opts.procs / net.clientRegions.length)) : opts.procs;

// ---- lifecycle ------------------------------------------------------------------------------

const { startedMs, group, dir, progress, elapsed } = startBenchRun('parallel');

// ---- measuring ------------------------------------------------------------------------------

async function usableModes(secretFile: string): Promise<{ modes: ConsensusMode[]; skipped: Partial<Record<ConsensusMode, string>> }> {
  const modes: ConsensusMode[] = [];
  const skipped: Partial<Record<ConsensusMode, string>> = {};
  for (const m of opts.modes) {
    const refusal = await modeRefusal(cliPath, m, join(dir, `probe-${m}`), secretFile);
    if (refusal === null) modes.push(m);
    else {
      skipped[m] = refusal;
      progress(`${m} mode will not be measured: a lone ${m} peer did not start: ${refusal}`);
    }
  }
  if (modes.length === 0) throw new Error('no mode asked for can start a peer here');
  return { modes, skipped };
}

/** Region names in floor order: the profile's client regions, or 'loopback'. */
const regionName = (region: number): string => (net !== null ? net.regions[region] ?? `region ${region}` : 'loopback');

/** Each group's floor for this run: its round trip to the leader, the leader's to its nearest quorum, and the leader's median fsync. */
function floorsOf(r: RawRun): Map<number, number> {
  const out = new Map<number, number>();
  for (const g of r.groups) {
    if (net === null || r.leaderIndex < 0) out.set(g.region, floorMs(0, 0, r.fsyncMs));
    else {
      const leaderRegion = net.memberRegion(r.leaderIndex, members);
      out.set(g.region, floorMs(2 * oneWayMs(net, g.region, leaderRegion), quorumRttMs(net, members, r.leaderIndex), r.fsyncMs));
    }
  }
  return out;
}

function toRun(r: RawRun): Run {
  const floors = floorsOf(r);
  const groups = r.groups.map((g) => ({ histogram: g.histogram, floorMs: floors.get(g.region) ?? 0 }));
  return {
    writesPerS: r.writesPerS, p50Ms: r.p50Ms, p99Ms: r.p99Ms, p999Ms: r.p999Ms,
    p50AboveFloorMs: aboveFloorQuantileMs(groups, 0.5), p99AboveFloorMs: aboveFloorQuantileMs(groups, 0.99), p999AboveFloorMs: aboveFloorQuantileMs(groups, 0.999),
    floorsMs: Object.fromEntries([...floors].sort((a, b) => a[0] - b[0]).map(([region, v]) => [regionName(region), v])), fsyncMs: r.fsyncMs,
    writes: r.writes, errors: r.errors, counters: windowCounters(r.metricsBefore, r.metricsAfter), snapshots: snapshotsInWindow(r.metricsBefore, r.metricsAfter),
    otherCpuPct: r.otherCpuPct, leaderCpuPct: r.leaderCpuPct, leaderChanged: r.leaderChanged,
  };
}

function runLine(c: ModeCluster, j: number, keyCount: number, writers: number, run: number, r: Run): string {
  const k = r.counters;
  return `${c.mode}, ${net !== null ? net.name : `jitter ${j} ms`}, ${fmt(keyCount)} keys, ${writers} writers, run ${run}: ${fmt(r.writesPerS)} writes/s, ` +
    `p50 ${n2(r.p50Ms)} p99 ${n2(r.p99Ms)} p99.9 ${n2(r.p999Ms)} ms, p99 above floor ${n2(r.p99AboveFloorMs, 1)} ms (fsync ${n2(r.fsyncMs)} ms); ` +
    `held ${k.reorderHeld}, past a hole ${k.lookBehind}, commit ooo ${k.committedOutOfOrder}, apply ooo ${k.appliedOutOfOrder}, conflict ${k.applyHeldByConflict}; ` +
    `other CPU ${fmt(Math.max(0, r.otherCpuPct))}%${r.errors > 0 ? `; ${r.errors} errors` : ''}${r.snapshots > 0 ? `; ${r.snapshots} peer(s) took a snapshot` : ''}` +
    `${r.leaderChanged ? '; LEADER CHANGED' : ''}`;
}

/** The generators of one run: with --net, `procsPerRegion` per client region, each writer its own client; else `procs` on loopback. */
function writeGroups(writers: number): WriteGroup[] {
  if (net === null) {
    const procs = Math.min(opts.procs, writers);
    return Array.from({ length: procs }, (_, gi) => ({ region: 0, writers: share(writers, procs, gi), clients: share(opts.clients ?? writers, procs, gi) }));
  }
  const regions = net.clientRegions.flatMap((r) => Array.from({ length: procsPerRegion }, () => r));
  return regions.map((region, gi) => {
    const w = share(writers, regions.length, gi);
    return { region, writers: w, clients: w };
  });
}

async function startClusters(modes: readonly ConsensusMode[], links: (mode: ConsensusMode) => Links, secretFile: string): Promise<ModeCluster[]> {
  const secret = readFileSync(secretFile, 'utf8');
  const expMs = Date.now() + 24 * 3600_000;
  const token = await mintToken(secret, { role: 'client', sub: 'bench', cluster: 'edgeraft', expMs });
  const adminToken = await mintToken(secret, { role: 'admin', sub: 'bench', cluster: 'edgeraft', expMs });
  const clusters: ModeCluster[] = [];
  for (const mode of modes) {
    const c = new ModeCluster({
      mode, members, cliPath, dir: join(dir, mode), secretFile, token, adminToken, connections: opts.connections, sync: opts.sync, links: links(mode),
      profileDir: opts.profileDir !== null ? join(opts.profileDir, mode) : null,
    }, group);
    await c.start();
    clusters.push(c);
    progress(`[${elapsed()}] ${mode}: leader ${c.leaderId}, ${c.jitteredId !== null ? `jittered follower ${c.jitteredId}` : `over ${net?.name ?? '?'}`}`);
  }
  // Both at once: over WAN links a prefill waits on round trips more than on the cores.
  const prefill = Math.max(...opts.keys);
  progress(`[${elapsed()}] writing the ${fmt(prefill)} keys the loads overwrite into ${clusters.length === 1 ? 'the cluster' : 'both clusters'}...`);
  // Then overwrite the first keys again: 100,000 keys end just short of the second snapshot point
  // (every 50,000 applied entries by default, counted from where the first one landed, a batch
  // past 50,000), which the first measured run would cross; these writes cross it instead.
  await Promise.all(clusters.map(async (c) => {
    await c.prefill(prefill, valueBytes);
    await c.prefill(Math.min(prefill, prefillPad), valueBytes);
  }));
  // The snapshot serializes the state (CPU) and writes it (disk): neither belongs in the first run.
  const children = clusters.flatMap((c) => c.processes());
  await settleCpu(children);
  await settleDisk(children, group.crashed);
  return clusters;
}

/** Waits (at most `timeoutMs`) until `children` are about idle (a few % of a core each) for two half-seconds running. */
async function settleCpu(children: readonly ChildProcess[], timeoutMs = 30_000): Promise<void> {
  const used = () => children.reduce((s, c) => s + (c.pid !== undefined ? cpuMs(c.pid) ?? 0 : 0), 0);
  const deadline = Date.now() + timeoutMs;
  let quiet = 0;
  while (quiet < 2 && Date.now() < deadline) {
    const [u0, t0] = [used(), performance.now()];
    await Promise.race([sleep(500), group.crashed]);
    // Idle peers still tick and heartbeat: a few % of a core each.
    quiet = (used() - u0) / (performance.now() - t0) < 0.1 + 0.05 * children.length ? quiet + 1 : 0;
  }
}

function realized(stats: Awaited<ReturnType<JitterProxy['stats']>>): RealizedJitter {
  const h = new Histogram(stats.histogram);
  return { p50Ms: h.quantileMs(0.5), p99Ms: h.quantileMs(0.99), chunks: stats.chunks, connections: stats.connections };
}

/** One link direction over one mode's windows, as measured. */
interface LinkAcc {
  regions: string;
  oneWayMs: number;
  chunks: number;
  lost: number;
  readonly p50s: number[];
  readonly p99s: number[];
}

/** What the emulator did in the measured windows: links by mode (members named m1..mN), the relays' lag. */
class NetAccount {
  readonly links = new Map<ConsensusMode, Map<string, LinkAcc>>();
  readonly timerP50s: number[] = [];
  readonly timerP99s: number[] = [];
  readonly loopP99s: number[] = [];

  constructor(readonly emulator: NetEmulator) {}

  add(c: ModeCluster, s: NetStats): void {
    const p = this.emulator.profile;
    this.timerP50s.push(s.timerLagP50Ms);
    this.timerP99s.push(s.timerLagP99Ms);
    this.loopP99s.push(s.eventLoopLagP99Ms);
    const byMode = this.links.get(c.mode) ?? new Map<string, LinkAcc>();
    this.links.set(c.mode, byMode);
    for (const l of s.links) {
      if (l.chunks === 0) continue;
      const m = /^(.+?)(->|<-)(.+)$/.exec(l.name);
      if (m === null) continue;
      // A side is a member of this cluster (m<i>, its region) or a client region; links of the idle cluster are left out.
      const side = (token: string): { name: string; region: number; member: boolean } | null => {
        const i = c.peerIds.indexOf(token);
        if (i >= 0) return { name: `m${i + 1}`, region: this.emulator.regionOf(token), member: true };
        const r = p.regions.indexOf(token);
        return r >= 0 ? { name: token, region: r, member: false } : null;
      };
      const a = side(m[1]!);
      const b = side(m[3]!);
      if (a === null || b === null || !(a.member || b.member)) continue;
      const name = `${a.name}${m[2]}${b.name}`;
      const acc = byMode.get(name) ?? {
        regions: `${p.regions[a.region]}${m[2]}${p.regions[b.region]}`, oneWayMs: oneWayMs(p, a.region, b.region), chunks: 0, lost: 0, p50s: [], p99s: [],
      };
      acc.chunks += l.chunks;
      acc.lost += l.lost;
      acc.p50s.push(l.heldP50Ms);
      acc.p99s.push(l.heldP99Ms);
      byMode.set(name, acc);
    }
  }

  summary(): Pick<NetMethod, 'links' | 'timerLagP50Ms' | 'timerLagP99Ms' | 'eventLoopLagP99Ms'> {
    const fin = (xs: readonly number[]) => xs.filter((v) => Number.isFinite(v));
    const med = (xs: readonly number[]) => (fin(xs).length > 0 ? median(fin(xs)) : Number.NaN);
    const max = (xs: readonly number[]) => (fin(xs).length > 0 ? Math.max(...fin(xs)) : Number.NaN);
    const links: Partial<Record<ConsensusMode, LinkSummary[]>> = {};
    for (const [mode, byName] of this.links) {
      links[mode] = [...byName].map(([name, a]) => ({
        name, regions: a.regions, oneWayMs: a.oneWayMs, chunks: a.chunks, heldP50Ms: med(a.p50s), heldP99Ms: med(a.p99s), lost: a.lost,
      }));
    }
    return { links, timerLagP50Ms: med(this.timerP50s), timerLagP99Ms: max(this.timerP99s), eventLoopLagP99Ms: max(this.loopP99s) };
  }
}

interface Measured {
  readonly runs: Map<string, Run[]>;
  readonly jitter: Array<readonly [number, RealizedJitter]>;
  readonly windows: Map<ConsensusMode, WindowUs[]>;
}

const runKey = (mode: ConsensusMode, j: number, keyCount: number, writers: number) => `${mode}|${j}|${keyCount}|${writers}`;

/** Every cell's runs: jitter by jitter, key count by key count, writers by writers, the modes alternating run by run. */
async function measureAll(clusters: readonly ModeCluster[], proxy: JitterProxy | null, account: NetAccount | null, load: WriteLoad): Promise<Measured> {
  const m: Measured = { runs: new Map(), jitter: [], windows: new Map() };
  let done = 0;
  const total = opts.jitterMs.length * opts.keys.length * opts.writers.length * clusters.length * opts.runs;
  for (const [ji, j] of opts.jitterMs.entries()) {
    if (proxy !== null) {
      await proxy.setJitter(j, ji + 1);
      progress(`[${elapsed()}] jitter ${j} ms on every connection of ${clusters.map((c) => c.jitteredId).join(' and ')}`);
    }
    for (const keyCount of opts.keys) {
      for (const writers of opts.writers) {
        for (let run = 1; run <= opts.runs; run++) {
          // Raft first in odd runs, parallel first in even ones: neither always follows the other.
          for (const c of run % 2 === 1 ? clusters : [...clusters].reverse()) {
            if (await c.placeLeader()) progress(`  ${c.mode}: an election had moved the leader: moved it back to ${c.leaderId}`);
            const raw = await load.once(c, {
              groups: writeGroups(writers), keyCount, valueBytes, warmupMs: opts.warmupS * 1000, measureMs: opts.seconds * 1000, seed: opts.seed + run,
            }, account?.emulator ?? null);
            m.windows.set(c.mode, [...(m.windows.get(c.mode) ?? []), raw.windowUs]);
            if (raw.net !== null) account?.add(c, raw.net);
            const r = toRun(raw);
            const key = runKey(c.mode, j, keyCount, writers);
            m.runs.set(key, [...(m.runs.get(key) ?? []), r]);
            progress(`  [${++done}/${total} ${elapsed()}] ${runLine(c, j, keyCount, writers, run, r)}`);
          }
        }
      }
    }
    if (proxy !== null) {
      const seen = realized(await proxy.stats());
      m.jitter.push([j, seen]);
      progress(`  the proxy held ${fmt(seen.chunks)} chunks: p50 ${fmt(seen.p50Ms, 2)} ms, p99 ${fmt(seen.p99Ms, 2)} ms`);
    }
  }
  return m;
}

function netMethod(emulator: NetEmulator, account: NetAccount): NetMethod {
  const p = emulator.profile;
  const leaderRegion = p.memberRegion(homeLeader, members);
  const quorum = quorumRttMs(p, members, homeLeader);
  const prng = new SeededPrng(opts.seed);
  return {
    profile: p.name, description: p.description, loss: p.loss, rtoMs: p.rtoMs, peerArgs: suggestedPeerArgs(p),
    jitterAloneP99Ms: sumQuantileMs(() => extraDelayMs(prng, p.jitter, p.jitterMs), writeHops, 0.99),
    memberRegions: Array.from({ length: members }, (_, i) => `m${i + 1} ${p.regions[p.memberRegion(i, members)]}`),
    leader: `m${homeLeader + 1} (${p.regions[leaderRegion]})`,
    networkFloorMs: Object.fromEntries(p.clientRegions.map((r) => [p.regions[r]!, 2 * oneWayMs(p, r, leaderRegion) + quorum])),
    quorumRttMs: quorum, relayProcesses: opts.relays, generatorsPerRegion: procsPerRegion, ...account.summary(),
  };
}

/** The tables (stdout, docs/), the chart, the CPU profiles if asked for, and the --json line last. */
function report(modes: readonly ConsensusMode[], skipped: Method['skipped'], m: Measured, leaders: string[], roles: ReadonlyMap<string, string>, netInfo: NetMethod | null): void {
  const cells: Cell[] = [];
  for (const j of opts.jitterMs) for (const keyCount of opts.keys) for (const writers of opts.writers) for (const mode of modes) {
    const runs = m.runs.get(runKey(mode, j, keyCount, writers)) ?? [];
    if (runs.length > 0) cells.push(summarizeCell({ mode, jitterMs: j, keyCount, writers }, runs));
  }
  const method: Method = {
    modes, skipped, net: netInfo, jitter: m.jitter, connections: opts.connections, writers: opts.writers, clients: opts.clients, procs: opts.procs,
    valueBytes, sync: opts.sync, warmupS: opts.warmupS, seconds: opts.seconds, runs: opts.runs, leaders,
  };
  const r = { machine: machineInfo(repo), method, cells, durationS: (Date.now() - startedMs) / 1000 };
  const text = parallelMarkdown(r);
  process.stdout.write(text);
  if (opts.profileDir !== null) {
    for (const mode of modes) {
      process.stdout.write(profileReport(join(opts.profileDir, mode), m.windows.get(mode) ?? [], (name) => `${mode} ${roles.get(name) ?? '?'}`));
    }
  }
  if (opts.docs) {
    const names = docNames(net?.name ?? null);
    writeFileSync(join(repo, 'docs', names.markdown), text);
    writeFileSync(join(repo, 'docs', names.chart), chartSvg(parallelChart(r)));
    progress(`wrote docs/${names.markdown} and docs/${names.chart}`);
  }
  if (opts.json) {
    const mc = r.machine;
    process.stdout.write(`${JSON.stringify({
      machine: `${mc.cpuModel} × ${mc.cores} cores, ${mc.memGiB} GiB`, node: mc.node, edgeraft_commit: mc.commit, net: net?.name ?? null, modes: modes.join(','),
      connections: opts.connections, writers: opts.writers.join(','), clients: opts.clients ?? 'one per writer', runs: opts.runs, seconds: opts.seconds,
      warmup_s: opts.warmupS, sync: opts.sync, duration_s: Math.round(r.durationS), ...metricsJson(cells, compare(cells)),
    })}\n`);
  }
}

async function main(): Promise<void> {
  progress(machineLine());
  if (opts.profileDir !== null) {
    // Old profiles of the same peers would be summarized with the new ones.
    for (const mode of allModes) rmSync(join(opts.profileDir, mode), { recursive: true, force: true });
    mkdirSync(opts.profileDir, { recursive: true });
  }
  const secretFile = join(dir, 'secret');
  writeFileSync(secretFile, randomBytes(24).toString('base64url'), { mode: 0o600 });
  const { modes, skipped } = await usableModes(secretFile);
  const cellCount = opts.jitterMs.length * opts.keys.length * opts.writers.length * modes.length;
  // Over the emulator each run also connects its writers' clients (round trips each) before the window: ~10 s for 256.
  const runsS = opts.writers.reduce((s, w) => s + opts.warmupS + opts.seconds + (net !== null ? 2 + w / 30 : 2.5), 0) *
    (cellCount / opts.writers.length) * opts.runs;
  progress(`modes ${modes.join(', ')}; ${net !== null ? `net ${net.name}` : `jitter ${opts.jitterMs.join(', ')} ms`}; keys ${opts.keys.join(', ')}; ` +
    `writers ${opts.writers.join(', ')}; ${cellCount} cells × ${opts.runs} runs of ${opts.warmupS} + ${opts.seconds} s: about ` +
    `${fmt(runsS / 60, 1)} minutes after start-up`);
  let proxy: JitterProxy | null = null;
  let emulator: NetEmulator | null = null;
  if (net !== null) {
    emulator = await NetEmulator.start(net, group, opts.seed, { processes: opts.relays });
    progress(`[${elapsed()}] net ${net.name}: ${net.description}; ${opts.relays} relay process(es)`);
  } else {
    proxy = new JitterProxy(proxyScript, group);
    await proxy.ready();
  }
  const links = (): Links => (emulator !== null ? { kind: 'net', net: emulator, leader: homeLeader } : { kind: 'jitter', proxy: proxy!, jittered });
  const clusters = await startClusters(modes, links, secretFile);
  const account = emulator !== null ? new NetAccount(emulator) : null;
  const load = new WriteLoad(loadScript, group, progress, opts.quietBudgetS);
  const measured = await measureAll(clusters, proxy, account, load);
  const leaders = clusters.map((c) => `${c.mode}: ${c.leaderId}${c.jitteredId !== null ? ` (jittered follower ${c.jitteredId})` : ''}`);
  const roles = new Map(clusters.flatMap((c) => c.peerIds.map((id) => [id, c.role(id)] as const)));
  const netInfo = emulator !== null && account !== null ? netMethod(emulator, account) : null;
  progress(`[${elapsed()}] stopping...`);
  group.expectExits();
  await load.stop();
  await Promise.all(clusters.map((c) => c.stop()));
  await proxy?.stop();
  await emulator?.stop();
  await group.stopAll(10_000);
  report(modes, skipped, measured, leaders, roles, netInfo);
}

main().then(() => process.exit(0), (err: Error) => {
  progress(`bench/parallel: ${err.stack ?? err.message}`);
  process.exit(1);
});
