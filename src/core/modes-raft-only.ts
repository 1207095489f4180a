// modes.ts for builds that carry plain Raft only: the browser bundles (build.mjs puts this file in
// modes.ts's place). Browser tabs follow a cluster as observers and never run ParallelRaft, so a
// page does not download it; asking such a build for another mode is a clear configuration error.

import type { RaftConfig, ReplicationModeName } from './config.ts';
import { RaftError } from './errors.ts';
import type { ReplicationMode } from './mode.ts';
import { RaftMode } from './raft-mode/raft-mode.ts';
import { raftLogRules, type LogRules } from './store/log-rules.ts';

function refuse(mode: ReplicationModeName): never {
  throw new RaftError('ERR_CONFIG_INVALID', `mode '${mode}' is not in this build: the browser bundles carry plain Raft only (run ParallelRaft peers with edgeraft/node)`, null);
}

export function createMode(cfg: RaftConfig): ReplicationMode {
  return cfg.mode === 'raft' ? new RaftMode() : refuse(cfg.mode);
}

export function logRulesFor(mode: ReplicationModeName): LogRules {
  return mode === 'raft' ? raftLogRules : refuse(mode);
}
