// The WAL's bytes: record framing (CRC32C, length, type), the compact binary encoding of entries,
// hard state and snapshot references, and the snapshot file format. Encoding writes straight into
// one growable buffer per group commit, so appending an entry allocates nothing but a CRC view.
import { Buffer } from 'node:buffer';
import { CodedError } from '../core/coded-error.ts';
import { crc32c } from './crc32c.ts';
import type { ConfChange, Entry, EntryType, HardState, Snapshot } from '../core/types.ts';

export const walFormatVersion = 1;

/**
 * Record frame: u32 crc32c | u32 payload length | u8 type | payload. The CRC covers length, type
 * and payload, so a flipped length or type is caught too. All integers are little-endian; u64
 * fields hold safe integers (decode checks).
 */
export const recordHeaderBytes = 9;

export const RecordType = {
  /** First record of every segment: magic, format version, segment sequence number. */
  header: 1,
  entry: 2,
  hardState: 3,
  /** A snapshot received from the leader replaced the whole log (save({snapshot})). */
  snapshotInstall: 4,
  /** The log is compacted through a local snapshot (saveSnapshot, and each segment's checkpoint). */
  snapshotCompact: 5,
  /** Parallel mode: an entry that replaces the one at its index in place (no truncation). */
  fill: 6,
} as const;
export type RecordTypeCode = (typeof RecordType)[keyof typeof RecordType];
const recordTypeMax = 6;

const headerMagic = 0x4c575245; // "ERWL"
const snapshotMagic = 0x4e535245; // "ERSN"
const entryFixedBytes = 17; // u8 type, u64 index, u64 term
const headerPayloadBytes = 14; // u32 magic, u16 version, u64 seq
const snapshotRefPayloadBytes = 24; // u64 index, u64 term, u64 minSeq
const u32Limit = 4294967296;

// Entry type codes on disk: normal 1, noop 2, config 3 (putEntry writes them inline).
const entryTypesByCode: readonly (EntryType | undefined)[] = [undefined, 'normal', 'noop', 'config'];
const confTypes: readonly ConfChange['type'][] = ['addVoter', 'addLearner', 'promoteLearner', 'removeNode'];

/**
 * A record that does not decode although its CRC matched: a format bug or a foreign file. Recovery
 * reports it as a StoreError ERR_STORE_CORRUPT naming the file; the code is the same here.
 */
export class DecodeError extends CodedError<'ERR_STORE_CORRUPT'> {
  override readonly name = 'DecodeError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_STORE_CORRUPT', message, options);
  }
}

function putU32(b: Uint8Array, o: number, v: number): void {
  b[o] = v;
  b[o + 1] = v >>> 8;
  b[o + 2] = v >>> 16;
  b[o + 3] = v >>> 24;
}

function putU64(b: Uint8Array, o: number, v: number): void {
  putU32(b, o, v >>> 0);
  putU32(b, o + 4, Math.floor(v / u32Limit));
}

export function getU32(b: Uint8Array, o: number): number {
  return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
}

function getU64(b: Uint8Array, o: number, what: string): number {
  const v = getU32(b, o) + getU32(b, o + 4) * u32Limit;
  if (!Number.isSafeInteger(v)) throw new DecodeError(`${what} ${v} is not a safe integer`);
  return v;
}

function confNodeBytes(e: Entry): number {
  return e.conf === undefined ? 0 : 3 + Buffer.byteLength(e.conf.node, 'utf8');
}

/** Bytes an entry takes on disk, frame included. */
export function entryRecordBytes(e: Entry): number {
  return recordHeaderBytes + entryFixedBytes + confNodeBytes(e) + e.data.byteLength;
}

export function hardStateRecordBytes(hs: HardState): number {
  return recordHeaderBytes + 18 + (hs.vote === null ? 0 : Buffer.byteLength(hs.vote, 'utf8'));
}

export const snapshotRefRecordBytes = recordHeaderBytes + snapshotRefPayloadBytes;
export const headerRecordBytes = recordHeaderBytes + headerPayloadBytes;

/** A growable byte buffer that records are encoded into back to back. */
export class RecordBuffer {
  #buf: Buffer;
  /** Bytes used; records occupy [0, length). */
  length = 0;

  constructor(initialBytes: number) {
    this.#buf = Buffer.allocUnsafe(initialBytes);
  }

  get bytes(): Buffer {
    return this.#buf;
  }

  get capacity(): number {
    return this.#buf.length;
  }

  /** Empties the buffer; a buffer grown past `keepBytesMax` is replaced by a small one. */
  reset(keepBytesMax: number, initialBytes: number): void {
    this.length = 0;
    if (this.#buf.length > keepBytesMax) this.#buf = Buffer.allocUnsafe(initialBytes);
  }

  ensure(extra: number): void {
    const need = this.length + extra;
    if (need <= this.#buf.length) return;
    const grown = Buffer.allocUnsafe(Math.max(need, this.#buf.length * 2));
    this.#buf.copy(grown, 0, 0, this.length);
    this.#buf = grown;
  }

  #frame(start: number, type: RecordTypeCode, end: number): void {
    const b = this.#buf;
    putU32(b, start + 4, end - start - recordHeaderBytes);
    b[start + 8] = type;
    putU32(b, start, crc32c(new Uint8Array(b.buffer, b.byteOffset + start + 4, end - start - 4)));
    this.length = end;
  }

  putEntry(e: Entry, type: typeof RecordType.entry | typeof RecordType.fill = RecordType.entry): void {
    const start = this.length;
    const b = this.#buf;
    let o = start + recordHeaderBytes;
    b[o] = e.type === 'normal' ? 1 : e.type === 'noop' ? 2 : 3;
    putU64(b, o + 1, e.index);
    putU64(b, o + 9, e.term);
    o += entryFixedBytes;
    if (e.conf !== undefined) {
      b[o] = confTypes.indexOf(e.conf.type) + 1;
      const n = b.write(e.conf.node, o + 3, 'utf8');
      b[o + 1] = n;
      b[o + 2] = n >>> 8;
      o += 3 + n;
    }
    b.set(e.data, o);
    this.#frame(start, type, o + e.data.byteLength);
  }

  putHardState(hs: HardState): void {
    const start = this.length;
    const b = this.#buf;
    const o = start + recordHeaderBytes;
    putU64(b, o, hs.term);
    putU64(b, o + 8, hs.commit);
    let n = 0xffff;
    if (hs.vote !== null) n = b.write(hs.vote, o + 18, 'utf8');
    b[o + 16] = n;
    b[o + 17] = n >>> 8;
    this.#frame(start, RecordType.hardState, o + 18 + (hs.vote === null ? 0 : n));
  }

  putSnapshotRef(type: typeof RecordType.snapshotInstall | typeof RecordType.snapshotCompact, ref: SnapshotRef): void {
    const start = this.length;
    const o = start + recordHeaderBytes;
    putU64(this.#buf, o, ref.index);
    putU64(this.#buf, o + 8, ref.term);
    putU64(this.#buf, o + 16, ref.minSeq);
    this.#frame(start, type, o + snapshotRefPayloadBytes);
  }

  putHeader(seq: number): void {
    const start = this.length;
    const o = start + recordHeaderBytes;
    putU32(this.#buf, o, headerMagic);
    this.#buf[o + 4] = walFormatVersion;
    this.#buf[o + 5] = walFormatVersion >>> 8;
    putU64(this.#buf, o + 6, seq);
    this.#frame(start, RecordType.header, o + headerPayloadBytes);
  }
}

/** Where the log's snapshot is, and the oldest segment still needed to replay the log. */
export interface SnapshotRef {
  readonly index: number;
  readonly term: number;
  readonly minSeq: number;
}

export type RecordCheck =
  | { readonly kind: 'ok'; readonly type: RecordTypeCode; readonly start: number; readonly end: number }
  | { readonly kind: 'zero' }
  | { readonly kind: 'bad'; readonly reason: string };

/** Checks the record framed at `off` in b[off, end): intact, end of data (zeros), or bad and why. */
export function checkRecord(b: Uint8Array, off: number, end: number): RecordCheck {
  const left = end - off;
  if (left < recordHeaderBytes) {
    return isZero(b, off, end) ? { kind: 'zero' } : { kind: 'bad', reason: `truncated record header (${left} bytes left)` };
  }
  const stored = getU32(b, off);
  const len = getU32(b, off + 4);
  const type = b[off + 8]!;
  if (stored === 0 && len === 0 && type === 0) return { kind: 'zero' };
  if (type === 0 || type > recordTypeMax) return { kind: 'bad', reason: `unknown record type ${type}` };
  if (len > left - recordHeaderBytes) {
    return { kind: 'bad', reason: `record length ${len} runs past the end of the file (${left - recordHeaderBytes} bytes left)` };
  }
  const recEnd = off + recordHeaderBytes + len;
  const actual = crc32c(b.subarray(off + 4, recEnd));
  if (actual !== stored) {
    return { kind: 'bad', reason: `CRC mismatch (stored ${hex(stored)}, computed ${hex(actual)}) in a type ${type} record of ${len} bytes` };
  }
  return { kind: 'ok', type: type as RecordTypeCode, start: off + recordHeaderBytes, end: recEnd };
}

function hex(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}

const zeroChunk = new Uint8Array(64 * 1024);

export function isZero(b: Uint8Array, from: number, to: number): boolean {
  return firstNonZero(b, from, to) === -1;
}

/** Offset of the first non-zero byte in b[from, to), or -1. */
export function firstNonZero(b: Uint8Array, from: number, to: number): number {
  const buf = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  for (let p = from; p < to; p += zeroChunk.length) {
    const q = Math.min(to, p + zeroChunk.length);
    if (buf.compare(zeroChunk, 0, q - p, p, q) === 0) continue;
    for (let k = p; k < q; k++) if (b[k] !== 0) return k;
  }
  return -1;
}

/** One past the last non-zero byte in b[from, to), or `from` when all are zero. */
export function endOfNonZero(b: Uint8Array, from: number, to: number): number {
  const buf = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  for (let q = to; q > from; q -= zeroChunk.length) {
    const p = Math.max(from, q - zeroChunk.length);
    if (buf.compare(zeroChunk, 0, q - p, p, q) === 0) continue;
    for (let k = q - 1; k >= p; k--) if (b[k] !== 0) return k + 1;
  }
  return from;
}

function copyBytes(b: Uint8Array, from: number, to: number): Uint8Array {
  const out = new Uint8Array(to - from);
  out.set(b.subarray(from, to));
  return out;
}

function utf8(b: Uint8Array, from: number, to: number): string {
  return Buffer.from(b.buffer, b.byteOffset + from, to - from).toString('utf8');
}

/** Index and term of an entry record, with its structure checked but its data not copied (replay). */
export function decodeEntryHead(b: Uint8Array, start: number, end: number): { index: number; term: number } {
  if (end - start < entryFixedBytes) throw new DecodeError(`entry record of ${end - start} bytes is too short`);
  const type = entryTypesByCode[b[start]!];
  if (type === undefined) throw new DecodeError(`unknown entry type code ${b[start]}`);
  const index = getU64(b, start + 1, 'entry index');
  if (index < 1) throw new DecodeError('entry index 0');
  if (type === 'config') {
    const o = start + entryFixedBytes;
    const n = b[o + 1]! | (b[o + 2]! << 8);
    if (confTypes[b[o]! - 1] === undefined || o + 3 + n > end) throw new DecodeError(`bad conf change in config entry ${index}`);
  }
  return { index, term: getU64(b, start + 9, 'entry term') };
}

export function decodeEntry(b: Uint8Array, start: number, end: number): Entry {
  if (end - start < entryFixedBytes) throw new DecodeError(`entry record of ${end - start} bytes is too short`);
  const type = entryTypesByCode[b[start]!];
  if (type === undefined) throw new DecodeError(`unknown entry type code ${b[start]}`);
  const index = getU64(b, start + 1, 'entry index');
  const term = getU64(b, start + 9, 'entry term');
  let o = start + entryFixedBytes;
  if (type !== 'config') return { index, term, type, data: copyBytes(b, o, end) };
  const confType = confTypes[b[o]! - 1];
  const n = b[o + 1]! | (b[o + 2]! << 8);
  if (confType === undefined || o + 3 + n > end) throw new DecodeError(`bad conf change in config entry ${index}`);
  const conf: ConfChange = { type: confType, node: utf8(b, o + 3, o + 3 + n) };
  o += 3 + n;
  return { index, term, type, data: copyBytes(b, o, end), conf };
}

export function decodeHardState(b: Uint8Array, start: number, end: number): HardState {
  if (end - start < 18) throw new DecodeError(`hard state record of ${end - start} bytes is too short`);
  const term = getU64(b, start, 'hard state term');
  const commit = getU64(b, start + 8, 'hard state commit');
  const n = b[start + 16]! | (b[start + 17]! << 8);
  if (n === 0xffff) return { term, vote: null, commit };
  if (start + 18 + n !== end) throw new DecodeError(`hard state vote length ${n} does not match the record`);
  return { term, vote: utf8(b, start + 18, end), commit };
}

export function decodeSnapshotRef(b: Uint8Array, start: number, end: number): SnapshotRef {
  if (end - start !== snapshotRefPayloadBytes) throw new DecodeError(`snapshot reference of ${end - start} bytes`);
  return {
    index: getU64(b, start, 'snapshot index'),
    term: getU64(b, start + 8, 'snapshot term'),
    minSeq: getU64(b, start + 16, 'segment sequence'),
  };
}

/** Returns the format version and sequence number of a header record; throws on a foreign magic. */
export function decodeHeader(b: Uint8Array, start: number, end: number): { version: number; seq: number } {
  if (end - start !== headerPayloadBytes || getU32(b, start) !== headerMagic) {
    throw new DecodeError('segment header has the wrong size or magic (not an edgeraft WAL segment)');
  }
  return { version: b[start + 4]! | (b[start + 5]! << 8), seq: getU64(b, start + 6, 'segment sequence') };
}

/**
 * Snapshot file: u32 magic | u16 version | u16 0 | u64 index | u64 term | voters | learners |
 * u64 data length | data | u32 crc32c of everything before it. A node list is u32 count, then
 * u16 length + UTF-8 per id. Returned as parts so the (possibly large) data is never copied.
 */
export function encodeSnapshotFile(s: Snapshot): { head: Buffer; data: Uint8Array; tail: Buffer } {
  const ids = [...s.meta.conf.voters, ...s.meta.conf.learners];
  let idBytes = 0;
  for (const id of ids) idBytes += 2 + Buffer.byteLength(id, 'utf8');
  const head = Buffer.alloc(24 + 8 + idBytes + 8);
  putU32(head, 0, snapshotMagic);
  head[4] = walFormatVersion;
  putU64(head, 8, s.meta.index);
  putU64(head, 16, s.meta.term);
  let o = 24;
  for (const list of [s.meta.conf.voters, s.meta.conf.learners]) {
    putU32(head, o, list.length);
    o += 4;
    for (const id of list) {
      const n = head.write(id, o + 2, 'utf8');
      head[o] = n;
      head[o + 1] = n >>> 8;
      o += 2 + n;
    }
  }
  putU64(head, o, s.data.byteLength);
  const tail = Buffer.alloc(4);
  putU32(tail, 0, crc32c(s.data, crc32c(head)));
  return { head, data: s.data, tail };
}

/** Decodes a snapshot file; throws DecodeError naming the byte offset of what is wrong. */
export function decodeSnapshotFile(b: Uint8Array): { snapshot: Snapshot; version: number } {
  if (b.length < 44) throw new DecodeError(`file of ${b.length} bytes is too short for a snapshot (offset 0)`);
  if (getU32(b, 0) !== snapshotMagic) throw new DecodeError('bad magic at offset 0 (not an edgeraft snapshot)');
  const version = b[4]! | (b[5]! << 8);
  const stored = getU32(b, b.length - 4);
  const actual = crc32c(b.subarray(0, b.length - 4));
  if (stored !== actual) {
    throw new DecodeError(`CRC mismatch at offset ${b.length - 4} (stored ${hex(stored)}, computed ${hex(actual)})`);
  }
  const index = getU64(b, 8, 'snapshot index');
  const term = getU64(b, 16, 'snapshot term');
  let o = 24;
  const lists: string[][] = [];
  for (let l = 0; l < 2; l++) {
    const count = getU32(b, o);
    o += 4;
    const list: string[] = [];
    for (let k = 0; k < count; k++) {
      const n = b[o]! | (b[o + 1]! << 8);
      if (o + 2 + n > b.length - 12) throw new DecodeError(`node id at offset ${o} runs past the data`);
      list.push(utf8(b, o + 2, o + 2 + n));
      o += 2 + n;
    }
    lists.push(list);
  }
  const dataBytes = getU64(b, o, 'snapshot data length');
  o += 8;
  if (o + dataBytes + 4 !== b.length) {
    throw new DecodeError(`data length ${dataBytes} at offset ${o - 8} does not match the file size ${b.length}`);
  }
  const conf = { voters: lists[0]!, learners: lists[1]! };
  return { snapshot: { meta: { index, term, conf }, data: copyBytes(b, o, o + dataBytes) }, version };
}
