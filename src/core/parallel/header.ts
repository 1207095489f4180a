// Parallel mode: what every entry carries in front of its payload. The leader fixes the unit of
// out-of-order work when it appends: a batch of entries. Every entry names its origin term, kind,
// keys and batch; the batch's head also carries the lookBehind: what its creator had at the entries
// before the batch (identities, and a conservative summary of their keys). Stores and transports
// see opaque bytes; the payload sits after a length-prefixed header, so reading it decodes nothing.

import { assert } from '../assert.ts';
import { ByteReader, ByteWriter } from '../kv/bytes.ts';
import type { Entry, EntryType, Index } from '../types.ts';

/** Keys an entry writes; null means "everything" (a config entry, or a command keysOf cannot read). */
export type KeySet = readonly string[] | null;

/** Identities of consecutive indexes: `count` entries of `kind` created by term `originTerm` (0: unknown). */
export interface Run {
  readonly count: number;
  readonly kind: EntryType;
  readonly originTerm: number;
}

/**
 * Every key the entries of a look-behind may write, never fewer: 'all' (one of them writes anything, or
 * its creator did not know), an exact set, or a bitset of hashed keys when the set grew large (a
 * false conflict costs a wait, a missed one would break replicas: so a key always sets its bit).
 */
export type KeySummary =
  | { readonly kind: 'all' }
  | { readonly kind: 'list'; readonly keys: ReadonlySet<string> }
  | { readonly kind: 'bits'; readonly bits: Uint8Array };

/** What a batch's head knew of the `length` indexes just before the batch. */
export interface LookBehind {
  readonly length: number;
  /** Identities of [head - length, head), oldest first; their counts add up to `length`. */
  readonly runs: readonly Run[];
  readonly summary: KeySummary;
}

export interface ParallelHeader {
  readonly originTerm: number;
  readonly kind: EntryType;
  readonly keys: KeySet;
  /** This entry's distance from its batch's head (0: it is the head). */
  readonly headOffset: number;
  /** Entries in its batch, all of this kind and origin, from the head on. */
  readonly batchLen: number;
  /** The head's lookBehind; null on every other entry of the batch. */
  readonly lookBehind: LookBehind | null;
}

const version1 = 1;
const version2 = 2;
const kinds: readonly EntryType[] = ['normal', 'noop', 'config'];
/** Keys in one entry's key set, and bytes of one key: a header must stay small. */
export const headerKeysMax = 64;
export const headerKeyBytesMax = 1024;
/** A look-behind's key summary stays an exact set up to this many keys, then becomes a bitset. */
export const summaryListMax = 64;
/** Bits of a hashed summary: a power of two, about 8 per key (a false conflict per key ~1/8), within these bounds. */
export const summaryBitsMin = 512;
export const summaryBitsMax = 16384;
/** Past this many distinct keys a look-behind's summary says "everything". */
export const summaryKeysMax = 8192;

function writeKeys(w: ByteWriter, keys: KeySet): void {
  // Past the cap the entry is treated as conflicting with everything: safe, only slower.
  if (keys === null || !keysFit(keys)) {
    w.varint(0);
    return;
  }
  w.varint(keys.length + 1);
  for (const k of keys) w.str(k);
}

function keysFit(keys: readonly string[]): boolean {
  if (keys.length >= headerKeysMax) return false;
  for (const k of keys) if (k.length > headerKeyBytesMax) return false;
  return true;
}

function readKeys(r: ByteReader): KeySet {
  const n = r.varint();
  if (n === 0) return null;
  if (n - 1 > headerKeysMax) throw new RangeError(`entry header: ${n - 1} keys (at most ${headerKeysMax})`);
  const keys: string[] = [];
  for (let i = 1; i < n; i++) keys.push(r.str());
  return keys;
}

function kindCode(kind: EntryType): number {
  const k = kinds.indexOf(kind);
  assert(k !== -1, () => `entry kind ${kind}`);
  return k;
}

function readKind(r: ByteReader): EntryType {
  const k = kinds[r.u8()];
  if (k === undefined) throw new RangeError('entry header: unknown entry kind');
  return k;
}

// ---- key summaries ------------------------------------------------------------------------------

/** FNV-1a over the key's UTF-16 units: the same key hashes the same on every replica. */
function bitOf(key: string, bits: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) & (bits - 1);
}

/** Builds a look-behind's summary from its entries' key sets. */
export class SummaryBuilder {
  #all = false;
  readonly #keys = new Set<string>();

  add(keys: KeySet): void {
    if (this.#all) return;
    if (keys === null || !keysFit(keys)) {
      this.#all = true;
      return;
    }
    for (const k of keys) this.#keys.add(k);
    if (this.#keys.size > summaryKeysMax) this.#all = true;
  }

  /** Marks the look-behind as writing anything (an index its creator cannot describe). */
  addEverything(): void {
    this.#all = true;
  }

  finish(): KeySummary {
    if (this.#all) return { kind: 'all' };
    if (this.#keys.size <= summaryListMax) return { kind: 'list', keys: this.#keys };
    let n = summaryBitsMin;
    while (n < this.#keys.size * 8 && n < summaryBitsMax) n *= 2;
    const bits = new Uint8Array(n / 8);
    for (const k of this.#keys) setBit(bits, bitOf(k, n));
    return { kind: 'bits', bits };
  }
}

function setBit(bits: Uint8Array, b: number): void {
  bits[b >>> 3]! |= 1 << (b & 7);
}

/** Whether an entry with `keys` may conflict with some entry the summary describes. Never a false "no". */
export function summaryMayConflict(s: KeySummary, keys: KeySet): boolean {
  if (keys === null || s.kind === 'all') return true;
  if (keys.length === 0) return false;
  if (s.kind === 'list') {
    for (const k of keys) if (s.keys.has(k)) return true;
    return false;
  }
  const n = s.bits.length * 8;
  for (const k of keys) {
    const b = bitOf(k, n);
    if ((s.bits[b >>> 3]! & (1 << (b & 7))) !== 0) return true;
  }
  return false;
}

function writeSummary(w: ByteWriter, s: KeySummary): void {
  if (s.kind === 'all') w.u8(0);
  else if (s.kind === 'list') {
    w.u8(1).varint(s.keys.size);
    for (const k of s.keys) w.str(k);
  } else {
    w.u8(2).bytes(s.bits);
  }
}

function readSummary(r: ByteReader): KeySummary {
  const tag = r.u8();
  if (tag === 0) return { kind: 'all' };
  if (tag === 1) {
    const n = r.varint();
    if (n > summaryListMax) throw new RangeError(`entry header: a key summary of ${n} keys (at most ${summaryListMax})`);
    const keys = new Set<string>();
    for (let i = 0; i < n; i++) keys.add(r.str());
    return { kind: 'list', keys };
  }
  if (tag === 2) {
    const bits = r.bytes();
    const n = bits.length * 8;
    if (n < summaryBitsMin || n > summaryBitsMax || (n & (n - 1)) !== 0) {
      throw new RangeError(`entry header: a key bitset of ${n} bits (a power of two in [${summaryBitsMin}, ${summaryBitsMax}])`);
    }
    return { kind: 'bits', bits };
  }
  throw new RangeError(`entry header: unknown key summary tag ${tag}`);
}

// ---- look-behinds ------------------------------------------------------------------------------

/** The identity its creator had at index `k` of the look-behind of the batch headed at `head`; null: none known. */
export function lookBehindIdAt(w: LookBehind, head: Index, k: Index): string | null {
  let at = head - w.length;
  if (k < at || k >= head) return null;
  for (const run of w.runs) {
    if (k < at + run.count) return run.originTerm === 0 ? null : entryId(run.kind, run.originTerm);
    at += run.count;
  }
  return null;
}

// ---- entries ------------------------------------------------------------------------------------

const scratch = new ByteWriter(256);

/** The entry's data in parallel mode: version, the header's length and the header, then the payload. */
export function encodeParallelData(h: ParallelHeader, payload: Uint8Array): Uint8Array {
  assert(h.headOffset < h.batchLen, () => `entry header: head offset ${h.headOffset} outside a batch of ${h.batchLen}`);
  assert((h.headOffset === 0) === (h.lookBehind !== null), 'a batch head, and only it, carries the look-behind');
  // One scratch writer for every header (the core is synchronous): no buffer per entry.
  const w = scratch.reset();
  w.varint(h.originTerm).u8(kindCode(h.kind));
  writeKeys(w, h.keys);
  w.varint(h.headOffset).varint(h.batchLen);
  if (h.lookBehind !== null) {
    let covered = 0;
    w.varint(h.lookBehind.length).varint(h.lookBehind.runs.length);
    for (const run of h.lookBehind.runs) {
      w.varint(run.count).u8(kindCode(run.kind)).varint(run.originTerm);
      covered += run.count;
    }
    assert(covered === h.lookBehind.length, () => `entry header: runs cover ${covered} of a look-behind of ${h.lookBehind!.length}`);
    writeSummary(w, h.lookBehind.summary);
  }
  const header = w.view();
  const lenBytes = header.length < 0x80 ? 1 : header.length < 0x4000 ? 2 : 3;
  const out = new Uint8Array(1 + lenBytes + header.length + payload.length);
  out[0] = version2;
  let at = 1;
  for (let v = header.length; ; v = Math.floor(v / 0x80)) {
    out[at++] = v >= 0x80 ? (v % 0x80) | 0x80 : v;
    if (v < 0x80) break;
  }
  out.set(header, at);
  out.set(payload, at + header.length);
  return out;
}

export interface DecodedData {
  readonly header: ParallelHeader;
  readonly payload: Uint8Array;
}

/** The header and payload of an entry written without one (the bootstrap membership). */
function bare(e: Entry): DecodedData {
  return { header: { originTerm: e.term, kind: e.type, keys: e.type === 'config' ? null : [], headOffset: 0, batchLen: 1, lookBehind: { length: 0, runs: [], summary: { kind: 'list', keys: new Set() } } }, payload: e.data };
}

/** Where the payload starts in a version 2 entry: one varint past the version byte. */
function payloadStart(e: Entry): number {
  const d = e.data;
  let len = 0;
  let mul = 1;
  let at = 1;
  for (;;) {
    if (at >= d.length) throw new RangeError(`entry ${e.index}: truncated parallel header`);
    const b = d[at++]!;
    len += (b & 0x7f) * mul;
    if (b < 0x80) break;
    mul *= 0x80;
  }
  if (at + len > d.length) throw new RangeError(`entry ${e.index}: a parallel header of ${len} bytes overruns the entry`);
  return at + len;
}

/** The command inside an entry, without decoding its header. */
export function parallelPayload(e: Entry): Uint8Array {
  if (e.data.byteLength === 0) return e.data;
  if (e.data[0] === version2) return e.data.subarray(payloadStart(e));
  return decodeParallelData(e).payload;
}

/** Reads an entry's header; a malformed one is an invariant violation (entries are validated on entry). */
export function decodeParallelData(e: Entry): DecodedData {
  // Entries written without a header (the bootstrap membership, bootstrapState) are empty; a
  // parallel-mode entry always has at least its version byte.
  if (e.data.byteLength === 0) return bare(e);
  const v = e.data[0];
  if (v === version1) return decodeVersion1(e);
  if (v !== version2) throw new RangeError(`entry ${e.index}: parallel header version ${v}, expected ${version2} (or ${version1})`);
  const start = payloadStart(e);
  const r = new ByteReader(e.data.subarray(0, start), `entry ${e.index}`);
  r.u8();
  r.varint();
  const originTerm = r.varint();
  const kind = readKind(r);
  const keys = readKeys(r);
  const headOffset = r.varint();
  const batchLen = r.varint();
  if (headOffset >= batchLen || headOffset >= e.index) throw new RangeError(`entry ${e.index}: head offset ${headOffset} in a batch of ${batchLen}`);
  let lookBehind: LookBehind | null = null;
  if (headOffset === 0) {
    const length = r.varint();
    const n = r.varint();
    if (n > length) throw new RangeError(`entry ${e.index}: ${n} runs in a look-behind of ${length}`);
    const runs: Run[] = [];
    let covered = 0;
    for (let i = 0; i < n; i++) {
      const count = r.varint();
      runs.push({ count, kind: readKind(r), originTerm: r.varint() });
      covered += count;
    }
    if (covered !== length) throw new RangeError(`entry ${e.index}: look-behind runs cover ${covered} of ${length} indexes`);
    lookBehind = { length, runs, summary: readSummary(r) };
  }
  if (!r.done) throw new RangeError(`entry ${e.index}: bytes after the parallel header`);
  return { header: { originTerm, kind, keys, headOffset, batchLen, lookBehind }, payload: e.data.subarray(start) };
}

/**
 * Version 1 (every entry described the N entries before it, one by one): read as a batch of one
 * whose look-behind is those N entries. Logs written before batches keep working.
 */
function decodeVersion1(e: Entry): DecodedData {
  const r = new ByteReader(e.data, `entry ${e.index}`);
  r.u8();
  const originTerm = r.varint();
  const kind = readKind(r);
  const keys = readKeys(r);
  const n = r.varint();
  const told: Run[] = [];
  const summary = new SummaryBuilder();
  for (let i = 0; i < n; i++) {
    const originOf = r.varint();
    const k = readKind(r);
    const ks = readKeys(r);
    told.push({ count: 1, kind: k, originTerm: originOf });
    if (originOf === 0) summary.addEverything();
    else summary.add(ks);
  }
  const payload = r.bytes();
  if (!r.done) throw new RangeError(`entry ${e.index}: bytes after the payload`);
  // behind[0] was about index - 1: the look-behind lists oldest first.
  const length = Math.min(n, e.index - 1);
  const runs = told.slice(0, length).reverse();
  return { header: { originTerm, kind, keys, headOffset: 0, batchLen: 1, lookBehind: { length, runs, summary: summary.finish() } }, payload };
}

/** Identity of an entry across re-stamps: its kind and the term of the leader that created it. */
export function entryId(kind: EntryType, originTerm: number): string {
  return `${kind}:${originTerm}`;
}

export function keysConflict(a: KeySet, b: KeySet): boolean {
  if (a === null || b === null) return true;
  if (a.length === 0 || b.length === 0) return false;
  for (const k of a) if (b.includes(k)) return true;
  return false;
}
