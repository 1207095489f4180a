// The Deno WAL's bytes (src/runtime-deno/wal-records.ts, runtime-neutral, so tested here in Node):
// saves and snapshots come back as written; a log cut anywhere (a crash mid-write) loads up to its
// last whole frame and reports the torn tail; damage followed by a good frame is refused.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { StoreBatch } from '../../src/core/storage.ts';
import type { Entry, Snapshot } from '../../src/core/types.ts';
import { ByteWriter, decodeSnapshotFile, putBatchesFrame, putHeaderFrame, putSnapshotFrame, scanLog } from '../../src/runtime-deno/wal-records.ts';

const entry = (index: number, term: number, text = `e${index}`): Entry => ({ index, term, type: 'normal', data: new TextEncoder().encode(text) });

const saves: StoreBatch[][] = [
  [{ snapshot: null, entries: [entry(11, 2), { index: 12, term: 2, type: 'config', data: new Uint8Array(0), conf: { type: 'addVoter', node: 'n4' } }], hardState: { term: 2, vote: 'n1', commit: 10 } }],
  [{ snapshot: null, entries: [entry(13, 3, '')], hardState: null }, { snapshot: null, entries: [], hardState: { term: 3, vote: null, commit: 12 } }],
  [{ snapshot: null, entries: [{ index: 14, term: 3, type: 'noop', data: new Uint8Array(0) }], fills: [entry(12, 3, 'fill')], hardState: null }],
];

/** A log file of a header and one frame per group commit; also where each frame ends. */
function logBytes(): { bytes: Uint8Array; ends: number[] } {
  const w = new ByteWriter();
  putHeaderFrame(w, { index: 10, term: 2 });
  const ends = [w.length];
  for (const group of saves) {
    putBatchesFrame(w, group);
    ends.push(w.length);
  }
  return { bytes: w.view().slice(), ends };
}

test('saves come back as written: entries, membership changes, fills, hard state with and without a vote', () => {
  const { bytes } = logBytes();
  const s = scanLog(bytes, 'deno.log');
  assert.equal(s.base, { index: 10, term: 2 });
  assert.equal(s.batches, saves.flat());
  assert.is(s.validBytes, bytes.byteLength);
  assert.is(s.torn, null);
});

test('a log cut at any byte loads its whole frames and reports the torn rest', () => {
  const { bytes, ends } = logBytes();
  for (let cut = ends[0]!; cut < bytes.byteLength; cut++) {
    const s = scanLog(bytes.subarray(0, cut), 'deno.log');
    const whole = ends.filter((e) => e <= cut).length - 1;
    assert.is(s.validBytes, ends[whole]!, `cut at ${cut}`);
    assert.equal(s.batches, saves.slice(0, whole).flat(), `cut at ${cut}`);
    assert.is(s.torn === null, cut === ends[whole], `cut at ${cut}: torn is ${String(s.torn)}`);
  }
});

test('a tail of zeros or garbage (blocks written out of order) is a torn tail', () => {
  const { bytes, ends } = logBytes();
  for (const tail of [new Uint8Array(64), Uint8Array.from({ length: 40 }, (_, i) => (i * 37 + 11) & 0xff)]) {
    const b = new Uint8Array(bytes.byteLength + tail.byteLength);
    b.set(bytes);
    b.set(tail, bytes.byteLength);
    const s = scanLog(b, 'deno.log');
    assert.is(s.validBytes, ends.at(-1)!);
    assert.ok(s.torn !== null);
  }
});

test('a damaged frame followed by a good one is corruption, not a torn tail: refused, naming the file and offset', () => {
  const { bytes, ends } = logBytes();
  const b = bytes.slice();
  b[ends[1]! + 20]! ^= 0x40;
  assert.throws(() => scanLog(b, '/data/wal/deno.log'), (err: Error & { code?: string }) =>
    err.code === 'ERR_STORE_CORRUPT' && err.message.includes('/data/wal/deno.log') && err.message.includes(`byte ${ends[1]}`));
});

test('a file without the header frame is refused', () => {
  const w = new ByteWriter();
  putBatchesFrame(w, saves[0]!);
  assert.throws(() => scanLog(w.view(), 'deno.log'), /no header|not a header/);
});

test('a snapshot file comes back as written; any damage is refused', () => {
  const snap: Snapshot = { meta: { index: 40, term: 5, conf: { voters: ['n1', 'n2', 'n3'], learners: ['n4'] } }, data: Uint8Array.from([1, 2, 3, 250]) };
  const w = new ByteWriter();
  putSnapshotFrame(w, snap);
  const bytes = w.view().slice();
  assert.equal(decodeSnapshotFile(bytes, 'snap'), snap);
  for (const at of [0, 5, 12, bytes.byteLength - 1]) {
    const b = bytes.slice();
    b[at]! ^= 1;
    assert.throws(() => decodeSnapshotFile(b, 'snap'), /damaged/);
  }
  assert.throws(() => decodeSnapshotFile(bytes.subarray(0, bytes.byteLength - 1), 'snap'), /damaged/);
});

test.run();
