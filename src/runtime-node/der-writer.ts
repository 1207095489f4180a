// The few DER (ASN.1 distinguished encoding) constructors an X.509 certificate needs, for
// x509-writer.ts. Each returns the complete encoding (tag, minimal length, contents); nothing
// here parses. Only what certificates use: no REAL, no indefinite lengths, no high tag numbers.

import { assert } from '../core/assert.ts';

/** Tag bytes: universal types, and the context-specific forms certificates use. */
export const tags = {
  boolean: 0x01, integer: 0x02, bitString: 0x03, octetString: 0x04, oid: 0x06, utf8String: 0x0c,
  printableString: 0x13, ia5String: 0x16, utcTime: 0x17, generalizedTime: 0x18, sequence: 0x30, set: 0x31,
} as const;

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

/** Length octets: short form below 128, else 0x80 | count followed by big-endian bytes. */
function lengthOf(n: number): Uint8Array {
  assert(Number.isSafeInteger(n) && n >= 0, 'a DER length is a non-negative integer');
  if (n < 0x80) return Uint8Array.of(n);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v % 256);
  return Uint8Array.of(0x80 | bytes.length, ...bytes);
}

/** One TLV: `tag`, then the length of `contents`, then `contents` (the concatenation of the parts). */
export function tlv(tag: number, ...contents: readonly Uint8Array[]): Uint8Array {
  assert(Number.isInteger(tag) && tag >= 0 && tag <= 0xff && (tag & 0x1f) !== 0x1f, 'a one-byte DER tag');
  const body = concat(contents);
  return concat([Uint8Array.of(tag), lengthOf(body.byteLength), body]);
}

export const sequence = (...items: readonly Uint8Array[]): Uint8Array => tlv(tags.sequence, ...items);
export const set = (...items: readonly Uint8Array[]): Uint8Array => tlv(tags.set, ...items);
export const octetString = (bytes: Uint8Array): Uint8Array => tlv(tags.octetString, bytes);
export const utf8String = (text: string): Uint8Array => tlv(tags.utf8String, new TextEncoder().encode(text));
export const boolean = (v: boolean): Uint8Array => tlv(tags.boolean, Uint8Array.of(v ? 0xff : 0x00));

/** [n] EXPLICIT: a constructed context-specific wrapper around one complete encoding. */
export const explicit = (n: number, inner: Uint8Array): Uint8Array => tlv(0xa0 | n, inner);

/** [n] IMPLICIT on a primitive type: the contents of that type under a context-specific tag. */
export const implicit = (n: number, contents: Uint8Array): Uint8Array => tlv(0x80 | n, contents);

/** A non-negative INTEGER from big-endian magnitude bytes (minimal: leading zeros dropped, one added when the top bit is set). */
export function unsignedInteger(magnitude: Uint8Array): Uint8Array {
  let start = 0;
  while (start < magnitude.byteLength - 1 && magnitude[start] === 0) start++;
  const bytes = magnitude.subarray(start);
  assert(bytes.byteLength > 0, 'an INTEGER has at least one byte');
  return (bytes[0]! & 0x80) !== 0 ? tlv(tags.integer, Uint8Array.of(0), bytes) : tlv(tags.integer, bytes);
}

export function smallInteger(n: number): Uint8Array {
  assert(Number.isInteger(n) && n >= 0 && n <= 0xffff_ffff, 'a small non-negative INTEGER');
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v % 256);
  return unsignedInteger(Uint8Array.from(bytes.length === 0 ? [0] : bytes));
}

/** An OBJECT IDENTIFIER from dotted text ("2.5.29.17"): the first two arcs in one byte, the rest base-128. */
export function oid(dotted: string): Uint8Array {
  const arcs = dotted.split('.').map(Number);
  assert(arcs.length >= 2 && arcs.every((a) => Number.isSafeInteger(a) && a >= 0), () => `'${dotted}' is an OID`);
  assert(arcs[0]! <= 2 && (arcs[0] === 2 || arcs[1]! < 40), () => `'${dotted}' starts with a valid first arc pair`);
  const out: number[] = [];
  for (const arc of [arcs[0]! * 40 + arcs[1]!, ...arcs.slice(2)]) {
    const groups: number[] = [];
    for (let v = arc; ; v = Math.floor(v / 128)) {
      groups.unshift(v % 128);
      if (v < 128) break;
    }
    groups.forEach((g, i) => out.push(i < groups.length - 1 ? g | 0x80 : g));
  }
  return tlv(tags.oid, Uint8Array.from(out));
}

/** A BIT STRING holding whole bytes (keys, signatures): zero unused bits. */
export const bitStringBytes = (bytes: Uint8Array): Uint8Array => tlv(tags.bitString, Uint8Array.of(0), bytes);

/**
 * A named-bit BIT STRING (keyUsage): bit 0 is the top bit of the first byte, and DER drops
 * trailing zero bits, recording how many bits of the last byte are unused.
 */
export function namedBits(bits: readonly number[]): Uint8Array {
  assert(bits.length > 0 && bits.every((b) => Number.isInteger(b) && b >= 0 && b < 64), 'named bits in 0..63');
  const highest = Math.max(...bits);
  const bytes = new Uint8Array(Math.floor(highest / 8) + 1);
  for (const b of bits) bytes[Math.floor(b / 8)]! |= 0x80 >> (b % 8);
  return tlv(tags.bitString, Uint8Array.of(7 - (highest % 8)), bytes);
}

/** UTCTime through 2049, GeneralizedTime from 2050 (RFC 5280 4.1.2.5), to the second, in UTC. */
export function time(ms: number): Uint8Array {
  const d = new Date(ms);
  assert(!Number.isNaN(d.getTime()), 'a valid date');
  const two = (n: number) => String(n).padStart(2, '0');
  const rest = `${two(d.getUTCMonth() + 1)}${two(d.getUTCDate())}${two(d.getUTCHours())}${two(d.getUTCMinutes())}${two(d.getUTCSeconds())}Z`;
  const year = d.getUTCFullYear();
  assert(year >= 1950 && year <= 9999, 'a certificate date between 1950 and 9999');
  const ascii = (s: string) => new TextEncoder().encode(s);
  return year < 2050 ? tlv(tags.utcTime, ascii(`${two(year % 100)}${rest}`)) : tlv(tags.generalizedTime, ascii(`${year}${rest}`));
}
