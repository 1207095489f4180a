// Turns whatever cbor-x decoded from an untrusted frame into a typed Frame, or throws a
// TransportError naming the field (its path in the frame) and the bad value. Nothing downstream
// re-checks: every Message that leaves here is well formed, within limits, and freshly built
// (no object the decoder produced is handed on, so prototypes or extra keys cannot leak in).

import type { AppendRespMsg, HeartbeatMsg, Message, MergeReply, VoteMsg, VoteRespMsg } from '../core/message.ts';
import type { ConfChange, ConfState, Entry, NodeId, ReadContext } from '../core/types.ts';
import { describeValue, TransportError } from './errors.ts';
import type { FrameLimits } from './limits.ts';
import type { ValidationContext } from './codec.ts';
import {
  challengeBytes, confTypesByCode, entryTypesByCode, frameKindsByCode, messageTypesByCode, proofBytes,
  supportedVersions,
} from './envelope.ts';
import type { DataFrame, Frame, HelloFrame, PeerAuthFrame, PeerTiming, RpcFrame, TokenAuthFrame, WelcomeFrame } from './envelope.ts';

/** Highest connection slot a handshake may name (the mesh checks its own, smaller bound). */
export const slotMax = 255;

const whitespace = /\s/;

export function fieldError(path: string, expected: string, value: unknown): TransportError {
  return new TransportError('ERR_FRAME_FIELD', `frame field ${path}: expected ${expected}, got ${describeValue(value)}`);
}

function isUint(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
}

function uint(x: unknown, path: string): number {
  if (!isUint(x)) throw fieldError(path, 'a non-negative safe integer', x);
  return x;
}

function bool(x: unknown, path: string): boolean {
  if (typeof x !== 'boolean') throw fieldError(path, 'a boolean', x);
  return x;
}

function array(x: unknown, path: string): readonly unknown[] {
  if (!Array.isArray(x)) throw fieldError(path, 'an array', x);
  return x;
}

function tuple(x: unknown, length: number, path: string): readonly unknown[] {
  if (!Array.isArray(x) || x.length !== length) throw fieldError(path, `an array of ${length} items`, x);
  return x;
}

/** A message array of `length` items, or `length + extra` when its optional trailing fields are present. */
function tupleOr(x: unknown, length: number, extra: number, path: string): readonly unknown[] {
  if (!Array.isArray(x) || (x.length !== length && x.length !== length + extra)) {
    throw fieldError(path, `an array of ${length} items (${length + extra} with its parallel-mode fields)`, x);
  }
  return x;
}

/**
 * A ParallelRaft index list: strictly increasing safe integers, each above `above` (the watermark
 * the list extends), at most indexListMax of them. Freshly copied, like everything handed on.
 */
function indexList(x: unknown, above: number, aboveName: string, limits: FrameLimits, path: string): number[] {
  const wire = array(x, path);
  if (wire.length > limits.indexListMax) {
    throw fieldError(path, `at most indexListMax (${limits.indexListMax}) indexes`, wire);
  }
  const out = new Array<number>(wire.length);
  let last = above;
  for (let i = 0; i < wire.length; i++) {
    const v = wire[i];
    if (!isUint(v) || v <= last) {
      throw fieldError(`${path}[${i}]`, `a safe integer above ${last} (strictly increasing, above ${aboveName} ${above})`, v);
    }
    out[i] = v;
    last = v;
  }
  return out;
}

function bytes(x: unknown, path: string): Uint8Array {
  if (!(x instanceof Uint8Array)) throw fieldError(path, 'a byte string', x);
  // A plain Uint8Array view, whatever subclass the decoder produced (Buffer under Node).
  return x.constructor === Uint8Array ? x : new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
}

function fixedBytes(x: unknown, lengths: readonly number[], path: string): Uint8Array {
  const b = bytes(x, path);
  if (!lengths.includes(b.byteLength)) throw fieldError(path, `${lengths.join(' or ')} bytes`, x);
  return b;
}

export function isNodeId(x: unknown, lengthMax: number): x is NodeId {
  return typeof x === 'string' && x.length > 0 && x.length <= lengthMax && !whitespace.test(x);
}

function nodeId(x: unknown, limits: FrameLimits, path: string): NodeId {
  if (!isNodeId(x, limits.idLengthMax)) {
    throw fieldError(path, `a node id (1..${limits.idLengthMax} chars, no whitespace)`, x);
  }
  return x;
}

function lookup<T>(x: unknown, table: readonly T[], path: string, what: string): T {
  const found = typeof x === 'number' && Number.isInteger(x) ? table[x] : undefined;
  if (found === undefined) throw fieldError(path, `a known ${what} code (0..${table.length - 1})`, x);
  return found;
}

function checkCluster(x: unknown, limits: FrameLimits, cluster: string): string {
  if (typeof x !== 'string' || x.length === 0 || x.length > limits.clusterLengthMax) {
    throw fieldError('cluster', `a cluster id (1..${limits.clusterLengthMax} chars)`, x);
  }
  if (x !== cluster) {
    throw new TransportError('ERR_FRAME_CLUSTER', `frame is for cluster ${describeValue(x)}, this is ${describeValue(cluster)}`);
  }
  return x;
}

/** Validates any frame; `cluster` is the one this endpoint belongs to. */
export function validateFrame(raw: unknown, limits: ValidationContext, cluster: string): Frame {
  if (!Array.isArray(raw) || raw.length < 2) {
    throw new TransportError('ERR_FRAME_MALFORMED', `frame must be an array [version, kind, ...], got ${describeValue(raw)}`);
  }
  const v: unknown = raw[0];
  if (typeof v !== 'number' || !supportedVersions.includes(v)) {
    throw new TransportError('ERR_FRAME_VERSION', `frame version ${describeValue(v)} is not supported (supported: ${supportedVersions.join(', ')})`);
  }
  const kind = lookup(raw[1], frameKindsByCode, 'kind', 'frame kind');
  switch (kind) {
    case 'data': return dataFrame(raw, v, limits, cluster);
    case 'hello': return helloFrame(raw, v, limits, cluster);
    case 'peerAuth': return peerAuthFrame(raw, v, limits, cluster);
    case 'tokenAuth': return tokenAuthFrame(raw, v, limits, cluster);
    case 'welcome': return welcomeFrame(raw, v);
    case 'rpc': return rpcFrame(raw, v, limits, cluster);
  }
}

/** The envelope of a session frame: [v, kind, cluster, from, to, list], with the list bounded. */
function sessionEnvelope(raw: readonly unknown[], limits: FrameLimits, cluster: string, listName: string): { from: NodeId; to: NodeId; wire: readonly unknown[] } {
  tuple(raw, 6, 'frame');
  checkCluster(raw[2], limits, cluster);
  const from = nodeId(raw[3], limits, 'from');
  const to = nodeId(raw[4], limits, 'to');
  const wire = array(raw[5], listName);
  if (wire.length > limits.msgsPerFrameMax) {
    throw fieldError(listName, `at most msgsPerFrameMax (${limits.msgsPerFrameMax}) ${listName === 'msgs' ? 'messages' : listName}`, wire);
  }
  return { from, to, wire };
}

function dataFrame(raw: readonly unknown[], v: number, limits: ValidationContext, cluster: string): DataFrame {
  const { from, to, wire } = sessionEnvelope(raw, limits, cluster, 'msgs');
  const msgs = new Array<Message>(wire.length);
  for (let i = 0; i < wire.length; i++) msgs[i] = message(wire[i], from, to, limits, i);
  return { kind: 'data', v, cluster, from, to, msgs };
}

function helloFrame(raw: readonly unknown[], v: number, limits: FrameLimits, cluster: string): HelloFrame {
  if (raw.length !== 5 && raw.length !== 6) throw fieldError('frame', 'an array of 5 or 6 elements', raw);
  checkCluster(raw[2], limits, cluster);
  const serverId = nodeId(raw[3], limits, 'serverId');
  const challenge = fixedBytes(raw[4], [challengeBytes], 'challenge');
  return raw.length === 6 ? { kind: 'hello', v, cluster, serverId, challenge, timing: timing(raw[5]) } : { kind: 'hello', v, cluster, serverId, challenge };
}

/** [tickMs, electionTicks, heartbeatTicks, leaseDriftPercent, checkQuorum 0|1, tokenTtlMaxMs?]. */
function timing(x: unknown): PeerTiming {
  const t = array(x, 'timing');
  if (t.length !== 5 && t.length !== 6) throw fieldError('timing', 'an array of 5 or 6 elements', x);
  const tickMs = t[0];
  if (typeof tickMs !== 'number' || !Number.isFinite(tickMs) || tickMs <= 0 || tickMs > 3_600_000) throw fieldError('timing.tickMs', 'a positive number of milliseconds', tickMs);
  const electionTicks = uint(t[1], 'timing.electionTicks');
  const heartbeatTicks = uint(t[2], 'timing.heartbeatTicks');
  const leaseDriftPercent = t[3];
  if (typeof leaseDriftPercent !== 'number' || !(leaseDriftPercent >= 0 && leaseDriftPercent < 100)) throw fieldError('timing.leaseDriftPercent', 'a number in [0, 100)', leaseDriftPercent);
  if (t[4] !== 0 && t[4] !== 1) throw fieldError('timing.checkQuorum', '0 or 1', t[4]);
  const base = { tickMs, electionTicks, heartbeatTicks, leaseDriftPercent, checkQuorum: t[4] === 1 };
  return t.length === 6 ? { ...base, tokenTtlMaxMs: uint(t[5], 'timing.tokenTtlMaxMs') } : base;
}

function peerAuthFrame(raw: readonly unknown[], v: number, limits: FrameLimits, cluster: string): PeerAuthFrame {
  if (raw.length !== 8 && raw.length !== 9) throw fieldError('frame', 'an array of 8 or 9 elements', raw);
  checkCluster(raw[2], limits, cluster);
  const dialerId = nodeId(raw[3], limits, 'dialerId');
  const serverId = nodeId(raw[4], limits, 'serverId');
  const slot = uint(raw[5], 'slot');
  if (slot > slotMax) throw fieldError('slot', `at most ${slotMax}`, slot);
  const challenge = fixedBytes(raw[6], [challengeBytes], 'challenge');
  const proof = fixedBytes(raw[7], [0, proofBytes], 'proof');
  const frame: PeerAuthFrame = { kind: 'peerAuth', v, cluster, dialerId, serverId, slot, challenge, proof };
  return raw.length === 9 ? { ...frame, timing: timing(raw[8]) } : frame;
}

/** Longest connection instance tag a client may pick. */
export const instanceLengthMax = 64;

function tokenAuthFrame(raw: readonly unknown[], v: number, limits: FrameLimits, cluster: string): TokenAuthFrame {
  if (raw.length !== 5 && raw.length !== 6) throw fieldError('frame', 'an array of 5 or 6 elements', raw);
  checkCluster(raw[2], limits, cluster);
  const token = raw[3];
  if (typeof token !== 'string' || token.length === 0 || token.length > limits.tokenLengthMax) {
    throw fieldError('token', `a token (1..${limits.tokenLengthMax} chars)`, token);
  }
  const slot = uint(raw[4], 'slot');
  if (slot > slotMax) throw fieldError('slot', `at most ${slotMax}`, slot);
  const instance = raw.length === 6 ? raw[5] : '';
  if (typeof instance !== 'string' || instance.length > instanceLengthMax || /[\s~]/.test(instance)) {
    throw fieldError('instance', `a tag of at most ${instanceLengthMax} chars without whitespace or '~'`, instance);
  }
  return { kind: 'tokenAuth', v, cluster, token, slot, instance };
}

function rpcFrame(raw: readonly unknown[], v: number, limits: FrameLimits, cluster: string): RpcFrame {
  const { from, to, wire } = sessionEnvelope(raw, limits, cluster, 'payloads');
  const payloads = new Array<Uint8Array>(wire.length);
  for (let i = 0; i < wire.length; i++) payloads[i] = bytes(wire[i], `payloads[${i}]`);
  return { kind: 'rpc', v, cluster, from, to, payloads };
}

function welcomeFrame(raw: readonly unknown[], v: number): WelcomeFrame {
  tuple(raw, 3, 'frame');
  return { kind: 'welcome', v, proof: fixedBytes(raw[2], [0, proofBytes], 'proof') };
}

function message(x: unknown, from: NodeId, to: NodeId, limits: ValidationContext, i: number): Message {
  if (!Array.isArray(x) || x.length < 2) throw fieldError(`msgs[${i}]`, 'an array [type, term, ...]', x);
  const type = lookup(x[0], messageTypesByCode, `msgs[${i}].type`, 'message type');
  const term = uint(x[1], `msgs[${i}].term`);
  const p = `msgs[${i}]`;
  switch (type) {
    case 'app': return appMsg(x, from, to, term, limits, p);
    case 'appResp': return appRespMsg(x, from, to, term, limits, p);
    case 'hb': {
      tupleOr(x, 4, 1, p);
      const m: HeartbeatMsg = { type, from, to, term, commit: uint(x[2], `${p}.commit`), round: uint(x[3], `${p}.round`) };
      return x.length === 4 ? m : { ...m, commitSet: indexList(x[4], m.commit, 'commit', limits, `${p}.commitSet`) };
    }
    case 'hbResp':
      tuple(x, 3, p);
      return { type, from, to, term, round: uint(x[2], `${p}.round`) };
    case 'vote':
    case 'preVote': {
      tupleOr(x, 5, 1, p);
      const m: VoteMsg = {
        type, from, to, term, lastIndex: uint(x[2], `${p}.lastIndex`), lastTerm: uint(x[3], `${p}.lastTerm`),
        transfer: bool(x[4], `${p}.transfer`),
      };
      if (x.length === 5) return m;
      // Only a real vote asks for Merge replies: a pre-vote changes nothing a voter would send back.
      if (type !== 'vote') throw fieldError(`${p}.commit`, 'no commit watermark on a preVote', x[5]);
      return { ...m, commit: uint(x[5], `${p}.commit`) };
    }
    case 'voteResp':
    case 'preVoteResp': return voteRespMsg(x, type, from, to, term, limits, p);
    case 'snap': return snapMsg(x, from, to, term, limits, p);
    case 'timeoutNow':
      tuple(x, 2, p);
      return { type, from, to, term };
    case 'readIndex':
      tuple(x, 3, p);
      return { type, from, to, term, context: readContext(x[2], limits, `${p}.context`) };
    case 'readIndexResp':
      tuple(x, 5, p);
      return {
        type, from, to, term, context: readContext(x[2], limits, `${p}.context`),
        index: uint(x[3], `${p}.index`), reject: bool(x[4], `${p}.reject`),
      };
  }
}

function appRespMsg(x: readonly unknown[], from: NodeId, to: NodeId, term: number, limits: FrameLimits, p: string): Message {
  tupleOr(x, 6, 1, p);
  const m: AppendRespMsg = {
    type: 'appResp', from, to, term, index: uint(x[2], `${p}.index`), reject: bool(x[3], `${p}.reject`),
    hintIndex: uint(x[4], `${p}.hintIndex`), hintTerm: uint(x[5], `${p}.hintTerm`),
  };
  if (x.length === 6) return m;
  if (m.reject) throw fieldError(`${p}.acks`, 'no out-of-order acks on a rejection', x[6]);
  return { ...m, acks: indexList(x[6], m.index, 'index', limits, `${p}.acks`) };
}

/** [6|7, term, reject] or, for a granted vote in parallel mode, [6, term, false, mergeCommit, mergeEntries]. */
function voteRespMsg(
  x: readonly unknown[], type: VoteRespMsg['type'], from: NodeId, to: NodeId, term: number, limits: FrameLimits, p: string,
): Message {
  tupleOr(x, 3, 2, p);
  const m: VoteRespMsg = { type, from, to, term, reject: bool(x[2], `${p}.reject`) };
  if (x.length === 3) return m;
  if (type !== 'voteResp') throw fieldError(`${p}.merge`, 'no Merge reply on a preVoteResp', x[3]);
  if (m.reject) throw fieldError(`${p}.merge`, 'no Merge reply on a rejected vote', x[3]);
  const merge: MergeReply = { commit: uint(x[3], `${p}.merge.commit`), entries: mergeEntries(x[4], term, limits, `${p}.merge.entries`) };
  return { ...m, merge };
}

/**
 * A Merge reply's entries: [indexes, terms, kinds, lens, blob, confs], columns as in an app, but
 * sparse (each entry names its index, strictly increasing) and with terms in any order, since a
 * voter's log may hold re-stamped and stale entries side by side.
 */
function mergeEntries(x: unknown, term: number, limits: FrameLimits, p: string): Entry[] {
  const cols = tuple(x, 6, p);
  const indexes = array(cols[0], `${p}.indexes`);
  const terms = array(cols[1], `${p}.terms`);
  const kinds = array(cols[2], `${p}.kinds`);
  const lens = array(cols[3], `${p}.lens`);
  const blob = bytes(cols[4], `${p}.blob`);
  const confs = array(cols[5], `${p}.confs`);
  const n = indexes.length;
  if (n > limits.entriesPerMsgMax) throw fieldError(p, `at most entriesPerMsgMax (${limits.entriesPerMsgMax}) entries`, indexes);
  if (terms.length !== n) throw fieldError(`${p}.terms`, `${n} items (one per index)`, terms);
  if (kinds.length !== 0 && kinds.length !== n) throw fieldError(`${p}.kinds`, `0 or ${n} items`, kinds);
  if (lens.length !== n) throw fieldError(`${p}.lens`, `${n} items (one per index)`, lens);
  const entries = new Array<Entry>(n);
  const buffer = blob.buffer;
  let offset = blob.byteOffset;
  const end = offset + blob.byteLength;
  let lastIndex = 0;
  let confAt = 0;
  for (let i = 0; i < n; i++) {
    const index = indexes[i];
    if (!isUint(index) || index <= lastIndex) {
      throw fieldError(`${p}[${i}].index`, `a safe integer above ${lastIndex} (indexes strictly increase from 1)`, index);
    }
    lastIndex = index;
    const t = terms[i];
    if (!isUint(t) || t === 0 || t > term) throw fieldError(`${p}[${i}].term`, `an integer in [1, ${term}] (the message term)`, t);
    const len = lens[i];
    if (!isUint(len) || len > limits.entryBytesMax || len > end - offset) {
      throw fieldError(`${p}[${i}].data`, `a length within entryBytesMax (${limits.entryBytesMax}) and the blob (${end - offset} left)`, len);
    }
    const data = new Uint8Array(buffer, offset, len);
    offset += len;
    const type = kinds.length === 0 ? 'normal' : lookup(kinds[i], entryTypesByCode, `${p}[${i}].type`, 'entry type');
    if (type === 'config') {
      const conf = confChange(confs[confAt], limits, `${p}[${i}].conf`);
      confAt += 1;
      entries[i] = { term: t, index, type, data, conf };
    } else {
      entries[i] = { term: t, index, type, data };
    }
  }
  if (offset !== end) throw fieldError(`${p}.blob`, `exactly the entries' bytes (${end - offset} left over)`, blob);
  if (confAt !== confs.length) throw fieldError(`${p}.confs`, `${confAt} items (one per config entry)`, confs);
  return entries;
}

function readContext(x: unknown, limits: FrameLimits, path: string): ReadContext {
  if (typeof x === 'number' && Number.isFinite(x)) return x;
  if (typeof x === 'string' && x.length <= limits.contextLengthMax) return x;
  throw fieldError(path, `a finite number or a string of at most ${limits.contextLengthMax} chars`, x);
}

function appMsg(x: readonly unknown[], from: NodeId, to: NodeId, term: number, limits: ValidationContext, p: string): Message {
  tupleOr(x, 10, 1, p);
  const prevIndex = uint(x[2], `${p}.prevIndex`);
  const prevTerm = uint(x[3], `${p}.prevTerm`);
  const commit = uint(x[4], `${p}.commit`);
  if (prevTerm > term) throw fieldError(`${p}.prevTerm`, `at most the message term (${term})`, prevTerm);
  const terms = array(x[5], `${p}.entries.terms`);
  const kinds = array(x[6], `${p}.entries.kinds`);
  const lens = array(x[7], `${p}.entries.lens`);
  const blob = bytes(x[8], `${p}.entries.blob`);
  const confs = array(x[9], `${p}.entries.confs`);
  const n = terms.length;
  if (n > limits.entriesPerMsgMax) {
    throw fieldError(`${p}.entries`, `at most entriesPerMsgMax (${limits.entriesPerMsgMax}) entries`, terms);
  }
  if (kinds.length !== 0 && kinds.length !== n) throw fieldError(`${p}.entries.kinds`, `0 or ${n} items`, kinds);
  if (lens.length !== n) throw fieldError(`${p}.entries.lens`, `${n} items`, lens);
  if (prevIndex + n > Number.MAX_SAFE_INTEGER) throw fieldError(`${p}.prevIndex`, 'room for its entries below 2^53', prevIndex);
  const entries = new Array<Entry>(n);
  const buffer = blob.buffer;
  let offset = blob.byteOffset;
  const end = offset + blob.byteLength;
  let lastTerm = prevTerm;
  let confAt = 0;
  for (let i = 0; i < n; i++) {
    const t = terms[i];
    const floor = limits.logRules?.termsMayFall === true ? 1 : lastTerm;
    if (!isUint(t) || t < floor || t > term || t === 0) {
      throw fieldError(`${p}.entries[${i}].term`, floor === 1 ? `an integer in [1, ${term}]` : `an integer in [max(1, ${lastTerm}), ${term}] (terms never decrease)`, t);
    }
    const len = lens[i];
    if (!isUint(len) || len > limits.entryBytesMax || len > end - offset) {
      throw fieldError(`${p}.entries[${i}].data`, `a length within entryBytesMax (${limits.entryBytesMax}) and the blob (${end - offset} left)`, len);
    }
    const data = new Uint8Array(buffer, offset, len);
    offset += len;
    lastTerm = t;
    const type = kinds.length === 0 ? 'normal' : lookup(kinds[i], entryTypesByCode, `${p}.entries[${i}].type`, 'entry type');
    if (type === 'config') {
      const conf = confChange(confs[confAt], limits, `${p}.entries[${i}].conf`);
      confAt += 1;
      entries[i] = { term: t, index: prevIndex + 1 + i, type, data, conf };
    } else {
      entries[i] = { term: t, index: prevIndex + 1 + i, type, data };
    }
  }
  if (offset !== end) throw fieldError(`${p}.entries.blob`, `exactly the entries' bytes (${end - offset} left over)`, blob);
  if (confAt !== confs.length) throw fieldError(`${p}.entries.confs`, `${confAt} items (one per config entry)`, confs);
  if (x.length === 10) return { type: 'app', from, to, term, prevIndex, prevTerm, entries, commit };
  const commitSet = indexList(x[10], commit, 'commit', limits, `${p}.commitSet`);
  return { type: 'app', from, to, term, prevIndex, prevTerm, entries, commit, commitSet };
}

function confChange(x: unknown, limits: FrameLimits, path: string): ConfChange {
  const t = tuple(x, 2, path);
  const type = lookup(t[0], confTypesByCode, `${path}.type`, 'conf change');
  return { type, node: nodeId(t[1], limits, `${path}.node`) };
}

function snapMsg(x: readonly unknown[], from: NodeId, to: NodeId, term: number, limits: FrameLimits, p: string): Message {
  tuple(x, 7, p);
  const index = uint(x[2], `${p}.snapshot.index`);
  const snapTerm = uint(x[3], `${p}.snapshot.term`);
  if (snapTerm > term) throw fieldError(`${p}.snapshot.term`, `at most the message term (${term})`, snapTerm);
  const conf = confState(x[4], x[5], limits, `${p}.snapshot.conf`);
  const data = bytes(x[6], `${p}.snapshot.data`);
  return { type: 'snap', from, to, term, snapshot: { meta: { index, term: snapTerm, conf }, data } };
}

function confState(votersRaw: unknown, learnersRaw: unknown, limits: FrameLimits, path: string): ConfState {
  const votersWire = array(votersRaw, `${path}.voters`);
  const learnersWire = array(learnersRaw, `${path}.learners`);
  if (votersWire.length + learnersWire.length > limits.confMembersMax) {
    throw fieldError(path, `at most confMembersMax (${limits.confMembersMax}) members`, votersWire.length + learnersWire.length);
  }
  const seen = new Set<string>();
  const ids = (wire: readonly unknown[], field: string): NodeId[] => wire.map((raw, i) => {
    const id = nodeId(raw, limits, `${path}.${field}[${i}]`);
    if (seen.has(id)) throw fieldError(`${path}.${field}[${i}]`, 'a member listed once', id);
    seen.add(id);
    return id;
  });
  return { voters: ids(votersWire, 'voters'), learners: ids(learnersWire, 'learners') };
}
