// The key-value state machine: results of each command, sessions for exactly-once writes with
// expiry by log time, scans, snapshots, and the command codec.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeCommand, encodeCommand, type CommandEnvelope, type KvCommand } from '../../src/core/kv/command.ts';
import { byteKey } from '../../src/core/kv/keys.ts';
import { KvMachine, type KvResult } from '../../src/core/kv/machine.ts';
import { ByteWriter, utf8Decode, utf8Encode } from '../../src/core/kv/bytes.ts';
import type { Entry } from '../../src/core/types.ts';

const t = suite('kv machine');

function entry(index: number, env: CommandEnvelope): Entry {
  return { index, term: 1, type: 'normal', data: encodeCommand(env) };
}

class Log {
  readonly m: KvMachine;
  index = 0;
  now = 1000;
  constructor(m = new KvMachine()) { this.m = m; }
  run(cmd: KvCommand, session: CommandEnvelope['session'] = null): KvResult {
    return this.m.apply(entry(++this.index, { timeMs: this.now, session, cmd }))!;
  }
}

t('put, get, delete and cas answer with their results', () => {
  const l = new Log();
  assert.equal(l.run({ op: 'put', key: 'a', value: '1' }), { op: 'put', index: 1 });
  assert.is(l.m.get('a'), '1');
  assert.equal(l.run({ op: 'cas', key: 'a', expected: '2', value: '3' }), { op: 'cas', index: 2, swapped: false });
  assert.equal(l.run({ op: 'cas', key: 'a', expected: '1', value: '3' }), { op: 'cas', index: 3, swapped: true });
  assert.is(l.m.get('a'), '3');
  assert.equal(l.run({ op: 'cas', key: 'b', expected: null, value: 'new' }), { op: 'cas', index: 4, swapped: true });
  assert.equal(l.run({ op: 'cas', key: 'b', expected: null, value: 'again' }), { op: 'cas', index: 5, swapped: false });
  assert.equal(l.run({ op: 'delete', key: 'a' }), { op: 'delete', index: 6, existed: true });
  assert.equal(l.run({ op: 'delete', key: 'a' }), { op: 'delete', index: 7, existed: false });
  assert.is(l.m.get('a'), undefined);
});

t('byte values round-trip and compare by content', () => {
  const l = new Log();
  const v = new Uint8Array([0, 255, 7]);
  l.run({ op: 'put', key: 'bin', value: v });
  assert.equal(l.m.get('bin'), v);
  assert.equal(l.run({ op: 'cas', key: 'bin', expected: new Uint8Array([0, 255, 7]), value: 'text' }), { op: 'cas', index: 2, swapped: true });
});

t('scan by prefix and by range, in key order, with a limit', () => {
  const l = new Log();
  for (const k of ['b/2', 'a/1', 'a/3', 'a/2', 'c']) l.run({ op: 'put', key: k, value: k });
  assert.equal(l.m.scan({ prefix: 'a/' }).map(([k]) => k), ['a/1', 'a/2', 'a/3']);
  assert.equal(l.m.scan({ start: 'a/2', end: 'c' }).map(([k]) => k), ['a/2', 'a/3', 'b/2']);
  assert.equal(l.m.scan({ limit: 2 }).map(([k]) => k), ['a/1', 'a/2']);
  l.run({ op: 'delete', key: 'a/2' });
  assert.equal(l.m.scan({ prefix: 'a/' }).map(([k]) => k), ['a/1', 'a/3'], 'the index follows deletes');
});

t('a retried request in a session applies once and returns the first result', () => {
  const l = new Log();
  const reg = l.run({ op: 'register' });
  assert.is(reg.op, 'register');
  const client = (reg as { client: number }).client;
  const first = l.run({ op: 'cas', key: 'k', expected: null, value: 'x' }, { client, seq: 1, firstUnacked: 1 });
  assert.equal(first, { op: 'cas', index: 2, swapped: true });
  // The same request again (a retry after a leader change) does not apply a second time.
  const retry = l.run({ op: 'cas', key: 'k', expected: null, value: 'x' }, { client, seq: 1, firstUnacked: 1 });
  assert.equal(retry, first, 'the cached result, not a failed second cas');
  // Once acknowledged, the result is forgotten and a late duplicate is refused as stale.
  l.run({ op: 'put', key: 'other', value: '1' }, { client, seq: 2, firstUnacked: 2 });
  const late = l.run({ op: 'cas', key: 'k', expected: null, value: 'x' }, { client, seq: 1, firstUnacked: 1 });
  assert.is(late.op, 'error');
  assert.is((late as { code: string }).code, 'ERR_SESSION_STALE');
  assert.is(l.m.get('k'), 'x');
});

t('past sessionResultsMax the lowest sequence numbers are evicted, and a retry of one is answered ERR_OUTCOME_UNKNOWN, never run again', () => {
  const l = new Log(new KvMachine({ sessionResultsMax: 2 }));
  const client = (l.run({ op: 'register' }) as { client: number }).client;
  // Three writes in flight at once (firstUnacked stays 1): the cache holds two answers.
  l.run({ op: 'put', key: 'n', value: 'a' }, { client, seq: 1, firstUnacked: 1 });
  l.run({ op: 'put', key: 'n', value: 'b' }, { client, seq: 2, firstUnacked: 1 });
  l.run({ op: 'put', key: 'n', value: 'c' }, { client, seq: 3, firstUnacked: 1 });
  // seq 1's answer was evicted: its retry must not put 'a' back over 'c'.
  const retry = l.run({ op: 'put', key: 'n', value: 'a' }, { client, seq: 1, firstUnacked: 1 });
  assert.is(retry.op, 'error');
  assert.is((retry as { code: string }).code, 'ERR_OUTCOME_UNKNOWN');
  assert.match((retry as { message: string }).message, /may have applied already.*sessionResultsMax=2/);
  assert.is(l.m.get('n'), 'c', 'the retry did not run');
  // The newer answers are still cached and returned as they were.
  assert.equal(l.run({ op: 'put', key: 'n', value: 'b' }, { client, seq: 2, firstUnacked: 1 }), { op: 'put', index: 3 });
  assert.is(l.m.get('n'), 'c');
  // A request never seen above the mark runs normally.
  assert.equal(l.run({ op: 'put', key: 'n', value: 'd' }, { client, seq: 4, firstUnacked: 1 }).op, 'put');
});

t('out of order (ParallelRaft) it is still the lowest sequence number that is evicted', () => {
  const m = new KvMachine({ sessionResultsMax: 2, outOfOrder: true });
  let index = 0;
  const run = (cmd: KvCommand, session: CommandEnvelope['session']) => m.apply(entry(++index, { timeMs: 1000, session, cmd }))!;
  const client = (run({ op: 'register' }, null) as { client: number }).client;
  // Applied in the order 3, 1, 2 (as out-of-order apply may do).
  run({ op: 'put', key: 'x', value: '3' }, { client, seq: 3, firstUnacked: 1 });
  run({ op: 'put', key: 'y', value: '1' }, { client, seq: 1, firstUnacked: 1 });
  run({ op: 'put', key: 'z', value: '2' }, { client, seq: 2, firstUnacked: 1 });
  assert.is((run({ op: 'put', key: 'y', value: '1' }, { client, seq: 1, firstUnacked: 1 }) as { code?: string }).code, 'ERR_OUTCOME_UNKNOWN', 'seq 1 was evicted');
  assert.equal(run({ op: 'put', key: 'x', value: '3' }, { client, seq: 3, firstUnacked: 1 }), { op: 'put', index: 2 }, 'seq 3, inserted first, is still cached');
});

t('the eviction mark survives a snapshot; format 1 and format 2 snapshots still load', () => {
  const l = new Log(new KvMachine({ sessionResultsMax: 1 }));
  const client = (l.run({ op: 'register' }) as { client: number }).client;
  l.run({ op: 'put', key: 'k', value: '1' }, { client, seq: 1, firstUnacked: 1 });
  l.run({ op: 'put', key: 'k', value: '2' }, { client, seq: 2, firstUnacked: 1 });
  const snap = l.m.snapshot();
  assert.is(snap[0], 5, 'written as format 5');
  const copy = new KvMachine({ sessionResultsMax: 1 });
  copy.restore(snap);
  const retry = copy.applyCommand({ timeMs: l.now, session: { client, seq: 1, firstUnacked: 1 }, cmd: { op: 'put', key: 'k', value: '1' } }, 4);
  assert.is((retry as { code?: string }).code, 'ERR_OUTCOME_UNKNOWN');
  assert.throws(() => copy.restore(new Uint8Array([7])), /unknown format 7/);
  assert.throws(() => copy.restore(new Uint8Array([0])), /unknown format 0/);
});

t('a format 2 snapshot (string keys, JSON answers, the eviction mark) loads', () => {
  const bytes = oldSnapshot(2, { applied: 9, logTimeMs: 5000, records: [['ключ', 'v'], ['b', new Uint8Array([0, 255])]], session: { id: 1, lastTimeMs: 4000, firstUnacked: 1, evictedMax: 1, results: [[2, { op: 'put', index: 3 }]] } });
  const m = new KvMachine();
  m.restore(bytes);
  assert.is(m.appliedIndex, 9);
  assert.is(m.revision, 9);
  assert.is(m.logTimeMs, 5000);
  // Older snapshots kept no revisions: every key gets the snapshot's index, version 1, no lease.
  assert.equal(m.getKv(byteKey('ключ')), { key: byteKey('ключ'), value: 'v', createRevision: 9, modRevision: 9, version: 1, lease: 0 });
  assert.equal(m.getKv('b'), { key: 'b', value: new Uint8Array([0, 255]), createRevision: 9, modRevision: 9, version: 1, lease: 0 });
  assert.is(m.size, 2);
  assert.is(m.leaseCount, 0);
  // No history came with it: watching from at or before the snapshot is refused, after it is empty.
  assert.is(m.history.compactRevision, 9);
  assert.is(m.history.since(9), 'compacted');
  assert.equal(m.history.since(10), []);
  assert.is(m.sessions, 1);
  const s = (seq: number) => ({ client: 1, seq, firstUnacked: 1 });
  assert.is((m.applyCommand({ timeMs: 5000, session: s(1), cmd: { op: 'put', key: 'x', value: '1' } }, 10) as { code?: string }).code, 'ERR_OUTCOME_UNKNOWN', 'the mark came through');
  assert.equal(m.applyCommand({ timeMs: 5000, session: s(2), cmd: { op: 'put', key: 'x', value: '2' } }, 10), { op: 'put', index: 3 }, 'the cached answer came through');
  assert.is(m.get('x'), undefined, 'neither ran');
  // The machine writes format 5 from then on, and that copy reads back the same.
  const again = new KvMachine();
  again.restore(m.snapshot());
  assert.equal(again.range('', null), m.range('', null));
});

t('a format 1 snapshot (no eviction mark) loads', () => {
  const bytes = oldSnapshot(1, { applied: 4, logTimeMs: 1000, records: [['a', 'x']], session: { id: 1, lastTimeMs: 1000, firstUnacked: 1, evictedMax: null, results: [[1, { op: 'put', index: 2 }]] } });
  const m = new KvMachine();
  m.restore(bytes);
  assert.is(m.appliedIndex, 4);
  assert.equal(m.range('', null), [{ key: 'a', value: 'x', createRevision: 4, modRevision: 4, version: 1, lease: 0 }]);
  assert.equal(m.applyCommand({ timeMs: 1000, session: { client: 1, seq: 1, firstUnacked: 1 }, cmd: { op: 'put', key: 'a', value: 'y' } }, 5), { op: 'put', index: 2 });
  assert.is(m.get('a'), 'x', 'the retry answered from the cache');
  // Nothing was evicted in format 1: an uncached request above firstUnacked runs.
  assert.equal(m.applyCommand({ timeMs: 1000, session: { client: 1, seq: 2, firstUnacked: 1 }, cmd: { op: 'put', key: 'a', value: 'z' } }, 5), { op: 'put', index: 5 });
  assert.is(m.get('a'), 'z');
  // One byte too many or too few is refused.
  assert.throws(() => new KvMachine().restore(new Uint8Array([...bytes, 0])), /trailing bytes/);
  assert.throws(() => new KvMachine().restore(bytes.subarray(0, bytes.length - 1)), /truncated/);
});

t('sessions expire by log time, deterministically, and a write on an expired session is refused', () => {
  const l = new Log(new KvMachine({ sessionTtlMs: 60_000 }));
  const client = (l.run({ op: 'register' }) as { client: number }).client;
  l.now += 59_000;
  assert.is(l.run({ op: 'put', key: 'a', value: '1' }, { client, seq: 1, firstUnacked: 1 }).op, 'put');
  l.now += 61_000;
  l.run({ op: 'put', key: 'tick', value: 'x' });
  const r = l.run({ op: 'put', key: 'a', value: '2' }, { client, seq: 2, firstUnacked: 2 });
  assert.is(r.op, 'error');
  assert.is((r as { code: string }).code, 'ERR_SESSION_EXPIRED');
  assert.match((r as { message: string }).message, /register a new one/);
  assert.is(l.m.get('a'), '1', 'the refused write did not apply');
});

t('sessionsMax evicts the least recently used session', () => {
  const l = new Log(new KvMachine({ sessionsMax: 2 }));
  const a = (l.run({ op: 'register' }) as { client: number }).client;
  const b = (l.run({ op: 'register' }) as { client: number }).client;
  l.run({ op: 'put', key: 'x', value: '1' }, { client: a, seq: 1, firstUnacked: 1 });
  l.run({ op: 'register' });
  assert.is(l.m.sessions, 2);
  assert.is(l.run({ op: 'put', key: 'x', value: '2' }, { client: b, seq: 1, firstUnacked: 1 }).op, 'error', 'b was evicted');
  assert.is(l.run({ op: 'put', key: 'x', value: '3' }, { client: a, seq: 2, firstUnacked: 2 }).op, 'put', 'a was kept');
});

t('a snapshot restores data, sessions and log time exactly', () => {
  const l = new Log();
  const client = (l.run({ op: 'register' }) as { client: number }).client;
  l.run({ op: 'put', key: 's', value: 'text' }, { client, seq: 1, firstUnacked: 1 });
  l.run({ op: 'put', key: 'b', value: new Uint8Array([1, 2]) });
  const copy = new KvMachine();
  copy.restore(l.m.snapshot());
  assert.is(copy.appliedIndex, l.m.appliedIndex);
  assert.is(copy.logTimeMs, l.m.logTimeMs);
  assert.equal(copy.scan(), l.m.scan());
  const again = copy.applyCommand({ timeMs: l.now, session: { client, seq: 1, firstUnacked: 1 }, cmd: { op: 'put', key: 's', value: 'changed' } }, 4);
  assert.equal(again, { op: 'put', index: 2 }, 'the session and its cached result survived the snapshot');
  assert.throws(() => copy.restore(new Uint8Array([9])), /unknown format/);
});

t('change listeners see every write in log order', () => {
  const l = new Log();
  const seen: string[] = [];
  const off = l.m.onChange((k, v, i) => seen.push(`${i}:${k}=${v ?? '∅'}`));
  l.run({ op: 'put', key: 'a', value: '1' });
  l.run({ op: 'delete', key: 'a' });
  off();
  l.run({ op: 'put', key: 'a', value: '2' });
  assert.equal(seen, ['1:a=1', '2:a=∅']);
});

t('the command codec round-trips every command and rejects damage', () => {
  const cmds: CommandEnvelope[] = [
    { timeMs: 1, session: null, cmd: { op: 'put', key: byteKey('ключ/🔑'), value: 'värde' } },
    { timeMs: 2, session: { client: 7, seq: 9, firstUnacked: 3 }, cmd: { op: 'delete', key: '' } },
    { timeMs: 3, session: null, cmd: { op: 'cas', key: 'k', expected: null, value: new Uint8Array([1]) } },
    { timeMs: 4, session: null, cmd: { op: 'cas', key: 'k', expected: new Uint8Array(0), value: 'v' } },
    { timeMs: 5, session: null, cmd: { op: 'register' } },
  ];
  for (const c of cmds) assert.equal(decodeCommand(encodeCommand(c)), c);
  const bytes = encodeCommand(cmds[0]!);
  assert.throws(() => decodeCommand(bytes.subarray(0, bytes.length - 1)), /truncated/);
  assert.throws(() => decodeCommand(new Uint8Array([1, 99, 0, 0, 0, 0, 0, 0, 0, 0, 0])), /unknown op/);
});

t('utf8 encoding matches TextEncoder, including astral characters and lone surrogates', () => {
  for (const s of ['', 'ascii', 'ÿ', '€', '𝄞', 'a\ud800b', 'mixed ключ 🔑 text']) {
    assert.equal(utf8Encode(s), new TextEncoder().encode(s), JSON.stringify(s));
    assert.is(utf8Decode(new TextEncoder().encode(s)), new TextDecoder().decode(new TextEncoder().encode(s)));
  }
});

interface OldSession {
  readonly id: number;
  readonly lastTimeMs: number;
  readonly firstUnacked: number;
  /** Format 2 only. */
  readonly evictedMax: number | null;
  readonly results: ReadonlyArray<readonly [number, KvResult]>;
}

/**
 * A snapshot as formats 1 and 2 wrote it (machine.ts restore()): format, applied index, log time,
 * records as [UTF-8 key, tag 0 string | tag 1 bytes], then sessions as [id, lastTimeMs,
 * firstUnacked, (format 2) evictedMax, results as [seq, JSON]].
 */
function oldSnapshot(format: 1 | 2, o: { applied: number; logTimeMs: number; records: ReadonlyArray<readonly [string, string | Uint8Array]>; session: OldSession }): Uint8Array {
  const w = new ByteWriter();
  w.u8(format).num(o.applied).num(o.logTimeMs).varint(o.records.length);
  for (const [k, v] of o.records) {
    w.str(k);
    if (typeof v === 'string') w.u8(0).str(v);
    else w.u8(1).bytes(v);
  }
  const s = o.session;
  w.varint(1).num(s.id).num(s.lastTimeMs).num(s.firstUnacked);
  if (format === 2) w.num(s.evictedMax ?? 0);
  w.varint(s.results.length);
  for (const [seq, r] of s.results) w.num(seq).str(JSON.stringify(r));
  return w.finish();
}

t.run();
