// One cluster of `npm run bench:parallel`: the bench adapter (edgeraft-cluster.ts) in a given
// consensus mode with several connections per peer pair, where every connection of one follower
// runs through the jitter proxy and leadership is kept off that follower.

import { connect } from '../../src/client/node.ts';
import { LocalCluster, MemberStartError } from '../../src/runtime-node/local-cluster.ts';
import { EdgeraftCluster, type ConsensusMode } from './edgeraft-cluster.ts';
import type { JitterProxy } from './parallel-jitter.ts';
import { sleep, type ProcessGroup } from './procs.ts';

export type { ConsensusMode } from './edgeraft-cluster.ts';

/** How long leadership may take to leave the jittered member after a transfer. */
const leaveJitteredMs = 15_000;

export interface ModeClusterOptions {
  readonly mode: ConsensusMode;
  readonly members: number;
  readonly cliPath: string;
  /** Parent of this cluster's data dirs and logs. */
  readonly dir: string;
  readonly secretFile: string;
  readonly token: string;
  /** Moves leadership off the jittered member. */
  readonly adminToken: string;
  readonly connections: number;
  readonly sync: string;
  /** The member (0-based) whose every peer connection runs through the proxy. */
  readonly jittered: number;
  readonly proxy: JitterProxy;
  /** When set, each peer writes a V8 CPU profile to `<profileDir>/<id>/` as it exits. */
  readonly profileDir: string | null;
}

/**
 * Null when a lone peer of `mode` starts (logs 'started') within `timeoutMs`, else what it said
 * when it exited: peers refused --mode parallel until they supported it, and a benchmark that
 * measures both modes should say so and go on with raft rather than count it as a crash.
 */
export async function modeRefusal(cliPath: string, mode: ConsensusMode, dir: string, secretFile: string, timeoutMs = 10_000): Promise<string | null> {
  const probe = await LocalCluster.create({
    size: 1, idPrefix: 'probe', dir, secretFile, cli: cliPath, args: ['--mode', mode, '--log-level', 'info'], limits: { startTimeoutMs: timeoutMs },
  });
  const id = probe.ids[0]!;
  try {
    await probe.start(id);
    return null;
  } catch (err) {
    if (!(err instanceof MemberStartError)) throw err;
    if (probe.isRunning(id)) return `no 'started' from a lone ${mode} peer within ${timeoutMs} ms`;
    return err.logTail.filter((l) => !l.startsWith('--- ')).slice(-3).join(' ') || err.reason;
  } finally {
    await probe.close();
  }
}

export class ModeCluster {
  readonly #o: ModeClusterOptions;
  readonly #c: EdgeraftCluster;

  /**
   * Members get per-member --peers lists: the jittered member reaches the others, and they reach
   * it, through proxy ports; every other pair talks directly. Addresses given at bootstrap stay
   * in each member's own data dir, so the lists may differ.
   */
  constructor(o: ModeClusterOptions, group: ProcessGroup) {
    this.#o = o;
    this.#c = new EdgeraftCluster({
      members: o.members, cliPath: o.cliPath, dir: o.dir, secretFile: o.secretFile, token: o.token, sync: o.sync, mode: o.mode,
      connections: o.connections, idPrefix: o.mode === 'raft' ? 'r' : 'q', profileDir: o.profileDir, profileName: (id) => id,
      extraNodeArgs: [], label: `edgeraft ${o.mode}`, route: (ids, ports) => this.#route(ids, ports),
    }, group);
  }

  async #route(ids: readonly string[], ports: readonly number[]): Promise<(id: string) => string> {
    const { mode, jittered, proxy } = this.#o;
    const via = new Map<string, number>();
    for (let i = 0; i < ids.length; i++) {
      if (i === jittered) continue;
      via.set(`${i}>${jittered}`, await proxy.link(`${mode} ${ids[i]}->${ids[jittered]}`, ports[jittered]!));
      via.set(`${jittered}>${i}`, await proxy.link(`${mode} ${ids[jittered]}->${ids[i]}`, ports[i]!));
    }
    return (viewerId) => {
      const viewer = ids.indexOf(viewerId);
      return ids.map((id, i) => `${id}=127.0.0.1:${via.get(`${viewer}>${i}`) ?? ports[i]}`).join(',');
    };
  }

  get mode(): ConsensusMode {
    return this.#o.mode;
  }

  get token(): string {
    return this.#o.token;
  }

  get leaderId(): string {
    return this.#c.leaderId;
  }

  get peerIds(): string[] {
    return this.#c.peerIds;
  }

  get jitteredId(): string {
    return this.#c.peerIds[this.#o.jittered] ?? '?';
  }

  async start(): Promise<void> {
    await this.#c.start();
    await this.keepLeaderOffJittered();
  }

  /** Moves leadership to the first other member when the jittered one leads; true if it moved. */
  async keepLeaderOffJittered(): Promise<boolean> {
    const jitteredId = this.jitteredId;
    if (this.leaderId !== jitteredId) return false;
    const to = this.peerIds.find((id) => id !== jitteredId)!;
    const kv = await connect({ peers: [this.#c.url(jitteredId)], token: this.#o.adminToken, timeoutMs: 10_000 });
    try {
      await kv.transferLeader(to);
    } finally {
      await kv.close();
    }
    const deadline = Date.now() + leaveJitteredMs;
    while (this.leaderId === jitteredId) {
      if (Date.now() > deadline) throw new Error(`${this.#o.mode}: leadership did not leave the jittered member ${jitteredId}`);
      await sleep(100);
      await this.#c.recheckLeader();
    }
    return true;
  }

  /** Waits for an agreed leader; true when it is not the one before. */
  recheckLeader(): Promise<boolean> {
    return this.#c.recheckLeader();
  }

  /** The leader's process first. */
  processes(): ReturnType<EdgeraftCluster['processes']> {
    return this.#c.processes();
  }

  /** Member lists for `k` SDK clients: every member, leader first (writes go to the leader). */
  clientPeers(k: number): string[][] {
    const all = this.#c.urlsLeaderFirst();
    return Array.from({ length: k }, () => all);
  }

  /** Every member's /metrics, in member order. */
  scrapeAll(): Promise<Array<Map<string, number>>> {
    return this.#c.scrapeAll();
  }

  /** Writes keys `k/0` .. `k/{keyCount-1}` once, `inflight` at a time, before any measurement. */
  prefill(keyCount: number, valueBytes: number, inflight = 512): Promise<void> {
    return this.#c.prefill(keyCount, valueBytes, inflight);
  }

  stop(): Promise<void> {
    return this.#c.stop();
  }
}
