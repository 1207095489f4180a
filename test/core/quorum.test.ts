// Majority arithmetic: the commit index a quorum holds and election tallies, for 1..7 voters,
// checked by hand-picked cases and exhaustively against a counting definition.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { SeededPrng } from '../../src/core/prng.ts';
import { committedIndex, quorumSize, voteResult, type VoteResult } from '../../src/core/quorum.ts';

const test = suite('quorum');

function ids(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `n${i + 1}`);
}

function commitOf(matches: readonly number[]): number {
  const voters = ids(matches.length);
  return committedIndex(voters, (id) => matches[voters.indexOf(id)]!);
}

/** The largest x such that a majority has match >= x: the definition, by counting. */
function commitByCounting(matches: readonly number[]): number {
  const q = Math.floor(matches.length / 2) + 1;
  let best = 0;
  for (const x of matches) if (matches.filter((m) => m >= x).length >= q && x > best) best = x;
  return best;
}

test('quorumSize is a strict majority', () => {
  assert.equal([1, 2, 3, 4, 5, 6, 7].map(quorumSize), [1, 2, 2, 3, 3, 4, 4]);
});

test('committedIndex with one voter is its own match', () => {
  assert.is(commitOf([7]), 7);
  assert.is(commitOf([0]), 0);
});

test('committedIndex with no voters is 0', () => {
  assert.is(committedIndex([], () => 9), 0);
});

test('committedIndex needs both voters of two', () => {
  assert.is(commitOf([5, 3]), 3);
  assert.is(commitOf([3, 5]), 3);
});

test('committedIndex is the median of three', () => {
  assert.is(commitOf([5, 1, 3]), 3);
  assert.is(commitOf([9, 9, 0]), 9);
  assert.is(commitOf([9, 0, 0]), 0);
});

test('committedIndex with four voters needs three', () => {
  assert.is(commitOf([10, 10, 2, 2]), 2, 'two of four are not a quorum');
  assert.is(commitOf([10, 8, 6, 1]), 6);
});

test('committedIndex with five, six and seven voters', () => {
  assert.is(commitOf([5, 4, 3, 2, 1]), 3);
  assert.is(commitOf([6, 6, 6, 1, 1, 1]), 1, 'three of six are not a quorum');
  assert.is(commitOf([6, 6, 6, 6, 1, 1]), 6);
  assert.is(commitOf([7, 6, 5, 4, 3, 2, 1]), 4);
  assert.is(commitOf([9, 9, 9, 0, 0, 0, 0]), 0);
});

test('committedIndex agrees with counting for random matches of 1..7 voters', () => {
  const seed = 4242;
  const prng = new SeededPrng(seed);
  for (let round = 0; round < 2000; round++) {
    const n = 1 + prng.nextInt(7);
    const matches = Array.from({ length: n }, () => prng.nextInt(20));
    assert.is(commitOf(matches), commitByCounting(matches), `matches ${JSON.stringify(matches)} (seed ${seed})`);
  }
});

test('committedIndex does not reorder the voter list it is given', () => {
  const voters = ['c', 'a', 'b'];
  committedIndex(voters, (id) => ({ a: 1, b: 2, c: 3 })[id] ?? 0);
  assert.equal(voters, ['c', 'a', 'b']);
});

function tally(n: number, granted: number, rejected: number): VoteResult {
  const voters = ids(n);
  const votes = new Map<string, boolean>();
  voters.slice(0, granted).forEach((v) => votes.set(v, true));
  voters.slice(granted, granted + rejected).forEach((v) => votes.set(v, false));
  return voteResult(voters, votes);
}

test('voteResult with one voter: its own vote decides', () => {
  assert.is(tally(1, 1, 0), 'won');
  assert.is(tally(1, 0, 1), 'lost');
  assert.is(tally(1, 0, 0), 'pending');
});

test('voteResult with two voters needs both', () => {
  assert.is(tally(2, 1, 0), 'pending');
  assert.is(tally(2, 1, 1), 'lost');
  assert.is(tally(2, 2, 0), 'won');
});

test('voteResult with three voters', () => {
  assert.is(tally(3, 2, 0), 'won');
  assert.is(tally(3, 1, 1), 'pending');
  assert.is(tally(3, 1, 2), 'lost');
});

test('voteResult with four voters: a 2-2 split is lost, 2-1 still pending', () => {
  assert.is(tally(4, 2, 2), 'lost');
  assert.is(tally(4, 2, 1), 'pending');
  assert.is(tally(4, 3, 1), 'won');
  assert.is(tally(4, 1, 1), 'pending');
});

test('voteResult with six voters: a 3-3 split is lost', () => {
  assert.is(tally(6, 3, 3), 'lost');
  assert.is(tally(6, 3, 2), 'pending');
  assert.is(tally(6, 4, 0), 'won');
});

test('voteResult ignores votes from non-voters', () => {
  const voters = ids(3);
  const votes = new Map<string, boolean>([['n1', true], ['learner', true], ['other', true]]);
  assert.is(voteResult(voters, votes), 'pending');
  const rejects = new Map<string, boolean>([['n1', true], ['x', false], ['y', false]]);
  assert.is(voteResult(voters, rejects), 'pending');
});

test('voteResult agrees with the definition for every vote assignment of 1..7 voters', () => {
  for (let n = 1; n <= 7; n++) {
    const q = Math.floor(n / 2) + 1;
    for (let granted = 0; granted <= n; granted++) {
      for (let rejected = 0; granted + rejected <= n; rejected++) {
        const missing = n - granted - rejected;
        const want: VoteResult = granted >= q ? 'won' : granted + missing < q ? 'lost' : 'pending';
        assert.is(tally(n, granted, rejected), want, `n=${n} granted=${granted} rejected=${rejected}`);
      }
    }
  }
});

test.run();
