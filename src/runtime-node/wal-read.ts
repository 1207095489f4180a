// Reading entries back from the segments for FileWal.entries() and load(): positions come from
// the EntryIndex, bytes from one positioned read per segment, and every record is verified again
// (CRC, type, index) on the way out, pairing the checks made when it was written and replayed.
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { Buffer } from 'node:buffer';
import { StoreError } from '../core/storage.ts';
import type { Entry, Index } from '../core/types.ts';
import { RecordType, checkRecord, decodeEntry } from './wal-format.ts';
import { segmentName } from './wal-files.ts';
import type { EntryIndex, EntryPlace } from './wal-index.ts';

/**
 * Reads entries [lo, hi) (all already written) with one read per segment they span, checking each
 * record's CRC and index again. `recheck` throws ERR_STORE_COMPACTED if a concurrent compaction
 * deleted a segment meanwhile.
 */
export async function readEntries(dir: string, index: EntryIndex, lo: Index, hi: Index, recheck: () => void): Promise<Entry[]> {
  const out: Entry[] = [];
  let i = lo;
  while (i < hi) {
    const first = index.placeOf(i);
    let j = i + 1;
    // Offsets usually grow with the index; in-place fills (parallel mode) can break that.
    let start = first.offset;
    let end = first.offset + first.bytes;
    for (; j < hi; j++) {
      const p = index.placeOf(j);
      if (p.seq !== first.seq) break;
      start = Math.min(start, p.offset);
      end = Math.max(end, p.offset + p.bytes);
    }
    const places: EntryPlace[] = [];
    for (let k = i; k < j; k++) places.push(index.placeOf(k));
    const path = join(dir, segmentName(first.seq));
    let buf: Buffer;
    try {
      buf = await readRange(path, start, end - start);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new StoreError('ERR_STORE_IO', `${path}: cannot read: ${(err as Error).message}`);
      recheck();
      throw new StoreError('ERR_STORE_CORRUPT', `${path}: segment is missing but holds entries ${i}..${j - 1}`);
    }
    for (let k = 0; k < places.length; k++) out.push(decodePlaced(buf, places[k]!, start, i + k, path));
    i = j;
  }
  return out;
}

async function readRange(path: string, offset: number, length: number): Promise<Buffer> {
  const fh = await fsp.open(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(length);
    let got = 0;
    while (got < length) {
      const { bytesRead } = await fh.read(buf, got, length - got, offset + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    return got === length ? buf : buf.subarray(0, got);
  } finally {
    await fh.close();
  }
}

/** Decodes the entry at `place` from a buffer read at `base`; re-checks its CRC and index. */
function decodePlaced(buf: Buffer, place: EntryPlace, base: number, index: Index, path: string): Entry {
  const at = place.offset - base;
  const r = checkRecord(buf, at, at + place.bytes);
  const bad = (what: string): StoreError => new StoreError('ERR_STORE_CORRUPT', `${path} at byte offset ${place.offset}: ${what} (reading entry ${index})`);
  if (r.kind !== 'ok') throw bad(r.kind === 'bad' ? r.reason : 'zeros where the record should be');
  if (r.type !== RecordType.entry && r.type !== RecordType.fill) throw bad(`record of type ${r.type}, not an entry`);
  let e: Entry;
  try {
    e = decodeEntry(buf, r.start, r.end);
  } catch (err) {
    throw bad((err as Error).message);
  }
  if (e.index !== index) throw bad(`record holds entry ${e.index}`);
  return e;
}
