// One measured run of `npm run bench:parallel`: forked load generators (bench/cluster-load.ts,
// the same as `npm run bench`), one group of SDK writers each, each group in a client region;
// the parent scrapes every peer's /metrics (and the emulator's link counters) right as the
// measured window opens and closes, so counters and latencies cover the same seconds.

import { Histogram } from './histogram.ts';
import type { LoadResult, PrepareLoad, ToLoad } from './load-protocol.ts';
import { bucketQuantile, histogramBuckets, LoadChild } from './measure.ts';
import type { NetEmulator, NetStats } from './net/emulator.ts';
import type { ModeCluster } from './parallel-cluster.ts';
import { cpuMs, machineBusyMs, sleep, type ProcessGroup } from './procs.ts';

/** One generator's share: its writers, over this many SDK clients, dialing from `region`. */
export interface WriteGroup {
  readonly region: number;
  readonly writers: number;
  /** SDK clients (client sessions); writers are spread round-robin over them. */
  readonly clients: number;
}

export interface WriteSpec {
  /** One per generator process, in the same order every run. */
  readonly groups: readonly WriteGroup[];
  readonly keyCount: number;
  readonly valueBytes: number;
  readonly warmupMs: number;
  readonly measureMs: number;
  readonly seed: number;
}

export interface RawRun {
  readonly writesPerS: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly p999Ms: number;
  readonly writes: number;
  /** Each group's latency histogram (Histogram counts), in spec order. */
  readonly groups: ReadonlyArray<{ readonly region: number; readonly histogram: number[] }>;
  /** The leader (index among the members) as the window opened, and its median fsync over the window. */
  readonly leaderIndex: number;
  readonly fsyncMs: number;
  /** The emulator's links and relays over the window (null without --net). */
  readonly net: NetStats | null;
  readonly errors: number;
  readonly errorCodes: Record<string, number>;
  /** Every member's /metrics at the window's start and end. */
  readonly metricsBefore: ReadonlyArray<ReadonlyMap<string, number>>;
  readonly metricsAfter: ReadonlyArray<ReadonlyMap<string, number>>;
  /** Percent of one core during the window. */
  readonly leaderCpuPct: number;
  readonly generatorCpuPct: number;
  readonly otherCpuPct: number;
  readonly leaderChanged: boolean;
  /** The measured window on the monotonic clock, in µs (to read CPU profiles for it). */
  readonly windowUs: readonly [number, number];
}

/** Other processes may use this much of one core before a run waits for the machine to calm down. */
const otherCpuPctMax = 25;

export class WriteLoad {
  readonly #script: string;
  readonly #group: ProcessGroup;
  readonly #progress: (text: string) => void;
  readonly #gens: LoadChild[] = [];
  /** Seconds left, over the whole benchmark, for waiting on a busy machine. */
  #quietLeftMs: number;

  constructor(script: string, group: ProcessGroup, progress: (text: string) => void, quietBudgetS: number) {
    this.#script = script;
    this.#group = group;
    this.#progress = progress;
    this.#quietLeftMs = quietBudgetS * 1000;
  }

  async #generators(n: number): Promise<LoadChild[]> {
    while (this.#gens.length < n) {
      const g = new LoadChild(`gen-${this.#gens.length + 1}`, this.#script, this.#group);
      this.#gens.push(g);
      await g.ask(null, 'ready');
    }
    return this.#gens.slice(0, n);
  }

  /** CPU used by everything on the machine that this benchmark did not start, in ms so far. */
  #otherCpuMs(): number {
    const own = process.cpuUsage();
    const ours = this.#group.children().reduce((s, c) => s + (c.pid !== undefined ? cpuMs(c.pid) ?? 0 : 0), 0);
    return machineBusyMs() - ours - (own.user + own.system) / 1000;
  }

  /** Waits (within the budget, at most 20 s per run) until other processes leave the cores alone. */
  async #waitQuiet(): Promise<void> {
    const deadline = Date.now() + Math.min(20_000, this.#quietLeftMs);
    let said = false;
    while (this.#quietLeftMs > 0) {
      const o0 = this.#otherCpuMs();
      const t0 = Date.now();
      await Promise.race([sleep(500), this.#group.crashed]);
      const pct = ((this.#otherCpuMs() - o0) / (Date.now() - t0)) * 100;
      if (pct <= otherCpuPctMax) return;
      this.#quietLeftMs -= Date.now() - t0;
      if (Date.now() >= deadline) {
        this.#progress(`  other processes use ${Math.round(pct)}% of a core: measuring anyway (see "other CPU")`);
        return;
      }
      if (!said) this.#progress(`  other processes use ${Math.round(pct)}% of a core: waiting for them...`);
      said = true;
    }
  }

  /**
   * One run: prepares every group (clients connected and their sessions open, outside the
   * window), runs them together, and reads the window. `net`: its link counters are reset as the
   * window opens and read as it closes.
   */
  async once(cluster: ModeCluster, spec: WriteSpec, net: NetEmulator | null): Promise<RawRun> {
    await this.#waitQuiet();
    const groups = spec.groups.filter((g) => g.writers > 0);
    if (groups.length === 0) throw new RangeError('a run needs at least one writer');
    const gens = await this.#generators(groups.length);
    // A member takes at most 16 handshakes at once (handshakesMax), and over the emulator each
    // takes round trips: the generators together stay under that.
    const connectConcurrency = Math.max(1, Math.floor(12 / groups.length));
    await Promise.all(gens.map(async (g, gi) => {
      const group = groups[gi]!;
      const plan = await cluster.clientPlan(group.region, Math.max(1, Math.min(group.writers, group.clients)));
      const prepare: PrepareLoad = {
        type: 'prepare', op: 'write', writeShare: 1, loops: group.writers, token: cluster.token, consistency: 'linearizable',
        valueBytes: spec.valueBytes, clientPeers: plan.clientPeers, keyPrefix: 'k/', keyCount: spec.keyCount, newKeys: false,
        seed: spec.seed * 16 + gi, connectConcurrency, ...(plan.dialMap !== undefined ? { dialMap: plan.dialMap } : {}),
      };
      return g.ask(prepare, 'prepared');
    }));
    const watched = [...cluster.processes(), ...gens.map((g) => g.child)];
    const answers = Promise.all(gens.map((g) => g.ask({ type: 'go', warmupMs: spec.warmupMs, measureMs: spec.measureMs }, 'result')));
    answers.catch(() => {});
    await Promise.race([sleep(spec.warmupMs), this.#group.crashed]);
    const cpu = () => watched.map((c) => (c.pid !== undefined ? cpuMs(c.pid) ?? 0 : 0));
    const leaderIndex = cluster.leaderIndex;
    const [metricsBefore, c0, o0, t0] = [await cluster.scrapeAll(), cpu(), this.#otherCpuMs(), performance.now()];
    await net?.resetStats();
    const w0 = Number(process.hrtime.bigint() / 1000n);
    await Promise.race([sleep(spec.measureMs - (performance.now() - t0)), this.#group.crashed]);
    const netStats = net !== null ? await net.stats() : null;
    const [metricsAfter, c1, o1, t1] = [await cluster.scrapeAll(), cpu(), this.#otherCpuMs(), performance.now()];
    const windowUs = [w0, Number(process.hrtime.bigint() / 1000n)] as const;
    const results: LoadResult[] = await answers;
    const windowMs = t1 - t0;
    const pct = (i: number) => ((c1[i]! - c0[i]!) / windowMs) * 100;
    const hist = new Histogram();
    const errorCodes: Record<string, number> = {};
    for (const r of results) {
      hist.merge(r.histogram);
      for (const [k, v] of Object.entries(r.errorCodes)) errorCodes[k] = (errorCodes[k] ?? 0) + v;
    }
    const members = watched.length - gens.length;
    const fsync = (m: ReadonlyMap<string, number> | undefined) => (m !== undefined ? histogramBuckets(m, 'edgeraft_persist_duration_ms') : []);
    return {
      writesPerS: results.reduce((s, r) => s + (r.ops * 1000) / r.measuredMs, 0),
      writes: hist.total, p50Ms: hist.quantileMs(0.5), p99Ms: hist.quantileMs(0.99), p999Ms: hist.quantileMs(0.999),
      groups: results.map((r, i) => ({ region: groups[i]!.region, histogram: r.histogram })),
      leaderIndex, fsyncMs: bucketQuantile(fsync(metricsBefore[leaderIndex]), fsync(metricsAfter[leaderIndex]), 0.5), net: netStats,
      errors: results.reduce((s, r) => s + r.errors, 0), errorCodes, metricsBefore, metricsAfter,
      leaderCpuPct: pct(0), generatorCpuPct: gens.reduce((s, _, i) => s + pct(members + i), 0),
      otherCpuPct: ((o1 - o0) / windowMs) * 100, leaderChanged: await cluster.recheckLeader(), windowUs,
    };
  }

  /** Asks every generator to exit and waits for them. */
  async stop(): Promise<void> {
    const all = this.#gens.splice(0);
    await Promise.all(all.map(async (g) => {
      if (g.child.connected) g.child.send({ type: 'exit' } satisfies ToLoad);
      await this.#group.release(g.child, 5000);
    }));
  }
}
