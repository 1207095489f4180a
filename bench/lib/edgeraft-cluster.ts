// The edgeraft side of `npm run bench` and `npm run bench:parallel`: real peers from the built CLI
// (fsync on unless --sync none) on loopback, spawned, stopped and asked for their leader by the
// local-cluster harness (src/runtime-node/local-cluster.ts), each in its own data dir; plus the keys
// every load uses and what bench/lib/measure.ts needs (client lists, fsync counters from /metrics).

import type { ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect } from '../../src/client/node.ts';
import { LocalCluster } from '../../src/runtime-node/local-cluster.ts';
import type { Point } from './compare.ts';
import { histogramBuckets, type BenchCluster, type SyncSample } from './measure.ts';
import { freePorts, settleDisk, type ProcessGroup } from './procs.ts';

export type ConsensusMode = 'raft' | 'parallel';

/** The load generator both benchmarks fork (bench/cluster-load.ts). */
const defaultLoadScript = fileURLToPath(new URL('../cluster-load.ts', import.meta.url));

/** Waits of a benchmark cluster: members preallocate WAL segments, and a loaded leader answers slowly. */
const limits = { startTimeoutMs: 30_000, stopGraceMs: 10_000, httpTimeoutMs: 5_000, leaderTimeoutMs: 30_000 } as const;
/** Waiting for a leader again after a measured run. */
const recheckTimeoutMs = 15_000;
/** Lines of a crashed member's output in the benchmark's error. */
const crashTailLines = 8;

export interface EdgeraftOptions {
  readonly members: number;
  readonly cliPath: string;
  /** Parent of this cluster's data dirs and logs. */
  readonly dir: string;
  readonly secretFile: string;
  readonly token: string;
  /** --sync of every peer: fdatasync or none. */
  readonly sync: string;
  /** --mode of every peer; absent: the peers' default. */
  readonly mode?: ConsensusMode;
  /** --connections per peer pair; absent: the peers' default. */
  readonly connections?: number;
  /** Member ids are PREFIX1..PREFIXN (default 'p'). */
  readonly idPrefix?: string;
  /** When set, each peer writes a V8 CPU profile to `<profileDir>/<profileName(id)>/` as it exits. */
  readonly profileDir: string | null;
  /** Default `c<members>-<id>`. */
  readonly profileName?: (id: string) => string;
  /** Node flags of every peer (EDGERAFT_BENCH_NODE_ARGS). */
  readonly extraNodeArgs: readonly string[];
  /**
   * Given the ids and ports before any member starts, returns each member's --peers (bench:parallel
   * routes one member's links through its jitter proxy); absent, every member lists the others directly.
   */
  readonly route?: (ids: readonly string[], ports: readonly number[]) => Promise<(id: string) => string>;
  /** Names this cluster's processes in errors (default 'edgeraft'). */
  readonly label?: string;
  /** Extra `edgeraft peer` flags of every member (a WAN profile's tick and read rounds). */
  readonly peerArgs?: readonly string[];
}

export class EdgeraftCluster implements BenchCluster {
  readonly system = 'edgeraft' as const;
  readonly loadScript: string;
  readonly #o: EdgeraftOptions;
  readonly #group: ProcessGroup;
  #local: LocalCluster | null = null;
  #leader: string | null = null;

  constructor(o: EdgeraftOptions, group: ProcessGroup, loadScript = defaultLoadScript) {
    this.#o = o;
    this.#group = group;
    this.loadScript = loadScript;
  }

  get members(): number {
    return this.#o.members;
  }

  get token(): string {
    return this.#o.token;
  }

  get mode(): ConsensusMode {
    return this.#o.mode ?? 'raft';
  }

  get leaderId(): string {
    return this.#leader ?? '?';
  }

  /** Member ids, in order (empty before start()). */
  get peerIds(): string[] {
    return this.#local?.ids ?? [];
  }

  /** Profile-directory names of this cluster's peers (see --profile). */
  profileName(id: string): string {
    return this.#o.profileName?.(id) ?? `c${this.#o.members}-${id}`;
  }

  get leaderProfileName(): string {
    return this.profileName(this.leaderId);
  }

  #cluster(): LocalCluster {
    if (this.#local === null) throw new Error(`the ${this.#o.label ?? 'edgeraft'} cluster is not running`);
    return this.#local;
  }

  url(id: string): string {
    return this.#cluster().url(id);
  }

  async start(): Promise<void> {
    const { members, dir, cliPath, secretFile, sync, profileDir, extraNodeArgs, mode, connections } = this.#o;
    mkdirSync(dir, { recursive: true });
    const ports = await freePorts(members);
    const prefix = this.#o.idPrefix ?? 'p';
    const peersOf = await this.#o.route?.(ports.map((_, i) => `${prefix}${i + 1}`), ports);
    const local = new LocalCluster({
      size: members, idPrefix: prefix, dir, secretFile, ports, cli: cliPath, nodeArgs: extraNodeArgs,
      memberNodeArgs: (id) => (profileDir !== null ? ['--cpu-prof', '--cpu-prof-dir', join(profileDir, this.profileName(id))] : []),
      args: ['--sync', sync, '--log-level', 'info', ...(mode !== undefined ? ['--mode', mode] : []), ...(connections !== undefined ? ['--connections', String(connections)] : []), ...(this.#o.peerArgs ?? [])],
      ...(peersOf !== undefined ? { peersOf } : {}), limits,
    });
    this.#local = local;
    await local.startAll();
    const label = this.#o.label ?? 'edgeraft';
    for (const id of local.ids) {
      const child = local.child(id);
      if (child === null) throw new Error(`${label} peer ${id} exited right after it started:\n${local.tail(id, crashTailLines).join('\n')}`);
      this.#group.add(`${label} peer ${id} (${members} peers)`, child, () => crashNote(local, id));
    }
    this.#leader = await Promise.race([local.leader(), this.#group.crashed]);
    // Each peer preallocates a 64 MiB zero-filled WAL segment when it starts: not to be timed.
    await settleDisk(this.#children(), this.#group.crashed);
  }

  #children(): ChildProcess[] {
    const local = this.#cluster();
    return local.ids.flatMap((id) => local.child(id) ?? []);
  }

  /** Waits for an agreed leader; true when it is not the one before. */
  async recheckLeader(): Promise<boolean> {
    const before = this.#leader;
    this.#leader = await Promise.race([this.#cluster().leader(recheckTimeoutMs), this.#group.crashed]);
    return this.#leader !== before;
  }

  /** The leader's process first. */
  processes(): ChildProcess[] {
    const local = this.#cluster();
    const lead = this.#leader;
    return [...(lead !== null ? [lead] : []), ...local.ids.filter((id) => id !== lead)].flatMap((id) => local.child(id) ?? []);
  }

  /** Every member's URL, the leader's first (the SDK tries them in order). */
  urlsLeaderFirst(): string[] {
    const local = this.#cluster();
    return [...local.ids.filter((id) => id === this.#leader), ...local.ids.filter((id) => id !== this.#leader)].map((id) => local.url(id));
  }

  /** Every member's id and URL, the leader's first (where the watch phase spreads its watchers). */
  membersLeaderFirst(): Array<{ readonly name: string; readonly url: string }> {
    const local = this.#cluster();
    const ids = [...local.ids.filter((id) => id === this.#leader), ...local.ids.filter((id) => id !== this.#leader)];
    return ids.map((id) => ({ name: id, url: local.url(id) }));
  }

  /** Leader-path loads list every member (leader first); follower and stale reads go to one follower each, spread evenly. */
  clientPeers(point: Point, gi: number, k: number): string[][] {
    const all = this.urlsLeaderFirst();
    const followers = all.slice(1);
    const toFollowers = point.op === 'read' && (point.consistency === 'follower' || point.consistency === 'stale') && followers.length > 0;
    return Array.from({ length: k }, (_, ci) => (toFollowers ? [followers[(gi * k + ci) % followers.length]!] : all));
  }

  async syncSample(): Promise<SyncSample> {
    const m = await this.#cluster().metrics(this.leaderId);
    return {
      syncs: m.get('edgeraft_persist_batch_entries_count') ?? 0,
      entries: m.get('edgeraft_persist_batch_entries_sum') ?? 0,
      syncMs: m.get('edgeraft_persist_duration_ms_sum') ?? 0,
      bytes: m.get('edgeraft_persist_entry_bytes_total') ?? 0,
      buckets: histogramBuckets(m, 'edgeraft_persist_duration_ms'),
    };
  }

  /** Every member's /metrics, in member order. */
  scrapeAll(): Promise<Array<Map<string, number>>> {
    const local = this.#cluster();
    return Promise.all(local.ids.map((id) => local.metrics(id)));
  }

  /** Writes keys `k/0` .. `k/{keyCount-1}` once through the SDK, `inflight` at a time, before any measurement. */
  async prefill(keyCount: number, valueBytes: number, inflight = 100): Promise<void> {
    const kv = await connect({ peers: this.urlsLeaderFirst(), token: this.#o.token, timeoutMs: 30_000 });
    try {
      const value = new Uint8Array(valueBytes).fill(0x5a);
      let next = 0;
      const loop = async (): Promise<void> => {
        while (next < keyCount) await kv.put(`k/${next++}`, value);
      };
      await Promise.all(Array.from({ length: Math.min(inflight, keyCount) }, loop));
    } finally {
      await kv.close();
    }
  }

  /** SIGTERM to every member (SIGKILL after 10 s), waiting until each is gone. */
  async stop(): Promise<void> {
    const local = this.#local;
    if (local === null) return;
    this.#group.forget(local.ids.flatMap((id) => local.child(id) ?? []));
    await local.close();
    this.#local = null;
    this.#leader = null;
  }
}

/** The end of a crashed member's output, and whether something outside this benchmark signalled it. */
function crashNote(local: LocalCluster, id: string): string {
  const lines = local.tail(id, local.limits.tailLines);
  // This benchmark signals its peers only while shutting down, after forgetting them.
  const signalled = lines.some((l) => /"msg":"SIG(TERM|INT): shutting down"/.test(l));
  return `${signalled ? ' after a signal from outside this benchmark' : ''}\n--- last lines of ${id} (${local.logPath(id)}):\n${lines.slice(-crashTailLines).join('\n')}`;
}
