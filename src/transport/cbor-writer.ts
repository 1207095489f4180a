// A minimal CBOR writer (RFC 8949 definite-length items only) for the hot path: data frames.
// Sizes are computed exactly first, then items are written into one slab-allocated buffer, so an
// AppendEntries costs one copy of each payload and no intermediate arrays. Decoding stays with
// cbor-x; the codec tests check that what this writes decodes to the same values.

const textEncoder = new TextEncoder();

/** Bytes of a major-type head carrying `n` (a non-negative safe integer). */
export function headBytes(n: number): number {
  return n < 24 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : n < 0x100000000 ? 5 : 9;
}

/** Encoded size of a number: an integer as major type 0/1, anything else as a float64. */
export function numberBytes(n: number): number {
  if (!Number.isSafeInteger(n)) return 9;
  return headBytes(n >= 0 ? n : -1 - n);
}

const textCache = new Map<string, Uint8Array>();
const textCacheMax = 4096;

/** The complete CBOR text item for `s` (head + UTF-8), cached for the short strings ids are. */
export function textItem(s: string): Uint8Array {
  const hit = textCache.get(s);
  if (hit !== undefined) return hit;
  const utf8 = textEncoder.encode(s);
  const item = new Uint8Array(headBytes(utf8.byteLength) + utf8.byteLength);
  const w = new CborWriter(item);
  w.head(3, utf8.byteLength);
  w.raw(utf8);
  if (s.length <= 256) {
    if (textCache.size >= textCacheMax) textCache.clear();
    textCache.set(s, item);
  }
  return item;
}

/** Writes into a buffer sized exactly beforehand; the caller guarantees room. */
export class CborWriter {
  readonly buf: Uint8Array;
  #view: DataView | null = null;
  pos = 0;

  constructor(buf: Uint8Array) {
    this.buf = buf;
  }

  head(major: number, n: number): void {
    const b = this.buf;
    const m = major << 5;
    if (n < 24) {
      b[this.pos++] = m | n;
    } else if (n < 0x100) {
      b[this.pos++] = m | 24;
      b[this.pos++] = n;
    } else if (n < 0x10000) {
      b[this.pos++] = m | 25;
      b[this.pos++] = n >>> 8;
      b[this.pos++] = n & 0xff;
    } else if (n < 0x100000000) {
      b[this.pos++] = m | 26;
      b[this.pos++] = n >>> 24;
      b[this.pos++] = (n >>> 16) & 0xff;
      b[this.pos++] = (n >>> 8) & 0xff;
      b[this.pos++] = n & 0xff;
    } else {
      b[this.pos++] = m | 27;
      const hi = Math.floor(n / 0x100000000);
      const lo = n >>> 0;
      this.#dv().setUint32(this.pos, hi);
      this.#dv().setUint32(this.pos + 4, lo);
      this.pos += 8;
    }
  }

  uint(n: number): void {
    this.head(0, n);
  }

  number(n: number): void {
    if (!Number.isSafeInteger(n)) {
      this.buf[this.pos++] = 0xfb;
      this.#dv().setFloat64(this.pos, n);
      this.pos += 8;
    } else if (n >= 0) {
      this.head(0, n);
    } else {
      this.head(1, -1 - n);
    }
  }

  bool(b: boolean): void {
    this.buf[this.pos++] = b ? 0xf5 : 0xf4;
  }

  array(length: number): void {
    this.head(4, length);
  }

  bytes(data: Uint8Array): void {
    this.head(2, data.byteLength);
    this.raw(data);
  }

  raw(data: Uint8Array): void {
    this.buf.set(data, this.pos);
    this.pos += data.byteLength;
  }

  #dv(): DataView {
    this.#view ??= new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
    return this.#view;
  }
}

/**
 * Hands out exact-size buffers carved from shared slabs: one ArrayBuffer per many frames instead
 * of one each. Regions are never reused, so a buffer stays valid while anything (a socket's send
 * queue) holds it; a slab is freed once all of its frames are.
 */
export class SlabAllocator {
  readonly #slabBytes: number;
  #slab: Uint8Array;
  #used = 0;

  constructor(slabBytes = 256 * 1024) {
    this.#slabBytes = slabBytes;
    this.#slab = new Uint8Array(slabBytes);
  }

  alloc(bytes: number): Uint8Array {
    if (bytes > this.#slabBytes / 4) return new Uint8Array(bytes);
    if (this.#used + bytes > this.#slab.byteLength) {
      this.#slab = new Uint8Array(this.#slabBytes);
      this.#used = 0;
    }
    const out = this.#slab.subarray(this.#used, this.#used + bytes);
    // Keep later regions 8-byte aligned, which makes copies out of them cheaper.
    this.#used = (this.#used + bytes + 7) & ~7;
    return out;
  }
}
