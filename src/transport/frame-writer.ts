// Writes data frames straight to CBOR bytes in the layout envelope.ts documents: one exact-size
// buffer per frame; an append's entry columns go through EntryRuns (entry-runs.ts), encoded once
// per batch. The assertions here are the encode half of the pair whose decode half is validate.ts.

import { assert, assertNever } from '../core/assert.ts';
import type { AppendMsg, Message, VoteRespMsg } from '../core/message.ts';
import type { Entry, Index, NodeId, ReadContext } from '../core/types.ts';
import { CborWriter, headBytes, numberBytes, textItem } from './cbor-writer.ts';
import type { SlabAllocator } from './cbor-writer.ts';
import { columnsBytes, writeColumns } from './entry-columns.ts';
import type { EntryRuns } from './entry-runs.ts';
import { frameKindCodes, messageTypeCodes, protocolVersion } from './envelope.ts';

const textEncoder = new TextEncoder();

function contextItem(c: ReadContext): number | Uint8Array {
  if (typeof c === 'number') return c;
  const utf8 = textEncoder.encode(c);
  const item = new Uint8Array(headBytes(utf8.byteLength) + utf8.byteLength);
  const w = new CborWriter(item);
  w.head(3, utf8.byteLength);
  w.raw(utf8);
  return item;
}

/** Without `runs` every append's entries are encoded here (tests, one-off frames). */
export function encodeDataFrame(slab: SlabAllocator, cluster: string, from: NodeId, to: NodeId, msgs: readonly Message[], runs?: EntryRuns): Uint8Array {
  const head = frameHead(cluster, from, to, msgs.length);
  let size = head.bytes;
  for (let i = 0; i < msgs.length; i++) {
    const m = msgs[i]!;
    // Checked before calling assert, so the hot path allocates no message closures.
    if (m.from !== from) assert(false, `message ${i} is from ${m.from}, the frame from ${from}`);
    if (m.to !== to) assert(false, `message ${i} is to ${m.to}, the frame to ${to}`);
    size += messageBytes(m, runs);
  }
  const out = slab.alloc(size);
  const w = new CborWriter(out);
  head.write(w, frameKindCodes.data);
  for (const m of msgs) writeMessage(w, m, runs);
  if (w.pos !== size) assert(false, `frame writer wrote ${w.pos} bytes, sized ${size}`);
  return out;
}

/** The envelope every session frame starts with: [v, kind, cluster, from, to, <array of count>]. */
function frameHead(cluster: string, from: NodeId, to: NodeId, count: number): { bytes: number; write: (w: CborWriter, kind: number) => void } {
  const clusterItem = textItem(cluster);
  const fromItem = textItem(from);
  const toItem = textItem(to);
  return {
    bytes: 1 + headBytes(protocolVersion) + 1 + clusterItem.byteLength + fromItem.byteLength + toItem.byteLength + headBytes(count),
    write: (w, kind) => {
      w.array(6);
      w.uint(protocolVersion);
      w.uint(kind);
      w.raw(clusterItem);
      w.raw(fromItem);
      w.raw(toItem);
      w.array(count);
    },
  };
}

function contextBytes(c: ReadContext): number {
  const item = contextItem(c);
  return typeof item === 'number' ? numberBytes(item) : item.byteLength;
}

/** Exact bytes of `m` inside a data frame; asserts what the encoder asserts. */
export function messageBytes(m: Message, runs?: EntryRuns): number {
  const t = headBytes(m.term);
  switch (m.type) {
    case 'app': return appBytes(m, runs);
    case 'appResp': {
      const n = 3 + t + headBytes(m.index) + headBytes(m.hintIndex) + headBytes(m.hintTerm);
      if (m.acks === undefined) return n;
      if (m.reject) assert(false, `appResp to ${m.to} carries acks on a rejection`);
      return n + indexListBytes(canonicalIndexes(m.acks, m.index, 'acks'));
    }
    case 'hb': {
      const n = 2 + t + headBytes(m.commit) + headBytes(m.round);
      return m.commitSet === undefined ? n : n + indexListBytes(canonicalIndexes(m.commitSet, m.commit, 'commitSet'));
    }
    case 'hbResp': return 2 + t + headBytes(m.round);
    case 'vote':
    case 'preVote': {
      const n = 3 + t + headBytes(m.lastIndex) + headBytes(m.lastTerm);
      if (m.commit === undefined) return n;
      if (m.type !== 'vote') assert(false, `preVote to ${m.to} carries a commit watermark`);
      return n + headBytes(m.commit);
    }
    case 'voteResp':
    case 'preVoteResp': return 3 + t + (m.merge === undefined ? 0 : mergeBytes(m));
    case 'snap': {
      const { meta, data } = m.snapshot;
      let n = 2 + t + headBytes(meta.index) + headBytes(meta.term);
      n += headBytes(meta.conf.voters.length) + headBytes(meta.conf.learners.length);
      for (const id of meta.conf.voters) n += textItem(id).byteLength;
      for (const id of meta.conf.learners) n += textItem(id).byteLength;
      return n + headBytes(data.byteLength) + data.byteLength;
    }
    case 'timeoutNow': return 2 + t;
    case 'readIndex': return 2 + t + contextBytes(m.context);
    case 'readIndexResp': return 3 + t + contextBytes(m.context) + headBytes(m.index);
    default: return assertNever(m, 'message type');
  }
}

function appBytes(m: AppendMsg, runs: EntryRuns | undefined): number {
  const es = m.entries;
  for (let i = 0; i < es.length; i++) {
    const index = es[i]!.index;
    if (index !== m.prevIndex + 1 + i) assert(false, `entry ${i} has index ${index}, expected ${m.prevIndex + 1 + i}`);
  }
  const columns = runs === undefined ? columnsBytes(es) : runs.size(es);
  const size = 2 + headBytes(m.term) + headBytes(m.prevIndex) + headBytes(m.prevTerm) + headBytes(m.commit) + columns;
  return m.commitSet === undefined ? size : size + indexListBytes(canonicalIndexes(m.commitSet, m.commit, 'commitSet'));
}

/** A Merge reply: mergeCommit, then [indexes, terms, kinds, lens, blob, confs]. */
function mergeBytes(m: VoteRespMsg): number {
  const merge = m.merge;
  if (merge === undefined) return 0;
  if (m.type !== 'voteResp' || m.reject) assert(false, `${m.type} to ${m.to} carries a Merge reply but is not a granted vote`);
  const es = merge.entries;
  let size = headBytes(merge.commit) + 1 + headBytes(es.length) + columnsBytes(es);
  let last = 0;
  for (const e of es) {
    if (e.index <= last) assert(false, `merge entry index ${e.index} is not above ${last}`);
    if (e.term < 1 || e.term > m.term) assert(false, `merge entry ${e.index} has term ${e.term}, outside [1, ${m.term}]`);
    last = e.index;
    size += headBytes(e.index);
  }
  return size;
}

/**
 * An index list in wire order: ascending. The core keeps these as sets and may list them in the
 * order they were committed, so an unsorted list is sorted (a copy) rather than refused; a
 * duplicate or an index at or below `above` is our bug, since the far side would refuse it.
 */
function canonicalIndexes(list: readonly Index[], above: Index, what: string): readonly Index[] {
  let sorted = true;
  for (let i = 1; i < list.length; i++) {
    if (list[i]! <= list[i - 1]!) {
      sorted = false;
      break;
    }
  }
  const out = sorted ? list : list.slice().sort((a, b) => a - b);
  let last = above;
  for (const v of out) {
    if (!Number.isSafeInteger(v) || v <= last) assert(false, `${what} index ${v} is not above ${last} (duplicate or at most ${above})`);
    last = v;
  }
  return out;
}

function indexListBytes(list: readonly Index[]): number {
  let n = headBytes(list.length);
  for (const v of list) n += headBytes(v);
  return n;
}

function writeIndexList(w: CborWriter, list: readonly Index[]): void {
  w.array(list.length);
  for (const v of list) w.uint(v);
}

function writeMessage(w: CborWriter, m: Message, runs: EntryRuns | undefined): void {
  const code = messageTypeCodes[m.type];
  switch (m.type) {
    case 'app': return writeApp(w, m, runs);
    case 'appResp':
      w.array(m.acks === undefined ? 6 : 7);
      w.uint(code); w.uint(m.term); w.uint(m.index); w.bool(m.reject); w.uint(m.hintIndex); w.uint(m.hintTerm);
      if (m.acks !== undefined) writeIndexList(w, canonicalIndexes(m.acks, m.index, 'acks'));
      return;
    case 'hb':
      w.array(m.commitSet === undefined ? 4 : 5); w.uint(code); w.uint(m.term); w.uint(m.commit); w.uint(m.round);
      if (m.commitSet !== undefined) writeIndexList(w, canonicalIndexes(m.commitSet, m.commit, 'commitSet'));
      return;
    case 'hbResp':
      w.array(3); w.uint(code); w.uint(m.term); w.uint(m.round);
      return;
    case 'vote':
    case 'preVote':
      w.array(m.commit === undefined ? 5 : 6); w.uint(code); w.uint(m.term); w.uint(m.lastIndex); w.uint(m.lastTerm); w.bool(m.transfer);
      if (m.commit !== undefined) w.uint(m.commit);
      return;
    case 'voteResp':
    case 'preVoteResp':
      w.array(m.merge === undefined ? 3 : 5); w.uint(code); w.uint(m.term); w.bool(m.reject);
      if (m.merge !== undefined) {
        w.uint(m.merge.commit);
        w.array(6);
        const es = m.merge.entries;
        w.array(es.length);
        for (const e of es) w.uint(e.index);
        writeColumns(w, es);
      }
      return;
    case 'snap': {
      const { meta, data } = m.snapshot;
      w.array(7); w.uint(code); w.uint(m.term); w.uint(meta.index); w.uint(meta.term);
      w.array(meta.conf.voters.length);
      for (const id of meta.conf.voters) w.raw(textItem(id));
      w.array(meta.conf.learners.length);
      for (const id of meta.conf.learners) w.raw(textItem(id));
      w.bytes(data);
      return;
    }
    case 'timeoutNow':
      w.array(2); w.uint(code); w.uint(m.term);
      return;
    case 'readIndex':
      w.array(3); w.uint(code); w.uint(m.term); writeContext(w, m.context);
      return;
    case 'readIndexResp':
      w.array(5); w.uint(code); w.uint(m.term); writeContext(w, m.context); w.uint(m.index); w.bool(m.reject);
      return;
    default: return assertNever(m, 'message type');
  }
}

function writeContext(w: CborWriter, c: ReadContext): void {
  const item = contextItem(c);
  if (typeof item === 'number') w.number(item);
  else w.raw(item);
}

function writeApp(w: CborWriter, m: AppendMsg, runs: EntryRuns | undefined): void {
  w.array(m.commitSet === undefined ? 10 : 11);
  w.uint(messageTypeCodes.app);
  w.uint(m.term);
  w.uint(m.prevIndex);
  w.uint(m.prevTerm);
  w.uint(m.commit);
  if (runs === undefined) writeColumns(w, m.entries);
  else runs.write(w, m.entries);
  if (m.commitSet !== undefined) writeIndexList(w, canonicalIndexes(m.commitSet, m.commit, 'commitSet'));
}

/**
 * An rpc frame [v, 5, cluster, from, to, [payload, ...]] written directly: each payload (already
 * CBOR-encoded by the client protocol) is copied once, as a byte string, into the frame.
 */
export function encodeRpcFrame(slab: SlabAllocator, cluster: string, from: NodeId, to: NodeId, payloads: readonly Uint8Array[]): Uint8Array {
  const head = frameHead(cluster, from, to, payloads.length);
  let size = head.bytes;
  for (const p of payloads) size += headBytes(p.byteLength) + p.byteLength;
  const out = slab.alloc(size);
  const w = new CborWriter(out);
  head.write(w, frameKindCodes.rpc);
  for (const p of payloads) {
    w.head(2, p.byteLength);
    w.raw(p);
  }
  if (w.pos !== size) assert(false, `rpc frame writer wrote ${w.pos} bytes, sized ${size}`);
  return out;
}
