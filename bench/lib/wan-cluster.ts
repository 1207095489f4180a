// One cluster of `npm run bench:wan`: real raft-mode peers from the built CLI whose every peer
// link runs through the WAN emulator's relays, the relays that reach each member from each client
// region, and the address rewriting that keeps clients on them (members hand out the addresses
// in their own --peers: leader hints and cluster views would otherwise skip the client's WAN).
// Also what the failover phase does to members: kill, freeze, restart, move leadership back.

import type { ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { connect } from '../../src/client/node.ts';
import type { KvClient } from '../../src/client/kv.ts';
import { agreedLeader, LocalCluster, type MemberHealth } from '../../src/runtime-node/local-cluster.ts';
import { dialWs } from '../../src/runtime-node/ws-socket.ts';
import type { DialOptions } from '../../src/transport/socket.ts';
import type { NetEmulator } from './net/emulator.ts';
import { freePorts, settleDisk, sleep, type ProcessGroup } from './procs.ts';

/** Waits of a cluster on emulated WAN links (slower than loopback: elections take round trips). */
const limits = { startTimeoutMs: 30_000, stopGraceMs: 10_000, httpTimeoutMs: 5_000, leaderTimeoutMs: 30_000 } as const;
const transferTimeoutMs = 15_000;
const crashTailLines = 8;

export interface WanClusterOptions {
  readonly members: number;
  readonly cliPath: string;
  readonly dir: string;
  readonly secretFile: string;
  /** A client token (loads) and an admin token (leadership transfer). */
  readonly token: string;
  readonly adminToken: string;
  readonly sync: string;
  readonly idPrefix: string;
  /** Peer flags after the common ones (derived timeouts: --tick-ms N). */
  readonly peerArgs: readonly string[];
  readonly emulator: NetEmulator;
  /** Names this cluster's processes in errors. */
  readonly label: string;
}

export class WanCluster {
  readonly #o: WanClusterOptions;
  readonly #group: ProcessGroup;
  #local: LocalCluster | null = null;
  #leader: string | null = null;
  /** Every address some member hands out for member id (its own listen address, each viewer's relay). */
  readonly #addressOf = new Map<string, string>();
  /** clientUrls[region][member index]. */
  #clientUrls: string[][] = [];
  readonly #children = new Map<string, ChildProcess>();

  constructor(o: WanClusterOptions, group: ProcessGroup) {
    this.#o = o;
    this.#group = group;
  }

  get label(): string {
    return this.#o.label;
  }

  get emulator(): NetEmulator {
    return this.#o.emulator;
  }

  get members(): number {
    return this.#o.members;
  }

  get token(): string {
    return this.#o.token;
  }

  get peerArgs(): readonly string[] {
    return this.#o.peerArgs;
  }

  get ids(): string[] {
    return this.#cluster().ids;
  }

  get leaderId(): string {
    return this.#leader ?? '?';
  }

  /** The leader's member index (0-based), -1 before start. */
  get leaderIndex(): number {
    return this.#local === null || this.#leader === null ? -1 : this.#local.ids.indexOf(this.#leader);
  }

  #cluster(): LocalCluster {
    if (this.#local === null) throw new Error(`${this.#o.label}: the cluster is not running`);
    return this.#local;
  }

  async start(): Promise<void> {
    const { members, dir, cliPath, secretFile, sync, idPrefix, peerArgs, emulator } = this.#o;
    mkdirSync(dir, { recursive: true });
    const ports = await freePorts(members);
    const ids = ports.map((_, i) => `${idPrefix}${i + 1}`);
    const peersOf = await emulator.routePeers(ids, ports);
    // Every address a member may give a client for another: its own listen address, and the
    // relay each other member dials it through.
    ids.forEach((id, i) => this.#addressOf.set(`ws://127.0.0.1:${ports[i]}`, id));
    for (const viewer of ids) {
      for (const entry of peersOf(viewer).split(',')) {
        const eq = entry.indexOf('=');
        this.#addressOf.set(`ws://${entry.slice(eq + 1)}`, entry.slice(0, eq));
      }
    }
    const regions = emulator.profile.regions.length;
    this.#clientUrls = await Promise.all(Array.from({ length: regions }, (_, r) => Promise.all(ids.map((id) => emulator.clientUrl(r, id)))));
    const local = new LocalCluster({
      size: members, idPrefix, dir, secretFile, ports, cli: cliPath,
      args: ['--sync', sync, '--log-level', 'info', ...peerArgs], peersOf, limits,
    });
    this.#local = local;
    await local.startAll();
    for (const id of local.ids) this.#track(id);
    this.#leader = await Promise.race([local.leader(), this.#group.crashed]);
    await settleDisk([...this.#children.values()], this.#group.crashed);
  }

  #track(id: string): void {
    const local = this.#cluster();
    const child = local.child(id);
    if (child === null) throw new Error(`${this.#o.label} peer ${id} exited right after it started:\n${local.tail(id, crashTailLines).join('\n')}`);
    this.#children.set(id, child);
    this.#group.add(`${this.#o.label} peer ${id}`, child, () => `\n--- last lines of ${id} (${local.logPath(id)}):\n${local.tail(id, crashTailLines).join('\n')}`);
  }

  /** A member's relay from a client region. */
  clientUrl(region: number, index: number): string {
    const u = this.#clientUrls[region]?.[index];
    if (u === undefined) throw new RangeError(`${this.#o.label}: no relay for region ${region} and member ${index}`);
    return u;
  }

  /** What a client in `region` dials instead of each address the members hand out. */
  dialMap(region: number): Record<string, string> {
    const ids = this.ids;
    const out: Record<string, string> = {};
    for (const [addr, id] of this.#addressOf) out[addr] = this.clientUrl(region, ids.indexOf(id));
    return out;
  }

  /** The members' URLs from `region`, `first` (a member index) first, then the rest in order. */
  urlsFrom(region: number, first: number): string[] {
    const ids = this.ids;
    return [first, ...ids.map((_, i) => i).filter((i) => i !== first)].map((i) => this.clientUrl(region, i));
  }

  /** An SDK client in `region` (through its relays and address rewriting). */
  client(region: number, first: number, o: { token?: string; timeoutMs?: number } = {}): Promise<KvClient> {
    const map = this.dialMap(region);
    return connect({
      peers: this.urlsFrom(region, first), token: o.token ?? this.#o.token, timeoutMs: o.timeoutMs ?? 30_000,
      dial: (url: string, d: DialOptions) => dialWs(map[url] ?? url, d),
    });
  }

  /** The leader's process first, then the followers' (running ones). */
  processes(): ChildProcess[] {
    const local = this.#cluster();
    const lead = this.#leader;
    return [...(lead !== null ? [lead] : []), ...local.ids.filter((id) => id !== lead)].flatMap((id) => local.child(id) ?? []);
  }

  /** Waits for an agreed leader; true when it is not the one before. */
  async recheckLeader(timeoutMs = 15_000): Promise<boolean> {
    const before = this.#leader;
    this.#leader = await Promise.race([this.#cluster().leader(timeoutMs), this.#group.crashed]);
    return this.#leader !== before;
  }

  /** Moves leadership to member `index` (transfer-leader through the direct address) unless it leads; true if it moved. */
  async placeLeader(index: number): Promise<boolean> {
    const local = this.#cluster();
    const to = local.ids[index];
    if (to === undefined) throw new RangeError(`${this.#o.label}: no member ${index}`);
    await this.recheckLeader();
    if (this.#leader === to) return false;
    const deadline = Date.now() + transferTimeoutMs;
    let last = '';
    while (Date.now() < deadline) {
      try {
        const kv = await connect({ peers: [local.url(this.#leader!)], token: this.#o.adminToken, timeoutMs: 10_000 });
        try {
          await kv.transferLeader(to);
        } finally {
          await kv.close();
        }
      } catch (err) {
        last = (err as Error).message;
      }
      for (let i = 0; i < 20 && Date.now() < deadline; i++) {
        await sleep(100);
        try {
          await this.recheckLeader(2000);
        } catch {
          continue;
        }
        if (this.#leader === to) return true;
      }
    }
    throw new Error(`${this.#o.label}: leadership did not move to ${to} within ${transferTimeoutMs} ms${last !== '' ? ` (last error: ${last})` : ''}`);
  }

  metrics(id: string): Promise<Map<string, number>> {
    return this.#cluster().metrics(id);
  }

  /** Every running member's /metrics, in member order (an empty map for one not running). */
  async scrapeAll(): Promise<Array<Map<string, number>>> {
    const local = this.#cluster();
    return Promise.all(local.ids.map((id) => (local.isRunning(id) && !local.isPaused(id) ? local.metrics(id).catch(() => new Map<string, number>()) : new Map<string, number>())));
  }

  /** The agreed leader among the members that run and are not frozen, or null (one poll). */
  async agreedNow(): Promise<string | null> {
    const local = this.#cluster();
    const views: Map<string, MemberHealth | Error> = await local.healths();
    return agreedLeader(views, local.ids.length);
  }

  /** Writes keys `k/0` .. `k/{n-1}` through the leader's direct address (set-up, not measured). */
  async prefill(keyCount: number, valueBytes: number, inflight = 200): Promise<void> {
    const local = this.#cluster();
    const kv = await connect({ peers: [local.url(this.#leader!), ...local.ids.map((id) => local.url(id))], token: this.#o.token, timeoutMs: 30_000 });
    try {
      const value = new Uint8Array(valueBytes).fill(0x5a);
      let next = 0;
      await Promise.all(Array.from({ length: Math.min(inflight, keyCount) }, async () => {
        while (next < keyCount) await kv.put(`k/${next++}`, value);
      }));
    } finally {
      await kv.close();
    }
  }

  // ---- faults (the failover phase) --------------------------------------------------------

  /** SIGKILL (a crash) or SIGSTOP (a freeze) to member `id`; its exit is expected. */
  signal(id: string, how: 'kill' | 'stop'): Promise<unknown> {
    const local = this.#cluster();
    const child = this.#children.get(id);
    if (child !== undefined) this.#group.forget([child]);
    if (how === 'stop') {
      local.pause(id);
      return Promise.resolve();
    }
    this.#children.delete(id);
    return local.kill(id);
  }

  /** Undoes signal(): starts a killed member again on its data, continues a frozen one. */
  async recover(id: string, how: 'kill' | 'stop'): Promise<void> {
    const local = this.#cluster();
    if (how === 'stop') {
      local.resume(id);
      const child = local.child(id);
      if (child !== null) this.#group.add(`${this.#o.label} peer ${id}`, child);
      return;
    }
    await local.start(id);
    this.#track(id);
  }

  /** SIGTERM to every member (SIGKILL after 10 s), waiting until each is gone. */
  async stop(): Promise<void> {
    const local = this.#local;
    if (local === null) return;
    this.#group.forget([...this.#children.values()]);
    this.#children.clear();
    await local.close();
    this.#local = null;
    this.#leader = null;
  }
}
