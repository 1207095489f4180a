// The one place that names both replication modes: a node is built with the mode its
// configuration asks for, a store is opened with that mode's log rules, and nothing after this
// point branches on the mode (src/core/mode.ts).

import type { RaftConfig, ReplicationModeName } from './config.ts';
import type { ReplicationMode } from './mode.ts';
import { parallelLogRules } from './parallel/log-rules.ts';
import { ParallelMode } from './parallel/parallel-mode.ts';
import { RaftMode } from './raft-mode/raft-mode.ts';
import { raftLogRules, type LogRules } from './store/log-rules.ts';

export function createMode(cfg: RaftConfig): ReplicationMode {
  return cfg.mode === 'parallel' ? new ParallelMode(cfg.keysOf) : new RaftMode();
}

/** The rules a store (and the transport's validation) must hold a `mode` log to. */
export function logRulesFor(mode: ReplicationModeName): LogRules {
  return mode === 'parallel' ? parallelLogRules : raftLogRules;
}
