// RaftDriver: the Ready loop every runtime shares (Node peer, browser learner, Deno peer). It is
// the one asynchronous module of the core, and still does no I/O of its own: it awaits the
// injected store, hands messages to the injected send(), and reads time from the injected clock.
// It owns the time policy too (tick-source.ts): due ticks run before anything is stepped, read or
// proposed, so a runtime only has to wake it now and then (catchUp()).
// Writes that arrive while a save is in flight go into the next save together (group commit).

import { assert } from './assert.ts';
import type { Clock } from './clock.ts';
import { RaftError } from './errors.ts';
import type { Message } from './message.ts';
import type { RaftNode, Ready } from './node.ts';
import type { LogStore } from './storage.ts';
import { TickSource } from './tick-source.ts';
import type { ConfChange, Entry, HardState, Index, ReadContext, Role, Snapshot, Term } from './types.ts';

export interface ReplicatedStateMachine<R> {
  /** Index of the last entry applied (or restored from a snapshot); in parallel mode, the watermark. */
  readonly appliedIndex: Index;
  /** Parallel mode: entries applied above appliedIndex (snapshots wait until there are none). */
  readonly appliedAbove?: number;
  /**
   * Applies one committed entry; returns the result for its proposer. Raft mode: in log order.
   * Parallel mode: in the order the core allows, with the entry's data already the command.
   */
  apply(entry: Entry): R | null;
  snapshot(): Uint8Array;
  restore(data: Uint8Array): void;
}

export type ReadServedBy = 'readIndex' | 'lease' | 'follower';

export interface ReadResult {
  readonly index: Index;
  readonly path: ReadServedBy;
}

export interface DriverOptions<R> {
  readonly node: RaftNode;
  readonly store: LogStore;
  readonly machine: ReplicatedStateMachine<R>;
  readonly send: (msgs: readonly Message[]) => void;
  /**
   * Where ticks come from (one per node.cfg.tickMs of its monotonic time); defaults to the node's
   * own clock (RaftOptions.clock), one of the two must be given.
   */
  readonly clock?: Clock;
  /** Ticks made up at once after a late wake-up; a longer gap is a stall, skipped (tick-source.ts). */
  readonly burstTicksMax?: number;
  /** Told when a stall was skipped (for a log line). */
  readonly onStall?: (stalledMs: number) => void;
  /** Take a snapshot once this many entries were applied since the last one (0: never). */
  readonly snapshotEntries?: number;
  /** Entries kept behind a snapshot for followers that lag a little. */
  readonly snapshotRetainEntries?: number;
  /** Proposals waiting for their entries to apply. */
  readonly pendingProposalsMax?: number;
  /** Reads waiting for a read index or for apply to reach it. */
  readonly pendingReadsMax?: number;
  /**
   * A read still waiting for its read index after this many ticks fails with ERR_UNAVAILABLE (a
   * forwarded request or its answer can be lost), so callers retry instead of waiting forever.
   */
  readonly readTimeoutTicks?: number;
  /**
   * A store failure is fatal, and so is a broken invariant (an AssertionError from the core or
   * the state machine): the driver stops, fails what is pending, and reports it here.
   */
  readonly onFatal?: (err: Error) => void;
  /**
   * Observes each Ready after it was carried out (metrics, status pages), with the time its save
   * took from the call to the resumption after it (0 without a save).
   */
  readonly onReady?: (rd: Ready, persistMs: number) => void;
  /** Observes each applied entry with its result. */
  readonly onApply?: (entry: Entry, result: R | null) => void;
}

interface PendingProposal<R> {
  readonly term: Term;
  readonly resolve: (r: { index: Index; result: R | null }) => void;
  readonly reject: (e: Error) => void;
}

interface PendingRead {
  readonly resolve: (r: ReadResult) => void;
  readonly reject: (e: Error) => void;
  /** The driver's tick when the read was asked. */
  readonly tick: number;
  /** Parallel mode: the one key the read is for, so it waits only for entries writing it. */
  readonly key?: string;
}

interface KeyWaiter extends Waiter {
  readonly key: string;
}

interface Waiter {
  readonly index: Index;
  readonly resolve: () => void;
  readonly reject: (e: Error) => void;
}

export class RaftDriver<R> {
  readonly node: RaftNode;
  readonly #store: LogStore;
  readonly #machine: ReplicatedStateMachine<R>;
  readonly #send: (msgs: readonly Message[]) => void;
  readonly #opts: DriverOptions<R>;
  readonly #snapshotEntries: number;
  readonly #retain: number;
  readonly #proposalsMax: number;
  readonly #readsMax: number;
  readonly #readTimeoutTicks: number;
  readonly #time: TickSource;
  readonly #clock: Clock;
  #ticks = 0;
  #scheduled = false;
  #running: Promise<void> | null = null;
  #closed = false;
  #fatal: Error | null = null;
  /** What stopped the driver, for the errors it answers with afterwards. */
  #fatalWhat = '';
  /** A store write is in flight (an error now is the store's). */
  #saving = false;
  #batch: Array<{ data: Uint8Array; p: PendingProposal<R> }> = [];
  readonly #proposals = new Map<Index, PendingProposal<R>>();
  readonly #reads = new Map<ReadContext, PendingRead>();
  #nextRead = 1;
  #waiters: Waiter[] = [];
  /** Parallel mode: reads of one key waiting for the entries that write it (not the whole log). */
  #keyWaiters: KeyWaiter[] = [];
  /** A commit-only hard state not written yet: it rides along with the next synced write. */
  #lazyHardState: HardState | null = null;
  #lastSnapshotIndex: Index;
  #snapshotting: Promise<void> | null = null;
  role: Role = 'follower';
  leader: string | null = null;

  constructor(opts: DriverOptions<R>) {
    this.node = opts.node;
    this.#store = opts.store;
    this.#machine = opts.machine;
    this.#send = opts.send;
    this.#opts = opts;
    this.#snapshotEntries = opts.snapshotEntries ?? 10_000;
    this.#retain = opts.snapshotRetainEntries ?? 1000;
    this.#proposalsMax = opts.pendingProposalsMax ?? 100_000;
    this.#readsMax = opts.pendingReadsMax ?? 100_000;
    this.#readTimeoutTicks = opts.readTimeoutTicks ?? 100;
    const clock = opts.clock ?? opts.node.cfg.clock;
    if (clock === null) throw new RaftError('ERR_CONFIG_INVALID', 'RaftDriver needs a clock: pass clock, or give the node one (RaftOptions.clock)');
    this.#clock = clock;
    this.#time = new TickSource({ clock, tickMs: opts.node.cfg.tickMs, ...(opts.burstTicksMax !== undefined ? { burstTicksMax: opts.burstTicksMax } : {}) });
    this.#lastSnapshotIndex = opts.machine.appliedIndex;
    this.#schedule();
  }

  get closed(): boolean {
    return this.#closed;
  }

  get pendingProposals(): number {
    return this.#proposals.size + this.#batch.length;
  }

  get pendingReads(): number {
    return this.#reads.size + this.#waiters.length + this.#keyWaiters.length;
  }

  /** Steps a message from a peer, after the ticks that are due (a vote guard must not shrink). */
  step(m: Message): void {
    if (this.#closed) return;
    this.catchUp();
    this.node.step(m);
    this.#schedule();
  }

  /**
   * Runs the ticks due by the clock. The runtime calls it from a timer (every tickMs, or after
   * untilNextTickMs()); the driver also calls it before every step, read, proposal and poke.
   */
  catchUp(): void {
    if (this.#closed) return;
    const due = this.#time.take();
    if (due.ticks === 0) return;
    if (due.stalledMs > 0) this.#opts.onStall?.(due.stalledMs);
    for (let i = 0; i < due.ticks; i++) {
      this.#ticks++;
      if (this.#reads.size > 0) this.#expireReads();
      this.node.tick();
    }
    this.#schedule();
  }

  /** Milliseconds until the next tick is due. */
  untilNextTickMs(): number {
    return this.#time.untilNextMs();
  }

  #expireReads(): void {
    for (const [ctx, read] of this.#reads) {
      if (this.#ticks - read.tick < this.#readTimeoutTicks) continue;
      this.#reads.delete(ctx);
      read.reject(new RaftError('ERR_UNAVAILABLE', `no read index arrived within ${this.#readTimeoutTicks} ticks (the request or its answer was lost); retry`, this.leader));
    }
  }

  /** Runs `fn` against the node (transfer, reportUnreachable...) and then the Ready loop. */
  poke(fn: (node: RaftNode) => void): void {
    if (this.#closed) return;
    this.catchUp();
    fn(this.node);
    this.#schedule();
  }

  /** Proposes one command; resolves with the state machine's result once it is applied here. */
  propose(data: Uint8Array): Promise<{ index: Index; result: R | null }> {
    const refused = this.#refuse();
    if (refused !== null) return Promise.reject(refused);
    if (this.role !== 'leader') return Promise.reject(new RaftError('ERR_NOT_LEADER', `${this.node.cfg.id} is not the leader`, this.leader));
    if (this.pendingProposals >= this.#proposalsMax) {
      return Promise.reject(new RaftError('ERR_UNAVAILABLE', `too many proposals in flight (pendingProposalsMax=${this.#proposalsMax})`, this.leader));
    }
    this.catchUp();
    return new Promise((resolve, reject) => {
      if (this.#batch.length === 0) void Promise.resolve().then(() => this.#flushProposals());
      this.#batch.push({ data, p: { term: 0, resolve, reject } });
    });
  }

  #flushProposals(): void {
    const batch = this.#batch;
    this.#batch = [];
    if (batch.length === 0) return;
    try {
      const r = this.node.propose(batch.map((b) => b.data));
      for (let i = 0; i < batch.length; i++) this.#proposals.set(r.firstIndex + i, { ...batch[i]!.p, term: r.term });
    } catch (err) {
      for (const b of batch) b.p.reject(err as Error);
      return;
    }
    this.#schedule();
  }

  /** Proposes a membership change; resolves once it is applied here. */
  async proposeConfChange(cc: ConfChange): Promise<Index> {
    const refused = this.#refuse();
    if (refused !== null) throw refused;
    this.catchUp();
    const r = this.node.proposeConfChange(cc);
    this.#schedule();
    await new Promise<{ index: Index; result: R | null }>((resolve, reject) => this.#proposals.set(r.firstIndex, { term: r.term, resolve, reject }));
    return r.firstIndex;
  }

  /**
   * A linearizable read: resolves with the index to read at once the local state machine has
   * applied it (ReadIndex or lease on the leader, a forwarded read index on a follower).
   */
  read(options: { readonly allowLease?: boolean; readonly key?: string } = {}): Promise<ReadResult> {
    const refused = this.#refuse();
    if (refused !== null) return Promise.reject(refused);
    if (this.pendingReads >= this.#readsMax) {
      return Promise.reject(new RaftError('ERR_READ_LIMIT', `too many reads in flight (pendingReadsMax=${this.#readsMax})`, this.leader));
    }
    const ctx = this.#nextRead++;
    // Time first: the lease is checked on the clock, but a forwarded read must not meet a vote
    // guard or read timeout that is behind.
    this.catchUp();
    return new Promise((resolve, reject) => {
      try {
        this.node.readIndex(ctx, { allowLease: options.allowLease ?? true });
      } catch (err) {
        reject(err as Error);
        return;
      }
      this.#reads.set(ctx, options.key !== undefined ? { resolve, reject, tick: this.#ticks, key: options.key } : { resolve, reject, tick: this.#ticks });
      this.#schedule();
    });
  }

  /** Resolves once the state machine has applied `index`. */
  waitApplied(index: Index): Promise<void> {
    if (this.#machine.appliedIndex >= index) return Promise.resolve();
    return new Promise((resolve, reject) => this.#addWaiter({ index, resolve, reject }));
  }

  #addWaiter(w: Waiter): void {
    let i = this.#waiters.length;
    while (i > 0 && this.#waiters[i - 1]!.index > w.index) i--;
    this.#waiters.splice(i, 0, w);
  }

  #refuse(): Error | null {
    if (this.#fatal !== null) return new RaftError('ERR_UNAVAILABLE', `the peer stopped after ${this.#fatalWhat}: ${this.#fatal.message}`, null);
    if (this.#closed) return new RaftError('ERR_UNAVAILABLE', 'the peer is shutting down', null);
    return null;
  }

  #schedule(): void {
    if (this.#scheduled || this.#closed) return;
    this.#scheduled = true;
    void Promise.resolve().then(() => {
      this.#scheduled = false;
      if (this.#running === null) this.#running = this.#loop().finally(() => { this.#running = null; });
    });
  }

  async #loop(): Promise<void> {
    // Anything thrown here stops the driver through #stop (never an unhandled rejection): a store
    // that failed, or a broken invariant in the core or the state machine.
    while (!this.#closed) {
      let rd: Ready;
      try {
        if (!this.node.hasReady()) return;
        rd = this.node.ready();
      } catch (err) {
        this.#stop(err as Error, 'an internal error');
        return;
      }
      try {
        await this.#carryOut(rd);
      } catch (err) {
        this.#stop(err as Error, this.#saving ? 'a storage failure' : 'an internal error');
        return;
      }
    }
  }

  async #carryOut(rd: Ready): Promise<void> {
    let persistMs = 0;
    this.role = rd.softState.role;
    this.leader = rd.softState.leader;
    if (rd.messages.length > 0) this.#send(rd.messages);
    if (rd.mustSync) {
      const hardState = rd.hardState ?? this.#lazyHardState;
      this.#lazyHardState = null;
      this.#saving = true;
      const started = this.#clock.monoMs();
      await this.#store.save(rd.fills.length > 0
        ? { snapshot: rd.snapshot, entries: rd.entries, fills: rd.fills, hardState }
        : { snapshot: rd.snapshot, entries: rd.entries, hardState });
      this.#saving = false;
      persistMs = this.#clock.monoMs() - started;
    } else if (rd.hardState !== null) {
      this.#lazyHardState = rd.hardState;
    }
    if (rd.messagesAfterPersist.length > 0) this.#send(rd.messagesAfterPersist);
    if (rd.snapshot !== null) this.#restore(rd.snapshot);
    for (const e of rd.committedEntries) this.#apply(e);
    for (const rs of rd.readStates) this.#readReady(rs.context, rs.index, rs.path === 'lease' ? 'lease' : rd.softState.role === 'leader' ? 'readIndex' : 'follower');
    for (const ctx of rd.droppedReads) this.#readDropped(ctx);
    this.node.advance(rd);
    this.#releaseWaiters();
    this.#maybeSnapshot();
    this.#opts.onReady?.(rd, persistMs);
  }

  #restore(s: Snapshot): void {
    this.#machine.restore(s.data);
    this.#lastSnapshotIndex = s.meta.index;
    assert(this.#machine.appliedIndex === s.meta.index,
      () => `state machine restored to ${this.#machine.appliedIndex}, snapshot is at ${s.meta.index}`);
    // Proposals the snapshot covers were decided elsewhere; their outcome is unknown here.
    for (const [index, p] of this.#proposals) {
      if (index <= s.meta.index) {
        this.#proposals.delete(index);
        p.reject(new RaftError('ERR_PROPOSAL_DROPPED', `entry ${index} was replaced by a snapshot; its outcome is unknown here`, this.leader));
      }
    }
  }

  #apply(e: Entry): void {
    const payload = this.node.payloadOf(e);
    const result = this.#machine.apply(payload === e.data ? e : { ...e, data: payload });
    const p = this.#proposals.get(e.index);
    if (p !== undefined) {
      this.#proposals.delete(e.index);
      // A later leader may have re-stamped the proposal's entry (ParallelRaft): its origin says.
      if (p.term === this.node.originTermOf(e)) p.resolve({ index: e.index, result });
      else p.reject(new RaftError('ERR_PROPOSAL_DROPPED', `entry ${e.index} of term ${p.term} was overwritten by a new leader`, this.leader));
    }
    this.#opts.onApply?.(e, result);
  }

  #readReady(ctx: ReadContext, index: Index, path: ReadServedBy): void {
    const read = this.#reads.get(ctx);
    if (read === undefined) return;
    this.#reads.delete(ctx);
    // Even a leader waits for its own apply to reach the read index (no "wait-free" shortcut:
    // follower reads may have seen later state).
    if (read.key !== undefined && this.node.perKeyReads) {
      if (this.node.keyReadable(read.key, index)) read.resolve({ index, path });
      else this.#keyWaiters.push({ index, key: read.key, resolve: () => read.resolve({ index, path }), reject: read.reject });
      return;
    }
    if (this.#machine.appliedIndex >= index) read.resolve({ index, path });
    else this.#addWaiter({ index, resolve: () => read.resolve({ index, path }), reject: read.reject });
  }

  #readDropped(ctx: ReadContext): void {
    const read = this.#reads.get(ctx);
    if (read === undefined) return;
    this.#reads.delete(ctx);
    read.reject(new RaftError('ERR_NOT_LEADER', 'the read could not be confirmed (leadership changed or no leader); retry', this.leader));
  }

  #releaseWaiters(): void {
    const applied = this.#machine.appliedIndex;
    let n = 0;
    while (n < this.#waiters.length && this.#waiters[n]!.index <= applied) this.#waiters[n++]!.resolve();
    if (n > 0) this.#waiters.splice(0, n);
    if (this.#keyWaiters.length > 0) {
      this.#keyWaiters = this.#keyWaiters.filter((w) => {
        if (!this.node.keyReadable(w.key, w.index)) return true;
        w.resolve();
        return false;
      });
    }
  }

  #maybeSnapshot(): void {
    const applied = this.#machine.appliedIndex;
    if (this.#snapshotEntries <= 0 || this.#snapshotting !== null) return;
    if (applied - this.#lastSnapshotIndex < this.#snapshotEntries) return;
    // Parallel mode: a snapshot at the watermark must not include entries applied above it.
    if ((this.#machine.appliedAbove ?? 0) > 0) return;
    const snap = this.node.compact(this.#machine.snapshot(), this.#retain);
    this.#lastSnapshotIndex = snap.meta.index;
    this.#snapshotting = this.#store.saveSnapshot(snap)
      .catch((err: Error) => this.#stop(err, 'a storage failure'))
      .finally(() => { this.#snapshotting = null; });
  }

  #stop(err: Error, what: string): void {
    if (this.#fatal !== null) return;
    this.#fatal = err;
    this.#fatalWhat = what;
    this.#closed = true;
    this.#failAll(new RaftError('ERR_UNAVAILABLE', `the peer stopped after ${what}: ${err.message}`, null));
    this.#opts.onFatal?.(err);
  }

  #failAll(err: Error): void {
    for (const p of this.#proposals.values()) p.reject(err);
    this.#proposals.clear();
    for (const b of this.#batch) b.p.reject(err);
    this.#batch = [];
    for (const r of this.#reads.values()) r.reject(err);
    this.#reads.clear();
    for (const w of this.#waiters) w.reject(err);
    this.#waiters = [];
    for (const w of this.#keyWaiters) w.reject(err);
    this.#keyWaiters = [];
  }

  /** Finishes the write in flight, fails what is pending, and stops. The store stays open. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#running !== null) await this.#running;
    if (this.#snapshotting !== null) await this.#snapshotting;
    this.#failAll(new RaftError('ERR_UNAVAILABLE', 'the peer is shutting down', this.leader));
  }
}
