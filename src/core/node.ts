// RaftNode: the public face of the core. Runtimes feed it ticks, messages and proposals, take a
// Ready of effects, carry them out, and call advance(). It is synchronous and does no I/O.
//
// The durability contract (read this before writing a runtime):
//  1. Take `const rd = node.ready()` when `node.hasReady()`. At most one Ready is outstanding.
//  2. Send `rd.messages` at once: they promise nothing that is not already durable.
//  3. Persist `rd.snapshot`, then `rd.entries` (replacing any stored suffix from the first
//     entry's index), then `rd.hardState`, as one batch (LogStore.save). When `rd.mustSync` is
//     true this write must be durable (fdatasync) before step 4; a Ready with mustSync false
//     carries at most a new commit index, which may be written lazily.
//  4. Only then send `rd.messagesAfterPersist`: votes and acknowledgements that promise that state.
//  5. Apply `rd.snapshot` (if any) and then `rd.committedEntries` to the state machine, in order.
//  6. Call `node.advance(rd)`. Until then step(), tick(), propose() and readIndex() may go on:
//     everything they produce waits for the next Ready, which is how writes that arrive during
//     an fsync share the next one (group commit).

import { assert } from './assert.ts';
import { validate, type RaftConfig, type RaftOptions } from './config.ts';
import { applyConfChange, confChangeProblem } from './confchange.ts';
import { RaftError } from './errors.ts';
import { isResponse, type Message } from './message.ts';
import { Progress, type ProgressState } from './progress.ts';
import { Raft, type RaftStats } from './raft.ts';
import * as reads from './reads.ts';
import * as relay from './relay.ts';
import { applicable, keyReadable } from './parallel/apply.ts';
import { onSelfDurable } from './parallel/leader.ts';
import { wrap } from './parallel/merge.ts';
import type { ParallelStats } from './parallel/state.ts';
import { decodeParallelData } from './parallel/header.ts';
import * as repl from './replication.ts';
import type { ReorderStats } from './reorder-buffer.ts';
import type { LoadedState } from './storage.ts';
import type {
  ConfChange, ConfState, Entry, HardState, Index, NodeId, ReadContext, ReadState, Role, Snapshot, SoftState, Term,
} from './types.ts';

export interface Ready {
  readonly softState: SoftState;
  /** The hard state to persist, or null when it did not change. */
  readonly hardState: HardState | null;
  /** A snapshot received from the leader: persist it (it replaces the log) and restore from it. */
  readonly snapshot: Snapshot | null;
  /** Entries to persist; they overwrite any stored entries from entries[0].index on. */
  readonly entries: readonly Entry[];
  /**
   * Parallel mode: entries written over a stored hole or stale entry, each at its own index,
   * leaving every other stored entry as it is (StoreBatch.fills). Always empty in raft mode.
   */
  readonly fills: readonly Entry[];
  /** The write must be durable (synced) before messagesAfterPersist leave. */
  readonly mustSync: boolean;
  /** Safe to send now. */
  readonly messages: readonly Message[];
  /** Send only once this Ready's writes are durable. */
  readonly messagesAfterPersist: readonly Message[];
  /**
   * Committed, durable entries to apply, in this order. Raft mode: log order. Parallel mode: out
   * of order where keys allow; the data carries a header (entryPayload() gives the command).
   */
  readonly committedEntries: readonly Entry[];
  /** Reads now safe to serve once the state machine has applied their index. */
  readonly readStates: readonly ReadState[];
  /** Reads the core could not serve (leadership lost, no leader): retry them elsewhere. */
  readonly droppedReads: readonly ReadContext[];
}

export interface ProposeResult {
  readonly firstIndex: Index;
  readonly lastIndex: Index;
  readonly term: Term;
}

export interface FollowerStatus {
  readonly match: Index;
  readonly next: Index;
  readonly state: ProgressState;
  readonly inflightMsgs: number;
  readonly inflightBytes: number;
  readonly recentActive: boolean;
  readonly learner: boolean;
}

export interface Status {
  readonly id: NodeId;
  readonly role: Role;
  readonly leader: NodeId | null;
  readonly term: Term;
  readonly vote: NodeId | null;
  readonly commit: Index;
  readonly applied: Index;
  readonly firstIndex: Index;
  readonly lastIndex: Index;
  readonly stableIndex: Index;
  readonly conf: ConfState;
  readonly removed: boolean;
  readonly leaseValid: boolean;
  readonly uncommittedBytes: number;
  readonly pendingReads: number;
  readonly progress: Readonly<Record<NodeId, FollowerStatus>>;
  readonly stats: RaftStats & { readonly reorder: ReorderStats; readonly parallel: ParallelStats };
  /** Parallel mode: committed indexes above `commit`, and applied ones above `applied`. */
  readonly committedAbove: readonly Index[];
  readonly appliedAbove: readonly Index[];
}

export interface RaftNodeInit {
  readonly options: RaftOptions;
  /** Membership of a brand-new cluster; ignored when `restore` holds a snapshot. */
  readonly bootstrap: ConfState;
  /** What the node's store loaded on start; omit for an empty store. */
  readonly restore?: LoadedState;
}

export class RaftNode {
  readonly #r: Raft;
  readonly cfg: RaftConfig;
  #prevHardState: HardState;
  /** Term and vote known durable: messages of a newer term or vote wait for persistence. */
  #durableHardState: HardState;
  #prevSoft: SoftState;
  #outstanding: Ready | null = null;

  constructor(init: RaftNodeInit) {
    this.cfg = validate(init.options);
    const snap = init.restore?.snapshot ?? null;
    this.#r = new Raft(this.cfg, snap !== null ? snap.meta.conf : init.bootstrap);
    if (init.restore !== undefined) this.#restore(init.restore);
    const r = this.#r;
    this.#prevHardState = { term: r.term, vote: r.vote, commit: r.log.committed };
    this.#durableHardState = this.#prevHardState;
    this.#prevSoft = { leader: null, role: 'follower' };
  }

  #restore(state: LoadedState): void {
    const r = this.#r;
    const log = r.log;
    if (state.snapshot !== null) {
      const meta = state.snapshot.meta;
      log.snapIndex = meta.index;
      log.snapTerm = meta.term;
      log.committed = meta.index;
      log.applied = meta.index;
      r.snapshot = state.snapshot;
    }
    const entries = state.entries;
    for (let i = 0; i < entries.length; i++) {
      const want = log.snapIndex + 1 + i;
      if (entries[i]!.index !== want) {
        throw new RaftError('ERR_CONFIG_INVALID', `restored log is not contiguous: entry ${i} has index ${entries[i]!.index}, expected ${want}`);
      }
    }
    log.entries = [...entries];
    log.stableIndex = log.lastIndex();
    log.unstableFrom = log.lastIndex() + 1;
    const hs = state.hardState;
    if (hs.commit > log.lastIndex()) {
      throw new RaftError('ERR_CONFIG_INVALID',
        `restored hard state commits index ${hs.commit} but the log ends at ${log.lastIndex()}: committed entries are missing from the store`);
    }
    r.term = hs.term;
    r.vote = hs.vote;
    log.committed = Math.max(log.committed, hs.commit);
    // Only the committed prefix is known to match whoever leads next.
    r.par.verified = log.committed;
  }

  // ---- inputs ------------------------------------------------------------------------------

  tick(): void {
    this.#r.tick();
  }

  /** Feeds a message from a peer. Messages for another member are ignored. */
  step(m: Message): void {
    this.#r.step(m);
  }

  /** Starts an election now (tests and operator tools); a learner ignores it. */
  campaign(): void {
    const r = this.#r;
    if (r.role === 'leader') return;
    r.campaign(r.cfg.preVote ? 'preElection' : 'election');
  }

  /** Proposes entries (a batch shares one message per follower). Leader only. */
  propose(data: Uint8Array | readonly Uint8Array[]): ProposeResult {
    const r = this.#r;
    this.#assertCanPropose();
    const batch: readonly Uint8Array[] = data instanceof Uint8Array ? [data] : data;
    assert(batch.length > 0, 'propose needs at least one entry');
    let bytes = 0;
    for (const d of batch) {
      if (d.byteLength > r.cfg.proposalBytesMax) {
        throw new RaftError('ERR_PROPOSAL_TOO_LARGE', `proposal of ${d.byteLength} bytes exceeds proposalBytesMax (${r.cfg.proposalBytesMax})`, r.id);
      }
      bytes += d.byteLength + 24;
    }
    if (r.uncommittedBytes > 0 && r.uncommittedBytes + bytes > r.cfg.uncommittedBytesMax) {
      throw new RaftError('ERR_UNCOMMITTED_LIMIT',
        `${r.uncommittedBytes} bytes proposed are not committed yet (uncommittedBytesMax ${r.cfg.uncommittedBytesMax}): is a quorum reachable?`, r.id);
    }
    const first = r.log.lastIndex() + 1;
    const entries: Entry[] = new Array<Entry>(batch.length);
    if (r.parallel) {
      // One at a time: each entry's look-behind describes the ones appended just before it.
      for (let i = 0; i < batch.length; i++) {
        const d = batch[i]!;
        const e: Entry = { term: r.term, index: first + i, type: 'normal', data: wrap(r, first + i, 'normal', r.cfg.keysOf?.(d) ?? null, d) };
        r.log.append([e]);
        entries[i] = e;
      }
    } else {
      for (let i = 0; i < batch.length; i++) entries[i] = { term: r.term, index: first + i, type: 'normal', data: batch[i]! };
      r.log.append(entries);
    }
    r.uncommittedBytes += bytes;
    return { firstIndex: first, lastIndex: first + batch.length - 1, term: r.term };
  }

  /** Proposes one membership change. Leader only; one at a time. */
  proposeConfChange(cc: ConfChange): ProposeResult {
    const r = this.#r;
    this.#assertCanPropose();
    if (r.pendingConfIndex > r.log.applied) {
      throw new RaftError('ERR_CONF_CHANGE_PENDING', `a membership change at index ${r.pendingConfIndex} is not applied yet`, r.id);
    }
    if (r.log.term(r.log.committed) !== r.term || (r.parallel && r.log.committed < r.par.barrier)) {
      throw new RaftError('ERR_CONF_CHANGE_PENDING', 'the leader has not committed an entry of its term yet; retry shortly', r.id);
    }
    const problem = confChangeProblem(r.conf(), cc);
    if (problem !== null) throw new RaftError('ERR_CONF_CHANGE_INVALID', `${cc.type} ${cc.node}: ${problem}`, r.id);
    const index = r.log.lastIndex() + 1;
    const data = r.parallel ? wrap(r, index, 'config', null, new Uint8Array(0)) : new Uint8Array(0);
    r.log.append([{ term: r.term, index, type: 'config', data, conf: cc }]);
    r.pendingConfIndex = index;
    return { firstIndex: index, lastIndex: index, term: r.term };
  }

  #assertCanPropose(): void {
    const r = this.#r;
    if (r.role !== 'leader') throw new RaftError('ERR_NOT_LEADER', `${r.id} is not the leader`, r.leader);
    if (r.transferee !== null) {
      throw new RaftError('ERR_TRANSFER_IN_PROGRESS', `leadership is being transferred to ${r.transferee}`, r.transferee);
    }
  }

  /**
   * Asks for a linearizable read. The answer comes as a ReadState with the same context (or the
   * context in droppedReads): serve the read once the state machine has applied its index.
   * With allowLease false the leader confirms with a heartbeat round even when its lease holds.
   */
  readIndex(context: ReadContext, options: { readonly allowLease?: boolean } = {}): void {
    relay.assertContext(context);
    reads.requestRead(this.#r, context, null, options.allowLease ?? true);
  }

  transferLeadership(to: NodeId): void {
    const r = this.#r;
    if (r.role !== 'leader') throw new RaftError('ERR_NOT_LEADER', `${r.id} is not the leader`, r.leader);
    if (to === r.id) return;
    if (!r.isVoter(to)) throw new RaftError('ERR_CONF_CHANGE_INVALID', `${to} is not a voter and cannot lead`, r.id);
    r.transferee = to;
    r.electionElapsed = 0;
    const pr = r.progress.get(to);
    if (pr !== undefined) pr.timeoutNowSent = false;
  }

  /**
   * Registers an observer: a learner outside the configuration (a browser tab following the
   * log). While this node leads, it replicates to it with the learner window; it never counts
   * toward a quorum. Throws when observersMax are registered or `id` is a member.
   */
  addObserver(id: NodeId): void {
    const r = this.#r;
    if (r.observers.has(id)) return;
    if (r.voters.includes(id) || r.learners.includes(id)) {
      throw new RaftError('ERR_CONF_CHANGE_INVALID', `${id} is a member, not an observer`, r.leader);
    }
    if (r.observers.size >= r.cfg.observersMax) {
      throw new RaftError('ERR_UNAVAILABLE', `${r.observers.size} observers already follow this node (observersMax=${r.cfg.observersMax})`, r.leader);
    }
    r.observers.add(id);
    if (r.role === 'leader') {
      r.progress.set(id, new Progress(r.log.lastIndex() + 1, true, r.cfg.learnerInflightMsgsMax, r.cfg.inflightBytesMax));
    }
  }

  removeObserver(id: NodeId): void {
    const r = this.#r;
    if (!r.observers.delete(id)) return;
    if (r.role === 'leader') r.progress.delete(id);
  }

  reportUnreachable(to: NodeId): void {
    repl.reportUnreachable(this.#r, to);
  }

  reportSnapshot(to: NodeId, ok: boolean): void {
    repl.reportSnapshot(this.#r, to, ok);
  }

  /**
   * The runtime took a snapshot of the state machine at the applied index: the core keeps it for
   * lagging followers and drops log entries up to `index - retainEntries`.
   */
  compact(data: Uint8Array, retainEntries = 0): Snapshot {
    const r = this.#r;
    const index = r.log.applied;
    assert(index > 0, 'nothing applied yet: no snapshot to take');
    const snap: Snapshot = { meta: { index, term: r.log.term(index), conf: r.conf() }, data };
    r.snapshot = snap;
    const to = Math.max(r.log.snapIndex, index - retainEntries);
    if (to > r.log.snapIndex) r.log.compact(to, r.log.term(to));
    return snap;
  }

  // ---- outputs -----------------------------------------------------------------------------

  hasReady(): boolean {
    if (this.#outstanding !== null) return false;
    const r = this.#r;
    if (r.outbox.length > 0 || r.readStates.length > 0 || r.droppedReads.length > 0) return true;
    if (r.pendingSnapshot !== null || r.log.unstableFrom <= r.log.lastIndex()) return true;
    if (r.parallel) {
      if (r.log.unstableFills.size > 0) return true;
      if (r.log.maxCommitted() > r.log.applied && applicable(r).length > 0) return true;
    } else if (r.log.applicableTo() > r.log.applied) {
      return true;
    }
    if (r.role === 'leader' && r.readOnly.hasQueued()) return true;
    if (r.role === 'leader' && repl.owes(r)) return true;
    if (relay.owes(r)) return true;
    const hs = this.#prevHardState;
    if (hs.term !== r.term || hs.vote !== r.vote || hs.commit !== r.log.committed) return true;
    return r.role !== this.#prevSoft.role || r.leader !== this.#prevSoft.leader;
  }

  ready(): Ready {
    assert(this.#outstanding === null, 'ready() called again before advance() of the previous Ready');
    const r = this.#r;
    if (r.role === 'leader') {
      repl.flush(r);
      reads.flushReads(r);
    } else {
      relay.flush(r);
    }
    const log = r.log;
    const hs: HardState = { term: r.term, vote: r.vote, commit: log.committed };
    const prev = this.#prevHardState;
    const hsChanged = hs.term !== prev.term || hs.vote !== prev.vote || hs.commit !== prev.commit;
    const termVoteDirty = hs.term !== this.#durableHardState.term || hs.vote !== this.#durableHardState.vote;
    const snapshot = r.pendingSnapshot;
    const last = log.lastIndex();
    const entries = log.unstableFrom <= last ? log.entries.slice(log.unstableFrom - log.snapIndex - 1) : [];
    if (entries.length > 0) log.inProgressTo = last;
    log.unstableFrom = last + 1;
    let fills: Entry[] = [];
    if (log.unstableFills.size > 0) {
      fills = [...log.unstableFills.values()].sort((a, b) => a.index - b.index);
      log.fillsInProgress = new Set(log.unstableFills.keys());
      log.unstableFills.clear();
    }
    const mustSync = entries.length > 0 || fills.length > 0 || snapshot !== null || termVoteDirty;
    const messages: Message[] = [];
    const after: Message[] = [];
    for (const m of r.outbox) {
      if (!mustSync || m.type === 'preVote' || m.type === 'preVoteResp') messages.push(m);
      else if (isResponse(m) || termVoteDirty) after.push(m);
      else messages.push(m);
    }
    r.outbox = [];
    const committedEntries = snapshot !== null ? []
      : r.parallel ? applicable(r, true)
        : log.applicableTo() > log.applied
          ? log.entries.slice(log.applied - log.snapIndex, log.applicableTo() - log.snapIndex)
          : [];
    const rd: Ready = {
      softState: { leader: r.leader, role: r.role },
      hardState: hsChanged ? hs : null,
      snapshot,
      entries,
      fills,
      mustSync,
      messages,
      messagesAfterPersist: after,
      committedEntries,
      readStates: r.readStates,
      droppedReads: r.droppedReads,
    };
    r.readStates = [];
    r.droppedReads = [];
    r.pendingSnapshot = null;
    this.#prevHardState = hs;
    this.#prevSoft = rd.softState;
    this.#outstanding = rd;
    return rd;
  }

  /** The Ready's writes are durable and its committed entries applied. */
  advance(rd: Ready): void {
    assert(this.#outstanding === rd, 'advance() of a Ready that is not the outstanding one');
    this.#outstanding = null;
    const r = this.#r;
    const log = r.log;
    if (rd.snapshot !== null) {
      const idx = rd.snapshot.meta.index;
      // The runtime restored its state machine from this snapshot. A newer snapshot may have
      // replaced the log since ready(); then only the applied index moves, and the newer one
      // follows in the next Ready.
      log.appliedTo(idx);
      if (log.snapIndex === idx) log.stableIndex = Math.max(log.stableIndex, idx);
    }
    if (rd.entries.length > 0) log.stableIndex = Math.max(log.stableIndex, log.inProgressTo);
    log.inProgressTo = 0;
    if (rd.fills.length > 0) log.fillsInProgress = new Set();
    if (rd.hardState !== null) this.#durableHardState = rd.hardState;
    const n = rd.committedEntries.length;
    if (n > 0) {
      for (const e of rd.committedEntries) if (e.type === 'config' && e.conf !== undefined) this.#applyConf(e.conf);
      if (r.parallel) {
        // A snapshot received while this Ready was carried out replaces the state machine in the
        // next Ready: what this one applied above it is wiped then, and must apply again after.
        const restoring = log.applied < log.snapIndex;
        for (const e of rd.committedEntries) if (!restoring || e.index <= log.snapIndex) log.markApplied(e.index);
      } else {
        log.applied = Math.max(log.applied, rd.committedEntries[n - 1]!.index);
      }
    }
    if (r.role === 'leader') {
      const self = r.progress.get(r.id);
      const before = self?.match ?? 0;
      if (self !== undefined && self.maybeUpdate(r.parallel ? log.durablePrefix() : log.stableIndex)) {
        repl.maybeCommit(r);
        if (r.parallel) onSelfDurable(r, before, self.match);
      }
    }
  }

  #applyConf(cc: ConfChange): void {
    const r = this.#r;
    const next = applyConfChange(r.conf(), cc);
    r.setConf(next);
    if (r.role !== 'leader') return;
    for (const id of r.members()) {
      if (r.progress.has(id) && (cc.node !== id || cc.type !== 'promoteLearner')) continue;
      const learner = r.learners.includes(id);
      const old = r.progress.get(id);
      const pr = new Progress(r.log.lastIndex() + 1, learner,
        learner ? r.cfg.learnerInflightMsgsMax : r.cfg.inflightMsgsMax, r.cfg.inflightBytesMax);
      if (old !== undefined) {
        // A promoted learner keeps what it has; it restarts in probe state with voter limits.
        pr.match = old.match;
        pr.next = old.match + 1;
      }
      pr.recentActive = true;
      r.progress.set(id, pr);
    }
    for (const id of [...r.progress.keys()]) if (!r.members().includes(id) && !r.observers.has(id)) r.progress.delete(id);
    if (r.transferee !== null && !r.isVoter(r.transferee)) r.transferee = null;
    if (!r.isVoter(r.id)) {
      // A leader that removed itself steps down once the change is applied.
      r.becomeFollower(r.term, null);
      return;
    }
    repl.maybeCommit(r);
  }

  // ---- introspection -----------------------------------------------------------------------

  /** The role this node has now (cheap: status() builds a whole report). */
  get role(): Role {
    return this.#r.role;
  }

  get term(): Term {
    return this.#r.term;
  }

  /** The leader this node knows of, or null. */
  get leader(): NodeId | null {
    return this.#r.leader;
  }

  get commitIndex(): Index {
    return this.#r.log.committed;
  }

  get appliedIndex(): Index {
    return this.#r.log.applied;
  }

  get firstIndex(): Index {
    return this.#r.log.firstIndex();
  }

  /** Parallel mode: whether entries above the commit index are committed (committedAbove is non-empty). */
  get committedAboveCount(): number {
    return this.#r.log.committedAbove.size;
  }

  status(): Status {
    const r = this.#r;
    const progress: Record<NodeId, FollowerStatus> = {};
    for (const [id, pr] of r.progress) {
      progress[id] = {
        match: pr.match, next: pr.next, state: pr.state, inflightMsgs: pr.inflights.count,
        inflightBytes: pr.inflights.bytes, recentActive: pr.recentActive, learner: pr.isLearner,
      };
    }
    return {
      id: r.id, role: r.role, leader: r.leader, term: r.term, vote: r.vote,
      commit: r.log.committed, applied: r.log.applied, firstIndex: r.log.firstIndex(),
      lastIndex: r.log.lastIndex(), stableIndex: r.log.stableIndex, conf: r.conf(), removed: r.removed,
      leaseValid: reads.leaseValid(r), uncommittedBytes: r.uncommittedBytes,
      pendingReads: r.readOnly.pending + r.readsAwaitingCommit.length, progress,
      stats: { ...r.stats, reorder: { ...r.reorder.stats }, parallel: { ...r.par.stats } },
      committedAbove: [...r.log.committedAbove].sort((a, b) => a - b),
      appliedAbove: [...r.log.appliedAbove].sort((a, b) => a - b),
    };
  }

  /**
   * Whether a linearizable read of `key` with read index `index` may be answered from the local
   * state machine now. Raft mode: once `index` is applied. Parallel mode: once every committed
   * entry up to `index` that may write `key` is applied (a per-key watermark).
   */
  keyReadable(key: string, index: Index): boolean {
    const r = this.#r;
    return r.parallel ? keyReadable(r, key, index) : r.log.applied >= index;
  }

  /** Term of entry `i`, or -1 when it is not in the in-memory log (for tests and checkers). */
  termAt(i: Index): Term {
    return this.#r.log.term(i);
  }

  /** The in-memory log entry at `i` (for checkers), or undefined. */
  entryAt(i: Index): Entry | undefined {
    const log = this.#r.log;
    if (i <= log.snapIndex || i > log.lastIndex()) return undefined;
    return log.entry(i);
  }

  get snapshotMeta(): Snapshot['meta'] | null {
    return this.#r.snapshot?.meta ?? null;
  }
}

/**
 * The command an entry carries: its data in raft mode; in parallel mode the payload behind the
 * entry's header (keys and look-behind). Runtimes apply this.
 */
export function entryPayload(e: Entry, mode: 'raft' | 'parallel'): Uint8Array {
  return mode === 'parallel' ? decodeParallelData(e).payload : e.data;
}
