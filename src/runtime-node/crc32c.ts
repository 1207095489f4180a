// CRC32C (Castagnoli) for WAL records and snapshot files: the native @node-rs/crc32 when it
// loads (hardware CRC, ~11 GB/s), else a pure-JS slice-by-8 table, so a missing prebuilt binary
// costs speed, never correctness. Both compute the same checksum and chain through `initial`.
import { createRequire } from 'node:module';

type Crc32cFn = (input: Uint8Array, initial?: number) => number;

const POLY_REFLECTED = 0x82f63b78;

function makeTables(): Uint32Array[] {
  const tables: Uint32Array[] = [];
  const t0 = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY_REFLECTED : c >>> 1;
    t0[n] = c >>> 0;
  }
  tables.push(t0);
  for (let t = 1; t < 8; t++) {
    const prev = tables[t - 1]!;
    const cur = new Uint32Array(256);
    for (let n = 0; n < 256; n++) cur[n] = (prev[n]! >>> 8) ^ t0[prev[n]! & 0xff]!;
    tables.push(cur);
  }
  return tables;
}

let tables: Uint32Array[] | null = null;

/** Pure-JS CRC32C (slice-by-8). Exported so tests can check it against the native one. */
export function crc32cJs(input: Uint8Array, initial = 0): number {
  tables ??= makeTables();
  const [t0, t1, t2, t3, t4, t5, t6, t7] = tables as [
    Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array,
  ];
  let crc = ~initial >>> 0;
  let i = 0;
  const n = input.length;
  const end8 = n - (n % 8);
  for (; i < end8; i += 8) {
    const lo = (crc ^ (input[i]! | (input[i + 1]! << 8) | (input[i + 2]! << 16) | (input[i + 3]! << 24))) >>> 0;
    crc =
      t7[lo & 0xff]! ^ t6[(lo >>> 8) & 0xff]! ^ t5[(lo >>> 16) & 0xff]! ^ t4[lo >>> 24]! ^
      t3[input[i + 4]!]! ^ t2[input[i + 5]!]! ^ t1[input[i + 6]!]! ^ t0[input[i + 7]!]!;
  }
  for (; i < n; i++) crc = t0[(crc ^ input[i]!) & 0xff]! ^ (crc >>> 8);
  return ~crc >>> 0;
}

function loadNative(): Crc32cFn | null {
  try {
    const mod = createRequire(import.meta.url)('@node-rs/crc32') as { crc32c?: unknown };
    if (typeof mod.crc32c !== 'function') return null;
    const native = mod.crc32c as (input: Uint8Array, initial?: number) => number;
    // Guard against a binary that loads but disagrees: the standard check value of "123456789".
    const check = new Uint8Array([0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39]);
    return native(check) === 0xe3069283 ? native : null;
  } catch {
    return null;
  }
}

const native = loadNative();

/** True when the native implementation is in use (reported by the benchmark). */
export const crc32cNative = native !== null;

/** CRC32C of `input`, continuing from `initial` (the CRC of the bytes before it). */
export const crc32c: Crc32cFn = native ?? crc32cJs;
