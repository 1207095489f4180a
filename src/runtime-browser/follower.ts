// A browser tab as a follower-reader: an observer of the cluster's log (never votes, never counts
// in a quorum) that keeps its own copy in IndexedDB, answers linearizable reads locally after
// getting a read index from the leader, serves stale reads at once, and emits change events.
// It follows the leader: when leadership moves, it connects to the new leader.

import { KvClient } from '../client/kv.ts';
import { RaftDriver } from '../core/driver.ts';
import type { Value } from '../core/kv/command.ts';
import { KvMachine, type KvResult } from '../core/kv/machine.ts';
import { RaftNode } from '../core/node.ts';
import { SeededPrng } from '../core/prng.ts';
import type { LogStore } from '../core/storage.ts';
import { Mesh } from '../transport/mesh.ts';
import type { Dialer } from '../transport/socket.ts';
import { readClaims } from '../transport/token.ts';
import { dialDom } from './dom-socket.ts';
import { IdbStore } from './idb-store.ts';

export interface JoinOptions {
  /** Member addresses (ws://host:port); the replica finds the leader through any of them. */
  readonly peers: readonly string[];
  /** A token (edgeraft token --role ...): any role replicates and reads; 'client' and 'admin' also write. */
  readonly token: string;
  /** Where the copy lives; default IndexedDB, one database per cluster and token subject. */
  readonly store?: LogStore;
  /** Opens sockets; default the native WebSocket. */
  readonly dial?: Dialer;
  /** Milliseconds per Raft tick (a learner only needs time for its reorder buffer). */
  readonly tickMs?: number;
  /** How often to check who leads, in ms. */
  readonly leaderCheckMs?: number;
  /** How long a linearizable read may wait for a leader to answer, in ms. */
  readonly readTimeoutMs?: number;
}

export interface ReplicaStatus {
  readonly id: string;
  readonly applied: number;
  readonly leader: string | null;
  /** Entries the leader has committed that this replica has not applied yet (as last seen). */
  readonly lag: number;
  readonly connected: boolean;
}

export type ReplicaConsistency = 'linearizable' | 'stale';

export class FollowerReplica {
  readonly id: string;
  readonly #kv: KvClient;
  readonly #machine: KvMachine;
  readonly #driver: RaftDriver<KvResult>;
  readonly #store: LogStore;
  readonly #mesh: Mesh;
  #leader: { id: string; url: string } | null;
  #leaderCommit = 0;
  readonly #timers: Array<ReturnType<typeof setInterval>> = [];
  #closed = false;
  #readTimeoutMs = 10_000;

  private constructor(id: string, kv: KvClient, machine: KvMachine, driver: RaftDriver<KvResult>, store: LogStore, mesh: Mesh, leader: { id: string; url: string }) {
    this.id = id;
    this.#kv = kv;
    this.#machine = machine;
    this.#driver = driver;
    this.#store = store;
    this.#mesh = mesh;
    this.#leader = leader;
  }

  static async join(o: JoinOptions): Promise<FollowerReplica> {
    // Any token may replicate (reading the log is reading every key); its role decides what the
    // replica's writes may do: 'client' and 'admin' write, 'reader' and 'learner' only read.
    const claims = readClaims(o.token);
    const dial = o.dial ?? dialDom;
    const kv = new KvClient({ peers: o.peers, token: o.token, dial });
    const leader = await FollowerReplica.#findLeader(kv);
    const store = o.store ?? await IdbStore.open({ cluster: claims.cluster, member: claims.sub });
    const loaded = await store.load();
    const machine = new KvMachine();
    if (loaded.snapshot !== null) machine.restore(loaded.snapshot.data);
    const seed = new Uint32Array(1);
    crypto.getRandomValues(seed);
    // Not in the configuration: it never campaigns, and leases are never served from a tab.
    const node = new RaftNode({
      options: { id: claims.sub, prng: new SeededPrng(seed[0]!), leaseReads: false },
      bootstrap: { voters: [], learners: [] }, restore: loaded,
    });
    let mesh: Mesh | null = null;
    const tickMs = o.tickMs ?? 100;
    const driver = new RaftDriver<KvResult>({
      node, store, machine, send: (msgs) => mesh?.send(msgs), snapshotEntries: 10_000,
      readTimeoutTicks: Math.max(5, Math.ceil(1000 / tickMs)),
    });
    mesh = await Mesh.start({ id: claims.sub, cluster: claims.cluster, token: o.token, peers: { [leader.id]: leader.url }, dial });
    const replica = new FollowerReplica(claims.sub, kv, machine, driver, store, mesh, leader);
    replica.#readTimeoutMs = o.readTimeoutMs ?? 10_000;
    mesh.on('messages', (e) => { for (const m of e.msgs) driver.step(m); });
    replica.#timers.push(setInterval(() => driver.tick(), tickMs));
    replica.#timers.push(setInterval(() => void replica.#checkLeader(), o.leaderCheckMs ?? 1000));
    return replica;
  }

  /** Any member names the leader it follows; ask until one does (an election may be running). */
  static async #findLeader(kv: KvClient, timeoutMs = 10_000): Promise<{ id: string; url: string }> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const st = await kv.status('any');
      if (typeof st.leader === 'string' && typeof st.leaderUrl === 'string') return { id: st.leader, url: st.leaderUrl };
      if (Date.now() > deadline) throw new Error(`no member named a leader within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Follows leadership: when another member leads, replicate from it instead. */
  async #checkLeader(): Promise<void> {
    if (this.#closed) return;
    try {
      const st = await this.#kv.status('any');
      if (typeof st.commit === 'number') this.#leaderCommit = Math.max(this.#leaderCommit, st.commit);
      const id = st.leader;
      const url = st.leaderUrl;
      if (typeof id !== 'string' || typeof url !== 'string') return;
      if (this.#leader?.id === id) return;
      if (this.#leader !== null) this.#mesh.removePeer(this.#leader.id);
      this.#leader = { id, url };
      this.#mesh.addPeer(id, url);
    } catch {
      // No leader reachable right now: keep serving stale reads, try again at the next check.
    }
  }

  /** The value of `key`: linearizable (a read index from the leader, applied here) or stale. */
  async get(key: string, options: { consistency?: ReplicaConsistency } = {}): Promise<Value | undefined> {
    return (await this.getWithMeta(key, options)).value;
  }

  async getWithMeta(key: string, options: { consistency?: ReplicaConsistency } = {}): Promise<{ value: Value | undefined; index: number; path: 'follower' | 'stale' }> {
    if ((options.consistency ?? 'linearizable') === 'stale') {
      return { value: this.#machine.get(key), index: this.#machine.appliedIndex, path: 'stale' };
    }
    // Right after a (re)join the replica may not have heard from the leader yet, and a leader
    // change drops reads in flight: ask again until the deadline.
    const deadline = Date.now() + this.#readTimeoutMs;
    for (;;) {
      try {
        const r = await this.#driver.read();
        return { value: this.#machine.get(key), index: r.index, path: 'follower' };
      } catch (err) {
        const code = (err as { code?: string }).code;
        if ((code !== 'ERR_NOT_LEADER' && code !== 'ERR_UNAVAILABLE') || Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 25));
      }
    }
  }

  /** Calls `fn` for every change under `prefix` as entries apply here; returns the unsubscribe. */
  subscribe(prefix: string, fn: (key: string, value: Value | undefined, index: number) => void): () => void {
    return this.#machine.onChange((key, value, index) => {
      if (key.startsWith(prefix) && !key.startsWith('\u0000')) fn(key, value, index);
    });
  }

  /** A write, forwarded to the leader through the client protocol (the token must allow it). */
  put(key: string, value: Value): Promise<{ index: number }> {
    return this.#kv.put(key, value);
  }

  status(): ReplicaStatus {
    const leader = this.#leader?.id ?? null;
    return {
      id: this.id, applied: this.#machine.appliedIndex, leader,
      lag: Math.max(0, this.#leaderCommit - this.#machine.appliedIndex),
      connected: leader !== null && this.#mesh.isConnected(leader),
    };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const t of this.#timers) clearInterval(t);
    await this.#driver.close();
    await this.#mesh.close();
    await this.#store.close();
    await this.#kv.close();
  }
}

/** Joins a cluster as a follower-reader (see FollowerReplica). */
export function joinAsFollower(options: JoinOptions): Promise<FollowerReplica> {
  return FollowerReplica.join(options);
}
