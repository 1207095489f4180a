// The Deno WAL's bytes, runtime-neutral (no Deno or Node API, so Node tests exercise it): framed
// records (u32 crc32c | u32 payload length | u8 type | payload, the Node WAL's framing), a log file
// of one header frame then one frame per group commit, the snapshot file, and the scan that finds
// a torn tail. Layout and recovery rules: docs/operations.md "Deno peers", and deno-wal.ts.

import { StoreError } from '../core/storage.ts';
import type { StoreBatch } from '../core/storage.ts';
import { crc32cJs } from '../core/store/crc32c.ts';
import type { ConfChange, Entry, EntryType, HardState, Snapshot } from '../core/types.ts';

export const denoWalVersionText = 'edgeraft-deno-wal 1\n';
export const frameHeaderBytes = 9;
/** A frame larger than this is not one we wrote: its length field is damage. */
export const frameBytesMax = 1 << 30;

export const FrameType = { header: 1, batches: 2, snapshot: 3 } as const;
type FrameTypeCode = (typeof FrameType)[keyof typeof FrameType];

const headerMagic = 0x57445245; // "ERDW"
const u32Limit = 4294967296;
const entryTypes: readonly EntryType[] = ['normal', 'noop', 'config'];
const confTypes: readonly ConfChange['type'][] = ['addVoter', 'addLearner', 'promoteLearner', 'removeNode'];
const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** A growable byte buffer written front to back, little-endian. */
export class ByteWriter {
  #buf = new Uint8Array(4096);
  #view = new DataView(this.#buf.buffer);
  length = 0;

  #room(n: number): void {
    if (this.length + n <= this.#buf.length) return;
    const grown = new Uint8Array(Math.max(this.length + n, this.#buf.length * 2));
    grown.set(this.#buf.subarray(0, this.length));
    this.#buf = grown;
    this.#view = new DataView(grown.buffer);
  }

  u8(v: number): void {
    this.#room(1);
    this.#buf[this.length++] = v;
  }

  u16(v: number): void {
    this.#room(2);
    this.#view.setUint16(this.length, v, true);
    this.length += 2;
  }

  u32(v: number): void {
    this.#room(4);
    this.#view.setUint32(this.length, v >>> 0, true);
    this.length += 4;
  }

  u64(v: number): void {
    this.u32(v >>> 0);
    this.u32(Math.floor(v / u32Limit));
  }

  bytes(b: Uint8Array): void {
    this.#room(b.byteLength);
    this.#buf.set(b, this.length);
    this.length += b.byteLength;
  }

  /** u16 length, then UTF-8. */
  text(s: string): void {
    const b = encoder.encode(s);
    this.u16(b.byteLength);
    this.bytes(b);
  }

  /** Starts a frame; returns where it starts, for endFrame(). */
  beginFrame(type: FrameTypeCode): number {
    const start = this.length;
    this.u32(0);
    this.u32(0);
    this.u8(type);
    return start;
  }

  /** Fills in the length and the CRC (over length, type and payload) of the frame at `start`. */
  endFrame(start: number): void {
    this.#view.setUint32(start + 4, this.length - start - frameHeaderBytes, true);
    this.#view.setUint32(start, crc32cJs(this.#buf.subarray(start + 4, this.length)), true);
  }

  /** The bytes written so far (a view: copy it if the writer is used again). */
  view(): Uint8Array {
    return this.#buf.subarray(0, this.length);
  }
}

/** Reads what ByteWriter wrote; any overrun or malformed value is a DecodeError. */
class ByteReader {
  readonly #b: Uint8Array;
  readonly #view: DataView;
  pos: number;
  readonly end: number;

  constructor(b: Uint8Array, start: number, end: number) {
    this.#b = b;
    this.#view = new DataView(b.buffer, b.byteOffset, b.byteLength);
    this.pos = start;
    this.end = end;
  }

  #need(n: number): void {
    if (this.pos + n > this.end) throw new Error(`record ends early (needs ${n} bytes at offset ${this.pos}, has ${this.end - this.pos})`);
  }

  u8(): number {
    this.#need(1);
    return this.#b[this.pos++]!;
  }

  u16(): number {
    this.#need(2);
    const v = this.#view.getUint16(this.pos, true);
    this.pos += 2;
    return v;
  }

  u32(): number {
    this.#need(4);
    const v = this.#view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }

  u64(): number {
    const v = this.u32() + this.u32() * u32Limit;
    if (!Number.isSafeInteger(v)) throw new Error(`${v} is not a safe integer`);
    return v;
  }

  bytes(n: number): Uint8Array {
    this.#need(n);
    const out = this.#b.slice(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  text(): string {
    return decoder.decode(this.bytes(this.u16()));
  }
}

function putEntry(w: ByteWriter, e: Entry): void {
  w.u64(e.index);
  w.u64(e.term);
  w.u8(entryTypes.indexOf(e.type));
  if (e.conf === undefined) w.u8(255);
  else {
    w.u8(confTypes.indexOf(e.conf.type));
    w.text(e.conf.node);
  }
  w.u32(e.data.byteLength);
  w.bytes(e.data);
}

function getEntry(r: ByteReader): Entry {
  const index = r.u64();
  const term = r.u64();
  const type = entryTypes[r.u8()];
  if (type === undefined) throw new Error(`entry ${index} has an unknown type code`);
  const confCode = r.u8();
  let conf: ConfChange | undefined;
  if (confCode !== 255) {
    const confType = confTypes[confCode];
    if (confType === undefined) throw new Error(`entry ${index} has an unknown membership change code ${confCode}`);
    conf = { type: confType, node: r.text() };
  }
  const data = r.bytes(r.u32());
  return conf === undefined ? { index, term, type, data } : { index, term, type, data, conf };
}

function putHardState(w: ByteWriter, hs: HardState | null): void {
  if (hs === null) return w.u8(0);
  w.u8(hs.vote === null ? 1 : 2);
  w.u64(hs.term);
  w.u64(hs.commit);
  if (hs.vote !== null) w.text(hs.vote);
}

function getHardState(r: ByteReader): HardState | null {
  const kind = r.u8();
  if (kind === 0) return null;
  if (kind !== 1 && kind !== 2) throw new Error(`hard state marker ${kind} is neither 0, 1 nor 2`);
  const term = r.u64();
  const commit = r.u64();
  return { term, commit, vote: kind === 2 ? r.text() : null };
}

/** A log file's first frame: the snapshot it continues (index 0: none). */
export interface LogBase {
  readonly index: number;
  readonly term: number;
}

export function putHeaderFrame(w: ByteWriter, base: LogBase): void {
  const at = w.beginFrame(FrameType.header);
  w.u32(headerMagic);
  w.u64(base.index);
  w.u64(base.term);
  w.endFrame(at);
}

/** One group commit: the saves it carries, in call order (snapshots never: they rewrite the files). */
export function putBatchesFrame(w: ByteWriter, batches: readonly StoreBatch[]): void {
  const at = w.beginFrame(FrameType.batches);
  w.u32(batches.length);
  for (const b of batches) {
    const fills = b.fills ?? [];
    w.u32(b.entries.length);
    for (const e of b.entries) putEntry(w, e);
    w.u32(fills.length);
    for (const e of fills) putEntry(w, e);
    putHardState(w, b.hardState);
  }
  w.endFrame(at);
}

export function putSnapshotFrame(w: ByteWriter, s: Snapshot): void {
  const at = w.beginFrame(FrameType.snapshot);
  w.u64(s.meta.index);
  w.u64(s.meta.term);
  for (const ids of [s.meta.conf.voters, s.meta.conf.learners]) {
    w.u16(ids.length);
    for (const id of ids) w.text(id);
  }
  w.u32(s.data.byteLength);
  w.bytes(s.data);
  w.endFrame(at);
}

function corrupt(path: string, offset: number, what: string): StoreError {
  return new StoreError('ERR_STORE_CORRUPT', `${path} is damaged at byte ${offset}: ${what}`);
}

/** A frame that checks out at `at`, or why not. */
function frameAt(b: Uint8Array, at: number): { type: number; start: number; end: number } | string {
  if (b.byteLength - at < frameHeaderBytes) return `${b.byteLength - at} bytes left, less than a frame header`;
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const len = view.getUint32(at + 4, true);
  if (len > frameBytesMax) return `a frame length of ${len} bytes`;
  const end = at + frameHeaderBytes + len;
  if (end > b.byteLength) return `a frame of ${len} bytes runs past the end of the file`;
  if (crc32cJs(b.subarray(at + 4, end)) !== view.getUint32(at, true)) return 'a frame whose checksum does not match';
  return { type: b[at + 8]!, start: at + frameHeaderBytes, end };
}

export interface ScannedLog {
  readonly base: LogBase;
  /** Every save, in the order written. */
  readonly batches: readonly StoreBatch[];
  /** Bytes that hold whole, checked frames: the file is truncated to this. */
  readonly validBytes: number;
  /** Why the tail after validBytes was dropped, or null when the file ended cleanly. */
  readonly torn: string | null;
}

/**
 * Reads a log file. Each write is one frame synced before the next begins, so only the last frame
 * can be torn: a bad frame is a torn tail (dropped) unless a good frame follows it, which is
 * damage inside the log (ERR_STORE_CORRUPT naming the file and offset: never silently dropped).
 */
export function scanLog(b: Uint8Array, path: string): ScannedLog {
  const head = frameAt(b, 0);
  if (typeof head === 'string' || head.type !== FrameType.header) {
    throw corrupt(path, 0, typeof head === 'string' ? `no header frame (${head})` : `the first frame has type ${head.type}, not a header`);
  }
  let base: LogBase;
  try {
    const r = new ByteReader(b, head.start, head.end);
    if (r.u32() !== headerMagic) throw new Error('the header does not start with the Deno WAL magic number');
    base = { index: r.u64(), term: r.u64() };
  } catch (err) {
    throw corrupt(path, 0, (err as Error).message);
  }
  const batches: StoreBatch[] = [];
  let at = head.end;
  while (at < b.byteLength) {
    const f = frameAt(b, at);
    if (typeof f === 'string') {
      if (followedByFrame(b, at)) throw corrupt(path, at, `${f}, followed by a good frame`);
      return { base, batches, validBytes: at, torn: `${f} at byte ${at} (${b.byteLength - at} bytes dropped)` };
    }
    if (f.type !== FrameType.batches) throw corrupt(path, at, `a frame of type ${f.type} inside the log`);
    try {
      batches.push(...readBatches(new ByteReader(b, f.start, f.end)));
    } catch (err) {
      throw corrupt(path, at, `a frame with a good checksum does not decode: ${(err as Error).message}`);
    }
    at = f.end;
  }
  return { base, batches, validBytes: at, torn: null };
}

/** Whether a bad frame's length field points at a good frame after it (damage, not a torn tail). */
function followedByFrame(b: Uint8Array, at: number): boolean {
  if (b.byteLength - at < frameHeaderBytes) return false;
  const len = new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(at + 4, true);
  const next = at + frameHeaderBytes + len;
  return len <= frameBytesMax && next < b.byteLength && typeof frameAt(b, next) !== 'string';
}

function readBatches(r: ByteReader): StoreBatch[] {
  const out: StoreBatch[] = [];
  const n = r.u32();
  for (let k = 0; k < n; k++) {
    const entries: Entry[] = [];
    for (let i = r.u32(); i > 0; i--) entries.push(getEntry(r));
    const fills: Entry[] = [];
    for (let i = r.u32(); i > 0; i--) fills.push(getEntry(r));
    out.push({ snapshot: null, entries, ...(fills.length > 0 ? { fills } : {}), hardState: getHardState(r) });
  }
  if (r.pos !== r.end) throw new Error(`${r.end - r.pos} bytes left over after ${n} saves`);
  return out;
}

/** Reads a snapshot file (one frame); any damage is ERR_STORE_CORRUPT: it was synced before use. */
export function decodeSnapshotFile(b: Uint8Array, path: string): Snapshot {
  const f = frameAt(b, 0);
  if (typeof f === 'string' || f.type !== FrameType.snapshot || f.end !== b.byteLength) {
    throw corrupt(path, 0, typeof f === 'string' ? f : `not one snapshot frame (type ${f.type}, ${b.byteLength - f.end} bytes after it)`);
  }
  try {
    const r = new ByteReader(b, f.start, f.end);
    const index = r.u64();
    const term = r.u64();
    const lists: string[][] = [];
    for (let l = 0; l < 2; l++) {
      const ids: string[] = [];
      for (let i = r.u16(); i > 0; i--) ids.push(r.text());
      lists.push(ids);
    }
    const data = r.bytes(r.u32());
    return { meta: { index, term, conf: { voters: lists[0]!, learners: lists[1]! } }, data };
  } catch (err) {
    throw corrupt(path, 0, (err as Error).message);
  }
}
