// ParallelRaft's optional message fields on the wire: each survives the frame writer and the
// generic cbor-x path, raft-mode messages keep exactly their old bytes, and every malformed list
// or Merge reply is refused with ERR_FRAME_FIELD naming the field. FUZZ_SEED replays one fuzz run.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Decoder, Encoder } from 'cbor-x';
import { AssertionError } from '../../src/core/assert.ts';
import type { Message } from '../../src/core/message.ts';
import { SeededPrng } from '../../src/core/prng.ts';
import type { Entry } from '../../src/core/types.ts';
import { FrameCodec } from '../../src/transport/codec.ts';
import { protocolVersion } from '../../src/transport/envelope.ts';
import { TransportError } from '../../src/transport/errors.ts';
import { defaultFrameLimits, resolveFrameLimits } from '../../src/transport/limits.ts';
import { bytesOf, everyMessage, normalEntries } from './fixtures.ts';
import { logRulesFor } from '../../src/core/modes.ts';

const codec = new FrameCodec({ cluster: 'c1' });
const raw = new Encoder({ useRecords: false, tagUint8Array: false });
const rawDecoder = new Decoder({ useRecords: false, int64AsNumber: true } as ConstructorParameters<typeof Decoder>[0]);

function wire(value: unknown): Uint8Array {
  return raw.encode(value);
}

function hex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

/** Sparse, with terms going down as well as up, and every entry type: what a voter may hold. */
const mergeEntries: Entry[] = [
  { term: 3, index: 12, type: 'normal', data: bytesOf(7) },
  { term: 5, index: 13, type: 'noop', data: new Uint8Array(0) },
  { term: 2, index: 15, type: 'config', data: bytesOf(4, 3), conf: { type: 'addLearner', node: 'l2' } },
  { term: 4, index: 16, type: 'normal', data: new Uint8Array(0) },
  { term: 1, index: 300, type: 'config', data: new Uint8Array(0), conf: { type: 'removeNode', node: 'n3' } },
  { term: 6, index: 2 ** 40, type: 'normal', data: bytesOf(70000, 5) },
];

/** One message per parallel-mode field and shape; terms are 6, so every merge term fits. */
function parallelMessages(from: string, to: string): Message[] {
  return [
    { type: 'app', from, to, term: 6, prevIndex: 10, prevTerm: 5, entries: normalEntries(11, 3, 6, 9), commit: 8, commitSet: [11, 13, 300] },
    { type: 'app', from, to, term: 6, prevIndex: 0, prevTerm: 0, entries: [], commit: 0, commitSet: [1] },
    { type: 'app', from, to, term: 6, prevIndex: 4, prevTerm: 6, entries: [], commit: 4, commitSet: [] },
    { type: 'app', from, to, term: 6, prevIndex: 3, prevTerm: 2, entries: everyMessageEntries(), commit: 3, commitSet: [5, 2 ** 33] },
    { type: 'appResp', from, to, term: 6, index: 17, reject: false, hintIndex: 0, hintTerm: 0, acks: [19, 20, 65536] },
    { type: 'appResp', from, to, term: 6, index: 0, reject: false, hintIndex: 0, hintTerm: 0, acks: [] },
    { type: 'hb', from, to, term: 6, commit: 17, round: 0, commitSet: [18, 25] },
    { type: 'hb', from, to, term: 6, commit: 17, round: 99, commitSet: [2 ** 52] },
    { type: 'vote', from, to, term: 6, lastIndex: 17, lastTerm: 5, transfer: false, commit: 12 },
    { type: 'vote', from, to, term: 6, lastIndex: 0, lastTerm: 0, transfer: true, commit: 0 },
    { type: 'voteResp', from, to, term: 6, reject: false, merge: { commit: 14, entries: mergeEntries } },
    { type: 'voteResp', from, to, term: 6, reject: false, merge: { commit: 0, entries: [] } },
    { type: 'voteResp', from, to, term: 6, reject: false, merge: { commit: 9, entries: normalEntries(10, 3, 6, 2) } },
  ];
}

/** Contiguous entries of every type from index 4, terms 3..6. */
function everyMessageEntries(): Entry[] {
  const app = everyMessage('a', 'b')[0];
  if (app?.type !== 'app') throw new Error('fixture changed: expected an app first');
  return app.entries.map((e, i) => ({ ...e, index: 4 + i, term: Math.min(6, e.term + 1) }));
}

/** Drops the parallel-mode fields: the message raft mode sends. */
function raftOnly(m: Message): Message {
  switch (m.type) {
    case 'app': { const { commitSet: _, ...r } = m; return r; }
    case 'appResp': { const { acks: _, ...r } = m; return r; }
    case 'hb': { const { commitSet: _, ...r } = m; return r; }
    case 'vote': case 'preVote': { const { commit: _, ...r } = m; return r; }
    case 'voteResp': case 'preVoteResp': { const { merge: _, ...r } = m; return r; }
    default: return m;
  }
}

/** The wire tree envelope.ts documents, built without the frame writer or the validator. */
function wireMsg(m: Message): unknown[] {
  const kindCode = { normal: 0, noop: 1, config: 2 } as const;
  const confCode = { addVoter: 0, addLearner: 1, promoteLearner: 2, removeNode: 3 } as const;
  const columns = (es: readonly Entry[]): unknown[] => {
    const blob = new Uint8Array(es.reduce((n, e) => n + e.data.byteLength, 0));
    let at = 0;
    for (const e of es) { blob.set(e.data, at); at += e.data.byteLength; }
    return [es.map((e) => e.term), es.every((e) => e.type === 'normal') ? [] : es.map((e) => kindCode[e.type]),
      es.map((e) => e.data.byteLength), blob, es.flatMap((e) => (e.conf ? [[confCode[e.conf.type], e.conf.node]] : []))];
  };
  const opt = (v: unknown): unknown[] => (v === undefined ? [] : [v]);
  switch (m.type) {
    case 'app': return [0, m.term, m.prevIndex, m.prevTerm, m.commit, ...columns(m.entries), ...opt(m.commitSet)];
    case 'appResp': return [1, m.term, m.index, m.reject, m.hintIndex, m.hintTerm, ...opt(m.acks)];
    case 'hb': return [2, m.term, m.commit, m.round, ...opt(m.commitSet)];
    case 'vote': return [4, m.term, m.lastIndex, m.lastTerm, m.transfer, ...opt(m.commit)];
    case 'preVote': return [5, m.term, m.lastIndex, m.lastTerm, m.transfer, ...opt(m.commit)];
    case 'voteResp':
    case 'preVoteResp': {
      const head = [m.type === 'voteResp' ? 6 : 7, m.term, m.reject];
      return m.merge === undefined ? head : [...head, m.merge.commit, [m.merge.entries.map((e) => e.index), ...columns(m.merge.entries)]];
    }
    default: throw new Error(`no wire tree for ${m.type} here`);
  }
}

const frame = (msgs: readonly unknown[]): unknown[] => [protocolVersion, 0, 'c1', 'n1', 'n2', msgs];

function fieldError(fn: () => unknown, ...fragments: string[]): void {
  try {
    fn();
  } catch (err) {
    assert.instance(err, TransportError, `expected a TransportError, got ${String(err)}`);
    const te = err as TransportError;
    assert.is(te.code, 'ERR_FRAME_FIELD', `expected ERR_FRAME_FIELD, got ${te.code}: ${te.message}`);
    for (const f of fragments) assert.ok(te.message.includes(f), `message '${te.message}' lacks '${f}'`);
    return;
  }
  assert.unreachable(`expected ERR_FRAME_FIELD naming ${fragments.join(', ')}`);
}

function encodeAsserts(m: Message, pattern: RegExp): void {
  assert.throws(() => codec.encodeData(m.from, m.to, [m]), (e: unknown) => e instanceof AssertionError && pattern.test(e.message),
    `encoding ${m.type} should assert ${String(pattern)}`);
}

test('every parallel field round-trips through the frame writer, one per frame and all in one', () => {
  const msgs = parallelMessages('n1', 'n2');
  for (const m of msgs) {
    assert.equal(codec.decodeData(codec.encodeData('n1', 'n2', [m])).msgs, [m], `round trip of ${m.type}`);
  }
  assert.equal(codec.decodeData(codec.encodeData('n1', 'n2', msgs)).msgs, msgs);
  // Through the generic frame API too, and mixed with raft-mode messages.
  const mixed = [...everyMessage('n1', 'n2'), ...msgs];
  const f = { kind: 'data', v: protocolVersion, cluster: 'c1', from: 'n1', to: 'n2', msgs: mixed } as const;
  assert.equal(codec.decode(codec.encode(f)), f);
});

test('decoded merge entries are fresh objects with plain Uint8Array views and conf only on config', () => {
  const m = parallelMessages('n1', 'n2')[10]!;
  const back = codec.decodeData(Buffer.from(codec.encodeData('n1', 'n2', [m]))).msgs[0];
  if (back?.type !== 'voteResp' || back.merge === undefined) throw new Error('expected a voteResp with a merge reply');
  assert.is(back.merge.entries.length, mergeEntries.length);
  for (const [i, e] of back.merge.entries.entries()) {
    assert.is(Object.getPrototypeOf(e.data), Uint8Array.prototype);
    assert.is('conf' in e, e.type === 'config', `entry ${i}: conf key exactly on config entries`);
    assert.is.not(e, mergeEntries[i]);
  }
});

test('the writer emits exactly the bytes cbor-x emits for the documented wire tree', () => {
  for (const m of parallelMessages('n1', 'n2')) {
    const mine = codec.encodeData('n1', 'n2', [m]);
    const tree = frame([wireMsg(m)]);
    const big = JSON.stringify(tree, (_k, v: unknown) => (typeof v === 'number' && v >= 2 ** 32 ? 'big' : v)).includes('"big"');
    // cbor-x writes integers of 2^32 and above as float64, the writer as uint64: compare values there.
    if (!big) assert.is(hex(mine), hex(wire(tree)), `bytes of ${m.type}`);
    assert.equal(rawDecoder.decode(new Uint8Array(mine)), rawDecoder.decode(new Uint8Array(wire(tree))), `tree of ${m.type}`);
    // The generic path: a tree cbor-x encoded is validated into the same message.
    assert.equal(codec.decodeData(wire(tree)).msgs, [m], `cbor-x tree of ${m.type}`);
  }
});

test('estimateBytes counts the parallel fields exactly', () => {
  const empty = codec.encodeData('n1', 'n2', []).byteLength;
  for (const m of parallelMessages('n1', 'n2')) {
    assert.is(codec.estimateBytes(m), codec.encodeData('n1', 'n2', [m]).byteLength - empty, m.type);
    assert.ok(codec.estimateBytes(m) > codec.estimateBytes(raftOnly(m)), `${m.type}: the field costs bytes`);
  }
});

test('raft-mode messages keep their old bytes: the fields add only their own trailing items', () => {
  for (const m of parallelMessages('n1', 'n2')) {
    const plain = raftOnly(m);
    const bytes = codec.encodeData('n1', 'n2', [plain]);
    assert.equal(codec.decodeData(bytes).msgs, [plain], `${m.type} without its field`);
    const tree = rawDecoder.decode(new Uint8Array(bytes)) as unknown[];
    const old = { app: 10, appResp: 6, hb: 4, vote: 5, preVote: 5, voteResp: 3, preVoteResp: 3 } as Record<string, number>;
    assert.is((tree[5] as unknown[][])[0]!.length, old[m.type], `${m.type} keeps its raft-mode arity`);
    // With the field, the message is the raft-mode items followed by the new ones.
    const withField = (rawDecoder.decode(new Uint8Array(codec.encodeData('n1', 'n2', [m]))) as unknown[][])[5] as unknown[][];
    assert.equal(withField[0]!.slice(0, old[m.type]), (tree[5] as unknown[][])[0], `${m.type}: same leading items`);
  }
  // Pinned bytes of today's raft-mode format (written by the encoder before these fields existed).
  const pinned: [Message, string][] = [
    [{ type: 'hb', from: 'n1', to: 'n2', term: 5, commit: 17, round: 0 }, '860100626331626e31626e32818402051100'],
    [{ type: 'appResp', from: 'n1', to: 'n2', term: 5, index: 17, reject: false, hintIndex: 0, hintTerm: 0 }, '860100626331626e31626e328186010511f40000'],
    [{ type: 'vote', from: 'n1', to: 'n2', term: 6, lastIndex: 17, lastTerm: 5, transfer: false }, '860100626331626e31626e32818504061105f4'],
    [{ type: 'voteResp', from: 'n1', to: 'n2', term: 6, reject: false }, '860100626331626e31626e3281830606f4'],
    [{ type: 'app', from: 'n1', to: 'n2', term: 2, prevIndex: 1, prevTerm: 1, commit: 1, entries: normalEntries(2, 1, 2, 2) }, '860100626331626e31626e32818a0002010101810280810242001f80'],
  ];
  for (const [m, expected] of pinned) assert.is(hex(codec.encodeData('n1', 'n2', [m])), expected, `pinned bytes of ${m.type}`);
});

test('index lists: non-increasing, duplicate, at or below the watermark, negative, too long or not lists are refused', () => {
  const small = new FrameCodec({ cluster: 'c1', limits: { indexListMax: 3 } });
  const app = (list: unknown): unknown[] => [0, 5, 10, 4, 3, [4, 5], [], [2, 1], bytesOf(3), [], list];
  const cases: [unknown[], ...string[]][] = [
    [app([14, 13]), 'msgs[0].commitSet[1]', 'strictly increasing', '13'],
    [app([14, 14]), 'msgs[0].commitSet[1]', '14'],
    [app([3]), 'msgs[0].commitSet[0]', 'above commit 3'],
    [app([-4]), 'msgs[0].commitSet[0]', '-4'],
    [app([4.5]), 'msgs[0].commitSet[0]', '4.5'],
    [app([2 ** 53]), 'msgs[0].commitSet[0]'],
    [app(['5']), 'msgs[0].commitSet[0]', '"5"'],
    [app(5), 'msgs[0].commitSet', 'an array'],
    [app({ 0: 5, length: 1 }), 'msgs[0].commitSet', 'an array'],
    [app([5, 6, 7, 8]), 'msgs[0].commitSet', 'indexListMax (3)'],
    [[2, 1, 7, 0, [9, 8]], 'msgs[0].commitSet[1]', '8'],
    [[2, 1, 7, 0, [7]], 'msgs[0].commitSet[0]', 'above commit 7'],
    [[2, 1, 7, 0, [8, 9, 10, 11]], 'msgs[0].commitSet', 'indexListMax'],
    [[1, 2, 7, false, 0, 0, [7]], 'msgs[0].acks[0]', 'above index 7'],
    [[1, 2, 7, false, 0, 0, [9, 8]], 'msgs[0].acks[1]', 'strictly increasing'],
    [[1, 2, 7, false, 0, 0, [-1]], 'msgs[0].acks[0]', '-1'],
    [[1, 2, 7, false, 0, 0, [8, 9, 10, 11]], 'msgs[0].acks', 'indexListMax (3)'],
    [[1, 2, 7, true, 5, 1, [8]], 'msgs[0].acks', 'rejection'],
    [[1, 2, 7, false, 0, 0, null], 'msgs[0].acks', 'an array'],
    [[1, 2, 7, false, 0, 0, [8], []], 'msgs[0]', '6 items'],
    [[2, 1, 7, 0, [8], []], 'msgs[0]', '4 items'],
    [[0, 5, 10, 4, 3, [4, 5], [], [2, 1], bytesOf(3), [], [11], []], 'msgs[0]', '10 items'],
  ];
  for (const [msg, ...fragments] of cases) fieldError(() => small.decode(wire(frame([msg]))), ...fragments);
  assert.is(small.decodeData(wire(frame([app([11, 12, 13])]))).msgs.length, 1, 'a list of exactly indexListMax fits');
});

test('vote commit: a safe integer, and only on a vote', () => {
  fieldError(() => codec.decode(wire(frame([[4, 6, 17, 5, false, -1]]))), 'msgs[0].commit', '-1');
  fieldError(() => codec.decode(wire(frame([[4, 6, 17, 5, false, 'x']]))), 'msgs[0].commit', '"x"');
  fieldError(() => codec.decode(wire(frame([[5, 6, 17, 5, false, 3]]))), 'msgs[0].commit', 'preVote');
  fieldError(() => codec.decode(wire(frame([[4, 6, 17, 5, false, 3, 4]]))), 'msgs[0]', '5 items');
});

test('Merge replies: only on a granted voteResp, and every entry column is checked', () => {
  const e = (): unknown[] => [[12, 13, 15], [3, 5, 2], [0, 1, 2], [2, 0, 1], bytesOf(3), [[1, 'l2']]];
  const resp = (entries: unknown, patch: (m: unknown[]) => void = () => {}): unknown[] => {
    const m: unknown[] = [6, 6, false, 14, entries];
    patch(m);
    return m;
  };
  const ok = codec.decodeData(wire(frame([resp(e())]))).msgs[0];
  assert.equal(ok?.type === 'voteResp' ? ok.merge?.entries.map((x) => [x.index, x.term, x.type, x.conf?.node]) : null,
    [[12, 3, 'normal', undefined], [13, 5, 'noop', undefined], [15, 2, 'config', 'l2']]);
  const bad = (patch: (cols: unknown[]) => void, ...fragments: string[]): void => {
    const cols = e();
    patch(cols);
    fieldError(() => codec.decode(wire(frame([resp(cols)]))), ...fragments);
  };
  fieldError(() => codec.decode(wire(frame([resp(e(), (m) => { m[2] = true; })]))), 'msgs[0].merge', 'rejected');
  fieldError(() => codec.decode(wire(frame([resp(e(), (m) => { m[0] = 7; })]))), 'msgs[0].merge', 'preVoteResp');
  fieldError(() => codec.decode(wire(frame([resp(e(), (m) => { m[3] = -2; })]))), 'msgs[0].merge.commit', '-2');
  fieldError(() => codec.decode(wire(frame([[6, 6, false, 14]]))), 'msgs[0]', '3 items');
  fieldError(() => codec.decode(wire(frame([resp('entries')]))), 'msgs[0].merge.entries', '6 items');
  bad((c) => { c[0] = [12, 12, 15]; }, 'merge.entries[1].index', 'strictly increase', '12');
  bad((c) => { c[0] = [13, 12, 15]; }, 'merge.entries[1].index');
  bad((c) => { c[0] = [0, 13, 15]; }, 'merge.entries[0].index', 'from 1', '0');
  bad((c) => { c[0] = [-3, 13, 15]; }, 'merge.entries[0].index', '-3');
  bad((c) => { c[0] = [12, 13]; }, 'merge.entries.terms', '2 items');
  bad((c) => { c[1] = [3, 0, 2]; }, 'merge.entries[1].term', '[1, 6]', '0');
  bad((c) => { c[1] = [3, 7, 2]; }, 'merge.entries[1].term', 'message term', '7');
  bad((c) => { c[1] = [3, 5]; }, 'merge.entries.terms');
  bad((c) => { c[2] = [0, 1]; }, 'merge.entries.kinds', '0 or 3');
  bad((c) => { c[2] = [0, 1, 9]; }, 'merge.entries[2].type', '9');
  bad((c) => { c[3] = [2, 0]; }, 'merge.entries.lens');
  bad((c) => { c[3] = [2, 0, 2]; }, 'merge.entries[2].data', 'blob');
  bad((c) => { c[3] = [1, 0, 1]; }, 'merge.entries.blob', 'left over');
  bad((c) => { c[4] = [1, 2, 3]; }, 'merge.entries.blob', 'byte string');
  bad((c) => { c[5] = []; }, 'merge.entries[2].conf');
  bad((c) => { c[5] = [[1, 'l2'], [0, 'x']]; }, 'merge.entries.confs', 'one per config entry');
  bad((c) => { c[2] = []; }, 'merge.entries.confs', 'one per config entry');
  bad((c) => { c[5] = [[1, 'l 2']]; }, 'merge.entries[2].conf.node');
  const small = new FrameCodec({ cluster: 'c1', limits: { entriesPerMsgMax: 2, entryBytesMax: 4 } });
  fieldError(() => small.decode(wire(frame([resp(e())]))), 'msgs[0].merge.entries', 'entriesPerMsgMax (2)');
  const big = [[5], [1], [], [5], bytesOf(5), []];
  fieldError(() => small.decode(wire(frame([resp(big)]))), 'merge.entries[0].data', 'entryBytesMax (4)');
});

test('the encoder sorts index lists the core keeps as sets, and asserts what the far side would refuse', () => {
  const hb: Message = { type: 'hb', from: 'n1', to: 'n2', term: 6, commit: 3, round: 0, commitSet: [9, 5, 7] };
  const back = codec.decodeData(codec.encodeData('n1', 'n2', [hb])).msgs[0];
  assert.equal(back, { ...hb, commitSet: [5, 7, 9] });
  assert.equal(hb.commitSet, [9, 5, 7], 'the caller\'s list is left alone');
  assert.is(codec.estimateBytes(hb), codec.estimateBytes({ ...hb, commitSet: [5, 7, 9] }));
  encodeAsserts({ ...hb, commitSet: [5, 7, 5] }, /commitSet index 5/);
  encodeAsserts({ ...hb, commitSet: [3, 4] }, /commitSet index 3 is not above 3/);
  const resp: Message = { type: 'appResp', from: 'n1', to: 'n2', term: 6, index: 4, reject: true, hintIndex: 2, hintTerm: 1, acks: [6] };
  encodeAsserts(resp, /acks on a rejection/);
  encodeAsserts({ ...resp, reject: false, acks: [4] }, /acks index 4/);
  encodeAsserts({ type: 'preVote', from: 'n1', to: 'n2', term: 6, lastIndex: 1, lastTerm: 1, transfer: false, commit: 1 }, /commit watermark/);
  const vr: Message = { type: 'voteResp', from: 'n1', to: 'n2', term: 6, reject: false, merge: { commit: 1, entries: mergeEntries.slice(0, 2) } };
  encodeAsserts({ ...vr, reject: true }, /not a granted vote/);
  encodeAsserts({ ...vr, type: 'preVoteResp' }, /not a granted vote/);
  encodeAsserts({ ...vr, merge: { commit: 1, entries: [mergeEntries[1]!, mergeEntries[0]!] } }, /index 12 is not above 13/);
  encodeAsserts({ ...vr, term: 4 }, /term 5, outside \[1, 4\]/);
  const noConf: Entry = { term: 1, index: 2, type: 'config', data: new Uint8Array(0) };
  encodeAsserts({ ...vr, merge: { commit: 0, entries: [noConf] } }, /config entry 2 has no conf/);
});

test('indexListMax is a named, validated limit with a sane default', () => {
  assert.is(defaultFrameLimits.indexListMax, 4096);
  assert.is(resolveFrameLimits({ indexListMax: 10 }).indexListMax, 10);
  assert.throws(() => resolveFrameLimits({ indexListMax: 0 }),
    (e: unknown) => e instanceof TransportError && e.code === 'ERR_CONFIG_INVALID' && e.message.includes('limits.indexListMax'));
});

// Structure-aware mutation of parallel frames: whatever decodes must satisfy the invariants below
// (checked without the validator's helpers) and re-encode to itself; anything else is refused.
const seeds = process.env.FUZZ_SEED ? [Number(process.env.FUZZ_SEED)] : [0x9a7a11e1];
const fuzzCodec = new FrameCodec({ cluster: 'c1', limits: { indexListMax: 8, entriesPerMsgMax: 16, entryBytesMax: 1 << 17 } });
const frameCodes = new Set(['ERR_FRAME_MALFORMED', 'ERR_FRAME_FIELD', 'ERR_FRAME_TOO_LARGE']);

function randomLeaf(prng: SeededPrng): unknown {
  const choices: unknown[] = [0, 1, 2, 6, 7, 13, 2 ** 40, -1, 1.5, 2 ** 53, 'x', true, false, null, [], [1, 1], [3, 2], [5, 9, 12], bytesOf(3)];
  return choices[prng.nextInt(choices.length)];
}

function mutateTree(tree: unknown, prng: SeededPrng): unknown {
  if (!Array.isArray(tree) || prng.nextInt(5) === 0) return randomLeaf(prng);
  const copy = tree.slice();
  const op = prng.nextInt(10);
  if (op === 0) copy.push(randomLeaf(prng));
  else if (op === 1 && copy.length > 0) copy.pop();
  else if (copy.length > 0) {
    const i = prng.nextInt(copy.length);
    copy[i] = mutateTree(copy[i], prng);
  }
  return copy;
}

function checkList(list: readonly number[] | undefined, above: number, what: string): void {
  if (list === undefined) return;
  assert.ok(list.length <= 8, `${what} length`);
  let last = above;
  for (const v of list) {
    assert.ok(Number.isSafeInteger(v) && v > last, `${what} strictly increasing above ${above}`);
    last = v;
  }
}

function checkParallel(m: Message): void {
  if (m.type === 'app' || m.type === 'hb') checkList(m.commitSet, m.commit, 'commitSet');
  if (m.type === 'appResp') {
    checkList(m.acks, m.index, 'acks');
    assert.ok(m.acks === undefined || !m.reject, 'acks only on accepts');
  }
  if (m.type === 'preVote') assert.is(m.commit, undefined);
  if (m.type === 'preVoteResp') assert.is(m.merge, undefined);
  if (m.type === 'voteResp' && m.merge !== undefined) {
    assert.not.ok(m.reject, 'merge only on granted votes');
    let last = 0;
    for (const e of m.merge.entries) {
      assert.ok(e.index > last && e.term >= 1 && e.term <= m.term, 'merge entry index and term');
      assert.is(e.type === 'config', e.conf !== undefined, 'conf exactly on config entries');
      last = e.index;
    }
  }
}

for (const seed of seeds) {
  test(`fuzz seed ${seed}: mutated parallel frames decode to valid messages or ERR_FRAME_* only`, () => {
    const prng = new SeededPrng(seed);
    // Only the message is mutated: the envelope has its own fuzzer (fuzz.test.ts).
    const trees = parallelMessages('n1', 'n2').map(wireMsg);
    let accepted = 0;
    let rejected = 0;
    for (let i = 0; i < 3000; i++) {
      const input = wire(frame([mutateTree(trees[prng.nextInt(trees.length)], prng)]));
      try {
        let decoded;
        try {
          decoded = fuzzCodec.decode(input);
        } catch (err) {
          if (!(err instanceof TransportError) || !frameCodes.has(err.code)) throw new Error(`unexpected error: ${String(err)}`);
          rejected += 1;
          continue;
        }
        if (decoded.kind === 'data') for (const m of decoded.msgs) checkParallel(m);
        assert.equal(fuzzCodec.decode(fuzzCodec.encode(decoded)), decoded, 're-encode round trip');
        accepted += 1;
      } catch (err) {
        console.error(`parallel fuzz failure: FUZZ_SEED=${seed} iteration=${i} input=${hex(input.subarray(0, 512))}`);
        throw err;
      }
    }
    assert.ok(accepted > 100, `only ${accepted} mutated frames were accepted`);
    assert.ok(rejected > 1000, `only ${rejected} mutated frames were rejected`);
  });
}

test('a parallel-mode codec accepts an append whose terms fall (re-stamped and stale copies); a raft-mode codec refuses it', () => {
  const data = (t: string) => new TextEncoder().encode(t);
  const app: Message = {
    type: 'app', from: 'a', to: 'b', term: 4, prevIndex: 85, prevTerm: 3, commit: 90,
    entries: [{ term: 2, index: 86, type: 'normal', data: data('stale copy, committed') }, { term: 4, index: 87, type: 'normal', data: data('new') }],
  };
  const parallel = new FrameCodec({ cluster: 'c', logRules: logRulesFor('parallel') });
  assert.equal(parallel.decodeData(parallel.encodeData('a', 'b', [app])).msgs, [app]);
  const raft = new FrameCodec({ cluster: 'c' });
  let err: unknown = null;
  try { raft.decodeData(raft.encodeData('a', 'b', [app])); } catch (e) { err = e; }
  assert.ok(err instanceof TransportError, String(err));
  assert.match((err as Error).message, /entries\[0\]\.term.*terms never decrease/);
});

test.run();
