// A browser tab as a follower-reader: an observer of the cluster's log (never votes, never counts
// in a quorum) that keeps its own copy in IndexedDB, answers linearizable reads locally after
// getting a read index from the leader, serves stale reads at once, and emits change events.
// It replicates from the leader or a relaying follower, moves on when its source stops serving
// it, pauses while the page is hidden, and resumes from where it stood (docs/browser.md).

import { KvClient } from '../client/kv.ts';
import type { Clock } from '../core/clock.ts';
import { RaftDriver } from '../core/driver.ts';
import type { ReadResult } from '../core/driver.ts';
import type { Value } from '../core/kv/command.ts';
import { KvMachine, type KvResult } from '../core/kv/machine.ts';
import type { Message, SnapshotMsg } from '../core/message.ts';
import { RaftNode } from '../core/node.ts';
import { SeededPrng } from '../core/prng.ts';
import type { LogStore } from '../core/storage.ts';
// The snapshot stream is runtime-neutral code (cbor-x and timers) that lives with the Node peer.
import { isStreamPayload, SnapshotStreams } from '../transport/snapshot-stream.ts';
import { Backoff, defaultBackoff } from '../transport/backoff.ts';
import { Mesh } from '../transport/mesh.ts';
import type { Dialer } from '../transport/socket.ts';
import { readClaims, type TokenClaims } from '../transport/token.ts';
import type { Logger } from '../transport/transport.ts';
import { dialDom } from './dom-socket.ts';
import { IdbStore, type IdbDurability } from './idb-store.ts';

/** The page's clocks: ticks (reorder buffer, read expiry) come from the monotonic one. */
const browserClock: Clock = { monoMs: () => performance.now(), wallMs: () => Date.now() };

export interface JoinOptions {
  /** Member addresses (ws://host:port); the replica finds the leader through any of them. */
  readonly peers: readonly string[];
  /**
   * A token (edgeraft token --role ...): any role replicates and reads; 'client' and 'admin' also
   * write. Its subject is the replica's member id: two tabs need two subjects.
   */
  readonly token: string;
  /** The cluster the app expects: a token for another one is refused before connecting. */
  readonly cluster?: string;
  /** Where the copy lives; default IndexedDB, one database per cluster and token subject. */
  readonly store?: LogStore;
  /**
   * Durability of the default IndexedDB store. 'relaxed' (the default) skips the disk flush of
   * each transaction: a replica counts in no quorum, so an OS crash that loses its last writes
   * only means it fetches them again (transactions stay atomic and in order), and ten tabs do not
   * compete with the voters' fsyncs on a shared machine.
   */
  readonly durability?: IdbDurability;
  /** Opens sockets; default the native WebSocket. */
  readonly dial?: Dialer;
  /** Milliseconds per Raft tick (a learner only needs time for its reorder buffer and read expiry). */
  readonly tickMs?: number;
  /** How often to ask who leads while all is well, in ms; failed asks back off from 100 ms to 5 s. */
  readonly leaderCheckMs?: number;
  /** How long a linearizable read may wait for a leader to answer, in ms. */
  readonly readTimeoutMs?: number;
  /**
   * Whom to replicate from: 'leader', or 'follower' (a follower relays the committed log and passes
   * reads to the leader, taking that load off it; tabs spread over the followers by subject, and
   * fall back to the leader when none serves). Default 'leader'.
   */
  readonly serveFrom?: 'leader' | 'follower';
  /** Pause while the page is hidden (visibilitychange), resume when it shows again. Default true. */
  readonly pauseWhenHidden?: boolean;
  /**
   * A leader that accepted the link but sends nothing for this long does not follow this replica
   * (it serves --learners-max follower-readers already): drop the link and ask again with backoff.
   */
  readonly notFollowedMs?: number;
}

export type ReplicaState = 'connecting' | 'following' | 'paused' | 'closed';

export type FollowerErrorCode = 'ERR_TOKEN_EXPIRED' | 'ERR_WRONG_CLUSTER' | 'ERR_FORBIDDEN' | 'ERR_NOT_FOLLOWED' | 'ERR_NO_LEADER' | 'ERR_PAUSED' | 'ERR_CLOSED';

/** Operating errors of a follower-reader: a stable code and a message naming the problem. */
export class FollowerError extends Error {
  override readonly name = 'FollowerError';
  readonly code: FollowerErrorCode;
  constructor(code: FollowerErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

export interface ReplicaStatus {
  readonly id: string;
  readonly state: ReplicaState;
  readonly paused: boolean;
  readonly applied: number;
  readonly leader: string | null;
  /** The member this replica replicates from (the leader or a relaying follower), if linked. */
  readonly source: string | null;
  /** Entries the leader has committed that this replica has not applied yet (as last seen). */
  readonly lag: number;
  /** The link to the leader is open (it may still not be followed: see `state` and `problem`). */
  readonly connected: boolean;
  /** The index the replica had applied from its store when it joined (> 0 after a reload). */
  readonly resumedFrom: number;
  /** Entries received over the network since join (in appends, plus those a snapshot replaced). */
  readonly fetchedEntries: number;
  readonly fetchedSnapshots: number;
  /** Why the replica is not following, when it knows (refused token, a leader that does not serve it). */
  readonly problem: { readonly code: string; readonly message: string } | null;
}

export type ReplicaConsistency = 'linearizable' | 'stale';

interface Target {
  readonly id: string;
  readonly url: string;
}

type Timing = Required<Pick<JoinOptions, 'tickMs' | 'leaderCheckMs' | 'readTimeoutMs' | 'notFollowedMs' | 'serveFrom'>>;

/** Who leads and which voters could relay, as one member sees it. */
interface ClusterView {
  readonly leader: Target;
  readonly followers: readonly Target[];
}

const defaults = { tickMs: 100, leaderCheckMs: 1000, readTimeoutMs: 10_000, notFollowedMs: 3000, serveFrom: 'leader' } as const;

export class FollowerReplica {
  readonly id: string;
  readonly #claims: TokenClaims;
  readonly #kv: KvClient;
  readonly #machine: KvMachine;
  readonly #driver: RaftDriver<KvResult>;
  readonly #store: LogStore;
  readonly #mesh: Mesh;
  readonly #streams: SnapshotStreams;
  readonly #o: Timing;
  readonly #resumedFrom: number;
  /** The leader, as last named by a member. */
  #leader: Target;
  /** The member the mesh dials (leader or relay), null while none serves us and we wait to retry. */
  #linked: string | null = null;
  /** Members that accepted our link but sent nothing, and until when we leave them alone. */
  readonly #avoid = new Map<string, number>();
  /** The last member linked: where a paused replica reconnects on resume. */
  #source: Target | null = null;
  /** When #linked was chosen, when its link last came up, when it last sent us something. */
  #linkedAtMs = 0;
  #linkUpAtMs: number | null = null;
  #heardAtMs: number | null = null;
  readonly #checkBackoff: Backoff;
  readonly #followBackoff: Backoff;
  #leaderCommit = 0;
  #fetchedEntries = 0;
  #fetchedSnapshots = 0;
  #problem: { code: string; message: string } | null = null;
  #tickTimer: ReturnType<typeof setInterval> | null = null;
  #checkTimer: ReturnType<typeof setTimeout> | null = null;
  #pausedBy: 'user' | 'hidden' | null = null;
  /** Aborts linearizable reads waiting for a read index when the replica pauses or closes. */
  readonly #readAborts = new Set<(err: FollowerError) => void>();
  #unlistenVisibility: (() => void) | null = null;
  #closed = false;

  private constructor(init: {
    claims: TokenClaims; kv: KvClient; machine: KvMachine; driver: RaftDriver<KvResult>; store: LogStore; mesh: Mesh;
    view: ClusterView; resumedFrom: number; o: Timing; prng: SeededPrng;
  }) {
    this.id = init.claims.sub;
    this.#claims = init.claims;
    this.#kv = init.kv;
    this.#machine = init.machine;
    this.#driver = init.driver;
    this.#store = init.store;
    this.#mesh = init.mesh;
    this.#leader = init.view.leader;
    this.#resumedFrom = init.resumedFrom;
    this.#o = init.o;
    this.#checkBackoff = new Backoff(defaultBackoff, init.prng);
    this.#followBackoff = new Backoff({ ...defaultBackoff, initialMs: 1000, maxMs: 10_000 }, init.prng);
    this.#streams = new SnapshotStreams({
      id: this.id, log: consoleWarnings(this.id), send: (to, payload) => this.#mesh.sendRpc(to, payload),
      deliver: (m) => this.#onSnapshot(m), report: () => {},
    });
    this.#mesh.on('messages', (e) => this.#onMessages(e.from, e.msgs));
    this.#mesh.on('rpc', (e) => {
      for (const p of e.payloads) if (e.role === 'peer' && isStreamPayload(p)) this.#streams.onPayload(e.from, p);
    });
    this.#mesh.on('peer:up', (e) => {
      if (e.peer === this.#linked) this.#linkUpAtMs = Date.now();
    });
    this.#mesh.on('peer:down', (e) => {
      if (e.peer === this.#linked) this.#linkUpAtMs = null;
    });
    this.#mesh.on('auth:failed', (e) => {
      this.#problem = { code: 'ERR_FORBIDDEN', message: `${e.remote} refused the token of ${this.id} (${e.message}): check the token, its cluster and its expiry` };
    });
  }

  static async join(o: JoinOptions): Promise<FollowerReplica> {
    // Any token may replicate (reading the log is reading every key); its role decides what the
    // replica's writes may do: 'client' and 'admin' write, 'reader' and 'learner' only read.
    const claims = checkToken(o.token, o.cluster);
    const opts = {
      tickMs: o.tickMs ?? defaults.tickMs, leaderCheckMs: o.leaderCheckMs ?? defaults.leaderCheckMs,
      readTimeoutMs: o.readTimeoutMs ?? defaults.readTimeoutMs, notFollowedMs: o.notFollowedMs ?? defaults.notFollowedMs,
      serveFrom: o.serveFrom ?? defaults.serveFrom,
    };
    const dial = o.dial ?? dialDom;
    const kv = new KvClient({ peers: o.peers, token: o.token, dial });
    let store: LogStore | null = null;
    try {
      const view = await findLeader(kv, o.peers, claims, opts.readTimeoutMs);
      store = o.store ?? await IdbStore.open({ cluster: claims.cluster, member: claims.sub, durability: o.durability ?? 'relaxed' });
      const loaded = await store.load();
      const machine = new KvMachine();
      if (loaded.snapshot !== null) machine.restore(loaded.snapshot.data);
      const seed = new Uint32Array(1);
      crypto.getRandomValues(seed);
      const prng = new SeededPrng(seed[0]!);
      // Not in the configuration: it never campaigns, and leases are never served from a tab.
      const node = new RaftNode({
        options: { id: claims.sub, prng, leaseReads: false, clock: browserClock, tickMs: opts.tickMs }, bootstrap: { voters: [], learners: [] }, restore: loaded,
      });
      let mesh: Mesh | null = null;
      const driver = new RaftDriver<KvResult>({
        node, store, machine, send: (msgs) => mesh?.send(msgs), snapshotEntries: 10_000,
        readTimeoutTicks: Math.max(5, Math.ceil(1000 / opts.tickMs)),
      });
      // Entries the store holds as committed apply without a fetch: that is where a reload resumes.
      const last = loaded.entries.at(-1)?.index ?? loaded.snapshot?.meta.index ?? 0;
      const resumedFrom = Math.max(loaded.snapshot?.meta.index ?? 0, Math.min(loaded.hardState.commit, last));
      mesh = await Mesh.start({ id: claims.sub, cluster: claims.cluster, token: o.token, dial, logger: consoleWarnings(claims.sub) });
      const replica = new FollowerReplica({ claims, kv, machine, driver, store, mesh, view, resumedFrom, o: opts, prng });
      replica.#start(view, o.pauseWhenHidden ?? true);
      return replica;
    } catch (err) {
      await store?.close().catch(() => {});
      await kv.close();
      throw err;
    }
  }

  // ---- following ----------------------------------------------------------------------------

  #start(view: ClusterView, pauseWhenHidden: boolean): void {
    const first = this.#choose(view, Date.now());
    if (first !== null) this.#link(first);
    this.#tickTimer = setInterval(() => this.#driver.catchUp(), this.#o.tickMs);
    this.#scheduleCheck(this.#o.leaderCheckMs);
    if (!pauseWhenHidden || typeof document === 'undefined') return;
    const onChange = (): void => {
      if (document.visibilityState === 'hidden') {
        if (this.#pausedBy === null) this.#pause('hidden');
      } else if (this.#pausedBy === 'hidden') {
        this.resume();
      }
    };
    document.addEventListener('visibilitychange', onChange);
    this.#unlistenVisibility = () => document.removeEventListener('visibilitychange', onChange);
    onChange();
  }

  #link(to: Target): void {
    if (this.#linked !== null && this.#linked !== to.id) this.#unlink();
    if (this.#linked !== to.id) {
      this.#linkedAtMs = Date.now();
      this.#linkUpAtMs = null;
      this.#heardAtMs = null;
    }
    this.#linked = to.id;
    this.#source = to;
    this.#mesh.addPeer(to.id, to.url);
  }

  #unlink(): void {
    if (this.#linked === null) return;
    this.#mesh.removePeer(this.#linked);
    this.#linked = null;
    this.#linkUpAtMs = null;
    this.#heardAtMs = null;
  }

  #onMessages(from: string, msgs: readonly Message[]): void {
    if (from === this.#linked) {
      this.#heardAtMs = Date.now();
      if (this.#problem?.code === 'ERR_NOT_FOLLOWED' || this.#problem?.code === 'ERR_FORBIDDEN') this.#problem = null;
      this.#followBackoff.reset();
    }
    for (const m of msgs) {
      if (m.type === 'app') this.#fetchedEntries += m.entries.length;
      else if (m.type === 'hb') this.#leaderCommit = Math.max(this.#leaderCommit, m.commit);
      this.#driver.step(m);
    }
  }

  #onSnapshot(m: SnapshotMsg): void {
    this.#fetchedSnapshots += 1;
    this.#fetchedEntries += Math.max(0, m.snapshot.meta.index - this.#machine.appliedIndex);
    this.#driver.step(m);
  }

  #scheduleCheck(delayMs: number): void {
    if (this.#checkTimer !== null) clearTimeout(this.#checkTimer);
    this.#checkTimer = setTimeout(() => {
      this.#checkTimer = null;
      void this.#check().then((ok) => {
        if (this.#closed || this.#pausedBy !== null) return;
        if (ok) this.#checkBackoff.reset();
        this.#scheduleCheck(ok ? this.#o.leaderCheckMs : this.#checkBackoff.next());
      });
    }, delayMs);
  }

  /** Asks who leads and follows it; gives up on a leader that does not serve us. False: ask sooner. */
  async #check(): Promise<boolean> {
    if (this.#closed || this.#pausedBy !== null) return true;
    if (this.#claims.expMs <= Date.now()) {
      this.#problem = { code: 'ERR_TOKEN_EXPIRED', message: `the token of ${this.id} expired at ${new Date(this.#claims.expMs).toISOString()}: join again with a new token` };
    }
    let st: Record<string, unknown>;
    try {
      st = await this.#kv.status('any');
    } catch (err) {
      // No member reachable right now: stale reads still answer from the local copy.
      if ((err as { code?: string }).code === 'ERR_FORBIDDEN') this.#problem = { code: 'ERR_FORBIDDEN', message: (err as Error).message };
      return false;
    }
    if (this.#closed || this.#pausedBy !== null) return true;
    if (typeof st.commit === 'number') this.#leaderCommit = Math.max(this.#leaderCommit, st.commit);
    const view = clusterView(st);
    if (view === null) return false;
    this.#leader = view.leader;
    const now = Date.now();
    // A source that sent nothing for notFollowedMs does not serve us: it is down, or it accepted
    // the link but follows too many tabs already. Leave it alone for a while, try another.
    const silentSinceMs = Math.max(this.#heardAtMs ?? 0, this.#linkUpAtMs ?? 0, this.#linkedAtMs);
    if (this.#linked !== null && now - silentSinceMs >= this.#o.notFollowedMs) {
      const waitMs = this.#followBackoff.next();
      const why = this.#mesh.isConnected(this.#linked)
        ? 'it accepted the link but sent no log (it may serve --learners-max follower-readers already)'
        : 'it is unreachable';
      this.#problem = {
        code: 'ERR_NOT_FOLLOWED',
        message: `${this.#linked} did not serve ${this.id} for ${now - silentSinceMs} ms: ${why}; leaving it alone for ${waitMs} ms`,
      };
      this.#avoid.set(this.#linked, now + waitMs);
      this.#unlink();
    }
    const want = this.#choose(view, now);
    if (want !== null && (want.id !== this.#linked || this.#mesh.connectionCount(want.id) === 0)) this.#link(want);
    return true;
  }

  /**
   * The member to replicate from: the leader, or (serveFrom 'follower') a follower picked by this
   * replica's subject so tabs spread out, then the leader. Skips members that did not serve us.
   */
  #choose(view: ClusterView, now: number): Target | null {
    for (const [id, until] of this.#avoid) if (until <= now) this.#avoid.delete(id);
    const followers = [...view.followers].sort((a, b) => (a.id < b.id ? -1 : 1));
    const turn = followers.length === 0 ? 0 : hashOf(this.id) % followers.length;
    const ranked = this.#o.serveFrom === 'follower' ? [...followers.slice(turn), ...followers.slice(0, turn), view.leader] : [view.leader];
    // Keep the current source while it is a candidate and serves us: a relink costs a re-probe.
    const current = ranked.find((t) => t.id === this.#linked);
    if (current !== undefined && this.#heardAtMs !== null) return current;
    return ranked.find((t) => !this.#avoid.has(t.id)) ?? null;
  }

  // ---- pause and resume ---------------------------------------------------------------------

  /**
   * Stops ticking and closes the link to its source, which then stops replicating to this replica:
   * a background tab costs the cluster nothing. Stale reads still answer; linearizable reads
   * waiting for a read index fail with ERR_PAUSED, and new ones resume the replica first.
   */
  pause(): void {
    this.#pause('user');
  }

  #pause(by: 'user' | 'hidden'): void {
    if (this.#closed || this.#pausedBy !== null) return;
    this.#pausedBy = by;
    if (this.#tickTimer !== null) clearInterval(this.#tickTimer);
    if (this.#checkTimer !== null) clearTimeout(this.#checkTimer);
    this.#tickTimer = null;
    this.#checkTimer = null;
    this.#unlink();
    this.#abortReads(new FollowerError('ERR_PAUSED', `replica ${this.id} was paused while this read waited for its read index: read again (a linearizable read resumes it) or read 'stale'`));
  }

  /** Reconnects to its source and catches up from the applied index it stands at (no re-fetch). */
  resume(): void {
    if (this.#closed || this.#pausedBy === null) return;
    this.#pausedBy = null;
    this.#avoid.clear();
    this.#link(this.#source ?? this.#leader);
    this.#tickTimer = setInterval(() => this.#driver.catchUp(), this.#o.tickMs);
    // Ask at once: leadership may have moved while we were away.
    this.#scheduleCheck(0);
  }

  #abortReads(err: FollowerError): void {
    for (const abort of [...this.#readAborts]) abort(err);
    this.#readAborts.clear();
  }

  // ---- reads, writes, events ----------------------------------------------------------------

  /** The value of `key`: linearizable (a read index from the leader, applied here) or stale. */
  async get(key: string, options: { consistency?: ReplicaConsistency } = {}): Promise<Value | undefined> {
    return (await this.getWithMeta(key, options)).value;
  }

  async getWithMeta(key: string, options: { consistency?: ReplicaConsistency } = {}): Promise<{ value: Value | undefined; index: number; path: 'follower' | 'stale' }> {
    if ((options.consistency ?? 'linearizable') === 'stale') {
      return { value: this.#machine.get(key), index: this.#machine.appliedIndex, path: 'stale' };
    }
    if (this.#closed) throw new FollowerError('ERR_CLOSED', `replica ${this.id} is closed`);
    this.resume();
    // Right after a (re)join the replica may not have heard from the leader yet, and a leader
    // change drops reads in flight: ask again until the deadline.
    const deadline = Date.now() + this.#o.readTimeoutMs;
    for (;;) {
      try {
        const r = await this.#readIndex();
        return { value: this.#machine.get(key), index: r.index, path: 'follower' };
      } catch (err) {
        const code = (err as { code?: string }).code;
        if ((code !== 'ERR_NOT_LEADER' && code !== 'ERR_UNAVAILABLE') || Date.now() > deadline || this.#closed) throw err;
        await new Promise((r) => setTimeout(r, 25));
      }
    }
  }

  /** One read index, applied here; abandoned (the driver expires it) if the replica pauses. */
  #readIndex(): Promise<ReadResult> {
    return new Promise<ReadResult>((resolve, reject) => {
      const abort = (err: FollowerError): void => reject(err);
      this.#readAborts.add(abort);
      this.#driver.read().then(resolve, reject).finally(() => this.#readAborts.delete(abort));
    });
  }

  /** Calls `fn` for every change under `prefix` as entries apply here; returns the unsubscribe. */
  subscribe(prefix: string, fn: (key: string, value: Value | undefined, index: number) => void): () => void {
    return this.#machine.onChange((key, value, index) => {
      if (key.startsWith(prefix) && !key.startsWith('\u0000')) fn(key, value, index);
    });
  }

  /** A write, forwarded to the leader through the client protocol (the token's role must allow it). */
  put(key: string, value: Value): Promise<{ index: number }> {
    return this.#kv.put(key, value);
  }

  status(): ReplicaStatus {
    const now = Date.now();
    const connected = this.#linked !== null && this.#mesh.isConnected(this.#linked);
    const heard = this.#heardAtMs !== null && now - this.#heardAtMs < this.#o.notFollowedMs;
    const state: ReplicaState = this.#closed ? 'closed' : this.#pausedBy !== null ? 'paused' : connected && heard ? 'following' : 'connecting';
    const applied = this.#machine.appliedIndex;
    return {
      id: this.id, state, paused: this.#pausedBy !== null, applied, leader: this.#leader.id, source: this.#linked,
      lag: Math.max(0, this.#leaderCommit - applied), connected, resumedFrom: this.#resumedFrom,
      fetchedEntries: this.#fetchedEntries, fetchedSnapshots: this.#fetchedSnapshots, problem: this.#problem,
    };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#unlistenVisibility?.();
    if (this.#tickTimer !== null) clearInterval(this.#tickTimer);
    if (this.#checkTimer !== null) clearTimeout(this.#checkTimer);
    this.#abortReads(new FollowerError('ERR_CLOSED', `replica ${this.id} was closed while this read waited`));
    this.#streams.cancelAll();
    await this.#driver.close();
    await this.#mesh.close();
    await this.#store.close();
    await this.#kv.close();
  }

}

/** Warnings to the console; a refused handshake also becomes the replica's `problem` (auth:failed). */
function consoleWarnings(id: string): Logger {
  return (level, message, fields) => {
    if (level === 'warn' || level === 'error') console.warn(`[edgeraft follower ${id}] ${message}`, fields ?? '');
  };
}

/** The token's claims, refused early when they cannot work: expired, or for another cluster. */
function checkToken(token: string, cluster: string | undefined): TokenClaims {
  let claims: TokenClaims;
  try {
    claims = readClaims(token);
  } catch (err) {
    throw new FollowerError('ERR_FORBIDDEN', `the token is malformed: ${(err as Error).message}`);
  }
  if (cluster !== undefined && claims.cluster !== cluster) {
    throw new FollowerError('ERR_WRONG_CLUSTER', `the token of ${claims.sub} is for cluster '${claims.cluster}', not '${cluster}'`);
  }
  if (claims.expMs <= Date.now()) {
    throw new FollowerError('ERR_TOKEN_EXPIRED', `the token of ${claims.sub} expired at ${new Date(claims.expMs).toISOString()} (now ${new Date().toISOString()}): get a new token`);
  }
  return claims;
}

/**
 * Asks each member in turn who leads, until one names a leader (an election may be running).
 * Credentials a member refuses fail at once: retrying elsewhere would not change the answer.
 */
async function findLeader(kv: KvClient, peers: readonly string[], claims: TokenClaims, timeoutMs: number): Promise<ClusterView> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no member answered';
  for (let round = 0; ; round++) {
    for (const url of peers) {
      try {
        const view = clusterView(await kv.status(url));
        if (view !== null) return view;
        last = `${url} knows no leader yet`;
      } catch (err) {
        const e = err as { code?: string; message?: string };
        const other = /for cluster "([^"]*)", this is "([^"]*)"/.exec(e.message ?? '');
        if (other !== null) {
          throw new FollowerError('ERR_WRONG_CLUSTER', `the token of ${claims.sub} is for cluster '${claims.cluster}', but ${url} serves cluster '${other[1]}'`);
        }
        if (e.code === 'ERR_FORBIDDEN') throw new FollowerError('ERR_FORBIDDEN', e.message ?? `${url} refused the token of ${claims.sub}`);
        last = e.message ?? String(err);
      }
    }
    if (Date.now() > deadline) throw new FollowerError('ERR_NO_LEADER', `no member named a leader within ${timeoutMs} ms (last: ${last})`);
    await new Promise((r) => setTimeout(r, Math.min(1000, 100 * 2 ** round)));
  }
}

/** The leader and the other voters with their addresses, from a member's status reply; null without a leader. */
function clusterView(st: Record<string, unknown>): ClusterView | null {
  if (typeof st.leader !== 'string' || typeof st.leaderUrl !== 'string') return null;
  const leader = { id: st.leader, url: st.leaderUrl };
  const members = (st.members as { members?: unknown } | undefined)?.members;
  const followers: Target[] = [];
  if (Array.isArray(members)) {
    for (const m of members as Array<Record<string, unknown>>) {
      if (m.role === 'voter' && typeof m.id === 'string' && typeof m.url === 'string' && m.id !== leader.id) followers.push({ id: m.id, url: m.url });
    }
  }
  return { leader, followers };
}

/** A small stable hash (FNV-1a) of a subject, to spread tabs over the followers. */
function hashOf(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/** Joins a cluster as a follower-reader (see FollowerReplica). */
export function joinAsFollower(options: JoinOptions): Promise<FollowerReplica> {
  return FollowerReplica.join(options);
}
