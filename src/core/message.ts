// The messages peers exchange, as a union discriminated by `type`. The core only consumes
// values of this shape; transports validate untrusted frames into it before step() sees them.

import type { Entry, Index, NodeId, ReadContext, Snapshot, Term } from './types.ts';

interface Envelope {
  readonly from: NodeId;
  readonly to: NodeId;
  readonly term: Term;
}

/** AppendEntries. `commit` lets followers advance their commit index. */
export interface AppendMsg extends Envelope {
  readonly type: 'app';
  readonly prevIndex: Index;
  readonly prevTerm: Term;
  readonly entries: readonly Entry[];
  readonly commit: Index;
  /** Parallel mode: committed indexes above `commit` that the follower holds. */
  readonly commitSet?: readonly Index[];
}

/**
 * Reply to 'app' or 'snap'. On success `index` is the last index the follower now holds in
 * agreement with the leader. On reject, `index` echoes the rejected prevIndex and the hint
 * names where the leader should probe next (conflict term and the first index the follower
 * could match), so one round trip skips a whole divergent term.
 */
export interface AppendRespMsg extends Envelope {
  readonly type: 'appResp';
  readonly index: Index;
  readonly reject: boolean;
  readonly hintIndex: Index;
  readonly hintTerm: Term;
  /** Parallel mode: entries of this term above `index` the follower holds out of order. */
  readonly acks?: readonly Index[];
}

/** Heartbeat; `round` > 0 ties it to a ReadIndex / lease confirmation round. */
export interface HeartbeatMsg extends Envelope {
  readonly type: 'hb';
  readonly commit: Index;
  readonly round: number;
  /** Parallel mode: committed indexes above `commit` that the follower holds. */
  readonly commitSet?: readonly Index[];
}

export interface HeartbeatRespMsg extends Envelope {
  readonly type: 'hbResp';
  readonly round: number;
}

export interface VoteMsg extends Envelope {
  readonly type: 'vote' | 'preVote';
  readonly lastIndex: Index;
  readonly lastTerm: Term;
  /** Set by a leadership transfer: the voter ignores its leader lease (CheckQuorum). */
  readonly transfer: boolean;
  /** Parallel mode: the candidate's commit watermark; a voter sends back what it holds above. */
  readonly commit?: Index;
}

/** Parallel mode: what a voter holds above the candidate's watermark, for the Merge stage. */
export interface MergeReply {
  /** The voter's own commit watermark: its entries up to here are committed. */
  readonly commit: Index;
  /** Every entry it holds above the candidate's watermark (holes left out). */
  readonly entries: readonly Entry[];
}

export interface VoteRespMsg extends Envelope {
  readonly type: 'voteResp' | 'preVoteResp';
  readonly reject: boolean;
  /** Parallel mode, granted votes only. */
  readonly merge?: MergeReply;
}

export interface SnapshotMsg extends Envelope {
  readonly type: 'snap';
  readonly snapshot: Snapshot;
}

/** Leadership transfer: the target campaigns at once. */
export interface TimeoutNowMsg extends Envelope {
  readonly type: 'timeoutNow';
}

/** A follower or learner asks the leader for a read index on behalf of its own reader. */
export interface ReadIndexMsg extends Envelope {
  readonly type: 'readIndex';
  readonly context: ReadContext;
}

export interface ReadIndexRespMsg extends Envelope {
  readonly type: 'readIndexResp';
  readonly context: ReadContext;
  readonly index: Index;
  readonly reject: boolean;
}

export type Message =
  | AppendMsg
  | AppendRespMsg
  | HeartbeatMsg
  | HeartbeatRespMsg
  | VoteMsg
  | VoteRespMsg
  | SnapshotMsg
  | TimeoutNowMsg
  | ReadIndexMsg
  | ReadIndexRespMsg;

export type MessageType = Message['type'];

export const messageTypes: readonly MessageType[] = [
  'app', 'appResp', 'hb', 'hbResp', 'vote', 'preVote', 'voteResp', 'preVoteResp', 'snap',
  'timeoutNow', 'readIndex', 'readIndexResp',
];

/** Responses promise durable state, so they leave only after the Ready that made them persists. */
export function isResponse(m: Message): boolean {
  return m.type === 'appResp' || m.type === 'voteResp' || m.type === 'preVoteResp' ||
    m.type === 'hbResp' || m.type === 'readIndexResp';
}
