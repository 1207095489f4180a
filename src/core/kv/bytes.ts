// A tiny binary reader and writer for state-machine commands and snapshots. The core cannot
// use TextEncoder or CBOR (it imports nothing outside itself), so strings are UTF-8 encoded here.

import { assert } from '../assert.ts';

export class ByteWriter {
  #buf: Uint8Array;
  #view: DataView;
  #len = 0;

  constructor(capacity = 64) {
    this.#buf = new Uint8Array(capacity);
    this.#view = new DataView(this.#buf.buffer);
  }

  #reserve(n: number): void {
    if (this.#len + n <= this.#buf.length) return;
    let cap = this.#buf.length * 2;
    while (cap < this.#len + n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.#buf.subarray(0, this.#len));
    this.#buf = next;
    this.#view = new DataView(next.buffer);
  }

  u8(v: number): this {
    this.#reserve(1);
    this.#buf[this.#len++] = v;
    return this;
  }

  /** A safe non-negative integer as a float64 (exact up to 2^53). */
  num(v: number): this {
    this.#reserve(8);
    this.#view.setFloat64(this.#len, v);
    this.#len += 8;
    return this;
  }

  /** Unsigned LEB128, for lengths. */
  varint(v: number): this {
    assert(Number.isSafeInteger(v) && v >= 0, () => `varint of ${v}`);
    while (v >= 0x80) {
      this.u8((v % 0x80) | 0x80);
      v = Math.floor(v / 0x80);
    }
    return this.u8(v);
  }

  bytes(b: Uint8Array): this {
    this.varint(b.length);
    this.#reserve(b.length);
    this.#buf.set(b, this.#len);
    this.#len += b.length;
    return this;
  }

  /** A byte string (one char per byte, keys.ts), length-prefixed. */
  bin(s: string): this {
    this.varint(s.length);
    this.#reserve(s.length);
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      assert(c <= 0xff, 'a byte string holds one byte per char (convert keys with byteKey)');
      this.#buf[this.#len++] = c;
    }
    return this;
  }

  str(s: string): this {
    const n = utf8Length(s);
    this.varint(n);
    this.#reserve(n);
    this.#len = utf8Write(s, this.#buf, this.#len);
    return this;
  }

  /** Starts over, keeping the buffer (a writer reused for many small encodings). */
  reset(): this {
    this.#len = 0;
    return this;
  }

  /** The bytes written so far, without a copy: valid until the next write or reset. */
  view(): Uint8Array {
    return this.#buf.subarray(0, this.#len);
  }

  /** The bytes written; no copy when the writer was sized exactly. */
  finish(): Uint8Array {
    return this.#len === this.#buf.length ? this.#buf : this.#buf.slice(0, this.#len);
  }
}

export class ByteReader {
  readonly #buf: Uint8Array;
  readonly #view: DataView;
  #pos = 0;
  readonly #what: string;

  constructor(buf: Uint8Array, what: string) {
    this.#buf = buf;
    this.#view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    this.#what = what;
  }

  #need(n: number): void {
    if (this.#pos + n > this.#buf.length) {
      throw new RangeError(`${this.#what}: truncated at byte ${this.#pos} (need ${n} more of ${this.#buf.length})`);
    }
  }

  /** Bytes read so far. */
  get offset(): number {
    return this.#pos;
  }

  get done(): boolean {
    return this.#pos === this.#buf.length;
  }

  u8(): number {
    this.#need(1);
    return this.#buf[this.#pos++]!;
  }

  num(): number {
    this.#need(8);
    const v = this.#view.getFloat64(this.#pos);
    this.#pos += 8;
    return v;
  }

  varint(): number {
    let v = 0;
    let mul = 1;
    for (;;) {
      const b = this.u8();
      v += (b & 0x7f) * mul;
      if (b < 0x80) break;
      mul *= 0x80;
      if (mul > 2 ** 49) throw new RangeError(`${this.#what}: varint too long at byte ${this.#pos}`);
    }
    return v;
  }

  bytes(): Uint8Array {
    const n = this.varint();
    this.#need(n);
    const out = this.#buf.subarray(this.#pos, this.#pos + n);
    this.#pos += n;
    return out;
  }

  str(): string {
    return utf8Decode(this.bytes());
  }

  /** A byte string written by ByteWriter.bin. */
  bin(): string {
    return charsOf(this.bytes());
  }
}

/**
 * One char per byte (0-255): ASCII text as it is, and the byte strings keys are kept as (keys.ts).
 * In chunks, since String.fromCharCode takes its arguments on the stack.
 */
export function charsOf(b: Uint8Array): string {
  if (b.length <= 4096) return String.fromCharCode.apply(null, b as unknown as number[]);
  let out = '';
  for (let k = 0; k < b.length; k += 4096) out += String.fromCharCode.apply(null, b.subarray(k, k + 4096) as unknown as number[]);
  return out;
}

export function utf8Encode(s: string): Uint8Array {
  const out = new Uint8Array(utf8Length(s));
  utf8Write(s, out, 0);
  return out;
}

/** Bytes of the UTF-8 encoding of `s` (lone surrogates count as U+FFFD, 3 bytes). */
export function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

/** Writes the UTF-8 encoding of `s` at `at` (room must be there); returns the end offset. */
export function utf8Write(s: string, out: Uint8Array, at: number): number {
  let n = at;
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c < 0x80) {
      out[n++] = c;
      continue;
    }
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        i++;
      }
    }
    if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd;
    if (c < 0x800) {
      out[n++] = 0xc0 | (c >> 6);
      out[n++] = 0x80 | (c & 63);
    } else if (c < 0x10000) {
      out[n++] = 0xe0 | (c >> 12);
      out[n++] = 0x80 | ((c >> 6) & 63);
      out[n++] = 0x80 | (c & 63);
    } else {
      out[n++] = 0xf0 | (c >> 18);
      out[n++] = 0x80 | ((c >> 12) & 63);
      out[n++] = 0x80 | ((c >> 6) & 63);
      out[n++] = 0x80 | (c & 63);
    }
  }
  return n;
}

export function utf8Decode(b: Uint8Array): string {
  // Fast path: plain ASCII (most keys and many values) decodes in chunks without a per-char loop.
  let ascii = true;
  for (let k = 0; k < b.length; k++) {
    if (b[k]! >= 0x80) {
      ascii = false;
      break;
    }
  }
  if (ascii) return charsOf(b);
  let s = '';
  let i = 0;
  while (i < b.length) {
    const c = b[i++]!;
    if (c < 0x80) {
      s += String.fromCharCode(c);
      continue;
    }
    let cp: number;
    if (c >= 0xf0) cp = ((c & 7) << 18) | ((b[i++]! & 63) << 12) | ((b[i++]! & 63) << 6) | (b[i++]! & 63);
    else if (c >= 0xe0) cp = ((c & 15) << 12) | ((b[i++]! & 63) << 6) | (b[i++]! & 63);
    else cp = ((c & 31) << 6) | (b[i++]! & 63);
    s += String.fromCodePoint(cp);
  }
  return s;
}
