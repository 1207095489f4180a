// ReadOnly: ReadIndex rounds confirmed by a quorum of heartbeat acks (the leader counts itself),
// batching of reads into rounds, draining on leadership loss, and the bounds on rounds and reads.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { AssertionError } from '../../src/core/assert.ts';
import { ReadOnly } from '../../src/core/read-only.ts';

const test = suite('ReadOnly');

const three = ['a', 'b', 'c'];
/** A round's send time: both clocks at `ms`. */
const at = (ms: number) => ({ mono: ms, wall: ms });
const five = ['a', 'b', 'c', 'd', 'e'];

function contexts(reads: ReadonlyArray<{ context: number | string }>): Array<number | string> {
  return reads.map((r) => r.context);
}

test('a round is confirmed by one follower ack in three voters: the leader counts itself', () => {
  const ro = new ReadOnly(100);
  ro.enqueue({ context: 1, from: null });
  const round = ro.startRound(5, at(0));
  const out = ro.ack('b', round, 'a', three);
  assert.equal(out, [{ context: 1, from: null, index: 5 }]);
  assert.is(ro.pending, 0);
  assert.is(ro.rounds, 0);
});

test('one follower ack does not confirm a round of five voters; two do', () => {
  const ro = new ReadOnly(100);
  ro.enqueue({ context: 'r', from: 'c' });
  const round = ro.startRound(9, at(0));
  assert.equal(ro.ack('b', round, 'a', five), []);
  assert.is(ro.pending, 1);
  assert.equal(ro.ack('b', round, 'a', five), [], 'a repeated ack from the same voter counts once');
  assert.equal(ro.ack('d', round, 'a', five), [{ context: 'r', from: 'c', index: 9 }]);
});

test('acks from members outside the voter list never confirm a round', () => {
  const ro = new ReadOnly(100);
  ro.enqueue({ context: 1, from: null });
  const round = ro.startRound(3, at(0));
  assert.equal(ro.ack('learner', round, 'a', three), []);
  assert.equal(ro.ack('stranger', round, 'a', three), []);
  assert.is(ro.pending, 1);
});

test('an ack for an older round does not confirm a newer one', () => {
  const ro = new ReadOnly(100);
  const r1 = ro.startRound(1, at(0));
  ro.enqueue({ context: 'late', from: null });
  ro.startRound(2, at(1));
  assert.equal(ro.ack('b', r1, 'a', three), []);
  assert.is(ro.pending, 1);
  assert.is(ro.rounds, 1, 'the older, empty round was confirmed and removed');
});

test("a later round's ack confirms every earlier round, each with its own index", () => {
  const ro = new ReadOnly(100);
  ro.enqueue({ context: 1, from: null });
  ro.startRound(10, at(0));
  ro.enqueue({ context: 2, from: 'b' });
  ro.startRound(11, at(1));
  ro.enqueue({ context: 3, from: null });
  const r3 = ro.startRound(12, at(2));
  const out = ro.ack('c', r3, 'a', three);
  assert.equal(out, [
    { context: 1, from: null, index: 10 },
    { context: 2, from: 'b', index: 11 },
    { context: 3, from: null, index: 12 },
  ]);
  assert.is(ro.pending, 0);
  assert.is(ro.rounds, 0);
});

test('acks for different rounds from different voters confirm the round both cover', () => {
  const ro = new ReadOnly(100);
  ro.enqueue({ context: 1, from: null });
  const r1 = ro.startRound(4, at(0));
  ro.enqueue({ context: 2, from: null });
  const r2 = ro.startRound(6, at(1));
  assert.equal(ro.ack('b', r2, 'a', five), []);
  assert.equal(contexts(ro.ack('c', r1, 'a', five)), [1], 'a, b (r2 >= r1) and c confirm r1 only');
  assert.equal(contexts(ro.ack('d', r2, 'a', five)), [2]);
});

test('reads queued before a round starts share its index; later reads wait for the next round', () => {
  const ro = new ReadOnly(100);
  ro.enqueue({ context: 'x', from: null });
  ro.enqueue({ context: 'y', from: 'c' });
  const r1 = ro.startRound(7, at(0));
  ro.enqueue({ context: 'z', from: null });
  assert.is(ro.hasQueued(), true);
  const out = ro.ack('b', r1, 'a', three);
  assert.equal(out, [{ context: 'x', from: null, index: 7 }, { context: 'y', from: 'c', index: 7 }]);
  assert.is(ro.pending, 1, 'z is still queued');
  assert.is(ro.hasQueued(), true);
});

test('confirming a round records its send time as the lease base, never moving it back', () => {
  const ro = new ReadOnly(100);
  assert.is(ro.leaseBase, null);
  const r1 = ro.startRound(1, at(5));
  const r2 = ro.startRound(1, at(9));
  ro.ack('b', r2, 'a', three);
  assert.equal(ro.leaseBase, at(9));
  ro.ack('c', r1, 'a', three);
  assert.equal(ro.leaseBase, at(9), 'a late ack of an older round does not move the base back');
});

test('a round confirmed late still dates the lease from its own send time', () => {
  const ro = new ReadOnly(100);
  const r = ro.startRound(1, at(100));
  // However late the acks arrive (the leader was stopped meanwhile), the base is the send time.
  ro.ack('b', r, 'a', three);
  assert.equal(ro.leaseBase, at(100));
});

test('rounds without a send time (no clock) confirm reads but never give a lease', () => {
  const ro = new ReadOnly(100);
  ro.enqueue({ context: 1, from: null });
  const r = ro.startRound(4, null);
  assert.equal(ro.ack('b', r, 'a', three), [{ context: 1, from: null, index: 4 }]);
  assert.is(ro.leaseBase, null);
});

test('drain() returns queued and in-round reads and forgets every round and ack', () => {
  const ro = new ReadOnly(100);
  ro.enqueue({ context: 1, from: null });
  const r1 = ro.startRound(3, at(0));
  ro.enqueue({ context: 2, from: 'b' });
  ro.startRound(4, at(1));
  ro.enqueue({ context: 3, from: null });
  ro.ack('b', r1, 'a', five);
  const drained = ro.drain();
  assert.equal(drained.map((r) => r.context).sort(), [1, 2, 3]);
  assert.is(ro.pending, 0);
  assert.is(ro.rounds, 0);
  assert.is(ro.hasQueued(), false);
  assert.is(ro.leaseBase, null);
  // The ack from b was forgotten: a new round needs fresh acks.
  ro.enqueue({ context: 4, from: null });
  const r3 = ro.startRound(5, at(2));
  assert.equal(ro.ack('c', r3, 'a', five), []);
});

test('trim() keeps only the newest empty rounds, and never drops a round with reads', () => {
  const ro = new ReadOnly(100);
  for (let i = 0; i < 50; i++) ro.startRound(i, at(i));
  ro.enqueue({ context: 'keep', from: null });
  ro.startRound(50, at(50));
  for (let i = 51; i < 100; i++) ro.startRound(i, at(i));
  assert.is(ro.rounds, 100);
  ro.trim(5);
  assert.is(ro.rounds, 6, 'five newest plus the one carrying a read');
  ro.trim(10);
  assert.is(ro.rounds, 6, 'trim below the cap is a no-op');
  assert.equal(ro.drain().map((r) => r.context), ['keep']);
});

test('pendingMax bounds queued plus in-round reads; enqueue when full is an AssertionError', () => {
  const ro = new ReadOnly(3);
  ro.enqueue({ context: 1, from: null });
  ro.startRound(1, at(0));
  ro.enqueue({ context: 2, from: null });
  assert.is(ro.full(), false);
  ro.enqueue({ context: 3, from: null });
  assert.is(ro.full(), true);
  assert.is(ro.pending, 3);
  assert.throws(() => ro.enqueue({ context: 4, from: null }), (e: unknown) => e instanceof AssertionError);
  ro.drain();
  assert.is(ro.full(), false);
});

test('confirming reads frees room under pendingMax', () => {
  const ro = new ReadOnly(2);
  ro.enqueue({ context: 1, from: null });
  ro.enqueue({ context: 2, from: null });
  const r = ro.startRound(1, at(0));
  assert.is(ro.full(), true);
  ro.ack('b', r, 'a', three);
  assert.is(ro.full(), false);
  assert.is(ro.pending, 0);
});

test('a single-voter leader confirms its own round with no acks', () => {
  const ro = new ReadOnly(10);
  ro.enqueue({ context: 1, from: null });
  ro.startRound(8, at(0));
  assert.equal(ro.confirm('a', ['a']), [{ context: 1, from: null, index: 8 }]);
});

test('readRounds counts the unconfirmed rounds that carry reads, through confirm, trim and drain', () => {
  const ro = new ReadOnly(100);
  ro.startRound(1, at(0));
  assert.is(ro.readRounds, 0, 'a plain heartbeat round carries no reads');
  ro.enqueue({ context: 1, from: null });
  const r2 = ro.startRound(2, at(1));
  ro.enqueue({ context: 2, from: null });
  ro.startRound(3, at(2));
  for (let i = 0; i < 20; i++) ro.startRound(4, at(3 + i));
  assert.is(ro.readRounds, 2);
  ro.trim(3);
  assert.is(ro.readRounds, 2, 'trim keeps rounds with reads');
  assert.equal(contexts(ro.ack('b', r2, 'a', three)), [1]);
  assert.is(ro.readRounds, 1);
  ro.drain();
  assert.is(ro.readRounds, 0);
});

test.run();
