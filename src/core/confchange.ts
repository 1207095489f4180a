// Membership changes, one member at a time (Raft dissertation, section 4.1): a change is checked
// against the current configuration before it is proposed, and takes effect when applied. The
// leader allows one pending change at a time and only after committing an entry of its term,
// which closes the single-server change bug found after the dissertation.

import type { LoadedState } from './storage.ts';
import type { ConfChange, ConfState, Entry } from './types.ts';

/** Why `cc` cannot apply to `conf`, or null when it can. */
export function confChangeProblem(conf: ConfState, cc: ConfChange): string | null {
  const isVoter = conf.voters.includes(cc.node);
  const isLearner = conf.learners.includes(cc.node);
  switch (cc.type) {
    case 'addVoter':
      return isVoter || isLearner ? `${cc.node} is already a member (use promoteLearner for a learner)` : null;
    case 'addLearner':
      return isVoter || isLearner ? `${cc.node} is already a member` : null;
    case 'promoteLearner':
      return isLearner ? null : `${cc.node} is not a learner`;
    case 'removeNode':
      if (!isVoter && !isLearner) return `${cc.node} is not a member`;
      if (isVoter && conf.voters.length === 1) return `${cc.node} is the last voter`;
      return null;
  }
}

export function applyConfChange(conf: ConfState, cc: ConfChange): ConfState {
  const voters = conf.voters.filter((v) => v !== cc.node);
  const learners = conf.learners.filter((l) => l !== cc.node);
  switch (cc.type) {
    case 'addVoter':
    case 'promoteLearner':
      voters.push(cc.node);
      break;
    case 'addLearner':
      learners.push(cc.node);
      break;
    case 'removeNode':
      break;
  }
  return { voters, learners };
}

/**
 * The durable state a brand-new cluster starts from: its membership as committed config entries
 * 1..n of term 1, identical on every bootstrapping member. With the membership in the log, a
 * member that joins later learns it by replication like everything else (it starts empty).
 */
export function bootstrapState(conf: ConfState): LoadedState {
  const changes: ConfChange[] = [
    ...conf.voters.map((node) => ({ type: 'addVoter' as const, node })),
    ...conf.learners.map((node) => ({ type: 'addLearner' as const, node })),
  ];
  const entries: Entry[] = changes.map((cc, i) => ({ term: 1, index: i + 1, type: 'config', data: new Uint8Array(0), conf: cc }));
  return { hardState: { term: 1, vote: null, commit: entries.length }, snapshot: null, entries };
}
