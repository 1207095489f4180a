// Parallel mode's per-node state beside the Raft state: how far this follower's log is known to
// match the leader's, the leader's barrier (the no-op that ends its Merge stage), the Merge
// replies a candidate collects with its votes, and decoded entry headers.

import type { MergeReply } from '../message.ts';
import type { Entry, Index, NodeId } from '../types.ts';
import { decodeParallelData, type DecodedData } from './header.ts';

export interface ParallelStats {
  /** Entries a follower accepted ahead of a hole (the look-behind window at work). */
  outOfOrderAccepted: number;
  /** Entries the leader committed before an earlier one. */
  outOfOrderCommitted: number;
  /** Entries applied before an earlier one. */
  outOfOrderApplied: number;
  /** Times a committed, durable entry waited for an earlier conflicting one. */
  applyHeldByConflict: number;
  /** Merge stages run, and entries they filled with a no-op. */
  merges: number;
  mergeNoops: number;
}

export class ParallelState {
  /**
   * Follower: its log matches the current leader's through this index (a prev-checked append, or
   * entries of the leader's term that close a hole). Reset to the commit watermark on a new term.
   */
  verified: Index = 0;
  /** Leader: the index of the no-op that closed its Merge stage; no out-of-order commit below it. */
  barrier: Index = 0;
  /** Candidate: Merge replies that came with granted votes. */
  readonly mergeReplies = new Map<NodeId, MergeReply>();
  readonly stats: ParallelStats = {
    outOfOrderAccepted: 0, outOfOrderCommitted: 0, outOfOrderApplied: 0, applyHeldByConflict: 0, merges: 0, mergeNoops: 0,
  };
  readonly #decoded = new WeakMap<Entry, DecodedData>();

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
