// A browser tab as a follower-reader: an observer of the cluster's log (never votes, never counts
// in a quorum) that keeps its own copy in IndexedDB, answers linearizable reads locally after
// getting a read index from the leader, serves stale reads at once, and emits change events.
// It replicates from the leader or a relaying follower, moves on when its source stops serving
// it, pauses while the page is hidden, and resumes from where it stood (docs/browser.md). It runs
// the replication mode the cluster runs (plain Raft or ParallelRaft), as the members it asks say.

import { requestRange, type RangeSpec } from '../client/keys.ts';
import { KvClient } from '../client/kv.ts';
import type { Clock } from '../core/clock.ts';
import { kvKeysOf, logRulesFor, type LogRules, type ReplicationModeName } from '../core/index.ts';
import type { RaftDriver, ReadResult } from '../core/driver.ts';
import type { Value } from '../core/kv/command.ts';
import type { RevisionEvents } from '../core/kv/history.ts';
import { userKey, type Key } from '../core/kv/keys.ts';
import { KvMachine, type KvResult } from '../core/kv/machine.ts';
import { WatchHub, type WatchError } from '../core/kv/watch-hub.ts';
import type { Message, SnapshotMsg } from '../core/message.ts';
import { SeededPrng } from '../core/prng.ts';
import { createReplica } from '../core/replica.ts';
import type { LogStore } from '../core/storage.ts';
// The snapshot stream is runtime-neutral code (cbor-x and timers) that lives with the Node peer.
import { isStreamPayload, SnapshotStreams } from '../transport/snapshot-stream.ts';
import { Backoff, defaultBackoff } from '../transport/backoff.ts';
import { Mesh } from '../transport/mesh.ts';
import type { Dialer } from '../transport/socket.ts';
import { tokenRefusalText } from '../transport/errors.ts';
import type { TokenClaims } from '../transport/token-claims.ts';
import type { Logger } from '../transport/transport.ts';
import { checkToken, clusterMode, findLeader, memberStatus } from './cluster-view.ts';
import { dialDom } from './dom-socket.ts';
import { FollowerError } from './follower-error.ts';
import { IdbStore, type IdbDurability } from './idb-store.ts';
import { SourcePolicy, type ClusterView, type Target } from './source-policy.ts';

export { FollowerError, type FollowerErrorCode } from './follower-error.ts';

/** The page's clocks: ticks (reorder buffer, read expiry) come from the monotonic one. */
const browserClock: Clock = { monoMs: () => performance.now(), wallMs: () => Date.now() };

export interface JoinOptions {
  /** Member addresses (ws://host:port); the replica finds the leader through any of them. */
  readonly peers: readonly string[];
  /**
   * A token (a JWT from the app backend, or edgeraft token --role ...): any role replicates and
   * reads; 'client' and 'admin' also write. Its subject is the replica's member id: two tabs need
   * two subjects. A token with key scopes is refused (ERR_FORBIDDEN): a replica receives every key.
   */
  readonly token: string;
  /** The cluster the app expects: a token for another one is refused before connecting. */
  readonly cluster?: string;
  /**
   * Where the copy lives; default IndexedDB, one database per cluster and token subject. A
   * function gets the cluster's replication mode and the log rules the store must keep (a
   * ParallelRaft log has holes, falling terms and in-place fills), learned from the members
   * before the store is opened; a store given as it is must keep the cluster's rules already.
   */
  readonly store?: LogStore | ((cluster: { readonly mode: ReplicationModeName; readonly logRules: LogRules }) => LogStore | Promise<LogStore>);
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

export interface ReplicaStatus {
  readonly id: string;
  /** The cluster's replication mode, as the members said when the replica joined. */
  readonly mode: ReplicationModeName;
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

type Timing = Required<Pick<JoinOptions, 'tickMs' | 'leaderCheckMs' | 'readTimeoutMs' | 'notFollowedMs' | 'serveFrom'>>;

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
  readonly #mode: ReplicationModeName;
  readonly #resumedFrom: number;
  /** The leader, as last named by a member. */
  #leader: Target;
  /** Whom to replicate from; the mesh dials policy.linked (null while none serves us). */
  readonly #policy: SourcePolicy;
  /** The last member linked: where a paused replica reconnects on resume. */
  #source: Target | null = null;
  readonly #checkBackoff: Backoff;
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
  /** Watchers on this replica's own machine (never slow: they are called in the page). */
  readonly #hub: WatchHub;
  #progressTimer: ReturnType<typeof setInterval> | null = null;

  private constructor(init: {
    claims: TokenClaims; kv: KvClient; machine: KvMachine; driver: RaftDriver<KvResult>; store: LogStore; mesh: Mesh;
    view: ClusterView; mode: ReplicationModeName; resumedFrom: number; o: Timing; prng: SeededPrng;
  }) {
    this.id = init.claims.sub;
    this.#mode = init.mode;
    this.#claims = init.claims;
    this.#kv = init.kv;
    this.#machine = init.machine;
    this.#hub = new WatchHub(this.#machine);
    this.#progressTimer = setInterval(() => this.#hub.progress(), 1000);
    this.#driver = init.driver;
    this.#store = init.store;
    this.#mesh = init.mesh;
    this.#leader = init.view.leader;
    this.#resumedFrom = init.resumedFrom;
    this.#o = init.o;
    this.#checkBackoff = new Backoff(defaultBackoff, init.prng);
    this.#policy = new SourcePolicy({
      self: this.id, serveFrom: init.o.serveFrom, notFollowedMs: init.o.notFollowedMs, now: browserClock.monoMs, prng: init.prng,
    });
    this.#streams = new SnapshotStreams({
      id: this.id, log: consoleWarnings(this.id), send: (to, payload) => this.#mesh.sendRpc(to, payload),
      deliver: (m) => this.#onSnapshot(m), report: () => {},
    });
    this.#mesh.on('messages', (e) => this.#onMessages(e.from, e.msgs));
    this.#mesh.on('rpc', (e) => {
      for (const p of e.payloads) if (e.role === 'peer' && isStreamPayload(p)) this.#streams.onPayload(e.from, p);
    });
    this.#mesh.on('peer:up', (e) => this.#policy.linkUp(e.peer));
    this.#mesh.on('peer:down', (e) => this.#policy.linkDown(e.peer));
    this.#mesh.on('auth:failed', (e) => {
      const told = tokenRefusalText(e.message);
      this.#problem = {
        code: 'ERR_FORBIDDEN',
        message: told !== null ? `${e.remote} refused the token of ${this.id}: ${told}` : `${e.remote} refused the token of ${this.id} (${e.message}): check the token, its cluster and its expiry`,
      };
    });
  }

  static async join(o: JoinOptions): Promise<FollowerReplica> {
    // Any token may replicate (reading the log is reading every key); its role decides what the
    // replica's writes may do: 'client' and 'admin' write, 'reader' and 'learner' only read.
    const claims = checkToken(o.token, o.cluster, Date.now());
    const opts = {
      tickMs: o.tickMs ?? defaults.tickMs, leaderCheckMs: o.leaderCheckMs ?? defaults.leaderCheckMs,
      readTimeoutMs: o.readTimeoutMs ?? defaults.readTimeoutMs, notFollowedMs: o.notFollowedMs ?? defaults.notFollowedMs,
      serveFrom: o.serveFrom ?? defaults.serveFrom,
    };
    const dial = o.dial ?? dialDom;
    const kv = new KvClient({ peers: o.peers, token: o.token, dial });
    let store: LogStore | null = null;
    try {
      // The cluster's mode comes from the member that names the leader, never from an option: the
      // core, the store's rules, the machine's apply order and the link's validation follow it.
      const { view, mode } = await findLeader(kv, o.peers, claims, opts.readTimeoutMs);
      const logRules = logRulesFor(mode);
      const parallel = mode === 'parallel';
      store = typeof o.store === 'function'
        ? await o.store({ mode, logRules })
        : o.store ?? await IdbStore.open({ cluster: claims.cluster, member: claims.sub, durability: o.durability ?? 'relaxed', logRules });
      const machine = new KvMachine({ outOfOrder: parallel });
      const seed = new Uint32Array(1);
      crypto.getRandomValues(seed);
      const prng = new SeededPrng(seed[0]!);
      let mesh: Mesh | null = null;
      const { driver, resumedFrom } = createReplica<KvResult>({
        store, machine, loaded: await store.load(),
        // Not in the configuration: it never campaigns, and leases are never served from a tab.
        node: {
          options: {
            id: claims.sub, prng, leaseReads: false, clock: browserClock, tickMs: opts.tickMs,
            ...(parallel ? { mode: 'parallel' as const, keysOf: kvKeysOf } : {}),
          },
          bootstrap: { voters: [], learners: [] },
        },
        driver: { send: (msgs) => mesh?.send(msgs), snapshotEntries: 10_000, readTimeoutTicks: Math.max(5, Math.ceil(1000 / opts.tickMs)) },
      });
      mesh = await Mesh.start({ id: claims.sub, cluster: claims.cluster, token: o.token, dial, logRules, logger: consoleWarnings(claims.sub) });
      const replica = new FollowerReplica({ claims, kv, machine, driver, store, mesh, view, mode, resumedFrom, o: opts, prng });
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
    const first = this.#policy.choose(view);
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
    const linked = this.#policy.linked;
    if (linked !== null && linked !== to.id) this.#unlink();
    this.#policy.linkedTo(to.id);
    this.#source = to;
    this.#mesh.addPeer(to.id, to.url);
  }

  #unlink(): void {
    const linked = this.#policy.linked;
    if (linked === null) return;
    this.#mesh.removePeer(linked);
    this.#policy.unlinked();
  }

  #onMessages(from: string, msgs: readonly Message[]): void {
    if (this.#policy.heard(from) && (this.#problem?.code === 'ERR_NOT_FOLLOWED' || this.#problem?.code === 'ERR_FORBIDDEN')) this.#problem = null;
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
    const { commit, view } = memberStatus(st);
    if (!this.#sameMode(st)) return true;
    if (commit !== null) this.#leaderCommit = Math.max(this.#leaderCommit, commit);
    if (view === null) return false;
    this.#leader = view.leader;
    // A source that sent nothing for notFollowedMs does not serve us: it is down, or it accepted
    // the link but follows too many tabs already. The policy leaves it alone for a while.
    const silence = this.#policy.checkSilence();
    if (silence !== null) {
      const why = this.#mesh.isConnected(silence.source)
        ? 'it accepted the link but sent no log (it may serve --learners-max follower-readers already)'
        : 'it is unreachable';
      this.#problem = {
        code: 'ERR_NOT_FOLLOWED',
        message: `${silence.source} did not serve ${this.id} for ${Math.round(silence.silentMs)} ms: ${why}; leaving it alone for ${silence.waitMs} ms`,
      };
      this.#unlink();
    }
    const want = this.#policy.choose(view);
    if (want !== null && (want.id !== this.#policy.linked || this.#mesh.connectionCount(want.id) === 0)) this.#link(want);
    return true;
  }

  /**
   * Whether the member still runs the mode this replica was built for. Members of one cluster all
   * run the same mode, fixed per data directory: another one means the cluster was rebuilt under
   * the same name, and this copy (its log rules, its apply order) cannot follow it. The replica
   * stops following and says so; stale reads still answer from the copy.
   */
  #sameMode(st: Record<string, unknown>): boolean {
    const member = typeof st.id === 'string' ? st.id : 'a member';
    let mode: ReplicationModeName;
    try {
      mode = clusterMode(st, member);
    } catch (err) {
      this.#problem = { code: (err as FollowerError).code, message: (err as Error).message };
      this.#unlink();
      return false;
    }
    if (mode === this.#mode) return true;
    this.#problem = {
      code: 'ERR_MODE_MISMATCH',
      message: `${member} runs replication mode '${mode}', but replica ${this.id} joined a '${this.#mode}' cluster: the cluster was rebuilt; close the replica, delete its store (IdbStore.destroy()) and join again`,
    };
    this.#unlink();
    return false;
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
    this.#policy.forgive();
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
    const deadline = browserClock.monoMs() + this.#o.readTimeoutMs;
    for (;;) {
      try {
        const r = await this.#readIndex(key);
        return { value: this.#machine.get(key), index: r.index, path: 'follower' };
      } catch (err) {
        const code = (err as { code?: string }).code;
        if ((code !== 'ERR_NOT_LEADER' && code !== 'ERR_UNAVAILABLE') || browserClock.monoMs() > deadline || this.#closed) throw err;
        await new Promise((r) => setTimeout(r, 25));
      }
    }
  }

  /** One read index, applied here; abandoned (the driver expires it) if the replica pauses. */
  #readIndex(key: string): Promise<ReadResult> {
    return new Promise<ReadResult>((resolve, reject) => {
      const abort = (err: FollowerError): void => reject(err);
      this.#readAborts.add(abort);
      // The key lets a ParallelRaft replica answer once the entries writing it are applied.
      this.#driver.read({ key }).then(resolve, reject).finally(() => this.#readAborts.delete(abort));
    });
  }

  /**
   * Calls `fn` for every change under `prefix` as entries apply here (value undefined: deleted),
   * in revision order; returns the unsubscribe. With `fromRevision`, the changes since that
   * revision come first, from this replica's history: a page that remembered the last revision
   * it saw resumes with nothing missed and nothing repeated. If that revision was compacted it
   * throws a WatchError ERR_COMPACTED with the compaction revision (read the state, then subscribe
   * from the revision after it); `onError` gets the same if a snapshot installed later skips
   * past the subscriber's revision.
   */
  subscribe(
    prefix: Key, fn: (key: Key, value: Value | undefined, index: number) => void,
    options: { readonly fromRevision?: number; readonly onError?: (err: WatchError) => void; readonly onProgress?: (revision: number) => void } = {},
  ): () => void {
    return this.watch({ prefix }, (batch) => {
      for (const e of batch.events) fn(userKey(e.kv.key), e.type === 'put' ? e.kv.value : undefined, batch.revision);
    }, options);
  }

  /**
   * Watches a key, a prefix or a range [start, end) on this replica, as the SDK's watch does on a
   * member: batches of events per revision (with the previous key-value when `prevValue`),
   * progress with the current revision while nothing changes, resumable from any revision still
   * in the history. Returns the cancel.
   */
  watch(
    what: RangeSpec,
    fn: (batch: RevisionEvents) => void,
    options: { readonly fromRevision?: number; readonly prevValue?: boolean; readonly onError?: (err: WatchError) => void; readonly onProgress?: (revision: number) => void } = {},
  ): () => void {
    // The SDK's reading of a range spec, checks included.
    const { start, end } = requestRange(what, 'watch');
    const id = this.#hub.add({ start, end, fromRevision: options.fromRevision ?? 0, prevValue: options.prevValue ?? false }, {
      events: (batches) => {
        for (const b of batches) fn(b);
        return true;
      },
      progress: (revision) => {
        options.onProgress?.(revision);
        return true;
      },
      cancelled: (err) => options.onError?.(err),
    });
    return () => void this.#hub.remove(id);
  }

  /** This replica's revision: everything through it is applied here. */
  get revision(): number {
    return this.#machine.revision;
  }

  /** A write, forwarded to the leader through the client protocol (the token's role must allow it). */
  put(key: string, value: Value): Promise<{ index: number }> {
    return this.#kv.put(key, value);
  }

  status(): ReplicaStatus {
    const linked = this.#policy.linked;
    const connected = linked !== null && this.#mesh.isConnected(linked);
    const state: ReplicaState = this.#closed ? 'closed' : this.#pausedBy !== null ? 'paused' : connected && this.#policy.following() ? 'following' : 'connecting';
    const applied = this.#machine.appliedIndex;
    return {
      id: this.id, mode: this.#mode, state, paused: this.#pausedBy !== null, applied, leader: this.#leader.id, source: linked,
      lag: Math.max(0, this.#leaderCommit - applied), connected, resumedFrom: this.#resumedFrom,
      fetchedEntries: this.#fetchedEntries, fetchedSnapshots: this.#fetchedSnapshots, problem: this.#problem,
    };
  }

  async close(): Promise<void> {
    if (this.#progressTimer !== null) clearInterval(this.#progressTimer);
    this.#progressTimer = null;
    this.#hub.close(`replica ${this.id} closed`);
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

/** Joins a cluster as a follower-reader (see FollowerReplica). */
export function joinAsFollower(options: JoinOptions): Promise<FollowerReplica> {
  return FollowerReplica.join(options);
}
