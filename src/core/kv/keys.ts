// Keys are bytes, ordered bytewise, as etcd's are. Inside the machine a key is a "byte string":
// one UTF-16 code unit per byte (0-255), so Map lookups stay fast, JavaScript's own string order
// is the byte order, and an ASCII key is its own byte string (the common case costs nothing).

import { charsOf, utf8Decode, utf8Encode } from './bytes.ts';

/** A key as users give it: a string (its UTF-8 bytes) or raw bytes. */
export type Key = string | Uint8Array;

/** A key inside the machine: one char per byte. */
export type ByteKey = string;

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) >= 0x80) return false;
  return true;
}

/** The machine's form of a user's key. */
export function byteKey(k: Key): ByteKey {
  if (typeof k === 'string') return isAscii(k) ? k : charsOf(utf8Encode(k));
  return charsOf(k);
}

/** The bytes of a machine key. */
export function keyBytes(k: ByteKey): Uint8Array {
  const out = new Uint8Array(k.length);
  for (let i = 0; i < k.length; i++) out[i] = k.charCodeAt(i);
  return out;
}

/** Whether `b` is well-formed UTF-8 (no overlongs, no surrogates, nothing past U+10FFFF). */
function validUtf8(b: Uint8Array): boolean {
  let i = 0;
  while (i < b.length) {
    const c = b[i]!;
    let n: number;
    let min: number;
    if (c < 0x80) { i++; continue; }
    if (c >= 0xc2 && c <= 0xdf) { n = 1; min = 0x80; } else if (c >= 0xe0 && c <= 0xef) { n = 2; min = 0x800; } else if (c >= 0xf0 && c <= 0xf4) { n = 3; min = 0x10000; } else return false;
    if (i + n >= b.length) return false;
    let cp = c & (0x3f >> n);
    for (let j = 1; j <= n; j++) {
      const d = b[i + j];
      if (d === undefined || (d & 0xc0) !== 0x80) return false;
      cp = (cp << 6) | (d & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += n + 1;
  }
  return true;
}

/**
 * A machine key as users get it back: the string whose UTF-8 bytes it is, when it is valid UTF-8
 * (so string keys come back as the strings they were), else its bytes.
 */
export function userKey(k: ByteKey): Key {
  if (isAscii(k)) return k;
  const b = keyBytes(k);
  return validUtf8(b) ? utf8Decode(b) : b;
}

/**
 * The smallest key above every key that starts with `prefix` (etcd's prefix range end), or null
 * when there is none (the prefix is empty or all 0xff bytes): the range runs to the end.
 */
export function prefixEnd(prefix: ByteKey): ByteKey | null {
  for (let i = prefix.length - 1; i >= 0; i--) {
    const c = prefix.charCodeAt(i);
    if (c < 0xff) return prefix.slice(0, i) + String.fromCharCode(c + 1);
  }
  return null;
}

/** Whether `k` lies in [start, end) (end null: no upper bound). */
export function inRange(k: ByteKey, start: ByteKey, end: ByteKey | null): boolean {
  return k >= start && (end === null || k < end);
}

/** Keys the machine keeps for itself (member addresses, session conflict keys) start with 0x00. */
export function isReserved(k: ByteKey): boolean {
  return k.charCodeAt(0) === 0;
}
