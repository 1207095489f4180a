// Recovery of a WAL directory on open: checks the format version, replays every segment in
// order verifying each record's CRC, loads the referenced snapshot, and decides what is a torn
// tail (truncated with a warning: it was never acknowledged) and what is corruption (refused).
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { LogMeta } from '../core/store/log-meta.ts';
import { raftLogRules, type LogRules } from '../core/store/log-rules.ts';
import { StoreError } from '../core/storage.ts';
import { emptyHardState } from '../core/types.ts';
import type { HardState, Snapshot } from '../core/types.ts';
import {
  DecodeError, RecordType, checkRecord, decodeEntryHead, decodeHardState, decodeHeader, decodeSnapshotFile,
  decodeSnapshotRef, endOfNonZero, firstNonZero, getU32, recordHeaderBytes, walFormatVersion,
} from './wal-format.ts';
import type { RecordTypeCode, SnapshotRef } from './wal-format.ts';
import { crc32c } from './crc32c.ts';
import { EntryIndex } from './wal-index.ts';
import { parseSegmentName, parseSnapshotName, segmentName, snapshotName, versionFileName } from './wal-files.ts';

export const versionText = `edgeraft-wal ${walFormatVersion}\n`;

export interface SegmentInfo {
  readonly seq: number;
  /** Highest entry index written to this segment (0 if none): compaction deletes a segment once a snapshot covers it. */
  maxIndex: number;
}

/** Where appending resumes in the last segment, and what garbage to zero first. */
export interface TailInfo {
  readonly seq: number;
  readonly dataEnd: number;
  /** The segment has no header yet (a crash right after it was created). */
  readonly needsHeader: boolean;
  /** Bytes [zeroFrom, zeroTo) are a torn tail to overwrite with zeros before appending. */
  readonly zeroFrom: number;
  readonly zeroTo: number;
}

export interface Recovered {
  readonly fresh: boolean;
  readonly state: LogMeta;
  /** Where the entries after the snapshot are. */
  readonly index: EntryIndex;
  readonly ref: SnapshotRef | null;
  /** Oldest segment replay needs; older ones left by an interrupted compaction may be deleted. */
  readonly minSeq: number;
  /** Segment holding the latest snapshot install: every segment before it is dead. */
  readonly installSeq: number;
  readonly segments: SegmentInfo[];
  readonly tail: TailInfo | null;
  readonly deadSegments: readonly number[];
  readonly strayFiles: readonly string[];
}

function corrupt(path: string, offset: number | null, what: string): StoreError {
  const where = offset === null ? '' : ` at byte offset ${offset}`;
  return new StoreError('ERR_STORE_CORRUPT', `${path}${where}: ${what}`);
}

/** Offset of the first intact record starting in [from, scanTo), or -1. */
function findIntactRecord(b: Uint8Array, from: number, scanTo: number): number {
  for (let p = from; p < scanTo && p + recordHeaderBytes <= b.length; p++) {
    const type = b[p + 8]!;
    if (type === 0 || type > RecordType.fill) continue;
    const len = getU32(b, p + 4);
    if (p + recordHeaderBytes + len > b.length) continue;
    if (crc32c(b.subarray(p + 4, p + recordHeaderBytes + len)) === getU32(b, p)) return p;
  }
  return -1;
}

/**
 * The log as replayed so far, record by record, in write order. When older segments were deleted
 * by compaction, replay starts mid-log: the index base is then provisional (the first entry seen
 * fixes it) until a snapshot reference at or past it arrives, as it must, since the reference
 * that made those segments deletable covers every entry they held and lives in a later segment.
 */
class Replay {
  readonly index = new EntryIndex();
  provisional: boolean;
  hardState: HardState = emptyHardState;
  ref: SnapshotRef | null = null;
  minSeq = 1;
  installSeq = 0;

  constructor(firstSeq: number) {
    this.provisional = firstSeq > 1;
  }

  apply(type: RecordTypeCode, b: Uint8Array, off: number, r: { start: number; end: number }, seg: SegmentInfo): string | null {
    const ix = this.index;
    switch (type) {
      case RecordType.entry: {
        const e = decodeEntryHead(b, r.start, r.end);
        if (e.index > seg.maxIndex) seg.maxIndex = e.index;
        if (this.provisional && (ix.length === 0 || e.index <= ix.base)) ix.reset(e.index - 1);
        if (e.index <= ix.base) return null;
        const last = ix.lastIndex();
        if (e.index > last + 1) return `entry ${e.index} follows the last index ${last}: entries ${last + 1}..${e.index - 1} are missing`;
        ix.place(e.index, e.term, seg.seq, off, r.end - off);
        return null;
      }
      case RecordType.fill: {
        const e = decodeEntryHead(b, r.start, r.end);
        if (e.index > seg.maxIndex) seg.maxIndex = e.index;
        // Before the first entry of a mid-log replay, or below a later snapshot, it is moot.
        if (this.provisional || e.index <= ix.base) return null;
        if (e.index > ix.lastIndex()) return `fill of entry ${e.index} beyond the last index ${ix.lastIndex()}`;
        ix.replace(e.index, e.term, seg.seq, off, r.end - off);
        return null;
      }
      case RecordType.hardState:
        this.hardState = decodeHardState(b, r.start, r.end);
        return null;
      case RecordType.snapshotInstall: {
        const ref = decodeSnapshotRef(b, r.start, r.end);
        this.#setRef(ref);
        ix.reset(ref.index);
        this.provisional = false;
        this.installSeq = seg.seq;
        return null;
      }
      case RecordType.snapshotCompact: {
        const ref = decodeSnapshotRef(b, r.start, r.end);
        // Before the first entry of a mid-log replay, a (checkpoint) reference says nothing about
        // where the entries that follow begin.
        if (this.provisional && (ix.length === 0 || ref.index < ix.base)) {
          this.#setRef(ref);
          return null;
        }
        if (ref.index < ix.base) return `compaction to index ${ref.index} is older than the snapshot at ${ix.base}`;
        if (ref.index >= ix.lastIndex()) ix.reset(ref.index);
        else ix.compact(ref.index);
        this.provisional = false;
        this.#setRef(ref);
        return null;
      }
      case RecordType.header:
        return 'unexpected segment header in the middle of a segment';
    }
  }

  #setRef(ref: SnapshotRef): void {
    this.ref = ref;
    if (ref.minSeq > this.minSeq) this.minSeq = ref.minSeq;
  }

  /** A problem if the replayed log does not start right after its snapshot. */
  finish(): string | null {
    const snapIndex = this.ref?.index ?? 0;
    const ix = this.index;
    if (ix.length === 0 && ix.base !== snapIndex) ix.reset(snapIndex);
    if (ix.base === snapIndex) return null;
    return `entries ${snapIndex + 1}..${ix.base} are missing (the replayed log starts at ${ix.base + 1} but the snapshot ends at ${snapIndex}): a segment was deleted or lost`;
  }
}

async function checkVersion(dir: string, hasData: boolean): Promise<boolean> {
  const path = join(dir, versionFileName);
  let text: string;
  try {
    text = await fsp.readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    if (hasData) throw corrupt(path, null, 'the VERSION file is missing but the directory holds WAL segments or snapshots');
    return true;
  }
  if (text !== versionText) {
    throw new StoreError('ERR_STORE_VERSION', `${path}: format ${JSON.stringify(text.trim())} is not supported (this build reads ${JSON.stringify(versionText.trim())})`);
  }
  return !hasData;
}

/** Replays one segment into `replay`; returns where its data ends (and what to truncate). */
async function replaySegment(dir: string, seg: SegmentInfo, isLast: boolean, replay: Replay, warn: (m: string) => void): Promise<TailInfo> {
  const path = join(dir, segmentName(seg.seq));
  const b = await fsp.readFile(path);
  let off = 0;
  let sawHeader = false;
  for (;;) {
    const r = checkRecord(b, off, b.length);
    let reason: string;
    if (r.kind === 'ok') {
      let problem: string | null;
      try {
        problem = sawHeader ? replay.apply(r.type, b, off, r, seg) : checkHeader(r.type, b, r.start, r.end, seg.seq, path);
      } catch (err) {
        if (!(err instanceof DecodeError)) throw err;
        problem = err.message;
      }
      if (problem !== null) throw corrupt(path, off, problem);
      sawHeader = true;
      off = r.end;
      continue;
    }
    if (r.kind === 'zero') {
      const nz = firstNonZero(b, off, b.length);
      if (nz === -1) {
        if (!sawHeader && !isLast) throw corrupt(path, 0, 'segment is empty (no header) but is not the last one');
        return { seq: seg.seq, dataEnd: off, needsHeader: !sawHeader, zeroFrom: off, zeroTo: off };
      }
      reason = `zero bytes where a record should start, then non-zero bytes at offset ${nz}`;
    } else {
      reason = r.reason;
    }
    if (!isLast) throw corrupt(path, off, `${reason} (not the last segment, so not a torn tail)`);
    const dirtyEnd = endOfNonZero(b, off, b.length);
    const intact = findIntactRecord(b, off + 1, dirtyEnd);
    if (intact !== -1) {
      throw corrupt(path, off, `${reason}; an intact record follows at offset ${intact}, so this is corruption, not a torn tail`);
    }
    warn(`${path}: ${reason} at byte offset ${off}; truncating the torn tail (${dirtyEnd - off} bytes that were never acknowledged)`);
    return { seq: seg.seq, dataEnd: off, needsHeader: !sawHeader, zeroFrom: off, zeroTo: dirtyEnd };
  }
}

function checkHeader(type: RecordTypeCode, b: Uint8Array, start: number, end: number, seq: number, path: string): string | null {
  if (type !== RecordType.header) return `segment does not start with a header record (type ${type})`;
  const h = decodeHeader(b, start, end);
  if (h.version !== walFormatVersion) {
    throw new StoreError('ERR_STORE_VERSION', `${path}: segment format version ${h.version} is not supported (this build reads ${walFormatVersion})`);
  }
  return h.seq === seq ? null : `header names segment ${h.seq} but the file is segment ${seq}`;
}

async function loadSnapshot(dir: string, ref: SnapshotRef): Promise<Snapshot> {
  const path = join(dir, snapshotName(ref.index));
  let bytes: Uint8Array;
  try {
    bytes = await fsp.readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw corrupt(path, null, `snapshot file is missing but the WAL refers to it (index ${ref.index})`);
    throw err;
  }
  let decoded: { snapshot: Snapshot; version: number };
  try {
    decoded = decodeSnapshotFile(bytes);
  } catch (err) {
    if (err instanceof DecodeError) throw corrupt(path, null, err.message);
    throw err;
  }
  if (decoded.version !== walFormatVersion) {
    throw new StoreError('ERR_STORE_VERSION', `${path}: snapshot format version ${decoded.version} is not supported (this build reads ${walFormatVersion})`);
  }
  const meta = decoded.snapshot.meta;
  if (meta.index !== ref.index || meta.term !== ref.term) {
    throw corrupt(path, 8, `snapshot is (index ${meta.index}, term ${meta.term}) but the WAL refers to (index ${ref.index}, term ${ref.term})`);
  }
  return decoded.snapshot;
}

/** Replays `dir` (which must exist and be locked by the caller). */
export async function recoverDir(dir: string, warn: (message: string) => void, rules: LogRules = raftLogRules): Promise<Recovered> {
  const names = await fsp.readdir(dir);
  const seqs = names.map(parseSegmentName).filter((s): s is number => s !== null).sort((a, b) => a - b);
  const snapIndexes = names.map(parseSnapshotName).filter((s): s is number => s !== null);
  const strayFiles = names.filter((n) => n.endsWith('.tmp'));
  const fresh = await checkVersion(dir, seqs.length > 0 || snapIndexes.length > 0);
  for (let k = 1; k < seqs.length; k++) {
    if (seqs[k] !== seqs[k - 1]! + 1) {
      throw corrupt(join(dir, segmentName(seqs[k - 1]! + 1)), null, `segment is missing (the sequence jumps from ${segmentName(seqs[k - 1]!)} to ${segmentName(seqs[k]!)})`);
    }
  }
  if (seqs.length === 0 && snapIndexes.length > 0) {
    throw corrupt(dir, null, `snapshot files (${snapIndexes.map(snapshotName).join(', ')}) but no WAL segment`);
  }
  const replay = new Replay(seqs[0] ?? 1);
  const segments: SegmentInfo[] = seqs.map((seq) => ({ seq, maxIndex: 0 }));
  let tail: TailInfo | null = null;
  for (let k = 0; k < segments.length; k++) {
    tail = await replaySegment(dir, segments[k]!, k === segments.length - 1, replay, warn);
  }
  const firstSeq = seqs[0];
  if (firstSeq !== undefined && firstSeq > replay.minSeq) {
    throw corrupt(join(dir, segmentName(replay.minSeq)), null, `segment is missing (replay needs segments from ${replay.minSeq}, the oldest present is ${firstSeq})`);
  }
  const gap = replay.finish();
  if (gap !== null) throw corrupt(join(dir, segmentName(seqs[0] ?? 1)), null, gap);
  const snapshot = replay.ref === null ? null : await loadSnapshot(dir, replay.ref);
  let state: LogMeta;
  try {
    state = LogMeta.restore(replay.hardState, snapshot, replay.index.terms, rules);
  } catch (err) {
    throw corrupt(dir, null, `replayed log is inconsistent: ${(err as Error).message}`);
  }
  for (const idx of snapIndexes) {
    if (idx !== replay.ref?.index) strayFiles.push(snapshotName(idx));
  }
  return {
    fresh,
    state,
    index: replay.index,
    ref: replay.ref,
    minSeq: replay.minSeq,
    installSeq: replay.installSeq,
    segments: segments.filter((s) => s.seq >= replay.minSeq),
    tail,
    deadSegments: seqs.filter((s) => s < replay.minSeq),
    strayFiles,
  };
}
