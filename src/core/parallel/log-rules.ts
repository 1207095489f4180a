// ParallelRaft's log rules: holes (term 0) and stale entries stay beside re-stamped ones, so terms
// may fall along the log, and holes are filled in place.
import type { LogRules } from '../store/log-rules.ts';

export const parallelLogRules: LogRules = Object.freeze({ name: 'ParallelRaft', termsMayFall: true, fillsAllowed: true });
