// `npm run bench:tls`: what TLS costs. The same local 3-peer cluster (the built CLI, fsync on) is
// run plain (ws://) and with TLS (wss:// between peers and to every client, dev certificates from
// `edgeraft cert --dev`), the two interleaved over --runs runs (plain first in odd runs, TLS first
// in even ones, so drift on a shared machine hits both alike), each run a fresh cluster. The load
// is --clients independent SDK clients (each its own connection, session and TLS handshake) in
// --procs load processes (bench/cluster-load.ts), one write loop per client, 256-byte values:
// writes/s and p50/p99 latency per run, the median over the runs, and the ratios tls/plain.
//   npm run bench:tls [-- --quick] [--json] [--doc] [--runs 5] [--seconds 5] [--warmup 2] [--clients 64] [--procs 2]
//   --quick: 1 run of 2 s (a smoke test); --json: one JSON object as the last line of stdout;
//   --doc: write docs/tls-bench.md (with the machine section).
// Progress goes to stderr.

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { writeDevCertificates } from '../src/runtime-node/cli-cert.ts';
import { ensureSecretFile, LocalCluster, type LocalTls } from '../src/runtime-node/local-cluster.ts';
import { mintToken } from '../src/transport/token.ts';
import { startBenchRun } from './lib/bench-run.ts';
import { Histogram } from './lib/histogram.ts';
import { machineInfo, machineSection } from './lib/machine-info.ts';
import { LoadChild, share } from './lib/measure.ts';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const cliPath = join(repo, 'dist/node/cli.js');
const loadScript = join(repo, 'bench/cluster-load.ts');
const valueBytes = 256;
const keyCount = 1000;
type Mode = 'plain' | 'tls';

const { values: flags } = parseArgs({
  args: process.argv.slice(2), strict: true,
  options: {
    quick: { type: 'boolean' }, json: { type: 'boolean' }, doc: { type: 'boolean' }, runs: { type: 'string' }, seconds: { type: 'string' },
    warmup: { type: 'string' }, clients: { type: 'string' }, procs: { type: 'string' }, help: { type: 'boolean' },
  },
});
if (flags.help === true) {
  const lines = readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n');
  process.stdout.write(`${lines.slice(0, lines.findIndex((l) => !l.startsWith('//'))).join('\n')}\n`);
  process.exit(0);
}
function count(text: string | undefined, name: string, fallback: number, min: number, max: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isFinite(n) || n < min || n > max) {
    process.stderr.write(`bench/tls: --${name} must be a number in [${min}, ${max}] (got '${text}')\n`);
    process.exit(2);
  }
  return n;
}
const quick = flags.quick === true;
const opts = {
  runs: count(flags.runs, 'runs', quick ? 1 : 5, 1, 50),
  seconds: count(flags.seconds, 'seconds', quick ? 2 : 5, 0.5, 600),
  warmup: count(flags.warmup, 'warmup', quick ? 1 : 2, 0, 600),
  clients: Math.round(count(flags.clients, 'clients', quick ? 16 : 64, 1, 4096)),
  procs: Math.round(count(flags.procs, 'procs', 2, 1, 16)),
};

interface RunResult {
  readonly mode: Mode;
  readonly run: number;
  readonly writesPerS: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly errors: number;
}

const bench = startBenchRun('tls');
const certs = writeDevCertificates(join(bench.dir, 'certs'), { hosts: ['127.0.0.1', 'localhost'] });
const tls: LocalTls = { certFile: certs.certFile, keyFile: certs.keyFile, caFile: certs.caFile };
const ca = readFileSync(certs.caFile, 'utf8');

/** One fresh cluster in `mode` under the write load; its figures. */
async function measure(mode: Mode, run: number, gens: readonly LoadChild[]): Promise<RunResult> {
  const dir = join(bench.dir, `${mode}-${run}`);
  mkdirSync(dir, { recursive: true });
  const cluster = await LocalCluster.create({
    size: 3, dir, cli: cliPath, args: ['--log-level', 'info'], logFiles: true, ...(mode === 'tls' ? { tls } : {}),
  });
  try {
    const { secret } = ensureSecretFile(cluster.secretFile);
    await cluster.startAll();
    const leader = await cluster.leader();
    const peers = [leader, ...cluster.ids.filter((id) => id !== leader)].map((id) => cluster.url(id));
    const token = await mintToken(secret, { role: 'client', sub: 'bench-tls', cluster: 'edgeraft', expMs: Date.now() + 3_600_000 });
    await Promise.all(gens.map((g, i) => g.ask({
      type: 'prepare', op: 'write', writeShare: 1, loops: share(opts.clients, gens.length, i),
      clientPeers: Array.from({ length: share(opts.clients, gens.length, i) }, () => peers), token, consistency: 'linearizable',
      valueBytes, keyPrefix: `k/${i}/`, keyCount, newKeys: false, seed: run * 100 + i, connectConcurrency: 8,
      ...(mode === 'tls' ? { ca } : {}),
    }, 'prepared')));
    const results = await Promise.all(gens.map((g) => g.ask({ type: 'go', warmupMs: opts.warmup * 1000, measureMs: opts.seconds * 1000 }, 'result')));
    await Promise.all(gens.map((g) => g.ask({ type: 'release' }, 'released')));
    const hist = new Histogram();
    for (const r of results) hist.merge(r.histogram);
    const ops = results.reduce((n, r) => n + r.ops, 0);
    const measuredMs = Math.max(...results.map((r) => r.measuredMs));
    return {
      mode, run, writesPerS: (ops * 1000) / measuredMs, p50Ms: hist.quantileMs(0.5), p99Ms: hist.quantileMs(0.99),
      errors: results.reduce((n, r) => n + r.errors, 0),
    };
  } finally {
    await cluster.close();
  }
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

interface Summary {
  readonly writes_per_s_plain: number;
  readonly writes_per_s_tls: number;
  readonly ratio_writes: number;
  readonly p50_ms_plain: number;
  readonly p50_ms_tls: number;
  readonly ratio_p50: number;
  readonly p99_ms_plain: number;
  readonly p99_ms_tls: number;
  readonly ratio_p99: number;
}

function summarize(rs: readonly RunResult[]): Summary {
  const of = (mode: Mode, f: (r: RunResult) => number) => median(rs.filter((r) => r.mode === mode).map(f));
  const w = { plain: of('plain', (r) => r.writesPerS), tls: of('tls', (r) => r.writesPerS) };
  const p50 = { plain: of('plain', (r) => r.p50Ms), tls: of('tls', (r) => r.p50Ms) };
  const p99 = { plain: of('plain', (r) => r.p99Ms), tls: of('tls', (r) => r.p99Ms) };
  return {
    writes_per_s_plain: w.plain, writes_per_s_tls: w.tls, ratio_writes: w.tls / w.plain,
    p50_ms_plain: p50.plain, p50_ms_tls: p50.tls, ratio_p50: p50.tls / p50.plain,
    p99_ms_plain: p99.plain, p99_ms_tls: p99.tls, ratio_p99: p99.tls / p99.plain,
  };
}

const f1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : '-');
const f2 = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : '-');

function table(rs: readonly RunResult[], s: Summary): string[] {
  const lines = ['| run | mode | writes/s | p50 ms | p99 ms | errors |', '|---|---|---:|---:|---:|---:|'];
  for (const r of rs) lines.push(`| ${r.run} | ${r.mode} | ${Math.round(r.writesPerS)} | ${f2(r.p50Ms)} | ${f2(r.p99Ms)} | ${r.errors} |`);
  lines.push('', '| median | plain | TLS | TLS / plain |', '|---|---:|---:|---:|');
  lines.push(`| writes/s | ${Math.round(s.writes_per_s_plain)} | ${Math.round(s.writes_per_s_tls)} | ${f2(s.ratio_writes)} |`);
  lines.push(`| p50 ms | ${f2(s.p50_ms_plain)} | ${f2(s.p50_ms_tls)} | ${f2(s.ratio_p50)} |`);
  lines.push(`| p99 ms | ${f2(s.p99_ms_plain)} | ${f2(s.p99_ms_tls)} | ${f2(s.ratio_p99)} |`);
  return lines;
}

function doc(rs: readonly RunResult[], s: Summary): string {
  return [
    '# The cost of TLS', '',
    '<!-- Generated by `npm run bench:tls -- --doc` (bench/tls.ts); do not edit by hand. -->', '',
    `A local 3-peer cluster (the built CLI, fdatasync on, one machine) run plain (ws://) and with TLS (wss:// between the peers and to`,
    `every client; an ECDSA P-256 certificate from \`edgeraft cert --dev\`), interleaved over ${opts.runs} runs, each run a fresh cluster.`,
    `Load: ${opts.clients} independent SDK clients (each its own connection, session and TLS handshake) in ${opts.procs} load processes,`,
    `one write loop each, ${valueBytes}-byte values over ${keyCount} keys per process; ${opts.warmup} s of warm-up, then ${opts.seconds} s measured.`,
    'Medians over the runs; the ratio is TLS over plain (writes/s below 1 and latency above 1 are what TLS costs).', '',
    ...table(rs, s), '',
    ...machineSection(machineInfo(repo)), '',
  ].join('\n');
}

bench.progress(`bench:tls: ${opts.runs} run(s) x plain and TLS, ${opts.clients} clients in ${opts.procs} processes, ${opts.warmup} s warm-up + ${opts.seconds} s each`);
const gens = Array.from({ length: opts.procs }, (_, i) => new LoadChild(`load-${i}`, loadScript, bench.group));
await Promise.all(gens.map((g) => g.ask(null, 'ready')));
const results: RunResult[] = [];
for (let run = 1; run <= opts.runs; run++) {
  const order: Mode[] = run % 2 === 1 ? ['plain', 'tls'] : ['tls', 'plain'];
  for (const mode of order) {
    const r = await measure(mode, run, gens);
    results.push(r);
    bench.progress(`[${bench.elapsed()}] run ${run} ${mode}: ${Math.round(r.writesPerS)} writes/s, p50 ${f2(r.p50Ms)} ms, p99 ${f2(r.p99Ms)} ms${r.errors > 0 ? `, ${r.errors} errors` : ''}`);
  }
}
for (const g of gens) g.child.send({ type: 'exit' });
const summary = summarize(results);
process.stdout.write(`${table(results, summary).join('\n')}\n`);
process.stdout.write(`TLS costs ${f1((1 - summary.ratio_writes) * 100)}% of writes/s; p50 x${f2(summary.ratio_p50)}, p99 x${f2(summary.ratio_p99)}\n`);
if (flags.doc === true) {
  const path = join(repo, 'docs/tls-bench.md');
  writeFileSync(path, doc(results, summary));
  bench.progress(`wrote ${path}`);
}
if (flags.json === true) process.stdout.write(`${JSON.stringify({ ...summary, runs: results, options: opts })}\n`);
process.exit(0);
