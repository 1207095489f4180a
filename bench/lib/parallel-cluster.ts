// One cluster of `npm run bench:parallel`: the bench adapter (edgeraft-cluster.ts) in a given
// consensus mode with several connections per peer pair, its links either all through the WAN
// emulator (--net: leadership kept on one member, clients dial from their regions) or, without
// --net, one follower's links through the jitter proxy (leadership kept off that follower).

import { connect } from '../../src/client/node.ts';
import { LocalCluster, MemberStartError } from '../../src/runtime-node/local-cluster.ts';
import { EdgeraftCluster, type ConsensusMode } from './edgeraft-cluster.ts';
import type { NetEmulator } from './net/emulator.ts';
import { suggestedPeerArgs } from './net/profiles.ts';
import type { JitterProxy } from './parallel-jitter.ts';
import { sleep, type ProcessGroup } from './procs.ts';

export type { ConsensusMode } from './edgeraft-cluster.ts';

/** How long leadership may take to move after a transfer. */
const moveLeaderMs = 15_000;

/**
 * Where the cluster's links run. 'jitter': every connection of member `jittered` (0-based) runs
 * through the proxy and leadership is kept off it. 'net': every member pair's connections run
 * through the emulator's relays and leadership is kept on member `leader`, so both modes
 * measure the same geography (the floor depends on where the leader is).
 */
export type Links =
  | { readonly kind: 'jitter'; readonly proxy: JitterProxy; readonly jittered: number }
  | { readonly kind: 'net'; readonly net: NetEmulator; readonly leader: number };

export interface ModeClusterOptions {
  readonly mode: ConsensusMode;
  readonly members: number;
  readonly cliPath: string;
  /** Parent of this cluster's data dirs and logs. */
  readonly dir: string;
  readonly secretFile: string;
  readonly token: string;
  /** Moves leadership (transfer-leader). */
  readonly adminToken: string;
  readonly connections: number;
  readonly sync: string;
  readonly links: Links;
  /** When set, each peer writes a V8 CPU profile to `<profileDir>/<id>/` as it exits. */
  readonly profileDir: string | null;
}

/** What one load generator's SDK clients are given: their member lists and, over the emulator, where to dial each address. */
export interface ClientPlan {
  readonly clientPeers: string[][];
  /** A member address as the members advertise it (leader hints) -> the relay reaching it from the client's region. */
  readonly dialMap?: Record<string, string>;
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

/** `id=127.0.0.1:PORT,...` (a --peers value) -> [id, PORT] pairs. */
export function peersFlagPorts(flag: string): Array<readonly [string, number]> {
  return flag.split(',').map((entry) => {
    const m = /^([^=]+)=[^:]+:(\d+)$/.exec(entry.trim());
    if (m === null) throw new Error(`not an id=host:port entry: '${entry}'`);
    return [m[1]!, Number(m[2])] as const;
  });
}

export class ModeCluster {
  readonly #o: ModeClusterOptions;
  readonly #c: EdgeraftCluster;
  /** Each member's --peers value (its view of every address), once routed. */
  #peersOf: ((viewerId: string) => string) | null = null;

  /**
   * Members get per-member --peers lists (the addresses they dial, relays included). Addresses
   * given at bootstrap stay in each member's own data dir, so the lists may differ.
   */
  constructor(o: ModeClusterOptions, group: ProcessGroup) {
    this.#o = o;
    this.#c = new EdgeraftCluster({
      members: o.members, cliPath: o.cliPath, dir: o.dir, secretFile: o.secretFile, token: o.token, sync: o.sync, mode: o.mode,
      connections: o.connections, idPrefix: o.mode === 'raft' ? 'r' : 'q', profileDir: o.profileDir, profileName: (id) => id,
      extraNodeArgs: [], label: `edgeraft ${o.mode}`,
      // On a WAN profile, the timeouts derived from its round trips (as bench:wan's derived cluster).
      peerArgs: o.links.kind === 'net' ? suggestedPeerArgs(o.links.net.profile) : [],
      route: async (ids, ports) => {
        this.#peersOf = await this.#route(ids, ports);
        return this.#peersOf;
      },
    }, group);
  }

  async #route(ids: readonly string[], ports: readonly number[]): Promise<(id: string) => string> {
    const links = this.#o.links;
    if (links.kind === 'net') return links.net.routePeers(ids, ports);
    const { jittered, proxy } = links;
    const { mode } = this.#o;
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

  /** The member whose links are jittered (no --net), else null. */
  get jitteredId(): string | null {
    const links = this.#o.links;
    return links.kind === 'jitter' ? this.#c.peerIds[links.jittered] ?? '?' : null;
  }

  /** The member leadership is kept on (--net), else null. */
  get homeLeaderId(): string | null {
    const links = this.#o.links;
    return links.kind === 'net' ? this.#c.peerIds[links.leader] ?? '?' : null;
  }

  /** The leader's index among the members (for the floor: where it sits). */
  get leaderIndex(): number {
    return this.#c.peerIds.indexOf(this.leaderId);
  }

  /** 'leader', 'jittered follower' or 'follower' (CPU profile labels). */
  role(id: string): string {
    return id === this.leaderId ? 'leader' : id === this.jitteredId ? 'jittered follower' : 'follower';
  }

  async start(): Promise<void> {
    await this.#c.start();
    await this.placeLeader();
  }

  /** The member leadership should move to, or null when it is where it belongs. */
  #wantedLeader(): string | null {
    const home = this.homeLeaderId;
    if (home !== null) return this.leaderId === home ? null : home;
    const jittered = this.jitteredId;
    return this.leaderId === jittered ? this.peerIds.find((id) => id !== jittered)! : null;
  }

  /** Moves leadership where the links want it (on the home member, off the jittered one); true if it moved. */
  async placeLeader(): Promise<boolean> {
    const to = this.#wantedLeader();
    if (to === null) return false;
    const kv = await connect({ peers: [this.#c.url(this.leaderId)], token: this.#o.adminToken, timeoutMs: 10_000 });
    try {
      await kv.transferLeader(to);
    } finally {
      await kv.close();
    }
    const deadline = Date.now() + moveLeaderMs;
    while (this.#wantedLeader() !== null) {
      if (Date.now() > deadline) throw new Error(`${this.#o.mode}: leadership did not move to ${to} (leader: ${this.leaderId})`);
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

  /**
   * Member lists for `k` SDK clients in `region` (leader first: writes go to the leader). Over the
   * emulator each client dials the relays from its region, and every address a member may hint
   * (its own listener, and each member's relay ports to the others) maps to the relay from that
   * region too, so a redirected client never takes a peer's link or a direct loopback path.
   */
  async clientPlan(region: number, k: number): Promise<ClientPlan> {
    const all = this.#c.urlsLeaderFirst();
    const links = this.#o.links;
    if (links.kind === 'jitter') return { clientPeers: Array.from({ length: k }, () => all) };
    const ids = [this.leaderId, ...this.peerIds.filter((id) => id !== this.leaderId)];
    const urls = await Promise.all(ids.map((id) => links.net.clientUrl(region, id)));
    const relayOf = new Map(ids.map((id, i) => [id, urls[i]!]));
    const dialMap: Record<string, string> = {};
    for (const id of this.peerIds) dialMap[this.#c.url(id)] = relayOf.get(id)!;
    const peersOf = this.#peersOf;
    if (peersOf !== null) {
      for (const viewer of this.peerIds) {
        for (const [id, port] of peersFlagPorts(peersOf(viewer))) dialMap[`ws://127.0.0.1:${port}`] = relayOf.get(id)!;
      }
    }
    return { clientPeers: Array.from({ length: k }, () => urls), dialMap };
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
