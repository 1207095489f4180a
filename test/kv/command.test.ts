// The command codec: every command round-trips, format 1 entries still decode, damage is refused
// with an error naming it, and each command's ParallelRaft conflict set.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ByteWriter } from '../../src/core/kv/bytes.ts';
import {
  commandKeys, compareOps, compareTargets, compareValues, decodeCommand, encodeCommand, kvKeysOf, leaseConflictKey, valuesEqual,
  type CommandEnvelope, type Compare, type KvCommand, type TxnOp,
} from '../../src/core/kv/command.ts';
import { byteKey } from '../../src/core/kv/keys.ts';

const t = suite('kv command');
const K = byteKey('ключ/🔑');
const bin = new Uint8Array([0, 1, 255]);
const session = { client: 12, seq: 34, firstUnacked: 30 };

function everyCompare(): Compare[] {
  const out: Compare[] = [];
  for (const op of compareOps) {
    for (const target of compareTargets) {
      if (target === 'value') {
        out.push({ key: K, target, op, value: 'text' });
        out.push({ key: 'k', target, op, value: bin });
      } else {
        out.push({ key: 'k', target, op, value: 2 ** 40 + 3 });
      }
    }
  }
  return out;
}

const everyTxnOp: TxnOp[] = [
  { op: 'put', key: 'a', value: 'v' },
  { op: 'put', key: K, value: bin, lease: 77 },
  { op: 'delete', key: '\u0000\u00ff' },
  { op: 'deleteRange', start: 'a', end: 'b' },
  { op: 'deleteRange', start: '', end: null },
  { op: 'get', key: 'g' },
  { op: 'range', start: 'r', end: 's', limit: 10 },
  { op: 'range', start: 'r', end: null, limit: 0 },
];

const commands: KvCommand[] = [
  { op: 'put', key: 'k', value: 'v' },
  { op: 'put', key: K, value: bin },
  { op: 'put', key: 'k', value: 'v', lease: 5 },
  { op: 'put', key: 'k', value: bin, lease: 2 ** 52 },
  { op: 'put', key: '', value: '' },
  { op: 'delete', key: K },
  { op: 'cas', key: 'k', expected: null, value: 'v' },
  { op: 'cas', key: 'k', expected: 'old', value: bin },
  { op: 'cas', key: 'k', expected: bin, value: 'new' },
  { op: 'cas', key: 'k', expected: new Uint8Array(0), value: new Uint8Array(0) },
  { op: 'deleteRange', start: 'a', end: 'z' },
  { op: 'deleteRange', start: K, end: null },
  { op: 'txn', compare: everyCompare(), success: everyTxnOp, failure: [...everyTxnOp].reverse() },
  { op: 'txn', compare: [], success: [], failure: [] },
  { op: 'leaseGrant', id: 0, ttlMs: 5000 },
  { op: 'leaseGrant', id: 99, ttlMs: 1 },
  { op: 'leaseGrant', id: 0, ttlMs: 5000, owner: 'tenant-acme' },
  { op: 'tokenRevoke', by: 'sub', name: 'alice', revokedAtMs: 1_700_000_000_000, untilMs: 1_702_592_000_000 },
  { op: 'tokenRevoke', by: 'jti', name: '0c9f-🔑', revokedAtMs: 1, untilMs: 2 },
  { op: 'leaseRevoke', id: 99 },
  { op: 'leaseExpire', id: 2 ** 53 - 1 },
  { op: 'compact', revision: 12345 },
  { op: 'register' },
];

t('every command round-trips, with and without a session', () => {
  for (const cmd of commands) {
    for (const s of [null, session]) {
      const env: CommandEnvelope = { timeMs: 1_700_000_000_123, session: s, cmd };
      assert.equal(decodeCommand(encodeCommand(env)), env, `${cmd.op} ${JSON.stringify(s)}`);
    }
  }
});

t('the txn in the list holds every compare target and operator, and every txn operation', () => {
  const txn = commands.find((c) => c.op === 'txn')!;
  assert.ok(txn.op === 'txn');
  assert.is(new Set(txn.compare.map((c) => `${c.target}${c.op}`)).size, compareTargets.length * compareOps.length);
  assert.equal(new Set(txn.success.map((o) => o.op)), new Set(['put', 'delete', 'deleteRange', 'get', 'range']));
});

t('lease 0 on a put means none: it is not written and decodes as absent', () => {
  const env: CommandEnvelope = { timeMs: 1, session: null, cmd: { op: 'put', key: 'k', value: 'v', lease: 0 } };
  const plain = encodeCommand({ timeMs: 1, session: null, cmd: { op: 'put', key: 'k', value: 'v' } });
  assert.equal(encodeCommand(env), plain);
  assert.equal(decodeCommand(encodeCommand(env)).cmd, { op: 'put', key: 'k', value: 'v' });
  const txn: KvCommand = { op: 'txn', compare: [], success: [{ op: 'put', key: 'k', value: 'v', lease: 0 }], failure: [] };
  assert.equal(decodeCommand(encodeCommand({ timeMs: 1, session: null, cmd: txn })).cmd, { op: 'txn', compare: [], success: [{ op: 'put', key: 'k', value: 'v' }], failure: [] });
});

t('decoded byte values are copies, not views of the entry', () => {
  const data = encodeCommand({ timeMs: 1, session: null, cmd: { op: 'put', key: 'k', value: new Uint8Array([1, 2, 3]) } });
  const cmd = decodeCommand(data).cmd;
  data.fill(0);
  assert.ok(cmd.op === 'put');
  assert.equal(cmd.value, new Uint8Array([1, 2, 3]));
});

/** A format 1 entry as the previous version wrote it: keys as UTF-8 strings. */
function formatOne(op: number, flags: number, timeMs: number, s: typeof session | null, body: (w: ByteWriter) => void): Uint8Array {
  const w = new ByteWriter();
  w.u8(1).u8(op).u8(flags | (s !== null ? 1 : 0)).num(timeMs);
  if (s !== null) w.num(s.client).num(s.seq).num(s.firstUnacked);
  body(w);
  return w.finish();
}

t('format 1 entries decode, their string keys read as byte keys', () => {
  assert.equal(decodeCommand(formatOne(1, 0, 10, null, (w) => w.str('ключ').str('värde'))), { timeMs: 10, session: null, cmd: { op: 'put', key: K.slice(0, 8), value: 'värde' } });
  assert.equal(decodeCommand(formatOne(1, 2, 11, session, (w) => w.str('k').bytes(bin))), { timeMs: 11, session, cmd: { op: 'put', key: 'k', value: bin } });
  assert.equal(decodeCommand(formatOne(2, 0, 12, null, (w) => w.str('🔑'))), { timeMs: 12, session: null, cmd: { op: 'delete', key: byteKey('🔑') } });
  assert.equal(decodeCommand(formatOne(3, 0, 13, null, (w) => w.str('k').str('v'))), { timeMs: 13, session: null, cmd: { op: 'cas', key: 'k', expected: null, value: 'v' } });
  assert.equal(decodeCommand(formatOne(3, 4, 14, null, (w) => w.str('k').str('old').str('v'))), { timeMs: 14, session: null, cmd: { op: 'cas', key: 'k', expected: 'old', value: 'v' } });
  assert.equal(decodeCommand(formatOne(3, 4 | 8 | 2, 15, null, (w) => w.str('k').bytes(bin).bytes(new Uint8Array([9])))), { timeMs: 15, session: null, cmd: { op: 'cas', key: 'k', expected: bin, value: new Uint8Array([9]) } });
  assert.equal(decodeCommand(formatOne(4, 0, 16, null, () => {})), { timeMs: 16, session: null, cmd: { op: 'register' } });
  // Format 1 had only those four commands.
  for (const op of [5, 6, 7, 8, 9, 10]) {
    assert.throws(() => decodeCommand(formatOne(op, 0, 1, null, (w) => w.num(1).num(1))), /in a format 1 command/, `op ${op}`);
  }
});

t('every truncation of every command is refused as truncated', () => {
  for (const cmd of commands) {
    const data = encodeCommand({ timeMs: 1, session, cmd });
    for (let n = 0; n < data.length; n++) {
      assert.throws(() => decodeCommand(data.subarray(0, n)), /kv command: truncated/, `${cmd.op} cut to ${n} of ${data.length}`);
    }
  }
});

t('damage is refused with an error naming it', () => {
  const put = encodeCommand({ timeMs: 1, session: null, cmd: { op: 'put', key: 'k', value: 'v' } });
  assert.throws(() => decodeCommand(new Uint8Array([...put, 0])), /trailing bytes/);
  const badFormat = put.slice();
  badFormat[0] = 4;
  assert.throws(() => decodeCommand(badFormat), /unknown format 4/);
  for (const op of [0, 13, 99, 255]) {
    const bad = put.slice();
    bad[1] = op;
    assert.throws(() => decodeCommand(bad), /unknown op/, `op ${op}`);
  }
  const txn = (body: (w: ByteWriter) => void): Uint8Array => {
    const w = new ByteWriter();
    w.u8(2).u8(6).u8(0).num(1);
    body(w);
    return w.finish();
  };
  // Well-formed by hand first, so the failures below are the damage and nothing else.
  assert.equal(decodeCommand(txn((w) => w.varint(1).bin('k').u8(1).u8(0).num(1).varint(1).u8(3).bin('g').varint(0))).cmd, {
    op: 'txn', compare: [{ key: 'k', target: 'version', op: '=', value: 1 }], success: [{ op: 'get', key: 'g' }], failure: [],
  });
  assert.throws(() => decodeCommand(txn((w) => w.varint(1).bin('k').u8(5).u8(0).num(1).varint(0).varint(0))), /unknown compare target or operator/);
  assert.throws(() => decodeCommand(txn((w) => w.varint(1).bin('k').u8(1).u8(4).num(1).varint(0).varint(0))), /unknown compare target or operator/);
  assert.throws(() => decodeCommand(txn((w) => w.varint(1).bin('k').u8(0).u8(0).u8(2).str('v').varint(0).varint(0))), /unknown value tag 2/);
  assert.throws(() => decodeCommand(txn((w) => w.varint(0).varint(1).u8(5).bin('g').varint(0))), /unknown txn operation/);
  assert.throws(() => decodeCommand(txn((w) => w.varint(0).varint(0).varint(1).u8(200).bin('g'))), /unknown txn operation/);
  assert.throws(() => decodeCommand(txn((w) => w.varint(0).varint(1).u8(0).bin('k').u8(7).str('v').num(0).varint(0))), /unknown value tag 7/);
  assert.throws(() => decodeCommand(txn((w) => w.varint(0).varint(1).u8(2).bin('a').u8(2).bin('b').varint(0))), /unknown range end tag 2/);
  const range = new ByteWriter().u8(2).u8(5).u8(0).num(1).bin('a');
  assert.equal(decodeCommand(new ByteWriter().u8(2).u8(5).u8(0).num(1).bin('a').u8(1).bin('b').finish()).cmd, { op: 'deleteRange', start: 'a', end: 'b' });
  assert.throws(() => decodeCommand(range.u8(9).bin('b').finish()), /unknown range end tag 9/);
});

t('commandKeys: the keys and leases a command touches, null when they are known only at apply', () => {
  const L = leaseConflictKey;
  assert.is(L(5), '\u0000lease:5', 'a reserved key, never a user key');
  const cases: Array<[KvCommand, string[] | null]> = [
    [{ op: 'put', key: 'k', value: 'v' }, ['k']],
    [{ op: 'put', key: 'k', value: 'v', lease: 0 }, ['k']],
    [{ op: 'put', key: 'k', value: 'v', lease: 5 }, ['k', L(5)]],
    [{ op: 'put', key: 'k', value: new Uint8Array([1, 2, 255]) }, ['k']],
    [{ op: 'delete', key: K }, [K]],
    [{ op: 'cas', key: 'k', expected: null, value: 'v' }, ['k']],
    [{ op: 'deleteRange', start: 'a', end: 'b' }, null],
    [{ op: 'leaseGrant', id: 0, ttlMs: 1 }, null],
    [{ op: 'leaseGrant', id: 9, ttlMs: 1 }, [L(9)]],
    [{ op: 'leaseRevoke', id: 9 }, null],
    [{ op: 'leaseExpire', id: 9 }, null],
    [{ op: 'compact', revision: 1 }, null],
    [{ op: 'register' }, null],
    [{ op: 'txn', compare: [], success: [], failure: [] }, []],
    [{
      op: 'txn',
      compare: [{ key: 'c', target: 'value', op: '=', value: 'x' }, { key: 'a', target: 'version', op: '>', value: 0 }],
      success: [{ op: 'put', key: 'a', value: 'v', lease: 3 }, { op: 'get', key: 'g' }],
      failure: [{ op: 'delete', key: 'd' }, { op: 'put', key: 'c', value: 'v' }],
    }, ['c', 'a', L(3), 'g', 'd']],
    [{ op: 'txn', compare: [], success: [{ op: 'put', key: 'a', value: 'v' }], failure: [{ op: 'range', start: 'a', end: 'b', limit: 1 }] }, null],
    [{ op: 'txn', compare: [], success: [{ op: 'deleteRange', start: 'a', end: null }], failure: [] }, null],
  ];
  for (const [cmd, want] of cases) {
    assert.equal(commandKeys(cmd), want, JSON.stringify(cmd));
    const data = encodeCommand({ timeMs: 1, session: null, cmd });
    assert.equal(kvKeysOf(data), want, `kvKeysOf ${cmd.op}`);
    // With a session, its conflict key joins (a session's commands keep log order), unless the
    // command conflicts with everything anyway.
    const withSession = kvKeysOf(encodeCommand({ timeMs: 1, session, cmd }));
    assert.equal(withSession, want === null ? null : [...want, '\u0000session:12'], `kvKeysOf ${cmd.op} in a session`);
  }
  assert.is(kvKeysOf(new Uint8Array([9, 9, 9])), null, 'a command that does not decode conflicts with everything');
  // The put/delete fast path (no value decoding) gives way to the full decode on a torn command.
  const put = encodeCommand({ timeMs: 1, session, cmd: { op: 'put', key: 'k', value: 'value', lease: 4 } });
  assert.is(kvKeysOf(put.subarray(0, put.length - 1)), null, 'a truncated put');
  assert.is(kvKeysOf(new Uint8Array([...put, 0])), null, 'a put with a byte after it');
  assert.is(kvKeysOf(new Uint8Array(0)), null);
});

t('values: equality is by type and content; order is bytewise, strings by their UTF-8 bytes', () => {
  assert.ok(valuesEqual('a', 'a'));
  assert.ok(valuesEqual(new Uint8Array([1, 2]), new Uint8Array([1, 2])));
  assert.not.ok(valuesEqual(new Uint8Array([1, 2]), new Uint8Array([1, 3])));
  assert.not.ok(valuesEqual(new Uint8Array([1]), new Uint8Array([1, 0])));
  assert.not.ok(valuesEqual('a', new Uint8Array([0x61])), 'a string never equals bytes');
  assert.ok(valuesEqual(undefined, undefined));
  assert.not.ok(valuesEqual('', undefined));
  assert.is(compareValues('a', 'b'), -1);
  assert.is(compareValues('b', 'a'), 1);
  assert.is(compareValues('a', new Uint8Array([0x61])), 0, 'compares see bytes');
  assert.is(compareValues('\uffff', '𝄞'), -1, 'UTF-8 order, not UTF-16');
  assert.is(compareValues(new Uint8Array([0xff]), 'z'), 1);
  assert.is(compareValues(new Uint8Array(0), 'a'), -1);
});


t('format 3 is written only for an owned lease grant and a token revocation: the rest stay format 2', () => {
  const format = (cmd: KvCommand): number => encodeCommand({ timeMs: 1, session: null, cmd })[0]!;
  assert.is(format({ op: 'leaseGrant', id: 0, ttlMs: 10 }), 2, 'a grant with no owner reads on the previous version');
  assert.is(format({ op: 'leaseGrant', id: 0, ttlMs: 10, owner: '' }), 2, "owner '' is none");
  assert.is(format({ op: 'leaseGrant', id: 0, ttlMs: 10, owner: 'acme' }), 3);
  assert.is(format({ op: 'tokenRevoke', by: 'sub', name: 'a', revokedAtMs: 1, untilMs: 2 }), 3);
  for (const cmd of commands.filter((c) => c.op !== 'tokenRevoke' && !(c.op === 'leaseGrant' && c.owner !== undefined))) {
    assert.is(format(cmd), 2, cmd.op);
  }
  // A format 2 grant (as the previous version wrote it) decodes with no owner.
  const w = new ByteWriter();
  w.u8(2).u8(7).u8(0).num(5).num(0).num(1000);
  assert.equal(decodeCommand(w.finish()).cmd, { op: 'leaseGrant', id: 0, ttlMs: 1000 });
  // A revocation never existed in format 2.
  const revoke = encodeCommand({ timeMs: 1, session: null, cmd: { op: 'tokenRevoke', by: 'jti', name: 'x', revokedAtMs: 1, untilMs: 2 } });
  revoke[0] = 2;
  assert.throws(() => decodeCommand(revoke), /op tokenRevoke in a format 2 command/);
  const badKind = encodeCommand({ timeMs: 1, session: null, cmd: { op: 'tokenRevoke', by: 'jti', name: 'x', revokedAtMs: 1, untilMs: 2 } });
  badKind[3 + 8] = 9;
  assert.throws(() => decodeCommand(badKind), /unknown revocation kind/);
});

t('a token revocation conflicts with everything (ParallelRaft applies it in log order)', () => {
  assert.is(commandKeys({ op: 'tokenRevoke', by: 'sub', name: 'a', revokedAtMs: 1, untilMs: 2 }), null);
  assert.is(kvKeysOf(encodeCommand({ timeMs: 1, session: null, cmd: { op: 'tokenRevoke', by: 'sub', name: 'a', revokedAtMs: 1, untilMs: 2 } })), null);
  assert.equal(commandKeys({ op: 'leaseGrant', id: 4, ttlMs: 1, owner: 'acme' }), [leaseConflictKey(4)]);
});

t.run();
