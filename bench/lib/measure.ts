// Measures one load point on a cluster (edgeraft or etcd, through the BenchCluster interface):
// forked load generators of the system's kind, a warm-up, a measured window with CPU and fsync
// counters around it, merged histograms; then the median of several runs. Both systems go through
// this same code, so their figures have one shape.

import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { mixedWriteShare, type Point, type Shape, type System } from './compare.ts';
import type { WindowUs } from './cpuprofile.ts';
import { Histogram } from './histogram.ts';
import type { FromLoad, LoadResult, PrepareLoad, ToLoad } from './load-protocol.ts';
import { cpuMs, machineBusyMs, sleep, type ProcessGroup } from './procs.ts';
import { median } from '../machine.ts';

/** What measure.ts needs from a running cluster. */
export interface BenchCluster {
  readonly system: System;
  readonly members: number;
  /** The load generator to fork for it (bench/cluster-load.ts or bench/etcd-load.ts). */
  readonly loadScript: string;
  readonly token: string;
  /** The leader's process first, then the followers'. */
  processes(): ChildProcess[];
  /** The member lists of generator `gi`'s `k` clients. */
  clientPeers(point: Point, gi: number, k: number): string[][];
  /** The leader's counters of log entries, fsyncs and ms spent in them so far. */
  syncSample(): Promise<SyncSample>;
  /** Waits for an agreed leader after a run; true when it is not the one before. */
  recheckLeader(): Promise<boolean>;
}

export interface SyncSample {
  readonly entries: number;
  readonly syncs: number;
  readonly syncMs: number;
  /** Bytes of entry payloads made durable. */
  readonly bytes: number;
  /** The persist-duration histogram: [upper bound in ms, cumulative count], ascending. */
  readonly buckets: ReadonlyArray<readonly [number, number]>;
}

/** A Prometheus histogram's cumulative buckets out of a scraped /metrics map, bounds times `scale`. */
export function histogramBuckets(m: ReadonlyMap<string, number>, name: string, scale = 1): Array<readonly [number, number]> {
  const out: Array<readonly [number, number]> = [];
  const re = new RegExp(`^${name}_bucket\\{.*le="([^"]+)".*\\}$`);
  for (const [k, v] of m) {
    const le = re.exec(k)?.[1];
    if (le !== undefined) out.push([le === '+Inf' ? Infinity : Number(le) * scale, v]);
  }
  return out.sort((a, b) => a[0] - b[0]);
}

/** The p-quantile of the samples two cumulative histograms differ by, interpolated inside its bucket. */
export function bucketQuantile(b0: SyncSample['buckets'], b1: SyncSample['buckets'], q: number): number {
  const counts = b1.map(([le, c], i) => [le, c - (b0[i]?.[1] ?? 0)] as const);
  const total = counts[counts.length - 1]?.[1] ?? 0;
  if (total <= 0) return Number.NaN;
  const want = q * total;
  let lo = 0;
  let below = 0;
  for (const [le, c] of counts) {
    if (c >= want) return Number.isFinite(le) ? lo + ((want - below) / Math.max(1, c - below)) * (le - lo) : lo;
    lo = le;
    below = c;
  }
  return lo;
}

export interface RunFigures {
  readonly opsPerS: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly errors: number;
  readonly errorCodes: Record<string, number>;
  readonly paths: Record<string, number>;
  readonly servedBy: Record<string, number>;
  /** Percent of one core over the measured window. */
  readonly generatorCpuPct: number;
  readonly leaderCpuPct: number;
  readonly followerCpuPct: number;
  /** Writes and mixed loads, from the leader's /metrics: entries per save, mean and p50 ms per save, bytes per save. */
  readonly entriesPerSync: number;
  readonly persistMs: number;
  readonly persistP50Ms: number;
  readonly bytesPerSync: number;
  readonly leaderChanged: boolean;
  /** CPU other processes on the machine used during the window, in percent of one core. */
  readonly otherCpuPct: number;
  /** CPU microseconds per operation: what each op costs the leader and the load generators. */
  readonly leaderUsPerOp: number;
  readonly generatorUsPerOp: number;
  /** The followers' mean. */
  readonly followerUsPerOp: number;
  /** Raw write + fdatasync p50 of bytesPerSync in as many processes, right after the run (NaN: not probed). */
  readonly rawSyncP50Ms: number;
}

export interface PointFigures extends RunFigures {
  /** The lowest and highest ops/s of the runs (the figures are their medians). */
  readonly opsMin: number;
  readonly opsMax: number;
  readonly procs: number;
  readonly clientsPerProc: number;
  readonly runs: number;
}

export interface MeasureOptions {
  readonly warmupS: number;
  readonly seconds: number;
  readonly keyCount: number;
  /** Longest wait, per run, for other processes to leave the cores alone. */
  readonly quietWaitS: number;
  /** Longest wait for that over the whole benchmark, so a busy machine cannot stretch it without end. */
  readonly quietBudgetS: number;
  /** Forced generator processes per load and SDK clients (or etcd agents) per process. */
  readonly procs: number | null;
  readonly clients: number | null;
  readonly profileDir: string | null;
  readonly extraNodeArgs: readonly string[];
}

/** Other processes may use this much of one core before a run waits for the machine to calm down. */
const otherCpuPctMax = 25;

/** A forked load-generator process, asked one message at a time (also used by parallel-load.ts). */
export class LoadChild {
  readonly child: ChildProcess;
  #waiting: ((m: FromLoad) => void) | null = null;

  constructor(readonly name: string, script: string, readonly group: ProcessGroup, nodeArgs: readonly string[] = []) {
    this.child = fork(script, [], { execArgv: ['--import', 'tsx', ...nodeArgs], stdio: ['ignore', 'inherit', 'inherit', 'ipc'], detached: true });
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
    const m = await Promise.race([answer, this.group.crashed]);
    if (m.type === 'failed') throw new Error(`${this.name}: ${m.message}`);
    if (m.type !== expect) throw new Error(`${this.name} answered ${m.type}, expected ${expect}`);
    return m as Extract<FromLoad, { type: T }>;
  }
}

/** Part `i` of `total` split as evenly as possible into `parts`. */
export function share(total: number, parts: number, i: number): number {
  return Math.floor(total / parts) + (i < total % parts ? 1 : 0);
}

export class Measurer {
  readonly #o: MeasureOptions;
  readonly #group: ProcessGroup;
  readonly #progress: (text: string) => void;
  /** Generator processes by load script, started on first use and reused. */
  readonly #pools = new Map<string, LoadChild[]>();
  #quietLeftMs: number;
  /** Seeds each load's key choice: distinct per load, the same every invocation. */
  #seeds = 0;
  /** Measured windows on the monotonic clock, to read CPU profiles for them only. */
  readonly windows: WindowUs[] = [];

  constructor(o: MeasureOptions, group: ProcessGroup, progress: (text: string) => void) {
    this.#o = o;
    this.#group = group;
    this.#progress = progress;
    this.#quietLeftMs = o.quietBudgetS * 1000;
  }

  /**
   * How a load of `concurrency` loops spreads over processes and clients: independent, a client
   * per loop over up to 4 processes; multiplexed, up to 4 clients per process carrying the loops.
   */
  layout(concurrency: number, shape: Shape): { procs: number; clientsPerProc: number } {
    if (shape === 'independent') {
      const procs = Math.min(concurrency, this.#o.procs ?? (concurrency >= 64 ? 4 : concurrency >= 16 ? 2 : 1));
      return { procs, clientsPerProc: Math.ceil(concurrency / procs) };
    }
    const procs = Math.min(concurrency, this.#o.procs ?? (concurrency >= 64 ? 2 : 1));
    const perProc = Math.ceil(concurrency / procs);
    return { procs, clientsPerProc: Math.min(perProc, this.#o.clients ?? (perProc >= 16 ? 4 : 1)) };
  }

  /** The first `n` generator processes of `script` (forked on first use, then reused by every load). */
  async generators(script: string, system: System, n: number): Promise<LoadChild[]> {
    const pool = this.#pools.get(script) ?? [];
    this.#pools.set(script, pool);
    while (pool.length < n) {
      const name = `gen-${system}-${pool.length + 1}`;
      const prof = this.#o.profileDir !== null ? ['--cpu-prof', '--cpu-prof-dir', join(this.#o.profileDir, name)] : [];
      const g = new LoadChild(name, script, this.#group, [...prof, ...this.#o.extraNodeArgs]);
      pool.push(g);
      await g.ask(null, 'ready');
    }
    return pool.slice(0, n);
  }

  /** Asks every generator to exit (so --cpu-prof can write its profile) and waits for them. */
  async stopGenerators(): Promise<void> {
    const all = [...this.#pools.values()].flat();
    this.#pools.clear();
    await Promise.all(all.map(async (g) => {
      if (g.child.connected) g.child.send({ type: 'exit' } satisfies ToLoad);
      await this.#group.release(g.child, 5000);
    }));
  }

  /** CPU used by everything on the machine that this benchmark did not start, in ms so far. */
  otherCpuMs(): number {
    const own = process.cpuUsage();
    const ours = this.#group.children().reduce((s, c) => s + (c.pid !== undefined ? cpuMs(c.pid) ?? 0 : 0), 0);
    return machineBusyMs() - ours - (own.user + own.system) / 1000;
  }

  /**
   * Other processes share this machine (other benchmarks, test clusters): wait, within bounds,
   * until they leave the cores alone, so the run measures the clusters and not them.
   */
  async waitQuiet(): Promise<void> {
    if (this.#o.quietWaitS <= 0 || this.#quietLeftMs <= 0) return;
    const deadline = Date.now() + Math.min(this.#o.quietWaitS * 1000, this.#quietLeftMs);
    let said = false;
    for (;;) {
      const o0 = this.otherCpuMs();
      const t0 = Date.now();
      await Promise.race([sleep(1000), this.#group.crashed]);
      const pct = (this.otherCpuMs() - o0) / 10;
      if (pct <= otherCpuPctMax) return;
      // Every second spent on a busy machine counts, so the budget does run out.
      this.#quietLeftMs -= Date.now() - t0;
      if (this.#quietLeftMs <= 0) {
        this.#progress(`  other processes use ${Math.round(pct)}% of a core and the ${this.#o.quietBudgetS} s budget (--quiet-budget) for waiting ` +
          'is spent: measuring from now on without waiting (see the "other" CPU column)');
        return;
      }
      if (Date.now() >= deadline) {
        this.#progress(`  other processes still use ${Math.round(pct)}% of a core: measuring anyway (see the "other" CPU column)`);
        return;
      }
      if (!said) this.#progress(`  other processes use ${Math.round(pct)}% of a core: waiting up to ${Math.round(Math.min(this.#o.quietWaitS * 1000, this.#quietLeftMs) / 1000)} s for them to finish...`);
      said = true;
    }
  }

  async #prepare(cluster: BenchCluster, point: Point): Promise<{ gens: LoadChild[]; procs: number; clientsPerProc: number }> {
    const { procs, clientsPerProc } = this.layout(point.concurrency, point.shape);
    const gens = await this.generators(cluster.loadScript, cluster.system, procs);
    await Promise.all(gens.map((g, gi) => {
      const loops = share(point.concurrency, procs, gi);
      const spec: PrepareLoad = {
        type: 'prepare', op: point.op, writeShare: mixedWriteShare, loops, token: cluster.token, consistency: point.consistency,
        valueBytes: point.valueBytes, clientPeers: cluster.clientPeers(point, gi, Math.min(clientsPerProc, loops)),
        keyPrefix: 'k/', keyCount: this.#o.keyCount, newKeys: point.newKeys, seed: ++this.#seeds,
      };
      return g.ask(spec, 'prepared');
    }));
    return { gens, procs, clientsPerProc };
  }

  /**
   * Connects the point's clients (each does its one operation) and leaves them idle, to measure
   * what idle connections cost the members; resolves with a function that closes them.
   */
  async hold(cluster: BenchCluster, point: Point): Promise<() => Promise<void>> {
    const { gens } = await this.#prepare(cluster, point);
    return async () => {
      await Promise.all(gens.map((g) => g.ask({ type: 'release' }, 'released')));
    };
  }

  /** One run of one load point. */
  async once(cluster: BenchCluster, point: Point): Promise<RunFigures & { procs: number; clientsPerProc: number }> {
    if (this.#o.quietWaitS > 0 && this.#quietLeftMs > 0) await this.waitQuiet();
    const { gens, procs, clientsPerProc } = await this.#prepare(cluster, point);
    const watched = [...cluster.processes(), ...gens.map((g) => g.child)];
    const members = cluster.members;
    const writes = point.op !== 'read';
    const s0 = writes ? await cluster.syncSample() : null;
    const warmupMs = this.#o.warmupS * 1000;
    const measureMs = this.#o.seconds * 1000;
    const answers = Promise.all(gens.map((g) => g.ask({ type: 'go', warmupMs, measureMs }, 'result')));
    answers.catch(() => {});
    await Promise.race([sleep(warmupMs), this.#group.crashed]);
    const cpu = () => watched.map((c) => (c.pid !== undefined ? cpuMs(c.pid) ?? 0 : 0));
    const c0 = cpu();
    const o0 = this.otherCpuMs();
    const t0 = performance.now();
    const w0 = Number(process.hrtime.bigint() / 1000n);
    await Promise.race([sleep(measureMs), this.#group.crashed]);
    const c1 = cpu();
    const o1 = this.otherCpuMs();
    this.windows.push([w0, Number(process.hrtime.bigint() / 1000n)]);
    const windowMs = performance.now() - t0;
    const results: LoadResult[] = await answers;
    const s1 = writes ? await cluster.syncSample() : null;
    const pct = (i: number) => ((c1[i]! - c0[i]!) / windowMs) * 100;
    const hist = new Histogram();
    const errorCodes: Record<string, number> = {};
    const paths: Record<string, number> = {};
    const servedBy: Record<string, number> = {};
    for (const r of results) {
      hist.merge(r.histogram);
      addInto(errorCodes, r.errorCodes);
      addInto(paths, r.paths);
      addInto(servedBy, r.servedBy);
    }
    const leaderChanged = await cluster.recheckLeader();
    const syncs = s0 !== null && s1 !== null ? s1.syncs - s0.syncs : 0;
    const opsPerS = results.reduce((s, r) => s + (r.ops * 1000) / r.measuredMs, 0);
    const generatorCpuPct = gens.reduce((s, _, i) => s + pct(members + i), 0);
    const followers = Array.from({ length: members - 1 }, (_, i) => pct(1 + i));
    const followerCpuPct = followers.reduce((s, v) => s + v, 0) / Math.max(1, followers.length);
    return {
      opsPerS, leaderUsPerOp: (pct(0) * 1e4) / opsPerS, generatorUsPerOp: (generatorCpuPct * 1e4) / opsPerS, followerUsPerOp: (followerCpuPct * 1e4) / opsPerS,
      p50Ms: hist.quantileMs(0.5), p99Ms: hist.quantileMs(0.99),
      errors: results.reduce((s, r) => s + r.errors, 0), errorCodes, paths, servedBy,
      leaderCpuPct: pct(0), followerCpuPct, generatorCpuPct,
      entriesPerSync: syncs > 0 ? (s1!.entries - s0!.entries) / syncs : Number.NaN,
      persistMs: syncs > 0 ? (s1!.syncMs - s0!.syncMs) / syncs : Number.NaN,
      rawSyncP50Ms: Number.NaN,
      persistP50Ms: syncs > 0 ? bucketQuantile(s0!.buckets, s1!.buckets, 0.5) : Number.NaN,
      bytesPerSync: syncs > 0 ? (s1!.bytes - s0!.bytes) / syncs : Number.NaN,
      leaderChanged, procs, clientsPerProc, otherCpuPct: ((o1 - o0) / windowMs) * 100,
    };
  }
}

function addInto(into: Record<string, number>, from: Record<string, number>): void {
  for (const [k, v] of Object.entries(from)) into[k] = (into[k] ?? 0) + v;
}

/** The median of each figure over the runs (counts are summed). */
export function summarize(runs: ReadonlyArray<RunFigures & { procs: number; clientsPerProc: number }>): PointFigures {
  const med = (f: (r: RunFigures) => number) => median(runs.map(f).filter((v) => !Number.isNaN(v)));
  const total = (f: (r: RunFigures) => Record<string, number>) => {
    const out: Record<string, number> = {};
    for (const r of runs) addInto(out, f(r));
    return out;
  };
  return {
    opsPerS: med((r) => r.opsPerS), p50Ms: med((r) => r.p50Ms), p99Ms: med((r) => r.p99Ms),
    errors: runs.reduce((s, r) => s + r.errors, 0), errorCodes: total((r) => r.errorCodes), paths: total((r) => r.paths),
    servedBy: total((r) => r.servedBy), generatorCpuPct: med((r) => r.generatorCpuPct), leaderCpuPct: med((r) => r.leaderCpuPct),
    followerCpuPct: med((r) => r.followerCpuPct), entriesPerSync: med((r) => r.entriesPerSync), persistMs: med((r) => r.persistMs),
    persistP50Ms: med((r) => r.persistP50Ms), rawSyncP50Ms: med((r) => r.rawSyncP50Ms), bytesPerSync: med((r) => r.bytesPerSync), followerUsPerOp: med((r) => r.followerUsPerOp),
    opsMin: Math.min(...runs.map((r) => r.opsPerS)), opsMax: Math.max(...runs.map((r) => r.opsPerS)),
    leaderChanged: runs.some((r) => r.leaderChanged), otherCpuPct: med((r) => r.otherCpuPct),
    leaderUsPerOp: med((r) => r.leaderUsPerOp), generatorUsPerOp: med((r) => r.generatorUsPerOp),
    procs: runs[0]!.procs, clientsPerProc: runs[0]!.clientsPerProc, runs: runs.length,
  };
}
