// The rules a stored log keeps, chosen once when a store is opened. Plain Raft's log is written at
// its end and its terms never fall; a mode that writes in place or keeps stale entries beside newer
// ones (ParallelRaft, parallel/log-rules.ts) relaxes them. Stores and the transport's validation
// read these rules and never ask which protocol they serve.

export interface LogRules {
  /** Named in errors. */
  readonly name: string;
  /** Whether an entry may carry a lower term than the entry before it. */
  readonly termsMayFall: boolean;
  /** Whether a batch may write entries in place (StoreBatch.fills). */
  readonly fillsAllowed: boolean;
}

/** Plain Raft: terms never fall along the log, and nothing is written in place. */
export const raftLogRules: LogRules = Object.freeze({ name: 'Raft', termsMayFall: false, fillsAllowed: false });
