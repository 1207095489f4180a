// One fault run: a real cluster (loopback, one network namespace per member, or loopback through
// the WAN emulator's relays), concurrent SDK clients recording a history, the nemesis breaking
// things on a seeded schedule, then heal, settle and check (linearizability per key, equal
// replicas, no acknowledged write missing, stale reads only of written values). A failing round
// keeps its history, stale reads, schedule and report under test-results/faults/ and says how to
// replay it. The soak runs many rounds on one cluster, each on its own key prefix.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { NetEmulator, type NetStats } from '../../bench/lib/net/emulator.ts';
import { suggestedPeerArgs, suggestedTickMs, type NetProfile } from '../../bench/lib/net/profiles.ts';
import { ProcessGroup } from '../../bench/lib/procs.ts';
import type { KvClient } from '../../src/client/kv.ts';
import { checkHistory, formatResult } from '../lincheck/checker.ts';
import { Cluster } from './cluster.ts';
import { checkStaleReads, History, type HistoryCounts } from './history.ts';
import { Workload, type WorkloadStats } from './history-clients.ts';
import { checkAckedWrites, compareReplicas, finalRead, settle, statusLines } from './nemesis-checks.ts';
import { formatEntry, InjectFaultCutter, Nemesis, type LinkCutter, type ScheduleEntry } from './nemesis.ts';
import type { NetnsNet } from './netns.ts';
import { repoRoot } from './proc.ts';

/** Consensus modes the suite runs: every fault test runs in each (ParallelRaft: docs/parallel-raft.md). */
export const modes = ['raft', 'parallel'] as const;
export type Mode = (typeof modes)[number];

export interface FaultRunOptions {
  /** Names the temp dir and the kept failure files. */
  readonly name: string;
  readonly peers: number;
  readonly mode: Mode;
  /** Concurrent SDK clients, each its own KvClient. */
  readonly clients: number;
  /** Peers in network namespaces (real links), instead of loopback with injectFault. */
  readonly netns?: NetnsNet;
  /**
   * Peers dial each other, and clients (spread over the profile's client regions) dial the
   * peers, through the WAN emulator's relays (bench/lib/net/); ticks follow suggestedPeerArgs.
   * Partitions still go through injectFault. Members the nemesis adds are reached directly: a
   * `members add` gives one address for every dialer, so no relay could tell where a dial comes from.
   */
  readonly net?: NetProfile | null;
  /** Seeds the emulator's delay draws (default 1). */
  readonly netSeed?: number;
  /** Multiplies the nemesis's hold times. */
  readonly holdScale?: number;
  /** Where schedule lines go as faults end (default: nowhere). */
  readonly log?: (line: string) => void;
  /** The command that replays a seed, printed on failure. */
  readonly replay: (seed: number) => string;
}

export interface RoundReport {
  readonly ok: boolean;
  readonly seed: number;
  readonly prefix: string;
  readonly elapsedMs: number;
  readonly ops: HistoryCounts;
  readonly workload: WorkloadStats;
  readonly schedule: readonly ScheduleEntry[];
  readonly faultsByKind: Readonly<Record<string, number>>;
  readonly problems: readonly string[];
  readonly lincheck: string;
  /** Where the failing round's files were kept (null when it passed). */
  readonly keptIn: string | null;
  /** The failure report (seed, schedule, replay command, problems); '' when it passed. */
  readonly text: string;
}

/** Snapshots every 2000 entries with 500 kept behind: restarts and joins install snapshots. */
const peerFlags = (mode: Mode): string[] => ['--mode', mode, '--snapshot-retain', '500'];

/** The suite's ticks: the nemesis's hold times are sized for elections after 10-20 of them. */
const suiteTickMs = 10;

/**
 * Longer holds for slower ticks (a WAN profile's), so that a pause or a partition still outlasts
 * an election timeout often: wan3's 90 ms ticks (elections after 0.9-1.8 s) get 1.5x, at most 3x,
 * so that a 30 s run still carries out its five faults and more.
 */
export function netHoldScale(net: NetProfile): number {
  return Math.min(3, Math.max(1, suggestedTickMs(net) / suiteTickMs / 6));
}

/** The emulator of a run on a WAN profile, and the processes it started. */
interface NetRun {
  readonly emulator: NetEmulator;
  readonly group: ProcessGroup;
  /** The bootstrap members: the only ones with relays. */
  readonly routed: ReadonlySet<string>;
}

export class FaultRun {
  readonly cluster: Cluster;
  readonly #o: FaultRunOptions;
  readonly #admin: KvClient;
  readonly #cutter: LinkCutter;
  /** Members removed in earlier rounds stay removed. */
  readonly #removed = new Set<string>();
  readonly #net: NetRun | null;
  #nextMember: number;
  #live: { history: History; nemesis: Nemesis } | null = null;

  private constructor(o: FaultRunOptions, cluster: Cluster, admin: KvClient, net: NetRun | null) {
    this.#o = o;
    this.cluster = cluster;
    this.#admin = admin;
    this.#net = net;
    this.#cutter = o.netns ?? new InjectFaultCutter(cluster, admin);
    this.#nextMember = o.peers + 1;
  }

  static async start(o: FaultRunOptions): Promise<FaultRun> {
    const ns = o.netns;
    const profile = o.net ?? null;
    if (ns !== undefined && profile !== null) throw new Error('a fault run takes network namespaces or a WAN profile, not both');
    const group = new ProcessGroup();
    const emulator = profile !== null ? await NetEmulator.start(profile, group, o.netSeed ?? 1) : null;
    let cluster: Cluster;
    try {
      cluster = await Cluster.start({
        size: o.peers, name: o.name, faults: true, tickMs: suiteTickMs, snapshotEntries: 2000,
        // The profile's --tick-ms comes after the suite's, and the last one given counts.
        extraArgs: [...peerFlags(o.mode), ...(profile !== null ? suggestedPeerArgs(profile) : [])],
        clientTimeoutMs: 5000, startTimeoutMs: 30_000,
        ...(ns !== undefined ? { hostOf: (id: string) => ns.hostOf(id), spawnPrefix: (id: string) => ns.spawnPrefix(id) } : {}),
        ...(emulator !== null ? { route: (ids: readonly string[], ports: readonly number[]) => emulator.routePeers(ids, ports) } : {}),
      });
    } catch (err) {
      await emulator?.stop();
      await group.stopAll();
      throw err;
    }
    const net = emulator !== null ? { emulator, group, routed: new Set(cluster.ids) } : null;
    try {
      return new FaultRun(o, cluster, await cluster.client('admin', { timeoutMs: 5000 }), net);
    } catch (err) {
      await cluster.close({ failed: true });
      await net?.emulator.stop();
      await group.stopAll();
      throw err;
    }
  }

  /** What `n` SDK clients connect to: the members' own URLs, or on a WAN each client's region's relays. */
  async #clientUrls(n: number): Promise<Array<readonly string[] | undefined>> {
    const net = this.#net;
    if (net === null) return Array.from({ length: n }, () => undefined);
    const live = this.cluster.live();
    const regions = net.emulator.profile.clientRegions;
    return Promise.all(Array.from({ length: n }, (_, i) => {
      const region = regions[i % regions.length]!;
      return Promise.all(live.map((id) => (net.routed.has(id) ? net.emulator.clientUrl(region, id) : this.cluster.url(id))));
    }));
  }

  /** Runs clients and the nemesis for `durationMs`, then heals and checks; never throws for a finding. */
  async round(seed: number, durationMs: number, prefix: string): Promise<RoundReport> {
    const c = this.cluster;
    const started = performance.now();
    const history = new History();
    const problems: string[] = [];
    const nemesis = new Nemesis({
      seed, cluster: c, cutter: this.#cutter, votersMax: this.#o.peers + 2,
      holdScale: this.#o.holdScale ?? (this.#net !== null ? netHoldScale(this.#net.emulator.profile) : 1),
      nextMember: this.#nextMember, removed: this.#removed,
      ...(this.#o.netns !== undefined ? { beforeAdd: (id: string) => this.#o.netns!.addHost(id) } : {}),
      ...(this.#o.log !== undefined ? { log: this.#o.log } : {}),
    });
    // The first client gives up after 1 s, so faults leave writes of unknown outcome in the history.
    const urls = await this.#clientUrls(this.#o.clients);
    const clients = await Promise.all(urls.map((u, i) => c.client('client', { timeoutMs: i === 0 ? 1000 : 5000, ...(u !== undefined ? { urls: u } : {}) })));
    const workload = new Workload(history, clients, { prefix, seed });
    this.#live = { history, nemesis };
    try {
      await nemesis.run(durationMs);
    } catch (err) {
      problems.push(`nemesis: ${(err as Error).message}`);
    }
    const stats = await workload.stop();
    this.#live = null;
    await Promise.all(clients.map((kv) => kv.close()));
    this.#nextMember = nemesis.nextMember;
    try {
      await nemesis.healAll();
    } catch (err) {
      problems.push(`heal: ${(err as Error).message}`);
    }
    problems.push(...nemesis.problems);
    let lincheck = 'not checked';
    try {
      await c.leader(30_000);
      await settle(c);
      const final = await finalRead(c, history, prefix);
      problems.push(...(await compareReplicas(c, '')));
      problems.push(...checkAckedWrites(history, final));
      problems.push(...checkStaleReads(history));
      const result = checkHistory(history.ops, { timeoutMs: 120_000 });
      lincheck = formatResult(result);
      if (!result.ok) problems.push(lincheck);
    } catch (err) {
      problems.push(`final checks: ${(err as Error).message}`);
      problems.push(...(await statusLines(c).catch(() => [])));
    }
    const report = {
      seed, prefix, elapsedMs: performance.now() - started, ops: history.counts, workload: stats, schedule: nemesis.schedule,
      faultsByKind: nemesis.counts, problems, lincheck,
    };
    if (problems.length === 0) return { ok: true, ...report, keptIn: null, text: '' };
    const keptIn = this.#keep(history, report);
    return { ok: false, ...report, keptIn, text: this.#failureText({ ...report, keptIn }) };
  }

  /** The round in progress: operations recorded and faults carried out so far (for progress lines). */
  progress(): { ops: HistoryCounts; faults: number } | null {
    if (this.#live === null) return null;
    return { ops: this.#live.history.counts, faults: this.#live.nemesis.schedule.filter((e) => e.outcome === 'done').length };
  }

  #keep(history: History, r: Omit<RoundReport, 'ok' | 'keptIn' | 'text'>): string {
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    const dir = join(repoRoot, 'test-results', 'faults', `${this.#o.name}-seed${r.seed}-${stamp}`);
    mkdirSync(dir, { recursive: true });
    history.save(join(dir, 'history.jsonl'));
    history.saveStale(join(dir, 'stale-reads.jsonl'));
    writeFileSync(join(dir, 'schedule.txt'), `${r.schedule.map(formatEntry).join('\n')}\n`);
    writeFileSync(join(dir, 'report.txt'), `${this.#failureText({ ...r, keptIn: dir })}\n`);
    return dir;
  }

  #failureText(r: Omit<RoundReport, 'ok' | 'text'>): string {
    return [
      `FAULT RUN FAILED: ${this.#o.name}, ${this.#o.peers} peers, mode ${this.#o.mode}, ${this.#linkKind()}, seed ${r.seed}, key prefix ${JSON.stringify(r.prefix)}`,
      `replay: ${this.#o.replay(r.seed)}`,
      `history: ${r.keptIn}/history.jsonl  (npm run lincheck -- ${r.keptIn}/history.jsonl)`,
      `cluster logs and data: ${this.cluster.dir}`,
      `operations: ${r.ops.ok} ok, ${r.ops.unknown} unknown, ${r.ops.fail} failed, ${r.ops.staleReads} stale reads; errors ${JSON.stringify(r.workload.errors)}`,
      'problems:',
      ...r.problems.map((p) => `  - ${p}`),
      'schedule:',
      ...r.schedule.map((e) => `  ${formatEntry(e)}`),
    ].join('\n');
  }

  /** What the emulator's relays carried (null without a WAN profile). */
  netStats(): Promise<NetStats> | null {
    return this.#net?.emulator.stats() ?? null;
  }

  #linkKind(): string {
    if (this.#o.netns !== undefined) return 'netns links';
    return this.#net !== null ? `loopback through the ${this.#net.emulator.profile.name} relays + injectFault` : 'loopback + injectFault';
  }

  /** Stops everything; on failure keeps the cluster's logs and temp dir (and prints their tails). */
  async close(failed: boolean): Promise<void> {
    await this.#admin.close().catch(() => {});
    await this.cluster.close({ failed });
    await this.#o.netns?.close();
    if (this.#net !== null) {
      await this.#net.emulator.stop();
      await this.#net.group.stopAll();
    }
  }
}
