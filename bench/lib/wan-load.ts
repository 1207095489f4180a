// The load of one `npm run bench:wan` cell: forked load generators (bench/cluster-load.ts, the
// same as `npm run bench`), each in one client region with its clients dialing that region's
// relays; clients stay connected across a cell's interleaved runs. Around each measured window
// the parent reads every member's /metrics, samples the leader's inflight gauges through it,
// and takes CPU time from /proc, so latencies, counters and CPU cover the same seconds.

import type { ChildProcess } from 'node:child_process';
import { Histogram } from './histogram.ts';
import type { LoadConsistency, LoadResult, PrepareLoad, ToLoad } from './load-protocol.ts';
import { bucketQuantile, histogramBuckets, LoadChild, share } from './measure.ts';
import { cpuMs, machineBusyMs, sleep, type ProcessGroup } from './procs.ts';
import type { WanCluster } from './wan-cluster.ts';
import type { GaugeStats, LoadRun, RegionRun, WindowCounters } from './wan-report.ts';

/** Other processes may use this much of one core before a run waits for the machine to calm down. */
const otherCpuPctMax = 25;
/** The leader's /metrics is read this often through a window, for the inflight gauges. */
const sampleEveryMs = 250;

export interface RegionLoad {
  readonly region: number;
  readonly clients: number;
  readonly loopsPerClient: number;
  /** Each client's member list (relay URLs from this region). */
  readonly peers: readonly string[];
  readonly dialMap: Readonly<Record<string, string>>;
}

export interface CellLoad {
  readonly op: 'write' | 'read';
  readonly consistency: LoadConsistency;
  readonly regions: readonly RegionLoad[];
  /** Generator processes per region (the clients of a region are split among them). */
  readonly gensPerRegion: number;
  readonly valueBytes: number;
  readonly keyCount: number;
  readonly seed: number;
  readonly connectConcurrency: number;
}

/** A cell's clients, connected and waiting for 'go'. */
export interface Prepared {
  readonly cluster: WanCluster;
  readonly load: CellLoad;
  /** Generators and the region each serves. */
  readonly gens: ReadonlyArray<{ readonly gen: LoadChild; readonly region: number }>;
}

function labelled(m: ReadonlyMap<string, number>, name: string, labels: Readonly<Record<string, string>> = {}): number[] {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  const out: number[] = [];
  for (const [k, v] of m) {
    if (k !== name && !k.startsWith(`${name}{`)) continue;
    if (want.every((w) => k.includes(w))) out.push(v);
  }
  return out;
}

const sum = (m: ReadonlyMap<string, number>, name: string, labels: Readonly<Record<string, string>> = {}): number =>
  labelled(m, name, labels).reduce((s, v) => s + v, 0);

const maxOf = (xs: readonly number[]): number => (xs.length === 0 ? Number.NaN : Math.max(...xs));

function gauge(xs: readonly number[]): GaugeStats {
  const ok = xs.filter((x) => Number.isFinite(x));
  return ok.length === 0 ? { mean: Number.NaN, max: Number.NaN, samples: 0 } : { mean: ok.reduce((s, v) => s + v, 0) / ok.length, max: Math.max(...ok), samples: ok.length };
}

/** The window's counters from every member's /metrics at its start and end (member order; the leader's index given). */
export function windowCounters(
  before: ReadonlyArray<ReadonlyMap<string, number>>, after: ReadonlyArray<ReadonlyMap<string, number>>, leader: number,
  samples: ReadonlyArray<ReadonlyMap<string, number>>,
): WindowCounters {
  const empty = new Map<string, number>();
  const l0 = before[leader] ?? empty;
  const l1 = after[leader] ?? empty;
  const d = (name: string, labels: Readonly<Record<string, string>> = {}) => sum(l1, name, labels) - sum(l0, name, labels);
  const all = (name: string) => after.reduce((s, m, i) => s + sum(m, name) - sum(before[i] ?? empty, name), 0);
  const batches = d('edgeraft_persist_batch_entries_count');
  return {
    committed: d('edgeraft_commit_index'),
    persistBatches: batches,
    persistEntries: d('edgeraft_persist_batch_entries_sum'),
    persistP50Ms: batches > 0 ? bucketQuantile(histogramBuckets(l0, 'edgeraft_persist_duration_ms'), histogramBuckets(l1, 'edgeraft_persist_duration_ms'), 0.5) : Number.NaN,
    entryBytes: d('edgeraft_persist_entry_bytes_total'),
    peerDataBytes: d('edgeraft_sent_bytes_total', { to: 'peers', kind: 'data' }),
    peerEntriesSent: d('edgeraft_sent_entries_total', { to: 'peers' }),
    stalledProbes: d('edgeraft_stalled_probes_total'),
    sendDropped: all('edgeraft_send_dropped_total'),
    reorderHeld: all('edgeraft_reorder_held_total'),
    elections: all('edgeraft_elections_total'),
    readRounds: d('edgeraft_read_rounds_total'),
    leaseReads: d('edgeraft_lease_reads_total'),
    inflightMsgs: gauge(samples.map((m) => maxOf(labelled(m, 'edgeraft_follower_inflight_messages')))),
    inflightBytes: gauge(samples.map((m) => maxOf(labelled(m, 'edgeraft_follower_inflight_bytes')))),
    pendingProposals: gauge(samples.map((m) => labelled(m, 'edgeraft_pending_proposals')[0] ?? Number.NaN)),
  };
}

export class WanLoad {
  readonly #script: string;
  readonly #group: ProcessGroup;
  readonly #progress: (text: string) => void;
  /** Generator processes per cluster label, forked on first use. */
  readonly #pools = new Map<string, LoadChild[]>();
  #quietLeftMs: number;
  /** Every cluster's peer processes: what is neither a peer nor a generator is a relay. */
  readonly #peers: () => readonly ChildProcess[];

  constructor(script: string, group: ProcessGroup, progress: (text: string) => void, quietBudgetS: number, peers: () => readonly ChildProcess[]) {
    this.#peers = peers;
    this.#script = script;
    this.#group = group;
    this.#progress = progress;
    this.#quietLeftMs = quietBudgetS * 1000;
  }

  async #generators(label: string, n: number): Promise<LoadChild[]> {
    const pool = this.#pools.get(label) ?? [];
    this.#pools.set(label, pool);
    while (pool.length < n) {
      const g = new LoadChild(`gen-${label}-${pool.length + 1}`, this.#script, this.#group);
      pool.push(g);
      await g.ask(null, 'ready');
    }
    return pool.slice(0, n);
  }

  /** Every generator process, all pools. */
  generatorChildren(): LoadChild[] {
    return [...this.#pools.values()].flat();
  }

  /** CPU used by everything on the machine this benchmark did not start, in ms so far. */
  otherCpuMs(): number {
    const own = process.cpuUsage();
    const ours = this.#group.children().reduce((s, c) => s + (c.pid !== undefined ? cpuMs(c.pid) ?? 0 : 0), 0);
    return machineBusyMs() - ours - (own.user + own.system) / 1000;
  }

  /** Waits (within the budget, at most 20 s per run) until other processes leave the cores alone. */
  async waitQuiet(): Promise<void> {
    const deadline = Date.now() + Math.min(20_000, this.#quietLeftMs);
    let said = false;
    while (this.#quietLeftMs > 0) {
      const o0 = this.otherCpuMs();
      const t0 = Date.now();
      await Promise.race([sleep(500), this.#group.crashed]);
      const pct = ((this.otherCpuMs() - o0) / (Date.now() - t0)) * 100;
      if (pct <= otherCpuPctMax) return;
      this.#quietLeftMs -= Date.now() - t0;
      if (Date.now() >= deadline || this.#quietLeftMs <= 0) {
        this.#progress(`  other processes use ${Math.round(pct)}% of a core: measuring anyway (see "other CPU")`);
        return;
      }
      if (!said) this.#progress(`  other processes use ${Math.round(pct)}% of a core: waiting for them...`);
      said = true;
    }
  }

  /** Connects a cell's clients in every region (one operation each, so sessions and leaders are known). */
  async prepare(cluster: WanCluster, load: CellLoad): Promise<Prepared> {
    const per = load.gensPerRegion;
    const all = await this.#generators(cluster.label, per * load.regions.length);
    const gens = all.map((gen, i) => ({ gen, region: load.regions[Math.floor(i / per)]!.region }));
    await Promise.all(gens.map(({ gen }, i) => {
      const rl = load.regions[Math.floor(i / per)]!;
      const clients = share(rl.clients, per, i % per);
      if (clients === 0) return Promise.resolve();
      const spec: PrepareLoad = {
        type: 'prepare', op: load.op, writeShare: 1, loops: clients * rl.loopsPerClient, token: cluster.token, consistency: load.consistency,
        valueBytes: load.valueBytes, clientPeers: Array.from({ length: clients }, () => [...rl.peers]), keyPrefix: 'k/', keyCount: load.keyCount,
        newKeys: false, seed: load.seed * 64 + i, connectConcurrency: load.connectConcurrency, dialMap: rl.dialMap,
      };
      return gen.ask(spec, 'prepared');
    }));
    return { cluster, load, gens: gens.filter((_, i) => share(load.regions[Math.floor(i / per)]!.clients, per, i % per) > 0) };
  }

  /** One measured run of a prepared cell; the clients stay connected. */
  async once(p: Prepared, warmupMs: number, measureMs: number): Promise<LoadRun> {
    await this.waitQuiet();
    const { cluster, gens } = p;
    const peers = cluster.processes();
    const genChildren = gens.map((g) => g.gen.child);
    const answers = Promise.all(gens.map(({ gen }) => gen.ask({ type: 'go', warmupMs, measureMs, keepClients: true }, 'result')));
    answers.catch(() => {});
    await Promise.race([sleep(warmupMs), this.#group.crashed]);
    const leader = cluster.leaderIndex;
    const leaderId = cluster.leaderId;
    const notRelays = new Set([...this.#peers(), ...this.generatorChildren().map((g) => g.child)].map((c) => c.pid));
    const relays = () => this.#group.children().filter((c) => !notRelays.has(c.pid));
    const cpu = (cs: ReadonlyArray<{ pid?: number | undefined }>) => cs.map((c) => (c.pid !== undefined ? cpuMs(c.pid) ?? 0 : 0));
    const [before, c0, r0, o0, t0] = [await cluster.scrapeAll(), cpu([...peers, ...genChildren]), cpu(relays()).reduce((s, v) => s + v, 0), this.otherCpuMs(), performance.now()];
    const samples: Array<Map<string, number>> = [];
    const endAt = t0 + measureMs;
    while (performance.now() + sampleEveryMs < endAt) {
      await Promise.race([sleep(sampleEveryMs), this.#group.crashed]);
      try {
        samples.push(await cluster.metrics(leaderId));
      } catch {
        // A slow answer under load: one sample fewer.
      }
    }
    await Promise.race([sleep(Math.max(0, endAt - performance.now())), this.#group.crashed]);
    const [after, c1, r1, o1, t1] = [await cluster.scrapeAll(), cpu([...peers, ...genChildren]), cpu(relays()).reduce((s, v) => s + v, 0), this.otherCpuMs(), performance.now()];
    const results: LoadResult[] = await answers;
    const windowMs = t1 - t0;
    const pct = (i: number) => ((c1[i]! - c0[i]!) / windowMs) * 100;
    const total = new Histogram();
    const byRegion = new Map<number, { h: Histogram; ops: number; opsPerS: number; errors: number; codes: Record<string, number>; paths: Record<string, number>; servedBy: Record<string, number> }>();
    results.forEach((res, i) => {
      const region = gens[i]!.region;
      const g = byRegion.get(region) ?? { h: new Histogram(), ops: 0, opsPerS: 0, errors: 0, codes: {}, paths: {}, servedBy: {} };
      g.h.merge(res.histogram);
      total.merge(res.histogram);
      g.ops += res.ops;
      g.opsPerS += (res.ops * 1000) / res.measuredMs;
      g.errors += res.errors;
      for (const [k, v] of Object.entries(res.errorCodes)) g.codes[k] = (g.codes[k] ?? 0) + v;
      for (const [k, v] of Object.entries(res.paths)) g.paths[k] = (g.paths[k] ?? 0) + v;
      for (const [k, v] of Object.entries(res.servedBy)) g.servedBy[k] = (g.servedBy[k] ?? 0) + v;
      byRegion.set(region, g);
    });
    const regions: RegionRun[] = [...byRegion.entries()].sort((a, b) => a[0] - b[0]).map(([region, g]) => ({
      region, ops: g.ops, opsPerS: g.opsPerS, p50Ms: g.h.quantileMs(0.5), p99Ms: g.h.quantileMs(0.99), errors: g.errors,
      errorCodes: g.codes, paths: g.paths, servedBy: g.servedBy,
    }));
    const followers = Array.from({ length: peers.length - 1 }, (_, i) => pct(1 + i));
    return {
      opsPerS: regions.reduce((s, g) => s + g.opsPerS, 0), p50Ms: total.quantileMs(0.5), p99Ms: total.quantileMs(0.99),
      errors: regions.reduce((s, g) => s + g.errors, 0), regions,
      counters: windowCounters(before, after, leader, samples),
      leaderCpuPct: pct(0), followerCpuPct: followers.reduce((s, v) => s + v, 0) / Math.max(1, followers.length),
      generatorCpuPct: genChildren.reduce((s, _, i) => s + pct(peers.length + i), 0),
      relayCpuPct: ((r1 - r0) / windowMs) * 100, otherCpuPct: ((o1 - o0) / windowMs) * 100,
      leaderChanged: await cluster.recheckLeader(),
    };
  }

  /** Closes a prepared cell's clients. */
  async release(p: Prepared): Promise<void> {
    await Promise.all(p.gens.map(({ gen }) => gen.ask({ type: 'release' }, 'released')));
  }

  /** Asks every generator to exit and waits for them. */
  async stop(): Promise<void> {
    const all = this.generatorChildren();
    this.#pools.clear();
    await Promise.all(all.map(async (g) => {
      if (g.child.connected) g.child.send({ type: 'exit' } satisfies ToLoad);
      await this.#group.release(g.child, 5000);
    }));
  }
}
