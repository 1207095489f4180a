// ParallelRaft's entry header: batches and windows round-trip, the key summary never misses a key
// (exact set, then a hashed bitset, then "everything"), version-1 entries read as batches of one,
// and malformed headers are refused with the entry's index in the message.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ByteWriter } from '../../src/core/kv/bytes.ts';
import {
  decodeParallelData, encodeParallelData, entryId, parallelPayload, summaryKeysMax, summaryListMax, summaryMayConflict, SummaryBuilder, lookBehindIdAt,
  type ParallelHeader,
} from '../../src/core/parallel/header.ts';
import type { Entry } from '../../src/core/types.ts';

const t = suite('parallel header');
const payload = new Uint8Array([1, 2, 3, 250]);

function entry(index: number, h: ParallelHeader, term = h.originTerm): Entry {
  return { term, index, type: h.kind, data: encodeParallelData(h, payload) };
}

t('a batch head carries its lookBehind; the other entries name their head; payloads read without decoding', () => {
  const summary = new SummaryBuilder();
  summary.add(['a', 'b']);
  summary.add(['\u0000session:c1']);
  const head: ParallelHeader = {
    originTerm: 3, kind: 'normal', keys: ['x'], headOffset: 0, batchLen: 3,
    lookBehind: { length: 5, runs: [{ count: 2, kind: 'normal', originTerm: 2 }, { count: 1, kind: 'noop', originTerm: 3 }, { count: 2, kind: 'normal', originTerm: 3 }], summary: summary.finish() },
  };
  const h = decodeParallelData(entry(20, head)).header;
  assert.equal(h.keys, ['x']);
  assert.is(h.batchLen, 3);
  assert.is(h.lookBehind!.length, 5);
  assert.is(lookBehindIdAt(h.lookBehind!, 20, 15), entryId('normal', 2));
  assert.is(lookBehindIdAt(h.lookBehind!, 20, 17), entryId('noop', 3));
  assert.is(lookBehindIdAt(h.lookBehind!, 20, 19), entryId('normal', 3));
  assert.is(lookBehindIdAt(h.lookBehind!, 20, 14), null, 'before the window');
  assert.is(lookBehindIdAt(h.lookBehind!, 20, 20), null, 'the head itself is not in its window');
  assert.ok(summaryMayConflict(h.lookBehind!.summary, ['b']));
  assert.not.ok(summaryMayConflict(h.lookBehind!.summary, ['y']));
  const member = entry(22, { originTerm: 3, kind: 'normal', keys: ['y', 'z'], headOffset: 2, batchLen: 3, lookBehind: null });
  const m = decodeParallelData(member);
  assert.is(m.header.headOffset, 2);
  assert.is(m.header.lookBehind, null);
  assert.equal([...m.payload], [...payload]);
  assert.equal([...parallelPayload(member)], [...payload]);
});

t('the key summary is exact while small, then hashed, never missing a key; an entry writing anything makes it "all"', () => {
  const b = new SummaryBuilder();
  const keys: string[] = [];
  for (let i = 0; i < 1000; i++) keys.push(`k/${i}`);
  for (let i = 0; i < keys.length; i += 2) b.add([keys[i]!, keys[i + 1]!]);
  const s = b.finish();
  assert.is(s.kind, 'bits');
  for (const k of keys) assert.ok(summaryMayConflict(s, [k]), `${k} missed`);
  let falseHits = 0;
  for (let i = 0; i < 1000; i++) if (summaryMayConflict(s, [`other/${i}`])) falseHits++;
  assert.ok(falseHits < 400, `${falseHits} of 1000 absent keys hit the bitset`);
  // The bitset survives the encoding.
  const e = entry(5000, { originTerm: 1, kind: 'normal', keys: [], headOffset: 0, batchLen: 1, lookBehind: { length: 500, runs: [{ count: 500, kind: 'normal', originTerm: 1 }], summary: s } });
  const back = decodeParallelData(e).header.lookBehind!.summary;
  for (const k of keys) assert.ok(summaryMayConflict(back, [k]));

  const small = new SummaryBuilder();
  for (let i = 0; i < summaryListMax; i++) small.add([`s${i}`]);
  assert.is(small.finish().kind, 'list');
  const all = new SummaryBuilder();
  all.add(['a']);
  all.add(null);
  assert.is(all.finish().kind, 'all');
  const huge = new SummaryBuilder();
  for (let i = 0; i <= summaryKeysMax; i++) huge.add([`h${i}`]);
  assert.is(huge.finish().kind, 'all');
  const unknown = new SummaryBuilder();
  unknown.addEverything();
  assert.ok(summaryMayConflict(unknown.finish(), ['q']), '"everything" conflicts with any key');
});

t('a version-1 entry reads as a batch of one whose window is its look-behind', () => {
  const w = new ByteWriter();
  // version 1, origin 4, normal, keys [x]; behind: index-1 = (4, normal, [y]), index-2 = (0: unknown)
  w.u8(1).varint(4).u8(0).varint(2).str('x');
  w.varint(2);
  w.varint(4).u8(0).varint(2).str('y');
  w.varint(0).u8(1).varint(0);
  w.bytes(payload);
  const e: Entry = { term: 4, index: 10, type: 'normal', data: w.finish() };
  const d = decodeParallelData(e);
  assert.equal(d.header.keys, ['x']);
  assert.is(d.header.batchLen, 1);
  assert.is(d.header.lookBehind!.length, 2);
  assert.is(lookBehindIdAt(d.header.lookBehind!, 10, 9), entryId('normal', 4));
  assert.is(lookBehindIdAt(d.header.lookBehind!, 10, 8), null, 'origin 0: unknown');
  assert.is(d.header.lookBehind!.summary.kind, 'all', 'an unknown index may write anything');
  assert.equal([...parallelPayload(e)], [...payload]);
});

t('malformed headers are refused, naming the entry', () => {
  const good = entry(7, { originTerm: 2, kind: 'normal', keys: ['k'], headOffset: 0, batchLen: 1, lookBehind: { length: 0, runs: [], summary: { kind: 'list', keys: new Set() } } });
  const bad = (data: Uint8Array) => () => decodeParallelData({ term: 2, index: 7, type: 'normal', data });
  assert.throws(bad(new Uint8Array([9, 0])), /entry 7: parallel header version 9/);
  assert.throws(bad(good.data.subarray(0, 3)), /entry 7/);
  const long = new Uint8Array(good.data);
  long[1] = 0x7f;
  assert.throws(bad(long), /entry 7: a parallel header of 127 bytes overruns the entry/);
  // A head offset reaching before index 1.
  assert.throws(() => decodeParallelData(entry(2, { originTerm: 1, kind: 'normal', keys: [], headOffset: 4, batchLen: 5, lookBehind: null })), /entry 2: head offset 4/);
});

t.run();
