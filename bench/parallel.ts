// `npm run bench:parallel`: does ParallelRaft pay? (issue 8). A raft-mode and a parallel-mode
// 3-peer cluster on 127.0.0.1 (fsync on, several connections per peer pair), with delay jitter on
// every connection of one follower (0, 0.5, 2 ms, through a relay process: this kernel has no
// netem); 256 writers over many keys (low conflict) and over few (high conflict); runs interleaved
// between the modes. Prints the tables (and writes docs/parallel-bench.md): writes/s,
// p50/p99/p99.9, the out-of-order counters from /metrics, the parallel/raft ratios and the
// issue's goal met or missed.
//   npm run bench:parallel [-- --json] [--quick] [--modes raft,parallel] [--jitter 0,0.5,2] [--keys 100000,8]
//     [--writers 256] [--clients 64] [--procs 2] [--connections 4] [--runs 3] [--seconds 5] [--warmup 1]
//     [--sync fdatasync|none] [--no-docs] [--quiet-budget S] [--profile DIR]
//   --profile DIR: V8 CPU profiles of every peer, summarized per mode over its measured windows.
//   --quick: one short run per cell, fewer keys, no docs (a smoke test).

import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { mintToken } from '../src/transport/token.ts';
import { profileReport, type WindowUs } from './lib/cpuprofile.ts';
import { Histogram } from './lib/histogram.ts';
import { machineInfo } from './lib/machine-info.ts';
import { ModeCluster, modeRefusal, type ConsensusMode } from './lib/parallel-cluster.ts';
import { parallelMarkdown, type Method, type RealizedJitter } from './lib/parallel-doc.ts';
import { JitterProxy } from './lib/parallel-jitter.ts';
import { WriteLoad, type RawRun } from './lib/parallel-load.ts';
import { compare, metricsJson, summarizeCell, windowCounters, type Cell, type Run } from './lib/parallel-report.ts';
import { ProcessGroup } from './lib/procs.ts';
import { fmt, machineLine } from './machine.ts';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const cliPath = join(repo, 'dist/node/cli.js');
const loadScript = join(repo, 'bench/cluster-load.ts');
const proxyScript = join(repo, 'bench/lib/parallel-proxy.ts');
const valueBytes = 256;
const members = 3;
/** The follower whose connections are jittered: the last member (leadership is kept off it). */
const jittered = members - 1;
const allModes: readonly ConsensusMode[] = ['raft', 'parallel'];

// ---- options --------------------------------------------------------------------------------

const { values: flags } = parseArgs({
  options: {
    json: { type: 'boolean' }, quick: { type: 'boolean' }, modes: { type: 'string' }, jitter: { type: 'string' }, keys: { type: 'string' },
    writers: { type: 'string' }, clients: { type: 'string' }, procs: { type: 'string' }, connections: { type: 'string' },
    runs: { type: 'string' }, seconds: { type: 'string' }, warmup: { type: 'string' }, sync: { type: 'string' },
    'no-docs': { type: 'boolean' }, 'quiet-budget': { type: 'string' }, profile: { type: 'string' }, help: { type: 'boolean', short: 'h' },
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
  if (!Number.isFinite(n) || n < min || n > max) usage(`--${name} must be a number in [${min}, ${max}] (got '${text}')`);
  return n;
}

function list(name: string, text: string | undefined, fallback: readonly number[], min: number, max: number, integers: boolean): number[] {
  if (text === undefined) return [...fallback];
  const xs = text.split(',').map((t) => Number(t));
  if (xs.some((v) => !Number.isFinite(v) || v < min || v > max || (integers && !Number.isInteger(v)))) {
    usage(`--${name} must be a comma-separated list of ${integers ? 'integers' : 'numbers'} in [${min}, ${max}] (got '${text}')`);
  }
  return [...new Set(xs)];
}

const quick = flags.quick === true;
const opts = {
  json: flags.json === true,
  modes: [...new Set((flags.modes ?? allModes.join(',')).split(','))] as ConsensusMode[],
  jitterMs: list('jitter', flags.jitter, [0, 0.5, 2], 0, 100, false),
  keys: list('keys', flags.keys, quick ? [10_000, 8] : [100_000, 8], 1, 10_000_000, true),
  writers: Math.round(num('writers', flags.writers, 256, 1, 4096)),
  clients: Math.round(num('clients', flags.clients, 64, 1, 4096)),
  procs: Math.round(num('procs', flags.procs, 2, 1, 16)),
  connections: Math.round(num('connections', flags.connections, 4, 1, 16)),
  runs: Math.round(num('runs', flags.runs, quick ? 1 : 3, 1, 99)),
  seconds: num('seconds', flags.seconds, quick ? 2 : 5, 0.5, 600),
  warmupS: num('warmup', flags.warmup, quick ? 0.5 : 1, 0, 600),
  sync: flags.sync ?? 'fdatasync',
  docs: flags['no-docs'] !== true && !quick,
  quietBudgetS: num('quiet-budget', flags['quiet-budget'], quick ? 10 : 180, 0, 3600),
  profileDir: flags.profile !== undefined ? resolve(flags.profile) : null,
};
for (const m of opts.modes) if (!allModes.includes(m)) usage(`--modes must list some of ${allModes.join(', ')} (got '${m}')`);
if (opts.sync !== 'fdatasync' && opts.sync !== 'none') usage(`--sync must be fdatasync or none (got '${opts.sync}')`);
if (!existsSync(cliPath)) usage(`${cliPath} is missing: run \`node build.mjs\` (npm run bench:parallel does)`);

const progress = (text: string) => process.stderr.write(`${text}\n`);
const startedMs = Date.now();
const elapsed = () => {
  const s = Math.round((Date.now() - startedMs) / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
};

// ---- lifecycle ------------------------------------------------------------------------------

const group = new ProcessGroup();
const dir = mkdtempSync(join(tmpdir(), 'edgeraft-bench-parallel-'));

// Exit through process.exit on a signal so the exit hook below SIGKILLs every peer, generator
// and the proxy this run started (by PID) and removes the temp dir.
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    progress(`${sig}: stopping the clusters, the load generators and the proxy...`);
    process.exit(130);
  });
}
process.on('exit', () => {
  group.killAllSync();
  rmSync(dir, { recursive: true, force: true });
});

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

function toRun(r: RawRun): Run {
  return {
    writesPerS: r.writesPerS, p50Ms: r.p50Ms, p99Ms: r.p99Ms, p999Ms: r.p999Ms, writes: r.writes, errors: r.errors,
    counters: windowCounters(r.metricsBefore, r.metricsAfter), otherCpuPct: r.otherCpuPct, leaderCpuPct: r.leaderCpuPct, leaderChanged: r.leaderChanged,
  };
}

function runLine(c: ModeCluster, j: number, keyCount: number, run: number, r: Run): string {
  const k = r.counters;
  return `${c.mode}, jitter ${j} ms, ${fmt(keyCount)} keys, run ${run}: ${fmt(r.writesPerS)} writes/s, ` +
    `p50 ${fmt(r.p50Ms, 2)} p99 ${fmt(r.p99Ms, 2)} p99.9 ${fmt(r.p999Ms, 2)} ms; held ${k.reorderHeld}, look-behind ${k.lookBehind}, ` +
    `commit ooo ${k.committedOutOfOrder}, apply ooo ${k.appliedOutOfOrder}, conflict ${k.applyHeldByConflict}; ` +
    `other CPU ${fmt(Math.max(0, r.otherCpuPct))}%${r.errors > 0 ? `; ${r.errors} errors` : ''}${r.leaderChanged ? '; LEADER CHANGED' : ''}`;
}

async function startClusters(modes: readonly ConsensusMode[], proxy: JitterProxy, secretFile: string): Promise<ModeCluster[]> {
  const secret = readFileSync(secretFile, 'utf8');
  const expMs = Date.now() + 24 * 3600_000;
  const token = await mintToken(secret, { role: 'client', sub: 'bench', cluster: 'edgeraft', expMs });
  const adminToken = await mintToken(secret, { role: 'admin', sub: 'bench', cluster: 'edgeraft', expMs });
  const clusters: ModeCluster[] = [];
  for (const mode of modes) {
    const c = new ModeCluster({
      mode, members, cliPath, dir: join(dir, mode), secretFile, token, adminToken, connections: opts.connections, sync: opts.sync, jittered, proxy,
      profileDir: opts.profileDir !== null ? join(opts.profileDir, mode) : null,
    }, group);
    await c.start();
    clusters.push(c);
    const prefill = Math.max(...opts.keys);
    progress(`[${elapsed()}] ${mode}: leader ${c.leaderId}, jittered follower ${c.jitteredId}; writing the ${fmt(prefill)} keys the loads overwrite...`);
    await c.prefill(prefill, valueBytes);
  }
  return clusters;
}

function realized(stats: Awaited<ReturnType<JitterProxy['stats']>>): RealizedJitter {
  const h = new Histogram(stats.histogram);
  return { p50Ms: h.quantileMs(0.5), p99Ms: h.quantileMs(0.99), chunks: stats.chunks, connections: stats.connections };
}

interface Measured {
  readonly runs: Map<string, Run[]>;
  readonly jitter: Array<readonly [number, RealizedJitter]>;
  readonly windows: Map<ConsensusMode, WindowUs[]>;
}

/** Every cell's runs: jitter by jitter, key count by key count, the modes alternating run by run. */
async function measureAll(clusters: readonly ModeCluster[], proxy: JitterProxy, load: WriteLoad): Promise<Measured> {
  const m: Measured = { runs: new Map(), jitter: [], windows: new Map() };
  let done = 0;
  const total = opts.jitterMs.length * opts.keys.length * clusters.length * opts.runs;
  for (const [ji, j] of opts.jitterMs.entries()) {
    await proxy.setJitter(j, ji + 1);
    progress(`[${elapsed()}] jitter ${j} ms on every connection of ${clusters.map((c) => c.jitteredId).join(' and ')}`);
    for (const keyCount of opts.keys) {
      for (let run = 1; run <= opts.runs; run++) {
        // Raft first in odd runs, parallel first in even ones: neither always follows the other.
        for (const c of run % 2 === 1 ? clusters : [...clusters].reverse()) {
          if (await c.keepLeaderOffJittered()) progress(`  ${c.mode}: the leader had moved onto the jittered follower: moved it back to ${c.leaderId}`);
          const raw = await load.once(c, {
            writers: opts.writers, clients: opts.clients, procs: opts.procs, keyCount, valueBytes,
            warmupMs: opts.warmupS * 1000, measureMs: opts.seconds * 1000, seed: run,
          });
          m.windows.set(c.mode, [...(m.windows.get(c.mode) ?? []), raw.windowUs]);
          const r = toRun(raw);
          const key = `${c.mode}|${j}|${keyCount}`;
          m.runs.set(key, [...(m.runs.get(key) ?? []), r]);
          progress(`  [${++done}/${total} ${elapsed()}] ${runLine(c, j, keyCount, run, r)}`);
        }
      }
    }
    const seen = realized(await proxy.stats());
    m.jitter.push([j, seen]);
    progress(`  the proxy held ${fmt(seen.chunks)} chunks: p50 ${fmt(seen.p50Ms, 2)} ms, p99 ${fmt(seen.p99Ms, 2)} ms`);
  }
  return m;
}

/** The tables (stdout, docs/parallel-bench.md), the CPU profiles if asked for, and the --json line last. */
function report(modes: readonly ConsensusMode[], skipped: Method['skipped'], m: Measured, leaders: string[], roles: ReadonlyMap<string, string>): void {
  const cells: Cell[] = [];
  for (const j of opts.jitterMs) for (const keyCount of opts.keys) for (const mode of modes) {
    cells.push(summarizeCell({ mode, jitterMs: j, keyCount }, m.runs.get(`${mode}|${j}|${keyCount}`) ?? []));
  }
  const method: Method = {
    modes, skipped, jitter: m.jitter, connections: opts.connections, writers: opts.writers, clients: opts.clients, procs: opts.procs,
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
    writeFileSync(join(repo, 'docs/parallel-bench.md'), text);
    progress('wrote docs/parallel-bench.md');
  }
  if (opts.json) {
    const mc = r.machine;
    process.stdout.write(`${JSON.stringify({
      machine: `${mc.cpuModel} × ${mc.cores} cores, ${mc.memGiB} GiB`, node: mc.node, edgeraft_commit: mc.commit, modes: modes.join(','),
      connections: opts.connections, writers: opts.writers, clients: opts.clients, runs: opts.runs, seconds: opts.seconds,
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
  const cellCount = opts.jitterMs.length * opts.keys.length * modes.length;
  progress(`modes ${modes.join(', ')}; jitter ${opts.jitterMs.join(', ')} ms; keys ${opts.keys.join(', ')}; ${cellCount} cells × ${opts.runs} runs of ` +
    `${opts.warmupS} + ${opts.seconds} s: about ${fmt((cellCount * opts.runs * (opts.warmupS + opts.seconds + 2.5)) / 60, 1)} minutes after start-up`);
  const proxy = new JitterProxy(proxyScript, group);
  await proxy.ready();
  const clusters = await startClusters(modes, proxy, secretFile);
  const load = new WriteLoad(loadScript, group, progress, opts.quietBudgetS);
  const measured = await measureAll(clusters, proxy, load);
  const leaders = clusters.map((c) => `${c.mode}: ${c.leaderId} (jittered follower ${c.jitteredId})`);
  const roles = new Map(clusters.flatMap((c) => c.peerIds.map((id) => [id, id === c.leaderId ? 'leader' : id === c.jitteredId ? 'jittered follower' : 'follower'] as const)));
  progress(`[${elapsed()}] stopping...`);
  group.expectExits();
  await load.stop();
  await Promise.all(clusters.map((c) => c.stop()));
  await proxy.stop();
  await group.stopAll(10_000);
  report(modes, skipped, measured, leaders, roles);
}

main().then(() => process.exit(0), (err: Error) => {
  progress(`bench/parallel: ${err.stack ?? err.message}`);
  process.exit(1);
});
