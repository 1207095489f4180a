// `npm run bench`: edgeraft beside etcd on this machine, in one run. Real edgeraft peers from the
// built CLI (3 and 5, fsync on) and Debian's etcd (as many members) on loopback, driven by forked
// load generators of two client shapes (independent: an SDK instance per client; multiplexed: a few
// per process): writes (1/16/256/1024 clients), reads per consistency mode, mixed 90/10; the
// leader's persist p50 against a raw write + fdatasync of the same bytes; memory per idle client
// connection; plus `etcdctl check perf`; then the coordination phase (lib/coordination.ts): watch
// event delivery latency with 1,000 watchers, lease keep-alives/s, txns/s with 1/16/256 clients.
// Writes docs/benchmarks.md and docs/benchmarks-latency.svg.
//   npm run bench [-- --json] [--seconds S] [--runs N] [--warmup S] [--writers 1,16,256,1024] [--readers 256]
//     [--shape independent,multiplexed] [--memory-clients 1024 (0: skip)] [--no-raw-sync]
//     [--readers-5 256]  (reader counts on clusters of 5 or more members)   [--mixed 256]  [--peers 3,5]
//     [--only writes|reads|mixed|coordination] [--modes readindex,lease,follower,stale] [--new-keys]
//     [--no-etcd] [--etcd-peers 3,5] [--etcd-check-perf l|m|s|xl|none] [--no-docs]
//     [--procs N] [--clients N] [--sync none] [--profile DIR] [--quiet-wait S] [--quiet-budget S]
//     [--no-coordination] [--only-coordination (= --only coordination = npm run bench:coordination; prints its section, writes no docs)]
//     [--coordination-peers 3 (default: the smallest of --peers)] [--watchers 1000] [--watch-rate 10 (puts/s)]
//     [--watch-procs 4] [--txn-clients 1,16,256] [--keepalive-clients 256]
//   etcd missing: installed with apt-get when running as root (said on stderr), else measured without it.
//   EDGERAFT_BENCH_ETCD_DIR=DIR takes etcd and etcdctl from DIR only (and never installs).
//   EDGERAFT_BENCH_PROFILE=DIR is --profile DIR; EDGERAFT_BENCH_NODE_ARGS='--perf-basic-prof' adds node flags to the
//   peers and load generators (to read them with `perf record -g -p PID`).

import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { randomBytes } from 'node:crypto';
import { mintToken } from '../src/transport/token.ts';
import { chartFile, chartSubtitle, latencyChart, reportMarkdown } from './lib/bench-doc.ts';
import { chartSvg } from './lib/chart-svg.ts';
import { reportJson, type CheckPerfRun, type Done, type MemoryFigures, type Report } from './lib/cluster-report.ts';
import { etcdConsistencyFor, makePoint, shapes, type Point, type Shape } from './lib/compare.ts';
import { coordinationMarkdown } from './lib/coordination-report.ts';
import { coordinationDefaults, CoordinationPhase, type CoordinationOptions, type CoordinationReport, type CoordinationSize } from './lib/coordination.ts';
import { profileReport } from './lib/cpuprofile.ts';
import { EdgeraftCluster } from './lib/edgeraft-cluster.ts';
import { checkPerfLoads, type CheckPerfLoad } from './lib/etcd-check-perf.ts';
import { EtcdCluster, findEtcd, type EtcdInstall } from './lib/etcd-cluster.ts';
import type { LoadConsistency } from './lib/load-protocol.ts';
import { machineInfo } from './lib/machine-info.ts';
import { Measurer, summarize, type BenchCluster, type PointFigures, type RunFigures } from './lib/measure.ts';
import { ProcessGroup, rssBytes, sleep } from './lib/procs.ts';
import { rawSyncP50 } from './lib/raw-sync.ts';
import { fmt } from './machine.ts';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const cliPath = join(repo, 'dist/node/cli.js');
const edgeraftLoad = join(repo, 'bench/cluster-load.ts');
const etcdLoad = join(repo, 'bench/etcd-load.ts');
const valueBytes = 256;
/** A WAL entry record's bytes besides its payload (frame header, type, index, term), for the raw probe. */
const recordFramingBytes = 26;
/**
 * Writers overwrite and readers read the same keys, all written before the first measurement:
 * a put that creates a key can cost far more than one that replaces a value (--new-keys measures
 * that), and runs are only comparable if each measures the same mix.
 */
const keyCount = 1000;
const readModes = ['readindex', 'lease', 'follower', 'stale'] as const;
type ReadMode = (typeof readModes)[number];
/** The reads of a mixed load: the like-for-like of etcd's linearizable (ReadIndex) read. */
const mixedReadMode: ReadMode = 'readindex';

// ---- options --------------------------------------------------------------------------------

const { values: flags } = parseArgs({
  options: {
    json: { type: 'boolean' }, seconds: { type: 'string' }, runs: { type: 'string' }, warmup: { type: 'string' },
    writers: { type: 'string' }, readers: { type: 'string' }, 'readers-5': { type: 'string' }, mixed: { type: 'string' },
    peers: { type: 'string' }, 'etcd-peers': { type: 'string' }, 'no-etcd': { type: 'boolean' }, 'etcd-check-perf': { type: 'string' },
    'no-docs': { type: 'boolean' }, only: { type: 'string' }, procs: { type: 'string' }, clients: { type: 'string' },
    sync: { type: 'string' }, profile: { type: 'string' }, 'quiet-wait': { type: 'string' }, 'quiet-budget': { type: 'string' },
    'new-keys': { type: 'boolean' }, modes: { type: 'string' }, help: { type: 'boolean', short: 'h' },
    shape: { type: 'string' }, 'memory-clients': { type: 'string' }, 'no-raw-sync': { type: 'boolean' },
    'no-coordination': { type: 'boolean' }, 'only-coordination': { type: 'boolean' }, 'coordination-peers': { type: 'string' },
    watchers: { type: 'string' }, 'watch-rate': { type: 'string' }, 'watch-procs': { type: 'string' }, 'txn-clients': { type: 'string' },
    'keepalive-clients': { type: 'string' },
  },
});
if (flags.help === true) {
  const lines = readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n');
  process.stdout.write(`${lines.slice(0, lines.findIndex((l) => !l.startsWith('//'))).join('\n')}\n`);
  process.exit(0);
}

function usage(message: string): never {
  process.stderr.write(`bench/cluster: ${message}\n`);
  process.exit(2);
}

function num(name: string, text: string | undefined, fallback: number, min: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isFinite(n) || n < min) usage(`--${name} must be a number >= ${min} (got '${text}')`);
  return n;
}

/** A comma-separated list of integers in [min, max]; '' or 'none' is the empty list. */
function list(name: string, text: string | undefined, fallback: readonly number[], min = 1, max = 4096): number[] {
  if (text === undefined) return [...fallback];
  if (text === '' || text === 'none') return [];
  const xs = text.split(',').map((t) => Number(t));
  if (xs.some((v) => !Number.isInteger(v) || v < min || v > max)) usage(`--${name} must be a comma-separated list of integers in [${min}, ${max}] (got '${text}')`);
  return [...new Set(xs)];
}

const peersList = list('peers', flags.peers, [3, 5], 1, 9);
const onlyCoordination = flags['only-coordination'] === true || flags.only === 'coordination';
const opts = {
  json: flags.json === true,
  seconds: num('seconds', flags.seconds, 3, 0.5),
  runs: Math.round(num('runs', flags.runs, 3, 1)),
  warmupS: num('warmup', flags.warmup, 1, 0),
  writers: list('writers', flags.writers, [1, 16, 256, 1024]),
  readers: list('readers', flags.readers, [256]),
  shapes: (flags.shape ?? shapes.join(',')).split(',') as Shape[],
  memoryClients: Math.round(num('memory-clients', flags['memory-clients'], 1024, 0)),
  rawSync: flags['no-raw-sync'] !== true,
  readers5: list('readers-5', flags['readers-5'], [256]),
  mixed: list('mixed', flags.mixed, [256]),
  peers: peersList,
  etcdPeers: flags['no-etcd'] === true ? [] : list('etcd-peers', flags['etcd-peers'], peersList, 1, 9),
  checkPerf: (flags['etcd-check-perf'] ?? 'l') as CheckPerfLoad | 'none',
  /** A run of the coordination phase alone leaves docs/benchmarks.md (the whole report) as it is. */
  docs: flags['no-docs'] !== true && !onlyCoordination,
  /** Which key-value loads to measure (null: all; 'none' with --only-coordination). */
  only: onlyCoordination ? 'none' : flags.only ?? null,
  /** --only writes|reads|mixed measures that alone: no coordination phase either. */
  coordination: flags['no-coordination'] !== true && (flags.only === undefined || flags.only === 'coordination'),
  onlyCoordination,
  coordinationPeers: list('coordination-peers', flags['coordination-peers'], [Math.min(...peersList)], 1, 9),
  newKeys: flags['new-keys'] === true,
  modes: (flags.modes ?? readModes.join(',')).split(',') as ReadMode[],
  quietWaitS: num('quiet-wait', flags['quiet-wait'], 20, 0),
  quietBudgetS: num('quiet-budget', flags['quiet-budget'], 120, 0),
  procs: flags.procs === undefined ? null : Math.round(num('procs', flags.procs, 1, 1)),
  clients: flags.clients === undefined ? null : Math.round(num('clients', flags.clients, 1, 1)),
  sync: flags.sync ?? 'fdatasync',
  profileDir: flags.profile !== undefined ? resolve(flags.profile) : process.env.EDGERAFT_BENCH_PROFILE ?? null,
};
if (flags.only !== undefined && !['writes', 'reads', 'mixed', 'coordination'].includes(flags.only)) usage(`--only must be writes, reads, mixed or coordination (got '${flags.only}')`);
if (onlyCoordination && flags['no-coordination'] === true) usage('--only-coordination and --no-coordination contradict each other');
for (const m of opts.coordinationPeers) if (!opts.peers.includes(m)) usage(`--coordination-peers must list sizes that --peers measures (${opts.peers.join(', ')}), got ${m}`);
const coordinationOptions: CoordinationOptions = {
  watchers: Math.round(num('watchers', flags.watchers, coordinationDefaults.watchers, 1)),
  watchRatePerS: num('watch-rate', flags['watch-rate'], coordinationDefaults.watchRatePerS, 1),
  watchProcs: Math.round(num('watch-procs', flags['watch-procs'], coordinationDefaults.watchProcs, 1)),
  txnClients: list('txn-clients', flags['txn-clients'], coordinationDefaults.txnClients),
  keepaliveClients: list('keepalive-clients', flags['keepalive-clients'], [coordinationDefaults.keepaliveClients])[0] ?? usage('--keepalive-clients needs a client count'),
  valueBytes, runs: opts.runs, warmupS: opts.warmupS, seconds: opts.seconds, graceMs: coordinationDefaults.graceMs,
};
if (coordinationOptions.txnClients.length === 0) usage('--txn-clients needs at least one client count');
for (const sh of opts.shapes) if (!shapes.includes(sh)) usage(`--shape must list some of ${shapes.join(', ')} (got '${sh}')`);
for (const m of opts.modes) if (!readModes.includes(m)) usage(`--modes must list some of ${readModes.join(', ')} (got '${m}')`);
if (opts.sync !== 'fdatasync' && opts.sync !== 'none') usage(`--sync must be fdatasync or none (got '${opts.sync}')`);
if (opts.checkPerf !== 'none' && !(opts.checkPerf in checkPerfLoads)) usage(`--etcd-check-perf must be one of ${Object.keys(checkPerfLoads).join(', ')} or none (got '${opts.checkPerf}')`);
if (opts.peers.length === 0) usage('--peers must name at least one cluster size');
if (!existsSync(cliPath)) usage(`${cliPath} is missing: run \`node build.mjs\` (npm run bench does)`);

const progress = (text: string) => process.stderr.write(`${text}\n`);
const extraNodeArgs = (process.env.EDGERAFT_BENCH_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
const startedMs = Date.now();
const elapsed = () => {
  const s = Math.round((Date.now() - startedMs) / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
};

// ---- what to measure ------------------------------------------------------------------------

/** Loads measured run by run in turn, so a slow spell of the machine falls on all of them. */
type Group = ReadonlyArray<readonly [BenchCluster, Point]>;

function interleave<T>(a: readonly T[], b: readonly T[]): T[] {
  const out: T[] = [];
  for (let i = 0; i < Math.max(a.length, b.length); i++) out.push(...(i < a.length ? [a[i]!] : []), ...(i < b.length ? [b[i]!] : []));
  return out;
}

function groupsFor(members: number, e: BenchCluster, c: BenchCluster | null): Group[] {
  const groups: Group[] = [];
  const pair = (mk: (s: 'edgeraft' | 'etcd') => Point[]): Group => interleave(
    mk('edgeraft').map((p) => [e, p] as const), c === null ? [] : mk('etcd').map((p) => [c, p] as const));
  // The shapes of one load side by side in a group, so their runs interleave too.
  const both = (mk: (s: 'edgeraft' | 'etcd', sh: Shape) => Point[]): Group => pair((s) => opts.shapes.flatMap((sh) => mk(s, sh)));
  if (opts.only === null || opts.only === 'writes') {
    for (const w of opts.writers) groups.push(both((s, sh) => [makePoint(s, members, 'write', 'linearizable', w, valueBytes, sh, opts.newKeys)]));
  }
  if (opts.only === null || opts.only === 'reads') {
    const etcdModes = [...new Set(opts.modes.map((m) => etcdConsistencyFor(m)))];
    for (const n of members >= 5 ? opts.readers5 : opts.readers) {
      groups.push(both((s, sh) => (s === 'edgeraft' ? opts.modes : etcdModes).map((m: LoadConsistency) => makePoint(s, members, 'read', m, n, valueBytes, sh))));
    }
  }
  if (opts.only === null || opts.only === 'mixed') {
    for (const n of opts.mixed) groups.push(both((s, sh) => [makePoint(s, members, 'mixed', s === 'edgeraft' ? mixedReadMode : 'linearizable', n, valueBytes, sh)]));
  }
  return groups;
}

/** etcdctl check perf's shape (new keys, 1 KiB values, its client count) through the gateway. */
function checkPerfShapePoint(load: CheckPerfLoad, members: number): Point {
  const clients = checkPerfLoads[load].clients;
  const p = makePoint('etcd', members, 'write', 'linearizable', clients, 1024, 'independent', true);
  return { ...p, key: `etcd_gateway_check_perf_${load}_writes_${clients}`, label: `writes, ${clients} clients, new keys, 1 KiB values (check perf's shape)` };
}

// ---- running --------------------------------------------------------------------------------

const group = new ProcessGroup();
const dir = mkdtempSync(join(tmpdir(), 'edgeraft-bench-'));
const measurer = new Measurer({
  warmupS: opts.warmupS, seconds: opts.seconds, keyCount, quietWaitS: opts.quietWaitS, quietBudgetS: opts.quietBudgetS,
  procs: opts.procs, clients: opts.clients, profileDir: opts.profileDir, extraNodeArgs,
}, group, progress);
let measured = 0;
let toMeasure = 0;

async function measureGroup(g: Group, done: Array<readonly [Point, PointFigures]>): Promise<void> {
  const runs = new Map<Point, Array<RunFigures & { procs: number; clientsPerProc: number }>>(g.map(([, p]) => [p, []]));
  for (let run = 1; run <= opts.runs; run++) {
    for (const [cluster, p] of g) {
      let r = await measurer.once(cluster, p);
      // The disk's own speed for the same bytes per save, right after the run (edgeraft writes).
      if (opts.rawSync && opts.sync !== 'none' && p.system === 'edgeraft' && p.op === 'write' && Number.isFinite(r.bytesPerSync)) {
        const framed = r.bytesPerSync + r.entriesPerSync * recordFramingBytes;
        r = { ...r, rawSyncP50Ms: await rawSyncP50(dir, p.members, framed, 2) };
      }
      runs.get(p)!.push(r);
      const served = p.op === 'read' ? `, served by ${Object.keys(r.paths).join('+') || 'nothing'}` : '';
      progress(`  [${++measured}/${toMeasure} ${elapsed()}] ${p.system} ${p.members}: ${p.label}: run ${run}/${opts.runs}: ${fmt(r.opsPerS)}/s, ` +
        `p50 ${fmt(r.p50Ms, 2)} ms, p99 ${fmt(r.p99Ms, 2)} ms, CPU gen ${fmt(r.generatorCpuPct)}% leader ${fmt(r.leaderCpuPct)}% ` +
        `other ${fmt(Math.max(0, r.otherCpuPct))}%${served}` +
        `${Number.isFinite(r.rawSyncP50Ms) ? `, persist p50 ${fmt(r.persistP50Ms, 3)} ms vs raw ${fmt(r.rawSyncP50Ms, 3)} ms` : ''}${r.errors > 0 ? `, ${r.errors} errors ${JSON.stringify(r.errorCodes)}` : ''}` +
        `${r.leaderChanged ? ', LEADER CHANGED' : ''}`);
    }
  }
  for (const [, p] of g) done.push([p, summarize(runs.get(p)!)]);
}

/** Peer memory with `clients` idle independent SDK clients connected, against none. */
async function measureMemory(e: EdgeraftCluster, members: number): Promise<MemoryFigures> {
  const rss = () => e.processes().map((c) => (c.pid !== undefined ? rssBytes(c.pid) ?? Number.NaN : Number.NaN));
  const settleMs = 3000;
  progress(`  [${elapsed()}] memory: ${opts.memoryClients} idle independent clients against none...`);
  await sleep(settleMs);
  const before = rss();
  const release = await measurer.hold(e, makePoint('edgeraft', members, 'read', 'lease', opts.memoryClients, valueBytes, 'independent'));
  await sleep(settleMs);
  const after = rss();
  await release();
  const perClient = (i: number) => (after[i]! - before[i]!) / opts.memoryClients;
  progress(`  memory: leader RSS ${fmt(before[0]! / 2 ** 20, 1)} -> ${fmt(after[0]! / 2 ** 20, 1)} MiB, ${fmt(perClient(0) / 1024, 1)} KiB per idle client`);
  return {
    clients: opts.memoryClients, leaderRssBefore: before[0]!, leaderRssAfter: after[0]!, leaderBytesPerClient: perClient(0),
    followerBytesPerClient: before.length > 1 ? Math.max(...before.slice(1).map((_, i) => perClient(i + 1))) : Number.NaN,
  };
}

interface SizeResult {
  readonly memory: MemoryFigures | null;
  readonly leaders: string[];
  readonly checkPerf: CheckPerfRun | null;
  readonly gatewayKey: string | null;
  readonly coordination: CoordinationSize | null;
}

const coordinationPhase = new CoordinationPhase(coordinationOptions, measurer, group, progress, elapsed);

let secretFile = '';
let token = '';
const leaderProfiles = new Set<string>();

async function measureSize(members: number, install: EtcdInstall | null, withCheckPerf: boolean, done: Array<readonly [Point, PointFigures]>): Promise<SizeResult> {
  const e = new EdgeraftCluster({ members, cliPath, dir: join(dir, `edgeraft-${members}`), secretFile, token, sync: opts.sync, profileDir: opts.profileDir, extraNodeArgs }, group, edgeraftLoad);
  const c = install !== null && opts.etcdPeers.includes(members) ? new EtcdCluster(install, members, join(dir, `etcd-${members}`), group, etcdLoad) : null;
  progress(`[${elapsed()}] starting ${members} edgeraft peers${c !== null ? ` and ${members} etcd members` : ''} in ${dir} (--sync ${opts.sync})...`);
  await Promise.all([e.start(), c?.start()]);
  const kvLoads = !opts.onlyCoordination;
  progress(`  leaders: edgeraft ${e.leaderId}${c !== null ? `, etcd ${c.leaderName}` : ''}${kvLoads ? `; writing the ${keyCount} keys every load uses...` : ''}`);
  if (kvLoads) await Promise.all([e.prefill(keyCount, valueBytes), c?.prefill(keyCount, valueBytes)]);
  // Memory first, on peers no load has grown yet: a heap a load grew has room for the clients
  // and shows them costing nothing.
  const memory = kvLoads && opts.memoryClients > 0 && members === Math.min(...opts.peers) ? await measureMemory(e, members) : null;
  for (const g of groupsFor(members, e, c)) await measureGroup(g, done);
  let checkPerf: CheckPerfRun | null = null;
  let gatewayKey: string | null = null;
  if (kvLoads && c !== null && withCheckPerf && opts.checkPerf !== 'none') {
    const load = opts.checkPerf;
    const shape = checkPerfShapePoint(load, members);
    gatewayKey = shape.key;
    await measureGroup([[c, shape]], done);
    progress(`  [${elapsed()}] etcdctl check perf --load ${load} (60 s)...`);
    try {
      const summary = await c.checkPerf(load);
      checkPerf = { load, members, summary, error: null };
      progress(`  etcdctl check perf: ${summary.pass ? 'PASS' : 'FAIL'}, ${fmt(summary.writesPerS)} writes/s, slowest ${fmt(summary.slowestMs, 1)} ms, stddev ${fmt(summary.stddevMs, 1)} ms`);
    } catch (err) {
      checkPerf = { load, members, summary: null, error: (err as Error).message };
      progress(`  etcdctl check perf failed: ${(err as Error).message}`);
    }
  }
  // Watches, leases and transactions, after everything else on these clusters.
  let coordination: CoordinationSize | null = null;
  if (opts.coordination && opts.coordinationPeers.includes(members)) {
    progress(`  [${elapsed()}] coordination: watch delivery (${fmt(coordinationOptions.watchers)} watchers, ${fmt(coordinationOptions.watchRatePerS)} puts/s), ` +
      `txns (${coordinationOptions.txnClients.join(', ')} clients), keep-alives (${coordinationOptions.keepaliveClients} clients)...`);
    coordination = await coordinationPhase.measure(members, e, c, toMeasureCoordination);
  }
  leaderProfiles.add(e.leaderProfileName);
  const leaders = [`edgeraft ${members} peers: ${e.leaderId}`, ...(c !== null ? [`etcd ${members} members: ${c.leaderName}`] : [])];
  await measurer.stopGenerators();
  await Promise.all([e.stop(), c?.stop()]);
  return { leaders, checkPerf, gatewayKey, memory, coordination };
}

function countMeasurements(etcd: boolean, checkPerf: boolean): number {
  let n = 0;
  for (const members of opts.peers) {
    const withEtcd = etcd && opts.etcdPeers.includes(members);
    if (opts.only === null || opts.only === 'writes') n += opts.writers.length * (withEtcd ? 2 : 1);
    if (opts.only === null || opts.only === 'reads') {
      const etcdModes = new Set(opts.modes.map((m) => etcdConsistencyFor(m))).size;
      n += (members >= 5 ? opts.readers5 : opts.readers).length * (opts.modes.length + (withEtcd ? etcdModes : 0));
    }
    if (opts.only === null || opts.only === 'mixed') n += opts.mixed.length * (withEtcd ? 2 : 1);
  }
  n *= opts.shapes.length;
  // The gateway load in check perf's shape, once, on the smallest etcd cluster.
  if (!opts.onlyCoordination && checkPerf && opts.etcdPeers.some((m) => opts.peers.includes(m))) n += 1;
  return n * opts.runs;
}

/** The coordination phase's runs, all sizes together. */
function countCoordination(etcd: boolean): number {
  if (!opts.coordination) return 0;
  return opts.coordinationPeers.reduce((n, m) => n + coordinationPhase.runsPerSize(etcd && opts.etcdPeers.includes(m)), 0);
}

let toMeasureCoordination = 0;

// ---- lifecycle --------------------------------------------------------------------------------------

let stopping: Promise<void> | null = null;

/** Stops every process this benchmark started (generators first, so they can write profiles) and removes the temp dir. */
function shutdown(): Promise<void> {
  stopping ??= (async () => {
    group.expectExits();
    await measurer.stopGenerators();
    await group.stopAll(10_000);
    rmSync(dir, { recursive: true, force: true });
  })();
  return stopping;
}

let signals = 0;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    if (++signals > 1) process.exit(130);
    progress(`${sig}: stopping the clusters and the load generators...`);
    void shutdown().finally(() => process.exit(130));
  });
}
process.on('exit', () => {
  group.killAllSync();
  rmSync(dir, { recursive: true, force: true });
});

function etcdAvailability(): { install: EtcdInstall | null; reason: string | null } {
  if (opts.etcdPeers.length === 0) return { install: null, reason: flags['no-etcd'] === true ? 'the run was asked not to (--no-etcd)' : 'no etcd cluster size was asked for' };
  const found = findEtcd(progress);
  if (!found.ok) {
    progress(`etcd will not be measured: ${found.reason}. Going on with edgeraft alone.`);
    return { install: null, reason: found.reason };
  }
  if (found.install.etcdctl === null && opts.checkPerf !== 'none') progress('etcdctl is missing (Debian package etcd-client): no check perf.');
  return { install: found.install, reason: null };
}

function writeDocs(r: Report): void {
  const docs = join(repo, 'docs');
  mkdirSync(docs, { recursive: true });
  writeFileSync(join(docs, 'benchmarks.md'), reportMarkdown(r, true));
  writeFileSync(join(docs, chartFile), chartSvg(latencyChart(r.done, chartSubtitle(r))));
  progress(`wrote docs/benchmarks.md and docs/${chartFile}`);
}

async function main(): Promise<void> {
  if (opts.profileDir !== null) {
    mkdirSync(opts.profileDir, { recursive: true });
    for (const name of readdirSync(opts.profileDir)) if (/^(c\d+-p\d+|gen-.+)$/.test(name)) rmSync(join(opts.profileDir, name), { recursive: true, force: true });
  }
  const { install, reason } = etcdAvailability();
  const secret = randomBytes(24).toString('base64url');
  secretFile = join(dir, 'secret');
  writeFileSync(secretFile, secret, { mode: 0o600 });
  token = await mintToken(secret, { role: 'client', sub: 'bench', cluster: 'edgeraft', expMs: Date.now() + 24 * 3600_000 });
  toMeasure = countMeasurements(install !== null, install?.etcdctl != null && opts.checkPerf !== 'none');
  toMeasureCoordination = countCoordination(install !== null);
  const perRunS = opts.warmupS + opts.seconds + 2;
  // A watch run also connects its watchers and waits for the last events: count it double.
  const coordinationS = toMeasureCoordination * perRunS + opts.coordinationPeers.length * opts.runs * (install !== null ? 2 : 1) * perRunS;
  progress(`edgeraft ${opts.peers.join(' and ')} peers${install !== null ? `, etcd ${install.version} ${opts.etcdPeers.join(' and ')} members` : ', no etcd'}: ` +
    `${toMeasure + toMeasureCoordination} runs of ${opts.warmupS} s warm-up + ${opts.seconds} s, about ${fmt((toMeasure * perRunS + (opts.coordination ? coordinationS : 0)) / 60, 0)} minutes` +
    `${install !== null && opts.checkPerf !== 'none' && !opts.onlyCoordination ? ' plus 1 minute of etcdctl check perf' : ''}`);
  const done: Array<readonly [Point, PointFigures]> = [];
  const leaders: string[] = [];
  let checkPerf: CheckPerfRun | null = null;
  let gatewayKey: string | null = null;
  let memory: MemoryFigures | null = null;
  const coordinationSizes: CoordinationSize[] = [];
  // --only-coordination: only the sizes the phase measures.
  for (const members of opts.onlyCoordination ? opts.peers.filter((m) => opts.coordinationPeers.includes(m)) : opts.peers) {
    const etcdSizes = opts.etcdPeers.filter((m) => opts.peers.includes(m));
    const withCheckPerf = install?.etcdctl != null && etcdSizes.length > 0 && members === Math.min(...etcdSizes);
    const r = await measureSize(members, install, withCheckPerf, done);
    leaders.push(...r.leaders);
    checkPerf ??= r.checkPerf;
    gatewayKey ??= r.gatewayKey;
    memory ??= r.memory;
    if (r.coordination !== null) coordinationSizes.push(r.coordination);
  }
  const coordination: CoordinationReport = {
    notMeasured: opts.coordination ? null : flags.only !== undefined ? `the run measured --only ${flags.only}` : 'the run was asked not to (--no-coordination)',
    etcdNotMeasured: install === null ? reason ?? 'etcd is not installed' : opts.coordinationPeers.some((m) => opts.etcdPeers.includes(m)) ? null : 'no etcd cluster of the sizes it measured (--etcd-peers)',
    options: coordinationOptions, sizes: coordinationSizes,
  };
  progress(`[${elapsed()}] stopping...`);
  await shutdown();
  const report: Report = {
    done: done as Done,
    method: {
      sync: opts.sync, leaders, valueBytes, keyCount, newKeys: opts.newKeys, warmupS: opts.warmupS, seconds: opts.seconds, runs: opts.runs,
      edgeraftPeers: opts.peers, shapes: opts.shapes,
    },
    etcd: { notMeasured: reason, version: install?.version ?? null, members: install !== null ? opts.etcdPeers.filter((m) => opts.peers.includes(m)) : [], checkPerf, gatewayCheckPerfKey: gatewayKey },
    memory,
    coordination,
    machine: machineInfo(repo),
    durationS: (Date.now() - startedMs) / 1000,
  };
  // --only-coordination: its section alone (the key-value tables would be empty).
  process.stdout.write(opts.onlyCoordination ? `${coordinationMarkdown(coordination).join('\n')}\n` : reportMarkdown(report, false));
  if (opts.docs) writeDocs(report);
  if (opts.profileDir !== null) {
    process.stdout.write(profileReport(opts.profileDir, measurer.windows, (name) => (leaderProfiles.has(name) ? 'leader' : name.startsWith('gen-') ? 'load generator' : 'follower')));
  }
  if (opts.json) process.stdout.write(`${JSON.stringify(reportJson(report))}\n`);
}

main().then(() => process.exit(0), async (err: Error) => {
  progress(`bench/cluster: ${err.stack ?? err.message}`);
  await shutdown();
  process.exit(1);
});
