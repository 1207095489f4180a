// `npm run bench:wan`: raft mode measured at WAN latencies (issue 17). Three raft-mode peers from
// the built CLI (fsync on) whose every link, and every client's, runs through the WAN emulator's
// relays (bench/lib/net/: --net wan3 by default), beside the same cluster on `lan` through the same
// relays (the baseline); clients sit in every client region of the profile, each region its own
// load process, every client its own SDK client and session. Measures:
//   writes     1, 16 and 256 clients per region, and a high offered load (clients x loops in flight
//              per region): writes/s, p50/p99 per region against the floor (RTT to the leader +
//              the leader's RTT to its nearest quorum + one fsync), the inflight window against the
//              bandwidth-delay product (the leader's /metrics sampled through each window)
//   reads      per consistency mode (readindex, lease at the leader; follower, stale at the nearest member)
//   tabs       browser tabs (headless Chromium) as follower-readers served by the nearest follower
//   failover   SIGKILL and SIGSTOP of the leader: time to a new leader, and to the first write
//              acknowledged in each region, with the default timeouts and with derived ones
// Every cell is the median of --runs interleaved runs (the profile and the baseline alternate)
// with the spread printed. Writes docs/wan-bench.md and docs/wan-latency.svg (not with --quick).
//   npm run bench:wan [-- --quick] [--json] [--net wan3] [--baseline lan|none] [--runs 3] [--seconds 3]
//     [--warmup 1] [--clients 1,16,256] [--high 64x32] [--readers 16] [--modes readindex,lease,follower,stale]
//     [--tabs 1] [--failover-runs 3] [--signals kill,stop] [--timeouts default,derived]
//     [--only writes,reads,tabs,failover] [--relays 1] [--sync fdatasync|none] [--no-docs] [--quiet-budget S] [--seed N]
//     [--peer-args="--read-rounds 8"] [--doc wan-bench]
//   --peer-args: extra flags of the measured peers (both clusters); --doc: docs/<doc>.md and .svg.
//   --quick: one short run per cell, fewer clients in flight, no docs (a smoke test).
// Progress goes to stderr; `--json` prints one JSON object as the last line of stdout.

import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaults as raftDefaults } from '../src/core/config.ts';
import { meshDefaults } from '../src/transport/mesh-options.ts';
import { mintToken } from '../src/transport/token.ts';
import { chartSvg } from './lib/chart-svg.ts';
import { machineInfo } from './lib/machine-info.ts';
import { NetEmulator } from './lib/net/emulator.ts';
import { parseNet, suggestedPeerArgs, type NetProfile } from './lib/net/profiles.ts';
import { startBenchRun } from './lib/bench-run.ts';
import { rawSyncP50 } from './lib/raw-sync.ts';
import { WanCluster } from './lib/wan-cluster.ts';
import { measureFailover, probeAttemptTimeoutMs } from './lib/wan-failover.ts';
import { WanLoad, type CellLoad, type Prepared } from './lib/wan-load.ts';
import { parseWanFlags, UsageError, type TimeoutSet, type WanOptions } from './lib/wan-options.ts';
import {
  nearestMember, preferredLeader, wanChart, wanJson, wanMarkdown, type CellResult, type CellSpec, type FailoverResult,
  type FailoverRun, type LoadRun, type NetFigures, type TabsResult, type WanReport,
} from './lib/wan-report.ts';
import { measureTabs } from './lib/wan-tabs.ts';
import { fmt, machineLine } from './machine.ts';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const cliPath = join(repo, 'dist/node/cli.js');
const loadScript = join(repo, 'bench/cluster-load.ts');
const valueBytes = 256;
const keyCount = 1000;
/** A WAL entry record's bytes besides its payload, and a put's command framing: the fsync probe's write. */
const fsyncBytes = valueBytes + 26 + 40;
/** Pending handshakes a member accepts (mesh handshakesMax); clients connect below it. */
const handshakesMax = meshDefaults.handshakesMax;
/** The SDK's requests in flight per client (ConnectOptions.inflightMax default). */
const sdkInflightMax = 4096;

// ---- options --------------------------------------------------------------------------------

function usage(message: string): never {
  process.stderr.write(`bench/wan: ${message} (--help lists the flags)\n`);
  process.exit(2);
}

const argv = process.argv.slice(2);
let opts: WanOptions;
try {
  opts = parseWanFlags(argv);
} catch (err) {
  if (err instanceof UsageError) usage(err.message);
  throw err;
}
if (opts.help) {
  const lines = readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n');
  process.stdout.write(`${lines.slice(0, lines.findIndex((l) => !l.startsWith('//'))).join('\n')}\n`);
  process.exit(0);
}
const relays = opts.relays;
let profile: NetProfile;
let baseline: NetProfile | null;
try {
  profile = parseNet(opts.net)!;
  baseline = opts.baseline === null ? null : parseNet(opts.baseline);
} catch (err) {
  usage((err as Error).message);
}
if (baseline !== null && profile.clientRegions.length % baseline.clientRegions.length !== 0) {
  usage(`--baseline ${baseline.name} has ${baseline.clientRegions.length} client regions, which do not divide --net ${profile.name}'s ${profile.clientRegions.length} (its clients are spread over them)`);
}
if (!existsSync(cliPath)) usage(`${cliPath} is missing: run \`node build.mjs\` (npm run bench:wan does)`);

// ---- lifecycle ------------------------------------------------------------------------------

const { startedMs, group, dir, progress, elapsed } = startBenchRun('wan');

// ---- cells ----------------------------------------------------------------------------------

interface Side {
  readonly profile: NetProfile;
  /** The member index leadership is kept on (preferredLeader of the side's profile). */
  readonly leader: number;
  readonly cluster: WanCluster;
  readonly emulator: NetEmulator;
  /** Scale of clients per region against the measured profile: the baseline's regions carry all of its clients. */
  readonly scale: number;
  readonly gensPerRegion: number;
}

function writeSpecs(): CellSpec[] {
  return [
    ...opts.clients.map((c): CellSpec => ({ key: `writes_${c}`, op: 'write', mode: null, clientsPerRegion: c, loopsPerClient: 1 })),
    { key: 'writes_high', op: 'write', mode: null, clientsPerRegion: opts.highClients, loopsPerClient: opts.highLoops },
  ];
}

function readSpecs(): CellSpec[] {
  return opts.modes.map((m): CellSpec => ({ key: `reads_${m}`, op: 'read', mode: m, clientsPerRegion: opts.readers, loopsPerClient: 1 }));
}

function connectConcurrency(totalGens: number): number {
  return Math.max(1, Math.floor((handshakesMax - 1) / Math.max(1, totalGens)));
}

function cellLoad(side: Side, spec: CellSpec, seed: number): CellLoad {
  const p = side.profile;
  const c = side.cluster;
  const leader = c.leaderIndex;
  const regions = p.clientRegions.map((region) => {
    const toNearest = spec.op === 'read' && (spec.mode === 'follower' || spec.mode === 'stale');
    const peers = toNearest ? [c.clientUrl(region, nearestMember(p, c.members, region))] : c.urlsFrom(region, leader);
    return { region, clients: spec.clientsPerRegion * side.scale, loopsPerClient: spec.loopsPerClient, peers, dialMap: c.dialMap(region) };
  });
  return {
    op: spec.op, consistency: spec.mode ?? 'linearizable', regions, gensPerRegion: side.gensPerRegion, valueBytes, keyCount, seed,
    connectConcurrency: connectConcurrency(side.gensPerRegion * p.clientRegions.length),
  };
}

function runLine(side: Side, spec: CellSpec, run: number, r: LoadRun): string {
  const k = r.counters;
  const per = r.regions.map((g) => `${side.profile.regions[g.region]} p50 ${fmt(g.p50Ms, 1)} p99 ${fmt(g.p99Ms, 1)}`).join(', ');
  return `${side.profile.name} ${spec.key}: run ${run}/${opts.runs}: ${fmt(r.opsPerS)}/s; ${per} ms; ` +
    `in flight ≤ ${Number.isFinite(k.inflightMsgs.max) ? fmt(k.inflightMsgs.max) : '?'} msgs / ${Number.isFinite(k.inflightBytes.max) ? fmt(k.inflightBytes.max / 1024) : '?'} KiB; ` +
    `pending ${Number.isFinite(k.pendingProposals.mean) ? fmt(k.pendingProposals.mean) : '?'}; ` +
    `CPU leader ${fmt(r.leaderCpuPct)}% gen ${fmt(r.generatorCpuPct)}% relays ${fmt(r.relayCpuPct)}% other ${fmt(Math.max(0, r.otherCpuPct))}%` +
    `${r.errors > 0 ? `; ${r.errors} errors ${JSON.stringify(Object.assign({}, ...r.regions.map((g) => g.errorCodes)))}` : ''}${r.leaderChanged ? '; LEADER CHANGED' : ''}`;
}

let measured = 0;
let toMeasure = 0;

/** A cell on every side, the sides' runs interleaved (the order flips every run). */
async function placeLeader(s: Side): Promise<void> {
  if (await s.cluster.placeLeader(s.leader)) progress(`  ${s.profile.name}: leadership moved back to ${s.cluster.leaderId}`);
}

async function measureCell(load: WanLoad, sides: readonly Side[], spec: CellSpec, seed: number): Promise<CellResult[]> {
  for (const s of sides) await placeLeader(s);
  const prepared: Prepared[] = await Promise.all(sides.map((s) => load.prepare(s.cluster, cellLoad(s, spec, seed))));
  const runs = sides.map((): LoadRun[] => []);
  try {
    for (let run = 1; run <= opts.runs; run++) {
      const order = sides.map((_, i) => i);
      if (run % 2 === 0) order.reverse();
      for (const i of order) {
        // An election during the last run (a slow spell) moved the leader: the floors assume it back in place.
        if (run > 1) await placeLeader(sides[i]!);
        const r = await load.once(prepared[i]!, opts.warmupS * 1000, opts.seconds * 1000);
        runs[i]!.push(r);
        progress(`  [${++measured}/${toMeasure} ${elapsed()}] ${runLine(sides[i]!, spec, run, r)}`);
      }
    }
  } finally {
    await Promise.all(prepared.map((p) => load.release(p)));
  }
  return sides.map((s, i) => ({ profile: s.profile.name, spec, clientsPerRegion: spec.clientsPerRegion * s.scale, runs: runs[i]! }));
}

async function netFigures(e: NetEmulator): Promise<{ profile: string; stats: NetFigures | null; error: string | null }> {
  try {
    return { profile: e.profile.name, stats: await e.stats(), error: null };
  } catch (err) {
    return { profile: e.profile.name, stats: null, error: (err as Error).message };
  }
}

/** The emulator's timeouts derived from the profile's round trips. */
function derivedArgs(p: NetProfile): { args: string[]; from: string } {
  return { args: suggestedPeerArgs(p), from: `\`suggestedPeerArgs(${p.name})\` of bench/lib/net/profiles.ts (election timeout at least 10× the largest round trip; several ReadIndex rounds in flight across regions)` };
}

async function main(): Promise<void> {
  progress(machineLine());
  const secretFile = join(dir, 'secret');
  const secret = randomBytes(24).toString('base64url');
  writeFileSync(secretFile, secret, { mode: 0o600 });
  const expMs = Date.now() + 24 * 3600_000;
  const token = await mintToken(secret, { role: 'client', sub: 'bench', cluster: 'edgeraft', expMs });
  const adminToken = await mintToken(secret, { role: 'admin', sub: 'bench-admin', cluster: 'edgeraft', expMs });
  const members = opts.members;
  const notes: string[] = [];
  const loadPhases = opts.only.has('writes') || opts.only.has('reads');
  const wSpecs = opts.only.has('writes') ? writeSpecs() : [];
  const rSpecs = opts.only.has('reads') ? readSpecs() : [];
  const sidesN = baseline !== null ? 2 : 1;
  toMeasure = (wSpecs.length * sidesN + rSpecs.length) * opts.runs;
  const perRunS = opts.warmupS + opts.seconds + 1.5;
  const failoverN = opts.only.has('failover') ? opts.timeouts.length * opts.signals.length * opts.failoverRuns : 0;
  progress(`--net ${profile.name}${baseline !== null ? ` beside ${baseline.name}` : ''}: ${toMeasure} load runs of ${opts.warmupS} + ${opts.seconds} s, ` +
    `${failoverN} failovers${opts.only.has('tabs') && opts.tabs > 0 ? ', a tab cell' : ''}: about ${fmt((toMeasure * perRunS + failoverN * 8 + 60) / 60, 1)} minutes plus connecting clients`);

  const fsyncP50Ms = await rawSyncP50(dir, members, fsyncBytes, opts.quick ? 1 : 2);
  progress(`[${elapsed()}] write + fdatasync of ${fsyncBytes} bytes in ${members} processes: p50 ${fmt(fsyncP50Ms, 3)} ms`);

  const preferred = preferredLeader(profile, members);
  const emulator = await NetEmulator.start(profile, group, opts.seed, { processes: relays });
  const baseEmulator = baseline !== null && loadPhases ? await NetEmulator.start(baseline, group, opts.seed + 1, { processes: relays }) : null;
  const mkCluster = (p: NetProfile, e: NetEmulator, prefix: string, peerArgs: readonly string[], label: string) => new WanCluster({
    members, cliPath, dir: join(dir, label), secretFile, token, adminToken, sync: opts.sync, idPrefix: prefix, peerArgs, emulator: e, label,
  }, group);
  const wan = mkCluster(profile, emulator, 'w', opts.peerArgs, profile.name);
  const base = baseEmulator !== null && baseline !== null ? mkCluster(baseline, baseEmulator, 'l', opts.peerArgs, baseline.name) : null;
  progress(`[${elapsed()}] starting ${members} peers on ${profile.name}${base !== null ? ` and ${members} on ${baseline!.name}` : ''} (relays: ${relays} process(es) each)...`);
  await Promise.all([wan.start(), base?.start()]);
  await Promise.all([wan.placeLeader(preferred), base?.placeLeader(preferredLeader(baseline!, members))]);
  progress(`  leaders: ${profile.name} ${wan.leaderId} (${profile.regions[profile.memberRegion(preferred, members)]})${base !== null ? `, ${baseline!.name} ${base.leaderId}` : ''}; writing the ${keyCount} keys...`);
  await Promise.all([wan.prefill(keyCount, valueBytes), base?.prefill(keyCount, valueBytes)]);

  const load = new WanLoad(loadScript, group, progress, opts.quietBudgetS, () => [...wan.processes(), ...(base?.processes() ?? [])]);
  const sides: Side[] = [
    { profile, leader: preferred, cluster: wan, emulator, scale: 1, gensPerRegion: 1 },
    ...(base !== null && baseEmulator !== null && baseline !== null ? [{ profile: baseline, leader: preferredLeader(baseline, members), cluster: base, emulator: baseEmulator, scale: profile.clientRegions.length / baseline.clientRegions.length, gensPerRegion: profile.clientRegions.length / baseline.clientRegions.length }] : []),
  ];
  await Promise.all(sides.map((s) => s.emulator.resetStats()));
  const writes: CellResult[] = [];
  const reads: CellResult[] = [];
  let seed = opts.seed;
  for (const spec of wSpecs) {
    progress(`[${elapsed()}] writes: ${spec.clientsPerRegion} client(s) × ${spec.loopsPerClient} in flight per region...`);
    writes.push(...await measureCell(load, sides, spec, ++seed));
  }
  for (const spec of rSpecs) {
    progress(`[${elapsed()}] reads ${spec.mode}: ${spec.clientsPerRegion} clients per region...`);
    reads.push(...await measureCell(load, sides.slice(0, 1), spec, ++seed));
  }
  const net = loadPhases ? await Promise.all(sides.map((s) => netFigures(s.emulator))) : [];
  const wanIds = wan.ids;
  const leaders = sides.map((s) => `${s.profile.name}: ${s.cluster.leaderId} after the load phases`);
  for (const n of net) {
    if (n.stats !== null) progress(`  ${n.profile} relays: timer lag p50 ${fmt(n.stats.timerLagP50Ms, 2)} p99 ${fmt(n.stats.timerLagP99Ms, 2)} ms, event-loop lag p99 ${fmt(n.stats.eventLoopLagP99Ms, 2)} ms`);
  }
  await load.stop();
  if (base !== null) {
    await base.stop();
    await baseEmulator?.stop();
  }

  let tabs: TabsResult | null = null;
  if (opts.only.has('tabs') && opts.tabs > 0) {
    progress(`[${elapsed()}] tabs: ${opts.tabs} per region in headless Chromium, served by the nearest follower...`);
    await wan.placeLeader(preferred);
    tabs = await measureTabs(wan, profile, {
      tabsPerRegion: opts.tabs, loopsPerTab: 4, seconds: opts.seconds * opts.runs, secret, cluster: 'edgeraft', key: 'k/1',
    }, progress);
    if (tabs.status === 'measured') {
      progress(`  tabs: ${tabs.regions.map((g) => `${profile.regions[g.region]} ${fmt(g.readsPerS)}/s p50 ${fmt(g.p50Ms, 1)} p99 ${fmt(g.p99Ms, 1)} ms via ${g.source ?? '?'}`).join('; ')}`);
    } else {
      progress(`  tabs skipped: ${tabs.reason}`);
    }
  }

  let failover: FailoverResult | null = null;
  if (opts.only.has('failover')) {
    const derived = derivedArgs(profile);
    const argsOf: Partial<Record<TimeoutSet, readonly string[]>> = {};
    const runs: FailoverRun[] = [];
    for (const t of opts.timeouts) {
      const peerArgs = t === 'default' ? [] : derived.args;
      argsOf[t] = peerArgs;
      let c = wan;
      if (t !== 'default') {
        progress(`[${elapsed()}] failover, derived timeouts: starting ${members} peers with ${peerArgs.join(' ')} on ${profile.name}...`);
        c = mkCluster(profile, emulator, 'd', peerArgs, `${profile.name}-derived`);
        await c.start();
      } else {
        progress(`[${elapsed()}] failover, default timeouts...`);
      }
      try {
        for (const signal of opts.signals) {
          runs.push(...await measureFailover(c, { timeouts: t, signal, runs: opts.failoverRuns, preferred, regions: profile.clientRegions }, progress,
            (run) => `[${elapsed()}] ${t} timeouts, run ${run}/${opts.failoverRuns}`));
        }
      } finally {
        if (c !== wan) await c.stop();
      }
    }
    failover = { status: 'measured', reason: null, runs, args: argsOf, derivedFrom: derived.from, attemptTimeoutMs: probeAttemptTimeoutMs };
  }

  progress(`[${elapsed()}] stopping...`);
  group.expectExits();
  await wan.stop();
  await emulator.stop();
  await group.stopAll(10_000);

  const report: WanReport = {
    machine: machineInfo(repo), profile, baseline: base !== null ? baseline : null,
    method: {
      members, memberIds: wanIds, valueBytes, keyCount, runs: opts.runs, seconds: opts.seconds, warmupS: opts.warmupS, sync: opts.sync, quick: opts.quick, fsyncP50Ms, fsyncBytes,
      generatorsPerRegion: Object.fromEntries(sides.map((s) => [s.profile.name, s.gensPerRegion])),
      connectConcurrency: connectConcurrency(profile.clientRegions.length), leaders,
      limits: { msgsMax: raftDefaults.inflightMsgsMax, bytesMax: raftDefaults.inflightBytesMax, sdkInflightMax, handshakesMax }, net,
      peerArgs: opts.peerArgs,
    },
    leader: preferred, writes, reads, tabs, failover, notes, durationS: (Date.now() - startedMs) / 1000,
  };
  const text = wanMarkdown(report, null);
  process.stdout.write(text);
  if (opts.docs) {
    const docs = join(repo, 'docs');
    mkdirSync(docs, { recursive: true });
    const chart = `${opts.doc}.svg`;
    writeFileSync(join(docs, `${opts.doc}.md`), wanMarkdown(report, chart));
    writeFileSync(join(docs, chart), chartSvg(wanChart(report)));
    progress(`wrote docs/${opts.doc}.md and docs/${chart}`);
  }
  if (opts.json) process.stdout.write(`${JSON.stringify(wanJson(report))}\n`);
}

main().then(() => process.exit(0), (err: Error) => {
  progress(`bench/wan: ${err.stack ?? err.message}`);
  process.exit(1);
});
