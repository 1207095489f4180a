// Inflights: the per-follower ring of in-flight AppendEntries, capped by count and by bytes.
// A seeded model check drives it through many wrap-arounds against a plain array.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { AssertionError } from '../../src/core/assert.ts';
import { Inflights } from '../../src/core/inflights.ts';
import { SeededPrng } from '../../src/core/prng.ts';

const test = suite('Inflights');

function isAssertion(e: unknown): boolean {
  return e instanceof AssertionError;
}

test('full() once the message count reaches msgsMax', () => {
  const inf = new Inflights(3, 1_000_000);
  inf.add(1, 10);
  inf.add(2, 10);
  assert.is(inf.full(), false);
  inf.add(3, 10);
  assert.is(inf.full(), true);
  assert.is(inf.count, 3);
  assert.is(inf.bytes, 30);
});

test('full() once the bytes reach bytesMax, even with message slots left', () => {
  const inf = new Inflights(10, 100);
  inf.add(1, 60);
  assert.is(inf.full(), false);
  inf.add(2, 40);
  assert.is(inf.bytes, 100);
  assert.is(inf.full(), true);
  inf.freeLE(1);
  assert.is(inf.bytes, 40);
  assert.is(inf.full(), false);
});

test('one message larger than bytesMax is accepted into an empty window, which is then full', () => {
  const inf = new Inflights(10, 100);
  inf.add(5, 500);
  assert.is(inf.full(), true);
  assert.is(inf.count, 1);
});

test('add when full throws an AssertionError and changes nothing', () => {
  const inf = new Inflights(2, 1_000_000);
  inf.add(1, 1);
  inf.add(2, 1);
  assert.throws(() => inf.add(3, 1), isAssertion);
  assert.is(inf.count, 2);
  assert.is(inf.bytes, 2);
  const byBytes = new Inflights(5, 10);
  byBytes.add(1, 10);
  assert.throws(() => byBytes.add(2, 1), isAssertion);
});

test('add requires strictly increasing last indexes', () => {
  const inf = new Inflights(4, 1_000_000);
  inf.add(5, 1);
  assert.throws(() => inf.add(5, 1), isAssertion);
  assert.throws(() => inf.add(4, 1), isAssertion);
  inf.add(6, 1);
  assert.is(inf.count, 2);
});

test('freeLE frees exactly the messages at or below the index, oldest first', () => {
  const inf = new Inflights(8, 1_000_000);
  inf.add(3, 1);
  inf.add(6, 2);
  inf.add(9, 4);
  inf.freeLE(2);
  assert.is(inf.count, 3, 'nothing at or below 2');
  inf.freeLE(7);
  assert.is(inf.count, 1, 'frees 3 and 6; 9 is only partly acknowledged');
  assert.is(inf.bytes, 4);
  inf.freeLE(100);
  assert.is(inf.count, 0);
  assert.is(inf.bytes, 0);
});

test('after freeing everything any later index can be added again', () => {
  const inf = new Inflights(2, 1_000_000);
  inf.add(10, 1);
  inf.freeLE(10);
  inf.add(11, 1);
  assert.is(inf.count, 1);
});

test('reset empties the window', () => {
  const inf = new Inflights(2, 100);
  inf.add(1, 50);
  inf.add(2, 50);
  inf.reset();
  assert.is(inf.count, 0);
  assert.is(inf.bytes, 0);
  assert.is(inf.full(), false);
});

test('the ring matches a plain array model over thousands of wrapping adds and frees', () => {
  const seed = 0x1f2e3d;
  const prng = new SeededPrng(seed);
  const msgsMax = 5;
  const bytesMax = 300;
  const inf = new Inflights(msgsMax, bytesMax);
  const model: Array<{ last: number; bytes: number }> = [];
  let last = 0;
  for (let step = 0; step < 5000; step++) {
    const modelBytes = model.reduce((s, m) => s + m.bytes, 0);
    const modelFull = model.length === msgsMax || modelBytes >= bytesMax;
    const where = `(seed ${seed}, step ${step})`;
    assert.is(inf.count, model.length, `count ${where}`);
    assert.is(inf.bytes, modelBytes, `bytes ${where}`);
    assert.is(inf.full(), modelFull, `full ${where}`);
    if (!modelFull && prng.nextInt(3) !== 0) {
      last += 1 + prng.nextInt(4);
      const bytes = 1 + prng.nextInt(100);
      inf.add(last, bytes);
      model.push({ last, bytes });
    } else {
      const upTo = last - prng.nextInt(12);
      inf.freeLE(upTo);
      while (model.length > 0 && model[0]!.last <= upTo) model.shift();
    }
  }
});

test.run();
