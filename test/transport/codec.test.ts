// The codec: every message type survives a round trip byte for byte, decoded bytes are plain
// Uint8Array views, and every kind of invalid input is refused with the right stable code and a
// message that names the field and the bad value.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Decoder, Encoder } from 'cbor-x';
import { AssertionError } from '../../src/core/assert.ts';
import type { Message } from '../../src/core/message.ts';
import { FrameCodec, handshakeBytesMax } from '../../src/transport/codec.ts';
import { protocolVersion } from '../../src/transport/envelope.ts';
import { closeCodeFor, TransportError, transportErrorCodes } from '../../src/transport/errors.ts';
import type { TransportErrorCode } from '../../src/transport/errors.ts';
import { resolveFrameLimits } from '../../src/transport/limits.ts';
import { bytesOf, everyMessage, normalEntries } from './fixtures.ts';

const codec = new FrameCodec({ cluster: 'c1' });
const raw = new Encoder({ useRecords: false, tagUint8Array: false });
const rawDecoderOptions = { useRecords: false, int64AsNumber: true };
const rawDecoder = new Decoder(rawDecoderOptions);

function wire(value: unknown): Uint8Array {
  return raw.encode(value);
}

function throwsCode(fn: () => unknown, code: TransportErrorCode, ...fragments: string[]): TransportError {
  try {
    fn();
  } catch (err) {
    assert.instance(err, TransportError, `expected a TransportError, got ${String(err)}`);
    const te = err as TransportError;
    assert.is(te.code, code, `expected ${code}, got ${te.code}: ${te.message}`);
    for (const f of fragments) assert.ok(te.message.includes(f), `message '${te.message}' lacks '${f}'`);
    return te;
  }
  assert.unreachable(`expected ${code}`);
  throw new Error('unreachable');
}

const appHeader = (msg: unknown[]): unknown[] => [protocolVersion, 0, 'c1', 'n1', 'n2', [msg]];
const validApp = (): unknown[] => [0, 5, 10, 4, 3, [4, 5], [], [2, 1], bytesOf(3), []];

test('every message type round-trips, one per frame and all in one frame', () => {
  const msgs = everyMessage('n1', 'n2');
  for (const m of msgs) {
    const back = codec.decode(codec.encodeData('n1', 'n2', [m]));
    assert.is(back.kind, 'data');
    if (back.kind !== 'data') return;
    assert.equal(back.msgs, [m], `round trip of ${m.type}`);
  }
  const all = codec.decodeData(codec.encodeData('n1', 'n2', msgs));
  assert.equal(all, { kind: 'data', v: protocolVersion, cluster: 'c1', from: 'n1', to: 'n2', msgs });
});

test('decoded payloads are plain Uint8Array views, whether the input is a Buffer or not', () => {
  const msgs = everyMessage('n1', 'n2');
  const encoded = codec.encodeData('n1', 'n2', msgs);
  for (const input of [Buffer.from(encoded), new Uint8Array(encoded)]) {
    const frame = codec.decodeData(input);
    for (const m of frame.msgs) {
      if (m.type === 'app') {
        for (const e of m.entries) assert.is(Object.getPrototypeOf(e.data), Uint8Array.prototype);
      }
      if (m.type === 'snap') assert.is(Object.getPrototypeOf(m.snapshot.data), Uint8Array.prototype);
    }
  }
});

test('an empty-entry app and a config-only app keep their entry shapes exactly', () => {
  const m: Message = {
    type: 'app', from: 'a', to: 'b', term: 2, prevIndex: 0, prevTerm: 0, commit: 0,
    entries: [{ term: 2, index: 1, type: 'config', data: new Uint8Array(0), conf: { type: 'addVoter', node: 'b' } }],
  };
  const back = codec.decodeData(codec.encodeData('a', 'b', [m])).msgs[0];
  assert.equal(back, m);
  if (back?.type !== 'app') throw new Error('expected app');
  const normal = codec.decodeData(codec.encodeData('a', 'b', [{ ...m, entries: normalEntries(1, 2, 2, 0) }])).msgs[0];
  if (normal?.type !== 'app') throw new Error('expected app');
  for (const e of normal.entries) assert.not.ok('conf' in e, 'normal entries carry no conf key');
});

test('handshake frames round-trip', () => {
  const challenge = bytesOf(32);
  const proof = bytesOf(32, 9);
  const frames = [
    { kind: 'hello', v: 1, cluster: 'c1', serverId: 'n1', challenge },
    { kind: 'peerAuth', v: 1, cluster: 'c1', dialerId: 'n2', serverId: 'n1', slot: 3, challenge, proof },
    { kind: 'peerAuth', v: 1, cluster: 'c1', dialerId: 'n2', serverId: 'n1', slot: 0, challenge, proof: new Uint8Array(0) },
    { kind: 'tokenAuth', v: 1, cluster: 'c1', token: 'abc.def', slot: 0, instance: '' },
    { kind: 'welcome', v: 1, proof },
  ] as const;
  for (const f of frames) {
    assert.equal(codec.decodeHandshake(codec.encode(f)), f);
    assert.equal(codec.decode(codec.encode(f)), f);
  }
  throwsCode(() => codec.decodeData(codec.encode(frames[0])), 'ERR_FRAME_UNEXPECTED', 'hello');
  throwsCode(() => codec.decodeHandshake(codec.encodeData('a', 'b', [])), 'ERR_FRAME_UNEXPECTED');
});

test('size limits: frame bytes, handshake bytes, messages per frame, entries per message, entry bytes', () => {
  const small = new FrameCodec({ cluster: 'c1', limits: { frameBytesMax: 4096, msgsPerFrameMax: 2, entriesPerMsgMax: 3, entryBytesMax: 100 } });
  throwsCode(() => small.decode(new Uint8Array(4097)), 'ERR_FRAME_TOO_LARGE', '4097', '4096');
  throwsCode(() => codec.decodeHandshake(new Uint8Array(handshakeBytesMax + 1)), 'ERR_FRAME_TOO_LARGE');
  const hb: unknown[] = [2, 1, 0, 0];
  throwsCode(() => small.decode(wire([1, 0, 'c1', 'a', 'b', [hb, hb, hb]])), 'ERR_FRAME_FIELD', 'msgs', 'msgsPerFrameMax');
  throwsCode(() => small.decode(wire([1, 0, 'c1', 'a', 'b', [[0, 1, 0, 0, 0, [1, 1, 1, 1], [], [0, 0, 0, 0], new Uint8Array(0), []]]])),
    'ERR_FRAME_FIELD', 'msgs[0].entries', 'entriesPerMsgMax');
  throwsCode(() => small.decode(wire([1, 0, 'c1', 'a', 'b', [[0, 1, 0, 0, 0, [1], [], [101], bytesOf(101), []]]])),
    'ERR_FRAME_FIELD', 'msgs[0].entries[0].data', 'entryBytesMax');
});

test('envelope checks: version, cluster, kind, ids', () => {
  throwsCode(() => codec.decode(wire([2, 0, 'c1', 'a', 'b', []])), 'ERR_FRAME_VERSION', 'version 2');
  throwsCode(() => codec.decode(wire(['1', 0, 'c1', 'a', 'b', []])), 'ERR_FRAME_VERSION');
  throwsCode(() => codec.decode(wire([1, 0, 'other', 'a', 'b', []])), 'ERR_FRAME_CLUSTER', '"other"', '"c1"');
  throwsCode(() => codec.decode(wire([1, 9, 'c1'])), 'ERR_FRAME_FIELD', 'kind', '9');
  throwsCode(() => codec.decode(wire([1, 0, 'c1', 'a b', 'b', []])), 'ERR_FRAME_FIELD', 'from', '"a b"');
  throwsCode(() => codec.decode(wire([1, 0, 'c1', 'a', '', []])), 'ERR_FRAME_FIELD', 'to');
  throwsCode(() => codec.decode(wire([1, 0, 'c1', 'a'.repeat(129), 'b', []])), 'ERR_FRAME_FIELD', 'from');
  throwsCode(() => codec.decode(wire([1, 0, 'c1', 'a', 'b', [], 'extra'])), 'ERR_FRAME_FIELD', 'frame');
  throwsCode(() => codec.decode(wire({ v: 1 })), 'ERR_FRAME_MALFORMED', 'array');
  throwsCode(() => codec.decode(new Uint8Array([0x9f])), 'ERR_FRAME_MALFORMED', 'CBOR');
  throwsCode(() => codec.decode(new Uint8Array(0)), 'ERR_FRAME_MALFORMED');
  throwsCode(() => codec.decode(new Uint8Array([0x80, 0x80])), 'ERR_FRAME_MALFORMED', 'end of buffer');
});

test('message field checks name the path and the value', () => {
  throwsCode(() => codec.decode(wire(appHeader([12, 1]))), 'ERR_FRAME_FIELD', 'msgs[0].type', '12');
  throwsCode(() => codec.decode(wire(appHeader([2, -1, 0, 0]))), 'ERR_FRAME_FIELD', 'msgs[0].term', '-1');
  throwsCode(() => codec.decode(wire(appHeader([2, 1.5, 0, 0]))), 'ERR_FRAME_FIELD', 'msgs[0].term', '1.5');
  throwsCode(() => codec.decode(wire(appHeader([2, 2 ** 53, 0, 0]))), 'ERR_FRAME_FIELD', 'msgs[0].term');
  throwsCode(() => codec.decode(wire(appHeader([2, 1, 0]))), 'ERR_FRAME_FIELD', 'msgs[0]', '4 items');
  throwsCode(() => codec.decode(wire(appHeader([6, 1, 'yes']))), 'ERR_FRAME_FIELD', 'msgs[0].reject', '"yes"');
  throwsCode(() => codec.decode(wire(appHeader([10, 1, { a: 1 }]))), 'ERR_FRAME_FIELD', 'msgs[0].context');
  throwsCode(() => codec.decode(wire(appHeader([10, 1, 'x'.repeat(257)]))), 'ERR_FRAME_FIELD', 'msgs[0].context');
  throwsCode(() => codec.decode(wire(appHeader([8, 3, 1, 4, ['a'], [], new Uint8Array(0)]))), 'ERR_FRAME_FIELD', 'snapshot.term');
  throwsCode(() => codec.decode(wire(appHeader([8, 3, 1, 2, ['a', 'a'], [], new Uint8Array(0)]))), 'ERR_FRAME_FIELD', 'voters[1]', 'once');
  throwsCode(() => codec.decode(wire(appHeader([8, 3, 1, 2, ['a'], ['a'], new Uint8Array(0)]))), 'ERR_FRAME_FIELD', 'learners[0]');
  throwsCode(() => codec.decode(wire(appHeader([8, 3, 1, 2, ['a'], [], 'data']))), 'ERR_FRAME_FIELD', 'snapshot.data');
});

test('AppendEntries: entry shapes, term order, blob slicing and config entries are checked', () => {
  assert.is(codec.decodeData(wire(appHeader(validApp()))).msgs.length, 1);
  const bad = (patch: (m: unknown[]) => void, ...fragments: string[]): void => {
    const m = validApp();
    patch(m);
    throwsCode(() => codec.decode(wire(appHeader(m))), 'ERR_FRAME_FIELD', ...fragments);
  };
  bad((m) => { m[5] = [5, 4]; }, 'entries[1].term', 'never decrease');
  bad((m) => { m[5] = [3, 5]; }, 'entries[0].term');
  bad((m) => { m[5] = [4, 6]; }, 'entries[1].term', '6');
  bad((m) => { m[3] = 6; }, 'prevTerm');
  bad((m) => { m[7] = [2]; }, 'entries.lens');
  bad((m) => { m[7] = [2, 2]; }, 'entries[1].data', 'blob');
  bad((m) => { m[7] = [1, 1]; }, 'entries.blob', 'left over');
  bad((m) => { m[6] = [0]; }, 'entries.kinds');
  bad((m) => { m[6] = [0, 7]; }, 'entries[1].type', '7');
  bad((m) => { m[6] = [0, 2]; }, 'entries[1].conf');
  bad((m) => { m[6] = [0, 2]; m[9] = [[9, 'x']]; }, 'entries[1].conf.type');
  bad((m) => { m[6] = [0, 2]; m[9] = [[0, 'x y']]; }, 'entries[1].conf.node');
  bad((m) => { m[9] = [[0, 'x']]; }, 'entries.confs', 'one per config entry');
  bad((m) => { m[8] = [1, 2, 3]; }, 'entries.blob', 'byte string');
  bad((m) => { m[2] = Number.MAX_SAFE_INTEGER - 1; }, 'prevIndex');
  const ok = validApp();
  ok[6] = [1, 2];
  ok[9] = [[2, 'l9']];
  const m = codec.decodeData(wire(appHeader(ok))).msgs[0];
  assert.equal(m && m.type === 'app' ? m.entries.map((e) => [e.index, e.type, e.conf?.node]) : null,
    [[11, 'noop', undefined], [12, 'config', 'l9']]);
});

test('array-likes, maps and __proto__ keys are refused where arrays are expected', () => {
  const arrayLike = { length: 1, 0: [2, 1, 0, 0] };
  throwsCode(() => codec.decode(wire([1, 0, 'c1', 'a', 'b', arrayLike])), 'ERR_FRAME_FIELD', 'msgs', 'an array');
  const polluted: unknown = JSON.parse('{"__proto__": {"type": "hb"}, "0": 2}');
  throwsCode(() => codec.decode(wire([1, 0, 'c1', 'a', 'b', [polluted]])), 'ERR_FRAME_FIELD', 'msgs[0]');
  throwsCode(() => codec.decode(wire(polluted)), 'ERR_FRAME_MALFORMED');
  assert.is(({} as { type?: unknown }).type, undefined, 'Object.prototype untouched');
});

test('encoding asserts what the core promised', () => {
  const m: Message = { type: 'app', from: 'a', to: 'b', term: 2, prevIndex: 3, prevTerm: 1, commit: 0, entries: normalEntries(5, 1, 2, 1) };
  assert.throws(() => codec.encodeData('a', 'b', [m]), (e: unknown) => e instanceof AssertionError && /index 5, expected 4/.test(e.message));
  const hb: Message = { type: 'hb', from: 'a', to: 'b', term: 1, commit: 0, round: 0 };
  assert.throws(() => codec.encodeData('x', 'b', [hb]), (e: unknown) => e instanceof AssertionError);
});

/** The wire tree envelope.ts documents, built independently of the frame writer. */
function wireTree(from: string, to: string, msgs: readonly Message[]): unknown[] {
  const kindCode = { normal: 0, noop: 1, config: 2 } as const;
  const confCode = { addVoter: 0, addLearner: 1, promoteLearner: 2, removeNode: 3 } as const;
  const wireMsg = (m: Message): unknown[] => {
    switch (m.type) {
      case 'app': {
        const es = m.entries;
        const total = es.reduce((n, e) => n + e.data.byteLength, 0);
        const blob = new Uint8Array(total);
        let at = 0;
        for (const e of es) { blob.set(e.data, at); at += e.data.byteLength; }
        return [0, m.term, m.prevIndex, m.prevTerm, m.commit, es.map((e) => e.term),
          es.every((e) => e.type === 'normal') ? [] : es.map((e) => kindCode[e.type]),
          es.map((e) => e.data.byteLength), blob, es.flatMap((e) => (e.conf ? [[confCode[e.conf.type], e.conf.node]] : []))];
      }
      case 'appResp': return [1, m.term, m.index, m.reject, m.hintIndex, m.hintTerm];
      case 'hb': return [2, m.term, m.commit, m.round];
      case 'hbResp': return [3, m.term, m.round];
      case 'vote': return [4, m.term, m.lastIndex, m.lastTerm, m.transfer];
      case 'preVote': return [5, m.term, m.lastIndex, m.lastTerm, m.transfer];
      case 'voteResp': return [6, m.term, m.reject];
      case 'preVoteResp': return [7, m.term, m.reject];
      case 'snap': return [8, m.term, m.snapshot.meta.index, m.snapshot.meta.term, m.snapshot.meta.conf.voters, m.snapshot.meta.conf.learners, m.snapshot.data];
      case 'timeoutNow': return [9, m.term];
      case 'readIndex': return [10, m.term, m.context];
      case 'readIndexResp': return [11, m.term, m.context, m.index, m.reject];
    }
  };
  return [1, 0, 'c1', from, to, msgs.map(wireMsg)];
}

test('the frame writer emits exactly the CBOR cbor-x emits for the documented wire tree', () => {
  const big = 2 ** 40 + 3;
  const msgs: Message[] = [
    ...everyMessage('n1', 'n2'),
    { type: 'hb', from: 'n1', to: 'n2', term: big, commit: 2 ** 32, round: 2 ** 32 - 1 },
    { type: 'app', from: 'n1', to: 'n2', term: big, prevIndex: 65535, prevTerm: 255, commit: 65536, entries: normalEntries(65536, 3, big, 24) },
    { type: 'readIndex', from: 'n1', to: 'n2', term: 1, context: -5 },
    { type: 'readIndex', from: 'n1', to: 'n2', term: 1, context: 2.5 },
    { type: 'readIndex', from: 'n1', to: 'n2', term: 1, context: -(2 ** 40) },
    { type: 'readIndexResp', from: 'n1', to: 'n2', term: 1, context: 'héllo wörld ✓ 𝄞', index: 3, reject: false },
  ];
  for (const [i, m] of msgs.entries()) {
    const mine = codec.encodeData('n1', 'n2', [m]);
    const theirs = wire(wireTree('n1', 'n2', [m]));
    // cbor-x writes integers above 2^32 as float64, the writer as uint64: same values, other bytes.
    if (i < everyMessage('n1', 'n2').length) assert.equal(Array.from(mine), Array.from(theirs), `bytes of ${m.type}`);
    assert.equal(rawDecoder.decode(new Uint8Array(mine)), rawDecoder.decode(new Uint8Array(theirs)), `decoded tree of ${m.type}`);
    assert.equal(codec.decodeData(mine).msgs, [m], `round trip of ${m.type}`);
  }
  const nonAscii = new FrameCodec({ cluster: 'clüster' });
  const back = nonAscii.decodeData(nonAscii.encodeData('nœud-1', 'n2', [{ type: 'timeoutNow', from: 'nœud-1', to: 'n2', term: 1 }]));
  assert.is(back.from, 'nœud-1');
});

test('estimateBytes is the exact size a message adds to a frame', () => {
  const empty = codec.encodeData('n1', 'n2', []).byteLength;
  for (const m of everyMessage('n1', 'n2')) {
    assert.is(codec.estimateBytes(m), codec.encodeData('n1', 'n2', [m]).byteLength - empty, m.type);
  }
});

test('limits are validated and every error code has a close code', () => {
  assert.throws(() => resolveFrameLimits({ frameBytesMax: 0 }), (e: unknown) => e instanceof TransportError && e.code === 'ERR_CONFIG_INVALID' && e.message.includes('frameBytesMax'));
  assert.throws(() => resolveFrameLimits({ entryBytesMax: 2 ** 30 }), /entryBytesMax/);
  assert.throws(() => resolveFrameLimits({ bogus: 1 } as never), /bogus/);
  const seen = new Set<number>();
  for (const code of transportErrorCodes) {
    const close = closeCodeFor(code);
    assert.ok(close >= 1000 && close < 5000, `${code} -> ${close}`);
    seen.add(close);
  }
  assert.is(closeCodeFor('ERR_FRAME_TOO_LARGE'), 1009);
  assert.is(closeCodeFor('ERR_FRAME_MALFORMED'), 1002);
  assert.ok(seen.size >= 5);
});

test.run();
