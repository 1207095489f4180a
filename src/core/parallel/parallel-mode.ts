// ParallelRaft as a replication mode (docs/parallel-raft.md): every entry carries a header (its
// origin term, keys and batch; a batch's head also its lookBehind); followers accept and acknowledge entries past a hole and
// write in place; the leader commits out of order once its barrier is committed; a Merge stage
// carried on granted votes settles the log of a new leader; entries apply out of order where
// their keys allow, and reads wait per key.

import type { KeysOf } from '../config.ts';
import type { AppendMsg, AppendRespMsg, HeartbeatMsg, MergeReply, SnapshotMsg, VoteMsg, VoteRespMsg } from '../message.ts';
import type { ModeStats, ReplicationMode } from '../mode.ts';
import type { Progress } from '../progress.ts';
import type { Raft } from '../raft.ts';
import type { Entry, EntryType, Index, Term } from '../types.ts';
import { applicable, keyReadable } from './apply.ts';
import * as follower from './follower.ts';
import * as leader from './leader.ts';
import { ParallelLog } from './log.ts';
import { parallelPayload } from './header.ts';
import { merge, mergeReply } from './merge.ts';
import { ParallelState, type ParallelContext } from './state.ts';
import { batchEntry, lookBehindFor } from './look-behind.ts';

export class ParallelMode implements ReplicationMode {
  readonly name = 'parallel' as const;
  readonly perKeyReads = true;
  readonly log = new ParallelLog();
  readonly #state = new ParallelState();
  readonly #keysOf: KeysOf | null;
  #c: ParallelContext | null = null;

  constructor(keysOf: KeysOf | null) {
    this.#keysOf = keysOf;
  }

  get stats(): ModeStats {
    return this.#state.stats;
  }

  attach(raft: Raft): void {
    this.#c = { raft, log: this.log, state: this.#state };
  }

  get #ctx(): ParallelContext {
    return this.#c!;
  }

  // ---- terms and elections -------------------------------------------------------------------

  /** Only the committed prefix is known to match whoever leads now (also after a restart). */
  onNewTerm(): void {
    this.#state.resetVerified(this.log.committed);
  }

  onCampaign(): void {
    this.#state.clearMergeReplies();
  }

  /** Voters send back what they hold above our commit cursor (the Merge stage). */
  voteRequest(m: VoteMsg): VoteMsg {
    return { ...m, commit: this.log.committed };
  }

  voteReply(m: VoteMsg): MergeReply | null | undefined {
    return mergeReply(this.#ctx, m);
  }

  /** A vote counts only with its Merge reply (the voting quorum is the merge quorum). */
  acceptVote(m: VoteRespMsg): boolean {
    const granted = !m.reject && m.merge !== undefined;
    if (granted) this.#state.keepMergeReply(m.from, m.merge!);
    return granted;
  }

  /**
   * The Merge stage decides (committed, end] and re-stamps it; followers are probed from the
   * commit cursor, since their copies of that range differ in term.
   */
  onElected(): Index {
    const mergedFrom = this.log.committed + 1;
    this.#state.clearHeads();
    merge(this.#ctx);
    return mergedFrom;
  }

  /** Nothing commits out of order until the merged range and this no-op are committed. */
  onTermNoop(index: Index): void {
    this.#state.setBarrier(index);
  }

  /** An entry of this term being committed proves nothing until the barrier closing the merge is. */
  leaderCommitted(): boolean {
    return leader.knowsCommits(this.#ctx);
  }

  /** An entry committed out of order may already have been acknowledged to its writer. */
  readIndex(): Index {
    return this.log.maxCommitted();
  }

  // ---- entries ----------------------------------------------------------------------------------

  /** A no-op or config entry: a batch of its own. */
  entryData(index: Index, kind: EntryType, payload: Uint8Array, keys: readonly string[] | null): Uint8Array {
    const c = this.#ctx;
    const e = batchEntry(c, { term: c.raft.term, index, type: kind }, keys, payload, index, 1, lookBehindFor(c, index));
    this.#state.noteHead(index, c.raft.cfg.lookBehindBatches);
    return e.data;
  }

  /** One batch: every entry names its head, and the head carries the look-behind before it. */
  appendProposals(term: Term, batch: readonly Uint8Array[]): Index {
    const c = this.#ctx;
    const first = this.log.lastIndex() + 1;
    if (batch.length === 0) return first;
    const lookBehind = lookBehindFor(c, first);
    const entries: Entry[] = [];
    for (let i = 0; i < batch.length; i++) {
      const d = batch[i]!;
      entries.push(batchEntry(c, { term, index: first + i, type: 'normal' }, this.#keysOf?.(d) ?? null, d, first, batch.length, i === 0 ? lookBehind : null));
    }
    this.log.append(entries);
    this.#state.noteHead(first, c.raft.cfg.lookBehindBatches);
    return first;
  }

  payloadOf(e: Entry): Uint8Array {
    return parallelPayload(e);
  }

  originTermOf(e: Entry): Term {
    return this.#state.decoded(e).header.originTerm;
  }

  // ---- replication -------------------------------------------------------------------------------

  onAppend(m: AppendMsg): void {
    follower.onAppend(this.#ctx, m);
  }

  onHeartbeat(m: HeartbeatMsg): void {
    follower.onHeartbeat(this.#ctx, m);
  }

  onSnapshot(m: SnapshotMsg): void {
    follower.onSnapshot(this.#ctx, m);
  }

  expireReorder(): void {
    follower.expireReorder(this.#ctx);
  }

  onAppendResponse(m: AppendRespMsg): void {
    leader.onAppendResponse(this.#ctx, m);
  }

  commitSetFor(pr: Progress, upTo: Index): Index[] | undefined {
    return leader.commitSetFor(this.#ctx, pr, upTo);
  }

  committedAhead(i: Index): boolean {
    return this.log.committedAbove.has(i);
  }

  // ---- the Ready cycle ---------------------------------------------------------------------------

  durableIndex(): Index {
    return this.log.durablePrefix();
  }

  onSelfDurable(from: Index, to: Index): void {
    leader.onSelfDurable(this.#ctx, from, to);
  }

  hasFills(): boolean {
    return this.log.hasFills();
  }

  takeFills(): Entry[] {
    return this.log.takeFills();
  }

  fillsPersisted(): void {
    this.log.fillsPersisted();
  }

  hasApplicable(): boolean {
    return this.log.maxCommitted() > this.log.applied && applicable(this.#ctx, false, 1).length > 0;
  }

  takeApplicable(): Entry[] {
    return applicable(this.#ctx, true);
  }

  applied(entries: readonly Entry[]): void {
    // A snapshot received while these entries were carried out replaces the state machine in
    // the next Ready: what they applied above it is wiped then, and must apply again after.
    const log = this.log;
    const restoring = log.applied < log.snapIndex;
    for (const e of entries) if (!restoring || e.index <= log.snapIndex) log.markApplied(e.index);
    this.#state.forgetHeldThrough(log.applied);
  }

  keyReadable(key: string, index: Index): boolean {
    return keyReadable(this.#ctx, key, index);
  }

  above(): { committed: readonly Index[]; applied: readonly Index[] } {
    return {
      committed: [...this.log.committedAbove].sort((a, b) => a - b),
      applied: [...this.log.appliedAbove].sort((a, b) => a - b),
    };
  }
}
