// A replication mode: the hooks in which plain Raft and ParallelRaft differ — how a follower takes
// an append, how a leader counts acknowledgements and commits, what a proposal's entry carries,
// what happens when a leader is elected, and which committed entries may apply. The shared
// protocol (raft.ts, replication.ts, reads.ts, relay.ts) calls these and never names a mode;
// modes.ts picks one implementation when a node is built (raft-mode/, parallel/).

import type { RaftLog } from './log.ts';
import type { AppendMsg, AppendRespMsg, HeartbeatMsg, MergeReply, SnapshotMsg, VoteMsg, VoteRespMsg } from './message.ts';
import type { Progress } from './progress.ts';
import type { Raft } from './raft.ts';
import type { Entry, EntryType, Index, Term } from './types.ts';

/** Counters a mode keeps (ParallelRaft's out-of-order work; zeros in raft mode). */
export interface ModeStats {
  /** Entries a follower accepted ahead of a hole (the batch window at work). */
  outOfOrderAccepted: number;
  /** Entries the leader committed before an earlier one. */
  outOfOrderCommitted: number;
  /** Entries applied before an earlier one. */
  outOfOrderApplied: number;
  /** Committed, durable entries that waited for an earlier one that may write their keys (each counted once). */
  applyHeldByConflict: number;
  /** Merge stages run, and entries they filled with a no-op. */
  merges: number;
  mergeNoops: number;
}

export function emptyModeStats(): ModeStats {
  return { outOfOrderAccepted: 0, outOfOrderCommitted: 0, outOfOrderApplied: 0, applyHeldByConflict: 0, merges: 0, mergeNoops: 0 };
}

export interface ReplicationMode {
  readonly name: 'raft' | 'parallel';
  /** Whether a read may complete once its key is settled, before its whole read index applied. */
  readonly perKeyReads: boolean;
  /** The log this mode keeps its rules on (RaftLog, or ParallelRaft's log with holes). */
  readonly log: RaftLog;
  readonly stats: ModeStats;
  /** Connects the mode to the node it serves (once, when the node is built). */
  attach(raft: Raft): void;

  // ---- terms and elections -------------------------------------------------------------------
  /** The term changed (any role): what this node knows to match the new leader shrinks. */
  onNewTerm(): void;
  /** This node starts campaigning for a new term. */
  onCampaign(): void;
  /** The vote request this candidate sends (ParallelRaft asks for the voters' Merge data). */
  voteRequest(m: VoteMsg): VoteMsg;
  /** What a granted vote carries: undefined for nothing, null to refuse the vote instead. */
  voteReply(m: VoteMsg): MergeReply | null | undefined;
  /** Whether a vote response counts as granted (and keep what it carries). */
  acceptVote(m: VoteRespMsg): boolean;
  /** Elected: settle the log for this term; returns the index followers are probed from. */
  onElected(): Index;
  /** The no-op that opens this leader's term is at `index`. */
  onTermNoop(index: Index): void;
  /** The leader knows its commit index (an entry of its term, or what stands for it, committed). */
  leaderCommitted(): boolean;
  /** The index a read must wait to apply: every entry a writer may have been told is committed. */
  readIndex(): Index;

  // ---- entries ----------------------------------------------------------------------------------
  /** The data of an entry this leader creates at `index` (a header may wrap the payload). */
  entryData(index: Index, kind: EntryType, payload: Uint8Array, keys: readonly string[] | null): Uint8Array;
  /** Appends proposals of this term from the last index on; returns the first index. */
  appendProposals(term: Term, batch: readonly Uint8Array[]): Index;
  /** The command an entry carries (its data without any header). */
  payloadOf(e: Entry): Uint8Array;
  /** The term of the leader that created an entry (a later leader may have re-stamped it). */
  originTermOf(e: Entry): Term;

  // ---- replication -------------------------------------------------------------------------------
  /** A follower takes an append from its leader. */
  onAppend(m: AppendMsg): void;
  onHeartbeat(m: HeartbeatMsg): void;
  /** A follower takes a snapshot from its leader. */
  onSnapshot(m: SnapshotMsg): void;
  /** Held appends whose gap did not fill in time. */
  expireReorder(): void;
  /** The leader takes an append response. */
  onAppendResponse(m: AppendRespMsg): void;
  /** Extra commit news for a follower in an append or heartbeat up to `upTo` (or none). */
  commitSetFor(pr: Progress, upTo: Index): Index[] | undefined;
  /** Whether `i` was committed ahead of the contiguous commit cursor (out of order). */
  committedAhead(i: Index): boolean;

  // ---- the Ready cycle -------------------------------------------------------------------------
  /** How far this node's own log is durable as it stands (what its vote as leader counts). */
  durableIndex(): Index;
  /** The leader's own log became durable from `from` to `to`. */
  onSelfDurable(from: Index, to: Index): void;
  /** In-place rewrites wait to be persisted. */
  hasFills(): boolean;
  takeFills(): Entry[];
  fillsPersisted(): void;
  /** Committed, durable entries may be handed to the state machine. */
  hasApplicable(): boolean;
  /** Takes those entries, in the order they may apply. */
  takeApplicable(): Entry[];
  /** The state machine applied `entries` (handed out by takeApplicable()). */
  applied(entries: readonly Entry[]): void;
  /** Whether a read of `key` at read index `index` may be answered from local state now. */
  keyReadable(key: string, index: Index): boolean;
  /** Committed and applied indexes above the contiguous cursors (ParallelRaft), for status(). */
  above(): { committed: readonly Index[]; applied: readonly Index[] };
}
