// A deterministic discrete-event simulator of a Raft cluster on a virtual clock, driven by one
// seed: nodes run the real core (RaftNode) over a faulty network and a simulated disk whose
// unsynced writes are lost or torn on crash. The checker runs on every Ready.

import { entryPayload, RaftNode, type Ready } from '../../src/core/node.ts';
import type { RaftOptions } from '../../src/core/config.ts';
import type { Message } from '../../src/core/message.ts';
import { SeededPrng } from '../../src/core/prng.ts';
import type { LoadedState } from '../../src/core/storage.ts';
import type { ConfState, Entry, HardState, Snapshot } from '../../src/core/types.ts';
import { encodeCommand, kvKeysOf } from '../../src/core/kv/command.ts';
import { KvMachine, type KvResult } from '../../src/core/kv/machine.ts';
import type { ReadState } from '../../src/core/types.ts';
import { Checker, entryKey } from './checker.ts';
import { Network, reliableNetwork, type NetworkOptions } from './network.ts';

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
  /** Observers o1..oN: learners outside the configuration that every new leader registers. */
  observers?: number;
  /**
   * Where observers connect: 'leader' (every new leader registers them) or 'followers' (observer
   * oK is registered at one voter from its start, which relays the log to it while it follows).
   */
  observersAt?: 'leader' | 'followers';
  /** Consensus mode of every node; parallel runs ParallelRaft (out-of-order ack/commit/apply). */
  mode?: 'raft' | 'parallel';
  raft?: Partial<Omit<RaftOptions, 'id' | 'prng'>>;
}

interface Durable {
  hardState: HardState;
  snapshot: Snapshot | null;
  entries: Entry[];
}

interface StateMachine {
  applied: number;
  hash: number;
}

type Event =
  | { kind: 'deliver'; msg: Message; epoch: number }
  | { kind: 'tick'; node: string; epoch: number }
  | { kind: 'persisted'; node: string; epoch: number; ready: Ready }
  | { kind: 'call'; fn: () => void };

interface Queued {
  at: number;
  seq: number;
  ev: Event;
}

export class SimNode {
  readonly id: string;
  epoch = 0;
  node: RaftNode | null = null;
  durable: Durable = { hardState: { term: 0, vote: null, commit: 0 }, snapshot: null, entries: [] };
  outstanding: Ready | null = null;
  sm: StateMachine = { applied: 0, hash: 0 };
  /** Parallel mode: indexes applied above sm.applied (out of order). */
  appliedAbove = new Set<number>();
  /** The key-value state machine, when the simulation runs one. */
  kv: KvMachine | null = null;
  lastSnapshotAt = 0;
  commitSeen = 0;
  wasLeader = false;
  lastSoft = '';
  tickMs: number;
  crashes = 0;

  constructor(id: string, tickMs: number) {
    this.id = id;
    this.tickMs = tickMs;
  }

  get alive(): boolean {
    return this.node !== null;
  }
}

// Debugging aids (no effect unless set): SIM_TRACE=<node> prints every message to or from it
// (after SIM_TRACE_FROM virtual ms); SIM_WATCH=<index> prints every write and commit of that index.
const TRACE = process.env.SIM_TRACE;
const TRACE_FROM = Number(process.env.SIM_TRACE_FROM ?? 0);
const WATCH = Number(process.env.SIM_WATCH ?? 0);
const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class Sim {
  readonly opts: Required<Omit<SimOptions, 'raft'>> & { raft: SimOptions['raft'] };
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
  /** A scenario's own message filter: matching messages are lost on delivery. */
  dropIf: ((m: Message) => boolean) | null = null;
  #heap: Queued[] = [];
  #seq = 0;
  #proposalSeq = 0;

  constructor(options: SimOptions) {
    this.opts = {
      learners: 0, tickMs: 10, network: reliableNetwork, fsyncMinMs: 0.1, fsyncMaxMs: 1, clockDrift: 0,
      tornWrites: true, snapshotEvery: 0, snapshotRetain: 5, kv: false, observers: 0, observersAt: 'leader', mode: 'raft', ...options, raft: options.raft,
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
      const drift = 1 + (this.rng.nextFloat() * 2 - 1) * this.opts.clockDrift;
      const n = new SimNode(id, this.opts.tickMs * drift);
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

  /** Runs one event. Returns false when nothing is scheduled. */
  stepOnce(): boolean {
    const q = this.#pop();
    if (q === undefined) return false;
    this.now = q.at;
    this.steps++;
    const ev = q.ev;
    switch (ev.kind) {
      case 'deliver': this.#deliver(ev.msg, ev.epoch); break;
      case 'tick': this.#tick(ev.node, ev.epoch); break;
      case 'persisted': this.#persisted(ev.node, ev.epoch, ev.ready); break;
      case 'call': ev.fn(); break;
    }
    return true;
  }

  runFor(ms: number): void {
    const end = this.now + ms;
    while (this.#heap.length > 0 && this.#heap[0]!.at <= end) this.stepOnce();
    this.now = end;
  }

  /** Runs until `done()` holds (checked after each event) or `maxMs` pass; returns whether it held. */
  runUntil(done: () => boolean, maxMs: number): boolean {
    const end = this.now + maxMs;
    if (done()) return true;
    while (this.#heap.length > 0 && this.#heap[0]!.at <= end) {
      this.stepOnce();
      if (done()) return true;
    }
    this.now = end;
    return false;
  }

  /** Observers for workloads layered on the simulator (KV clients). */
  readonly hooks: {
    applied?: (node: string, e: Entry, result: KvResult | null) => void;
    readState?: (node: string, rs: ReadState) => void;
    readDropped?: (node: string, ctx: number | string) => void;
    advanced?: (node: string) => void;
  } = {};

  #snapshotData(n: SimNode): Uint8Array {
    const head = encoder.encode(JSON.stringify(n.sm));
    const kv = n.kv?.snapshot() ?? new Uint8Array(0);
    const out = new Uint8Array(4 + head.length + kv.length);
    new DataView(out.buffer).setUint32(0, head.length);
    out.set(head, 4);
    out.set(kv, 4 + head.length);
    return out;
  }

  #restoreMachines(n: SimNode, data: Uint8Array | null): void {
    n.kv = this.opts.kv ? new KvMachine({ outOfOrder: this.opts.mode === 'parallel' }) : null;
    n.appliedAbove = new Set();
    if (data === null) {
      n.sm = { applied: 0, hash: 0 };
      return;
    }
    const len = new DataView(data.buffer, data.byteOffset, data.byteLength).getUint32(0);
    n.sm = JSON.parse(decoder.decode(data.subarray(4, 4 + len))) as StateMachine;
    if (n.kv !== null) n.kv.restore(data.subarray(4 + len));
  }

  at(delayMs: number, fn: () => void): void {
    this.#push(this.now + delayMs, { kind: 'call', fn });
  }

  // ---- nodes -------------------------------------------------------------------------------

  #options(n: SimNode): RaftOptions {
    const prng = new SeededPrng((this.opts.seed * 31 + hashString(n.id) + n.crashes * 7919) >>> 0);
    if (this.opts.mode === 'parallel') {
      return { ...this.opts.raft, id: n.id, prng, mode: 'parallel', keysOf: this.opts.kv ? kvKeysOf : null };
    }
    return { ...this.opts.raft, id: n.id, prng };
  }

  #start(n: SimNode): void {
    const restore: LoadedState = {
      hardState: n.durable.hardState,
      snapshot: n.durable.snapshot,
      entries: [...n.durable.entries],
    };
    n.node = new RaftNode({ options: this.#options(n), bootstrap: this.conf, restore });
    if (this.opts.observersAt === 'followers') {
      // Each observer stays connected to one voter, whatever its role (a relay while it follows).
      const k = this.conf.voters.indexOf(n.id);
      this.observerIds.forEach((o, j) => { if (k !== -1 && j % this.conf.voters.length === k) n.node!.addObserver(o); });
    }
    n.outstanding = null;
    this.#restoreMachines(n, n.durable.snapshot?.data ?? null);
    n.lastSnapshotAt = n.sm.applied;
    n.commitSeen = n.durable.snapshot?.meta.index ?? 0;
    n.wasLeader = false;
    n.lastSoft = 'follower/null';
    this.#push(this.now + n.tickMs * (0.5 + this.rng.nextFloat() * 0.5), { kind: 'tick', node: n.id, epoch: n.epoch });
    this.#process(n);
  }

  crash(id: string): void {
    const n = this.#node(id);
    if (!n.alive) return;
    if (n.outstanding !== null && this.opts.tornWrites && this.rng.nextFloat() < 0.5) {
      // A torn write: a prefix of the in-flight entries reached the disk, the rest did not.
      const entries = n.outstanding.entries;
      if (n.outstanding.snapshot === null && entries.length > 0) {
        this.#writeEntries(n.durable, entries.slice(0, this.rng.nextInt(entries.length)));
      }
    }
    n.node = null;
    n.outstanding = null;
    n.epoch++;
    n.crashes++;
    this.checkDurableQuorum();
  }

  restart(id: string): void {
    const n = this.#node(id);
    if (n.alive) return;
    this.#start(n);
  }

  #node(id: string): SimNode {
    const n = this.nodes.get(id);
    if (n === undefined) throw new Error(`no node ${id}`);
    return n;
  }

  #tick(id: string, epoch: number): void {
    const n = this.#node(id);
    if (n.epoch !== epoch || n.node === null) return;
    n.node.tick();
    this.#push(this.now + n.tickMs, { kind: 'tick', node: id, epoch });
    this.#process(n);
  }

  #deliver(m: Message, epoch: number): void {
    const n = this.nodes.get(m.to);
    if (n === undefined || n.node === null || n.epoch !== epoch) return;
    // A link cut while the message was in flight loses it too.
    if (!this.net.connected(m.from, m.to)) return;
    if (this.dropIf !== null && this.dropIf(m)) return;
    this.msgCount.set(m.type, (this.msgCount.get(m.type) ?? 0) + 1);
    if (TRACE !== undefined && (m.to === TRACE || m.from === TRACE) && this.now > TRACE_FROM) {
      const { entries, ...rest } = m as Message & { entries?: readonly Entry[] };
      console.error(`${this.now.toFixed(1)} ${JSON.stringify({ ...rest, entries: entries?.map((e) => `${e.index}/${e.term}`) })}`);
    }
    if (m.type === 'app') this.entriesDelivered += m.entries.length;
    n.node.step(m);
    this.#process(n);
  }

  #send(msgs: readonly Message[]): void {
    for (const m of msgs) {
      const target = this.nodes.get(m.to);
      if (target === undefined) continue;
      const fates = this.net.fate(m.from, m.to);
      for (const d of fates) {
        this.#push(this.now + d, { kind: 'deliver', msg: m, epoch: target.epoch });
      }
      if (m.type === 'snap') {
        // Like a real transport's snapshot stream, report the outcome to the sender.
        const sender = this.#node(m.from);
        const epoch = sender.epoch;
        const delay = fates.length > 0 ? fates[0]! : 50;
        this.at(delay, () => {
          if (sender.epoch === epoch) this.poke(m.from, (node) => node.reportSnapshot(m.to, fates.length > 0));
        });
      }
    }
  }

  /** Takes a Ready if one is due and starts its write. */
  #process(n: SimNode): void {
    const node = n.node;
    if (node === null || n.outstanding !== null || !node.hasReady()) return;
    const rd = node.ready();
    const soft = `${rd.softState.role}/${rd.softState.leader}`;
    if (isEmpty(rd) && soft === n.lastSoft) this.checker.fail(`${n.id}: hasReady() was true but the Ready is empty (a busy loop)`);
    n.lastSoft = soft;
    n.outstanding = rd;
    if (WATCH > 0) {
      for (const e of [...rd.entries, ...rd.fills]) {
        if (e.index === WATCH) console.error(`${this.now.toFixed(1)} ${n.id} (${rd.softState.role} t${node.status().term}) writes ${e.index}/${e.term} ${e.term === 0 ? 'hole' : entryKey(e).slice(-6)} ${rd.fills.includes(e) ? 'fill' : 'entry'}`);
      }
      const st = node.status();
      if (st.commit >= WATCH && n.commitSeen < WATCH) console.error(`${this.now.toFixed(1)} ${n.id} commits through ${st.commit}: ${entryKey(node.entryAt(WATCH) ?? { term: 0, index: 0, type: 'noop', data: new Uint8Array() }).slice(-6)}`);
      if (st.committedAbove.includes(WATCH)) console.error(`${this.now.toFixed(1)} ${n.id} commits ${WATCH} out of order: ${entryKey(node.entryAt(WATCH)!).slice(-6)}`);
    }
    this.#checkReady(n, node, rd);
    this.#send(rd.messages);
    const o = this.opts;
    const delay = rd.mustSync ? o.fsyncMinMs + this.rng.nextFloat() * (o.fsyncMaxMs - o.fsyncMinMs) : 0;
    this.#push(this.now + delay, { kind: 'persisted', node: n.id, epoch: n.epoch, ready: rd });
  }

  #persisted(id: string, epoch: number, rd: Ready): void {
    const n = this.#node(id);
    if (n.epoch !== epoch || n.node === null) return;
    const d = n.durable;
    if (rd.snapshot !== null) {
      // As a store does, the snapshot replaces the whole log; in parallel mode the core writes the
      // entries it keeps after it again, in the same Ready.
      d.snapshot = rd.snapshot;
      d.entries = [];
    }
    this.#writeEntries(d, rd.entries);
    this.#writeFills(d, rd.fills);
    if (rd.hardState !== null) d.hardState = rd.hardState;
    this.#send(rd.messagesAfterPersist);
    if (rd.snapshot !== null) this.#restoreMachines(n, rd.snapshot.data);
    const parallel = this.opts.mode === 'parallel';
    for (const e of rd.committedEntries) {
      this.checker.apply(n.id, e);
      if (parallel) {
        if (e.index <= n.sm.applied || n.appliedAbove.has(e.index)) this.checker.fail(`${n.id} applied ${e.index} twice`);
        n.appliedAbove.add(e.index);
        let applied = n.sm.applied;
        while (n.appliedAbove.delete(applied + 1)) applied++;
        // Order-independent: entries that touch different keys apply in any order.
        n.sm = { applied, hash: (n.sm.hash + hashString(entryKey(e))) >>> 0 };
      } else {
        if (e.index !== n.sm.applied + 1) this.checker.fail(`${n.id} applied ${e.index} after ${n.sm.applied}`);
        n.sm = { applied: e.index, hash: mix(n.sm.hash, entryKey(e)) };
      }
      const result = n.kv?.apply(parallel ? { ...e, data: entryPayload(e, 'parallel') } : e) ?? null;
      this.hooks.applied?.(n.id, e, result);
    }
    for (const rs of rd.readStates) this.hooks.readState?.(n.id, rs);
    for (const ctx of rd.droppedReads) this.hooks.readDropped?.(n.id, ctx);
    n.outstanding = null;
    n.node.advance(rd);
    if (rd.committedEntries.length > 0 || rd.snapshot !== null) this.hooks.advanced?.(n.id);
    if (rd.snapshot !== null) n.appliedAbove = new Set();
    const coreApplied = n.node.status().applied;
    if (coreApplied !== n.sm.applied) this.checker.fail(`${n.id}: the core says applied ${coreApplied}, the state machine is at ${n.sm.applied}`);
    this.#maybeSnapshot(n, n.node);
    this.#process(n);
  }

  #writeEntries(d: Durable, entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = entries[0]!.index;
    const base = d.snapshot?.meta.index ?? 0;
    const keep = first - base - 1;
    if (keep < 0) throw new Error(`write at ${first} below snapshot ${base}`);
    if (keep > d.entries.length) throw new Error(`write at ${first} leaves a gap after ${base + d.entries.length}`);
    d.entries.length = keep;
    for (const e of entries) d.entries.push(e);
  }

  /** Parallel mode: entries written in place over holes or stale entries. */
  #writeFills(d: Durable, fills: readonly Entry[]): void {
    const base = d.snapshot?.meta.index ?? 0;
    for (const e of fills) {
      const k = e.index - base - 1;
      if (k < 0) continue;
      if (k >= d.entries.length) throw new Error(`fill at ${e.index} beyond the durable log (last ${base + d.entries.length})`);
      d.entries[k] = e;
    }
  }

  #maybeSnapshot(n: SimNode, node: RaftNode): void {
    const every = this.opts.snapshotEvery;
    if (every <= 0 || n.sm.applied - n.lastSnapshotAt < every) return;
    // Parallel mode: only at a point where nothing above the watermark is applied.
    if (n.appliedAbove.size > 0) return;
    const snap = node.compact(this.#snapshotData(n), this.opts.snapshotRetain);
    n.lastSnapshotAt = n.sm.applied;
    // saveSnapshot: durable at once; entries it covers are dropped from the durable log.
    const d = n.durable;
    const base = d.snapshot?.meta.index ?? 0;
    d.entries = d.entries.slice(Math.max(0, snap.meta.index - base));
    d.snapshot = snap;
  }

  #checkReady(n: SimNode, node: RaftNode, rd: Ready): void {
    const c = this.checker;
    const st = node.status();
    if (rd.softState.role === 'leader') {
      c.leader(n.id, st.term);
      if (!n.wasLeader) {
        c.leaderComplete(n.id, st.term, st.firstIndex - 1, (i) => node.termAt(i), (i) => node.entryAt(i));
        // Like a runtime, a new leader registers the observers connected to it.
        if (this.opts.observersAt === 'leader') for (const o of this.observerIds) node.addObserver(o);
      }
    }
    n.wasLeader = rd.softState.role === 'leader';
    // Log Matching is Raft's; parallel mode replaces it by origin identity (checked on commit).
    if (this.opts.mode === 'raft') {
      let prevTerm = -1;
      for (const e of rd.entries) {
        const pt = prevTerm !== -1 ? prevTerm : node.termAt(e.index - 1);
        c.logEntry(n.id, e, pt);
        prevTerm = e.term;
      }
    }
    if (st.commit > n.commitSeen) {
      for (let i = Math.max(n.commitSeen + 1, st.firstIndex); i <= st.commit; i++) {
        const e = node.entryAt(i);
        if (e !== undefined) c.commit(n.id, e);
      }
      n.commitSeen = st.commit;
    }
    for (const i of st.committedAbove) {
      const e = node.entryAt(i);
      if (e !== undefined) c.commit(n.id, e);
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

  /** The live leader with the highest term, if any. */
  leader(): string | null {
    let best: string | null = null;
    let bestTerm = -1;
    for (const n of this.nodes.values()) {
      if (n.node === null) continue;
      const st = n.node.status();
      if (st.role === 'leader' && st.term > bestTerm) {
        best = n.id;
        bestTerm = st.term;
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
    const n = this.#node(id);
    if (n.node === null) return null;
    const text = `${label}${this.#proposalSeq++}`;
    // With a KV state machine every entry must be a command: propose a put of a private key.
    const data = this.opts.kv
      ? encodeCommand({ timeMs: this.now, session: null, cmd: { op: 'put', key: `\u0001sim/${text}`, value: text } })
      : encoder.encode(text);
    try {
      const r = n.node.propose(data);
      this.#process(n);
      let key = 'd:';
      for (const b of data) key += String.fromCharCode(b);
      return { index: r.firstIndex, key };
    } catch {
      return null;
    }
  }

  /** Proposes raw bytes at node `id`; returns where the entry went, or null if refused. */
  proposeBytes(id: string, data: Uint8Array): { index: number; term: number } | null {
    const n = this.#node(id);
    if (n.node === null) return null;
    try {
      const r = n.node.propose(data);
      this.#process(n);
      return { index: r.firstIndex, term: r.term };
    } catch {
      return null;
    }
  }

  /** Asks node `id` for a read index; false when it refused at once (no leader known). */
  requestRead(id: string, context: number, allowLease: boolean): boolean {
    const n = this.#node(id);
    if (n.node === null) return false;
    try {
      n.node.readIndex(context, { allowLease });
    } catch {
      return false;
    }
    this.#process(n);
    return true;
  }

  kvOf(id: string): KvMachine | null {
    return this.#node(id).kv;
  }

  alive(id: string): boolean {
    return this.#node(id).alive;
  }

  status(id: string): ReturnType<RaftNode['status']> | null {
    return this.#node(id).node?.status() ?? null;
  }

  raft(id: string): RaftNode {
    const node = this.#node(id).node;
    if (node === null) throw new Error(`${id} is down`);
    return node;
  }

  /** Lets the test poke a node directly (campaign, transfer...) and then run its Ready. */
  poke(id: string, fn: (node: RaftNode) => void): void {
    const n = this.#node(id);
    if (n.node === null) return;
    fn(n.node);
    this.#process(n);
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
      if (n.node === null) return false;
      if (n.sm.applied !== target) return false;
      if (hash === null) hash = n.sm.hash;
      else if (n.sm.hash !== hash) return false;
      // Parallel mode's hash ignores apply order, so compare the key-value states themselves.
      if (n.kv !== null && this.opts.mode === 'parallel') {
        const state = JSON.stringify(n.kv.scan());
        if (kv === null) kv = state;
        else if (state !== kv) this.checker.fail(`State Machine Safety: ${n.id} applied every entry through ${target} but its key-value state differs: ${diffStates(kv, state)}`);
      }
    }
    return true;
  }

  stateMachine(id: string): StateMachine {
    return this.#node(id).sm;
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

function isEmpty(rd: Ready): boolean {
  return rd.hardState === null && rd.snapshot === null && rd.entries.length === 0 && rd.messages.length === 0 &&
    rd.messagesAfterPersist.length === 0 && rd.committedEntries.length === 0 && rd.readStates.length === 0 &&
    rd.droppedReads.length === 0;
}

function before(a: Queued, b: Queued): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

function mix(hash: number, key: string): number {
  let h = hash ^ 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 16777619);
  return h >>> 0;
}

export function hashString(s: string): number {
  return mix(0, s);
}
