// A deterministic discrete-event simulator of a Raft cluster on a virtual clock, driven by one
// seed. Each node runs what a peer runs: the real RaftNode driven by the real RaftDriver (group
// commit, lazily written hard state, background snapshots, per-key read waiters, read timeouts,
// and the time policy that skips stalls), over a simulated disk whose unsynced writes are lost or
// torn on crash, with its own drifting clock, and woken by a timer as a runtime wakes it. Nodes can
// be paused (SIGSTOP, a long GC: messages wait in their socket buffers) or suspended (a VM: the
// monotonic clock stops too). The checker runs on every Ready and every apply. With the key-value
// machine each node also runs what a peer runs beside its driver: a LeaseKeeper ticked with the
// driver (the leader's lease clocks and expiries) and a WatchHub with a progress round every
// watchProgressMs of the node's own clock.
//
// The driver is asynchronous, so after every event the simulator lets the microtasks it caused run
// to the end (one macrotask turn) before the next event: virtual time stands still meanwhile, and
// the order of everything is still fixed by the seed.

import { RaftDriver } from '../../src/core/driver.ts';
import { RaftError } from '../../src/core/errors.ts';
import type { RaftOptions } from '../../src/core/config.ts';
import type { KvMachineOptions, KvResult } from '../../src/core/kv/machine.ts';
import type { Message } from '../../src/core/message.ts';
import type { RaftNode, Ready } from '../../src/core/node.ts';
import { SeededPrng } from '../../src/core/prng.ts';
import type { ConfState, Entry } from '../../src/core/types.ts';
import { encodeCommand, kvKeysOf } from '../../src/core/kv/command.ts';
import { LeaseKeeper } from '../../src/core/kv/lease-keeper.ts';
import type { LessorOptions } from '../../src/core/kv/lessor.ts';
import type { KvMachine } from '../../src/core/kv/machine.ts';
import { WatchHub, type WatchLimits } from '../../src/core/kv/watch-hub.ts';
import { Checker, entryKey } from './checker.ts';
import { CheckedNode } from './checked-node.ts';
import { Network, reliableNetwork, type NetworkOptions } from './network.ts';
import { SimClock } from './sim-clock.ts';
import { hashString, SimMachine, type MachineState } from './sim-machine.ts';
import { emptyDurable, SimStore, type Durable } from './sim-store.ts';

export interface SimOptions {
  seed: number;
  voters: number;
  learners?: number;
  tickMs?: number;
  network?: NetworkOptions;
  /** Time a synced write takes, uniform in [min, max]. */
  fsyncMinMs?: number;
  fsyncMaxMs?: number;
  /** Each node's clock runs at 1 ± up to this fraction (lease reads depend on it). */
  clockDrift?: number;
  /** On crash, an in-flight write may be partly on disk (a torn write). */
  tornWrites?: boolean;
  /** Take a snapshot and compact after this many applied entries (0: never). */
  snapshotEvery?: number;
  /** Entries kept in the log behind a snapshot. */
  snapshotRetain?: number;
  /** Apply entries to a key-value state machine too (proposals must then be KV commands). */
  kv?: boolean;
  /** Limits of the key-value machine (small ones make session expiry and eviction happen). */
  kvMachine?: KvMachineOptions;
  /** Observers o1..oN: learners outside the configuration that every new leader registers. */
  observers?: number;
  /**
   * Where observers connect: 'leader' (every new leader registers them) or 'followers' (observer
   * oK is registered at one voter from its start, which relays the log to it while it follows).
   */
  observersAt?: 'leader' | 'followers';
  /** Consensus mode of every node; parallel runs ParallelRaft (out-of-order ack/commit/apply). */
  mode?: 'raft' | 'parallel';
  /** Options of each node's lessor (the keeper's defaults otherwise, as a peer runs it). */
  lessor?: Partial<LessorOptions>;
  /** Limits of each node's watch hub. */
  watchLimits?: Partial<WatchLimits>;
  /** A node's watch hub sends progress to idle watchers this often, on the node's own clock. */
  watchProgressMs?: number;
  raft?: Partial<Omit<RaftOptions, 'id' | 'prng' | 'clock' | 'tickMs'>>;
}

type Event =
  | { kind: 'deliver'; msg: Message; epoch: number }
  | { kind: 'wake'; node: string; epoch: number }
  | { kind: 'call'; fn: () => void };

interface Queued {
  at: number;
  seq: number;
  ev: Event;
}

/** The settled outcome of a client request, as its answer reaches the client. */
export type Settled<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: Error & { code?: string } };

export class SimNode {
  readonly id: string;
  readonly clock: SimClock;
  epoch = 0;
  crashes = 0;
  /** The disk: it outlives every process that runs on it. */
  readonly durable: Durable = emptyDurable();
  store: SimStore | null = null;
  node: CheckedNode | null = null;
  driver: RaftDriver<KvResult | null> | null = null;
  machine: SimMachine | null = null;
  /** With the key-value machine: the lease clocks and expiries, and the watchers served here. */
  keeper: LeaseKeeper | null = null;
  watches: WatchHub | null = null;
  /** The node's monotonic reading at which its hub sends the next progress round. */
  nextProgressMs = 0;
  /** Virtual time a pause ends, or null while running. */
  pausedUntil: number | null = null;
  /** What arrived while paused (messages, requests, disk completions), in arrival order. */
  inbox: Array<() => void> = [];
  /** A wake-up fell in a pause: the timer fires once on resume. */
  wakeMissed = false;
  /** For SIM_ROLES. */
  lastRole = '';
  lastTerm = 0;

  constructor(id: string, clock: SimClock) {
    this.id = id;
    this.clock = clock;
  }

  get alive(): boolean {
    return this.driver !== null;
  }

  get paused(): boolean {
    return this.pausedUntil !== null;
  }
}

// Debugging aids (no effect unless set): SIM_TRACE=<node> prints every message to or from it
// (after SIM_TRACE_FROM virtual ms); SIM_WATCH=<index> prints every write and commit of that index;
// SIM_ROLES=1 prints every change of role and term.
const TRACE = process.env.SIM_TRACE;
const ROLES = process.env.SIM_ROLES !== undefined;
const TRACE_FROM = Number(process.env.SIM_TRACE_FROM ?? 0);
const WATCH = Number(process.env.SIM_WATCH ?? 0);
const encoder = new TextEncoder();

/** Lets every microtask the last event caused run to the end (one macrotask turn). */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export class Sim {
  readonly opts: Required<Omit<SimOptions, 'raft' | 'kvMachine'>> & { raft: SimOptions['raft']; kvMachine: KvMachineOptions };
  /** Lease keep-alives answered and expiries proposed by keepers of processes that have died. */
  readonly #leaseStatsDead = { keepAlives: 0, expiriesProposed: 0 };
  readonly rng: SeededPrng;
  readonly net: Network;
  readonly checker: Checker;
  readonly nodes = new Map<string, SimNode>();
  readonly ids: string[];
  readonly observerIds: string[];
  readonly conf: ConfState;
  now = 0;
  steps = 0;
  readonly msgCount = new Map<string, number>();
  entriesDelivered = 0;
  pauses = 0;
  /** A scenario's own message filter: matching messages are lost on delivery. */
  dropIf: ((m: Message) => boolean) | null = null;
  /** A scenario's own rewriting: the messages delivered instead of `m` (null: `m` itself). */
  rewriteIf: ((m: Message) => readonly Message[] | null) | null = null;
  /** A scenario's own delays: extra virtual ms for a message as it is sent (null: none). */
  delayIf: ((m: Message) => number | null) | null = null;
  #heap: Queued[] = [];
  #seq = 0;
  /** The first error that stopped a node's driver. */
  #fatal: Error | null = null;
  #proposalSeq = 0;

  constructor(options: SimOptions) {
    this.opts = {
      learners: 0, tickMs: 10, network: reliableNetwork, fsyncMinMs: 0.1, fsyncMaxMs: 1, clockDrift: 0,
      tornWrites: true, snapshotEvery: 0, snapshotRetain: 5, kv: false, observers: 0, observersAt: 'leader', mode: 'raft',
      lessor: {}, watchLimits: {}, watchProgressMs: 1000,
      ...options, raft: options.raft, kvMachine: options.kvMachine ?? {},
    };
    this.checker = new Checker(this.opts.mode);
    this.rng = new SeededPrng(options.seed);
    this.net = new Network(this.opts.network, new SeededPrng(options.seed ^ 0x5bd1e995));
    const voters = Array.from({ length: options.voters }, (_, i) => `n${i + 1}`);
    const learners = Array.from({ length: this.opts.learners }, (_, i) => `l${i + 1}`);
    this.observerIds = Array.from({ length: this.opts.observers }, (_, i) => `o${i + 1}`);
    this.ids = [...voters, ...learners, ...this.observerIds];
    this.conf = { voters, learners };
    for (const id of this.ids) {
      const rate = 1 + (this.rng.nextFloat() * 2 - 1) * this.opts.clockDrift;
      const n = new SimNode(id, new SimClock(() => this.now, rate, 1_700_000_000_000 + this.rng.nextInt(1_000_000)));
      this.nodes.set(id, n);
      this.#start(n);
    }
  }

  // ---- event loop --------------------------------------------------------------------------

  #push(at: number, ev: Event): void {
    const h = this.#heap;
    const q: Queued = { at, seq: this.#seq++, ev };
    h.push(q);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (before(h[p]!, q)) break;
      h[i] = h[p]!;
      i = p;
    }
    h[i] = q;
  }

  #pop(): Queued | undefined {
    const h = this.#heap;
    const top = h[0];
    const last = h.pop();
    if (h.length > 0 && last !== undefined) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        let best = last;
        if (l < h.length && before(h[l]!, best)) { m = l; best = h[l]!; }
        if (r < h.length && before(h[r]!, best)) { m = r; best = h[r]!; }
        if (m === i) break;
        h[i] = h[m]!;
        i = m;
      }
      h[i] = last;
    }
    return top;
  }

  /** Runs one event and what it set off. Returns false when nothing is scheduled. */
  async stepOnce(): Promise<boolean> {
    const q = this.#pop();
    if (q === undefined) return false;
    this.now = q.at;
    this.steps++;
    const ev = q.ev;
    switch (ev.kind) {
      case 'deliver': this.#deliver(ev.msg, ev.epoch); break;
      case 'wake': this.#wake(ev.node, ev.epoch); break;
      case 'call': ev.fn(); break;
    }
    await settle();
    if (this.#fatal !== null) throw this.#fatal;
    return true;
  }

  async runFor(ms: number): Promise<void> {
    const end = this.now + ms;
    while (this.#heap.length > 0 && this.#heap[0]!.at <= end) await this.stepOnce();
    this.now = end;
  }

  /** Runs until `done()` holds (checked after each event) or `maxMs` pass; returns whether it held. */
  async runUntil(done: () => boolean, maxMs: number): Promise<boolean> {
    const end = this.now + maxMs;
    if (done()) return true;
    while (this.#heap.length > 0 && this.#heap[0]!.at <= end) {
      await this.stepOnce();
      if (done()) return true;
    }
    this.now = end;
    return false;
  }

  /** Observers for workloads layered on the simulator (each a list: several workloads may listen). */
  readonly hooks: {
    /** Node `node` applied entry `e` (its command alone in parallel mode) with this result. */
    readonly applied: Array<(node: string, e: Entry, result: KvResult | null) => void>;
    /** Node `node`'s process died (crash): its connections are gone. */
    readonly crashed: Array<(node: string) => void>;
  } = { applied: [], crashed: [] };

  at(delayMs: number, fn: () => void): void {
    this.#push(this.now + delayMs, { kind: 'call', fn });
  }

  // ---- nodes -------------------------------------------------------------------------------

  #options(n: SimNode): RaftOptions {
    const prng = new SeededPrng((this.opts.seed * 31 + hashString(n.id) + n.crashes * 7919) >>> 0);
    const base = { ...this.opts.raft, id: n.id, prng, clock: n.clock, tickMs: this.opts.tickMs, debugChecks: true };
    if (this.opts.mode === 'parallel') return { ...base, mode: 'parallel', keysOf: this.opts.kv ? kvKeysOf : null };
    return base;
  }

  /** Starts (or restarts) the process on node `n`: load the disk, build the node and its driver. */
  #start(n: SimNode): void {
    const epoch = n.epoch;
    const store = new SimStore(n.durable, {
      now: () => this.now,
      after: (ms, fn) => this.at(ms, () => { if (n.epoch === epoch) fn(); }),
      deliver: (fn) => this.#arrive(n, epoch, fn),
      syncDelayMs: () => this.opts.fsyncMinMs + this.rng.nextFloat() * (this.opts.fsyncMaxMs - this.opts.fsyncMinMs),
    });
    const d = n.durable;
    const restore = { hardState: d.hardState, snapshot: d.snapshot, entries: [...d.entries] };
    const node = new CheckedNode({ options: this.#options(n), bootstrap: this.conf, restore }, {
      id: n.id, checker: this.checker, mode: this.opts.mode,
      taken: (_node, rd, becameLeader) => this.#taken(n, rd, becameLeader),
    });
    if (this.opts.observersAt === 'followers') {
      // Each observer stays connected to one voter, whatever its role (a relay while it follows).
      const k = this.conf.voters.indexOf(n.id);
      this.observerIds.forEach((o, j) => { if (k !== -1 && j % this.conf.voters.length === k) node.addObserver(o); });
    }
    const machine = new SimMachine({
      id: n.id, parallel: this.opts.mode === 'parallel', checker: this.checker, kv: this.opts.kv ? this.opts.kvMachine : null,
      onApply: (e, result) => { for (const h of this.hooks.applied) h(n.id, e, result); },
    });
    if (d.snapshot !== null) machine.restore(d.snapshot.data);
    n.store = store;
    n.node = node;
    n.machine = machine;
    n.pausedUntil = null;
    n.inbox = [];
    n.wakeMissed = false;
    n.driver = new RaftDriver<KvResult | null>({
      node, store, machine, clock: n.clock,
      send: (msgs) => this.#send(msgs),
      snapshotEntries: this.opts.snapshotEvery,
      snapshotRetainEntries: this.opts.snapshotRetain,
      onReady: () => {
        const coreApplied = node.appliedIndex;
        // While a received snapshot awaits restore the machine may be ahead: it is replaced next.
        const restoring = coreApplied < node.firstIndex - 1;
        if (coreApplied !== machine.sm.applied && !(restoring && machine.sm.applied > coreApplied)) {
          this.checker.fail(`${n.id}: the core says applied ${coreApplied}, the state machine is at ${machine.sm.applied}`);
        }
      },
      // A violation found inside the driver's loop (a check in ready(), an apply) stops it: the
      // simulator raises it after the event (stepOnce), as if it had been thrown there.
      onFatal: (err) => { this.#fatal ??= err; },
    });
    if (machine.kv !== null) {
      // As a peer wires them: the keeper on the driver, machine and clock; the hub on the machine.
      n.keeper = new LeaseKeeper({ driver: n.driver, machine: machine.kv, clock: n.clock, lessor: this.opts.lessor });
      n.watches = new WatchHub(machine.kv, this.opts.watchLimits);
      n.nextProgressMs = n.clock.monoMs() + this.opts.watchProgressMs;
    }
    // The runtime's timer: first wake-up somewhere within a tick of the start.
    this.#push(this.now + n.clock.virtualFor(this.opts.tickMs) * (0.5 + this.rng.nextFloat() * 0.5), { kind: 'wake', node: n.id, epoch });
  }

  #taken(n: SimNode, rd: Ready, becameLeader: boolean): void {
    if (ROLES && (rd.hardState !== null || rd.softState.role !== n.lastRole)) {
      // (Tracing only: status() is costly.)
      const st = n.node!.status();
      if (rd.softState.role !== n.lastRole || rd.hardState?.term !== n.lastTerm) {
        console.error(`${this.now.toFixed(1)} ${n.id} ${rd.softState.role} term ${st.term} (leader ${rd.softState.leader}, lease ${st.leaseValid}, commit ${st.commit})`);
      }
      n.lastRole = rd.softState.role;
      n.lastTerm = st.term;
    }
    // Like a runtime, a new leader registers the observers connected to it.
    if (becameLeader && this.opts.observersAt === 'leader') for (const o of this.observerIds) n.node!.addObserver(o);
    if (WATCH > 0) {
      const node = n.node!;
      for (const e of [...rd.entries, ...rd.fills]) {
        if (e.index === WATCH) console.error(`${this.now.toFixed(1)} ${n.id} (${rd.softState.role} t${node.status().term}) writes ${e.index}/${e.term} ${e.term === 0 ? 'hole' : entryKey(e).slice(-6)} ${rd.fills.includes(e) ? 'fill' : 'entry'}`);
      }
    }
  }

  crash(id: string): void {
    const n = this.#node(id);
    if (!n.alive) return;
    // A torn write: a prefix of the in-flight entries reached the disk, the rest did not.
    const tear = this.opts.tornWrites && this.rng.nextFloat() < 0.5 ? (k: number) => this.rng.nextInt(k) : null;
    n.store!.crash(tear);
    if (n.keeper !== null) {
      this.#leaseStatsDead.keepAlives += n.keeper.stats.keepAlives;
      this.#leaseStatsDead.expiriesProposed += n.keeper.stats.expiriesProposed;
    }
    // The process is gone: nothing it held is closed politely, its connections just drop.
    n.keeper = null;
    n.watches = null;
    n.node = null;
    n.driver = null;
    n.machine = null;
    n.store = null;
    n.pausedUntil = null;
    n.inbox = [];
    n.epoch++;
    n.crashes++;
    for (const h of this.hooks.crashed) h(id);
    this.checkDurableQuorum();
  }

  restart(id: string): void {
    const n = this.#node(id);
    if (n.alive) return;
    this.#start(n);
  }

  /**
   * Freezes node `id` for `ms` (SIGSTOP, a long GC pause, CPU starvation): what reaches it waits
   * in its socket buffers; on resume its timer and the waiting input run in the order a runtime
   * would see them. With `suspend` the machine itself was suspended: its monotonic clock did not
   * count the time, its wall clock did. `resume` fixes which runs first on resume (default: a coin).
   */
  pause(id: string, ms: number, suspend = false, resume: 'either' | 'timerFirst' | 'inputFirst' = 'either'): void {
    const n = this.#node(id);
    if (!n.alive || n.paused) return;
    const epoch = n.epoch;
    n.pausedUntil = this.now + ms;
    this.pauses++;
    this.at(ms, () => {
      if (n.epoch !== epoch || !n.alive) return;
      n.pausedUntil = null;
      if (suspend) n.clock.suspended(ms);
      const waiting = n.inbox;
      n.inbox = [];
      // The timer first, or the socket data first: either may come first after a stop (a scripted
      // schedule may pick; the coin is thrown all the same, so the rest of the run stays as it was).
      const coin = this.rng.nextInt(2) === 0;
      const timerFirst = resume === 'either' ? coin : resume === 'timerFirst';
      if (timerFirst) this.#wakeNow(n);
      for (const fn of waiting) this.at(0, () => { if (n.epoch === epoch && n.alive) fn(); });
      if (!timerFirst) this.at(0, () => { if (n.epoch === epoch && n.alive) this.#wakeNow(n); });
    });
  }

  #node(id: string): SimNode {
    const n = this.nodes.get(id);
    if (n === undefined) throw new Error(`no node ${id}`);
    return n;
  }

  /** Input for node `n` of life `epoch`: handled now, queued while it is paused, lost if it died. */
  #arrive(n: SimNode, epoch: number, fn: () => void): void {
    if (n.epoch !== epoch || !n.alive) return;
    if (n.paused) n.inbox.push(fn);
    else fn();
  }

  #wake(id: string, epoch: number): void {
    const n = this.#node(id);
    if (n.epoch !== epoch || !n.alive) return;
    if (n.paused) {
      n.wakeMissed = true;
      return;
    }
    this.#wakeNow(n);
  }

  /** The runtime's timer fired: the driver catches up on its ticks; the timer is armed again. */
  #wakeNow(n: SimNode): void {
    n.wakeMissed = false;
    n.driver!.catchUp();
    // The peer's ticker runs the keeper after the driver; its progress timer runs the hub.
    n.keeper?.tick();
    if (n.watches !== null && n.clock.monoMs() >= n.nextProgressMs) {
      n.nextProgressMs = n.clock.monoMs() + this.opts.watchProgressMs;
      n.watches.progress();
    }
    // Timers fire a little late, never early.
    const next = n.clock.virtualFor(this.opts.tickMs) * (1 + this.rng.nextFloat() * 0.1);
    this.#push(this.now + next, { kind: 'wake', node: n.id, epoch: n.epoch });
  }

  #deliver(m: Message, epoch: number): void {
    const n = this.nodes.get(m.to);
    if (n === undefined || n.epoch !== epoch || !n.alive) return;
    // A link cut while the message was in flight loses it too.
    if (!this.net.connected(m.from, m.to)) return;
    if (this.dropIf !== null && this.dropIf(m)) return;
    const parts = this.rewriteIf?.(m) ?? null;
    if (parts !== null) {
      for (const p of parts) this.#arrive(n, epoch, () => this.#stepInto(n, p));
      return;
    }
    this.#arrive(n, epoch, () => this.#stepInto(n, m));
  }

  #stepInto(n: SimNode, m: Message): void {
    this.msgCount.set(m.type, (this.msgCount.get(m.type) ?? 0) + 1);
    if (TRACE !== undefined && (m.to === TRACE || m.from === TRACE) && this.now > TRACE_FROM) {
      const { entries, ...rest } = m as Message & { entries?: readonly Entry[] };
      console.error(`${this.now.toFixed(1)} ${JSON.stringify({ ...rest, entries: entries?.map((e) => `${e.index}/${e.term}`) })}`);
    }
    if (m.type === 'app') this.entriesDelivered += m.entries.length;
    n.driver!.step(m);
  }

  /**
   * Calls `watch` with every message sent and the virtual times it will arrive at (none: lost)
   * until it returns true. A nemesis uses it to time a fault against a message in flight.
   */
  watchSends(watch: (m: Message, arrivals: readonly number[]) => boolean): void {
    this.#watchers.push(watch);
  }

  #watchers: Array<(m: Message, arrivals: readonly number[]) => boolean> = [];

  #send(msgs: readonly Message[]): void {
    for (const m of msgs) {
      const target = this.nodes.get(m.to);
      if (target === undefined) continue;
      const extra = this.delayIf?.(m) ?? 0;
      const fates = this.net.fate(m.from, m.to, m);
      for (const d of fates) this.#push(this.now + d + extra, { kind: 'deliver', msg: m, epoch: target.epoch });
      if (this.#watchers.length > 0) {
        const arrivals = fates.map((d) => this.now + d + extra);
        this.#watchers = this.#watchers.filter((w) => !w(m, arrivals));
      }
      if (m.type === 'snap') {
        // Like a real transport's snapshot stream, report the outcome to the sender.
        const sender = this.#node(m.from);
        const epoch = sender.epoch;
        const delay = fates.length > 0 ? fates[0]! + extra : 50;
        this.at(delay, () => {
          if (sender.epoch === epoch) this.#arrive(sender, epoch, () => sender.driver!.poke((node) => node.reportSnapshot(m.to, fates.length > 0)));
        });
      }
    }
  }

  /** No entry reported committed may be missing from the durable state of a quorum of voters. */
  checkDurableQuorum(): void {
    const c = this.checker;
    const q = Math.floor(this.conf.voters.length / 2) + 1;
    const durables = this.conf.voters.map((id) => this.#node(id).durable);
    for (let idx = c.maxCommitted; idx >= 1; idx--) {
      const rec = c.committed[idx];
      if (rec === undefined) continue;
      let holders = 0;
      let coveredBySnapshots = 0;
      for (const d of durables) {
        const snapIndex = d.snapshot?.meta.index ?? 0;
        if (snapIndex >= idx) { holders++; coveredBySnapshots++; continue; }
        const e = d.entries[idx - snapIndex - 1];
        if (e !== undefined && e.term !== 0 && (this.opts.mode === 'parallel' || e.term === rec.term) && entryKey(e) === rec.key) holders++;
      }
      if (holders < q) c.fail(`committed entry ${idx} (term ${rec.term}) is durable on only ${holders} of ${durables.length} voters`);
      // Below every voter's snapshot there is nothing left to compare.
      if (coveredBySnapshots === durables.length) return;
    }
  }

  // ---- clients and observation -------------------------------------------------------------

  /**
   * A client's request to node `id`: it crosses the network, waits in the node's socket buffer
   * while the node is paused, runs `fn` there, and its answer crosses back to `answer`. A node
   * that dies first never answers (the client's own timeout decides).
   */
  request<T>(id: string, fn: (n: SimNode) => Promise<T>, answer: (r: Settled<T>) => void): void {
    const n = this.#node(id);
    const epoch = n.epoch;
    const back = (r: Settled<T>) => this.at(this.#clientDelay(), () => answer(r));
    this.at(this.#clientDelay(), () => this.#arrive(n, epoch, () => {
      let p: Promise<T>;
      try {
        p = fn(n);
      } catch (err) {
        back({ ok: false, error: err as Error });
        return;
      }
      p.then((value) => back({ ok: true, value }), (error: Error) => back({ ok: false, error }));
    }));
  }

  #clientDelay(): number {
    return 0.1 + this.rng.nextFloat() * 0.9;
  }

  /** The live leader with the highest term, if any (a paused one still believes it leads). */
  leader(): string | null {
    let best: string | null = null;
    let bestTerm = -1;
    for (const n of this.nodes.values()) {
      const node = n.node;
      if (node === null) continue;
      if (node.role === 'leader' && node.term > bestTerm) {
        best = n.id;
        bestTerm = node.term;
      }
    }
    return best;
  }

  /** Proposes a unique entry through the current leader; returns its index or null. */
  propose(label = 'p'): { index: number; key: string } | null {
    const id = this.leader();
    if (id === null) return null;
    return this.proposeAt(id, label);
  }

  proposeAt(id: string, label = 'p'): { index: number; key: string } | null {
    const text = `${label}${this.#proposalSeq++}`;
    // With a KV state machine every entry must be a command: propose a put of a private key.
    const data = this.opts.kv
      ? encodeCommand({ timeMs: this.now, session: null, cmd: { op: 'put', key: `\u0001sim/${text}`, value: text } })
      : encoder.encode(text);
    const r = this.proposeBytes(id, data);
    if (r === null) return null;
    let key = 'd:';
    for (const b of data) key += String.fromCharCode(b);
    return { index: r.index, key };
  }

  /** Proposes one batch of raw commands at node `id` (one appendProposals); returns its first index. */
  proposeBatch(id: string, data: readonly Uint8Array[]): { index: number; term: number } | null {
    const n = this.#node(id);
    if (n.driver === null || n.paused) return null;
    let out: { index: number; term: number } | null = null;
    try {
      n.driver.poke((node) => {
        const r = node.propose(data);
        out = { index: r.firstIndex, term: r.term };
      });
    } catch {
      return null;
    }
    return out;
  }

  /**
   * Proposes raw bytes at node `id` straight into its core (through the driver's loop, not its
   * proposal batching); returns where the entry went, or null if refused or the node is paused.
   */
  proposeBytes(id: string, data: Uint8Array): { index: number; term: number } | null {
    return this.proposeBatch(id, [data]);
  }

  kvOf(id: string): KvMachine | null {
    return this.#node(id).machine?.kv ?? null;
  }

  alive(id: string): boolean {
    return this.#node(id).alive;
  }

  paused(id: string): boolean {
    return this.#node(id).paused;
  }

  status(id: string): ReturnType<RaftNode['status']> | null {
    return this.#node(id).node?.status() ?? null;
  }

  raft(id: string): RaftNode {
    const node = this.#node(id).node;
    if (node === null) throw new Error(`${id} is down`);
    return node;
  }

  driver(id: string): RaftDriver<KvResult | null> {
    const d = this.#node(id).driver;
    if (d === null) throw new Error(`${id} is down`);
    return d;
  }

  /** Role of node `id` now (null when it is down); cheaper than status(). */
  role(id: string): string | null {
    return this.#node(id).node?.role ?? null;
  }

  /**
   * Lets the test poke a node directly (campaign, transfer...) and then run its Ready. A paused
   * node gets it on resume, when a refusal (RaftError) can no longer reach the caller: dropped.
   */
  poke(id: string, fn: (node: RaftNode) => void): void {
    const n = this.#node(id);
    if (n.driver === null) return;
    if (!n.paused) {
      n.driver.poke(fn);
      return;
    }
    n.inbox.push(() => {
      try {
        n.driver!.poke(fn);
      } catch (err) {
        if (!(err instanceof RaftError)) throw err;
      }
    });
  }

  /** Whether the entry proposed with `key` is committed (in the checker's record) at `index`. */
  isCommitted(index: number, key: string): boolean {
    const rec = this.checker.committed[index];
    return (rec?.payloadKey ?? rec?.key) === key;
  }

  /** Every live node has applied through the highest committed index, with equal state. */
  converged(): boolean {
    const target = this.checker.maxCommitted;
    let hash: number | null = null;
    let kv: string | null = null;
    for (const n of this.nodes.values()) {
      const m = n.machine;
      if (m === null || n.paused) return false;
      if (m.sm.applied !== target) return false;
      if (hash === null) hash = m.sm.hash;
      else if (m.sm.hash !== hash) return false;
      // Parallel mode's hash ignores apply order, so compare the key-value states themselves.
      if (m.kv !== null && this.opts.mode === 'parallel') {
        const state = JSON.stringify(m.kv.scan());
        if (kv === null) kv = state;
        else if (state !== kv) this.checker.fail(`State Machine Safety: ${n.id} applied every entry through ${target} but its key-value state differs: ${diffStates(kv, state)}`);
      }
    }
    return true;
  }

  stateMachine(id: string): MachineState {
    return this.#node(id).machine?.sm ?? { applied: 0, hash: 0 };
  }

  /** Keep-alives answered and expiries proposed, over every keeper that ever ran. */
  leaseTotals(): { keepAlives: number; expiriesProposed: number } {
    const t = { ...this.#leaseStatsDead };
    for (const n of this.nodes.values()) {
      if (n.keeper === null) continue;
      t.keepAlives += n.keeper.stats.keepAlives;
      t.expiriesProposed += n.keeper.stats.expiriesProposed;
    }
    return t;
  }

  countMessages(): number {
    let s = 0;
    for (const v of this.msgCount.values()) s += v;
    return s;
  }
}

function diffStates(a: string, b: string): string {
  const x = new Map(JSON.parse(a) as Array<[string, unknown]>);
  const y = new Map(JSON.parse(b) as Array<[string, unknown]>);
  for (const [k, v] of x) if (JSON.stringify(y.get(k)) !== JSON.stringify(v)) return `key ${k}: ${JSON.stringify(v)} vs ${JSON.stringify(y.get(k))}`;
  for (const k of y.keys()) if (!x.has(k)) return `key ${k} only on one`;
  return 'sessions differ';
}

function before(a: Queued, b: Queued): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

export { hashString };
