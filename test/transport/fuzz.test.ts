// Seeded fuzzing of the decoder: random bytes, mutated valid frames (bit flips, truncation,
// extension, splices) and valid CBOR of the wrong shape. Decode must either return a frame that
// an independent checker accepts (and that re-encodes to itself) or throw a TransportError with
// a frame code; nothing else may escape. FUZZ_SEED and FUZZ_FRAMES override the defaults.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Decoder, Encoder } from 'cbor-x';
import { SeededPrng } from '../../src/core/prng.ts';
import { messageTypes } from '../../src/core/message.ts';
import type { Message } from '../../src/core/message.ts';
import { FrameCodec } from '../../src/transport/codec.ts';
import type { Frame } from '../../src/transport/envelope.ts';
import { TransportError } from '../../src/transport/errors.ts';
import { bytesOf, everyMessage, normalEntries } from './fixtures.ts';

const seeds = process.env.FUZZ_SEED ? [Number(process.env.FUZZ_SEED)] : [0x5eed1, 0xc0ffee];
const framesPerSeed = Number(process.env.FUZZ_FRAMES ?? 2500);
const frameCodes = new Set(['ERR_FRAME_TOO_LARGE', 'ERR_FRAME_MALFORMED', 'ERR_FRAME_VERSION', 'ERR_FRAME_CLUSTER', 'ERR_FRAME_FIELD', 'ERR_FRAME_UNEXPECTED']);

const codec = new FrameCodec({ cluster: 'c1', limits: { frameBytesMax: 1 << 20, entryBytesMax: 1 << 16 } });
const rawEncoder = new Encoder({ useRecords: false, tagUint8Array: false });
const rawDecoder = new Decoder({ useRecords: false });

function corpus(): Uint8Array[] {
  const msgs = everyMessage('n1', 'n2').filter((m) => !(m.type === 'app' && m.entries.some((e) => e.data.byteLength > 4096)));
  const frames: Uint8Array[] = msgs.map((m) => codec.encodeData('n1', 'n2', [m]));
  frames.push(codec.encodeData('n1', 'n2', msgs));
  frames.push(codec.encodeData('n1', 'n2', [{ type: 'app', from: 'n1', to: 'n2', term: 2, prevIndex: 0, prevTerm: 0, commit: 0, entries: normalEntries(1, 8, 2, 16) }]));
  const challenge = bytesOf(32);
  frames.push(codec.encode({ kind: 'hello', v: 1, cluster: 'c1', serverId: 'n1', challenge }));
  frames.push(codec.encode({ kind: 'peerAuth', v: 1, cluster: 'c1', dialerId: 'n2', serverId: 'n1', slot: 1, challenge, proof: bytesOf(32, 3) }));
  frames.push(codec.encode({ kind: 'tokenAuth', v: 1, cluster: 'c1', token: 'x.y', slot: 0, instance: '' }));
  frames.push(codec.encode({ kind: 'tokenAuth', v: 1, cluster: 'c1', token: 'x.y', slot: 0, instance: 'tab-7' }));
  frames.push(codec.encodeRpc('n1', 'c~x', [bytesOf(12), new Uint8Array(0), bytesOf(40, 5)]));
  frames.push(codec.encode({ kind: 'welcome', v: 1, proof: new Uint8Array(0) }));
  return frames;
}

const interesting = [0x00, 0x01, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1f, 0x20, 0x3b, 0x40, 0x5f, 0x60, 0x7f, 0x80, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xd8, 0xd9, 0xda, 0xdb, 0xf4, 0xf5, 0xf6, 0xf7, 0xf9, 0xfa, 0xfb, 0xff];

function randomValue(prng: SeededPrng, depth: number): unknown {
  const pick = prng.nextInt(depth > 3 ? 12 : 16);
  switch (pick) {
    case 0: return prng.nextInt(30);
    case 1: return -1 - prng.nextInt(1000);
    case 2: return prng.nextU32() * 2 ** 21 + prng.nextU32();
    case 3: return [0.5, -0, NaN, Infinity, 1e300, 2 ** 53, -(2 ** 53)][prng.nextInt(7)];
    case 4: return ['', 'n1', 'n2', 'c1', 'a b', 'x'.repeat(prng.nextInt(300)), '__proto__', 'constructor'][prng.nextInt(8)];
    case 5: return bytesOf(prng.nextInt(70), prng.nextInt(255));
    case 6: return prng.nextInt(2) === 0;
    case 7: return null;
    case 8: return undefined;
    case 9: return BigInt(prng.nextU32()) * 4294967296n * 4294967296n;
    case 10: return new Date(prng.nextU32());
    case 11: return new Uint16Array(prng.nextInt(4));
    case 12: return Array.from({ length: prng.nextInt(6) }, () => randomValue(prng, depth + 1));
    case 13: return Object.fromEntries(Array.from({ length: prng.nextInt(4) }, (_, i) => [`k${i}`, randomValue(prng, depth + 1)]));
    case 14: return new Map([[randomValue(prng, depth + 1), randomValue(prng, depth + 1)]]);
    default: return new Set([randomValue(prng, depth + 1)]);
  }
}

/** Replaces one random node of a decoded frame tree with a random value (structure-aware). */
function replaceNode(tree: unknown, prng: SeededPrng): unknown {
  if (!Array.isArray(tree) || tree.length === 0 || prng.nextInt(4) === 0) return randomValue(prng, 0);
  const copy = tree.slice();
  const i = prng.nextInt(copy.length + 1);
  if (i === copy.length) copy.push(randomValue(prng, 0));
  else copy[i] = replaceNode(copy[i], prng);
  return copy;
}

function mutate(base: Uint8Array, prng: SeededPrng, all: Uint8Array[]): Uint8Array {
  const b = new Uint8Array(base);
  switch (prng.nextInt(7)) {
    case 0: {
      const r = new Uint8Array(prng.nextInt(300));
      for (let i = 0; i < r.length; i++) r[i] = prng.nextInt(256);
      return r;
    }
    case 1: {
      const flips = 1 + prng.nextInt(8);
      for (let i = 0; i < flips; i++) { const at = prng.nextInt(b.length); b[at] = b[at]! ^ (1 << prng.nextInt(8)); }
      return b;
    }
    case 2: return b.subarray(0, prng.nextInt(b.length));
    case 3: {
      const tail = new Uint8Array(1 + prng.nextInt(40));
      for (let i = 0; i < tail.length; i++) tail[i] = prng.nextInt(256);
      const out = new Uint8Array(b.length + tail.length);
      out.set(b);
      out.set(tail, b.length);
      return out;
    }
    case 4: {
      const hits = 1 + prng.nextInt(4);
      for (let i = 0; i < hits; i++) b[prng.nextInt(b.length)] = interesting[prng.nextInt(interesting.length)]!;
      return b;
    }
    case 5: {
      const other = all[prng.nextInt(all.length)]!;
      const cut = prng.nextInt(b.length);
      const from = prng.nextInt(other.length);
      const out = new Uint8Array(cut + other.length - from);
      out.set(b.subarray(0, cut));
      out.set(other.subarray(from), cut);
      return out;
    }
    default: {
      const tree: unknown = rawDecoder.decode(base);
      try {
        return rawEncoder.encode(replaceNode(tree, prng));
      } catch {
        return b;
      }
    }
  }
}

const safeUint = (x: unknown): boolean => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;

/** An independent check of what decode promises, written without the validator's helpers. */
function checkMessage(m: Message, f: { from: string; to: string }): void {
  assert.ok(messageTypes.includes(m.type), `type ${m.type}`);
  assert.is(m.from, f.from);
  assert.is(m.to, f.to);
  assert.ok(safeUint(m.term), 'term');
  if (m.type === 'app') {
    assert.ok(safeUint(m.prevIndex) && safeUint(m.prevTerm) && safeUint(m.commit));
    let last = m.prevTerm;
    m.entries.forEach((e, i) => {
      assert.is(e.index, m.prevIndex + 1 + i, 'contiguous');
      assert.ok(safeUint(e.term) && e.term >= last && e.term <= m.term && e.term > 0, 'entry term order');
      last = e.term;
      assert.is(Object.getPrototypeOf(e.data), Uint8Array.prototype);
      assert.is(e.type === 'config', e.conf !== undefined, 'conf exactly on config entries');
    });
  }
  if (m.type === 'snap') assert.is(Object.getPrototypeOf(m.snapshot.data), Uint8Array.prototype);
}

function checkFrame(frame: Frame): void {
  if (frame.kind === 'data') {
    assert.is(frame.cluster, 'c1');
    for (const m of frame.msgs) checkMessage(m, frame);
  }
  // Whatever decodes must re-encode to a frame that decodes to the same value.
  assert.equal(codec.decode(codec.encode(frame)), frame, 're-encode round trip');
}

function hex(b: Uint8Array): string {
  return Array.from(b.subarray(0, 512), (x) => x.toString(16).padStart(2, '0')).join('');
}

for (const seed of seeds) {
  test(`fuzz seed ${seed}: ${framesPerSeed} frames decode to valid frames or TransportErrors only`, () => {
    const prng = new SeededPrng(seed);
    const all = corpus();
    let accepted = 0;
    let rejected = 0;
    for (let i = 0; i < framesPerSeed; i++) {
      const base = all[prng.nextInt(all.length)]!;
      const input = mutate(base, prng, all);
      try {
        let frame: Frame;
        try {
          frame = codec.decode(input);
        } catch (err) {
          if (!(err instanceof TransportError)) throw new Error(`non-TransportError escaped: ${String(err)}`);
          if (!frameCodes.has(err.code)) throw new Error(`unexpected code ${err.code}: ${err.message}`);
          rejected += 1;
          continue;
        }
        checkFrame(frame);
        accepted += 1;
      } catch (err) {
        console.error(`fuzz failure: seed=${seed} (FUZZ_SEED=${seed}) iteration=${i} input=${hex(input)}`);
        throw err;
      }
    }
    // Both outcomes must occur, or the fuzzer is not exercising the decoder.
    assert.ok(accepted > framesPerSeed / 50, `only ${accepted} mutated frames were accepted`);
    assert.ok(rejected > framesPerSeed / 2, `only ${rejected} frames were rejected`);
  });
}

test.run();
