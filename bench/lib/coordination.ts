// The coordination phase of `npm run bench` (issue 16), after the key-value loads, on the same
// clusters: watch event delivery latency with many watchers while a writer puts at a fixed rate,
// lease keep-alives per second, and transactions per second, each beside etcd through its JSON
// gateway, median of interleaved runs. Reported by lib/coordination-report.ts.
//
// Watch delivery: one generator process is the writer, the others hold the watchers, one SDK
// client (one connection) per watcher, as services and browser tabs watching a key each have,
// spread evenly over the members (the first on the leader): a watcher streams from the member
// its client is connected to. A put marks where the watchers start from; once each has received
// it, the writer puts for warm-up + window at a fixed rate, open loop, and every watcher records
// when each event reaches its consumer. Latency per event and watcher: receive − the writer's put
// resolve (the entry applied on the leader: commit to watcher; signed, since a watcher can hear
// of a write before the writer's reply arrives) and receive − put send (an upper bound), on one
// clock for all processes (lib/watch-samples.ts nowMs()).
//
// Keep-alives and transactions are closed-loop loads like the writes (lib/measure.ts), with ops
// 'keepalive' and 'txn' of the load generators: each independent client keeps its own lease alive
// with one keep-alive after another, or runs txns on its own two keys (compare a's version, put a
// and b).

import type { ChildProcess } from 'node:child_process';
import { keyPrefix, type Point, type System } from './compare.ts';
import { Histogram, signedQuantileMs } from './histogram.ts';
import type { TimedWrite, WatchClientSpec, WatchResult } from './load-protocol.ts';
import { share, summarize, type BenchCluster, type Measurer, type PointFigures, type RunFigures } from './measure.ts';
import { cpuMs, sleep, type ProcessGroup } from './procs.ts';
import { clockOffsetMs } from './watch-samples.ts';
import { fmt, median } from '../machine.ts';

/** A cluster the phase can spread watchers over. */
export interface CoordinationCluster extends BenchCluster {
  membersLeaderFirst(): Array<{ readonly name: string; readonly url: string }>;
}

export interface CoordinationOptions {
  /** Watchers of the watch-delivery load (one SDK client or etcd stream each). */
  readonly watchers: number;
  /** The writer's puts per second. */
  readonly watchRatePerS: number;
  /** Generator processes holding the watchers (the writer has one more of its own). */
  readonly watchProcs: number;
  /** Independent clients of the txn loads. */
  readonly txnClients: readonly number[];
  /** Independent clients (one lease each) of the keep-alive load. */
  readonly keepaliveClients: number;
  readonly valueBytes: number;
  readonly runs: number;
  readonly warmupS: number;
  readonly seconds: number;
  /** After the writer's last put, how long the watchers may take to receive it before it counts as missed. */
  readonly graceMs: number;
}

export const coordinationDefaults = {
  watchers: 1000,
  /** 1,000 watchers × 10 puts/s = 10,000 events/s, what etcd's `benchmark watch-latency` delivers with its defaults (100 watchers, 100 puts/s). */
  watchRatePerS: 10,
  watchProcs: 4,
  txnClients: [1, 16, 256],
  keepaliveClients: 256,
  graceMs: 3000,
} as const;

/** Waiting for every watcher to receive the marker (1,000 connections opening on a busy machine). */
const watchReadyTimeoutMs = 60_000;
/** The writer's keys: `w/0` .. `w/99`, all under the watched prefix. */
const watchPrefix = 'w/';
const watchKeyCount = 100;

/**
 * One watch-delivery run. Latencies in ms; NaN when nothing was received. Commit → watcher figures
 * are signed: below 0 when watchers heard of the write before the writer's put resolved.
 */
export interface WatchRun {
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly leaderP50Ms: number;
  readonly leaderP99Ms: number;
  readonly followersP50Ms: number;
  readonly followersP99Ms: number;
  /** receive − put send: an upper bound. */
  readonly fromSendP50Ms: number;
  readonly fromSendP99Ms: number;
  /** The writer's puts, send → resolve (what commit → watcher is measured from, less the way back). */
  readonly putP50Ms: number;
  readonly putP99Ms: number;
  /** Events delivered per second (all watchers) in the window. */
  readonly eventsPerS: number;
  /** Puts of the window that resolved, per second. */
  readonly putsPerS: number;
  readonly expected: number;
  readonly received: number;
  /** Share of received events that reached a watcher before the writer's put resolved. */
  readonly beforeResolveShare: number;
  readonly writeErrors: number;
  readonly writeErrorCodes: Record<string, number>;
  readonly writerLagMsMax: number;
  readonly servedBy: Record<string, number>;
  readonly misplaced: number;
  readonly reconnects: number;
  /** Largest difference between two processes' (timeOrigin + now) − CLOCK_MONOTONIC: how far the two clocks could disagree. */
  readonly clockSpreadMs: number;
  readonly leaderCpuPct: number;
  readonly followerCpuPct: number;
  readonly generatorCpuPct: number;
  readonly otherCpuPct: number;
  readonly leaderChanged: boolean;
}

/** The median of each figure over the runs (counts summed), with the runs' lowest and highest p50 and p99. */
export interface WatchFigures extends WatchRun {
  readonly runs: number;
  readonly p50MinMs: number;
  readonly p50MaxMs: number;
  readonly p99MinMs: number;
  readonly p99MaxMs: number;
  readonly watchers: number;
  readonly ratePerS: number;
  readonly procs: number;
}

/** A closed-loop load's figures, with the spreads of its latencies as well as its ops/s. */
export interface LoopFigures extends PointFigures {
  readonly p50MinMs: number;
  readonly p50MaxMs: number;
  readonly p99MinMs: number;
  readonly p99MaxMs: number;
}

export interface CoordinationSize {
  readonly members: number;
  readonly watch: { readonly edgeraft: WatchFigures; readonly etcd: WatchFigures | null };
  /** By client count. */
  readonly txn: ReadonlyArray<{ readonly clients: number; readonly edgeraft: LoopFigures; readonly etcd: LoopFigures | null; readonly point: Point }>;
  readonly keepalive: { readonly clients: number; readonly edgeraft: LoopFigures; readonly etcd: LoopFigures | null; readonly point: Point };
}

export interface CoordinationReport {
  /** Why the phase did not run (null: it did, for `sizes`). */
  readonly notMeasured: string | null;
  /** Why etcd was left out of it (null: measured beside edgeraft). */
  readonly etcdNotMeasured: string | null;
  readonly options: CoordinationOptions;
  readonly sizes: readonly CoordinationSize[];
}

function nan(): number {
  return Number.NaN;
}

function merged(results: readonly WatchResult[], pick: (r: WatchResult) => number[]): Histogram {
  const h = new Histogram();
  for (const r of results) h.merge(pick(r));
  return h;
}

function addInto(into: Record<string, number>, from: Record<string, number>): void {
  for (const [k, v] of Object.entries(from)) into[k] = (into[k] ?? 0) + v;
}

export class CoordinationPhase {
  readonly #o: CoordinationOptions;
  readonly #measurer: Measurer;
  readonly #group: ProcessGroup;
  readonly #progress: (text: string) => void;
  readonly #elapsed: () => string;
  #done = 0;
  #total = 0;

  constructor(o: CoordinationOptions, measurer: Measurer, group: ProcessGroup, progress: (text: string) => void, elapsed: () => string) {
    this.#o = o;
    this.#measurer = measurer;
    this.#group = group;
    this.#progress = progress;
    this.#elapsed = elapsed;
  }

  /** Measurements one cluster size takes (for the progress count). */
  runsPerSize(withEtcd: boolean): number {
    return (1 + this.#o.txnClients.length + 1) * this.#o.runs * (withEtcd ? 2 : 1);
  }

  /** The points of the closed-loop loads, under the names the JSON uses. */
  static txnPoint(system: System, members: number, clients: number, valueBytes: number): Point {
    return {
      key: `${keyPrefix(system, members)}txn_${clients}_independent`, label: `txn (compare 1 version, put 2 keys), ${clients} independent client${clients === 1 ? '' : 's'}`,
      system, members, op: 'txn', concurrency: clients, shape: 'independent', consistency: 'linearizable', valueBytes, newKeys: false,
    };
  }

  static keepalivePoint(system: System, members: number, clients: number, valueBytes: number): Point {
    return {
      key: `${keyPrefix(system, members)}keepalives_${clients}_independent`, label: `lease keep-alives, ${clients} independent clients (a lease each)`,
      system, members, op: 'keepalive', concurrency: clients, shape: 'independent', consistency: 'linearizable', valueBytes, newKeys: false,
    };
  }

  /** Every load of the phase on one cluster size, runs interleaved between the systems. */
  async measure(members: number, e: CoordinationCluster, c: CoordinationCluster | null, totalRuns: number): Promise<CoordinationSize> {
    this.#total = totalRuns;
    const systems = c === null ? [e] : [e, c];
    const o = this.#o;
    // Watch delivery.
    const watchRuns = new Map<BenchCluster, WatchRun[]>(systems.map((s) => [s, []]));
    for (let run = 1; run <= o.runs; run++) {
      for (const s of systems) {
        const r = await this.#watchOnce(s);
        watchRuns.get(s)!.push(r);
        this.#progress(`  [${++this.#done}/${this.#total} ${this.#elapsed()}] ${s.system} ${members}: watch, ${fmt(o.watchers)} watchers, ${fmt(o.watchRatePerS)} puts/s: run ${run}/${o.runs}: ` +
          `commit→watcher p50 ${fmt(r.p50Ms, 2)} ms p99 ${fmt(r.p99Ms, 2)} ms (leader ${fmt(r.leaderP50Ms, 2)}/${fmt(r.leaderP99Ms, 2)}, followers ${fmt(r.followersP50Ms, 2)}/${fmt(r.followersP99Ms, 2)}), ` +
          `send→watcher p50 ${fmt(r.fromSendP50Ms, 2)} p99 ${fmt(r.fromSendP99Ms, 2)}, ${fmt(r.eventsPerS)} events/s, missed ${fmt(r.expected - r.received)}, ` +
          `CPU leader ${fmt(r.leaderCpuPct)}% other ${fmt(Math.max(0, r.otherCpuPct))}%${r.writeErrors > 0 ? `, ${r.writeErrors} put errors ${JSON.stringify(r.writeErrorCodes)}` : ''}` +
          `${r.misplaced > 0 ? `, ${r.misplaced} watchers not on their member` : ''}${r.leaderChanged ? ', LEADER CHANGED' : ''}`);
      }
    }
    const watchOf = (s: BenchCluster) => summarizeWatch(watchRuns.get(s)!, o);
    // Closed-loop loads: txn at each client count, then keep-alives.
    const loop = async (mk: (sys: System) => Point): Promise<{ edgeraft: LoopFigures; etcd: LoopFigures | null; point: Point }> => {
      const points = systems.map((s) => [s, mk(s.system)] as const);
      const runs = new Map<Point, Array<RunFigures & { procs: number; clientsPerProc: number }>>(points.map(([, p]) => [p, []]));
      for (let run = 1; run <= o.runs; run++) {
        for (const [s, p] of points) {
          const r = await this.#measurer.once(s, p);
          runs.get(p)!.push(r);
          this.#progress(`  [${++this.#done}/${this.#total} ${this.#elapsed()}] ${s.system} ${members}: ${p.label}: run ${run}/${o.runs}: ${fmt(r.opsPerS)}/s, ` +
            `p50 ${fmt(r.p50Ms, 2)} ms, p99 ${fmt(r.p99Ms, 2)} ms, CPU gen ${fmt(r.generatorCpuPct)}% leader ${fmt(r.leaderCpuPct)}% other ${fmt(Math.max(0, r.otherCpuPct))}%` +
            `${r.errors > 0 ? `, ${r.errors} errors ${JSON.stringify(r.errorCodes)}` : ''}${r.leaderChanged ? ', LEADER CHANGED' : ''}`);
        }
      }
      const figures = (p: Point): LoopFigures => {
        const rs = runs.get(p)!;
        return {
          ...summarize(rs), p50MinMs: Math.min(...rs.map((r) => r.p50Ms)), p50MaxMs: Math.max(...rs.map((r) => r.p50Ms)),
          p99MinMs: Math.min(...rs.map((r) => r.p99Ms)), p99MaxMs: Math.max(...rs.map((r) => r.p99Ms)),
        };
      };
      return { edgeraft: figures(points[0]![1]), etcd: points[1] === undefined ? null : figures(points[1][1]), point: points[0]![1] };
    };
    const txn: Array<CoordinationSize['txn'][number]> = [];
    for (const n of o.txnClients) txn.push({ clients: n, ...await loop((sys) => CoordinationPhase.txnPoint(sys, members, n, o.valueBytes)) });
    const keepalive = { clients: o.keepaliveClients, ...await loop((sys) => CoordinationPhase.keepalivePoint(sys, members, o.keepaliveClients, o.valueBytes)) };
    return { members, watch: { edgeraft: watchOf(e), etcd: c === null ? null : watchOf(c) }, txn, keepalive };
  }

  /** One watch-delivery run on `cluster` (see the module comment). */
  async #watchOnce(cluster: CoordinationCluster): Promise<WatchRun> {
    const o = this.#o;
    await this.#measurer.waitQuiet();
    const procs = Math.max(1, Math.min(o.watchProcs, o.watchers));
    const gens = await this.#measurer.generators(cluster.loadScript, cluster.system, 1 + procs);
    const writer = gens[0]!;
    const holders = gens.slice(1);
    const members = cluster.membersLeaderFirst();
    const all = members.map((m) => m.url);
    // The SDK finds the leader itself from any member list; etcd's generator posts to the URL it is given.
    await writer.ask({ type: 'prepareWriter', peers: cluster.system === 'edgeraft' ? all : [all[0]!], token: cluster.token }, 'writerReady');
    const { revision: fromRevision } = await writer.ask({ type: 'mark', key: `${watchPrefix}mark` }, 'marked');
    let next = 0;
    const specs = holders.map((_, gi) => Array.from({ length: share(o.watchers, procs, gi) }, (): WatchClientSpec => {
      const i = next++ % members.length;
      const m = members[i]!;
      // Its member first, then the others: the SDK connects to the first that answers and
      // streams from the member it is connected to.
      return { peers: [m.url, ...all.filter((u) => u !== m.url)], member: m.name };
    }));
    // A failure here fails the benchmark, which stops every generator (and their watchers) on its way out.
    await Promise.all(holders.map((g, gi) => g.ask({
      type: 'prepareWatchers', clients: specs[gi]!, watchersPerClient: 1, token: cluster.token, leader: members[0]!.name, prefix: watchPrefix, fromRevision, readyTimeoutMs: watchReadyTimeoutMs,
    }, 'watching')));
    const watched: ChildProcess[] = [...cluster.processes(), ...gens.map((g) => g.child)];
    const warmupMs = o.warmupS * 1000;
    const measureMs = o.seconds * 1000;
    const written = writer.ask({
      type: 'writeAtRate', ratePerS: o.watchRatePerS, warmupMs, measureMs, keyPrefix: watchPrefix, keyCount: watchKeyCount, valueBytes: o.valueBytes,
    }, 'written');
    written.catch(() => {});
    await Promise.race([sleep(warmupMs), this.#group.crashed]);
    const cpu = () => watched.map((ch) => (ch.pid !== undefined ? cpuMs(ch.pid) ?? 0 : 0));
    const c0 = cpu();
    const o0 = this.#measurer.otherCpuMs();
    const t0 = performance.now();
    await Promise.race([sleep(measureMs), this.#group.crashed]);
    const c1 = cpu();
    const o1 = this.#measurer.otherCpuMs();
    const windowMs = performance.now() - t0;
    const w = await written;
    const results = await Promise.all(holders.map((g) => g.ask({ type: 'collectWatch', writes: w.writes, graceMs: o.graceMs }, 'watchResult')));
    const leaderChanged = await cluster.recheckLeader();
    return watchRun(cluster, w.writes, results, { ...w, c0, c1, o0, o1, windowMs, measureMs, holders: holders.length, leaderChanged });
  }
}

interface RunContext {
  readonly errors: number;
  readonly errorCodes: Record<string, number>;
  readonly lagMsMax: number;
  readonly c0: readonly number[];
  readonly c1: readonly number[];
  readonly o0: number;
  readonly o1: number;
  readonly windowMs: number;
  readonly measureMs: number;
  readonly holders: number;
  readonly leaderChanged: boolean;
}

function watchRun(cluster: BenchCluster, writes: readonly TimedWrite[], results: readonly WatchResult[], x: RunContext): WatchRun {
  const leader = merged(results, (r) => r.fromResolveLeader);
  const followers = merged(results, (r) => r.fromResolveFollowers);
  const both = merged(results, (r) => r.fromResolveLeader);
  both.merge(followers.toArray());
  const leaderEarly = merged(results, (r) => r.earlyLeader);
  const followersEarly = merged(results, (r) => r.earlyFollowers);
  const bothEarly = merged(results, (r) => r.earlyLeader);
  bothEarly.merge(followersEarly.toArray());
  const fromSend = merged(results, (r) => r.fromSend);
  const puts = new Histogram();
  for (const [, sent, resolved] of writes) puts.recordMs(Math.max(0, resolved - sent));
  const received = results.reduce((s, r) => s + r.received, 0);
  const servedBy: Record<string, number> = {};
  for (const r of results) addInto(servedBy, r.servedBy);
  const offsets = [clockOffsetMs(), ...results.map((r) => r.clockOffsetMs)];
  const pct = (i: number) => ((x.c1[i]! - x.c0[i]!) / x.windowMs) * 100;
  const members = cluster.members;
  const followerPcts = Array.from({ length: members - 1 }, (_, i) => pct(1 + i));
  // The writer and the watcher holders.
  const generatorCpuPct = Array.from({ length: 1 + x.holders }, (_, i) => pct(members + i)).reduce((s, v) => s + v, 0);
  return {
    p50Ms: signedQuantileMs(both, bothEarly, 0.5), p99Ms: signedQuantileMs(both, bothEarly, 0.99),
    leaderP50Ms: signedQuantileMs(leader, leaderEarly, 0.5), leaderP99Ms: signedQuantileMs(leader, leaderEarly, 0.99),
    followersP50Ms: signedQuantileMs(followers, followersEarly, 0.5), followersP99Ms: signedQuantileMs(followers, followersEarly, 0.99),
    fromSendP50Ms: fromSend.quantileMs(0.5), fromSendP99Ms: fromSend.quantileMs(0.99),
    putP50Ms: puts.quantileMs(0.5), putP99Ms: puts.quantileMs(0.99),
    eventsPerS: (received * 1000) / x.measureMs, putsPerS: (writes.length * 1000) / x.measureMs,
    expected: results.reduce((s, r) => s + r.expected, 0), received,
    beforeResolveShare: received > 0 ? results.reduce((s, r) => s + r.beforeResolve, 0) / received : nan(),
    writeErrors: x.errors, writeErrorCodes: x.errorCodes, writerLagMsMax: x.lagMsMax, servedBy,
    misplaced: results.reduce((s, r) => s + r.misplaced, 0), reconnects: results.reduce((s, r) => s + r.reconnects, 0),
    clockSpreadMs: Math.max(...offsets) - Math.min(...offsets),
    leaderCpuPct: pct(0), followerCpuPct: followerPcts.reduce((s, v) => s + v, 0) / Math.max(1, followerPcts.length), generatorCpuPct,
    otherCpuPct: ((x.o1 - x.o0) / x.windowMs) * 100, leaderChanged: x.leaderChanged,
  };
}

function summarizeWatch(runs: readonly WatchRun[], o: CoordinationOptions): WatchFigures {
  const med = (f: (r: WatchRun) => number) => median(runs.map(f).filter((v) => !Number.isNaN(v)));
  const sum = (f: (r: WatchRun) => number) => runs.reduce((s, r) => s + f(r), 0);
  const codes: Record<string, number> = {};
  const servedBy: Record<string, number> = {};
  for (const r of runs) {
    addInto(codes, r.writeErrorCodes);
    addInto(servedBy, r.servedBy);
  }
  const finite = (f: (r: WatchRun) => number) => runs.map(f).filter((v) => Number.isFinite(v));
  return {
    p50Ms: med((r) => r.p50Ms), p99Ms: med((r) => r.p99Ms), leaderP50Ms: med((r) => r.leaderP50Ms), leaderP99Ms: med((r) => r.leaderP99Ms),
    followersP50Ms: med((r) => r.followersP50Ms), followersP99Ms: med((r) => r.followersP99Ms),
    fromSendP50Ms: med((r) => r.fromSendP50Ms), fromSendP99Ms: med((r) => r.fromSendP99Ms),
    putP50Ms: med((r) => r.putP50Ms), putP99Ms: med((r) => r.putP99Ms),
    eventsPerS: med((r) => r.eventsPerS), putsPerS: med((r) => r.putsPerS), expected: sum((r) => r.expected), received: sum((r) => r.received),
    beforeResolveShare: med((r) => r.beforeResolveShare), writeErrors: sum((r) => r.writeErrors), writeErrorCodes: codes,
    writerLagMsMax: Math.max(...runs.map((r) => r.writerLagMsMax)), servedBy, misplaced: sum((r) => r.misplaced), reconnects: sum((r) => r.reconnects),
    clockSpreadMs: Math.max(...runs.map((r) => r.clockSpreadMs)), leaderCpuPct: med((r) => r.leaderCpuPct), followerCpuPct: med((r) => r.followerCpuPct),
    generatorCpuPct: med((r) => r.generatorCpuPct), otherCpuPct: med((r) => r.otherCpuPct), leaderChanged: runs.some((r) => r.leaderChanged),
    runs: runs.length, p50MinMs: Math.min(...finite((r) => r.p50Ms)), p50MaxMs: Math.max(...finite((r) => r.p50Ms)),
    p99MinMs: Math.min(...finite((r) => r.p99Ms)), p99MaxMs: Math.max(...finite((r) => r.p99Ms)),
    watchers: o.watchers, ratePerS: o.watchRatePerS, procs: Math.max(1, Math.min(o.watchProcs, o.watchers)),
  };
}
