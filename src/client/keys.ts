// Keys as the SDK's users give them and get them back. A key is bytes, ordered bytewise (as in
// etcd): a string stands for its UTF-8 bytes, a Uint8Array for itself. Requests carry the
// machine's byte strings (src/core/kv/keys.ts); answers give keys back as strings when they are
// valid UTF-8 (so string keys come back as the strings they were), else as bytes.

import type { Value } from '../core/kv/command.ts';
import { byteKey, isReserved, prefixEnd, userKey, type ByteKey, type Key } from '../core/kv/keys.ts';
import type { KeyValue as WireKeyValue } from '../core/kv/machine.ts';
import { ClientError } from './errors.ts';

export type { Key, Value };
export { byteKey, userKey };

/** A key with its value and the revisions etcd keeps for it, the key as users get keys back. */
export type KeyValue = WireKeyValue<Key>;

/**
 * Which keys: one key, every key that starts with a prefix (the empty prefix: every key), or
 * [start, end) in byte order (no end, or null: to the last key).
 */
export type RangeSpec =
  | { readonly key: Key }
  | { readonly prefix: Key }
  | { readonly start: Key; readonly end?: Key | null };

/** A range as requests carry it: [start, end), end null for "to the last key". */
export interface ByteRange {
  readonly start: ByteKey;
  readonly end: ByteKey | null;
}

function bad(message: string): ClientError {
  return new ClientError('ERR_BAD_REQUEST', message);
}

function show(k: unknown): string {
  if (typeof k === 'string') return JSON.stringify(k.length > 40 ? `${k.slice(0, 40)}…` : k);
  if (k instanceof Uint8Array) return `${k.byteLength} bytes`;
  return k === null ? 'null' : typeof k;
}

/**
 * The machine form of a key a caller gave, checked: bytes or a string, not reserved. The empty
 * key is a key (the first of all); as a range's start or prefix it means "from the first key".
 */
export function requestKey(k: unknown, what = 'key'): ByteKey {
  if (typeof k !== 'string' && !(k instanceof Uint8Array)) throw bad(`${what} must be a string or a Uint8Array (got ${show(k)})`);
  const b = byteKey(k);
  if (b.length > 0 && isReserved(b)) throw bad(`${what} starts with byte 0x00: such keys are reserved for the cluster itself`);
  return b;
}

/** The [start, end) of a range spec, checked (a spec names exactly one of key, prefix, start). */
export function requestRange(spec: RangeSpec, what = 'range'): ByteRange {
  if (typeof spec !== 'object' || spec === null) throw bad(`${what} must be { key }, { prefix } or { start, end } (got ${show(spec)})`);
  const has = (f: string) => f in spec && (spec as Record<string, unknown>)[f] !== undefined;
  const given = ['key', 'prefix', 'start'].filter(has);
  if (given.length !== 1) {
    throw bad(`${what} must name exactly one of key, prefix or start (got ${given.length === 0 ? 'none' : given.join(' and ')})`);
  }
  if ('key' in spec && spec.key !== undefined) {
    const k = requestKey(spec.key, `${what}'s key`);
    return { start: k, end: `${k}\u0000` };
  }
  if ('prefix' in spec && spec.prefix !== undefined) {
    const p = requestKey(spec.prefix, `${what}'s prefix`);
    return { start: p, end: p === '' ? null : prefixEnd(p) };
  }
  const s = spec as { readonly start: Key; readonly end?: Key | null };
  const start = requestKey(s.start, `${what}'s start`);
  if (s.end === undefined || s.end === null) return { start, end: null };
  const end = requestKey(s.end, `${what}'s end`);
  if (end <= start) throw bad(`${what}'s end must sort after its start (bytewise), or be omitted for "to the last key"`);
  return { start, end };
}

/** A key-value from an answer, with its key as users get keys back. */
export function fromWire(kv: WireKeyValue): KeyValue {
  return { key: userKey(kv.key), value: kv.value, createRevision: kv.createRevision, modRevision: kv.modRevision, version: kv.version, lease: kv.lease };
}

/** Whether two keys are the same bytes. */
export function sameKey(a: Key, b: Key): boolean {
  return byteKey(a) === byteKey(b);
}

/** A key as text for people (the CLI): itself when it is a string, else its bytes in hex. */
export function keyText(k: Key): string {
  return typeof k === 'string' ? k : `0x${Array.from(k, (b) => b.toString(16).padStart(2, '0')).join('')}`;
}
