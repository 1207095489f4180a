// The machine's etcd semantics: revisions of each key, transactions (compares, branches, results,
// atomicity), range deletes around the reserved keys, leases, the events of each revision, the
// bounded history, and snapshots that keep all of it.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { encodeCommand, type CommandEnvelope, type Compare, type CompareOp, type KvCommand, type TxnOp } from '../../src/core/kv/command.ts';
import { ByteWriter } from '../../src/core/kv/bytes.ts';
import { eventBytes } from '../../src/core/kv/history.ts';
import { byteKey } from '../../src/core/kv/keys.ts';
import { KvMachine, type KeyValue, type KvEvent, type KvMachineOptions, type KvResult } from '../../src/core/kv/machine.ts';
import type { Entry } from '../../src/core/types.ts';

const t = suite('kv revisions');

class Log {
  readonly m: KvMachine;
  index = 0;
  now = 1000;
  /** Every revision's events, as the machine delivered them. */
  readonly events: Array<[number, readonly KvEvent[]]> = [];
  readonly leaseCalls: Array<[number, number | null, number]> = [];
  constructor(o: KvMachineOptions = {}) {
    this.m = new KvMachine(o);
    this.m.onEvents((rev, evs) => this.events.push([rev, evs]));
    this.m.onLease((id, ttl, e) => this.leaseCalls.push([id, ttl, e.index]));
  }
  run(cmd: KvCommand, session: CommandEnvelope['session'] = null): KvResult {
    const e: Entry = { index: ++this.index, term: 1, type: 'normal', data: encodeCommand({ timeMs: this.now, session, cmd }) };
    return this.m.apply(e)!;
  }
  /** A no-op entry (a new leader's): a revision with no events. */
  noop(): void {
    this.m.apply({ index: ++this.index, term: 1, type: 'noop', data: new Uint8Array(0) });
  }
}

const kv = (key: string, value: KeyValue['value'], createRevision: number, modRevision: number, version: number, lease = 0): KeyValue =>
  ({ key, value, createRevision, modRevision, version, lease });
const code = (r: KvResult): string | undefined => (r.op === 'error' ? r.code : undefined);

t('create and mod revisions and the version follow each write, and restart after a delete', () => {
  const l = new Log();
  l.run({ op: 'put', key: 'k', value: 'a' });
  assert.equal(l.m.getKv('k'), kv('k', 'a', 1, 1, 1));
  l.run({ op: 'put', key: 'other', value: 'x' });
  l.run({ op: 'put', key: 'k', value: 'b' });
  assert.equal(l.m.getKv('k'), kv('k', 'b', 1, 3, 2));
  assert.equal(l.run({ op: 'cas', key: 'k', expected: 'b', value: 'c' }), { op: 'cas', index: 4, swapped: true });
  assert.equal(l.m.getKv('k'), kv('k', 'c', 1, 4, 3));
  l.run({ op: 'cas', key: 'k', expected: 'zzz', value: 'd' });
  assert.equal(l.m.getKv('k'), kv('k', 'c', 1, 4, 3), 'a failed cas writes nothing');
  l.run({ op: 'delete', key: 'k' });
  assert.is(l.m.getKv('k'), undefined);
  l.run({ op: 'put', key: 'k', value: 'again' });
  assert.equal(l.m.getKv('k'), kv('k', 'again', 7, 7, 1), 'recreated: a new life from revision 7');
  assert.is(l.m.revision, 7);
  assert.is(l.m.appliedIndex, 7);
});

t('every entry is a revision, with or without events', () => {
  const l = new Log();
  l.run({ op: 'put', key: 'a', value: '1' });
  l.noop();
  l.run({ op: 'delete', key: 'missing' });
  assert.is(l.m.revision, 3);
  assert.equal(l.events.map(([r]) => r), [1], 'only revision 1 had events');
  l.run({ op: 'put', key: 'a', value: '2' });
  assert.equal(l.m.getKv('a'), kv('a', '2', 1, 4, 2), 'modRevision is the entry index');
});

/** Puts a key with createRevision 1, modRevision 3, version 2, lease 9. */
function compareFixture(): Log {
  const l = new Log();
  l.run({ op: 'leaseGrant', id: 9, ttlMs: 1000 });
  l.run({ op: 'put', key: 'k', value: 'm' });
  l.run({ op: 'put', key: 'k', value: 'm', lease: 9 });
  assert.equal(l.m.getKv('k'), kv('k', 'm', 2, 3, 2, 9));
  return l;
}

t('txn compares on every target and operator, against an existing key', () => {
  const l = compareFixture();
  const cases: Array<[Compare['target'], number | string, Record<CompareOp, boolean>]> = [
    ['value', 'm', { '=': true, '!=': false, '<': false, '>': false }],
    ['value', 'a', { '=': false, '!=': true, '<': false, '>': true }],
    ['value', 'z', { '=': false, '!=': true, '<': true, '>': false }],
    ['value', 'mm', { '=': false, '!=': true, '<': true, '>': false }],
    ['version', 2, { '=': true, '!=': false, '<': false, '>': false }],
    ['version', 1, { '=': false, '!=': true, '<': false, '>': true }],
    ['version', 3, { '=': false, '!=': true, '<': true, '>': false }],
    ['createRevision', 2, { '=': true, '!=': false, '<': false, '>': false }],
    ['createRevision', 5, { '=': false, '!=': true, '<': true, '>': false }],
    ['modRevision', 3, { '=': true, '!=': false, '<': false, '>': false }],
    ['modRevision', 2, { '=': false, '!=': true, '<': false, '>': true }],
    ['lease', 9, { '=': true, '!=': false, '<': false, '>': false }],
    ['lease', 0, { '=': false, '!=': true, '<': false, '>': true }],
  ];
  for (const [target, value, want] of cases) {
    for (const op of ['=', '!=', '<', '>'] as const) {
      const c = (target === 'value' ? { key: 'k', target, op, value: value as string } : { key: 'k', target, op, value: value as number }) as Compare;
      const r = l.run({ op: 'txn', compare: [c], success: [], failure: [] });
      assert.ok(r.op === 'txn');
      assert.is(r.succeeded, want[op], `${target} ${op} ${value}`);
    }
  }
  // A byte value compares by its bytes: 'm' is 0x6d.
  const r = l.run({ op: 'txn', compare: [{ key: 'k', target: 'value', op: '=', value: new Uint8Array([0x6d]) }], success: [], failure: [] });
  assert.ok(r.op === 'txn' && r.succeeded);
});

t('txn compares against a missing key: a value compare holds only for !=, numeric targets are 0', () => {
  const l = new Log();
  l.run({ op: 'put', key: 'present', value: 'x' });
  const want: Record<string, Record<CompareOp, boolean>> = {
    'value:': { '=': false, '!=': true, '<': false, '>': false },
    'value:x': { '=': false, '!=': true, '<': false, '>': false },
    'version:0': { '=': true, '!=': false, '<': false, '>': false },
    'version:1': { '=': false, '!=': true, '<': true, '>': false },
    'createRevision:0': { '=': true, '!=': false, '<': false, '>': false },
    'modRevision:0': { '=': true, '!=': false, '<': false, '>': false },
    'modRevision:-1': { '=': false, '!=': true, '<': false, '>': true },
    'lease:0': { '=': true, '!=': false, '<': false, '>': false },
  };
  for (const [spec, ops] of Object.entries(want)) {
    const [target, raw] = spec.split(':') as [Compare['target'], string];
    for (const op of ['=', '!=', '<', '>'] as const) {
      const c = (target === 'value' ? { key: 'missing', target, op, value: raw } : { key: 'missing', target, op, value: Number(raw) }) as Compare;
      const r = l.run({ op: 'txn', compare: [c], success: [], failure: [] });
      assert.ok(r.op === 'txn');
      assert.is(r.succeeded, ops[op], `missing ${target} ${op} ${raw}`);
    }
  }
});

t('txn runs the success branch when every compare holds, else the failure branch, with results', () => {
  const l = new Log();
  l.run({ op: 'put', key: 'a', value: '1' }); // 1
  l.run({ op: 'put', key: 'b', value: '2' }); // 2
  l.run({ op: 'put', key: 'c', value: '3' }); // 3
  const success: TxnOp[] = [
    { op: 'put', key: 'x', value: 'new' },
    { op: 'get', key: 'x' },
    { op: 'get', key: 'nope' },
    { op: 'delete', key: 'c' },
    { op: 'delete', key: 'c' },
    { op: 'range', start: 'a', end: 'z', limit: 2 },
    { op: 'range', start: 'a', end: null, limit: 10 },
  ];
  const failure: TxnOp[] = [{ op: 'put', key: 'failed', value: 'yes' }, { op: 'get', key: 'a' }];
  const both = (compare: Compare[]) => ({ op: 'txn' as const, compare, success, failure });
  const r = l.run(both([{ key: 'a', target: 'value', op: '=', value: '1' }, { key: 'b', target: 'version', op: '=', value: 1 }]));
  assert.equal(r, {
    op: 'txn', index: 4, succeeded: true, results: [
      { op: 'put' },
      { op: 'get', kv: kv('x', 'new', 4, 4, 1) },
      { op: 'get', kv: null },
      { op: 'delete', deleted: 1 },
      { op: 'delete', deleted: 0 },
      { op: 'range', kvs: [kv('a', '1', 1, 1, 1), kv('b', '2', 2, 2, 1)], more: true },
      { op: 'range', kvs: [kv('a', '1', 1, 1, 1), kv('b', '2', 2, 2, 1), kv('x', 'new', 4, 4, 1)], more: false },
    ],
  }, 'later operations see earlier ones of the same txn');
  assert.equal(l.events.at(-1), [4, [
    { type: 'put', kv: kv('x', 'new', 4, 4, 1), prev: null },
    { type: 'delete', kv: kv('c', '', 0, 4, 0), prev: kv('c', '3', 3, 3, 1) },
  ]], 'one revision for the whole txn');
  // One compare fails: the failure branch runs.
  const f = l.run(both([{ key: 'a', target: 'value', op: '=', value: '1' }, { key: 'b', target: 'version', op: '=', value: 7 }]));
  assert.equal(f, { op: 'txn', index: 5, succeeded: false, results: [{ op: 'put' }, { op: 'get', kv: kv('a', '1', 1, 1, 1) }] });
  assert.is(l.m.get('failed'), 'yes');
  assert.is(l.m.getKv('x')!.version, 1, 'the success branch did not run again');
  // No compares at all: success.
  const n = l.events.length;
  const e = l.run({ op: 'txn', compare: [], success: [{ op: 'get', key: 'a' }], failure: [] });
  assert.ok(e.op === 'txn' && e.succeeded);
  assert.is(l.events.length, n, 'a read-only txn makes no events');
});

t('a txn range with limit 0 is unlimited (as etcd, and as the protocol sends "no limit")', () => {
  const l = new Log();
  for (const k of ['a', 'b', 'c']) l.run({ op: 'put', key: k, value: k });
  const r = l.run({ op: 'txn', compare: [], success: [{ op: 'range', start: '', end: null, limit: 0 }], failure: [] });
  assert.ok(r.op === 'txn');
  assert.equal(r.results, [{ op: 'range', kvs: [kv('a', 'a', 1, 1, 1), kv('b', 'b', 2, 2, 1), kv('c', 'c', 3, 3, 1)], more: false }]);
});

t('a txn whose chosen branch puts with an unknown lease fails whole: ERR_LEASE_NOT_FOUND, nothing written', () => {
  const l = new Log();
  l.run({ op: 'put', key: 'a', value: 'old' });
  const before = l.events.length;
  const r = l.run({ op: 'txn', compare: [], success: [{ op: 'put', key: 'a', value: 'new' }, { op: 'delete', key: 'a' }, { op: 'put', key: 'b', value: 'v', lease: 42 }], failure: [] });
  assert.is(code(r), 'ERR_LEASE_NOT_FOUND');
  assert.match((r as { message: string }).message, /lease 42 does not exist/);
  assert.is(r.index, 2);
  assert.equal(l.m.getKv('a'), kv('a', 'old', 1, 1, 1));
  assert.is(l.m.get('b'), undefined);
  assert.is(l.events.length, before, 'no events');
  assert.is(l.m.revision, 2, 'the entry still counts as a revision');
  // The same unknown lease in the branch not taken does no harm.
  const ok = l.run({ op: 'txn', compare: [], success: [{ op: 'put', key: 'a', value: 'new' }], failure: [{ op: 'put', key: 'b', value: 'v', lease: 42 }] });
  assert.ok(ok.op === 'txn' && ok.succeeded);
  assert.is(l.m.get('a'), 'new');
  // A plain put with an unknown lease fails the same way.
  assert.is(code(l.run({ op: 'put', key: 'c', value: 'v', lease: 42 })), 'ERR_LEASE_NOT_FOUND');
  assert.is(l.m.get('c'), undefined);
});

t('deleteRange deletes [start, end), counts what it deleted, and never touches reserved 0x00 keys', () => {
  const l = new Log();
  const reserved = ['\u0000member:a', '\u0000', '\u0000\u00ff'];
  for (const k of reserved) l.run({ op: 'put', key: k, value: 'addr' });
  for (const k of ['', 'a', 'a/1', 'a/2', 'b', '\u0001', byteKey('é')]) l.run({ op: 'put', key: k, value: 'v' });
  const all = ['', '\u0001', 'a', 'a/1', 'a/2', 'b', byteKey('é')];
  assert.equal(l.m.range('', null).map((x) => x.key), all, 'the empty key is a user key; the reserved ones after it are left out');
  assert.equal(l.m.range('', null, 3).map((x) => x.key), all.slice(0, 3));
  assert.equal(l.m.range('\u0000', null, 2).map((x) => x.key), ['\u0001', 'a'], 'a start among the reserved keys: the limit counts user keys');
  assert.equal(l.m.range('', '\u0000m').map((x) => x.key), [''], 'an end among the reserved keys');
  assert.equal(l.m.range('', '').map((x) => x.key), [], 'an empty range');
  const inTxn = l.run({ op: 'txn', compare: [], success: [{ op: 'range', start: '\u0000', end: null, limit: 1 }], failure: [] }); // 11
  assert.equal(inTxn.op === 'txn' && inTxn.results, [{ op: 'range', kvs: [kv('\u0001', 'v', 9, 9, 1)], more: true }]);
  assert.equal(l.run({ op: 'deleteRange', start: 'a/', end: 'a0' }), { op: 'deleteRange', index: 12, deleted: 2 });
  assert.equal(l.run({ op: 'deleteRange', start: 'a/', end: 'a0' }), { op: 'deleteRange', index: 13, deleted: 0 });
  assert.equal(l.events.at(-1), [12, [
    { type: 'delete', kv: kv('a/1', '', 0, 12, 0), prev: kv('a/1', 'v', 6, 6, 1) },
    { type: 'delete', kv: kv('a/2', '', 0, 12, 0), prev: kv('a/2', 'v', 7, 7, 1) },
  ]], 'one revision, in key order');
  // A range that starts inside the reserved keys, then everything.
  assert.equal(l.run({ op: 'deleteRange', start: '\u0000', end: 'b' }), { op: 'deleteRange', index: 14, deleted: 2 }, '\\x01 and a');
  assert.equal(l.run({ op: 'deleteRange', start: '', end: null }), { op: 'deleteRange', index: 15, deleted: 3 }, 'the empty key, b and é');
  assert.equal(l.m.scan().map(([k]) => k), [...reserved].sort(), 'the reserved keys are all still there');
  assert.equal(l.run({ op: 'deleteRange', start: '', end: null }), { op: 'deleteRange', index: 16, deleted: 0 });
});

t('leases: grants (auto id = the entry index, explicit ids), ERR_LEASE_EXISTS, attach and re-attach', () => {
  const l = new Log();
  assert.equal(l.run({ op: 'leaseGrant', id: 0, ttlMs: 5000 }), { op: 'leaseGrant', index: 1, id: 1, ttlMs: 5000 });
  assert.equal(l.run({ op: 'leaseGrant', id: 100, ttlMs: 2000 }), { op: 'leaseGrant', index: 2, id: 100, ttlMs: 2000 });
  const dup = l.run({ op: 'leaseGrant', id: 100, ttlMs: 1 });
  assert.is(code(dup), 'ERR_LEASE_EXISTS');
  assert.match((dup as { message: string }).message, /lease 100 exists/);
  // An auto id that an explicit grant already took: the next free one.
  l.run({ op: 'leaseGrant', id: 5, ttlMs: 1 }); // 4
  assert.equal(l.run({ op: 'leaseGrant', id: 0, ttlMs: 1 }), { op: 'leaseGrant', index: 5, id: 6, ttlMs: 1 }, 'index 5 is taken: the next free id');
  assert.equal(l.m.lease(100), { id: 100, ttlMs: 2000, owner: '', keys: [] });
  assert.equal(l.m.leases().map((x) => x.id).sort((a, b) => a - b), [1, 5, 6, 100]);
  assert.is(l.m.leaseCount, 4);
  l.run({ op: 'put', key: 'b', value: '1', lease: 100 }); // 6
  l.run({ op: 'put', key: 'a', value: '1', lease: 100 }); // 7
  l.run({ op: 'put', key: 'c', value: '1', lease: 1 }); // 8
  assert.equal(l.m.lease(100)!.keys, ['a', 'b'], 'in byte order');
  assert.equal(l.m.getKv('a'), kv('a', '1', 7, 7, 1, 100));
  // Re-attach a to lease 1, then detach b by a put without a lease.
  l.run({ op: 'put', key: 'a', value: '2', lease: 1 }); // 9
  l.run({ op: 'put', key: 'b', value: '2' }); // 10
  assert.equal(l.m.lease(100)!.keys, []);
  assert.equal(l.m.lease(1)!.keys, ['a', 'c']);
  assert.equal(l.m.getKv('b'), kv('b', '2', 6, 10, 2, 0));
  // A txn put attaches too; a delete detaches.
  l.run({ op: 'txn', compare: [], success: [{ op: 'put', key: 'd', value: 'x', lease: 100 }], failure: [] }); // 11
  l.run({ op: 'delete', key: 'c' }); // 12
  assert.equal(l.m.lease(100)!.keys, ['d']);
  assert.equal(l.m.lease(1)!.keys, ['a']);
  assert.equal(l.leaseCalls, [[1, 5000, 1], [100, 2000, 2], [5, 1, 4], [6, 1, 5]], 'grants told to lease listeners, failed ones not');
});

t('an expiry proposed in a term before the latest lease epoch is void; one from the epoch\'s term or later applies', () => {
  const l = new Log();
  l.run({ op: 'leaseGrant', id: 7, ttlMs: 1000 }); // 1
  l.run({ op: 'put', key: 'k', value: 'v', lease: 7 }); // 2
  assert.equal(l.run({ op: 'leaseEpoch', term: 3 }), { op: 'leaseEpoch', index: 3, term: 3 });
  assert.equal(l.run({ op: 'leaseExpire', id: 7, term: 2 }), { op: 'leaseExpire', index: 4, found: false, deleted: 0 }, 'a stale leader\'s expiry');
  assert.equal(l.run({ op: 'leaseExpire', id: 7 }), { op: 'leaseExpire', index: 5, found: false, deleted: 0 }, 'no term: 0, void too');
  assert.is(l.m.get('k'), 'v', 'the key lives');
  assert.equal(l.run({ op: 'leaseEpoch', term: 2 }), { op: 'leaseEpoch', index: 6, term: 3 }, 'an older epoch does not lower it');
  assert.equal(l.run({ op: 'leaseExpire', id: 7, term: 3 }), { op: 'leaseExpire', index: 7, found: true, deleted: 1 });
  assert.is(l.m.get('k'), undefined);
  const copy = new KvMachine();
  copy.restore(l.m.snapshot());
  assert.is(copy.leaseEpoch, 3, 'the epoch rides in snapshots');
});

t('a revoke deletes exactly its lease\'s keys in one revision; an expiry of an unknown lease finds nothing', () => {
  const l = new Log();
  l.run({ op: 'leaseGrant', id: 7, ttlMs: 1000 }); // 1
  l.run({ op: 'leaseGrant', id: 8, ttlMs: 1000 }); // 2
  for (const k of ['z', 'x', 'y']) l.run({ op: 'put', key: k, value: k, lease: 7 }); // 3, 4, 5
  l.run({ op: 'put', key: 'w', value: 'w', lease: 8 }); // 6
  l.run({ op: 'put', key: 'free', value: 'f' }); // 7
  assert.equal(l.run({ op: 'leaseRevoke', id: 7 }), { op: 'leaseRevoke', index: 8, deleted: 3 });
  assert.equal(l.events.at(-1), [8, [
    { type: 'delete', kv: kv('x', '', 0, 8, 0), prev: kv('x', 'x', 4, 4, 1, 7) },
    { type: 'delete', kv: kv('y', '', 0, 8, 0), prev: kv('y', 'y', 5, 5, 1, 7) },
    { type: 'delete', kv: kv('z', '', 0, 8, 0), prev: kv('z', 'z', 3, 3, 1, 7) },
  ]]);
  assert.equal(l.m.range('', null).map((x) => x.key), ['free', 'w']);
  assert.is(l.m.lease(7), undefined);
  assert.is(code(l.run({ op: 'leaseRevoke', id: 7 })), 'ERR_LEASE_NOT_FOUND', 'revoked already');
  assert.equal(l.run({ op: 'leaseExpire', id: 7 }), { op: 'leaseExpire', index: 10, found: false, deleted: 0 });
  assert.equal(l.run({ op: 'leaseExpire', id: 8 }), { op: 'leaseExpire', index: 11, found: true, deleted: 1 });
  assert.is(l.m.get('w'), undefined);
  assert.is(l.m.leaseCount, 0);
  // A lease with no keys revokes cleanly, with no events.
  l.run({ op: 'leaseGrant', id: 9, ttlMs: 1 }); // 12
  const n = l.events.length;
  assert.equal(l.run({ op: 'leaseRevoke', id: 9 }), { op: 'leaseRevoke', index: 13, deleted: 0 });
  assert.is(l.events.length, n);
  assert.equal(l.leaseCalls.filter(([, ttl]) => ttl === null), [[7, null, 8], [8, null, 11], [9, null, 13]]);
});

t('events: a put carries the previous key-value, a delete an empty key at the deleting revision', () => {
  const l = new Log();
  l.run({ op: 'put', key: 'k', value: 'a' });
  l.run({ op: 'put', key: 'k', value: new Uint8Array([1]) });
  l.run({ op: 'delete', key: 'k' });
  l.run({ op: 'cas', key: 'k', expected: null, value: 'c' });
  assert.equal(l.events, [
    [1, [{ type: 'put', kv: kv('k', 'a', 1, 1, 1), prev: null }]],
    [2, [{ type: 'put', kv: kv('k', new Uint8Array([1]), 1, 2, 2), prev: kv('k', 'a', 1, 1, 1) }]],
    [3, [{ type: 'delete', kv: kv('k', '', 0, 3, 0), prev: kv('k', new Uint8Array([1]), 1, 2, 2) }]],
    [4, [{ type: 'put', kv: kv('k', 'c', 4, 4, 1), prev: null }]],
  ]);
  assert.equal(l.m.history.since(1), l.events.map(([revision, events]) => ({ revision, events })), 'the history holds the same');
});

t('history: since(from) gives whole revisions from `from`, at most max events (at least one revision)', () => {
  const l = new Log();
  l.run({ op: 'put', key: 'a', value: '1' }); // 1
  l.noop(); // 2
  l.run({ op: 'txn', compare: [], success: [{ op: 'put', key: 'b', value: '1' }, { op: 'put', key: 'c', value: '1' }], failure: [] }); // 3
  l.run({ op: 'put', key: 'a', value: '2' }); // 4
  const revs = (x: ReturnType<typeof l.m.history.since>) => (x === 'compacted' ? x : x.map((b) => b.revision));
  assert.equal(revs(l.m.history.since(1)), [1, 3, 4]);
  assert.equal(revs(l.m.history.since(2)), [3, 4]);
  assert.equal(revs(l.m.history.since(4)), [4]);
  assert.equal(revs(l.m.history.since(5)), []);
  assert.equal(revs(l.m.history.since(1, 1)), [1]);
  assert.equal(revs(l.m.history.since(2, 1)), [3], 'a revision is never split: 2 events though max is 1');
  assert.equal(revs(l.m.history.since(1, 3)), [1, 3]);
  assert.is(l.m.history.events, 4);
  assert.is(l.m.history.lastRevision, 4);
  assert.is(l.m.history.compactRevision, 0);
  assert.equal(revs(l.m.history.since(0)), 'compacted', 'revision 0 is never in the history');
});

t('compaction by command: revisions at or below it are gone; past the store it is refused', () => {
  const l = new Log();
  for (let i = 1; i <= 5; i++) l.run({ op: 'put', key: `k${i}`, value: 'v' }); // 1..5
  assert.equal(l.run({ op: 'compact', revision: 3 }), { op: 'compact', index: 6, compactRevision: 3 });
  assert.is(l.m.history.compactRevision, 3);
  for (const r of [1, 2, 3]) assert.is(l.m.history.since(r), 'compacted', `revision ${r}`);
  assert.equal((l.m.history.since(4) as { revision: number }[]).map((b) => b.revision), [4, 5], 'R = compactRevision + 1 is there');
  assert.is(l.m.history.events, 2);
  // A compaction below the current one changes nothing.
  assert.equal(l.run({ op: 'compact', revision: 1 }), { op: 'compact', index: 7, compactRevision: 3 });
  // Up to the last revision is fine; the entry's own index or beyond is not.
  const bad = l.run({ op: 'compact', revision: 8 });
  assert.is(code(bad), 'ERR_BAD_REQUEST');
  assert.match((bad as { message: string }).message, /compaction to revision 8: the store is only at 7/);
  assert.equal(l.run({ op: 'compact', revision: 8 }), { op: 'compact', index: 9, compactRevision: 8 });
  assert.equal(l.m.history.since(9), []);
  assert.is(l.m.history.events, 0);
  assert.is(l.m.history.lastRevision, 8, 'empty: the compaction revision');
  l.run({ op: 'put', key: 'after', value: 'v' }); // 10
  assert.equal((l.m.history.since(9) as { revision: number }[]).map((b) => b.revision), [10]);
});

t('compaction by eventsMax drops the oldest revisions whole; compactRevision is the last one dropped', () => {
  const l = new Log({ history: { eventsMax: 3 } });
  l.run({ op: 'put', key: 'a', value: '1' }); // 1
  l.run({ op: 'put', key: 'b', value: '1' }); // 2
  l.noop(); // 3
  l.run({ op: 'put', key: 'c', value: '1' }); // 4
  assert.is(l.m.history.compactRevision, 0);
  l.run({ op: 'txn', compare: [], success: [{ op: 'put', key: 'd', value: '1' }, { op: 'put', key: 'e', value: '1' }], failure: [] }); // 5: 2 events
  assert.is(l.m.history.events, 3, 'revisions 4 and 5');
  assert.is(l.m.history.compactRevision, 2);
  assert.is(l.m.history.since(2), 'compacted');
  assert.equal((l.m.history.since(3) as { revision: number }[]).map((b) => b.revision), [4, 5], 'revision 3 had no events: nothing lost');
  // One revision bigger than the whole limit is still kept (the newest always is).
  l.run({ op: 'deleteRange', start: '', end: null }); // 6: 5 events
  assert.is(l.m.history.events, 5);
  assert.is(l.m.history.compactRevision, 5);
  assert.equal((l.m.history.since(6) as { revision: number }[]).map((b) => b.revision), [6]);
});

t('compaction by bytesMax counts keys and values of each event and its previous value', () => {
  const e = { type: 'put' as const, kv: kv('key', 'value', 1, 1, 1), prev: null };
  assert.is(eventBytes(e), 3 + 10 + 48, 'key bytes + 2 per string char + 48');
  assert.is(eventBytes({ type: 'put', kv: kv('ab', new Uint8Array(5), 1, 2, 2), prev: kv('ab', 'x', 1, 1, 1) }), (2 + 5 + 48) + (2 + 2 + 48));
  const l = new Log({ history: { bytesMax: 200 } });
  l.run({ op: 'put', key: 'k1', value: 'v'.repeat(20) }); // 2 + 40 + 48 = 90
  l.run({ op: 'put', key: 'k2', value: 'v'.repeat(20) }); // 180
  assert.is(l.m.history.bytes, 180);
  assert.is(l.m.history.compactRevision, 0);
  l.run({ op: 'put', key: 'k3', value: 'v' }); // 52: 232 > 200, drop revision 1
  assert.is(l.m.history.bytes, 142);
  assert.is(l.m.history.compactRevision, 1);
  l.run({ op: 'put', key: 'k3', value: 'w' }); // 52 + 52 = 104: 246, drop revision 2
  assert.is(l.m.history.bytes, 156);
  assert.is(l.m.history.compactRevision, 2);
  assert.equal((l.m.history.since(3) as { revision: number }[]).map((b) => b.revision), [3, 4]);
});

t('a snapshot keeps records with their revisions and leases, the history, and cached answers with bytes', () => {
  const l = new Log({ history: { eventsMax: 6 } });
  const client = (l.run({ op: 'register' }) as { client: number }).client; // 1
  l.run({ op: 'leaseGrant', id: 0, ttlMs: 3000, owner: 'acme' }); // 2: lease 2, owned by token subject acme
  l.run({ op: 'put', key: byteKey('ключ'), value: new Uint8Array([0, 200]), lease: 2 }); // 3
  l.run({ op: 'put', key: byteKey(new Uint8Array([0xff, 0x00])), value: 'bin key' }); // 4
  l.run({ op: 'put', key: 'a', value: '1' }); // 5
  l.run({ op: 'put', key: 'a', value: '2' }); // 6
  l.run({ op: 'put', key: 'b', value: 'x', lease: 2 }); // 7
  l.run({ op: 'compact', revision: 4 }); // 8
  const cached = l.run({
    op: 'txn', compare: [{ key: 'a', target: 'version', op: '=', value: 2 }],
    success: [{ op: 'get', key: byteKey('ключ') }, { op: 'range', start: 'a', end: 'c', limit: 1 }, { op: 'get', key: 'none' }],
    failure: [],
  }, { client, seq: 1, firstUnacked: 1 }); // 9
  l.run({ op: 'delete', key: 'a' }, { client, seq: 2, firstUnacked: 1 }); // 10
  const snap = l.m.snapshot();
  assert.is(snap[0], 5);

  const c = new Log();
  c.m.restore(snap);
  c.index = l.index;
  assert.is(c.m.appliedIndex, 10);
  assert.is(c.m.revision, 10);
  assert.is(c.m.logTimeMs, l.m.logTimeMs);
  assert.equal(c.m.range('', null), l.m.range('', null));
  assert.equal(c.m.scan(), l.m.scan());
  assert.equal(c.m.getKv(byteKey('ключ')), kv(byteKey('ключ'), new Uint8Array([0, 200]), 3, 3, 1, 2));
  assert.equal(c.m.lease(2), { id: 2, ttlMs: 3000, owner: 'acme', keys: ['b', byteKey('ключ')] });
  assert.equal(c.m.leases(), [{ id: 2, ttlMs: 3000 }]);
  assert.is(c.m.history.compactRevision, 4);
  assert.equal(c.m.history.since(5), l.m.history.since(5));
  assert.is(c.m.history.since(4), 'compacted');
  assert.is(c.m.history.events, l.m.history.events);
  assert.is(c.m.history.bytes, l.m.history.bytes);
  assert.equal(c.m.history.limits, { eventsMax: 10_000, bytesMax: 8 * 1024 * 1024 }, 'limits are the restoring machine\'s own');
  // The retry gets the first answer, byte values and nulls included.
  const retry = c.run({ op: 'txn', compare: [], success: [], failure: [] }, { client, seq: 1, firstUnacked: 1 });
  assert.equal(retry, cached);
  assert.ok(retry.op === 'txn' && retry.results[0]!.op === 'get');
  assert.instance((retry.results[0] as { kv: KeyValue }).kv.value, Uint8Array);
  assert.equal(c.run({ op: 'put', key: 'z', value: 'z' }, { client, seq: 2, firstUnacked: 1 }), { op: 'delete', index: 10, existed: true });
  // It goes on from there: revoking the lease deletes both keys.
  assert.equal(c.run({ op: 'leaseRevoke', id: 2 }), { op: 'leaseRevoke', index: 13, deleted: 2 });
  assert.equal(c.m.range('', null).map((x) => x.key), [byteKey(new Uint8Array([0xff, 0x00]))]);
  assert.equal(c.events.map(([r]) => r), [13], 'restored history is not replayed to listeners');
  // And its own snapshot restores to the same state again.
  const d = new KvMachine();
  d.restore(c.m.snapshot());
  assert.equal(d.range('', null), c.m.range('', null));
  assert.equal(d.history.since(5), c.m.history.since(5));
});

t('a snapshot restores into an out-of-order (ParallelRaft) machine, which goes on from it', () => {
  const l = new Log();
  l.run({ op: 'leaseGrant', id: 4, ttlMs: 100 }); // 1
  l.run({ op: 'put', key: 'a', value: '1', lease: 4 }); // 2
  l.run({ op: 'put', key: 'b', value: '1' }); // 3
  const p = new KvMachine({ outOfOrder: true });
  const seen: number[] = [];
  p.onEvents((r) => seen.push(r));
  let restored = 0;
  p.onRestore(() => restored++);
  p.restore(l.m.snapshot());
  assert.is(restored, 1);
  assert.is(p.appliedIndex, 3);
  assert.is(p.appliedAbove, 0);
  const entry = (index: number, cmd: KvCommand): Entry => ({ index, term: 2, type: 'normal', data: encodeCommand({ timeMs: 5, session: null, cmd }) });
  // 5 and 6 apply before 4: their events wait for it.
  assert.equal(p.apply(entry(6, { op: 'put', key: 'c', value: '6' })), { op: 'put', index: 6 });
  assert.equal(p.apply(entry(5, { op: 'put', key: 'b', value: '5' })), { op: 'put', index: 5 });
  assert.is(p.revision, 3);
  assert.is(p.appliedAbove, 2);
  assert.throws(() => p.snapshot(), /applied out of order/);
  assert.equal(seen, []);
  assert.equal(p.apply(entry(4, { op: 'leaseRevoke', id: 4 })), { op: 'leaseRevoke', index: 4, deleted: 1 });
  assert.is(p.revision, 6);
  assert.is(p.appliedIndex, 6);
  assert.equal(seen, [4, 5, 6]);
  assert.equal(p.getKv('b'), kv('b', '5', 3, 5, 2));
  assert.equal((p.history.since(4) as { revision: number }[]).map((b) => b.revision), [4, 5, 6]);
  assert.equal((p.history.since(1) as { revision: number }[]).map((b) => b.revision), [2, 3, 4, 5, 6], 'the snapshot\'s history, then its own');
});

t('a damaged format 3 snapshot is refused with an error naming the damage', () => {
  const snap = (body: (w: ByteWriter) => void): Uint8Array => {
    const w = new ByteWriter().u8(3).num(5).num(0);
    body(w);
    return w.finish();
  };
  const kvBytes = (w: ByteWriter, lease: number): ByteWriter => w.bin('k').u8(0).str('v').num(1).num(1).num(1).num(lease);
  // Well-formed: one key on lease 7, one event, no sessions.
  const m = new KvMachine();
  m.restore(snap((w) => { kvBytes(w.varint(1), 7).varint(1).num(7).num(100).num(0).varint(1).num(1).varint(1).u8(0); kvBytes(w, 7).u8(0).varint(0); }));
  assert.equal(m.lease(7), { id: 7, ttlMs: 100, owner: '', keys: ['k'] });
  assert.equal((m.history.since(1) as { revision: number }[]).map((b) => b.revision), [1]);
  assert.throws(() => m.restore(snap((w) => { kvBytes(w.varint(1), 7).varint(0).num(0).varint(0).varint(0); })), /key attached to lease 7, which it does not hold/);
  assert.throws(() => m.restore(snap((w) => { w.varint(0).varint(0).num(0).varint(1).num(1).varint(1).u8(7); kvBytes(w, 0).u8(0).varint(0); })), /unknown event type 7/);
  assert.throws(() => m.restore(snap((w) => { w.varint(1).bin('k').u8(5); })), /unknown value tag 5/);
});

t.run();
