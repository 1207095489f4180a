// FileWal recovery and on-disk behaviour: torn tails are truncated with a warning, corruption
// before the tail, missing segments and bad snapshot files are refused with the file and offset,
// versions are checked, options are validated, and compaction really deletes segments.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, readdirSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FileWalOptions } from '../../src/runtime-node/wal.ts';
import { FileWal } from '../../src/runtime-node/wal.ts';
import { RecordType, checkRecord } from '../../src/runtime-node/wal-format.ts';
import { crc32c } from '../../src/runtime-node/crc32c.ts';
import { segmentName } from '../../src/runtime-node/wal-files.ts';
import { batch, entriesFrom, entry, rejects, snapshot } from './conformance.ts';

const root = mkdtempSync(join(tmpdir(), 'edgeraft-wal-rec-'));
let dirs = 0;
const test = suite('FileWal recovery');

function freshDir(): string {
  return join(root, `d${dirs++}`);
}

interface Opened {
  wal: FileWal;
  warnings: string[];
}

async function open(dir: string, extra: FileWalOptions = {}): Promise<Opened> {
  const warnings: string[] = [];
  const wal = await FileWal.open(dir, { segmentBytes: 16 * 1024, logger: { warn: (m) => void warnings.push(m) }, ...extra });
  return { wal, warnings };
}

/** Writes entries 1..n-1 (100-byte payloads) and closes. */
async function populate(dir: string, n: number, extra: FileWalOptions = {}): Promise<void> {
  const { wal } = await open(dir, extra);
  for (let i = 1; i < n; i += 10) await wal.save(batch({ entries: entriesFrom(i, Math.min(n, i + 10), 1, 100) }));
  await wal.close();
}

function segments(dir: string): string[] {
  return readdirSync(dir).filter((n) => n.endsWith('.wal')).sort();
}

/** Offsets of the intact records of a segment file, in order. */
function records(path: string): { offset: number; type: number; end: number }[] {
  const b = readFileSync(path);
  const out: { offset: number; type: number; end: number }[] = [];
  let off = 0;
  for (;;) {
    const r = checkRecord(b, off, b.length);
    if (r.kind !== 'ok') return out;
    out.push({ offset: off, type: r.type, end: r.end });
    off = r.end;
  }
}

function flipByte(path: string, offset: number): void {
  const b = readFileSync(path);
  b[offset]! ^= 0x10;
  writeFileSync(path, b);
}

function lastEntries(path: string, count: number): { offset: number; end: number }[] {
  return records(path).filter((r) => r.type === RecordType.entry).slice(-count);
}

test('a clean reopen reads the zero-filled preallocated tail as end of data, without warnings', async () => {
  const dir = freshDir();
  await populate(dir, 50);
  const { wal, warnings } = await open(dir);
  assert.is((await wal.load()).entries.length, 49);
  assert.equal(warnings, []);
  assert.is(readFileSync(join(dir, segmentName(1))).length, 16 * 1024, 'segments are preallocated to segmentBytes');
  await wal.close();
});

test('a torn last record (partly written) is truncated with a warning; appending continues', async () => {
  const dir = freshDir();
  await populate(dir, 30, { segmentBytes: 1 << 20 });
  const path = join(dir, segmentName(1));
  const last = lastEntries(path, 1)[0]!;
  // Zero the second half of the last record, as if its last sectors never reached the disk.
  const b = readFileSync(path);
  b.fill(0, last.offset + Math.floor((last.end - last.offset) / 2), last.end);
  writeFileSync(path, b);
  let { wal, warnings } = await open(dir, { segmentBytes: 1 << 20 });
  assert.is(warnings.length, 1);
  assert.match(warnings[0]!, new RegExp(`${segmentName(1)}.*offset ${last.offset}.*torn tail`));
  assert.equal((await wal.load()).entries, entriesFrom(1, 29, 1, 100));
  await wal.save(batch({ entries: [entry(29, 2)] }));
  await wal.close();
  ({ wal, warnings } = await open(dir, { segmentBytes: 1 << 20 }));
  assert.equal(warnings, [], 'the truncated garbage was zeroed, so the next open is clean');
  assert.equal((await wal.load()).entries.at(-1), entry(29, 2));
  await wal.close();
});

test('a file cut short in the middle of the last record recovers the same way', async () => {
  const dir = freshDir();
  await populate(dir, 20, { segmentBytes: 1 << 20 });
  const path = join(dir, segmentName(1));
  const last = lastEntries(path, 1)[0]!;
  truncateSync(path, last.offset + 20);
  const { wal, warnings } = await open(dir, { segmentBytes: 1 << 20 });
  assert.is(warnings.length, 1);
  assert.match(warnings[0]!, /runs past the end|truncated record header/);
  assert.equal((await wal.load()).entries, entriesFrom(1, 19, 1, 100));
  await wal.close();
});

test('a bit flip in the last record is a corrupt tail: truncated with a warning', async () => {
  const dir = freshDir();
  await populate(dir, 20, { segmentBytes: 1 << 20 });
  const path = join(dir, segmentName(1));
  const last = lastEntries(path, 1)[0]!;
  flipByte(path, last.end - 3);
  const { wal, warnings } = await open(dir, { segmentBytes: 1 << 20 });
  assert.is(warnings.length, 1);
  assert.match(warnings[0]!, new RegExp(`CRC mismatch.*offset ${last.offset}`));
  assert.equal((await wal.load()).entries, entriesFrom(1, 19, 1, 100));
  await wal.close();
});

test('a bit flip in an earlier record is refused with the file and byte offset', async () => {
  const dir = freshDir();
  await populate(dir, 20, { segmentBytes: 1 << 20 });
  const path = join(dir, segmentName(1));
  const victim = lastEntries(path, 5)[0]!;
  flipByte(path, victim.offset + 30);
  const before = readFileSync(path);
  const err = await rejects(open(dir, { segmentBytes: 1 << 20 }), 'ERR_STORE_CORRUPT');
  assert.ok(err.message.includes(path), err.message);
  assert.match(err.message, new RegExp(`byte offset ${victim.offset}:.*CRC mismatch.*intact record follows`));
  assert.ok(readFileSync(path).equals(before), 'a refused open changes nothing on disk');
  // A corrupt length field is caught by the CRC too (it covers the frame).
  flipByte(path, victim.offset + 30);
  flipByte(path, victim.offset + 5);
  const err2 = await rejects(open(dir, { segmentBytes: 1 << 20 }), 'ERR_STORE_CORRUPT');
  assert.match(err2.message, new RegExp(`byte offset ${victim.offset}`));
});

test('corruption in a segment that is not the last one is refused even at its end', async () => {
  const dir = freshDir();
  await populate(dir, 400);
  const segs = segments(dir);
  assert.ok(segs.length >= 3, `expected several segments, got ${segs.length}`);
  const path = join(dir, segs[0]!);
  const last = lastEntries(path, 1)[0]!;
  flipByte(path, last.end - 1);
  const err = await rejects(open(dir), 'ERR_STORE_CORRUPT');
  assert.match(err.message, new RegExp(`${segs[0]} at byte offset ${last.offset}.*not the last segment`));
});

test('a missing segment (gap in the sequence, or the first one) is refused naming it', async () => {
  const dir = freshDir();
  await populate(dir, 400);
  const segs = segments(dir);
  rmSync(join(dir, segs[1]!));
  const err = await rejects(open(dir), 'ERR_STORE_CORRUPT');
  assert.match(err.message, new RegExp(`${segs[1]}: segment is missing`));
  const dir2 = freshDir();
  await populate(dir2, 400);
  rmSync(join(dir2, segs[0]!));
  const err2 = await rejects(open(dir2), 'ERR_STORE_CORRUPT');
  assert.match(err2.message, /missing/);
  assert.ok(err2.message.includes(segs[0]!) || err2.message.includes(segs[1]!), err2.message);
});

test('compaction deletes the segments a snapshot covers and old snapshot files', async () => {
  const dir = freshDir();
  await populate(dir, 400);
  const before = segments(dir);
  let { wal } = await open(dir);
  await wal.saveSnapshot(snapshot(200, 1));
  await wal.saveSnapshot(snapshot(350, 1));
  const after = segments(dir);
  assert.ok(after.length < before.length, `segments ${before.length} -> ${after.length}`);
  assert.ok(!after.includes(before[0]!), 'the first segment is gone');
  assert.equal(readdirSync(dir).filter((n) => n.startsWith('snap-')), ['snap-0000000000000350.snap']);
  await wal.save(batch({ entries: [entry(400, 2)], hardState: { term: 2, vote: 'x', commit: 360 } }));
  await wal.close();
  let warnings: string[];
  ({ wal, warnings } = await open(dir));
  const loaded = await wal.load();
  assert.equal(warnings, []);
  assert.is(loaded.snapshot?.meta.index, 350);
  assert.equal(loaded.entries, [...entriesFrom(351, 400, 1, 100), entry(400, 2)]);
  assert.equal(loaded.hardState, { term: 2, vote: 'x', commit: 360 });
  // Installing a leader's snapshot makes every earlier segment dead.
  await wal.save(batch({ snapshot: snapshot(1000, 3) }));
  assert.is(segments(dir).length, 1);
  await wal.close();
  ({ wal } = await open(dir));
  assert.equal((await wal.load()).entries, []);
  assert.equal((await wal.load()).hardState, { term: 2, vote: 'x', commit: 360 });
  await wal.close();
});

test('a damaged or missing snapshot file is refused naming it', async () => {
  const dir = freshDir();
  await populate(dir, 100);
  const { wal } = await open(dir);
  await wal.saveSnapshot(snapshot(60, 1, 500));
  await wal.close();
  const snapPath = join(dir, 'snap-0000000000000060.snap');
  flipByte(snapPath, 100);
  const err = await rejects(open(dir), 'ERR_STORE_CORRUPT');
  assert.ok(err.message.includes(snapPath), err.message);
  assert.match(err.message, /CRC mismatch at offset/);
  rmSync(snapPath);
  const err2 = await rejects(open(dir), 'ERR_STORE_CORRUPT');
  assert.match(err2.message, /snap-0000000000000060\.snap: snapshot file is missing/);
});

test('an incompatible format version is refused with ERR_STORE_VERSION', async () => {
  const dir = freshDir();
  await populate(dir, 10);
  writeFileSync(join(dir, 'VERSION'), 'edgeraft-wal 99\n');
  const err = await rejects(open(dir), 'ERR_STORE_VERSION');
  assert.match(err.message, /VERSION: format "edgeraft-wal 99" is not supported/);
  // A segment header of another version (with a valid CRC) is refused the same way.
  writeFileSync(join(dir, 'VERSION'), 'edgeraft-wal 1\n');
  const path = join(dir, segmentName(1));
  const b = readFileSync(path);
  b[9 + 4] = 7;
  b.writeUInt32LE(crc32c(b.subarray(4, 23)), 0);
  writeFileSync(path, b);
  const err2 = await rejects(open(dir), 'ERR_STORE_VERSION');
  assert.match(err2.message, /segment format version 7/);
});

test('a segment with no header after a crash during a roll is reused', async () => {
  const dir = freshDir();
  await populate(dir, 40);
  const segs = segments(dir);
  const next = segmentName(segs.length + 1);
  writeFileSync(join(dir, next), Buffer.alloc(16 * 1024));
  let { wal, warnings } = await open(dir);
  assert.equal(warnings, []);
  assert.is((await wal.load()).entries.length, 39);
  await wal.save(batch({ entries: [entry(40, 1)] }));
  await wal.close();
  ({ wal, warnings } = await open(dir));
  assert.is((await wal.load()).entries.length, 40);
  await wal.close();
});

test('entries of several MiB round-trip across small segments', async () => {
  const dir = freshDir();
  const big = (i: number, bytes: number) => entry(i, 1, bytes);
  let { wal } = await open(dir, { segmentBytes: 1 << 20 });
  const list = [big(1, 5 << 20), big(2, 10), big(3, 3 << 20), big(4, 1 << 20)];
  await Promise.all(list.map((e) => wal.save(batch({ entries: [e] }))));
  await wal.close();
  ({ wal } = await open(dir, { segmentBytes: 1 << 20 }));
  assert.equal((await wal.load()).entries, list);
  await wal.close();
});

test('backpressure: saves past pendingBytesMax wait, and all still resolve in call order', async () => {
  const dir = freshDir();
  let { wal } = await open(dir, { pendingBytesMax: 1024 });
  const order: number[] = [];
  const saves = [];
  for (let i = 1; i <= 300; i++) {
    saves.push(wal.save(batch({ entries: [entry(i, 1, 200)], hardState: { term: 1, vote: null, commit: i } })).then(() => void order.push(i)));
  }
  assert.equal(await wal.entries(299, 301), entriesFrom(299, 301, 1, 200), 'accepted saves are visible at once');
  await Promise.all(saves);
  assert.equal(order, Array.from({ length: 300 }, (_, k) => k + 1));
  await wal.close();
  ({ wal } = await open(dir));
  assert.equal((await wal.load()).entries, entriesFrom(1, 301, 1, 200));
  await wal.close();
});

test('entries() re-checks each record it reads: damage after open is reported, not returned', async () => {
  const dir = freshDir();
  await populate(dir, 30, { segmentBytes: 1 << 20 });
  const { wal } = await open(dir, { segmentBytes: 1 << 20 });
  const path = join(dir, segmentName(1));
  const victim = lastEntries(path, 10)[0]!;
  flipByte(path, victim.offset + 40);
  assert.equal(await wal.entries(1, 5), entriesFrom(1, 5, 1, 100));
  const err = await rejects(wal.entries(15, 25), 'ERR_STORE_CORRUPT');
  assert.match(err.message, new RegExp(`${segmentName(1)} at byte offset ${victim.offset}: CRC mismatch`));
  await wal.close();
});

test('options are validated, each named in the error', async () => {
  const dir = freshDir();
  await rejects(FileWal.open(dir, { segmentBytes: 100 }), 'ERR_STORE_INVALID', /segmentBytes.*100/);
  await rejects(FileWal.open(dir, { segmentBytes: 1.5 }), 'ERR_STORE_INVALID', /segmentBytes/);
  await rejects(FileWal.open(dir, { pendingBytesMax: -1 }), 'ERR_STORE_INVALID', /pendingBytesMax.*-1/);
  await rejects(FileWal.open(dir, { syncMode: 'fsync' as 'none' }), 'ERR_STORE_INVALID', /syncMode.*"fsync"/);
  await rejects(FileWal.open(dir, { logger: {} as { warn(m: string): void } }), 'ERR_STORE_INVALID', /logger/);
  await rejects(FileWal.open(dir, { segmentByte: 5 } as FileWalOptions), 'ERR_STORE_INVALID', /unknown FileWal option 'segmentByte'/);
});

test('stray temp files from an interrupted write are removed on open', async () => {
  const dir = freshDir();
  await populate(dir, 10);
  writeFileSync(join(dir, 'snap-0000000000000005.snap.tmp'), 'partial');
  writeFileSync(join(dir, 'snap-0000000000000009.snap'), 'never referenced');
  const { wal, warnings } = await open(dir);
  assert.is(warnings.length, 1);
  assert.match(warnings[0]!, /snap-0000000000000009\.snap: removing a snapshot file the WAL does not refer to/);
  assert.equal(readdirSync(dir).filter((n) => n.startsWith('snap-')), []);
  await wal.close();
});

test.after(() => rmSync(root, { recursive: true, force: true }));
test.run();
