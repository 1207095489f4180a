// Parallel mode: what every entry carries in front of its payload — the term of the leader that
// created it (kept when a later leader re-stamps it), the keys it writes, and the same facts about
// the entries just before it (the look-behind buffer). Stores and transports see opaque bytes.

import { assert } from '../assert.ts';
import { ByteReader, ByteWriter } from '../kv/bytes.ts';
import type { Entry, EntryType } from '../types.ts';

/** Keys an entry writes; null means "everything" (a config entry, or a command keysOf cannot read). */
export type KeySet = readonly string[] | null;

/** What an entry's creator knew about one earlier index. originTerm 0: nothing (compacted). */
export interface Behind {
  readonly originTerm: number;
  readonly kind: EntryType;
  readonly keys: KeySet;
}

export interface ParallelHeader {
  readonly originTerm: number;
  readonly kind: EntryType;
  readonly keys: KeySet;
  /** behind[0] is about index - 1, behind[1] about index - 2, ... */
  readonly behind: readonly Behind[];
}

const version = 1;
const kinds: readonly EntryType[] = ['normal', 'noop', 'config'];
/** Keys in one entry's key set, and bytes of one key: a header must stay small. */
export const headerKeysMax = 64;
export const headerKeyBytesMax = 1024;

function writeKeys(w: ByteWriter, keys: KeySet): void {
  if (keys === null) {
    w.varint(0);
    return;
  }
  // Past the cap the entry is treated as conflicting with everything: safe, only slower.
  if (keys.length >= headerKeysMax || keys.some((k) => k.length > headerKeyBytesMax)) {
    w.varint(0);
    return;
  }
  w.varint(keys.length + 1);
  for (const k of keys) w.str(k);
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

/** The entry's data in parallel mode: header, then the payload as a length-prefixed blob. */
export function encodeParallelData(h: ParallelHeader, payload: Uint8Array): Uint8Array {
  const w = new ByteWriter(32 + payload.length);
  w.u8(version).varint(h.originTerm).u8(kindCode(h.kind));
  writeKeys(w, h.keys);
  w.varint(h.behind.length);
  for (const b of h.behind) {
    w.varint(b.originTerm).u8(kindCode(b.kind));
    writeKeys(w, b.keys);
  }
  w.bytes(payload);
  return w.finish();
}

export interface DecodedData {
  readonly header: ParallelHeader;
  readonly payload: Uint8Array;
}

/** Reads an entry's header; a malformed one is an invariant violation (entries are validated on entry). */
export function decodeParallelData(e: Entry): DecodedData {
  // Entries written without a header (the bootstrap membership, bootstrapState) are empty; a
  // parallel-mode entry always has at least its version byte.
  if (e.data.byteLength === 0) {
    return { header: { originTerm: e.term, kind: e.type, keys: e.type === 'config' ? null : [], behind: [] }, payload: e.data };
  }
  const r = new ByteReader(e.data, `entry ${e.index}`);
  const v = r.u8();
  if (v !== version) throw new RangeError(`entry ${e.index}: parallel header version ${v}, expected ${version}`);
  const originTerm = r.varint();
  const kind = readKind(r);
  const keys = readKeys(r);
  const n = r.varint();
  const behind: Behind[] = [];
  for (let i = 0; i < n; i++) {
    const bt = r.varint();
    const bk = readKind(r);
    behind.push({ originTerm: bt, kind: bk, keys: readKeys(r) });
  }
  const payload = r.bytes();
  if (!r.done) throw new RangeError(`entry ${e.index}: bytes after the payload`);
  return { header: { originTerm, kind, keys, behind }, payload };
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
