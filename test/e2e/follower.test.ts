// A follower-reader (what a browser tab runs) against real peer processes, driven from Node with
// the ws dialer and an in-memory store: it joins with a learner token as an observer, follows
// writes, answers linearizable reads that see every write completed before them, emits change
// events, cannot write with a learner token (a client-token replica can), and follows a new leader after the old one dies.
// In a --mode parallel cluster it learns the mode from the members and runs ParallelRaft as an
// observer (fed by the leader, or relayed by a follower), with the same reads and watches.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { RevisionEvents } from '../../src/core/kv/history.ts';
import { userKey } from '../../src/core/kv/keys.ts';
import type { LogRules } from '../../src/core/store/log-rules.ts';
import { MemoryBacking, MemoryStore } from '../../src/core/store/memory-store.ts';
import { joinAsFollower, type FollowerReplica } from '../../src/runtime-browser/follower.ts';
import { dialWs } from '../../src/runtime-node/ws-socket.ts';
import { waitFor, withCluster } from './cluster.ts';

const test = suite('follower');

test('a follower-reader joins as an observer, reads linearizably, gets change events, and follows leader changes', async () => {
  await withCluster({ size: 3, tickMs: 20, name: 'follower' }, async (c) => {
    const admin = await c.client();
    await admin.put('a/before', 'old');
    const token = await c.token('learner');
    const replica = await joinAsFollower({ peers: c.ids.map((id) => c.url(id)), token, dial: dialWs, store: new MemoryStore(), tickMs: 20, leaderCheckMs: 200 });
    try {
      const seen: string[] = [];
      replica.subscribe('a/', (key, value) => seen.push(`${key}=${String(value)}`));
      await waitFor(async () => (await replica.get('a/before', { consistency: 'stale' })) === 'old', 'the replica to catch up', 10_000);
      // Linearizable: a read that starts after a completed write sees it.
      for (let i = 0; i < 20; i++) {
        await admin.put('a/k', `v${i}`);
        const r = await replica.getWithMeta('a/k');
        assert.equal([r.value, r.path], [`v${i}`, 'follower']);
      }
      assert.ok(seen.includes('a/k=v19'), 'change events arrive as entries apply');
      // The leader tracks it as an observer, outside the configuration.
      const leader = await c.leader();
      const members = (await admin.members('list')) as { members: Array<{ id: string }> };
      assert.not.ok(members.members.some((m) => m.id === replica.id), 'the replica is not a member');
      const st = await admin.status();
      assert.is(st.id, leader);
      // A learner token cannot write.
      const err = await replica.put('a/x', 'no').catch((e: { code: string }) => e);
      assert.is((err as { code: string }).code, 'ERR_FORBIDDEN');
      // A replica holding a client token writes through its SDK connection and reads its write back.
      const writer = await joinAsFollower({ peers: c.ids.map((id) => c.url(id)), token: await c.token('client'), dial: dialWs, store: new MemoryStore(), tickMs: 20 });
      try {
        await writer.put('a/w', 'by-client-replica');
        assert.is(await writer.get('a/w'), 'by-client-replica');
        assert.is(await replica.get('a/w'), 'by-client-replica');
      } finally {
        await writer.close();
      }
      // The leader dies: the replica follows the new one.
      await c.kill(leader);
      await waitFor(async () => { const l = await c.leader(); return l !== leader; }, 'a new leader', 15_000);
      await admin.put('a/after', 'new');
      await waitFor(async () => (await replica.get('a/after')) === 'new', 'the replica to follow the new leader', 15_000);
      assert.is(replica.status().leader !== leader, true);
      assert.ok(replica.status().applied > 0);
    } finally {
      await replica.close();
      await admin.close();
    }
  });
});

test('subscribe resumes from a revision: a closed replica reopened on its store misses nothing and repeats nothing', async () => {
  await withCluster({ size: 1, tickMs: 20, name: 'follower-resume' }, async (c) => {
    const admin = await c.client();
    const token = await c.token('learner');
    const backing = new MemoryBacking();
    const peers = c.ids.map((id) => c.url(id));
    const first = await joinAsFollower({ peers, token, dial: dialWs, store: new MemoryStore(backing), tickMs: 20, leaderCheckMs: 200 });
    const seen: Array<[number, string]> = [];
    let last = 0;
    try {
      first.subscribe('r/', (key, value, rev) => {
        seen.push([rev, `${String(key)}=${String(value)}`]);
        last = rev;
      });
      for (let i = 0; i < 5; i++) await admin.put(`r/${i}`, `a${i}`);
      await admin.delete('r/0');
      await waitFor(() => seen.length === 6, 'six events on the first replica', 10_000);
    } finally {
      await first.close();
    }
    // Written while no replica runs: the reopened one replays them from its history.
    for (let i = 0; i < 3; i++) await admin.put(`r/${i}`, `b${i}`);
    await admin.put('other', 'x');
    const second = await joinAsFollower({ peers, token, dial: dialWs, store: new MemoryStore(backing), tickMs: 20, leaderCheckMs: 200 });
    try {
      const more: Array<[number, string]> = [];
      let progressed = 0;
      second.subscribe('r/', (key, value, rev) => more.push([rev, `${String(key)}=${String(value)}`]), { fromRevision: last + 1, onProgress: (r) => { progressed = r; } });
      await waitFor(() => more.length === 3, 'the three writes made while it was closed', 10_000);
      assert.equal(more.map(([, e]) => e), ['r/0=b0', 'r/1=b1', 'r/2=b2']);
      const revs = [...seen, ...more].map(([r]) => r);
      assert.equal(revs, [...revs].sort((a, b) => a - b), 'in revision order');
      assert.is(new Set(revs).size, revs.length, 'no revision twice');
      assert.ok(more[0]![0] > last, 'nothing before the resume point is repeated');
      await waitFor(() => progressed >= second.revision && progressed > more[2]![0], 'a progress notice with the current revision', 5_000);
    } finally {
      await second.close();
      await admin.close();
    }
  });
});

/** A store that keeps whatever log rules the cluster's mode asks for (the replica says which). */
const memoryStoreFor = ({ logRules }: { logRules: LogRules }): MemoryStore => new MemoryStore(new MemoryBacking({ rules: logRules }));

/** What a replica's watch of a prefix delivers: each event as `key=value` (`key=-`: deleted), each batch's revision. */
function recordWatch(replica: FollowerReplica, prefix: string): { events: string[]; revisions: number[] } {
  const out = { events: [] as string[], revisions: [] as number[] };
  replica.watch({ prefix }, (batch: RevisionEvents) => {
    out.revisions.push(batch.revision);
    for (const e of batch.events) out.events.push(`${userKey(e.kv.key)}=${e.type === 'put' ? String(e.kv.value) : '-'}`);
  });
  return out;
}

test('in a --mode parallel cluster follower-readers (from the leader, and relayed) read, watch and follow a leader change', async () => {
  await withCluster({ size: 3, tickMs: 20, name: 'follower-parallel', extraArgs: ['--mode', 'parallel'] }, async (c) => {
    const admin = await c.client();
    // Independent writers: entries commit and apply out of order on the members.
    await Promise.all(Array.from({ length: 40 }, (_, i) => admin.put(`p/${i}`, `v${i}`)));
    const peers = c.ids.map((id) => c.url(id));
    const options = { peers, dial: dialWs, store: memoryStoreFor, tickMs: 20, leaderCheckMs: 200 };
    // Two subjects (token roles name them): one follows the leader, one a relaying follower.
    const direct = await joinAsFollower({ ...options, token: await c.token('learner') });
    const relayed = await joinAsFollower({ ...options, token: await c.token('reader'), serveFrom: 'follower' });
    const replicas = [direct, relayed];
    try {
      for (const r of replicas) assert.is(r.status().mode, 'parallel', 'the replica learned the mode from the members');
      const watched = replicas.map((r) => recordWatch(r, 'p/'));
      for (const r of replicas) await waitFor(async () => (await r.get('p/39', { consistency: 'stale' })) === 'v39', `${r.id} to catch up`, 10_000);
      const leader = await c.leader();
      await waitFor(() => { const s = relayed.status().source; return s !== null && s !== leader; }, 'a follower to relay to the second replica', 10_000);
      // Linearizable reads see every completed write, from either replica.
      for (let i = 0; i < 10; i++) {
        await admin.put('p/k', `w${i}`);
        for (const r of replicas) {
          const got = await r.getWithMeta('p/k');
          assert.equal([got.value, got.path], [`w${i}`, 'follower'], `${r.id} read ${i}`);
        }
      }
      // The leader dies: a new one runs its Merge stage; both replicas follow it.
      await c.kill(leader);
      await waitFor(async () => (await c.leader()) !== leader, 'a new leader', 15_000);
      await Promise.all(Array.from({ length: 20 }, (_, i) => admin.put(`p/${i}`, `after${i}`)));
      await admin.put('p/k', 'after');
      for (const r of replicas) {
        assert.is(await r.get('p/k'), 'after', `${r.id} reads the write made under the new leader`);
        for (const i of [0, 7, 19, 25]) assert.is(await r.get(`p/${i}`), i < 20 ? `after${i}` : `v${i}`, `${r.id} p/${i}`);
      }
      for (const r of replicas) await waitFor(() => r.status().leader !== leader, `${r.id} to name the new leader`, 10_000);
      // Watches: every change once, in revision order, each key's writes in the order they were made.
      for (const [k, w] of watched.entries()) {
        await waitFor(() => w.events.includes('p/k=after'), `${replicas[k]!.id}'s watch to see the last write`, 10_000);
        assert.equal(w.revisions, [...w.revisions].sort((a, b) => a - b), 'revisions in order');
        assert.is(new Set(w.revisions).size, w.revisions.length, 'no revision twice');
        assert.equal(w.events.filter((e) => e.startsWith('p/k=')), [...Array.from({ length: 10 }, (_, i) => `p/k=w${i}`), 'p/k=after']);
        assert.is(w.events.filter((e) => e.startsWith('p/7=')).at(-1), 'p/7=after7', 'a key written by many writers at once ends with its last write');
      }
    } finally {
      for (const r of replicas) await r.close();
      await admin.close();
    }
  });
});

test.run();
