// The SDK's keys: strings stand for their UTF-8 bytes and come back as the strings they were,
// bytes that are not UTF-8 come back as bytes, every range spec turns into the [start, end) a
// request carries, and every bad key or spec is refused naming the problem. Transactions written
// as plain objects turn into the protocol's compares and operations the same way.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { fromWire, keyText, requestKey, requestRange, sameKey } from '../../src/client/keys.ts';
import { leaseIdOf, toWireTxn, fromWireResult } from '../../src/client/txn.ts';
import { byteKey, userKey } from '../../src/core/kv/keys.ts';

const t = suite('client keys and txn objects');

t('string keys are their UTF-8 bytes and come back as the same strings; other bytes come back as bytes', () => {
  assert.is(requestKey('a/b'), 'a/b', 'ASCII costs nothing');
  const k = requestKey('é');
  assert.is(k, '\u00c3\u00a9', 'one char per UTF-8 byte');
  assert.is(userKey(k), 'é');
  assert.is(requestKey(new Uint8Array([0xc3, 0xa9])), k, 'the same bytes as a Uint8Array are the same key');
  const raw = requestKey(new Uint8Array([0xff, 0x01]));
  assert.equal(userKey(raw), new Uint8Array([0xff, 0x01]), 'not UTF-8: bytes');
  assert.ok(sameKey('é', new Uint8Array([0xc3, 0xa9])));
  assert.not.ok(sameKey('a', 'b'));
  assert.is(keyText(new Uint8Array([0xff, 0x01])), '0xff01');
  const kv = fromWire({ key: raw, value: 'v', createRevision: 3, modRevision: 5, version: 2, lease: 7 });
  assert.equal(kv, { key: new Uint8Array([0xff, 0x01]), value: 'v', createRevision: 3, modRevision: 5, version: 2, lease: 7 });
});

t('bad keys are refused with ERR_BAD_REQUEST naming the problem', () => {
  const refused = (k: unknown, re: RegExp) => {
    try {
      requestKey(k);
      assert.unreachable(`${String(k)} was accepted`);
    } catch (err) {
      assert.is((err as { code: string }).code, 'ERR_BAD_REQUEST');
      assert.match((err as Error).message, re);
    }
  };
  assert.is(requestKey(''), '', 'the empty key is a key (the first of all)');
  refused(42, /string or a Uint8Array \(got number\)/);
  refused(null, /got null/);
  refused('\u0000members', /reserved/);
  refused(new Uint8Array([0, 1]), /reserved/);
});

t('range specs: one key, a prefix (empty: every key, 0xff...: to the end), [start, end) and [start, ...)', () => {
  assert.equal(requestRange({ key: 'k' }), { start: 'k', end: 'k\u0000' });
  assert.equal(requestRange({ prefix: 'a/' }), { start: 'a/', end: 'a0' });
  assert.equal(requestRange({ prefix: '' }), { start: '', end: null });
  assert.equal(requestRange({ prefix: new Uint8Array([0x61, 0xff]) }), { start: 'a\u00ff', end: 'b' });
  assert.equal(requestRange({ prefix: new Uint8Array([0xff, 0xff]) }), { start: '\u00ff\u00ff', end: null });
  assert.equal(requestRange({ start: 'b', end: 'd' }), { start: 'b', end: 'd' });
  assert.equal(requestRange({ start: 'b' }), { start: 'b', end: null });
  assert.equal(requestRange({ start: 'b', end: null }), { start: 'b', end: null });
  assert.equal(requestRange({ start: 'é' }).start, byteKey('é'));
  assert.throws(() => requestRange({ start: 'd', end: 'b' }), /end must sort after its start/);
  assert.throws(() => requestRange({ start: 'b', end: 'b' }), /end must sort after its start/);
  assert.throws(() => requestRange({ key: 'a', prefix: 'b' } as never), /exactly one of key, prefix or start \(got key and prefix\)/);
  assert.throws(() => requestRange({} as never), /exactly one of key, prefix or start \(got none\)/);
  assert.equal(requestRange({ key: '' }), { start: '', end: '\u0000' });
});

t('a transaction of plain objects becomes the protocol form; a bad item is refused naming it', () => {
  const w = toWireTxn({
    compare: [
      { key: 'a', target: 'value', op: '=', value: 'x' },
      { key: 'é', target: 'createRevision', op: '=', value: 0 },
    ],
    success: [
      { op: 'put', key: 'a', value: 'y', lease: { id: 9 } },
      { op: 'put', key: 'b', value: 'z' },
      { op: 'deleteRange', prefix: 'p/' },
      { op: 'range', start: 'r', end: 's', limit: 5 },
      { op: 'range', key: 'q' },
    ],
    failure: [{ op: 'get', key: 'a' }, { op: 'delete', key: 'a' }],
  });
  assert.equal(w.compare, [{ key: 'a', target: 'value', op: '=', value: 'x' }, { key: byteKey('é'), target: 'createRevision', op: '=', value: 0 }]);
  assert.equal(w.success, [
    { op: 'put', key: 'a', value: 'y', lease: 9 },
    { op: 'put', key: 'b', value: 'z' },
    { op: 'deleteRange', start: 'p/', end: 'p0' },
    { op: 'range', start: 'r', end: 's', limit: 5 },
    { op: 'range', start: 'q', end: 'q\u0000', limit: 10_000 },
  ]);
  assert.equal(w.failure, [{ op: 'get', key: 'a' }, { op: 'delete', key: 'a' }]);
  assert.equal(toWireTxn({}), { compare: [], success: [], failure: [] });
  assert.throws(() => toWireTxn({ compare: [{ key: 'a', target: 'size' as 'value', op: '=', value: 'x' }] }), /compare 0's target must be one of value, version/);
  assert.throws(() => toWireTxn({ compare: [{ key: 'a', target: 'value', op: '>=' as '=', value: 'x' }] }), /compare 0's op must be one of = != < >/);
  assert.throws(() => toWireTxn({ compare: [{ key: 'a', target: 'version', op: '=', value: -1 }] }), /compare 0 compares version: its value must be a non-negative integer/);
  assert.throws(() => toWireTxn({ compare: [{ key: 'a', target: 'value', op: '=', value: 3 as unknown as string }] }), /compare 0 compares a value/);
  assert.throws(() => toWireTxn({ success: [{ op: 'put', key: 'a', value: 'v' }, { op: 'incr' } as never] }), /success 1's op must be put, delete, deleteRange, get or range \(got "incr"\)/);
  assert.throws(() => toWireTxn({ failure: [{ op: 'put', key: '\u0000x', value: 'v' }] }), /failure 0's key starts with byte 0x00/);
  assert.throws(() => toWireTxn({ success: [{ op: 'range', prefix: 'a', limit: 0 }] }), /limit must be a positive integer/);
  assert.throws(() => toWireTxn({ success: 'put' as never }), /success must be a list/);
  assert.throws(() => leaseIdOf(-1), /lease must be a lease \(or its id/);
  assert.is(leaseIdOf(undefined), 0);
  assert.equal(fromWireResult({ op: 'range', kvs: [{ key: 'k', value: 'v', createRevision: 1, modRevision: 2, version: 2, lease: 0 }], more: true }),
    { op: 'range', kvs: [{ key: 'k', value: 'v', createRevision: 1, modRevision: 2, version: 2, lease: 0 }], more: true });
});

t.run();
