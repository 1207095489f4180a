// RaftNode: the public face of the core. Runtimes feed it ticks, messages and proposals, take a
// Ready of effects, carry them out, and call advance(). It is synchronous and does no I/O; the
// protocol lives in Raft (raft.ts) and its collaborators, the replication mode is chosen once
// (modes.ts), and this file only assembles Readies and takes them back.
//
// The durability contract (read this before writing a runtime):
//  1. Take `const rd = node.ready()` when `node.hasReady()`. At most one Ready is outstanding.
//  2. Send `rd.messages` at once: they promise nothing that is not already durable.
//  3. Persist `rd.snapshot`, then `rd.entries` (replacing any stored suffix from the first
//     entry's index), then `rd.fills`, then `rd.hardState`, as one batch (LogStore.save). When
//     `rd.mustSync` is true this write must be durable (fdatasync) before step 4; a Ready with
//     mustSync false carries at most a new commit index, which may be written lazily.
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
import type { ModeStats, ReplicationMode } from './mode.ts';
import { createMode } from './modes.ts';
import type { ProgressState } from './progress.ts';
import { Raft, type RaftStats } from './raft.ts';
import { assertContext } from './relay.ts';
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
   * Entries written over the stored entry at their own index, leaving every other stored entry as
   * it is (StoreBatch.fills). Only a mode with in-place writes (ParallelRaft) produces them.
   */
  readonly fills: readonly Entry[];
  /** The write must be durable (synced) before messagesAfterPersist leave. */
  readonly mustSync: boolean;
  /** Safe to send now. */
  readonly messages: readonly Message[];
  /** Send only once this Ready's writes are durable. */
  readonly messagesAfterPersist: readonly Message[];
  /**
   * Committed, durable entries to apply, in this order (log order, or out of order where the mode
   * allows; payloadOf() gives each one's command).
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
  readonly stats: RaftStats & { readonly reorder: ReorderStats; readonly parallel: ModeStats };
  /** ParallelRaft: committed indexes above `commit`, and applied ones above `applied`. */
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
  readonly #mode: ReplicationMode;
  readonly cfg: RaftConfig;
  #prevHardState: HardState;
  /** Term and vote known durable: messages of a newer term or vote wait for persistence. */
  #durableHardState: HardState;
  #prevSoft: SoftState;
  #outstanding: Ready | null = null;
  /**
   * hasReady() collected and no input came since: ready() must not collect again, or a Ready
   * would hold a second round of messages (a commit notice right behind the append that carried
   * the same commit) that one collection per Ready never sends.
   */
  #collected = false;

  constructor(init: RaftNodeInit) {
    this.cfg = validate(init.options);
    this.#mode = createMode(this.cfg);
    const snap = init.restore?.snapshot ?? null;
    this.#r = new Raft(this.cfg, snap !== null ? snap.meta.conf : init.bootstrap, this.#mode);
    if (init.restore !== undefined) this.#load(init.restore);
    this.#prevHardState = this.#r.hardState();
    this.#durableHardState = this.#prevHardState;
    this.#prevSoft = { leader: null, role: 'follower' };
  }

  /** What the store loaded: refused with ERR_CONFIG_INVALID when it cannot be a Raft log. */
  #load(state: LoadedState): void {
    const r = this.#r;
    const snapIndex = state.snapshot?.meta.index ?? 0;
    state.entries.forEach((e, i) => {
      if (e.index !== snapIndex + 1 + i) {
        throw new RaftError('ERR_CONFIG_INVALID', `restored log is not contiguous: entry ${i} has index ${e.index}, expected ${snapIndex + 1 + i}`);
      }
    });
    const last = snapIndex + state.entries.length;
    const hs = state.hardState;
    if (hs.commit > last) {
      throw new RaftError('ERR_CONFIG_INVALID',
        `restored hard state commits index ${hs.commit} but the log ends at ${last}: committed entries are missing from the store`);
    }
    r.log.load(state.snapshot?.meta ?? null, state.entries, hs.commit);
    if (state.snapshot !== null) r.loadSnapshot(state.snapshot);
    r.loadHardState(hs.term, hs.vote);
    // Only the committed prefix is known to match whoever leads next.
    this.#mode.onNewTerm();
  }

  // ---- inputs ------------------------------------------------------------------------------

  tick(): void {
    this.#collected = false;
    this.#r.tick();
  }

  /** Feeds a message from a peer. Messages for another member are ignored. */
  step(m: Message): void {
    this.#collected = false;
    this.#r.step(m);
  }

  /** Starts an election now (tests and operator tools); a learner ignores it. */
  campaign(): void {
    this.#collected = false;
    const r = this.#r;
    if (r.role === 'leader') return;
    r.campaign(r.cfg.preVote ? 'preElection' : 'election');
  }

  /** Proposes entries (a batch shares one message per follower). Leader only. */
  propose(data: Uint8Array | readonly Uint8Array[]): ProposeResult {
    this.#collected = false;
    const batch: readonly Uint8Array[] = data instanceof Uint8Array ? [data] : data;
    const first = this.#r.propose(batch);
    return { firstIndex: first, lastIndex: first + batch.length - 1, term: this.#r.term };
  }

  /** Proposes one membership change. Leader only; one at a time. */
  proposeConfChange(cc: ConfChange): ProposeResult {
    this.#collected = false;
    const index = this.#r.proposeConfChange(cc, confChangeProblem);
    return { firstIndex: index, lastIndex: index, term: this.#r.term };
  }

  /**
   * Asks for a linearizable read. The answer comes as a ReadState with the same context (or the
   * context in droppedReads): serve the read once the state machine has applied its index.
   * With allowLease false the leader confirms with a heartbeat round even when its lease holds.
   */
  readIndex(context: ReadContext, options: { readonly allowLease?: boolean } = {}): void {
    this.#collected = false;
    assertContext(context);
    this.#r.reads.request(context, null, options.allowLease ?? true);
  }

  transferLeadership(to: NodeId): void {
    this.#collected = false;
    this.#r.transferLeadership(to);
  }

  /**
   * Registers an observer: a learner outside the configuration (a browser tab following the
   * log). While this node leads, it replicates to it with the learner window; it never counts
   * toward a quorum. Throws when observersMax are registered or `id` is a member.
   */
  addObserver(id: NodeId): void {
    this.#collected = false;
    this.#r.addObserver(id);
  }

  removeObserver(id: NodeId): void {
    this.#collected = false;
    this.#r.removeObserver(id);
  }

  reportUnreachable(to: NodeId): void {
    this.#collected = false;
    const r = this.#r;
    r.replication.reportUnreachable(r.tracker.get(to) ?? r.relay.progress(to));
  }

  reportSnapshot(to: NodeId, ok: boolean): void {
    this.#collected = false;
    const r = this.#r;
    r.replication.reportSnapshot(r.tracker.get(to) ?? r.relay.progress(to), ok);
  }

  /**
   * The runtime took a snapshot of the state machine at the applied index: the core keeps it for
   * lagging followers and drops log entries up to `index - retainEntries`.
   */
  compact(data: Uint8Array, retainEntries = 0): Snapshot {
    this.#collected = false;
    return this.#r.takeSnapshot(data, retainEntries);
  }

  // ---- outputs -----------------------------------------------------------------------------

  /** Moves the work a leader (or relaying follower) owes into the outbox: appends, read rounds. */
  #collect(): void {
    if (this.#collected) return;
    this.#collected = true;
    const r = this.#r;
    if (r.role === 'leader') {
      r.replication.flush();
      r.reads.flush();
    } else {
      r.relay.flush();
    }
  }

  /** The one decision whether a Ready has anything in it (after #collect()). */
  #pending(): boolean {
    const r = this.#r;
    if (r.hasMessages() || r.reads.hasOutcomes() || r.hasPendingSnapshot() || r.log.hasUnstable()) return true;
    if (this.#mode.hasFills() || this.#mode.hasApplicable()) return true;
    const hs = this.#prevHardState;
    if (hs.term !== r.term || hs.vote !== r.vote || hs.commit !== r.log.committed) return true;
    return r.role !== this.#prevSoft.role || r.leader !== this.#prevSoft.leader;
  }

  hasReady(): boolean {
    if (this.#outstanding !== null) return false;
    this.#collect();
    return this.#pending();
  }

  ready(): Ready {
    assert(this.#outstanding === null, 'ready() called again before advance() of the previous Ready');
    const r = this.#r;
    this.#collect();
    const hs = r.hardState();
    const prev = this.#prevHardState;
    const hsChanged = hs.term !== prev.term || hs.vote !== prev.vote || hs.commit !== prev.commit;
    const termVoteDirty = hs.term !== this.#durableHardState.term || hs.vote !== this.#durableHardState.vote;
    const snapshot = r.takePendingSnapshot();
    const entries = r.log.takeUnstable();
    const fills = this.#mode.takeFills();
    const mustSync = entries.length > 0 || fills.length > 0 || snapshot !== null || termVoteDirty;
    const messages: Message[] = [];
    const after: Message[] = [];
    for (const m of r.takeMessages()) {
      if (!mustSync || m.type === 'preVote' || m.type === 'preVoteResp') messages.push(m);
      else if (isResponse(m) || termVoteDirty) after.push(m);
      else messages.push(m);
    }
    const committedEntries = snapshot !== null ? [] : this.#mode.takeApplicable();
    const reads = r.reads.takeOutcomes();
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
      readStates: reads.states,
      droppedReads: reads.dropped,
    };
    this.#prevHardState = hs;
    this.#prevSoft = rd.softState;
    this.#outstanding = rd;
    if (this.cfg.debugChecks) this.#r.log.checkInvariants();
    return rd;
  }

  /** The Ready's writes are durable and its committed entries applied. */
  advance(rd: Ready): void {
    assert(this.#outstanding === rd, 'advance() of a Ready that is not the outstanding one');
    this.#outstanding = null;
    this.#collected = false;
    const r = this.#r;
    const log = r.log;
    if (rd.snapshot !== null) {
      // The runtime restored its state machine from this snapshot. A newer snapshot may have
      // replaced the log since ready(); then only the applied index moves, and the newer one
      // follows in the next Ready.
      const idx = rd.snapshot.meta.index;
      log.appliedTo(idx);
      log.snapshotPersisted(idx);
    }
    log.persisted();
    if (rd.fills.length > 0) this.#mode.fillsPersisted();
    if (rd.hardState !== null) this.#durableHardState = rd.hardState;
    if (rd.committedEntries.length > 0) {
      for (const e of rd.committedEntries) {
        if (e.type === 'config' && e.conf !== undefined) r.applyConf(applyConfChange(r.tracker.conf(), e.conf), e.conf);
      }
      this.#mode.applied(rd.committedEntries);
    }
    if (r.role === 'leader') {
      const self = r.tracker.get(r.id);
      const before = self?.match ?? 0;
      if (self !== undefined && self.maybeUpdate(this.#mode.durableIndex())) {
        r.replication.maybeCommit();
        this.#mode.onSelfDurable(before, self.match);
      }
    }
    if (this.cfg.debugChecks) r.log.checkInvariants();
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

  /** Whether reads may complete per key, before the whole log up to their index is applied. */
  get perKeyReads(): boolean {
    return this.#mode.perKeyReads;
  }

  status(): Status {
    const r = this.#r;
    const progress: Record<NodeId, FollowerStatus> = {};
    for (const [id, pr] of r.tracker.entries()) {
      progress[id] = {
        match: pr.match, next: pr.next, state: pr.state, inflightMsgs: pr.inflights.count,
        inflightBytes: pr.inflights.bytes, recentActive: pr.recentActive, learner: pr.isLearner,
      };
    }
    const above = this.#mode.above();
    return {
      id: r.id, role: r.role, leader: r.leader, term: r.term, vote: r.vote,
      commit: r.log.committed, applied: r.log.applied, firstIndex: r.log.firstIndex(),
      lastIndex: r.log.lastIndex(), stableIndex: r.log.stableIndex, conf: r.tracker.conf(), removed: r.removed,
      leaseValid: r.reads.leaseValid(), uncommittedBytes: r.uncommittedBytes,
      pendingReads: r.reads.pending, progress,
      stats: { ...r.stats, reorder: { ...r.reorder.stats }, parallel: { ...this.#mode.stats } },
      committedAbove: above.committed,
      appliedAbove: above.applied,
    };
  }

  /**
   * Whether a linearizable read of `key` with read index `index` may be answered from the local
   * state machine now: once `index` is applied, or (ParallelRaft) once every committed entry up
   * to `index` that may write `key` is applied (a per-key watermark).
   */
  keyReadable(key: string, index: Index): boolean {
    return this.#mode.keyReadable(key, index);
  }

  /** The command an entry carries (its data, without a mode's header): what runtimes apply. */
  payloadOf(e: Entry): Uint8Array {
    return this.#mode.payloadOf(e);
  }

  /** The term of the leader that created `e` (a later leader may have re-stamped it). */
  originTermOf(e: Entry): Term {
    return this.#mode.originTermOf(e);
  }

  /** Term of entry `i`, or -1 when it is not in the in-memory log (for tests and checkers). */
  termAt(i: Index): Term {
    return this.#r.log.term(i);
  }

  /** The in-memory log entry at `i` (for checkers), or undefined. */
  entryAt(i: Index): Entry | undefined {
    return this.#r.entryAt(i);
  }

  get snapshotMeta(): Snapshot['meta'] | null {
    return this.#r.snapshot?.meta ?? null;
  }
}
