// The follower-reader's choice of source, driven by a fake clock: which member a replica follows,
// when a silent one is dropped, how long it is left alone, and that replicas spread out.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SeededPrng } from '../../src/core/prng.ts';
import { SourcePolicy, hashOf, type ClusterView } from '../../src/runtime-browser/source-policy.ts';

const view: ClusterView = {
  leader: { id: 'n1', url: 'ws://h:1' },
  followers: [{ id: 'n3', url: 'ws://h:3' }, { id: 'n2', url: 'ws://h:2' }],
};

function policy(o: { self?: string; serveFrom?: 'leader' | 'follower'; notFollowedMs?: number } = {}) {
  const clock = { t: 1000 };
  const p = new SourcePolicy({
    self: o.self ?? 'tab-a', serveFrom: o.serveFrom ?? 'leader', notFollowedMs: o.notFollowedMs ?? 3000,
    now: () => clock.t, prng: new SeededPrng(7),
  });
  return { p, clock };
}

test('serveFrom leader: the leader, and nobody else', () => {
  const { p } = policy();
  assert.equal(p.choose(view)?.id, 'n1');
});

test('serveFrom follower: a follower picked by the subject, the same on every ask; the leader is the last resort', () => {
  const picks = new Set<string>();
  for (const self of ['tab-a', 'tab-b', 'tab-c', 'tab-d', 'tab-e', 'tab-f']) {
    const { p } = policy({ self, serveFrom: 'follower' });
    const first = p.choose(view)!.id;
    assert.equal(p.choose(view)!.id, first, 'stable for one subject');
    assert.ok(first === 'n2' || first === 'n3', `a follower, got ${first}`);
    assert.is(first, ['n2', 'n3'][hashOf(self) % 2], 'sorted followers, turn by hash');
    picks.add(first);
  }
  assert.equal(picks.size, 2, 'six subjects spread over both followers');
  const { p } = policy({ serveFrom: 'follower' });
  assert.equal(p.choose({ leader: view.leader, followers: [] })?.id, 'n1');
});

test('a source silent for notFollowedMs is dropped and left alone for a backoff; then tried again', () => {
  const { p, clock } = policy({ notFollowedMs: 3000 });
  p.linkedTo('n1');
  clock.t += 2999;
  assert.is(p.checkSilence(), null, 'not silent long enough');
  clock.t += 1;
  const s = p.checkSilence();
  assert.ok(s !== null);
  assert.is(s.source, 'n1');
  assert.is(s.silentMs, 3000);
  assert.ok(s.waitMs >= 500 && s.waitMs <= 10_000, `backoff within bounds, got ${s.waitMs}`);
  p.unlinked();
  assert.is(p.choose(view), null, 'the only candidate is left alone');
  clock.t += s.waitMs;
  assert.is(p.choose(view)?.id, 'n1', 'tried again once the wait is over');
});

test('hearing from the source, or its link coming up, restarts the silence clock; another member does not', () => {
  const { p, clock } = policy({ notFollowedMs: 3000 });
  p.linkedTo('n1');
  clock.t += 2000;
  assert.is(p.heard('n2'), false);
  p.linkUp('n2');
  clock.t += 1500;
  assert.ok(p.checkSilence() !== null, 'n2 did not count');
  const q = policy({ notFollowedMs: 3000 });
  q.p.linkedTo('n1');
  q.clock.t += 2000;
  assert.is(q.p.heard('n1'), true);
  assert.ok(q.p.following());
  q.clock.t += 2999;
  assert.is(q.p.checkSilence(), null);
  assert.ok(q.p.following());
  q.clock.t += 1;
  assert.not.ok(q.p.following());
});

test('a serving source is kept even when the ranking would pick another', () => {
  const { p } = policy({ serveFrom: 'follower' });
  const first = p.choose(view)!;
  const other = first.id === 'n2' ? 'n3' : 'n2';
  p.linkedTo(other);
  p.heard(other);
  assert.is(p.choose(view)?.id, other, 'kept while it serves');
  p.unlinked();
  assert.is(p.choose(view)?.id, first.id, 'back to the ranking once unlinked');
});

test('repeated silence backs off further (with jitter) and a heard source resets it; forgive() clears every wait', () => {
  const { p, clock } = policy({ notFollowedMs: 100 });
  const waits: number[] = [];
  for (let i = 0; i < 4; i++) {
    p.linkedTo('n1');
    clock.t += 100;
    waits.push(p.checkSilence()!.waitMs);
    p.unlinked();
  }
  assert.ok(waits[3]! > waits[0]!, `backoff grows: ${waits.join(', ')}`);
  p.forgive();
  assert.is(p.choose(view)?.id, 'n1');
  p.linkedTo('n1');
  p.heard('n1');
  clock.t += 100;
  const again = p.checkSilence()!.waitMs;
  assert.ok(again <= waits[1]!, `reset after a heard message: ${again} vs ${waits.join(', ')}`);
});

test.run();
