// Message builders shared by the transport suites: one valid example of every message type,
// plus helpers to build entries and snapshots of any size.
import type { Message } from '../../src/core/message.ts';
import type { Entry, NodeId } from '../../src/core/types.ts';

export function bytesOf(length: number, seed = 1): Uint8Array {
  const b = new Uint8Array(length);
  for (let i = 0; i < length; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

export function normalEntries(firstIndex: number, count: number, term: number, dataBytes: number): Entry[] {
  return Array.from({ length: count }, (_, i) => ({
    term, index: firstIndex + i, type: 'normal' as const, data: bytesOf(dataBytes, i),
  }));
}

/** One message of every type, from `from` to `to`, covering config entries and snapshots. */
export function everyMessage(from: NodeId, to: NodeId): Message[] {
  const mixed: Entry[] = [
    { term: 3, index: 11, type: 'noop', data: new Uint8Array(0) },
    { term: 3, index: 12, type: 'normal', data: bytesOf(5) },
    { term: 4, index: 13, type: 'config', data: new Uint8Array(0), conf: { type: 'addVoter', node: 'n4' } },
    { term: 4, index: 14, type: 'config', data: new Uint8Array(0), conf: { type: 'addLearner', node: 'l1' } },
    { term: 4, index: 15, type: 'config', data: bytesOf(3), conf: { type: 'promoteLearner', node: 'l1' } },
    { term: 5, index: 16, type: 'config', data: new Uint8Array(0), conf: { type: 'removeNode', node: 'n2' } },
    { term: 5, index: 17, type: 'normal', data: new Uint8Array(0) },
  ];
  return [
    { type: 'app', from, to, term: 5, prevIndex: 10, prevTerm: 3, entries: mixed, commit: 9 },
    { type: 'app', from, to, term: 5, prevIndex: 0, prevTerm: 0, entries: [], commit: 0 },
    { type: 'app', from, to, term: 7, prevIndex: 99, prevTerm: 7, entries: normalEntries(100, 64, 7, 256), commit: 98 },
    { type: 'app', from, to, term: 7, prevIndex: 5, prevTerm: 6, entries: normalEntries(6, 1, 7, 1024 * 1024), commit: 5 },
    { type: 'appResp', from, to, term: 5, index: 17, reject: false, hintIndex: 0, hintTerm: 0 },
    { type: 'appResp', from, to, term: 5, index: 10, reject: true, hintIndex: 8, hintTerm: 2 },
    { type: 'hb', from, to, term: 5, commit: 17, round: 0 },
    { type: 'hb', from, to, term: 5, commit: 17, round: 42 },
    { type: 'hbResp', from, to, term: 5, round: 42 },
    { type: 'vote', from, to, term: 6, lastIndex: 17, lastTerm: 5, transfer: false },
    { type: 'preVote', from, to, term: 6, lastIndex: 17, lastTerm: 5, transfer: true },
    { type: 'voteResp', from, to, term: 6, reject: false },
    { type: 'preVoteResp', from, to, term: 6, reject: true },
    {
      type: 'snap', from, to, term: 6,
      snapshot: { meta: { index: 100, term: 5, conf: { voters: ['n1', 'n2', 'n3'], learners: ['l1'] } }, data: bytesOf(4096) },
    },
    {
      type: 'snap', from, to, term: 6,
      snapshot: { meta: { index: 1, term: 1, conf: { voters: ['n1'], learners: [] } }, data: new Uint8Array(0) },
    },
    { type: 'timeoutNow', from, to, term: 6 },
    { type: 'readIndex', from, to, term: 6, context: 12345 },
    { type: 'readIndex', from, to, term: 6, context: 'req-7' },
    { type: 'readIndexResp', from, to, term: 6, context: 'req-7', index: 17, reject: false },
    { type: 'readIndexResp', from, to, term: 6, context: 3, index: 0, reject: true },
  ];
}
