// Watchers: history from fromRevision then live events, key / prefix / range matching, previous
// values on request, progress to idle watchers, slow sinks cancelled with where to resume,
// compaction and watcher limits, snapshot installs, and a randomized run against the history.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { encodeCommand, type KvCommand } from '../../src/core/kv/command.ts';
import type { RevisionEvents } from '../../src/core/kv/history.ts';
import { prefixEnd, type ByteKey } from '../../src/core/kv/keys.ts';
import { KvMachine, type KvEvent, type KvMachineOptions } from '../../src/core/kv/machine.ts';
import { WatchError, WatchHub, type WatchLimits, type WatchSink, type WatchSpec } from '../../src/core/kv/watch-hub.ts';
import { SeededPrng } from '../../src/core/prng.ts';

const t = suite('kv watch hub');

class Log {
  readonly m: KvMachine;
  index = 0;
  constructor(o: KvMachineOptions = {}) {
    this.m = new KvMachine(o);
  }
  run(cmd: KvCommand): void {
    this.m.apply({ index: ++this.index, term: 1, type: 'normal', data: encodeCommand({ timeMs: 1, session: null, cmd }) });
  }
  put(key: string, value = 'v'): void {
    this.run({ op: 'put', key, value });
  }
  noop(): void {
    this.m.apply({ index: ++this.index, term: 1, type: 'noop', data: new Uint8Array(0) });
  }
}

type Call =
  | { readonly kind: 'events'; readonly batches: readonly RevisionEvents[]; readonly revision: number }
  | { readonly kind: 'progress'; readonly revision: number }
  | { readonly kind: 'cancelled'; readonly err: WatchError };

/** A sink that records every call; `accept` says whether the receiver's queue had room. */
class Sink implements WatchSink {
  readonly calls: Call[] = [];
  /** Calls the receiver had no room for (not delivered). */
  readonly refused = new Set<Call>();
  accept: (c: Call) => boolean = () => true;
  events(batches: readonly RevisionEvents[], revision: number): boolean {
    const c: Call = { kind: 'events', batches, revision };
    this.calls.push(c);
    const ok = this.accept(c);
    if (!ok) this.refused.add(c);
    return ok;
  }
  progress(revision: number): boolean {
    const c: Call = { kind: 'progress', revision };
    this.calls.push(c);
    return this.accept(c);
  }
  cancelled(err: WatchError): void {
    this.calls.push({ kind: 'cancelled', err });
  }
  /** The (revision, keys) of every event delivered, in order. */
  get seen(): Array<[number, string[]]> {
    return this.calls.flatMap((c) => (c.kind === 'events' && !this.refused.has(c) ? c.batches.map((b): [number, string[]] => [b.revision, b.events.map((e) => `${e.type}:${e.kv.key}`)]) : []));
  }
  get last(): Call | undefined {
    return this.calls.at(-1);
  }
}

const keySpec = (k: ByteKey, fromRevision = 0, prevValue = false): WatchSpec => ({ start: k, end: `${k}\u0000`, fromRevision, prevValue });
const prefixSpec = (p: ByteKey, fromRevision = 0): WatchSpec => ({ start: p, end: prefixEnd(p), fromRevision, prevValue: false });

function caught(fn: () => unknown): WatchError {
  try {
    fn();
  } catch (err) {
    assert.instance(err, WatchError);
    return err as WatchError;
  }
  assert.unreachable('expected a WatchError');
  throw new Error('unreachable');
}

t('history from fromRevision is sent before add() returns, then live events in order', () => {
  const l = new Log();
  l.put('a', '1'); // 1
  l.put('b', '1'); // 2
  l.put('a', '2'); // 3
  l.noop(); // 4
  const hub = new WatchHub(l.m);
  const s = new Sink();
  hub.add(keySpec('a', 1), s);
  assert.equal(s.calls.length, 1, 'one batch for the history');
  assert.equal(s.seen, [[1, ['put:a']], [3, ['put:a']]]);
  assert.is((s.last as { revision: number }).revision, 4, 'caught up to the current revision');
  l.put('b', '2'); // 5
  assert.is(s.calls.length, 1, 'another key: nothing');
  l.put('a', '3'); // 6
  assert.equal(s.seen, [[1, ['put:a']], [3, ['put:a']], [6, ['put:a']]]);
  assert.equal(s.last, { kind: 'events', batches: [{ revision: 6, events: [{ type: 'put', kv: l.m.getKv('a')!, prev: null }] }], revision: 6 });
  // From the current revision + 1, or 0: only what comes next.
  const now = new Sink();
  const next = new Sink();
  hub.add(keySpec('a', 0), now);
  hub.add(keySpec('a', 7), next);
  assert.equal(now.calls, []);
  assert.equal(next.calls, []);
  l.put('a', '4'); // 7
  assert.equal(now.seen, [[7, ['put:a']]]);
  assert.equal(next.seen, [[7, ['put:a']]]);
  // History in small batches: a watcher from 1 with batchEventsMax 1 gets one revision per call.
  const small = new WatchHub(l.m, { batchEventsMax: 1 });
  const b = new Sink();
  small.add(prefixSpec('a', 1), b);
  assert.equal(b.seen.map(([r]) => r), [1, 3, 6, 7]);
  assert.ok(b.calls.length >= 4);
  const revs = b.calls.map((c) => (c as { revision: number }).revision);
  assert.equal(revs, [...revs].sort((x, y) => x - y), 'revisions never go back');
  assert.is(revs.at(-1), 7);
});

t('a fromRevision in the future: nothing before it is sent', () => {
  const l = new Log();
  l.put('a'); // 1
  const hub = new WatchHub(l.m);
  const s = new Sink();
  hub.add(keySpec('a', 4), s);
  l.put('a'); // 2
  l.put('a'); // 3
  assert.equal(s.seen, [], 'revisions 2 and 3 are before the one asked for');
  l.put('a'); // 4
  l.put('a'); // 5
  assert.equal(s.seen, [[4, ['put:a']], [5, ['put:a']]]);
});

t('prevValue: with it each event carries the previous key-value, without it none', () => {
  const l = new Log();
  l.put('k', 'old'); // 1
  const hub = new WatchHub(l.m);
  const withPrev = new Sink();
  const without = new Sink();
  hub.add(keySpec('k', 0, true), withPrev);
  hub.add(keySpec('k', 0, false), without);
  l.put('k', 'new'); // 2
  l.run({ op: 'delete', key: 'k' }); // 3
  const old = { key: 'k', value: 'old', createRevision: 1, modRevision: 1, version: 1, lease: 0 };
  const cur = { key: 'k', value: 'new', createRevision: 1, modRevision: 2, version: 2, lease: 0 };
  const del = { key: 'k', value: '', createRevision: 0, modRevision: 3, version: 0, lease: 0 };
  const events = (s: Sink) => s.calls.flatMap((c) => (c.kind === 'events' ? c.batches.flatMap((b) => b.events) : []));
  assert.equal(events(withPrev), [{ type: 'put', kv: cur, prev: old }, { type: 'delete', kv: del, prev: cur }]);
  assert.equal(events(without), [{ type: 'put', kv: cur, prev: null }, { type: 'delete', kv: del, prev: null }]);
  // The history the machine keeps still has them.
  assert.equal((l.m.history.since(2) as RevisionEvents[])[0]!.events[0]!.prev, old);
});

t('matching: one key, a prefix, a range, and everything from a key on', () => {
  const l = new Log();
  const hub = new WatchHub(l.m);
  const one = new Sink();
  const prefix = new Sink();
  const range = new Sink();
  const tail = new Sink();
  hub.add(keySpec('p'), one);
  hub.add(prefixSpec('p/'), prefix);
  hub.add({ start: 'b', end: 'd', fromRevision: 0, prevValue: false }, range);
  hub.add({ start: 'p/', end: null, fromRevision: 0, prevValue: false }, tail);
  for (const k of ['p', 'p/', 'p/x', 'p0', 'p\u0000', 'a', 'b', 'c/1', 'd', 'z']) l.put(k);
  assert.equal(one.seen, [[1, ['put:p']]]);
  assert.equal(prefix.seen, [[2, ['put:p/']], [3, ['put:p/x']]]);
  assert.equal(range.seen, [[7, ['put:b']], [8, ['put:c/1']]]);
  assert.equal(tail.seen.map(([r]) => r), [2, 3, 4, 10]);
  // One revision touching several watchers' keys: each gets only its own events.
  l.run({ op: 'txn', compare: [], success: [{ op: 'put', key: 'p', value: 'w' }, { op: 'put', key: 'c', value: 'w' }, { op: 'put', key: 'p/y', value: 'w' }], failure: [] }); // 11
  assert.equal(one.seen.at(-1), [11, ['put:p']]);
  assert.equal(prefix.seen.at(-1), [11, ['put:p/y']]);
  assert.equal(range.seen.at(-1), [11, ['put:c']]);
  assert.equal(tail.seen.at(-1), [11, ['put:p/y']]);
  assert.is(hub.size, 4);
  assert.ok(hub.remove(1));
  assert.not.ok(hub.remove(1), 'removed already');
  l.put('p'); // 12
  assert.equal(one.seen.at(-1), [11, ['put:p']], 'a removed watcher gets nothing');
});

t('progress goes to watchers that got no events, at once when the revision moved, else every idleRounds rounds', () => {
  const l = new Log();
  const hub = new WatchHub(l.m, { idleRounds: 3 });
  const a = new Sink();
  const b = new Sink();
  hub.add(keySpec('a'), a);
  hub.add(keySpec('b'), b);
  l.put('a'); // 1
  l.noop(); // 2
  hub.progress();
  assert.equal(b.calls, [{ kind: 'progress', revision: 2 }]);
  assert.is(a.calls.length, 1, 'a got events since the last round: no progress');
  hub.progress();
  assert.equal(a.last, { kind: 'progress', revision: 2 }, 'a is idle now, and 2 is past what it was told (1)');
  assert.equal(b.calls.length, 1, 'b was told 2 already');
  hub.progress();
  assert.equal([a.calls.length, b.calls.length], [2, 1]);
  hub.progress();
  assert.equal(b.calls.length, 2, 'the third quiet round: told again');
  assert.equal(b.last, { kind: 'progress', revision: 2 });
  l.noop(); // 3
  hub.progress();
  assert.equal(b.last, { kind: 'progress', revision: 3 }, 'the revision moved: at once');
  assert.equal(a.last, { kind: 'progress', revision: 3 });
  // A watcher resumed from a progress revision misses nothing: there were no events for it.
  l.put('b'); // 4
  assert.equal(b.seen, [[4, ['put:b']]]);
  assert.throws(() => new WatchHub(l.m, { idleRounds: 0 }), /watch limits must be positive/);
});

t('reserved keys (0x00...) are never sent to a watcher, even one on every key', () => {
  const l = new Log();
  const hub = new WatchHub(l.m);
  const all = new Sink();
  hub.add({ start: '', end: null, fromRevision: 0, prevValue: false }, all);
  hub.add({ start: '\u0000', end: '\u0001', fromRevision: 0, prevValue: false }, all);
  l.put('\u0000member:a'); // 1
  l.run({ op: 'txn', compare: [], success: [{ op: 'put', key: '\u0000x', value: 'v' }, { op: 'put', key: 'x', value: 'v' }], failure: [] }); // 2
  assert.equal(all.seen, [[2, ['put:x']]]);
  const late = new Sink();
  hub.add({ start: '', end: null, fromRevision: 1, prevValue: false }, late);
  assert.equal(late.seen, [[2, ['put:x']]], 'nor from history');
});

t('a slow sink is cancelled with ERR_WATCH_SLOW and the last revision it got', () => {
  const l = new Log();
  const hub = new WatchHub(l.m);
  const s = new Sink();
  hub.add(prefixSpec(''), s);
  l.put('a'); // 1
  l.noop(); // 2
  s.accept = (c) => c.kind !== 'events';
  l.put('b'); // 3: refused
  assert.is(hub.size, 0);
  const c = s.last!;
  assert.ok(c.kind === 'cancelled');
  assert.is(c.err.code, 'ERR_WATCH_SLOW');
  assert.is(c.err.revision, 1, 'resume after revision 1');
  assert.match(c.err.message, /resume from revision 2/);
  const n = s.calls.length;
  l.put('c'); // 4
  hub.progress();
  assert.is(s.calls.length, n, 'no call after the cancel');
  // A refused progress is slow too, with the last revision it was told.
  const p = new Sink();
  hub.add(prefixSpec(''), p);
  hub.progress(); // accepted: revision 4
  p.accept = () => false;
  l.noop(); // 5
  hub.progress();
  const pc = p.last!;
  assert.ok(pc.kind === 'cancelled');
  assert.is(pc.err.revision, 4);
  // History the sink refuses: add() throws, nothing is registered.
  const h = new Sink();
  h.accept = () => false;
  const err = caught(() => hub.add(prefixSpec('', 1), h));
  assert.is(err.code, 'ERR_WATCH_SLOW');
  assert.is(err.revision, 0, 'nothing was delivered');
  assert.is(hub.size, 0);
  assert.is(hub.stats.cancelledSlow, 2);
});

t('ERR_COMPACTED for a revision at or below the compaction revision; the one after works', () => {
  const l = new Log();
  for (let i = 0; i < 5; i++) l.put(`k${i}`); // 1..5
  l.run({ op: 'compact', revision: 3 }); // 6
  const hub = new WatchHub(l.m);
  for (const from of [1, 3]) {
    const err = caught(() => hub.add(prefixSpec('k', from), new Sink()));
    assert.is(err.code, 'ERR_COMPACTED', `from ${from}`);
    assert.is(err.compactRevision, 3);
    assert.match(err.message, new RegExp(`revision ${from} was compacted`));
  }
  const s = new Sink();
  hub.add(prefixSpec('k', 4), s);
  assert.equal(s.seen, [[4, ['put:k3']], [5, ['put:k4']]]);
  assert.is(hub.stats.compactedRefused, 2);
  const bad = caught(() => hub.add(prefixSpec('k', -1), new Sink()));
  assert.is(bad.code, 'ERR_BAD_REQUEST');
  assert.is(caught(() => hub.add(prefixSpec('k', 1.5), new Sink())).code, 'ERR_BAD_REQUEST');
});

t('ERR_WATCH_LIMIT past watchersMax; a removed watcher frees its place', () => {
  const l = new Log();
  const hub = new WatchHub(l.m, { watchersMax: 2 });
  const first = hub.add(keySpec('a'), new Sink());
  hub.add(keySpec('a'), new Sink());
  const err = caught(() => hub.add(keySpec('b'), new Sink()));
  assert.is(err.code, 'ERR_WATCH_LIMIT');
  assert.match(err.message, /2 watchers already \(watchersMax\)/);
  hub.remove(first);
  hub.add(keySpec('b'), new Sink());
  assert.is(hub.size, 2);
  assert.throws(() => new WatchHub(l.m, { watchersMax: 0 } as Partial<WatchLimits>), /watch limits must be positive/);
});

t('a snapshot install catches watchers up from its history, or cancels them with ERR_COMPACTED', () => {
  // The leader runs ahead; its history keeps revisions 7..10 only (eventsMax 4).
  const leader = new Log({ history: { eventsMax: 4 } });
  const follower = new Log();
  for (let i = 1; i <= 3; i++) {
    leader.put(`k${i}`);
    follower.put(`k${i}`);
  }
  const hub = new WatchHub(follower.m);
  const live = new Sink();
  const idle = new Sink();
  hub.add(prefixSpec('k', 1), live);
  hub.add(keySpec('zzz'), idle);
  for (let i = 4; i <= 10; i++) leader.put(`k${i}`);
  assert.is(leader.m.history.compactRevision, 6);
  // The follower applies 4..6 itself, then installs the leader's snapshot at 10.
  for (let i = 4; i <= 6; i++) follower.put(`k${i}`);
  assert.equal(live.seen.map(([r]) => r), [1, 2, 3, 4, 5, 6]);
  hub.progress(); // `live` was busy; `idle` is told 6
  assert.equal(idle.calls, [{ kind: 'progress', revision: 6 }]);
  // Watchers added at 6 from the follower's own history are at 6 too.
  const behind = new Sink();
  hub.add(prefixSpec('k', 2), behind);
  assert.equal(behind.seen.map(([r]) => r), [2, 3, 4, 5, 6]);
  const old = new Sink();
  hub.add(keySpec('k1', 1), old);
  assert.equal(old.seen, [[1, ['put:k1']]]);
  assert.is((old.last as { revision: number }).revision, 6);
  assert.is(hub.size, 4);
  follower.m.restore(leader.m.snapshot());
  follower.index = 10;
  assert.is(follower.m.revision, 10);
  // At 6 (= the compaction revision): caught up from the snapshot's history.
  assert.equal(live.seen.map(([r]) => r), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  assert.is((live.last as { revision: number }).revision, 10);
  assert.equal(behind.seen.map(([r]) => r), [2, 3, 4, 5, 6, 7, 8, 9, 10]);
  assert.equal(idle.last, { kind: 'events', batches: [], revision: 10 }, 'told it is at 10, with no events for it');
  assert.equal(old.last, { kind: 'events', batches: [], revision: 10 });
  assert.is(hub.size, 4);
  // Live events go on from the snapshot.
  follower.put('k11'); // 11
  assert.equal(live.seen.at(-1), [11, ['put:k11']]);
});

t('a snapshot install cancels watchers whose place is below its history with ERR_COMPACTED', () => {
  const leader = new Log({ history: { eventsMax: 2 } });
  const follower = new Log();
  leader.put('a'); // 1
  follower.put('a');
  const hub = new WatchHub(follower.m);
  const s = new Sink();
  const t2 = new Sink();
  hub.add(keySpec('a'), s); // at 1
  for (let i = 0; i < 5; i++) leader.put('a'); // 2..6: history keeps 5, 6
  assert.is(leader.m.history.compactRevision, 4);
  follower.put('a'); // 2
  hub.add(keySpec('b'), t2); // at 2
  follower.m.restore(leader.m.snapshot());
  for (const [sink, at] of [[s, 2], [t2, 2]] as const) {
    const c = sink.last!;
    assert.ok(c.kind === 'cancelled');
    assert.is(c.err.code, 'ERR_COMPACTED');
    assert.is(c.err.compactRevision, 4);
    assert.is(c.err.revision, at);
    assert.match(c.err.message, /installed a snapshot whose history starts after 4/);
  }
  assert.is(hub.size, 0);
  assert.is(hub.stats.compactedRefused, 2);
});

t('close() ends every watcher with where to resume', () => {
  const l = new Log();
  l.put('a');
  const hub = new WatchHub(l.m);
  const s = new Sink();
  hub.add(keySpec('a'), s);
  hub.close('the member is stopping');
  const c = s.last!;
  assert.ok(c.kind === 'cancelled');
  assert.is(c.err.code, 'ERR_WATCH_SLOW');
  assert.is(c.err.revision, 1);
  assert.match(c.err.message, /the member is stopping: resume from revision 2/);
  l.put('a');
  assert.is(s.calls.length, 1, 'unsubscribed from the machine');
});

/** What a watcher should have received: the history's events in its range from `from` on. */
function expected(all: ReadonlyArray<RevisionEvents>, spec: WatchSpec, from: number, to: number): Array<[number, string[]]> {
  const out: Array<[number, string[]]> = [];
  for (const b of all) {
    if (b.revision < from || b.revision > to) continue;
    const mine = b.events.filter((e) => e.kv.key >= spec.start && (spec.end === null || e.kv.key < spec.end));
    if (mine.length > 0) out.push([b.revision, mine.map((e) => `${e.type}:${e.kv.key}`)]);
  }
  return out;
}

t('randomized, with snapshot installs: every watcher gets exactly the history in its range, no gap, no repeat (200 seeds)', () => {
  const keys = ['a', 'a/1', 'a/2', 'b', 'b/1', 'c', 'd'];
  let installs = 0;
  let compactedCancels = 0;
  for (let seed = 1; seed <= 200; seed++) {
    const rng = new SeededPrng(seed);
    // The leader applies every entry; the watched replica sometimes lags and then installs the
    // leader's snapshot instead of the entries it missed.
    const leader = new Log({ history: { eventsMax: 30 } });
    const replica = new KvMachine({ history: { eventsMax: 30 } });
    let lagging = false;
    const all: RevisionEvents[] = [];
    leader.m.onEvents((revision, events: readonly KvEvent[]) => all.push({ revision, events }));
    const hub = new WatchHub(replica, { batchEventsMax: 1 + rng.nextInt(4) });
    const run = (cmd: KvCommand | null): void => {
      if (cmd === null) leader.noop();
      else leader.run(cmd);
      if (!lagging) replica.apply({ index: leader.index, term: 1, type: cmd === null ? 'noop' : 'normal', data: cmd === null ? new Uint8Array(0) : encodeCommand({ timeMs: 1, session: null, cmd }) });
    };
    const watchers: Array<{ spec: WatchSpec; from: number; sink: Sink; cancelledAt: number | null }> = [];
    try {
      for (let step = 0; step < 150; step++) {
        const r = rng.nextInt(100);
        const k = keys[rng.nextInt(keys.length)]!;
        if (r < 40) run({ op: 'put', key: k, value: `v${step}` });
        else if (r < 48) run({ op: 'delete', key: k });
        else if (r < 53) run({ op: 'deleteRange', start: k, end: rng.nextInt(2) === 0 ? null : prefixEnd(k) });
        else if (r < 60) run({ op: 'txn', compare: [], success: [{ op: 'put', key: k, value: 'x' }, { op: 'put', key: keys[rng.nextInt(keys.length)]!, value: 'y' }], failure: [] });
        else if (r < 63) run(null);
        else if (r < 66 && leader.index > 2) run({ op: 'compact', revision: leader.index - 1 - rng.nextInt(Math.min(5, leader.index - 1)) });
        else if (r < 70) {
          if (!lagging) lagging = true;
          else {
            lagging = false;
            installs++;
            replica.restore(leader.m.snapshot());
          }
        } else if (r < 80) hub.progress();
        else {
          const kind = rng.nextInt(3);
          const spec: WatchSpec = kind === 0 ? keySpec(k) : kind === 1 ? prefixSpec(k) : { start: k, end: rng.nextInt(2) === 0 ? null : 'c', fromRevision: 0, prevValue: false };
          const now = replica.revision;
          const from = rng.nextInt(4) === 0 ? 0 : Math.max(1, now + 2 - rng.nextInt(14));
          const sink = new Sink();
          // Some receivers run out of room after a few calls.
          if (rng.nextInt(4) === 0) {
            const room = 1 + rng.nextInt(6);
            sink.accept = () => sink.calls.length <= room;
          }
          const w = { spec: { ...spec, fromRevision: from }, from: from === 0 ? now + 1 : from, sink, cancelledAt: null as number | null };
          try {
            hub.add(w.spec, sink);
          } catch (err) {
            const e = err as WatchError;
            if (e.code === 'ERR_COMPACTED') {
              assert.ok(from <= replica.history.compactRevision, `refused ${from} though compacted only through ${replica.history.compactRevision}`);
              continue;
            }
            assert.is(e.code, 'ERR_WATCH_SLOW');
            w.cancelledAt = e.revision;
          }
          watchers.push(w);
        }
      }
      for (const w of watchers) {
        const calls = w.sink.calls;
        const cancel = calls.find((c) => c.kind === 'cancelled');
        if (cancel !== undefined && cancel.kind === 'cancelled' && cancel.err.code === 'ERR_COMPACTED') compactedCancels++;
        const cancelledAt = w.cancelledAt ?? (cancel !== undefined && cancel.kind === 'cancelled' ? cancel.err.revision : null);
        // Delivered through: where it was cancelled, or the replica's revision.
        const to = cancelledAt ?? replica.revision;
        assert.equal(w.sink.seen, expected(all, w.spec, w.from, to), `watcher ${JSON.stringify(w.spec)} from ${w.from} to ${to}`);
        // The revisions it was told never go back, and nothing follows a cancel.
        const revs = calls.flatMap((c) => (c.kind === 'cancelled' ? [] : [c.revision]));
        for (let i = 1; i < revs.length; i++) assert.ok(revs[i]! >= revs[i - 1]!, `revisions went back: ${revs.join(',')}`);
        if (cancel !== undefined) assert.is(calls.indexOf(cancel), calls.length - 1, 'the cancel is the last call');
      }
    } catch (err) {
      console.error(`watch hub randomized run failed with seed ${seed}`);
      throw err;
    }
  }
  assert.ok(installs > 100, `only ${installs} snapshot installs`);
  assert.ok(compactedCancels > 10, `only ${compactedCancels} watchers cancelled by a snapshot's compaction`);
});

t.run();
