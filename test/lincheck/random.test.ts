// Seeded randomized tests: histories of a simulated linearizable KV must pass; the same histories
// with one read made impossible must fail on that read's key; and on small histories the checker
// must agree with a brute-force search that has none of its pruning rules. Seeds print on failure.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SeededPrng } from '../../src/core/prng.ts';
import { bruteForceLinearizable } from './brute.ts';
import { checkHistory, formatResult } from './checker.ts';
import { generateHistory } from './generate.ts';
import type { GenerateOptions } from './generate.ts';
import type { HistoryOp } from './history.ts';

const SEEDS = 40;

function optionsFor(seed: number): GenerateOptions {
  const prng = new SeededPrng(seed);
  return {
    seed,
    ops: 500 + prng.nextInt(2500),
    keys: 1 + prng.nextInt(30),
    clients: 2 + prng.nextInt(40),
    unknownRatio: prng.nextInt(4) * 0.02,
    failRatio: prng.nextInt(3) * 0.02,
    valuesDistinct: prng.nextInt(2) === 0,
    opDurationMaxMs: 1 + prng.nextInt(40),
  };
}

function describe(seed: number, extra = ''): string {
  return `seed ${seed} (${JSON.stringify(optionsFor(seed))})${extra}`;
}

test('generated linearizable histories pass', () => {
  for (let seed = 1; seed <= SEEDS; seed++) {
    const r = checkHistory(generateHistory(optionsFor(seed)));
    assert.ok(r.ok, `${describe(seed)}:\n${formatResult(r)}`);
  }
});

test('a read corrupted to a value never written to its key fails on that key', () => {
  for (let seed = 1; seed <= SEEDS; seed++) {
    const ops = generateHistory(optionsFor(seed));
    const prng = new SeededPrng(seed ^ 0x5eed);
    const reads = ops.map((op, i) => ({ op, i })).filter(({ op }) => op.op === 'get' && op.outcome === 'ok');
    const victim = reads[prng.nextInt(reads.length)];
    if (victim === undefined) throw new Error(`${describe(seed)}: no ok read to corrupt`);
    // The generator writes only v<number> values, so this one was never written anywhere.
    ops[victim.i] = { ...victim.op, result: `corrupt-${seed}` };
    const r = checkHistory(ops);
    const where = describe(seed, `, read #${victim.op.id} on key ${victim.op.key}`);
    assert.is(r.verdict, 'violation', `${where}:\n${formatResult(r)}`);
    if (r.verdict !== 'violation') continue;
    assert.equal(r.failingKeys, [victim.op.key], where);
    assert.ok(r.violation.blocked.some((b) => b.op.id === victim.op.id), `${where}:\n${r.explanation}`);
  }
});

/**
 * A read R and a put P that returned before R was called, such that every other op that may write
 * the key returned before P was called or was called after R returned: R must then return P's value.
 */
function findForcedRead(ops: readonly HistoryOp[]): { read: HistoryOp; index: number; stale: string } | null {
  const live = ops.filter((op) => op.outcome !== 'fail');
  const mayWrite = (op: HistoryOp): boolean => op.op === 'put' || op.op === 'delete' || (op.op === 'cas' && op.result !== false);
  for (let index = 0; index < ops.length; index++) {
    const read = ops[index] as HistoryOp;
    if (read.op !== 'get' || read.outcome !== 'ok') continue;
    const readReturnMs = read.returnMs as number;
    for (const put of live) {
      if (put.op !== 'put' || put.outcome !== 'ok' || (put.returnMs as number) >= read.callMs || put.key !== read.key) continue;
      const others = live.filter((op) => op !== put && op.key === read.key && mayWrite(op));
      const isolated = others.every((op) => (op.returnMs !== null && op.outcome === 'ok' && op.returnMs < put.callMs) || op.callMs > readReturnMs);
      // A stale value: something written before P, different from P's value.
      const stale = others.find((op) => op.op === 'put' && op.value !== put.value && op.callMs < put.callMs);
      if (isolated && stale !== undefined && typeof stale.value === 'string') return { read, index, stale: stale.value };
    }
  }
  return null;
}

test('a read corrupted to an overwritten value (a stale read) fails', () => {
  let found = 0;
  for (let seed = 1; seed <= SEEDS; seed++) {
    const ops = generateHistory({ ...optionsFor(seed), ops: 400 });
    const forced = findForcedRead(ops);
    if (forced === null) continue;
    found++;
    ops[forced.index] = { ...forced.read, result: forced.stale };
    const r = checkHistory(ops);
    assert.is(r.verdict, 'violation', `${describe(seed, `, read #${forced.read.id} made stale`)}:\n${formatResult(r)}`);
  }
  assert.ok(found >= SEEDS / 4, `only ${found} of ${SEEDS} seeds had a read to make stale`);
});

// Small histories around the edge of linearizability: generated ones with one mutation, and
// entirely random ones. The brute force decides each by trying every order.
function smallHistory(seed: number): HistoryOp[] {
  const prng = new SeededPrng(seed * 7919);
  if (prng.nextInt(3) === 0) return randomHistory(prng);
  const ops = generateHistory({
    seed, ops: 3 + prng.nextInt(11), keys: 1 + prng.nextInt(2), clients: 2 + prng.nextInt(5),
    unknownRatio: prng.nextInt(3) * 0.15, failRatio: 0.05, valuesDistinct: prng.nextInt(2) === 0, opDurationMaxMs: 10, thinkMaxMs: 3,
  });
  const m = prng.nextInt(ops.length);
  const op = ops[m] as HistoryOp;
  const values = ['v0', 'v1', 'v2', `v${prng.nextInt(ops.length)}`, null];
  switch (prng.nextInt(4)) {
    case 0: if (op.op === 'get') ops[m] = { ...op, result: values[prng.nextInt(values.length)] }; break;
    case 1: if (op.op === 'cas' && op.outcome === 'ok') ops[m] = { ...op, result: op.result !== true }; break;
    case 2: if (op.returnMs !== null) ops[m] = { ...op, callMs: op.callMs + 3, returnMs: op.returnMs + 3 + prng.nextInt(5) }; break;
    default: if (op.outcome !== 'fail' && op.op !== 'get') ops[m] = { ...op, outcome: 'unknown', returnMs: null }; break;
  }
  return ops;
}

function randomHistory(prng: SeededPrng): HistoryOp[] {
  const values = ['a', 'b', 'c'];
  const value = (): string => values[prng.nextInt(values.length)] as string;
  const maybe = (): string | null => (prng.nextInt(4) === 0 ? null : value());
  const ops: HistoryOp[] = [];
  for (let id = 0, n = 1 + prng.nextInt(12); id < n; id++) {
    const callMs = prng.nextInt(20);
    const r = prng.nextInt(10);
    const outcome = r < 4 ? 'unknown' : r < 5 ? 'fail' : 'ok';
    const base = { id, client: id, key: 'k', callMs, returnMs: outcome === 'unknown' ? null : callMs + prng.nextInt(8), outcome } as const;
    switch (prng.nextInt(4)) {
      case 0: ops.push({ ...base, op: 'put', value: value() }); break;
      case 1: ops.push({ ...base, op: 'delete' }); break;
      case 2: ops.push({ ...base, op: 'get', result: maybe() }); break;
      default: ops.push({ ...base, op: 'cas', expected: maybe(), value: value(), result: prng.nextInt(2) === 0 }); break;
    }
  }
  return ops;
}

test('on small histories the checker agrees with a brute-force search', () => {
  const verdicts = { linearizable: 0, violation: 0 };
  for (let seed = 1; seed <= 6000; seed++) {
    const ops = smallHistory(seed);
    const expected = bruteForceLinearizable(ops);
    const r = checkHistory(ops);
    if (r.ok !== expected) {
      assert.unreachable(`seed ${seed}: brute force says ${expected}, checker says ${r.verdict}\n${JSON.stringify(ops)}\n${formatResult(r)}`);
    }
    verdicts[expected ? 'linearizable' : 'violation']++;
  }
  // Both verdicts must be well represented, or the comparison proves little.
  assert.ok(verdicts.linearizable > 1000 && verdicts.violation > 1000, JSON.stringify(verdicts));
});

test.run();
