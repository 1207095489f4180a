// Majority arithmetic over the voters: the commit index a quorum has reached, and election tallies.
// Learners never appear here: they are not counted in any quorum.

import type { Index, NodeId } from './types.ts';

export function quorumSize(voters: number): number {
  return Math.floor(voters / 2) + 1;
}

/** The largest index that a majority of voters has acknowledged. */
export function committedIndex(voters: readonly NodeId[], matchOf: (id: NodeId) => Index): Index {
  const n = voters.length;
  if (n === 0) return 0;
  if (n === 1) return matchOf(voters[0]!);
  const m = new Array<number>(n);
  for (let i = 0; i < n; i++) m[i] = matchOf(voters[i]!);
  m.sort((a, b) => b - a);
  return m[quorumSize(n) - 1]!;
}

export type VoteResult = 'won' | 'lost' | 'pending';

export function voteResult(voters: readonly NodeId[], votes: ReadonlyMap<NodeId, boolean>): VoteResult {
  let granted = 0;
  let rejected = 0;
  for (const v of voters) {
    const got = votes.get(v);
    if (got === true) granted++;
    else if (got === false) rejected++;
  }
  const q = quorumSize(voters.length);
  if (granted >= q) return 'won';
  if (rejected > voters.length - q) return 'lost';
  return 'pending';
}
