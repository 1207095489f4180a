// A voting peer (or a joining one), whatever the runtime: the core driven by RaftDriver, the
// key-value machine with its leases and watches, the mesh on the runtime's port, the client
// service, snapshots streamed to followers, membership and member addresses through the log,
// removal, fault injection and the stop order. The runtime's pieces come through PeerRuntime
// (peer-runtime.ts); runtime-node/peer.ts and runtime-deno/peer.ts add HTTP, TLS and signals.

import type { DriverOptions, RaftDriver } from '../core/driver.ts';
import { createReplica } from '../core/replica.ts';
import { validate } from '../core/config.ts';
import { kvKeysOf } from '../core/kv/command.ts';
import { LeaseKeeper } from '../core/kv/lease-keeper.ts';
import { WatchHub } from '../core/kv/watch-hub.ts';
import type { KvResult } from '../core/kv/machine.ts';
import { KvMachine } from '../core/kv/machine.ts';
import { bootstrapState } from '../core/confchange.ts';
import type { Ready } from '../core/node.ts';
import { logRulesFor } from '../core/modes.ts';
import { SeededPrng } from '../core/prng.ts';
import type { Message, SnapshotMsg } from '../core/message.ts';
import type { LogStore } from '../core/storage.ts';
import type { ConfState, Entry } from '../core/types.ts';
import { closeCodes } from '../transport/errors.ts';
import { isReplicationLink } from '../transport/handshake.ts';
import { Mesh } from '../transport/mesh.ts';
import { removalNotice, SnapshotStreams } from '../transport/snapshot-stream.ts';
import type { Logger, PeerRole } from '../transport/transport.ts';
import { openMeta, type ClusterMeta } from './cluster-meta-format.ts';
import { ClientService, type ServiceHost } from './client-service.ts';
import { clientAuth, peerAuth, type ClientAuth } from './client-auth.ts';
import { memberKeyPrefix } from './member-keys.ts';
import { peerCredentials } from './peer-credentials.ts';
import { PeerMetrics } from './peer-metrics.ts';
import type { PeerOptions } from './peer-options.ts';
import type { PeerPort, PeerRuntime } from './peer-runtime.ts';
import { routeRpc } from './rpc-routes.ts';
import { registerSendMetrics } from './send-metrics.ts';
import { systemClock, Ticker } from './ticker.ts';

/** Messages fault injection holds back at once at most (more are dropped). */
const heldMessagesMax = 1024;

/** What PeerCore.open() hands the runtime's constructor, to pass on to PeerCore's. */
export interface PeerParts {
  readonly opts: PeerOptions;
  readonly log: Logger;
  readonly runtime: PeerRuntime;
  readonly store: LogStore;
  readonly port: PeerPort;
  readonly machine: KvMachine;
  readonly driver: RaftDriver<KvResult>;
  readonly mesh: Mesh;
  readonly meta: ClusterMeta;
}

export class PeerCore {
  readonly opts: PeerOptions;
  readonly log: Logger;
  readonly machine: KvMachine;
  readonly driver: RaftDriver<KvResult>;
  readonly mesh: Mesh;
  readonly metrics: PeerMetrics;
  readonly #runtime: PeerRuntime;
  readonly #store: LogStore;
  readonly #port: PeerPort;
  readonly #ticker: Ticker;
  readonly #service: ClientService;
  /** The leader's lease clocks (idle on a follower): ticked with Raft time, expiries through the log. */
  readonly leases: LeaseKeeper;
  /** Watchers on this member's machine (voter or learner alike). */
  readonly watches: WatchHub;
  /** Wakes idle watchers with the current revision every watchProgressMs. */
  #progressTimer: ReturnType<typeof setInterval> | null = null;
  readonly snapshots: SnapshotStreams;
  readonly #urls = new Map<string, string>();
  /** Token holders' open connections (clients, follower-readers) with who they are. */
  readonly #tokenLinks = new Map<string, ClientAuth>();
  /** Members this peer applied a removal of: if they still talk to us, we tell them. */
  readonly #removedMembers = new Set<string>();
  readonly #toldRemoved = new Map<string, number>();
  /** Fault injection (--faults): members whose Raft traffic is dropped both ways. */
  #blocked = new Set<string>();
  /** Fault injection (--faults): Raft messages of these types leave only after this many ms. */
  #delays = new Map<string, number>();
  /** Held-back messages in flight (bounded: a fault test holds a handful). */
  #held = 0;
  readonly startedAt = Date.now();
  #stopping: Promise<void> | null = null;
  /** Resolves when the peer stops on its own (removed from the cluster, a storage failure or broken invariant). */
  readonly stopped: Promise<string>;
  #resolveStopped!: (why: string) => void;

  /** The role of the last Ready carried out (for the log line when it changes). */
  #lastRole = 'follower';

  protected constructor(parts: PeerParts) {
    const { opts, log, machine, driver, mesh } = parts;
    this.opts = opts;
    this.log = log;
    this.#runtime = parts.runtime;
    this.#store = parts.store;
    this.#port = parts.port;
    this.machine = machine;
    this.mesh = mesh;
    this.stopped = new Promise((resolve) => { this.#resolveStopped = resolve; });
    for (const [id, url] of Object.entries(parts.meta.peers)) this.#urls.set(id, url);
    for (const [key, value] of machine.scan({ prefix: memberKeyPrefix })) {
      if (typeof value === 'string') this.#urls.set(key.slice(memberKeyPrefix.length), value);
    }
    this.metrics = new PeerMetrics(this);
    registerSendMetrics(this.metrics.registry, {
      mesh, stalledProbes: () => this.driver.node.status().stats.stalledProbes, cpuUsage: () => parts.runtime.cpuUsage(),
    });
    machine.onChange((key, value) => this.#onKeyChange(key, value));
    this.driver = driver;
    this.snapshots = new SnapshotStreams({
      id: opts.id, log,
      send: (to, payload) => !this.#blocked.has(to) && mesh.sendRpc(to, payload),
      deliver: (m) => this.driver.step(m),
      report: (to, ok) => this.driver.poke((n) => n.reportSnapshot(to, ok)),
    });
    this.leases = new LeaseKeeper({ driver, machine, clock: systemClock });
    this.watches = new WatchHub(machine, { watchersMax: opts.watchersMax });
    this.#ticker = new Ticker(opts.tickMs, () => {
      this.driver.catchUp();
      this.leases.tick();
    });
    this.#service = new ClientService(this.#serviceHost());
    this.#listen(mesh, machine, log);
  }

  /** What the mesh delivers: Raft messages to the driver, follower-readers in and out, rpc payloads by route. */
  #listen(mesh: Mesh, machine: KvMachine, log: Logger): void {
    mesh.on('messages', (e) => {
      if (this.#blocked.has(e.from)) return;
      // (The driver runs due ticks before it steps each message.)
      if (this.#removedMembers.has(e.from)) {
        this.#tellRemoved(e.from);
        return;
      }
      for (const m of e.msgs) this.driver.step(m);
    });
    mesh.on('unreachable', (e) => this.driver.poke((n) => n.reportUnreachable(e.peer)));
    // Follower-readers (browser tabs: a token connection without an SDK instance) are observers,
    // followed while they stay connected; the token's role decides only what their SDK may ask.
    // They run this cluster's mode (they read it from a member's status before they link).
    mesh.on('peer:up', (e) => {
      if (e.role === 'peer') return;
      const auth = clientAuth(e.role, e.claims, e.peer);
      this.#tokenLinks.set(e.peer, auth);
      if (!isReplicationLink(e.peer)) return;
      // The handshake refuses a revoked token (4007); one revoked since, while its handshake ran,
      // holds no replica either. (Requests of an SDK connection are each checked as well.)
      if (this.#closeIfRevoked(e.peer, auth)) return;
      this.driver.poke((n) => {
        try {
          n.addObserver(e.peer);
        } catch (err) {
          log('warn', `learner ${e.peer} not followed: ${(err as Error).message}`);
        }
      });
    });
    mesh.on('peer:down', (e) => this.#linkGone(e.peer, e.role));
    mesh.on('rpc', (e) => {
      const from = { role: e.role, replicationLink: isReplicationLink(e.from), blocked: this.#blocked.has(e.from) };
      let requests: Uint8Array[] | null = null;
      for (const p of e.payloads) {
        switch (routeRpc(p, from)) {
          case 'client': (requests ??= []).push(p); break;
          case 'stream': this.snapshots.onPayload(e.from, p); break;
          case 'removal': this.#removedSelf(`${e.from} says this member was removed from the cluster`); break;
          case 'drop': break;
        }
      }
      if (requests === null) return;
      // Who asks: the token this connection presented (verified by the handshake), or a peer.
      this.#service.handle(e.from, e.role === 'peer' ? peerAuth : clientAuth(e.role, e.claims, e.from), requests);
    });
    // Not inside the apply itself: closing a follower-reader's link pokes the Raft node.
    machine.onRevoke(() => queueMicrotask(() => {
      for (const [id, auth] of this.#tokenLinks) this.#closeIfRevoked(id, auth);
    }));
  }

  /** A remote's last connection closed: a client's watchers go with it, a follower-reader's replica too. */
  #linkGone(id: string, role: PeerRole): void {
    this.#tokenLinks.delete(id);
    this.#service.disconnected(id);
    if (role !== 'peer' && isReplicationLink(id)) this.driver.poke((n) => n.removeObserver(id));
  }

  /**
   * Closes the connections of a token a revocation applied here covers; true if it did. Members
   * apply a revocation at different moments: the leader first (docs/operations.md).
   */
  #closeIfRevoked(id: string, auth: ClientAuth): boolean {
    if (auth.sub === null) return false;
    const r = this.machine.revocation({ sub: auth.sub, jti: auth.jti, issuedAtMs: auth.issuedAtMs });
    if (r === undefined) return false;
    this.log('info', `closing the connection of ${id}: its token was revoked (by ${r.by} ${JSON.stringify(r.name)})`);
    // removePeer closes without a peer:down event: the link's state goes here.
    this.mesh.removePeer(id, closeCodes.tokenRevoked);
    this.#linkGone(id, auth.role);
    return true;
  }

  /**
   * Opens a peer on `runtime`: the credentials, the data directory and its log (bootstrapped on a
   * new cluster's first start), the options' check, then the port and the mesh; `build` makes the
   * runtime's peer from the parts. On any failure what was opened is closed again.
   */
  protected static async open<P extends PeerCore>(opts: PeerOptions, log: Logger, runtime: PeerRuntime, build: (parts: PeerParts) => P): Promise<P> {
    // The secrets and token keys are checked first: a bad key file is refused here, naming it.
    const { credentials } = await peerCredentials(opts, runtime.readText, false);
    await runtime.makeDir(opts.dataDir);
    const meta = await openMeta(opts, log, runtime.meta);
    // The mode is chosen here, once: the store's and the transport's log rules, the machine's
    // apply order and the core's replication mode all follow from it.
    const parallel = opts.mode === 'parallel';
    const logRules = logRulesFor(opts.mode);
    const store = await runtime.openStore(opts.dataDir, logRules, (m) => log('warn', m));
    const closeOnFailure: Array<() => Promise<void>> = [];
    try {
      let loaded = await store.load();
      if (loaded.hardState.term === 0 && loaded.entries.length === 0 && loaded.snapshot === null && meta.bootstrap.voters.length > 0) {
        // First start of a new cluster: its membership goes into the log (see bootstrapState).
        const boot = bootstrapState(meta.bootstrap);
        await store.save({ snapshot: null, entries: boot.entries, hardState: boot.hardState });
        loaded = await store.load();
      }
      const seed = new Uint32Array(1);
      crypto.getRandomValues(seed);
      const raftOptions = {
        ...opts.raft, id: opts.id, prng: new SeededPrng(seed[0]!), clock: systemClock, tickMs: opts.tickMs,
        ...(parallel ? { mode: 'parallel' as const, keysOf: kvKeysOf } : {}),
      };
      // Refused here, before any port is bound; the mesh announces these timing settings.
      const cfg = validate(raftOptions);
      const port = await runtime.listen();
      closeOnFailure.push(() => port.close());
      const peers: Record<string, string> = {};
      for (const [id, url] of Object.entries(meta.peers)) if (id !== opts.id) peers[id] = url;
      // Made before the mesh, so the handshake can refuse a token revoked in it (restored below,
      // before any handshake can finish: nothing awaits between the mesh's start and that).
      const machine = new KvMachine({ outOfOrder: parallel, history: { eventsMax: opts.historyEventsMax, bytesMax: opts.historyBytesMax } });
      const mesh = await Mesh.start({
        id: opts.id, cluster: opts.cluster, ...credentials,
        tokenRefusal: (claims) => {
          const r = machine.revocation({ sub: claims.sub, jti: claims.jti, issuedAtMs: claims.iatMs });
          return r === undefined ? null : `the token of ${claims.sub} was revoked at ${new Date(r.revokedAtMs).toISOString()} (by ${r.by} ${JSON.stringify(r.name)})`;
        },
        insecure: opts.insecure, peers, listener: port.listener, dial: runtime.dial, connectionsPerPeer: opts.connectionsPerPeer, logRules,
        timing: {
          tickMs: cfg.tickMs, electionTicks: cfg.electionTicks, heartbeatTicks: cfg.heartbeatTicks,
          leaseDriftPercent: cfg.leaseDriftPercent, checkQuorum: cfg.checkQuorum, tokenTtlMaxMs: opts.tokenTtlMaxMs,
        },
        scheduleFlush: (f) => runtime.scheduleFlush(f), logger: log,
      });
      closeOnFailure.push(() => mesh.close());
      // From here to the peer's construction nothing awaits: the driver's first Ready (a
      // microtask) finds the peer its hooks call.
      let peer: P | null = null;
      const { driver } = createReplica<KvResult>({
        store, machine, loaded,
        node: { options: raftOptions, bootstrap: meta.bootstrap },
        driver: PeerCore.#driverHooks(opts, log, () => {
          if (peer === null) throw new Error('the driver called back before the peer was built');
          return peer;
        }),
      });
      const started = build({ opts: { ...opts, port: port.port }, log, runtime, store, port, machine, driver, mesh, meta });
      peer = started;
      for (const [id, url] of started.#urls) if (id !== opts.id && !(id in peers)) mesh.addPeer(id, url);
      started.#ticker.start();
      started.#progressTimer = setInterval(() => started.watches.progress(), opts.watchProgressMs);
      runtime.unrefTimer?.(started.#progressTimer);
      log('info', 'started', {
        listen: `${opts.host}:${port.port}`, ...runtime.startedFields, cluster: opts.cluster, applied: machine.appliedIndex,
        entries: loaded.entries.length, snapshot: loaded.snapshot?.meta.index ?? 0, term: loaded.hardState.term,
      });
      return started;
    } catch (err) {
      for (const close of closeOnFailure.reverse()) await close().catch(() => {});
      await store.close().catch(() => {});
      throw err;
    }
  }

  get port(): number {
    return this.opts.port;
  }

  get url(): string {
    return `${this.#runtime.scheme}://${this.opts.host}:${this.opts.port}`;
  }

  /**
   * Reads --secret-file and the token key files again (a rotation of either: docs/operations.md);
   * new handshakes use them, open connections stay. On any problem the previous ones stay in use.
   */
  protected async reloadCredentials(): Promise<void> {
    if (this.opts.insecure) return;
    try {
      const { credentials, warnings } = await peerCredentials(this.opts, this.#runtime.readText, true, this.#runtime.secretFileWarning);
      await this.mesh.rekey(credentials);
      this.log('info', 'cluster secrets and token keys reloaded', { secrets: credentials.secret?.length ?? 0, tokens: credentials.tokenVerifier?.describe() ?? 'none' });
      for (const w of warnings) this.log('warn', w);
    } catch (err) {
      this.log('error', `reloading the cluster secrets or token keys failed, still using the previous ones: ${(err as Error).message}`);
    }
  }

  /** Addresses of members known to this peer (bootstrap plus replicated changes). */
  urls(): ReadonlyMap<string, string> {
    return this.#urls;
  }

  urlOf(id: string | null): string | null {
    return id === null ? null : this.#urls.get(id) ?? null;
  }

  #removedSelf(why: string): void {
    if (this.#stopping !== null) return;
    this.log('warn', `this member was removed from the cluster (${why}): stopping`);
    this.#stopping = (async () => {
      // A moment for answers in flight (the client that removed us) to leave first.
      await new Promise((r) => setTimeout(r, 300));
      await this.#stop();
    })();
    void this.#stopping.then(() => this.#resolveStopped('removed from the cluster'));
  }

  /** A removed member that never saw its removal commit keeps campaigning: tell it (at most every 2 s). */
  #tellRemoved(id: string): void {
    const now = Date.now();
    if ((this.#toldRemoved.get(id) ?? 0) > now - 2000) return;
    this.#toldRemoved.set(id, now);
    this.mesh.sendRpc(id, removalNotice);
    this.log('info', `${id} was removed from the cluster but still talks to us: told it`);
  }

  /** Raft messages out: snapshots go to the chunked stream, the rest to the mesh. */
  #send(msgs: readonly Message[]): void {
    let out = msgs;
    if (this.#blocked.size > 0) out = out.filter((m) => !this.#blocked.has(m.to));
    if (this.#delays.size > 0) out = out.filter((m) => !this.#holdBack(m));
    if (out.some((m) => m.type === 'snap')) {
      for (const m of out) if (m.type === 'snap') this.snapshots.send(m as SnapshotMsg);
      out = out.filter((m) => m.type !== 'snap');
    }
    if (out.length > 0) this.mesh.send(out);
  }

  /** The driver's hooks: the peer exists by the time any of them runs (open() wires them first). */
  static #driverHooks(opts: PeerOptions, log: Logger, self: () => PeerCore): Omit<DriverOptions<KvResult>, 'node' | 'store' | 'machine'> {
    return {
      send: (msgs) => self().#send(msgs),
      snapshotEntries: opts.snapshotEntries,
      snapshotRetainEntries: opts.snapshotRetainEntries,
      clock: systemClock,
      onStall: (stalledMs) => {
        log('warn', `the event loop stalled for ~${stalledMs} ms: Raft time skipped ahead (elections and CheckQuorum run late; the lease, measured on the clock, ran out meanwhile)`);
      },
      onFatal: (err) => {
        log('error', `fatal error, stopping: ${err.message}`, { error: err.name });
        const peer = self();
        void peer.stop().then(() => peer.#resolveStopped(`fatal error: ${err.message}`));
      },
      onReady: (rd: Ready, persistMs: number) => self().#onReady(rd, persistMs),
      onApply: (e: Entry) => self().#onApply(e),
    };
  }

  #onReady(rd: Ready, persistMs: number): void {
    this.metrics.observeReady(rd, persistMs);
    if (rd.softState.role === this.#lastRole) return;
    this.log('info', `now ${rd.softState.role}`, { term: this.driver.node.term, leader: rd.softState.leader });
    if (this.#lastRole === 'leader') this.snapshots.cancelAll();
    this.#lastRole = rd.softState.role;
  }

  /** The part of this peer the client service sees (client-service.ts ServiceHost). */
  #serviceHost(): ServiceHost {
    const peer = this;
    return {
      id: this.opts.id, url: this.url, mode: this.opts.mode, startedAt: this.startedAt, log: this.log,
      driver: this.driver, machine: this.machine, metrics: this.metrics, watches: this.watches, leases: this.leases,
      limits: {
        leaseTtlMinMs: this.opts.leaseTtlMinMs, leaseTtlMaxMs: this.opts.leaseTtlMaxMs, leasesMax: this.opts.leasesMax,
        watchersPerConnectionMax: this.opts.watchersPerConnectionMax, tokenTtlMaxMs: this.opts.tokenTtlMaxMs, tokenTtlChecked: !this.opts.insecure,
      },
      urlOf: (id) => this.urlOf(id),
      reply: (to, payload) => this.mesh.sendRpc(to, payload),
      backup: { cluster: this.opts.cluster, mode: this.opts.mode, driver: this.driver, machine: this.machine, backupsMax: this.opts.backupsMax, backupIdleMs: this.opts.backupIdleMs },
      faults: {
        enabled: this.opts.faults,
        get blocked() { return peer.blocked; },
        block: (ids) => this.blockPeers(ids),
        delay: (delays) => this.delayMessages(delays),
      },
    };
  }

  /** Fault injection: drop all Raft traffic with `ids` (an empty list heals). Needs --faults. */
  blockPeers(ids: readonly string[]): void {
    this.#blocked = new Set(ids.filter((id) => id !== this.opts.id));
    this.log('warn', ids.length === 0 ? 'fault injection: healed' : `fault injection: cut off from ${ids.join(', ')}`);
  }

  get blocked(): readonly string[] {
    return [...this.#blocked];
  }

  /** Fault injection: hold back the Raft messages of these types (an empty list heals). Needs --faults. */
  delayMessages(delays: ReadonlyArray<{ readonly type: string; readonly ms: number }>): void {
    this.#delays = new Map(delays.map((d) => [d.type, d.ms]));
    if (delays.length > 0) this.log('warn', `fault injection: holding back ${delays.map((d) => `${d.type} by ${d.ms} ms`).join(', ')}`);
  }

  /** Sends `m` after its type's delay, as a message slow in the network would arrive; true if held. */
  #holdBack(m: Message): boolean {
    const ms = this.#delays.get(m.type);
    if (ms === undefined) return false;
    if (this.#held >= heldMessagesMax) {
      this.log('warn', `fault injection: ${heldMessagesMax} messages already held back; ${m.type} to ${m.to} dropped`);
      return true;
    }
    this.#held++;
    this.log('info', `fault injection: ${m.type} to ${m.to} held back for ${ms} ms`);
    const timer = setTimeout(() => {
      this.#held--;
      if (this.#stopping === null) this.mesh.send([m]);
    }, ms);
    this.#runtime.unrefTimer?.(timer);
    return true;
  }

  /** Brings Raft time up to date (runs the ticks that are due). */
  catchUpTime(): void {
    this.driver.catchUp();
  }

  #onApply(e: Entry): void {
    if (e.type === 'config' && e.conf !== undefined) {
      this.log('info', `membership change applied: ${e.conf.type} ${e.conf.node}`, { index: e.index });
      if (e.conf.type === 'removeNode') {
        if (e.conf.node === this.opts.id) this.#removedSelf(`applied its own removal at index ${e.index}`);
        else {
          this.#removedMembers.add(e.conf.node);
          this.mesh.removePeer(e.conf.node);
        }
      } else {
        this.#removedMembers.delete(e.conf.node);
      }
      return;
    }
  }

  /** Member addresses replicate as reserved keys: dial new members as soon as they are known. */
  #onKeyChange(key: string, value: unknown): void {
    if (!key.startsWith(memberKeyPrefix) || typeof value !== 'string') return;
    const id = key.slice(memberKeyPrefix.length);
    if (id === this.opts.id || this.#urls.get(id) === value) return;
    this.#urls.set(id, value);
    this.mesh.addPeer(id, value);
    this.log('info', `member address learned: ${id} at ${value}`);
  }

  /** Membership this peer currently applies. */
  conf(): ConfState {
    return this.driver.node.status().conf;
  }

  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    this.log('info', 'stopping');
    this.#ticker.stop();
    if (this.#progressTimer !== null) clearInterval(this.#progressTimer);
    this.#progressTimer = null;
    // Watchers are told to resume elsewhere (from their revision) while the connections are open.
    this.#service.stopping();
    this.watches.close('this member is stopping');
    this.leases.close();
    this.snapshots.cancelAll();
    await this.driver.close();
    await this.mesh.close();
    await this.#port.close();
    await this.#store.close();
    this.log('info', 'stopped');
  }
}
