// RaftLog: term lookup around the snapshot, the follower's append rules (skip, truncate, never
// below commit), the durability cursors a truncation must clamp, fast backtracking, byte-bounded
// slices, commit bounds, the election restriction, snapshot restore and compaction.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { AssertionError } from '../../src/core/assert.ts';
import { RaftLog } from '../../src/core/log.ts';
import type { Entry } from '../../src/core/types.ts';

const test = suite('RaftLog');

function ent(index: number, term: number, dataBytes = 0): Entry {
  return { index, term, type: 'normal', data: new Uint8Array(dataBytes) };
}

/** A log holding entries 1..terms.length with the given terms. */
function logOf(terms: readonly number[]): RaftLog {
  const log = new RaftLog();
  log.append(terms.map((t, k) => ent(k + 1, t)));
  return log;
}

/** The runtime made every entry handed out so far durable (takeUnstable, then persisted). */
function persistAll(log: RaftLog): void {
  log.takeUnstable();
  log.persisted();
}

function terms(log: RaftLog): number[] {
  return log.entries.map((e) => e.term);
}

function isAssertion(e: unknown): boolean {
  return e instanceof AssertionError;
}

const conf = { voters: ['a'], learners: [] };

test('term() is the snapshot term at the snapshot index and -1 below it or past the end', () => {
  const log = new RaftLog();
  log.restore({ index: 10, term: 3, conf });
  log.append([ent(11, 4), ent(12, 5)]);
  assert.is(log.term(10), 3);
  assert.is(log.term(9), -1);
  assert.is(log.term(0), -1);
  assert.is(log.term(11), 4);
  assert.is(log.term(12), 5);
  assert.is(log.term(13), -1);
  assert.is(log.firstIndex(), 11);
  assert.is(log.lastIndex(), 12);
});

test('term(0) of an empty log is 0, and every later index is -1', () => {
  const log = new RaftLog();
  assert.is(log.term(0), 0);
  assert.is(log.term(1), -1);
  assert.is(log.lastTerm(), 0);
});

test('append requires the first entry to follow the last index', () => {
  const log = logOf([1, 1]);
  assert.throws(() => log.append([ent(4, 1)]), isAssertion);
  assert.throws(() => log.append([ent(2, 1)]), isAssertion);
  log.append([]);
  log.append([ent(3, 2)]);
  assert.is(log.lastIndex(), 3);
  assert.is(log.lastTerm(), 2);
});

test('appendFollowing skips entries already present and never truncates on a shorter resend', () => {
  const log = logOf([1, 1, 1, 1]);
  const last = log.appendFollowing(0, [ent(1, 1), ent(2, 1)]);
  assert.is(last, 2, 'returns the last index the message covers, not the log end');
  assert.is(log.lastIndex(), 4);
  assert.equal(terms(log), [1, 1, 1, 1]);
});

test('appendFollowing truncates at the first conflict and appends the rest', () => {
  const log = logOf([1, 1, 1, 1]);
  const last = log.appendFollowing(1, [ent(2, 1), ent(3, 2), ent(4, 2), ent(5, 2)]);
  assert.is(last, 5);
  assert.equal(terms(log), [1, 1, 2, 2, 2]);
});

test('appendFollowing drops the old suffix beyond a shorter conflicting message', () => {
  const log = logOf([1, 1, 1, 1, 1]);
  const last = log.appendFollowing(1, [ent(2, 3)]);
  assert.is(last, 2);
  assert.equal(terms(log), [1, 3]);
});

test('appendFollowing appends after the last index and returns the last new index', () => {
  const log = logOf([1, 1]);
  assert.is(log.appendFollowing(2, [ent(3, 2), ent(4, 2)]), 4);
  assert.equal(terms(log), [1, 1, 2, 2]);
  assert.is(log.appendFollowing(4, []), 4, 'an empty append covers prevIndex');
});

test('appendFollowing refuses (AssertionError) to truncate a committed entry', () => {
  const log = logOf([1, 1, 1]);
  log.commitTo(2);
  assert.throws(() => log.appendFollowing(1, [ent(2, 2)]), isAssertion);
  assert.equal(terms(log), [1, 1, 1], 'the log is untouched');
  // A conflict just above the commit index is allowed.
  assert.is(log.appendFollowing(2, [ent(3, 2)]), 3);
  assert.equal(terms(log), [1, 1, 2]);
});

test('appendFollowing ignores entries already covered by the snapshot', () => {
  const log = new RaftLog();
  log.restore({ index: 5, term: 2, conf });
  const last = log.appendFollowing(3, [ent(4, 2), ent(5, 2), ent(6, 3)]);
  assert.is(last, 6);
  assert.is(log.firstIndex(), 6);
  assert.is(log.lastIndex(), 6);
  assert.is(log.term(6), 3);
});

test('truncateFrom clamps stableIndex, inProgressTo and unstableFrom to the new end', () => {
  const log = logOf([1, 1, 1, 1]);
  persistAll(log);
  log.append([ent(5, 1)]);
  log.takeUnstable();
  assert.equal([log.stableIndex, log.inProgressTo, log.unstableFrom], [4, 5, 6]);
  log.truncateFrom(3);
  assert.is(log.lastIndex(), 2);
  assert.is(log.stableIndex, 2);
  assert.is(log.inProgressTo, 2);
  assert.is(log.unstableFrom, 3);
});

test('truncateFrom leaves cursors that are already below the cut alone', () => {
  const log = logOf([1]);
  persistAll(log);
  log.append([ent(2, 1), ent(3, 1), ent(4, 1), ent(5, 1)]);
  assert.equal([log.stableIndex, log.inProgressTo, log.unstableFrom], [1, 0, 2]);
  log.truncateFrom(4);
  assert.is(log.lastIndex(), 3);
  assert.is(log.stableIndex, 1);
  assert.is(log.inProgressTo, 0);
  assert.is(log.unstableFrom, 2);
});

test('truncateFrom refuses to cut at or below the commit index or inside the snapshot', () => {
  const log = logOf([1, 1, 1]);
  log.commitTo(2);
  assert.throws(() => log.truncateFrom(2), isAssertion);
  // Inside the snapshot is at or below the commit index too (restore commits the snapshot).
  const snap = new RaftLog();
  snap.restore({ index: 4, term: 1, conf });
  assert.throws(() => snap.truncateFrom(4), isAssertion);
  assert.throws(() => snap.truncateFrom(3), isAssertion);
});

test('findConflictByTerm returns the largest index at or below the hint whose term fits', () => {
  const log = logOf([1, 1, 2, 2, 4, 4]);
  assert.is(log.findConflictByTerm(6, 3), 4, 'skips the whole term-4 run');
  assert.is(log.findConflictByTerm(6, 4), 6);
  assert.is(log.findConflictByTerm(6, 1), 2);
  assert.is(log.findConflictByTerm(6, 0), 0);
  assert.is(log.findConflictByTerm(3, 4), 3, 'never above the given index');
  assert.is(log.findConflictByTerm(10, 5), 6, 'clamped to the last index');
});

test('findConflictByTerm stops at the snapshot index', () => {
  const log = new RaftLog();
  log.restore({ index: 4, term: 2, conf });
  log.append([ent(5, 4), ent(6, 4)]);
  assert.is(log.findConflictByTerm(6, 1), 4);
  assert.is(log.findConflictByTerm(6, 3), 4);
});

test('slice returns at least one entry even when it alone exceeds bytesMax', () => {
  const log = new RaftLog();
  // entryBytes = data + 24, so each entry here weighs 100 bytes.
  log.append([1, 2, 3, 4, 5].map((i) => ent(i, 1, 76)));
  assert.equal(log.slice(2, 6, 10).map((e) => e.index), [2]);
  assert.equal(log.slice(2, 6, 0).map((e) => e.index), [2]);
});

test('slice stops before the entry that would exceed bytesMax', () => {
  const log = new RaftLog();
  log.append([1, 2, 3, 4, 5].map((i) => ent(i, 1, 76)));
  assert.equal(log.slice(1, 6, 250).map((e) => e.index), [1, 2]);
  assert.equal(log.slice(1, 6, 300).map((e) => e.index), [1, 2, 3], 'an exact fit is included');
  assert.equal(log.slice(1, 6, 299).map((e) => e.index), [1, 2]);
  assert.equal(log.slice(1, 6, Number.MAX_SAFE_INTEGER).map((e) => e.index), [1, 2, 3, 4, 5]);
  assert.equal(log.slice(2, 4, Number.MAX_SAFE_INTEGER).map((e) => e.index), [2, 3], 'hi is exclusive');
});

test('slice refuses a compacted start and an end past the last index', () => {
  const log = new RaftLog();
  log.restore({ index: 3, term: 1, conf });
  log.append([ent(4, 1), ent(5, 1)]);
  assert.throws(() => log.slice(3, 5, 1000), isAssertion);
  assert.throws(() => log.slice(4, 7, 1000), isAssertion);
  assert.equal(log.slice(4, 6, 1000).map((e) => e.index), [4, 5]);
});

test('commitTo only moves forward and never past the last index', () => {
  const log = logOf([1, 1, 1, 1]);
  log.commitTo(3);
  assert.is(log.committed, 3);
  log.commitTo(2);
  assert.is(log.committed, 3, 'a lower commit is ignored');
  log.commitTo(3);
  assert.is(log.committed, 3);
  assert.throws(() => log.commitTo(5), isAssertion);
  assert.is(log.committed, 3);
  log.commitTo(4);
  assert.is(log.committed, 4);
});

test('applicableTo is bounded by both commit and durability', () => {
  const log = logOf([1, 1]);
  persistAll(log);
  log.append([ent(3, 1), ent(4, 1)]);
  log.commitTo(4);
  assert.is(log.applicableTo(), 2);
  assert.equal(log.applicableEntries().map((e) => e.index), [1, 2]);
  const other = logOf([1, 1, 1, 1]);
  persistAll(other);
  other.commitTo(3);
  assert.is(other.applicableTo(), 3);
});

test('isUpToDate compares last terms first, then lengths (section 5.4.1)', () => {
  const log = logOf([1, 1, 2]);
  assert.is(log.isUpToDate(10, 1), false, 'a longer log with an older last term loses');
  assert.is(log.isUpToDate(2, 2), false, 'same last term but shorter loses');
  assert.is(log.isUpToDate(3, 2), true, 'identical logs are up to date');
  assert.is(log.isUpToDate(4, 2), true);
  assert.is(log.isUpToDate(1, 3), true, 'a newer last term wins even when shorter');
  assert.is(new RaftLog().isUpToDate(0, 0), true);
});

test('isUpToDate uses the snapshot term when the log after it is empty', () => {
  const log = new RaftLog();
  log.restore({ index: 7, term: 3, conf });
  assert.is(log.isUpToDate(7, 3), true);
  assert.is(log.isUpToDate(6, 3), false);
  assert.is(log.isUpToDate(100, 2), false);
});

test('restore replaces the log with the snapshot and resets the cursors', () => {
  const log = logOf([1, 1, 1, 1, 1]);
  persistAll(log);
  log.commitTo(4);
  log.appliedTo(3);
  log.append([ent(6, 1)]);
  log.takeUnstable();
  assert.equal([log.applied, log.stableIndex, log.inProgressTo, log.unstableFrom], [3, 5, 6, 7]);
  log.restore({ index: 20, term: 5, conf });
  assert.is(log.snapIndex, 20);
  assert.is(log.snapTerm, 5);
  assert.equal(log.entries, []);
  assert.is(log.firstIndex(), 21);
  assert.is(log.lastIndex(), 20);
  assert.is(log.lastTerm(), 5);
  assert.is(log.committed, 20);
  assert.is(log.applied, 3, 'applied moves only once the snapshot is durable');
  assert.is(log.stableIndex, 3, 'nothing past applied counts as durable any more');
  assert.is(log.inProgressTo, 6);
  assert.is(log.unstableFrom, 21);
  assert.is(log.applicableTo(), 3, 'no old entry past applied becomes applicable');
});

test('restore below an in-flight write clamps inProgressTo to the snapshot', () => {
  const log = logOf([1, 1, 1, 1, 1, 1, 1, 1]);
  log.takeUnstable();
  assert.is(log.inProgressTo, 8);
  log.restore({ index: 5, term: 2, conf });
  assert.is(log.inProgressTo, 5);
  assert.is(log.lastIndex(), 5);
});

test('compact drops entries up to the index and keeps the rest addressable', () => {
  const log = logOf([1, 1, 2, 2, 3]);
  log.commitTo(4);
  log.appliedTo(4);
  log.compact(3, 2);
  assert.is(log.snapIndex, 3);
  assert.is(log.snapTerm, 2);
  assert.is(log.firstIndex(), 4);
  assert.is(log.lastIndex(), 5);
  assert.is(log.term(3), 2);
  assert.is(log.term(2), -1);
  assert.is(log.entry(4).term, 2);
  assert.is(log.entry(5).term, 3);
  assert.throws(() => log.entry(3), isAssertion);
});

test('compact refuses an unapplied index and a wrong term, and ignores an older index', () => {
  const log = logOf([1, 1, 2, 2, 3]);
  log.commitTo(4);
  log.appliedTo(4);
  assert.throws(() => log.compact(5, 3), isAssertion);
  assert.throws(() => log.compact(3, 1), isAssertion);
  log.compact(3, 2);
  log.compact(2, 1);
  assert.is(log.snapIndex, 3, 'an older compaction is a no-op');
  assert.is(log.lastIndex(), 5);
});

test('matchTerm is false for compacted and missing indexes', () => {
  const log = new RaftLog();
  log.restore({ index: 2, term: 1, conf });
  log.append([ent(3, 2)]);
  assert.is(log.matchTerm(2, 1), true);
  assert.is(log.matchTerm(3, 2), true);
  assert.is(log.matchTerm(3, 1), false);
  assert.is(log.matchTerm(1, 1), false);
  assert.is(log.matchTerm(4, -1), false, 'the -1 sentinel never matches');
});

test.run();
