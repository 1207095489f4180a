// ParallelRaft's own state beside the shared Raft state: how far this follower's log is known to
// match the leader's, the leader's barrier (the no-op that ends its Merge stage), the Merge
// replies a candidate collects with its votes, and decoded entry headers. The mode's files see
// one ParallelContext: the node, its log with holes, and this state.

import { assert } from '../assert.ts';
import type { MergeReply } from '../message.ts';
import { emptyModeStats, type ModeStats } from '../mode.ts';
import type { Raft } from '../raft.ts';
import type { Entry, Index, NodeId } from '../types.ts';
import { decodeParallelData, type DecodedData } from './header.ts';
import type { ParallelLog } from './log.ts';

export class ParallelState {
  /**
   * Follower: its log matches the current leader's through this index (a prev-checked append, or
   * entries of the leader's term that close a hole). Reset to the commit cursor on a new term.
   */
  #verified: Index = 0;
  /** Leader: the index of the no-op that closed its Merge stage; no out-of-order commit below it. */
  #barrier: Index = 0;
  /** Candidate: Merge replies that came with granted votes. */
  readonly #mergeReplies = new Map<NodeId, MergeReply>();
  readonly stats: ModeStats = emptyModeStats();
  readonly #decoded = new WeakMap<Entry, DecodedData>();
  /** Committed entries already counted as held by a conflict (each counts once, not per re-check). */
  readonly #heldCounted = new Set<Index>();
  /** Leader: heads of its latest batches this term, oldest first (at most lookBehindBatches). */
  readonly #heads: Index[] = [];

  get verified(): Index {
    return this.#verified;
  }

  /** The verified prefix grows to `i` (never shrinks this way). */
  raiseVerified(i: Index): void {
    if (i > this.#verified) this.#verified = i;
  }

  /** A new term, a restart or an installed snapshot: only what is known to match stays verified. */
  resetVerified(i: Index): void {
    this.#verified = i;
  }

  get barrier(): Index {
    return this.#barrier;
  }

  setBarrier(i: Index): void {
    assert(i > 0, 'the barrier is an entry');
    this.#barrier = i;
  }

  keepMergeReply(from: NodeId, reply: MergeReply): void {
    this.#mergeReplies.set(from, reply);
  }

  mergeReplies(): IterableIterator<MergeReply> {
    return this.#mergeReplies.values();
  }

  clearMergeReplies(): void {
    this.#mergeReplies.clear();
  }

  /** A committed entry could not apply yet for a possible conflict: counted the first time only. */
  heldByConflict(i: Index): void {
    if (this.#heldCounted.has(i)) return;
    this.#heldCounted.add(i);
    this.stats.applyHeldByConflict++;
  }

  /** Entries through `applied` no longer wait (the held-entry count forgets them). */
  forgetHeldThrough(applied: Index): void {
    for (const i of this.#heldCounted) if (i <= applied) this.#heldCounted.delete(i);
  }

  /** Leader: a batch headed at `head` was appended; look-behinds start at the oldest of the latest `keep` heads. */
  noteHead(head: Index, keep: number): void {
    assert(this.#heads.length === 0 || head > this.#heads[this.#heads.length - 1]!, () => `batch head ${head} after ${this.#heads.join(',')}`);
    this.#heads.push(head);
    while (this.#heads.length > keep) this.#heads.shift();
  }

  /** Where the look-behind of a new batch at `head` starts: the oldest remembered head (none: `head`). */
  lookBehindStart(head: Index, batches: number): Index {
    const h = this.#heads;
    return h.length === 0 ? head : h[Math.max(0, h.length - batches)]!;
  }

  /** A new leadership: the batches of earlier terms are not this leader's to describe. */
  clearHeads(): void {
    this.#heads.length = 0;
  }

  /** The entry's header and payload as its creator built them (the leader decodes nothing). */
  prime(e: Entry, d: DecodedData): void {
    this.#decoded.set(e, d);
  }

  /** The entry's header and payload (decoded once per entry object). */
  decoded(e: Entry): DecodedData {
    let d = this.#decoded.get(e);
    if (d === undefined) {
      d = decodeParallelData(e);
      this.#decoded.set(e, d);
    }
    return d;
  }
}

/** What the ParallelRaft files work on. */
export interface ParallelContext {
  readonly raft: Raft;
  readonly log: ParallelLog;
  readonly state: ParallelState;
}
