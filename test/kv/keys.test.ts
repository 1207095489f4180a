// Keys are bytes: a user's key (string or bytes) to the machine's byte string and back, byte
// order, prefix ends and the reserved keys.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { byteKey, inRange, isReserved, keyBytes, prefixEnd, userKey } from '../../src/core/kv/keys.ts';
import { SeededPrng } from '../../src/core/prng.ts';

const t = suite('kv keys');
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

t('an ASCII string is its own byte string and comes back as the same string', () => {
  for (const s of ['', 'a', 'a/b/c', '\u0000member', '\u007f', 'key with spaces']) {
    assert.is(byteKey(s), s, JSON.stringify(s));
    assert.is(userKey(byteKey(s)), s, JSON.stringify(s));
  }
});

t('a non-ASCII string becomes its UTF-8 bytes, one char per byte, and comes back as the string', () => {
  const cases: Array<[string, number[]]> = [
    ['ÿ', [0xc3, 0xbf]],
    ['€', [0xe2, 0x82, 0xac]],
    ['ключ', [0xd0, 0xba, 0xd0, 0xbb, 0xd1, 0x8e, 0xd1, 0x87]],
    ['𝄞', [0xf0, 0x9d, 0x84, 0x9e]],
    ['a🔑b', [0x61, 0xf0, 0x9f, 0x94, 0x91, 0x62]],
    ['\u{10ffff}', [0xf4, 0x8f, 0xbf, 0xbf]],
  ];
  for (const [s, bytes] of cases) {
    const k = byteKey(s);
    assert.is(k.length, bytes.length, s);
    assert.equal([...keyBytes(k)], bytes, s);
    assert.equal(keyBytes(k), enc(s), `${s}: the same bytes as TextEncoder`);
    assert.is(userKey(k), s, s);
  }
});

t('byte keys: valid UTF-8 comes back as a string, anything else as the same bytes', () => {
  assert.is(userKey(byteKey(new Uint8Array([0x68, 0x69]))), 'hi', 'ASCII bytes read back as a string');
  assert.is(userKey(byteKey(new Uint8Array([0xe2, 0x82, 0xac]))), '€');
  const invalid: number[][] = [
    [0xff],
    [0x80], // a stray continuation byte
    [0x61, 0xc3], // truncated two-byte sequence at the end
    [0xe2, 0x82], // truncated three-byte sequence
    [0xc0, 0x80], // overlong NUL
    [0xc1, 0xbf], // overlong
    [0xe0, 0x80, 0x80], // overlong three-byte
    [0xf0, 0x80, 0x80, 0x80], // overlong four-byte
    [0xed, 0xa0, 0x80], // a UTF-16 surrogate (U+D800)
    [0xf4, 0x90, 0x80, 0x80], // above U+10FFFF
    [0xf5, 0x80, 0x80, 0x80],
    [0xe2, 0x28, 0xa1], // a bad continuation
    [0x00, 0xfe, 0x01],
  ];
  for (const b of invalid) {
    const bytes = new Uint8Array(b);
    const k = byteKey(bytes);
    assert.is(k.length, b.length);
    const back = userKey(k);
    assert.instance(back, Uint8Array, `[${b.join(',')}] is not UTF-8`);
    assert.equal(back, bytes, `[${b.join(',')}] comes back unchanged`);
  }
});

t('every random byte key round-trips, and a string that comes back has the same bytes', () => {
  const rng = new SeededPrng(7);
  for (let i = 0; i < 2000; i++) {
    const b = new Uint8Array(rng.nextInt(12));
    for (let j = 0; j < b.length; j++) b[j] = rng.nextInt(4) === 0 ? rng.nextInt(0x80) : rng.nextInt(256);
    const k = byteKey(b);
    const back = userKey(k);
    const backBytes = typeof back === 'string' ? enc(back) : back;
    assert.equal(backBytes, b, `seed 7, key ${i}: [${[...b].join(',')}]`);
    if (typeof back === 'string') {
      // Then the bytes were valid UTF-8: a strict decoder agrees.
      assert.is(new TextDecoder('utf-8', { fatal: true }).decode(b), back);
    } else {
      assert.throws(() => new TextDecoder('utf-8', { fatal: true }).decode(b), undefined, `[${[...b].join(',')}] judged invalid`);
    }
  }
});

t('byte keys of 4096+ bytes convert in chunks without loss', () => {
  const b = new Uint8Array(10_000);
  for (let i = 0; i < b.length; i++) b[i] = (i * 31) & 0xff;
  const k = byteKey(b);
  assert.is(k.length, 10_000);
  assert.equal(keyBytes(k), b);
  const long = 'é'.repeat(5000);
  assert.is(userKey(byteKey(long)), long);
});

t('the order of byte keys is the bytewise order of the keys', () => {
  const rng = new SeededPrng(11);
  const keys: Uint8Array[] = [];
  for (let i = 0; i < 400; i++) {
    const b = new Uint8Array(rng.nextInt(6));
    for (let j = 0; j < b.length; j++) b[j] = rng.nextInt(3) === 0 ? [0, 0x7f, 0x80, 0xff][rng.nextInt(4)]! : rng.nextInt(256);
    keys.push(b);
  }
  for (let i = 0; i < keys.length; i++) {
    for (let j = 0; j < keys.length; j += 7) {
      const a = byteKey(keys[i]!);
      const b = byteKey(keys[j]!);
      const want = Math.sign(Buffer.compare(keys[i]!, keys[j]!));
      const got = a < b ? -1 : a > b ? 1 : 0;
      assert.is(got, want, `seed 11: [${[...keys[i]!].join(',')}] vs [${[...keys[j]!].join(',')}]`);
    }
  }
  const sorted = keys.map(byteKey).sort().map(keyBytes);
  const want = [...keys].sort(Buffer.compare);
  assert.equal(sorted, want);
});

t('string keys order by their UTF-8 bytes, not by UTF-16 code units', () => {
  // In UTF-16 '𝄞' (D834 DD1E) sorts below U+FFFF; in UTF-8 (F0 ...) it sorts above (EF BF BF).
  assert.ok('𝄞' < '\uffff', 'JavaScript order differs');
  assert.ok(byteKey('\uffff') < byteKey('𝄞'), 'byte order');
  assert.ok(byteKey('z') < byteKey('é'));
  assert.ok(byteKey('a') < byteKey('a\u0000'));
});

t('prefixEnd: the smallest key above every key with the prefix; null when there is none', () => {
  assert.is(prefixEnd(''), null, 'empty prefix: everything');
  assert.is(prefixEnd('a'), 'b');
  assert.is(prefixEnd('a/'), 'a0');
  assert.is(prefixEnd('ab'), 'ac');
  assert.is(prefixEnd('a\u00ff'), 'b', 'a trailing 0xff is dropped and the byte before it bumped');
  assert.is(prefixEnd('a\u00ff\u00ff'), 'b');
  assert.is(prefixEnd('\u0000'), '\u0001');
  assert.is(prefixEnd('a\u00fe'), 'a\u00ff');
  assert.is(prefixEnd('\u00ff'), null, 'all 0xff: to the end');
  assert.is(prefixEnd('\u00ff\u00ff\u00ff'), null);
  assert.is(prefixEnd(byteKey('é')), '\u00c3\u00aa', 'C3 A9 -> C3 AA');
});

t('prefixEnd bounds exactly the keys that start with the prefix (random keys)', () => {
  const rng = new SeededPrng(5);
  const alphabet = [0, 1, 0x61, 0x62, 0xfe, 0xff];
  const rand = (n: number) => String.fromCharCode(...Array.from({ length: n }, () => alphabet[rng.nextInt(alphabet.length)]!));
  for (let i = 0; i < 3000; i++) {
    const p = rand(rng.nextInt(3));
    const k = rand(rng.nextInt(5));
    const end = prefixEnd(p);
    assert.is(inRange(k, p, end), k.startsWith(p), `seed 5: prefix ${JSON.stringify(p)} key ${JSON.stringify(k)} end ${JSON.stringify(end)}`);
  }
});

t('inRange is [start, end), end null unbounded; reserved keys start with 0x00', () => {
  assert.ok(inRange('b', 'b', 'c'));
  assert.not.ok(inRange('c', 'b', 'c'));
  assert.not.ok(inRange('a', 'b', 'c'));
  assert.ok(inRange('\u00ff\u00ff', 'b', null));
  assert.ok(inRange('k', 'k', 'k\u0000'));
  assert.not.ok(inRange('k\u0000', 'k', 'k\u0000'));
  assert.ok(isReserved('\u0000member:a'));
  assert.not.ok(isReserved('\u0001'));
  assert.not.ok(isReserved(''), 'the empty key is not reserved');
});

t.run();
