// The data the core speaks in: log entries, durable hard state, membership, snapshots. Plain
// objects (no classes) so every runtime can persist them and every transport can carry them.

/** A member id. Stable for the member's whole life; any non-empty string without whitespace. */
export type NodeId = string;
/** A Raft term: a safe, non-negative integer that only grows. */
export type Term = number;
/** A log index: 1-based; 0 means "before the first entry". */
export type Index = number;

export type EntryType = 'normal' | 'noop' | 'config';

/** One membership change. It takes effect when its entry is applied; one may be pending at a time. */
export type ConfChange =
  | { readonly type: 'addVoter'; readonly node: NodeId }
  | { readonly type: 'addLearner'; readonly node: NodeId }
  | { readonly type: 'promoteLearner'; readonly node: NodeId }
  | { readonly type: 'removeNode'; readonly node: NodeId };

export interface Entry {
  readonly term: Term;
  readonly index: Index;
  readonly type: EntryType;
  /** Application payload; empty for no-op and config entries. */
  readonly data: Uint8Array;
  /** Present exactly when type is 'config'. */
  readonly conf?: ConfChange;
}

/** What must survive a crash before any vote or acknowledgement that depends on it leaves. */
export interface HardState {
  readonly term: Term;
  readonly vote: NodeId | null;
  readonly commit: Index;
}

/** Membership: voters decide elections and commits; learners only receive the log. */
export interface ConfState {
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
}

export interface SnapshotMeta {
  /** The last log index the snapshot covers. */
  readonly index: Index;
  readonly term: Term;
  /** Membership as of `index`. */
  readonly conf: ConfState;
}

export interface Snapshot {
  readonly meta: SnapshotMeta;
  /** The serialized state machine, opaque to the core. */
  readonly data: Uint8Array;
}

export type Role = 'follower' | 'preCandidate' | 'candidate' | 'leader';

/** Volatile state a runtime may show or route by; it need not be persisted. */
export interface SoftState {
  readonly leader: NodeId | null;
  readonly role: Role;
}

/** Which path answered a read. 'lease' and 'readIndex' are leader paths. */
export type ReadPath = 'readIndex' | 'lease';

/**
 * A read the core has made safe: once the local state machine has applied `index`, a read
 * served from it is linearizable. `context` is whatever the caller passed to readIndex().
 */
export interface ReadState {
  readonly index: Index;
  readonly context: ReadContext;
  readonly path: ReadPath;
}

/** Caller-chosen id of a read request: echoed back in the ReadState. */
export type ReadContext = number | string;

export const emptyHardState: HardState = { term: 0, vote: null, commit: 0 };

/** Approximate encoded size of an entry, used for every byte-denominated limit. */
export function entryBytes(e: Entry): number {
  return e.data.byteLength + 24;
}
