// CRC32C (Castagnoli) for WAL records and snapshot files: the native @node-rs/crc32 when it
// loads (hardware CRC, ~11 GB/s), else the pure-JS slice-by-8 table of src/core/store/crc32c.ts,
// so a missing prebuilt binary costs speed, never correctness. Both chain through `initial`.
import { createRequire } from 'node:module';
import { crc32cJs } from '../core/store/crc32c.ts';

/** The pure-JS one, re-exported so tests can check it against the native one. */
export { crc32cJs };

type Crc32cFn = (input: Uint8Array, initial?: number) => number;

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
