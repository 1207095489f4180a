// Hand-made histories the checker must accept and must reject, with the shape of its verdicts:
// which key fails, what the explanation says, and how an exhausted budget is reported.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { checkHistory, formatResult } from './checker.ts';
import type { CheckResult } from './checker.ts';
import { history } from './build.ts';
import type { HistoryOp } from './history.ts';
import { generateHistory } from './generate.ts';

function assertLinearizable(ops: readonly HistoryOp[], what: string): void {
  const r = checkHistory(ops);
  assert.ok(r.ok, `${what} should be linearizable:\n${formatResult(r)}`);
  assert.is(r.verdict, 'linearizable');
}

function assertViolation(ops: readonly HistoryOp[], key: string, what: string): Extract<CheckResult, { verdict: 'violation' }> {
  const r = checkHistory(ops);
  assert.is(r.verdict, 'violation', `${what} should not be linearizable:\n${formatResult(r)}`);
  if (r.verdict !== 'violation') throw new Error('unreachable');
  assert.is(r.ok, false);
  assert.is(r.key, key);
  return r;
}

// ---- histories that must pass ----

test('a sequential history of every op kind passes', () => {
  const h = history()
    .put('c1', 'x', 'a', 0, 1).get('c1', 'x', 'a', 2, 3).put('c1', 'x', 'b', 4, 5).get('c2', 'x', 'b', 6, 7)
    .delete('c1', 'x', 8, 9).get('c2', 'x', null, 10, 11);
  assertLinearizable(h.ops, 'sequential history');
});

test('an empty history and a key never written pass', () => {
  assertLinearizable([], 'empty history');
  assertLinearizable(history().get('c1', 'x', null, 0, 1).delete('c1', 'x', 2, 3).get('c1', 'x', null, 4, 5).ops, 'absent key');
});

test('concurrent writes may land in either order, and later reads see the winner', () => {
  for (const winner of ['a', 'b']) {
    const h = history().put('c1', 'x', 'a', 0, 10).put('c2', 'x', 'b', 0, 10)
      .get('c3', 'x', winner, 11, 12).get('c1', 'x', winner, 13, 14);
    assertLinearizable(h.ops, `concurrent writes, reads see ${winner}`);
  }
});

test('a read overlapping a write may see the old or the new value', () => {
  for (const seen of ['a', 'b']) {
    const h = history().put('c1', 'x', 'a', 0, 1).put('c1', 'x', 'b', 2, 10).get('c2', 'x', seen, 3, 5);
    assertLinearizable(h.ops, `read during the write sees ${seen}`);
  }
  // Touching intervals (a return and a call at the same time) count as concurrent.
  assertLinearizable(history().put('c1', 'x', 'a', 0, 1).put('c1', 'x', 'b', 2, 5).get('c2', 'x', 'a', 5, 6).ops, 'touching intervals');
});

test('a put of unknown outcome may take effect late, or never', () => {
  const seen = history().put('c1', 'x', 'a', 0, 1).put('c2', 'x', 'b', 2, 0, 'unknown')
    .get('c3', 'x', 'a', 20, 21).get('c3', 'x', 'b', 40, 41);
  assertLinearizable(seen.ops, 'unknown put seen long after it timed out');
  const unseen = history().put('c1', 'x', 'a', 0, 1).put('c2', 'x', 'b', 2, 0, 'unknown').get('c3', 'x', 'a', 20, 21);
  assertLinearizable(unseen.ops, 'unknown put nobody sees');
});

test('reads and other ops of unknown or failed outcome do not constrain the history', () => {
  const h = history().put('c1', 'x', 'a', 0, 1).get('c2', 'x', 'never-written', 2, 3, 'unknown')
    .cas('c2', 'x', 'zzz', 'b', true, 4, 5, 'fail').get('c1', 'x', 'a', 6, 7);
  assertLinearizable(h.ops, 'unknown get and failed cas are dropped');
});

test('cas succeeds only on the expected value; null expects the key absent', () => {
  const h = history()
    .cas('c1', 'x', null, 'a', true, 0, 1)
    .cas('c1', 'x', null, 'z', false, 2, 3)
    .cas('c2', 'x', 'a', 'b', true, 4, 5)
    .cas('c1', 'x', 'a', 'c', false, 6, 7)
    .get('c2', 'x', 'b', 8, 9)
    .delete('c1', 'x', 10, 11)
    .cas('c2', 'x', 'b', 'd', false, 12, 13)
    .cas('c2', 'x', null, 'e', true, 14, 15)
    .get('c1', 'x', 'e', 16, 17);
  assertLinearizable(h.ops, 'cas sequence');
});

test('concurrent cas ops: exactly one of two racing swaps from the same value may win', () => {
  const h = history().put('c0', 'x', 'a', 0, 1)
    .cas('c1', 'x', 'a', 'b', true, 2, 10).cas('c2', 'x', 'a', 'c', false, 2, 10).get('c3', 'x', 'b', 11, 12);
  assertLinearizable(h.ops, 'one cas wins');
  const both = history().put('c0', 'x', 'a', 0, 1)
    .cas('c1', 'x', 'a', 'b', true, 2, 10).cas('c2', 'x', 'a', 'c', true, 2, 10);
  assertViolation(both.ops, 'x', 'two swaps from the same value both winning');
});

test('a cas of unknown outcome may have swapped', () => {
  const h = history().put('c0', 'x', 'a', 0, 1).cas('c1', 'x', 'a', 'b', false, 2, 0, 'unknown').get('c2', 'x', 'b', 10, 11);
  assertLinearizable(h.ops, 'unknown cas seen');
});

test('delete then get returns absent, with result null or missing', () => {
  const h = history().put('c1', 'x', 'a', 0, 1).delete('c1', 'x', 2, 3).get('c2', 'x', null, 4, 5);
  assertLinearizable(h.ops, 'delete then get null');
  const missing: HistoryOp[] = [
    { id: 1, client: 1, op: 'put', key: 'x', value: 'a', callMs: 0, returnMs: 1, outcome: 'ok' },
    { id: 2, client: 1, op: 'delete', key: 'x', callMs: 2, returnMs: 3, outcome: 'ok' },
    { id: 3, client: 2, op: 'get', key: 'x', callMs: 4, returnMs: 5, outcome: 'ok' },
  ];
  assertLinearizable(missing, 'delete then get with no result field');
  assertViolation(history().put('c1', 'x', 'a', 0, 1).delete('c1', 'x', 2, 3).get('c2', 'x', 'a', 4, 5).ops, 'x', 'read after delete');
});

test('bytes compare by content and equal the string they encode', () => {
  const enc = new TextEncoder();
  const h = history().put('c1', 'x', enc.encode('héllo'), 0, 1).get('c2', 'x', 'héllo', 2, 3)
    .put('c1', 'y', new Uint8Array([0xff, 0x00, 0x80]), 0, 1).get('c2', 'y', new Uint8Array([0xff, 0x00, 0x80]), 2, 3);
  assertLinearizable(h.ops, 'bytes and strings');
  const r = assertViolation(history().put('c1', 'y', new Uint8Array([0xff, 1]), 0, 1).get('c2', 'y', new Uint8Array([0xff, 2]), 2, 3).ops, 'y', 'different bytes');
  assert.match(r.explanation, '0xff02');
});

// ---- histories that must fail ----

test('a stale read after a completed write fails, and the explanation shows where', () => {
  const h = history().put('c1', 'x', 'a', 0, 1).put('c1', 'x', 'b', 2, 3).get('c2', 'x', 'a', 4, 5);
  const r = assertViolation(h.ops, 'x', 'stale read');
  assert.equal(r.violation.prefix.map((p) => p.op.id), [1, 2]);
  assert.is(r.violation.stateAfterPrefix, '"b"');
  assert.is(r.violation.deadline.id, 3);
  assert.equal(r.violation.blocked.map((b) => b.op.id), [3]);
  assert.match(r.explanation, 'NOT LINEARIZABLE');
  assert.match(r.explanation, 'key "x"');
  assert.match(r.explanation, '#3 client c2 get() -> "a" [4, 5] ok: it read "a" but the key holds "b"');
  assert.is(formatResult(r), r.explanation);
});

test('a read of a value never written fails', () => {
  const r = assertViolation(history().put('c1', 'x', 'a', 0, 1).get('c2', 'x', 'zzz', 2, 3).ops, 'x', 'read of a value never written');
  assert.is(r.violation.kind, 'unreachable-value');
  assert.match(r.explanation, '#2 client c2 get() -> "zzz" [2, 3] ok: no op of this key writes "zzz"');
  assertViolation(history().get('c2', 'x', 'a', 0, 3).ops, 'x', 'read of a value never written, alone');
});

test('a read of a value written only after it returned fails', () => {
  const h = history().put('c1', 'x', 'a', 0, 1).get('c2', 'x', 'b', 2, 3).put('c1', 'x', 'b', 4, 5).put('c3', 'x', 'b', 6, 0, 'unknown');
  const r = assertViolation(h.ops, 'x', 'read from the future');
  assert.match(r.explanation, '"b" is first written by #3, called at 4, after this op returned');
  // Called at the very time the read returns counts as concurrent, so that one may be seen.
  assertLinearizable(history().put('c1', 'x', 'a', 0, 1).get('c2', 'x', 'b', 2, 4).put('c1', 'x', 'b', 4, 5).ops, 'touching write');
});

test('two sequential reads cannot see two finished concurrent writes in both orders', () => {
  // Both writes finish by 10, so whichever is last wins for good: r1 seeing B then r2 seeing A is impossible.
  const h = history().put('c1', 'x', 'A', 0, 10).put('c2', 'x', 'B', 0, 10)
    .get('c3', 'x', 'B', 11, 12).get('c3', 'x', 'A', 13, 14);
  const r = assertViolation(h.ops, 'x', 'reads see writes in an impossible order');
  assert.ok(r.violation.blocked.some((b) => b.op.id === 4), r.explanation);
});

test('a cas that swapped although its expected value could not be current fails', () => {
  const h = history().put('c1', 'x', 'a', 0, 1).put('c1', 'x', 'b', 2, 3).cas('c2', 'x', 'a', 'c', true, 4, 5);
  const r = assertViolation(h.ops, 'x', 'impossible cas');
  assert.match(r.explanation, 'it swapped, so the key must hold "a", but the key holds "b"');
  const failed = history().put('c1', 'x', 'a', 0, 1).cas('c2', 'x', 'a', 'c', false, 4, 5);
  assert.match(assertViolation(failed.ops, 'x', 'cas that should have swapped').explanation, 'it did not swap');
});

test('a failed write whose value is read fails', () => {
  const h = history().put('c1', 'x', 'a', 0, 1).put('c1', 'x', 'b', 2, 3, 'fail').get('c2', 'x', 'b', 4, 5);
  const r = assertViolation(h.ops, 'x', 'read of a failed write');
  assert.is(r.stats.opsDroppedFailed, 1);
});

test('an unknown write cannot be seen before it was called', () => {
  const h = history().put('c1', 'x', 'a', 0, 1).get('c2', 'x', 'b', 2, 3).put('c3', 'x', 'b', 5, 0, 'unknown');
  assertViolation(h.ops, 'x', 'read before the unknown write was called');
});

test('the failing key with the fewest ops is explained; the others are listed', () => {
  const h = history()
    .put('c1', 'ok', 'a', 0, 1).get('c2', 'ok', 'a', 2, 3)
    .put('c1', 'big', 'a', 0, 1).put('c1', 'big', 'b', 2, 3).get('c1', 'big', 'b', 4, 5).get('c2', 'big', 'a', 6, 7)
    .put('c1', 'small', 'a', 0, 1).get('c2', 'small', 'q', 2, 3);
  const r = assertViolation(h.ops, 'small', 'two failing keys');
  assert.equal([...r.failingKeys].sort(), ['big', 'small']);
  assert.match(r.explanation, '2 keys fail');
  assert.is(r.stats.keys, 3);
});

test('a write that strands a pending read is explained as such', () => {
  // The get of "a" returns at 20; "b" must be placed (its put returned at 5), and nothing writes "a" again.
  const h = history().put('c1', 'x', 'a', 0, 1).put('c2', 'x', 'b', 2, 5).get('c3', 'x', 'a', 3, 20).get('c1', 'x', 'b', 6, 7);
  assertLinearizable(h.ops, 'read of a before b during the get');
  const bad = history().put('c1', 'x', 'a', 0, 1).put('c2', 'x', 'b', 2, 5).get('c1', 'x', 'b', 6, 7).get('c3', 'x', 'a', 8, 20);
  assertViolation(bad.ops, 'x', 'read of a after b was read');
});

// ---- budgets ----

test('an exhausted step budget reports unknown and names the budget', () => {
  const ops = generateHistory({ seed: 3, ops: 400, keys: 2, clients: 20, unknownRatio: 0.05, valuesDistinct: false });
  const r = checkHistory(ops, { stepsPerKeyMax: 5 });
  assert.is(r.ok, false);
  assert.is(r.verdict, 'unknown');
  if (r.verdict !== 'unknown') return;
  assert.is(r.budget, 'stepsPerKeyMax');
  assert.match(r.explanation, 'stepsPerKeyMax=5');
  assert.is(checkHistory(ops).verdict, 'linearizable');
});

test('the visited-set and time budgets are named too', () => {
  const ops = generateHistory({ seed: 4, ops: 10_000, keys: 100, clients: 20, valuesDistinct: false });
  const visited = checkHistory(ops, { visitedPerKeyMax: 3 });
  assert.is(visited.verdict === 'unknown' ? visited.budget : visited.verdict, 'visitedPerKeyMax');
  // 10,000 ops cannot be checked within 1 ms, so some keys are left undecided.
  const timed = checkHistory(ops, { timeoutMs: 1 });
  assert.is(timed.verdict === 'unknown' ? timed.budget : timed.verdict, 'timeoutMs');
  assert.match(timed.ok ? '' : timed.explanation, 'timeoutMs=1');
});

test('a violation is still reported when other keys run out of budget', () => {
  const ops = [
    ...generateHistory({ seed: 5, ops: 300, keys: 1, clients: 20, valuesDistinct: false }),
    ...history().put('c1', 'bad', 'a', 0, 1).get('c2', 'bad', 'q', 2, 3).ops.map((op) => ({ ...op, id: op.id + 1_000_000 })),
  ];
  const r = checkHistory(ops, { stepsPerKeyMax: 20 });
  assert.is(r.verdict, 'violation');
  if (r.verdict !== 'violation') return;
  assert.is(r.key, 'bad');
  assert.is(r.unknownKeys.length, 1);
});

test('bad options are rejected with the option named', () => {
  assert.throws(() => checkHistory([], { stepsPerKeyMax: 0 }), /`stepsPerKeyMax` must be a positive integer, got 0/);
  assert.throws(() => checkHistory([], { timeoutMs: 1.5 }), /`timeoutMs`/);
});

test.run();
