// `npm run bench:tabs`: browser tabs as follower-readers, in headless Chromium, against a real
// 3-peer cluster from the CLI (fsync on, --tick-ms 50) on loopback:
//   catch-up   a cluster holding --entries (100,000) entries of 256-byte values, all still in its
//              log: a fresh tab joins; entries/s into IndexedDB and the time to its first
//              linearizable read (median of --runs fresh tabs)
//   snapshot   the same, but the leader compacted its log: the tab gets a snapshot first
//   reads      linearizable follower reads from a caught-up tab, one at a time: p50 and p99
//   writes     the voters' write throughput (--writers 256 SDK writers in a child process,
//              --seconds each) with 0 tabs and with --tabs (10) tabs following, side by side:
//              tabs served by the leader, and tabs served by (relaying) followers; and the
//              leader's own cost per committed entry in each window: CPU microseconds (from
//              /proc), entries encoded and framed, bytes sent to peers and to tabs (its /metrics)
// Every ratio is the median of the per-run ratios of --runs interleaved runs, printed with its
// spread (lowest and highest run). The catch-up rate is compared with 8,700 entries/s, the figure
// before entries were written to IndexedDB in runs and tabs got a bytes window.
// On a machine with 2+ cores the writes phase pins the cluster and its writers to CPU 0 and
// Chromium to CPU 1 (taskset), for both windows: the ratio then shows what serving the tabs costs
// the cluster, not how ten renderers crowd a small machine (--shared measures that instead).
// Flags: --json --runs N --entries N --seconds S --tabs N --writers N --only catchup,snapshot,reads,writes --shared
//   --serve-from leader,follower (the writes phase measures tabs following the leader and tabs served by followers)
//   --learner-inflight N (the peers' flag; default theirs, 32)
//   --durability relaxed|strict (the tabs' IndexedDB; default relaxed, as joinAsFollower's)
// Progress goes to stderr; `--json` prints one JSON object as the last line.

import { fork, spawnSync, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { Page } from 'playwright-core';
import { connect } from '../src/client/node.ts';
import type { KvClient } from '../src/client/kv.ts';
import type { ReplicaStatus } from '../src/runtime-browser/follower.ts';
import { mintToken } from '../src/transport/token.ts';
import { Cluster } from '../test/e2e/cluster.ts';
import { chromiumVersion, evaluate, findChromium, launchBrowser, servePage, type LaunchedBrowser, type ServedPage } from '../test/browser/chromium.ts';
import { costBetween, memberPids, sampleCost, type CostSample, type LeaderCost } from './lib/leader-cost.ts';
import { machineBusyMs } from './lib/procs.ts';
import { fmt, machineLine, median, table } from './machine.ts';
import type { CatchUp } from './tabs-page.ts';

const valueBytes = 256;
/** Catch-up entries/s of a fresh tab before this benchmark's issue (docs/browser.md, 8,750 rounded). */
const catchUpBeforePerS = 8700;
const phases = ['catchup', 'snapshot', 'reads', 'writes'] as const;
type Phase = (typeof phases)[number];

// ---- the write-load child (forked from this same file) ----------------------------------------

interface WriterSpec {
  readonly peers: readonly string[];
  readonly token: string;
  readonly loops: number;
  readonly clients: number;
  readonly warmupMs: number;
  readonly measureMs: number;
}

interface WriterResult {
  readonly ops: number;
  readonly ms: number;
  readonly errors: number;
}

/** `loops` writers over `clients` SDK clients, each putting 256-byte values to 1,000 keys. */
async function writeLoad(spec: WriterSpec): Promise<WriterResult> {
  const clients = await Promise.all(Array.from({ length: spec.clients }, () => connect({ peers: spec.peers, token: spec.token, timeoutMs: 30_000 })));
  // Sessions registered and the leader found before the clock starts.
  await Promise.all(clients.map((kv, i) => kv.put(`w/${i}`, new Uint8Array(valueBytes))));
  const value = new Uint8Array(valueBytes).fill(0x77);
  let measuring = false;
  let running = true;
  let ops = 0;
  let errors = 0;
  const loop = async (kv: KvClient, i: number): Promise<void> => {
    for (let n = 0; running; n++) {
      try {
        await kv.put(`w/${(i * 7919 + n) % 1000}`, value);
        if (measuring) ops++;
      } catch {
        if (measuring) errors++;
      }
    }
  };
  const loops = Array.from({ length: spec.loops }, (_, i) => loop(clients[i % clients.length]!, i));
  await sleep(spec.warmupMs);
  measuring = true;
  const started = performance.now();
  await sleep(spec.measureMs);
  measuring = false;
  const ms = performance.now() - started;
  running = false;
  await Promise.all(loops);
  await Promise.all(clients.map((kv) => kv.close()));
  return { ops, ms, errors };
}

// ---- options ------------------------------------------------------------------------------------

function options() {
  const { values } = parseArgs({
    options: {
      json: { type: 'boolean' }, runs: { type: 'string' }, entries: { type: 'string' }, seconds: { type: 'string' },
      tabs: { type: 'string' }, writers: { type: 'string' }, only: { type: 'string' }, durability: { type: 'string' }, shared: { type: 'boolean' }, 'serve-from': { type: 'string' },
      'learner-inflight': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const int = (name: string, text: string | undefined, fallback: number, min: number): number => {
    const n = text === undefined ? fallback : Number(text);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min} (got '${text}')`);
    return n;
  };
  const only = (values.only ?? phases.join(',')).split(',') as Phase[];
  for (const p of only) if (!phases.includes(p)) throw new Error(`--only must list some of ${phases.join(', ')} (got '${p}')`);
  const sources = (values['serve-from'] ?? 'leader,follower').split(',');
  for (const x of sources) if (x !== 'leader' && x !== 'follower') throw new Error(`--serve-from must list leader and/or follower (got '${x}')`);
  const durability = values.durability ?? 'relaxed';
  if (durability !== 'relaxed' && durability !== 'strict') throw new Error(`--durability must be relaxed or strict (got '${durability}')`);
  return {
    help: values.help === true, json: values.json === true, runs: int('runs', values.runs, 3, 1), entries: int('entries', values.entries, 100_000, 1000),
    seconds: int('seconds', values.seconds, 3, 1), tabs: int('tabs', values.tabs, 10, 1), writers: int('writers', values.writers, 256, 1), only: new Set(only),
    durability, pin: values.shared !== true && cpus().length >= 2, sources,
    learnerInflight: values['learner-inflight'] === undefined ? null : int('learner-inflight', values['learner-inflight'], 32, 1),
  };
}

type Options = ReturnType<typeof options>;

const progress = (text: string): void => void process.stderr.write(`${text}\n`);

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function quantile(xs: readonly number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? Number.NaN;
}

// ---- clusters and tabs --------------------------------------------------------------------------

interface Bench {
  readonly o: Options;
  readonly browser: LaunchedBrowser;
  readonly served: ServedPage;
  subjects: number;
}

async function startCluster(o: Options, name: string, snapshotEntries: number, more: readonly string[] = []): Promise<Cluster> {
  const extraArgs = [...more, ...(o.learnerInflight !== null ? ['--learner-inflight', String(o.learnerInflight)] : [])];
  progress(`${name}: starting 3 peers (fsync on, --snapshot-entries ${snapshotEntries} ${extraArgs.join(' ')})...`);
  return Cluster.start({ size: 3, tickMs: 50, name: `bench-tabs-${name}`, snapshotEntries, extraArgs, logLevel: 'info', clientTimeoutMs: 60_000 });
}

/**
 * The machine is shared (other benchmarks, test clusters): before a throughput window, wait a
 * bounded time for it to calm down. Returns how busy it was (2 cores = 200%) when we went ahead.
 */
async function waitQuiet(maxWaitS = 60, busyPctMax = 40): Promise<number> {
  const deadline = Date.now() + maxWaitS * 1000;
  let said = false;
  for (;;) {
    const b0 = machineBusyMs();
    const t0 = performance.now();
    await sleep(1000);
    const pct = ((machineBusyMs() - b0) / (performance.now() - t0)) * 100;
    if (pct <= busyPctMax) return pct;
    if (Date.now() > deadline) {
      progress(`  the machine is still ${fmt(pct)}% busy: measuring anyway`);
      return pct;
    }
    if (!said) progress(`  the machine is ${fmt(pct)}% busy (others' processes?): waiting up to ${maxWaitS} s...`);
    said = true;
  }
}

/** Writes `n` entries of 256-byte values, each to a new key, with many writers at once. */
async function fill(c: Cluster, n: number): Promise<number> {
  const clients = await Promise.all(Array.from({ length: 4 }, () => c.client('client')));
  const value = new Uint8Array(valueBytes).fill(0x5a);
  const started = performance.now();
  let next = 0;
  let lastReport = 0;
  await Promise.all(Array.from({ length: 512 }, async (_, i) => {
    const kv = clients[i % clients.length]!;
    for (let k = next++; k < n; k = next++) {
      await kv.put(`f/${k}`, value);
      if (k - lastReport >= 20_000) {
        lastReport = k;
        progress(`  ${fmt(k)} / ${fmt(n)} entries written`);
      }
    }
  }));
  const s = (performance.now() - started) / 1000;
  progress(`  ${fmt(n)} entries in ${s.toFixed(1)} s (${fmt(n / s)} writes/s)`);
  const commit = (await c.status(await c.leader())).commit;
  return commit;
}

async function openTab(b: Bench): Promise<Page> {
  const page = await b.browser.newPage();
  await page.goto(b.served.url);
  await page.waitForFunction('globalThis.tabsBench !== undefined');
  await evaluate(page, `tabsBench.setDurability(${JSON.stringify(b.o.durability)})`);
  return page;
}

/** A token for a subject no tab used before: a fresh IndexedDB database, a fresh observer. */
async function freshToken(b: Bench, c: Cluster): Promise<string> {
  b.subjects += 1;
  return mintToken(c.secret, { role: 'reader', sub: `tab-${b.subjects}`, cluster: 'edgeraft', expMs: Date.now() + 24 * 3_600_000 });
}

const peersOf = (c: Cluster): string[] => c.ids.map((id) => c.url(id));

// ---- CPU pinning (writes phase) -----------------------------------------------------------------

/** This process's descendants, from the parent pids in /proc (no other process is touched). */
function descendants(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(name)]);
    } catch {
      // Gone meanwhile.
    }
  }
  const out: number[] = [];
  const walk = (pid: number): void => {
    for (const c of children.get(pid) ?? []) {
      out.push(c);
      walk(c);
    }
  };
  walk(root);
  return out;
}

function isChromium(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('chromium');
  } catch {
    return false;
  }
}

/** Chromium (every tab) on CPU 1; this process, the peers and the writers on CPU 0. */
function pinAll(): { chromium: number; others: number } {
  const pids = descendants(process.pid);
  const set = (pid: number, cpu: number): void => void spawnSync('taskset', ['-a', '-p', '-c', String(cpu), String(pid)], { stdio: 'ignore' });
  set(process.pid, 0);
  let chromium = 0;
  for (const pid of pids) {
    const c = isChromium(pid);
    set(pid, c ? 1 : 0);
    if (c) chromium++;
  }
  return { chromium, others: pids.length - chromium };
}

// ---- phases -------------------------------------------------------------------------------------

interface CatchUpFigures {
  readonly entriesPerS: number;
  readonly entriesPerSMin: number;
  readonly entriesPerSMax: number;
  /** Entries the tab received per entry it caught up: 1 when nothing is sent twice. */
  readonly fetchedPerEntry: number;
  /** Entries the leader sent to tabs per entry the tab caught up (its /metrics; null without them). */
  readonly leaderSentPerEntry: number | null;
  readonly firstReadMs: number;
  readonly caughtUpMs: number;
  readonly joinMs: number;
  readonly fetched: number;
  readonly snapshots: number;
}

/** --runs fresh tabs join `c` one after another and catch up; medians. */
async function catchUp(b: Bench, c: Cluster, label: string, stallMs: number): Promise<{ figures: CatchUpFigures; tab: Page } | { stalled: string }> {
  const runs: CatchUp[] = [];
  const leaderSent: number[] = [];
  let tab: Page | null = null;
  for (let r = 1; r <= b.o.runs; r++) {
    const leader = await c.leader();
    const target = (await c.status(leader)).commit;
    const m0 = await c.metrics(leader);
    if (tab !== null) {
      await evaluate(tab, 'tabsBench.close()');
      await tab.close();
    }
    tab = await openTab(b);
    const token = await freshToken(b, c);
    let run: CatchUp;
    try {
      run = await evaluate<CatchUp>(tab, `tabsBench.catchUp(${JSON.stringify(peersOf(c))}, ${JSON.stringify(token)}, ${target}, ${stallMs})`);
    } catch (err) {
      // The page's message ends with the replica's status as JSON: keep the sentence before it.
      const why = ((err as Error).message.split('\n')[0] ?? String(err)).replace(/^page\.evaluate: Error: /, '').replace(/: \{.*$/, '');
      progress(`  ${label}: run ${r}: ${why}`);
      await tab.close();
      return { stalled: why };
    }
    runs.push(run);
    const m1 = await c.metrics(leader);
    const sentKey = 'edgeraft_sent_entries_total{to="token_holders"}';
    if (m1.has(sentKey)) leaderSent.push(((m1.get(sentKey) ?? 0) - (m0.get(sentKey) ?? 0)) / run.status.applied);
    const st = run.status;
    progress(`  ${label}: run ${r}/${b.o.runs}: ${fmt(st.applied)} entries in ${fmt(run.caughtUpMs)} ms (${fmt(st.applied / (run.caughtUpMs / 1000))}/s), ` +
      `first linearizable read after ${fmt(run.firstReadMs)} ms, fetched ${fmt(st.fetchedEntries)} entries, ${st.fetchedSnapshots} snapshot(s)`);
  }
  const med = (f: (r: CatchUp) => number): number => median(runs.map(f));
  const rates = runs.map((r) => r.status.applied / (r.caughtUpMs / 1000));
  return {
    tab: tab!,
    figures: {
      entriesPerS: median(rates), entriesPerSMin: Math.min(...rates), entriesPerSMax: Math.max(...rates),
      fetchedPerEntry: med((r) => r.status.fetchedEntries / r.status.applied),
      leaderSentPerEntry: leaderSent.length === runs.length ? median(leaderSent) : null,
      firstReadMs: med((r) => r.firstReadMs), caughtUpMs: med((r) => r.caughtUpMs),
      joinMs: med((r) => r.joinMs), fetched: med((r) => r.status.fetchedEntries), snapshots: med((r) => r.status.fetchedSnapshots),
    },
  };
}

async function readLatency(tab: Page, n: number): Promise<{ p50Ms: number; p99Ms: number }> {
  await evaluate(tab, `tabsBench.readLatencies('f/1', 20)`);
  const xs = await evaluate<number[]>(tab, `tabsBench.readLatencies('f/1', ${n})`);
  return { p50Ms: quantile(xs, 0.5), p99Ms: quantile(xs, 0.99) };
}

/** The member to measure the cost of, found once per window (the leader, normally all run long). */
interface CostTarget {
  readonly id: string;
  readonly pids: readonly number[];
}

async function leaderTarget(c: Cluster): Promise<CostTarget> {
  const id = await c.leader();
  return { id, pids: memberPids(id) };
}

async function measureWrites(b: Bench, c: Cluster, token: string): Promise<{ opsPerS: number; errors: number; busyPct: number; cost: LeaderCost }> {
  const target = await leaderTarget(c);
  const sample = (): Promise<CostSample> => sampleCost(target.pids, () => c.metrics(target.id));
  const child: ChildProcess = fork(fileURLToPath(import.meta.url), ['--writer-child'], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  try {
    const answer = new Promise<WriterResult & { error?: string }>((resolve, reject) => {
      child.once('message', (m) => resolve(m as WriterResult & { error?: string }));
      child.once('exit', (code) => reject(new Error(`the writer child exited with code ${code}`)));
    });
    const warmupMs = 1000;
    const spec: WriterSpec = { peers: peersOf(c), token, loops: b.o.writers, clients: 4, warmupMs, measureMs: b.o.seconds * 1000 };
    child.send(spec);
    // Machine-wide CPU during the window (2 cores = 200%), to show what the tabs cost this machine.
    await sleep(warmupMs + 1500);
    const busy0 = machineBusyMs();
    const cost0 = await sample();
    const t0 = performance.now();
    await sleep(b.o.seconds * 1000 - 1000);
    const busyPct = ((machineBusyMs() - busy0) / (performance.now() - t0)) * 100;
    const cost = costBetween(cost0, await sample());
    const r = await answer;
    if (r.error !== undefined) throw new Error(`writer child: ${r.error}`);
    return { opsPerS: (r.ops * 1000) / r.ms, errors: r.errors, busyPct, cost };
  } finally {
    child.kill('SIGTERM');
  }
}

async function tabsFollowing(c: Cluster, tabs: readonly Page[]): Promise<void> {
  const commit = (await c.status(await c.leader())).commit;
  const deadline = Date.now() + 180_000;
  for (;;) {
    const sts = await Promise.all(tabs.map((t) => evaluate<ReplicaStatus>(t, 'tabsBench.status()')));
    if (sts.every((s) => s.state === 'following' && s.applied >= commit)) return;
    if (Date.now() > deadline) throw new Error(`tabs did not catch up to ${commit}: ${JSON.stringify(sts.map((s) => [s.state, s.applied, s.problem?.code]))}`);
    await sleep(200);
  }
}

/** The median of each figure over runs (null if a run lacked it). */
function medianCost(cs: readonly LeaderCost[]): LeaderCost {
  const m = (f: (c: LeaderCost) => number | null): number | null => {
    const xs = cs.map(f);
    return xs.some((x) => x === null) ? null : median(xs as number[]);
  };
  return {
    committed: median(cs.map((c) => c.committed)), cpuUsPerEntry: median(cs.map((c) => c.cpuUsPerEntry)),
    encodedPerEntry: m((c) => c.encodedPerEntry), framedPerEntry: m((c) => c.framedPerEntry), bytesPerEntry: m((c) => c.bytesPerEntry),
    peerBytesPerEntry: m((c) => c.peerBytesPerEntry), tabBytesPerEntry: m((c) => c.tabBytesPerEntry),
    tabEntriesPerEntry: m((c) => c.tabEntriesPerEntry), stalledProbes: m((c) => c.stalledProbes), highWaterDrops: m((c) => c.highWaterDrops),
  };
}

const opt = (x: number | null, digits: number): string => (x === null ? 'n/a' : fmt(x, digits));

/** One line of a leader's cost per committed entry. */
function costLine(c: LeaderCost): string {
  const parts = [`${fmt(c.cpuUsPerEntry, 1)} CPU us/entry`];
  if (c.encodedPerEntry !== null) {
    parts.push(`${opt(c.encodedPerEntry, 2)} encodes/entry`, `${opt(c.framedPerEntry, 2)} framed/entry`,
      `${opt(c.bytesPerEntry, 0)} B sent/entry (peers ${opt(c.peerBytesPerEntry, 0)}, tabs ${opt(c.tabBytesPerEntry, 0)})`,
      `${opt(c.tabEntriesPerEntry, 2)} tab entries/entry`, `${opt(c.stalledProbes, 0)} stalls`, `${opt(c.highWaterDrops, 0)} shed`);
  }
  return parts.join(', ');
}

interface WritesFigures {
  /** Median writes/s by window: '0' (no tab linked), 'leader' or 'follower' (the tabs' source). */
  readonly opsPerS: Record<string, number>;
  readonly busyPct: Record<string, number>;
  /** Median entries/s each tab applied during its windows. */
  readonly tabApplyPerS: Record<string, number>;
  /** Median over runs of (writes/s with the tabs) / (writes/s of that run's window without): adjacent windows, less drift. */
  readonly ratio: Record<string, number>;
  /** The lowest and highest per-run ratio. */
  readonly ratioSpread: Record<string, readonly [number, number]>;
  /** The leader's cost per committed entry by window: medians over runs of each figure. */
  readonly cost: Record<string, LeaderCost>;
  /** Median over runs of (leader CPU per entry with the tabs) / (without), and its spread. */
  readonly cpuRatio: Record<string, number>;
  readonly cpuRatioSpread: Record<string, readonly [number, number]>;
  /** Median over runs of the entries all tabs applied per entry the voters committed (tabs x 1 when they keep up). */
  readonly tabAppliedPerEntry: Record<string, number>;
  /** Median over runs of the leader's extra CPU per entry it sent a tab (its /metrics; absent without them). */
  readonly extraCpuPerTabEntry: Record<string, number>;
  readonly quietBusyPct: number;
  readonly errors: number;
}

/**
 * Alternating windows per run: no tab linked, then the tabs following the leader, then tabs served
 * by followers (two sets of tabs; the set not measured is paused, so it is not linked at all).
 */
async function writesWithTabs(b: Bench): Promise<WritesFigures> {
  const c = await startCluster(b.o, 'writes', 50_000);
  try {
    const token = await mintToken(c.secret, { role: 'client', sub: 'bench-writer', cluster: 'edgeraft', expMs: Date.now() + 24 * 3_600_000 });
    const sets: Record<string, Page[]> = {};
    for (const source of b.o.sources) {
      progress(`writes: ${b.o.tabs} tabs join, served by the ${source}...`);
      const tabs = await Promise.all(Array.from({ length: b.o.tabs }, () => openTab(b)));
      await Promise.all(tabs.map(async (t) => evaluate(t, `tabsBench.join(${JSON.stringify(peersOf(c))}, ${JSON.stringify(await freshToken(b, c))}, ${JSON.stringify(source)})`)));
      await tabsFollowing(c, tabs);
      await Promise.all(tabs.map((t) => evaluate(t, 'tabsBench.pause()')));
      sets[source] = tabs;
    }
    const ops: Record<string, number[]> = { '0': [] };
    const busy: Record<string, number[]> = { '0': [] };
    const rates: Record<string, number[]> = {};
    const ratios: Record<string, number[]> = {};
    const costs: Record<string, LeaderCost[]> = {};
    const cpuRatios: Record<string, number[]> = {};
    const tabApplied: Record<string, number[]> = {};
    const extraCpu: Record<string, number[]> = {};
    const quiet: number[] = [];
    let errors = 0;
    const settle = async (): Promise<void> => {
      if (b.o.pin) pinAll();
      quiet.push(await waitQuiet());
    };
    const window = async (key: string): Promise<{ opsPerS: number; cost: LeaderCost }> => {
      const w = await measureWrites(b, c, token);
      (ops[key] ??= []).push(w.opsPerS);
      (busy[key] ??= []).push(w.busyPct);
      (costs[key] ??= []).push(w.cost);
      errors += w.errors;
      return w;
    };
    for (let r = 1; r <= b.o.runs; r++) {
      await settle();
      const { opsPerS: zero, cost: zeroCost } = await window('0');
      progress(`  run ${r}/${b.o.runs}, 0 tabs: ${fmt(zero)} writes/s; leader ${costLine(zeroCost)}`);
      for (const [source, tabs] of Object.entries(sets)) {
        await Promise.all(tabs.map((t) => evaluate(t, 'tabsBench.resume()')));
        progress(`  ${b.o.tabs} tabs (served by the ${source}) catch up on what they missed...`);
        await tabsFollowing(c, tabs);
        await settle();
        const before = await Promise.all(tabs.map((t) => evaluate<ReplicaStatus>(t, 'tabsBench.status()')));
        const t0 = performance.now();
        const { opsPerS, cost } = await window(source);
        (cpuRatios[source] ??= []).push(cost.cpuUsPerEntry / zeroCost.cpuUsPerEntry);
        const after = await Promise.all(tabs.map((t) => evaluate<ReplicaStatus>(t, 'tabsBench.status()')));
        const rate = median(after.map((st, i) => (st.applied - before[i]!.applied) / ((performance.now() - t0) / 1000)));
        (rates[source] ??= []).push(rate);
        (ratios[source] ??= []).push(opsPerS / zero);
        (tabApplied[source] ??= []).push((rate * tabs.length) / opsPerS);
        if (cost.tabEntriesPerEntry !== null && cost.tabEntriesPerEntry > 0) {
          (extraCpu[source] ??= []).push((cost.cpuUsPerEntry - zeroCost.cpuUsPerEntry) / cost.tabEntriesPerEntry);
        }
        await Promise.all(tabs.map((t) => evaluate(t, 'tabsBench.pause()')));
        progress(`  run ${r}/${b.o.runs}, ${b.o.tabs} tabs served by the ${source}: ${fmt(opsPerS)} writes/s, ratio ${(opsPerS / zero).toFixed(2)}; each tab applied ${fmt(rate)} entries/s; leader ${costLine(cost)}`);
      }
    }
    for (const tabs of Object.values(sets)) {
      await Promise.all(tabs.map(async (t) => {
        await evaluate(t, 'tabsBench.close()');
        await t.close();
      }));
    }
    const med = (m: Record<string, number[]>): Record<string, number> => Object.fromEntries(Object.entries(m).map(([k, xs]) => [k, median(xs)]));
    const spread = (m: Record<string, number[]>): Record<string, readonly [number, number]> =>
      Object.fromEntries(Object.entries(m).map(([k, xs]) => [k, [Math.min(...xs), Math.max(...xs)] as const]));
    return {
      opsPerS: med(ops), busyPct: med(busy), tabApplyPerS: med(rates), ratio: med(ratios), ratioSpread: spread(ratios),
      cost: Object.fromEntries(Object.entries(costs).map(([k, cs]) => [k, medianCost(cs)])), cpuRatio: med(cpuRatios), cpuRatioSpread: spread(cpuRatios),
      tabAppliedPerEntry: med(tabApplied), extraCpuPerTabEntry: med(extraCpu),
      quietBusyPct: Math.max(...quiet), errors,
    };
  } finally {
    await c.close();
  }
}

/** The leader's cost per committed entry as JSON keys ending in `suffix` (units before it). */
function costJson(c: LeaderCost, suffix: string): Record<string, number> {
  const out: Record<string, number> = { [`leader_cpu_us_per_entry_${suffix}`]: Number(c.cpuUsPerEntry.toFixed(2)) };
  const put = (name: string, x: number | null, digits: number): void => {
    if (x !== null) out[`${name}_${suffix}`] = Number(x.toFixed(digits));
  };
  put('leader_encodes_per_entry', c.encodedPerEntry, 3);
  put('leader_framed_per_entry', c.framedPerEntry, 3);
  put('leader_bytes_sent_per_entry', c.bytesPerEntry, 0);
  put('leader_peer_bytes_per_entry', c.peerBytesPerEntry, 0);
  put('leader_tab_bytes_per_entry', c.tabBytesPerEntry, 0);
  put('leader_tab_entries_per_entry', c.tabEntriesPerEntry, 3);
  put('leader_stalled_probes', c.stalledProbes, 0);
  put('leader_shed_appends', c.highWaterDrops, 0);
  return out;
}

// ---- main ---------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const o = options();
  if (o.help) {
    process.stdout.write(`${(await import('node:fs')).readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n').filter((l) => l.startsWith('//')).join('\n')}\n`);
    return;
  }
  const executablePath = findChromium();
  if (executablePath === null) {
    console.log('skipped: no Chromium (apt-get install chromium)');
    if (o.json) console.log(JSON.stringify({ skipped: 'no Chromium' }));
    return;
  }
  const load0 = loadavg()[0] ?? 0;
  const served = await servePage({ bundleEntry: fileURLToPath(new URL('./tabs-page.ts', import.meta.url)), title: 'tabs bench' });
  const browser = await launchBrowser({ executablePath });
  const b: Bench = { o, browser, served, subjects: 0 };
  const json: Record<string, number | string> = {};
  const rows: string[][] = [];
  try {
    if (o.only.has('catchup') || o.only.has('reads')) {
      const c = await startCluster(o, 'log', 10 * o.entries);
      try {
        progress(`catch-up: writing ${fmt(o.entries)} entries...`);
        const commit = await fill(c, o.entries);
        json['log_entries'] = commit;
        const r = await catchUp(b, c, 'catch-up from the log', 30_000);
        if ('stalled' in r) throw new Error(`catch-up from the log stalled: ${r.stalled}`);
        const f = r.figures;
        Object.assign(json, {
          catchup_entries_per_s: Math.round(f.entriesPerS), catchup_entries_per_s_min: Math.round(f.entriesPerSMin), catchup_entries_per_s_max: Math.round(f.entriesPerSMax),
          catchup_speedup_vs_8700: Number((f.entriesPerS / catchUpBeforePerS).toFixed(2)),
          catchup_ms: Math.round(f.caughtUpMs), catchup_first_read_ms: Math.round(f.firstReadMs),
          catchup_join_ms: Math.round(f.joinMs), catchup_fetched_entries: f.fetched, catchup_fetched_per_entry: Number(f.fetchedPerEntry.toFixed(3)),
          ...(f.leaderSentPerEntry !== null ? { catchup_leader_sent_per_entry: Number(f.leaderSentPerEntry.toFixed(3)) } : {}),
        });
        rows.push(['catch-up from the log', `${fmt(f.entriesPerS)} entries/s`, `${fmt(commit)} entries in ${fmt(f.caughtUpMs / 1000, 1)} s (runs ${fmt(f.entriesPerSMin)}-${fmt(f.entriesPerSMax)}/s); ` +
          `${(f.entriesPerS / catchUpBeforePerS).toFixed(1)}x the ${fmt(catchUpBeforePerS)}/s before; first linearizable read after ${fmt(f.firstReadMs / 1000, 1)} s (join ${fmt(f.joinMs)} ms)`]);
        rows.push(['catch-up: entries sent per entry needed', `${f.fetchedPerEntry.toFixed(2)}x`,
          `received by the tab${f.leaderSentPerEntry !== null ? `; ${f.leaderSentPerEntry.toFixed(2)}x sent by the leader` : ''} (1.00 = nothing sent twice)`]);
        if (o.only.has('reads')) {
          progress('reads: linearizable follower reads from the caught-up tab...');
          const reads = await readLatency(r.tab, 500);
          Object.assign(json, { follower_read_p50_ms: Number(reads.p50Ms.toFixed(3)), follower_read_p99_ms: Number(reads.p99Ms.toFixed(3)) });
          rows.push(['linearizable follower read (idle cluster)', `p50 ${fmt(reads.p50Ms, 2)} ms`, `p99 ${fmt(reads.p99Ms, 2)} ms, 500 reads one at a time`]);
        }
        await evaluate(r.tab, 'tabsBench.close()');
        await r.tab.close();
      } finally {
        await c.close();
      }
    }
    if (o.only.has('snapshot')) {
      const c = await startCluster(o, 'snapshot', Math.max(1000, Math.floor(o.entries / 5)), ['--snapshot-retain', '1000']);
      try {
        progress(`snapshot: writing ${fmt(o.entries)} entries (the leader compacts every ${fmt(Math.floor(o.entries / 5))})...`);
        const commit = await fill(c, o.entries);
        const first = (await c.status(await c.leader())).firstIndex;
        if (first <= 1) throw new Error(`the leader did not compact its log (it starts at ${first}): no snapshot to measure`);
        progress(`  the leader's log starts at ${fmt(first)}: a fresh tab needs a snapshot`);
        const r = await catchUp(b, c, 'catch-up with a snapshot', 30_000);
        if ('stalled' in r) {
          json['snapshot_catchup'] = `stalled: ${r.stalled}`;
          rows.push(['catch-up with a snapshot', 'stalled', r.stalled.slice(0, 160)]);
        } else {
          const f = r.figures;
          Object.assign(json, {
            snapshot_catchup_entries_per_s: Math.round(f.entriesPerS), snapshot_catchup_ms: Math.round(f.caughtUpMs),
            snapshot_catchup_first_read_ms: Math.round(f.firstReadMs), snapshot_catchup_snapshots: f.snapshots,
          });
          rows.push(['catch-up with a snapshot', `${fmt(f.entriesPerS)} entries/s`, `${fmt(commit)} entries in ${fmt(f.caughtUpMs / 1000, 1)} s (${f.snapshots} snapshot); first linearizable read after ${fmt(f.firstReadMs / 1000, 1)} s`]);
          await evaluate(r.tab, 'tabsBench.close()');
          await r.tab.close();
        }
      } finally {
        await c.close();
      }
    }
    if (o.only.has('writes')) {
      const w = await writesWithTabs(b);
      const zero = w.opsPerS['0']!;
      Object.assign(json, {
        writes_0_tabs_per_s: Math.round(zero), machine_busy_0_tabs_pct: Math.round(w.busyPct['0']!),
        machine_busy_before_max_pct: Math.round(w.quietBusyPct), write_errors: w.errors, writes_cpu: o.pin ? 'pinned' : 'shared',
      });
      rows.push([`voters' writes, ${o.writers} writers, 0 tabs`, `${fmt(zero)} writes/s`, `machine ${fmt(w.busyPct['0']!)}% busy (of ${cpus().length * 100}%; at most ${fmt(w.quietBusyPct)}% before a window)`]);
      Object.assign(json, costJson(w.cost['0']!, '0_tabs'));
      rows.push(['leader cost per committed entry, 0 tabs', `${fmt(w.cost['0']!.cpuUsPerEntry, 1)} CPU us`, costLine(w.cost['0']!)]);
      for (const source of o.sources) {
        const n = w.opsPerS[source]!;
        const ratio = w.ratio[source]!;
        const [lo, hi] = w.ratioSpread[source]!;
        const key = `${o.tabs}_tabs_${source}`;
        // The issue's names are for tabs on the leader; tabs on followers carry the source.
        const costKey = source === 'leader' ? `${o.tabs}_tabs` : key;
        const cost = w.cost[source]!;
        const [cpuLo, cpuHi] = w.cpuRatioSpread[source]!;
        Object.assign(json, {
          [`writes_${key}_per_s`]: Math.round(n), [`writes_ratio_${key}_to_0`]: Number(ratio.toFixed(3)),
          [`writes_ratio_${costKey}_to_0`]: Number(ratio.toFixed(3)), [`writes_ratio_${costKey}_to_0_min`]: Number(lo.toFixed(3)), [`writes_ratio_${costKey}_to_0_max`]: Number(hi.toFixed(3)),
          [`tab_apply_${source}_entries_per_s`]: Math.round(w.tabApplyPerS[source]!), [`machine_busy_${key}_pct`]: Math.round(w.busyPct[source]!),
          ...costJson(cost, costKey),
          [`leader_cpu_ratio_${costKey}_to_0`]: Number(w.cpuRatio[source]!.toFixed(3)),
          [`leader_cpu_ratio_${costKey}_to_0_min`]: Number(cpuLo.toFixed(3)), [`leader_cpu_ratio_${costKey}_to_0_max`]: Number(cpuHi.toFixed(3)),
          [`tab_applied_per_entry_${costKey}`]: Number(w.tabAppliedPerEntry[source]!.toFixed(3)),
          ...(w.extraCpuPerTabEntry[source] !== undefined ? { [`leader_extra_cpu_us_per_tab_entry_${costKey}`]: Number(w.extraCpuPerTabEntry[source]!.toFixed(3)) } : {}),
        });
        rows.push([`voters' writes, ${o.writers} writers, ${o.tabs} tabs served by the ${source}`, `${fmt(n)} writes/s`,
          `ratio ${ratio.toFixed(2)} (median of per-run ratios, runs ${lo.toFixed(2)}-${hi.toFixed(2)}; target >= 0.90); each tab applied ${fmt(w.tabApplyPerS[source]!)} entries/s; machine ${fmt(w.busyPct[source]!)}% busy`]);
        rows.push([`leader cost per committed entry, ${o.tabs} tabs served by the ${source}`, `${fmt(cost.cpuUsPerEntry, 1)} CPU us`,
          `${costLine(cost)}; CPU ratio to 0 tabs ${w.cpuRatio[source]!.toFixed(2)} (runs ${cpuLo.toFixed(2)}-${cpuHi.toFixed(2)}); ` +
          `the tabs applied ${w.tabAppliedPerEntry[source]!.toFixed(2)} entries per entry committed` +
          (w.extraCpuPerTabEntry[source] !== undefined ? `, ${w.extraCpuPerTabEntry[source]!.toFixed(2)} leader CPU us more per entry sent to a tab` : '')]);
      }
    }
  } finally {
    await browser.close();
    await served.close();
  }
  const chromium = chromiumVersion(executablePath);
  console.log(`browser tabs as follower-readers: 3 peers (fsync on, --tick-ms 50${o.learnerInflight !== null ? `, --learner-inflight ${o.learnerInflight}` : ''}), ${valueBytes}-byte values, tabs' IndexedDB ${o.durability}, median of ${o.runs} runs`);
  console.log(`machine: ${machineLine()}; ${chromium} headless; load average ${load0.toFixed(1)} before, ${(loadavg()[0] ?? 0).toFixed(1)} after\n`);
  console.log(table(['what', 'figure', 'detail'], rows));
  if (o.only.has('writes')) {
    console.log(o.pin
      ? '\nwrites: peers and writers pinned to CPU 0, Chromium to CPU 1 (taskset) in both windows; 0 tabs = the tabs paused (links closed)'
      : '\nwrites: everything shares the machine (--shared); 0 tabs = the tabs paused (links closed)');
  }
  if (o.json) console.log(JSON.stringify({ cpu: cpus()[0]?.model.trim() ?? 'unknown', cores: cpus().length, node: process.version, chromium, runs: o.runs, value_bytes: valueBytes, durability: o.durability, learner_inflight: o.learnerInflight ?? 32, ...json }));
}

// This file is also the write-load child: the constants above must exist before either runs.
if (process.argv.includes('--writer-child')) {
  process.once('message', (spec: WriterSpec) => {
    void writeLoad(spec).then((r) => process.send?.(r), (err: Error) => process.send?.({ error: err.stack ?? err.message }));
  });
  process.on('disconnect', () => process.exit(0));
} else {
  await main();
}
