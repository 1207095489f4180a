// The WAL's CRC32C: the native binding and the pure-JS fallback agree, on the standard check
// value and on random data, including when a CRC is continued across chunks.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SeededPrng } from '../../src/core/prng.ts';
import { crc32c, crc32cJs, crc32cNative } from '../../src/runtime-node/crc32c.ts';

test('check value of "123456789" is 0xe3069283 in both implementations', () => {
  const check = new TextEncoder().encode('123456789');
  assert.is(crc32cJs(check), 0xe3069283);
  assert.is(crc32c(check), 0xe3069283);
  assert.ok(crc32cNative, 'the native @node-rs/crc32 binding is expected on this machine');
});

test('native and JS agree on random data, whole and chained', () => {
  const prng = new SeededPrng(42);
  for (let round = 0; round < 200; round++) {
    const data = new Uint8Array(prng.nextInt(3000));
    for (let k = 0; k < data.length; k++) data[k] = prng.nextInt(256);
    const cut = prng.nextInt(data.length + 1);
    const whole = crc32c(data);
    assert.is(crc32cJs(data), whole, `round ${round}, ${data.length} bytes`);
    assert.is(crc32cJs(data.subarray(cut), crc32cJs(data.subarray(0, cut))), whole);
    assert.is(crc32c(data.subarray(cut), crc32c(data.subarray(0, cut))), whole);
  }
});

test.run();
