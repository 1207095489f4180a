// The binary data trees that snapshots keep cached session answers in, and the byte reader's
// refusals.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ByteReader, ByteWriter } from '../../src/core/kv/bytes.ts';
import { readTree, writeTree, type Tree } from '../../src/core/kv/tree.ts';

const t = suite('kv tree');

function roundTrip(x: Tree | undefined): Tree {
  const w = new ByteWriter(4);
  writeTree(w, x);
  const r = new ByteReader(w.finish(), 'tree');
  const out = readTree(r);
  assert.ok(r.done, 'every byte read');
  return out;
}

t('every kind of value round-trips, byte values as bytes', () => {
  const cases: Tree[] = [
    null, true, false, 0, -1.5, 2 ** 53 - 1, Infinity, '', 'text', 'ключ 🔑', new Uint8Array(0), new Uint8Array([0, 255]),
    [], [1, 'a', null, [new Uint8Array([7])]],
    { op: 'txn', index: 9, succeeded: true, results: [{ op: 'get', kv: { key: 'k', value: new Uint8Array([1, 2]), createRevision: 1, modRevision: 2, version: 2, lease: 0 } }, { op: 'get', kv: null }] },
    { '': 1, 'ü': { nested: [] } },
  ];
  for (const c of cases) assert.equal(roundTrip(c), c, JSON.stringify(c));
  const bytes = roundTrip({ v: new Uint8Array([3]) }) as { v: Tree };
  assert.instance(bytes.v, Uint8Array);
  assert.ok(Number.isNaN(roundTrip(NaN)));
});

t('undefined fields are dropped; a top-level undefined reads as null', () => {
  assert.equal(roundTrip({ a: 1, b: undefined } as unknown as Tree), { a: 1 });
  assert.is(roundTrip(undefined), null);
});

t('damage is refused: unknown tags, nesting past 32, truncation', () => {
  assert.throws(() => readTree(new ByteReader(new Uint8Array([9]), 'tree')), /data tree: unknown tag 9/);
  let deep: Tree = 1;
  for (let i = 0; i < 33; i++) deep = [deep];
  const w = new ByteWriter();
  writeTree(w, deep);
  assert.throws(() => readTree(new ByteReader(w.finish(), 'tree')), /nested too deep/);
  let ok: Tree = 1;
  for (let i = 0; i < 32; i++) ok = [ok];
  assert.equal(roundTrip(ok), ok, '32 levels are fine');
  const full = new ByteWriter();
  writeTree(full, { key: 'value' });
  const b = full.finish();
  for (let n = 0; n < b.length; n++) assert.throws(() => readTree(new ByteReader(b.subarray(0, n), 'tree')), /tree: truncated/, `cut at ${n}`);
});

t('the byte reader: varints up to 2^53, a longer one refused, byte strings of any byte', () => {
  for (const v of [0, 1, 127, 128, 300, 2 ** 32, 2 ** 53 - 1]) {
    const r = new ByteReader(new ByteWriter().varint(v).finish(), 'v');
    assert.is(r.varint(), v);
    assert.ok(r.done);
  }
  assert.throws(() => new ByteWriter().varint(-1), /varint of -1/);
  assert.throws(() => new ByteWriter().varint(1.5), /varint of 1.5/);
  assert.throws(() => new ByteReader(new Uint8Array(9).fill(0x80), 'v').varint(), /v: varint too long/);
  const s = '\u0000\u00ff\u0080a';
  const r = new ByteReader(new ByteWriter().bin(s).finish(), 'b');
  assert.is(r.bin(), s);
  assert.throws(() => new ByteWriter().bin('é\u0100'), /one byte per char/);
});

t.run();
