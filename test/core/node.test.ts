// RaftNode at the API level: one voter, and three voters wired by hand (a tiny loop that takes
// each Ready, "persists" it at once, advances and delivers). Pins the durability contract: what
// goes out before the write and what waits for it, and that the leader's own entries count
// toward commit only after advance().
import { ManualClock } from '../../src/core/clock.ts';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { AssertionError } from '../../src/core/assert.ts';
import type { RaftOptions } from '../../src/core/config.ts';
import { RaftError } from '../../src/core/errors.ts';
import type { Message } from '../../src/core/message.ts';
import { RaftNode, type Ready } from '../../src/core/node.ts';
import { SeededPrng } from '../../src/core/prng.ts';
import type { Entry } from '../../src/core/types.ts';

const test = suite('RaftNode');

type Extra = Omit<RaftOptions, 'id' | 'prng'>;

function node(id: string, voters: readonly string[], extra: Extra = {}): RaftNode {
  const seed = [...id].reduce((s, ch) => s * 31 + ch.charCodeAt(0), 7);
  return new RaftNode({
    options: { id, prng: new SeededPrng(seed), checkQuorum: false, leaseReads: false, ...extra },
    bootstrap: { voters, learners: [] },
  });
}

function bytes(n: number, fill = 1): Uint8Array {
  return new Uint8Array(n).fill(fill);
}

/** Takes a Ready, treats its writes as durable at once, advances; returns what it sends. */
function cycle(n: RaftNode): Message[] {
  const rd = n.ready();
  n.advance(rd);
  return [...rd.messages, ...rd.messagesAfterPersist];
}

/** Runs Ready cycles on `n` until it has nothing more; returns every entry it applied. */
function drainSolo(n: RaftNode): Entry[] {
  const applied: Entry[] = [];
  for (let i = 0; i < 20 && n.hasReady(); i++) {
    const rd = n.ready();
    applied.push(...rd.committedEntries);
    n.advance(rd);
  }
  assert.is(n.hasReady(), false, 'a single node settles');
  return applied;
}

type Cluster = Map<string, RaftNode>;

function cluster(ids: readonly string[], extra: Extra = {}): Cluster {
  return new Map(ids.map((id) => [id, node(id, ids, extra)]));
}

/** Cycles every node and delivers every message until nobody has anything to do. */
function settle(c: Cluster): void {
  for (let round = 0; round < 100; round++) {
    const out: Message[] = [];
    for (const n of c.values()) if (n.hasReady()) out.push(...cycle(n));
    if (out.length === 0) return;
    for (const m of out) c.get(m.to)?.step(m);
  }
  throw new Error('cluster did not settle in 100 rounds');
}

function electA(): Cluster {
  const c = cluster(['a', 'b', 'c']);
  c.get('a')!.campaign();
  settle(c);
  for (const n of c.values()) assert.is(n.status().leader, 'a');
  assert.is(c.get('a')!.status().role, 'leader');
  return c;
}

function raftError(fn: () => unknown): RaftError {
  try {
    fn();
  } catch (e) {
    assert.instance(e, RaftError, `expected a RaftError, got ${String(e)}`);
    return e as RaftError;
  }
  throw new Error('expected a RaftError, nothing was thrown');
}

test('a single voter elects itself on campaign() and commits its no-op after advance()', () => {
  const n = node('a', ['a']);
  n.campaign();
  assert.is(n.status().role, 'leader');
  assert.is(n.status().term, 1);
  const rd = n.ready();
  assert.equal(rd.entries.map((e) => [e.index, e.type]), [[1, 'noop']]);
  assert.equal(rd.hardState, { term: 1, vote: 'a', commit: 0 });
  assert.is(rd.mustSync, true);
  assert.is(n.status().commit, 0, 'the no-op is not durable yet');
  n.advance(rd);
  assert.is(n.status().commit, 1);
  const applied = drainSolo(n);
  assert.equal(applied.map((e) => e.index), [1]);
});

test('a single voter commits a proposal only after advance() of the Ready that persisted it', () => {
  const n = node('a', ['a']);
  n.campaign();
  drainSolo(n);
  const p = n.propose(bytes(8));
  assert.equal(p, { firstIndex: 2, lastIndex: 2, term: 1 });
  assert.is(n.status().commit, 1, 'not committed when proposed');
  const rd = n.ready();
  assert.equal(rd.entries.map((e) => e.index), [2]);
  assert.equal(rd.committedEntries, []);
  n.tick();
  assert.is(n.status().commit, 1, 'still not committed while the write is in flight');
  n.advance(rd);
  assert.is(n.status().commit, 2, 'committed once advance() says it is durable');
  const rd2 = n.ready();
  assert.equal(rd2.committedEntries.map((e) => e.index), [2]);
  assert.equal(rd2.hardState, { term: 1, vote: 'a', commit: 2 });
  assert.is(rd2.mustSync, false, 'a commit index alone may be written lazily');
  n.advance(rd2);
  assert.is(n.status().applied, 2);
});

test('proposals made while a Ready is outstanding wait for the next Ready', () => {
  const n = node('a', ['a']);
  n.campaign();
  drainSolo(n);
  n.propose(bytes(1));
  const rd = n.ready();
  n.propose([bytes(1), bytes(2)]);
  assert.is(n.hasReady(), false, 'no Ready while one is outstanding');
  n.advance(rd);
  assert.is(n.status().commit, 2, 'only the persisted entry commits');
  const rd2 = n.ready();
  assert.equal(rd2.entries.map((e) => e.index), [3, 4]);
  n.advance(rd2);
  assert.is(n.status().commit, 4);
});

test('three voters: a leader with one follower ack commits only after its own advance()', () => {
  const c = electA();
  const a = c.get('a')!;
  const b = c.get('b')!;
  const before = a.status().commit;
  a.propose(bytes(4));
  const rdA = a.ready();
  const toB = rdA.messages.filter((m) => m.to === 'b');
  assert.ok(toB.some((m) => m.type === 'app' && m.entries.length === 1), 'appends leave before the leader write');
  for (const m of toB) b.step(m);
  for (const m of cycle(b)) a.step(m);
  assert.is(a.status().progress['b']!.match, before + 1, 'b acknowledged the entry');
  assert.is(a.status().commit, before, 'a and b are a quorum only once a has the entry durable');
  a.advance(rdA);
  assert.is(a.status().commit, before + 1);
});

test("three voters: a follower's append response waits for persistence when the Ready has entries", () => {
  const c = electA();
  const a = c.get('a')!;
  const b = c.get('b')!;
  a.propose(bytes(4));
  const rdA = a.ready();
  for (const m of rdA.messages) if (m.to === 'b') b.step(m);
  const rdB = b.ready();
  assert.equal(rdB.entries.map((e) => e.index), [a.status().lastIndex]);
  assert.is(rdB.mustSync, true);
  assert.not.ok(rdB.messages.some((m) => m.type === 'appResp'), 'no appResp in messages');
  const resp = rdB.messagesAfterPersist.filter((m) => m.type === 'appResp');
  assert.is(resp.length, 1);
  assert.is(resp[0]!.to, 'a');
  assert.ok(resp[0]!.type === 'appResp' && !resp[0]!.reject && resp[0]!.index === a.status().lastIndex);
  b.advance(rdB);
  a.advance(rdA);
});

test("a candidate's vote requests wait for persistence of its term and vote; pre-votes do not", () => {
  const c = cluster(['a', 'b', 'c']);
  const a = c.get('a')!;
  a.campaign();
  const rd1 = a.ready();
  assert.equal(rd1.messages.map((m) => m.type).sort(), ['preVote', 'preVote'], 'pre-votes promise nothing');
  assert.equal(rd1.messagesAfterPersist, []);
  assert.is(rd1.hardState, null, 'a pre-candidate changes nothing durable');
  a.advance(rd1);
  for (const m of rd1.messages) c.get(m.to)!.step(m);
  for (const id of ['b', 'c']) for (const m of cycle(c.get(id)!)) a.step(m);
  assert.is(a.status().role, 'candidate');
  const rd2 = a.ready();
  assert.equal(rd2.hardState, { term: 1, vote: 'a', commit: 0 });
  assert.is(rd2.mustSync, true);
  assert.not.ok(rd2.messages.some((m) => m.type === 'vote'), 'no vote request in messages');
  assert.equal(rd2.messagesAfterPersist.map((m) => [m.type, m.to]).sort(), [['vote', 'b'], ['vote', 'c']]);
  a.advance(rd2);
});

test('without pre-vote the first Ready of a candidate holds its vote requests until persisted', () => {
  const c = cluster(['a', 'b', 'c'], { preVote: false });
  const a = c.get('a')!;
  a.campaign();
  const rd = a.ready();
  assert.equal(rd.messages, []);
  assert.equal(rd.messagesAfterPersist.map((m) => m.type), ['vote', 'vote']);
  assert.equal(rd.hardState, { term: 1, vote: 'a', commit: 0 });
  a.advance(rd);
  // The voter's grant also waits for its own term and vote to be durable.
  const b = c.get('b')!;
  b.step(rd.messagesAfterPersist.find((m) => m.to === 'b')!);
  const rdB = b.ready();
  assert.equal(rdB.hardState, { term: 1, vote: 'a', commit: 0 });
  assert.equal(rdB.messages, []);
  assert.equal(rdB.messagesAfterPersist.map((m) => [m.type, m.type === 'voteResp' && m.reject]), [['voteResp', false]]);
  b.advance(rdB);
});

test('ready() twice without advance() is an AssertionError', () => {
  const n = node('a', ['a']);
  n.campaign();
  n.ready();
  assert.throws(() => n.ready(), (e: unknown) => e instanceof AssertionError);
});

test('advance() of a Ready that is not the outstanding one is an AssertionError', () => {
  const n = node('a', ['a']);
  n.campaign();
  const rd: Ready = n.ready();
  n.advance(rd);
  assert.throws(() => n.advance(rd), (e: unknown) => e instanceof AssertionError);
});

test('propose on a follower throws ERR_NOT_LEADER with the leader as hint', () => {
  const c = electA();
  const err = raftError(() => c.get('b')!.propose(bytes(1)));
  assert.is(err.code, 'ERR_NOT_LEADER');
  assert.is(err.leaderHint, 'a');
});

test('propose with no known leader throws ERR_NOT_LEADER with a null hint', () => {
  const n = node('b', ['a', 'b', 'c']);
  const err = raftError(() => n.propose(bytes(1)));
  assert.is(err.code, 'ERR_NOT_LEADER');
  assert.is(err.leaderHint, null);
});

test('a proposal over proposalBytesMax throws ERR_PROPOSAL_TOO_LARGE and appends nothing', () => {
  const n = node('a', ['a'], { proposalBytesMax: 100 });
  n.campaign();
  drainSolo(n);
  const last = n.status().lastIndex;
  const err = raftError(() => n.propose(bytes(101)));
  assert.is(err.code, 'ERR_PROPOSAL_TOO_LARGE');
  assert.match(err.message, /101/);
  assert.match(err.message, /proposalBytesMax/);
  const batchErr = raftError(() => n.propose([bytes(10), bytes(101)]));
  assert.is(batchErr.code, 'ERR_PROPOSAL_TOO_LARGE', 'one oversized entry refuses the batch');
  assert.is(n.status().lastIndex, last);
  assert.is(n.propose(bytes(100)).lastIndex, last + 1, 'exactly proposalBytesMax is accepted');
});

test('restore with a hard-state commit beyond the stored log throws a clear RaftError', () => {
  const entries: Entry[] = [1, 2, 3].map((index) => ({ index, term: 1, type: 'normal', data: bytes(1) }));
  const err = raftError(() => new RaftNode({
    options: { id: 'a', prng: new SeededPrng(1), clock: new ManualClock() },
    bootstrap: { voters: ['a'], learners: [] },
    restore: { hardState: { term: 1, vote: 'a', commit: 5 }, snapshot: null, entries },
  }));
  assert.is(err.code, 'ERR_CONFIG_INVALID');
  assert.match(err.message, /commits index 5/);
  assert.match(err.message, /ends at 3/);
});

test('restore with a gap in the stored entries throws naming the bad index', () => {
  const entries: Entry[] = [1, 2, 4].map((index) => ({ index, term: 1, type: 'normal', data: bytes(1) }));
  const err = raftError(() => new RaftNode({
    options: { id: 'a', prng: new SeededPrng(1), clock: new ManualClock() },
    bootstrap: { voters: ['a'], learners: [] },
    restore: { hardState: { term: 1, vote: 'a', commit: 2 }, snapshot: null, entries },
  }));
  assert.is(err.code, 'ERR_CONFIG_INVALID');
  assert.match(err.message, /index 4, expected 3/);
});

test('a restored node resumes its term, vote, commit and log', () => {
  const entries: Entry[] = [1, 2, 3].map((index) => ({ index, term: 2, type: 'normal', data: bytes(1) }));
  const n = new RaftNode({
    options: { id: 'a', prng: new SeededPrng(1), clock: new ManualClock() },
    bootstrap: { voters: ['a'], learners: [] },
    restore: { hardState: { term: 2, vote: 'a', commit: 2 }, snapshot: null, entries },
  });
  const s = n.status();
  assert.equal([s.term, s.vote, s.commit, s.lastIndex, s.stableIndex], [2, 'a', 2, 3, 3]);
  const rd = n.ready();
  assert.equal(rd.entries, [], 'restored entries are already durable');
  assert.equal(rd.committedEntries.map((e) => e.index), [1, 2]);
});

test('compact() keeps retainEntries entries at or below the applied index', () => {
  const n = node('a', ['a']);
  n.campaign();
  drainSolo(n);
  n.propose([bytes(1), bytes(2), bytes(3), bytes(4), bytes(5)]);
  drainSolo(n);
  assert.is(n.status().applied, 6);
  const snap = n.compact(bytes(3, 9), 2);
  assert.equal(snap.meta, { index: 6, term: 1, conf: { voters: ['a'], learners: [] } });
  assert.equal(n.snapshotMeta, snap.meta);
  assert.is(n.status().firstIndex, 5, 'entries 5 and 6 are retained');
  assert.is(n.termAt(3), -1);
  assert.is(n.termAt(4), 1, 'the new snapshot index keeps its term for the match check');
  assert.is(n.entryAt(4), undefined);
  assert.is(n.termAt(5), 1);
  assert.is(n.entryAt(6)?.index, 6);
  assert.is(n.status().lastIndex, 6);
});

test('compact() with no retained entries drops the whole applied log; a large retain drops nothing', () => {
  const keepAll = node('a', ['a']);
  keepAll.campaign();
  drainSolo(keepAll);
  keepAll.propose([bytes(1), bytes(1)]);
  drainSolo(keepAll);
  keepAll.compact(bytes(1), 100);
  assert.is(keepAll.status().firstIndex, 1);
  keepAll.compact(bytes(1), 0);
  assert.is(keepAll.status().firstIndex, 4);
  assert.is(keepAll.termAt(3), 1, 'the snapshot index keeps its term');
  assert.is(keepAll.entryAt(3), undefined);
});

test('the leader keeps replicating after compaction and new entries still commit', () => {
  const n = node('a', ['a']);
  n.campaign();
  drainSolo(n);
  n.propose(bytes(1));
  drainSolo(n);
  n.compact(bytes(1), 0);
  n.propose(bytes(2));
  const applied = drainSolo(n);
  assert.equal(applied.map((e) => e.index), [3]);
  assert.is(n.status().commit, 3);
});

test('three voters replicate and apply the same entries in order', () => {
  const c = electA();
  const a = c.get('a')!;
  const applied = new Map<string, number[]>([['a', []], ['b', []], ['c', []]]);
  for (let i = 0; i < 5; i++) a.propose(bytes(3, i));
  for (let round = 0; round < 100; round++) {
    const out: Message[] = [];
    for (const [id, n] of c) {
      if (!n.hasReady()) continue;
      const rd = n.ready();
      applied.get(id)!.push(...rd.committedEntries.map((e) => e.index));
      n.advance(rd);
      out.push(...rd.messages, ...rd.messagesAfterPersist);
    }
    if (out.length === 0) break;
    for (const m of out) c.get(m.to)?.step(m);
  }
  const last = a.status().lastIndex;
  assert.is(last, 6);
  for (const id of ['b', 'c']) {
    assert.is(c.get(id)!.status().commit, last, `${id} commit`);
    assert.equal(applied.get(id)!.slice(-5), [2, 3, 4, 5, 6], `${id} applied`);
    for (let i = 2; i <= last; i++) assert.equal(c.get(id)!.entryAt(i), a.entryAt(i), `${id} entry ${i}`);
  }
});

test.run();
