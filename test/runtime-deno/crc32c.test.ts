// The pure-JS CRC32C every runtime can use (src/core/store/crc32c.ts; the Deno WAL's only one):
// the RFC 3720 (iSCSI) test vectors, and agreement with the native @node-rs/crc32 on random data.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createRequire } from 'node:module';
import { SeededPrng } from '../../src/core/prng.ts';
import { crc32cJs } from '../../src/core/store/crc32c.ts';

test('RFC 3720 B.4 vectors and the check value of "123456789"', () => {
  const filled = (n: number, f: (i: number) => number) => Uint8Array.from({ length: n }, (_, i) => f(i));
  assert.is(crc32cJs(new Uint8Array(0)), 0);
  assert.is(crc32cJs(new TextEncoder().encode('123456789')), 0xe3069283);
  assert.is(crc32cJs(filled(32, () => 0)), 0x8a9136aa);
  assert.is(crc32cJs(filled(32, () => 0xff)), 0x62a8ab43);
  assert.is(crc32cJs(filled(32, (i) => i)), 0x46dd794e);
  assert.is(crc32cJs(filled(32, (i) => 31 - i)), 0x113fdb5c);
});

test('agrees with @node-rs/crc32 on random lengths and offsets, whole and chained', () => {
  const native = (createRequire(import.meta.url)('@node-rs/crc32') as { crc32c(b: Uint8Array, initial?: number): number }).crc32c;
  const prng = new SeededPrng(7);
  for (let round = 0; round < 300; round++) {
    const buf = new Uint8Array(prng.nextInt(5000) + 16);
    for (let k = 0; k < buf.length; k++) buf[k] = prng.nextInt(256);
    // An unaligned view, as the WAL checks a frame inside a larger file.
    const data = buf.subarray(prng.nextInt(8));
    const cut = prng.nextInt(data.length + 1);
    assert.is(crc32cJs(data), native(data), `round ${round}, ${data.length} bytes`);
    assert.is(crc32cJs(data.subarray(cut), crc32cJs(data.subarray(0, cut))), native(data));
  }
});

test.run();
