// `npm run bench`: a real 3-peer cluster from the built CLI (fsync on) on loopback, driven through
// the client SDK by forked load-generator processes. Writes of 256-byte values with 1, 16 and 256
// writers, and reads with 256 readers (and one) per consistency; figures beside targets and etcd.
//   npm run bench [-- --json] [--seconds S] [--runs N] [--writers 1,16,256] [--readers 256,1]
//     [--only writes|reads] [--warmup S] [--procs N] [--clients N] [--sync none] [--profile DIR] [--quiet-wait S]
//     [--new-keys]   (every put creates a new key instead of overwriting one of the 1,000)
//     [--modes readindex,lease,follower,stale]
//   EDGERAFT_BENCH_PROFILE=DIR is --profile DIR; EDGERAFT_BENCH_NODE_ARGS='--perf-basic-prof' adds node flags to the
//   peers and load generators (to read them with `perf record -g -p PID`).

import { fork, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { randomBytes } from 'node:crypto';
import { connect } from '../src/client/node.ts';
import { mintToken } from '../src/transport/token.ts';
import { profileReport, type WindowUs } from './lib/cpuprofile.ts';
import { Histogram } from './lib/histogram.ts';
import type { FromLoad, LoadResult, PrepareLoad, ToLoad } from './lib/load-protocol.ts';
import { reportJson, reportText, type Done, type Method, type Point, type PointFigures, type RunFigures } from './lib/cluster-report.ts';
import { fmt, median } from './machine.ts';
import { cpuMs, freePorts, machineBusyMs, ProcessGroup, scrape, writeBytes } from './lib/procs.ts';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const cliPath = join(repo, 'dist/node/cli.js');
const loadPath = join(repo, 'bench/cluster-load.ts');
const valueBytes = 256;
/**
 * Writers overwrite and readers read the same keys, all written before the first measurement:
 * a put that creates a key can cost far more than one that replaces a value (--new-keys measures
 * that), and runs are only comparable if each measures the same mix.
 */
const keyCount = 1000;
/** Other processes may use this much of one core before a run waits for the machine to calm down. */
const otherCpuPctMax = 25;
const readModes = ['readindex', 'lease', 'follower', 'stale'] as const;
type ReadMode = (typeof readModes)[number];

// ---- options --------------------------------------------------------------------------------

const { values: flags } = parseArgs({
  options: {
    json: { type: 'boolean' }, seconds: { type: 'string' }, runs: { type: 'string' }, warmup: { type: 'string' },
    writers: { type: 'string' }, readers: { type: 'string' }, only: { type: 'string' }, procs: { type: 'string' },
    clients: { type: 'string' }, sync: { type: 'string' }, profile: { type: 'string' }, 'quiet-wait': { type: 'string' },
    'new-keys': { type: 'boolean' }, modes: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (flags.help === true) {
  const lines = readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n');
  process.stdout.write(`${lines.slice(0, lines.findIndex((l) => !l.startsWith('//'))).join('\n')}\n`);
  process.exit(0);
}

function num(name: string, text: string | undefined, fallback: number, min: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isFinite(n) || n < min) usage(`--${name} must be a number >= ${min} (got '${text}')`);
  return n;
}

function list(name: string, text: string | undefined, fallback: readonly number[]): number[] {
  if (text === undefined) return [...fallback];
  const xs = text.split(',').map((t) => Number(t));
  if (xs.some((x) => !Number.isInteger(x) || x < 1 || x > 4096)) usage(`--${name} must be a comma-separated list of integers in [1, 4096] (got '${text}')`);
  return xs;
}

function usage(message: string): never {
  process.stderr.write(`bench/cluster: ${message}\n`);
  process.exit(2);
}

const opts = {
  json: flags.json === true,
  seconds: num('seconds', flags.seconds, 5, 0.5),
  runs: Math.round(num('runs', flags.runs, 3, 1)),
  warmupS: num('warmup', flags.warmup, 1, 0),
  writers: list('writers', flags.writers, [1, 16, 256]),
  readers: list('readers', flags.readers, [256, 1]),
  only: flags.only ?? null,
  newKeys: flags['new-keys'] === true,
  modes: (flags.modes ?? readModes.join(',')).split(',') as ReadMode[],
  quietWaitS: num('quiet-wait', flags['quiet-wait'], 30, 0),
  procs: flags.procs === undefined ? null : Math.round(num('procs', flags.procs, 1, 1)),
  clients: flags.clients === undefined ? null : Math.round(num('clients', flags.clients, 1, 1)),
  sync: flags.sync ?? 'fdatasync',
  profileDir: flags.profile !== undefined ? resolve(flags.profile) : process.env.EDGERAFT_BENCH_PROFILE ?? null,
};
if (opts.only !== null && opts.only !== 'writes' && opts.only !== 'reads') usage(`--only must be writes or reads (got '${opts.only}')`);
for (const m of opts.modes) if (!readModes.includes(m)) usage(`--modes must list some of ${readModes.join(', ')} (got '${m}')`);
if (opts.sync !== 'fdatasync' && opts.sync !== 'none') usage(`--sync must be fdatasync or none (got '${opts.sync}')`);
if (!existsSync(cliPath)) usage(`${cliPath} is missing: run \`node build.mjs\` (npm run bench does)`);

const progress = (text: string) => process.stderr.write(`${text}\n`);
const extraNodeArgs = (process.env.EDGERAFT_BENCH_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');

// ---- the cluster ----------------------------------------------------------------------------

interface PeerProc {
  readonly id: string;
  readonly url: string;
  readonly httpBase: string;
  readonly child: ChildProcess;
  readonly logPath: string;
}

const group = new ProcessGroup();
const dir = mkdtempSync(join(tmpdir(), 'edgeraft-bench-'));

function logTail(path: string): string {
  try {
    const lines = readFileSync(path, 'utf8').trimEnd().split('\n');
    // This benchmark signals its peers only while shutting down; a signal before that came from elsewhere.
    const signalled = lines.some((l) => /"msg":"SIG(TERM|INT): shutting down"/.test(l));
    return `${signalled ? ' after a signal from outside this benchmark' : ''}\n--- last lines of ${path}:\n${lines.slice(-8).join('\n')}`;
  } catch {
    return '';
  }
}

async function startCluster(secretFile: string): Promise<PeerProc[]> {
  const ports = await freePorts(3);
  const ids = ['p1', 'p2', 'p3'];
  const peerList = ids.map((id, i) => `${id}=127.0.0.1:${ports[i]}`).join(',');
  return ids.map((id, i) => {
    const logPath = join(dir, `${id}.log`);
    const prof = opts.profileDir !== null ? ['--cpu-prof', '--cpu-prof-dir', join(opts.profileDir, id)] : [];
    const child = spawn(process.execPath, [
      ...prof, ...extraNodeArgs, cliPath, 'peer', '--id', id, '--listen', `127.0.0.1:${ports[i]}`, '--peers', peerList,
      '--data', join(dir, id), '--secret-file', secretFile, '--sync', opts.sync, '--log-level', 'info',
    ], { stdio: ['ignore', 'ignore', openSync(logPath, 'a')], detached: true });
    group.add(`peer ${id}`, child, () => logTail(logPath));
    return { id, url: `ws://127.0.0.1:${ports[i]}`, httpBase: `http://127.0.0.1:${ports[i]}`, child, logPath };
  });
}

/** The leader every peer agrees on, once there is one. */
async function waitLeader(peers: readonly PeerProc[], timeoutMs = 30_000): Promise<PeerProc> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const views = await Promise.all(peers.map(async (p) => {
      try {
        const res = await fetch(`${p.httpBase}/healthz`, { signal: AbortSignal.timeout(1000) });
        return (await res.json()) as { role: string; leader: string | null };
      } catch {
        return null;
      }
    }));
    const leader = peers.find((_, i) => views[i]?.role === 'leader');
    if (leader !== undefined && views.every((v) => v?.leader === leader.id)) return leader;
    await Promise.race([sleep(100), group.crashed]);
  }
  throw new Error(`no leader agreed on within ${timeoutMs} ms${logTail(peers[0]!.logPath)}`);
}

/**
 * Waits until the peers stop writing to disk on their own: each preallocates a 64 MiB zero-filled
 * WAL segment when it starts, and a measurement during that would time the preallocation.
 */
async function settle(procs: readonly PeerProc[], timeoutMs = 30_000): Promise<void> {
  const total = () => procs.reduce((s, p) => s + (p.child.pid !== undefined ? writeBytes(p.child.pid) ?? 0 : 0), 0);
  const deadline = Date.now() + timeoutMs;
  let last = total();
  let quiet = 0;
  while (Date.now() < deadline && quiet < 2) {
    await Promise.race([sleep(250), group.crashed]);
    const now = total();
    quiet = now - last < 256 * 1024 ? quiet + 1 : 0;
    last = now;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

// ---- load generators ------------------------------------------------------------------------

class LoadChild {
  readonly child: ChildProcess;
  #waiting: ((m: FromLoad) => void) | null = null;

  constructor(readonly name: string) {
    const prof = opts.profileDir !== null ? ['--cpu-prof', '--cpu-prof-dir', join(opts.profileDir, name)] : [];
    this.child = fork(loadPath, [], { execArgv: ['--import', 'tsx', ...prof, ...extraNodeArgs], stdio: ['ignore', 'inherit', 'inherit', 'ipc'], detached: true });
    this.child.on('message', (m: FromLoad) => {
      const w = this.#waiting;
      this.#waiting = null;
      w?.(m);
    });
    group.add(name, this.child);
  }

  /** Sends `msg` (if any) and resolves with the next answer, which must be of type `expect`. */
  async ask<T extends FromLoad['type']>(msg: ToLoad | null, expect: T): Promise<Extract<FromLoad, { type: T }>> {
    const answer = new Promise<FromLoad>((r) => { this.#waiting = r; });
    if (msg !== null) this.child.send(msg);
    const m = await Promise.race([answer, group.crashed]);
    if (m.type === 'failed') throw new Error(`${this.name}: ${m.message}`);
    if (m.type !== expect) throw new Error(`${this.name} answered ${m.type}, expected ${expect}`);
    return m as Extract<FromLoad, { type: T }>;
  }
}

const generators: LoadChild[] = [];

async function generatorsFor(n: number): Promise<LoadChild[]> {
  while (generators.length < n) {
    const g = new LoadChild(`gen${generators.length + 1}`);
    generators.push(g);
    await g.ask(null, 'ready');
  }
  return generators.slice(0, n);
}

/** How a load of `concurrency` loops spreads over processes and SDK clients. */
function layout(concurrency: number): { procs: number; clientsPerProc: number } {
  const procs = Math.min(concurrency, opts.procs ?? (concurrency >= 64 ? 2 : 1));
  const perProc = Math.ceil(concurrency / procs);
  return { procs, clientsPerProc: Math.min(perProc, opts.clients ?? (perProc >= 16 ? 4 : 1)) };
}

// ---- measuring --------------------------------------------------------------------------------

let peers: PeerProc[] = [];
/** Measured windows on the monotonic clock, to read CPU profiles for them only. */
const windows: WindowUs[] = [];
const monotonicUs = () => Number(process.hrtime.bigint() / 1000n);
let leader: PeerProc | null = null;
let token = '';
/** Seeds each load's key choice (and names its new keys): distinct per load, the same every invocation. */
let seeds = 0;

function cpuSample(procs: readonly ChildProcess[]): number[] {
  return procs.map((c) => (c.pid !== undefined ? cpuMs(c.pid) ?? 0 : 0));
}

/** CPU used by everything on the machine that this benchmark did not start, in ms so far. */
function otherCpuMs(): number {
  const own = process.cpuUsage();
  const ours = cpuSample([...peers.map((p) => p.child), ...generators.map((g) => g.child)]).reduce((s, v) => s + v, 0);
  return machineBusyMs() - ours - (own.user + own.system) / 1000;
}

/**
 * Other processes share this machine (other benchmarks, test clusters): wait, within bounds,
 * until they leave the cores alone, so the run measures edgeraft and not them.
 */
async function waitQuiet(): Promise<void> {
  const deadline = Date.now() + opts.quietWaitS * 1000;
  let said = false;
  for (;;) {
    const o0 = otherCpuMs();
    await Promise.race([sleep(1000), group.crashed]);
    const pct = (otherCpuMs() - o0) / 10;
    if (pct <= otherCpuPctMax) return;
    if (Date.now() >= deadline) {
      progress(`  other processes still use ${fmt(pct)}% of a core: measuring anyway (see the "other" CPU column)`);
      return;
    }
    if (!said) progress(`  other processes use ${fmt(pct)}% of a core: waiting up to ${opts.quietWaitS} s for them to finish...`);
    said = true;
  }
}

function share(total: number, parts: number, i: number): number {
  return Math.floor(total / parts) + (i < total % parts ? 1 : 0);
}

function delta(m0: Map<string, number>, m1: Map<string, number>, name: string): number {
  return (m1.get(name) ?? 0) - (m0.get(name) ?? 0);
}

async function prepare(point: Point): Promise<{ gens: LoadChild[]; procs: number; clientsPerProc: number }> {
  const { procs, clientsPerProc } = layout(point.concurrency);
  const gens = await generatorsFor(procs);
  const lead = leader!;
  const followers = peers.filter((p) => p !== lead);
  const all = [lead.url, ...followers.map((f) => f.url)];
  // Follower and stale reads go to the followers (that is what they are for), spread evenly.
  const toFollowers = point.consistency === 'follower' || point.consistency === 'stale';
  await Promise.all(gens.map((g, gi) => {
    const loops = share(point.concurrency, procs, gi);
    const k = Math.min(clientsPerProc, loops);
    const spec: PrepareLoad = {
      type: 'prepare', op: point.op, loops, token, consistency: point.consistency, valueBytes,
      clientPeers: Array.from({ length: k }, (_, ci) => (toFollowers ? [followers[(gi * k + ci) % followers.length]!.url] : all)),
      keyPrefix: 'k/', keyCount, newKeys: opts.newKeys && point.op === 'write', seed: ++seeds,
    };
    return g.ask(spec, 'prepared');
  }));
  return { gens, procs, clientsPerProc };
}

async function measureOnce(point: Point): Promise<PointFigures> {
  if (opts.quietWaitS > 0) await waitQuiet();
  const { gens, procs, clientsPerProc } = await prepare(point);
  const lead = leader!;
  const followers = peers.filter((p) => p !== lead);
  const watched = [lead.child, ...followers.map((f) => f.child), ...gens.map((g) => g.child)];
  const m0 = point.op === 'write' ? await scrape(lead.httpBase) : null;
  const warmupMs = opts.warmupS * 1000;
  const measureMs = opts.seconds * 1000;
  const answers = Promise.all(gens.map((g) => g.ask({ type: 'go', warmupMs, measureMs }, 'result')));
  answers.catch(() => {});
  await Promise.race([sleep(warmupMs), group.crashed]);
  const c0 = cpuSample(watched);
  const o0 = otherCpuMs();
  const t0 = performance.now();
  const w0 = monotonicUs();
  await Promise.race([sleep(measureMs), group.crashed]);
  const c1 = cpuSample(watched);
  const o1 = otherCpuMs();
  windows.push([w0, monotonicUs()]);
  const windowMs = performance.now() - t0;
  const results: LoadResult[] = await answers;
  const m1 = m0 !== null ? await scrape(lead.httpBase) : null;
  const pct = (i: number) => ((c1[i]! - c0[i]!) / windowMs) * 100;
  const hist = new Histogram();
  const sum = (into: Record<string, number>, from: Record<string, number>) => {
    for (const [k, v] of Object.entries(from)) into[k] = (into[k] ?? 0) + v;
  };
  const errorCodes: Record<string, number> = {};
  const paths: Record<string, number> = {};
  const servedBy: Record<string, number> = {};
  for (const r of results) {
    hist.merge(r.histogram);
    sum(errorCodes, r.errorCodes);
    sum(paths, r.paths);
    sum(servedBy, r.servedBy);
  }
  const now = await waitLeader(peers, 15_000);
  const leaderChanged = now !== lead;
  leader = now;
  const syncs = m0 !== null && m1 !== null ? delta(m0, m1, 'edgeraft_persist_batch_entries_count') : 0;
  const opsPerS = results.reduce((s, r) => s + (r.ops * 1000) / r.measuredMs, 0);
  const generatorCpuPct = gens.reduce((s, _, i) => s + pct(3 + i), 0);
  return {
    opsPerS, leaderUsPerOp: (pct(0) * 1e4) / opsPerS, generatorUsPerOp: (generatorCpuPct * 1e4) / opsPerS,
    p50Ms: hist.quantileMs(0.5), p99Ms: hist.quantileMs(0.99),
    errors: results.reduce((s, r) => s + r.errors, 0), errorCodes, paths, servedBy,
    leaderCpuPct: pct(0), followerCpuPct: (pct(1) + pct(2)) / 2,
    generatorCpuPct,
    entriesPerSync: syncs > 0 ? delta(m0!, m1!, 'edgeraft_persist_batch_entries_sum') / syncs : Number.NaN,
    persistMs: syncs > 0 ? delta(m0!, m1!, 'edgeraft_persist_duration_ms_sum') / syncs : Number.NaN,
    leaderChanged, procs, clientsPerProc, otherCpuPct: ((o1 - o0) / windowMs) * 100,
  };
}

async function measurePoint(point: Point): Promise<PointFigures> {
  const runs: PointFigures[] = [];
  for (let run = 1; run <= opts.runs; run++) {
    const r = await measureOnce(point);
    runs.push(r);
    const paths = point.op === 'read' ? `, served by ${Object.keys(r.paths).join('+') || 'nothing'}` : '';
    progress(`  ${point.label}: run ${run}/${opts.runs}: ${fmt(r.opsPerS)}/s, p50 ${fmt(r.p50Ms, 2)} ms, p99 ${fmt(r.p99Ms, 2)} ms, ` +
      `CPU gen ${fmt(r.generatorCpuPct)}% leader ${fmt(r.leaderCpuPct)}% other ${fmt(Math.max(0, r.otherCpuPct))}%${paths}${r.errors > 0 ? `, ${r.errors} errors ${JSON.stringify(r.errorCodes)}` : ''}` +
      `${r.leaderChanged ? ', LEADER CHANGED' : ''}`);
  }
  const med = (f: (r: RunFigures) => number) => median(runs.map(f));
  const total = (f: (r: RunFigures) => Record<string, number>) => {
    const out: Record<string, number> = {};
    for (const r of runs) for (const [k, v] of Object.entries(f(r))) out[k] = (out[k] ?? 0) + v;
    return out;
  };
  return {
    opsPerS: med((r) => r.opsPerS), p50Ms: med((r) => r.p50Ms), p99Ms: med((r) => r.p99Ms),
    errors: runs.reduce((s, r) => s + r.errors, 0), errorCodes: total((r) => r.errorCodes), paths: total((r) => r.paths),
    servedBy: total((r) => r.servedBy), generatorCpuPct: med((r) => r.generatorCpuPct), leaderCpuPct: med((r) => r.leaderCpuPct),
    followerCpuPct: med((r) => r.followerCpuPct), entriesPerSync: med((r) => r.entriesPerSync), persistMs: med((r) => r.persistMs),
    leaderChanged: runs.some((r) => r.leaderChanged), otherCpuPct: med((r) => r.otherCpuPct),
    leaderUsPerOp: med((r) => r.leaderUsPerOp), generatorUsPerOp: med((r) => r.generatorUsPerOp), procs: runs[0]!.procs, clientsPerProc: runs[0]!.clientsPerProc,
  };
}

/** The keys of every load: written once, through the SDK, before any measurement. */
async function prefill(): Promise<void> {
  const kv = await connect({ peers: peers.map((p) => p.url), token, timeoutMs: 30_000 });
  try {
    const value = new Uint8Array(valueBytes).fill(0x5a);
    for (let i = 0; i < keyCount; i += 100) {
      await Promise.all(Array.from({ length: Math.min(100, keyCount - i) }, (_, j) => kv.put(`k/${i + j}`, value)));
    }
  } finally {
    await kv.close();
  }
}

function points(): Point[] {
  const out: Point[] = [];
  if (opts.only !== 'reads') {
    for (const w of opts.writers) {
      out.push({ key: `writes_${w}`, label: `writes, ${w} writer${w === 1 ? '' : 's'}`, op: 'write', concurrency: w, consistency: 'linearizable' });
    }
  }
  if (opts.only !== 'writes') {
    for (const n of opts.readers) {
      for (const mode of opts.modes) {
        out.push({ key: `reads_${mode}_${n}`, label: `reads ${mode}, ${n} reader${n === 1 ? '' : 's'}`, op: 'read', concurrency: n, consistency: mode });
      }
    }
  }
  return out;
}

// ---- lifecycle --------------------------------------------------------------------------------------

let stopping: Promise<void> | null = null;

/** Stops every process this benchmark started (generators first, so they can write profiles) and removes the temp dir. */
function shutdown(): Promise<void> {
  stopping ??= (async () => {
    group.expectExits();
    await Promise.all(generators.map(async (g) => {
      if (g.child.connected) g.child.send({ type: 'exit' } satisfies ToLoad);
      await group.release(g.child, 5000);
    }));
    await group.stopAll(10_000);
    rmSync(dir, { recursive: true, force: true });
  })();
  return stopping;
}

let signals = 0;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    if (++signals > 1) process.exit(130);
    progress(`${sig}: stopping the cluster and the load generators...`);
    void shutdown().finally(() => process.exit(130));
  });
}
process.on('exit', () => {
  group.killAllSync();
  rmSync(dir, { recursive: true, force: true });
});

async function main(): Promise<void> {
  if (opts.profileDir !== null) {
    mkdirSync(opts.profileDir, { recursive: true });
    for (const name of readdirSync(opts.profileDir)) if (/^(p\d|gen\d+)$/.test(name)) rmSync(join(opts.profileDir, name), { recursive: true, force: true });
  }
  const secret = randomBytes(24).toString('base64url');
  const secretFile = join(dir, 'secret');
  writeFileSync(secretFile, secret, { mode: 0o600 });
  progress(`starting 3 peers in ${dir} (--sync ${opts.sync})...`);
  peers = await startCluster(secretFile);
  leader = await waitLeader(peers);
  progress(`leader: ${leader.id}; waiting for the peers' startup disk writes to finish...`);
  await settle(peers);
  token = await mintToken(secret, { role: 'client', sub: 'bench', cluster: 'edgeraft', expMs: Date.now() + 24 * 3600_000 });
  const done: Array<Done[number]> = [];
  progress(`writing the ${keyCount} keys every load uses...`);
  await prefill();
  for (const p of points()) {
    progress(`${p.label}: ${opts.runs} × (${opts.warmupS} s warm-up + ${opts.seconds} s)`);
    done.push([p, await measurePoint(p)]);
  }
  progress('stopping...');
  await shutdown();
  const method: Method = {
    sync: opts.sync, leaderId: leader.id, valueBytes, keyCount, newKeys: opts.newKeys, warmupS: opts.warmupS, seconds: opts.seconds, runs: opts.runs,
  };
  process.stdout.write(`${reportText(done, method)}\n`);
  if (opts.profileDir !== null) process.stdout.write(profileReport(opts.profileDir, windows, (name) => (name === leader?.id ? 'leader' : name.startsWith('gen') ? 'load generator' : 'follower')));
  if (opts.json) process.stdout.write(`${JSON.stringify(reportJson(done, method))}\n`);
}

main().then(() => process.exit(0), async (err: Error) => {
  progress(`bench/cluster: ${err.stack ?? err.message}`);
  await shutdown();
  process.exit(1);
});
