// The coordination primitives as a Node peer serves them over a real connection: transactions,
// range deletes, leases (grant, attach, keep alive, revoke, expire), watches (history, live
// events, progress, compaction, per-connection limits, disconnects), on one voter and on a
// 3-member cluster (keep-alives only at the leader, watches on a follower). Requests are encoded
// by hand (encodeRequest/decodeResponse), so the SDK is not involved.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Response } from '../../src/client/protocol.ts';
import type { KeyValue } from '../../src/core/kv/machine.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nodeFlags, parse, UsageError } from '../../src/runtime-node/cli-args.ts';
import { freePorts } from '../../src/runtime-node/local-probe.ts';
import { Peer } from '../../src/runtime-node/peer.ts';
import { peerKvFlagSpec, peerKvHelp, peerKvLimits } from '../../src/server/peer-flags.ts';
import { leaseTtlMaxDefaultMs, PeerOptionError, resolvePeerOptions } from '../../src/server/peer-options.ts';
import { failed, metric, ok, RawClient, sleep, status, TestCluster, until } from './kv-harness.ts';

const kvOf = (r: Response, key: string): KeyValue | undefined => ok(r, 'range').kvs.find((kv) => kv.key === key);

// ---- one voter -------------------------------------------------------------------------------

interface One {
  c: TestCluster;
  kv: RawClient;
}

const one = suite<One>('one voter');
// tickMs 10, electionTicks 10 (default): an election timeout is 100 ms, the shortest TTL 150 ms.
one.before(async (ctx) => {
  ctx.c = await TestCluster.start(1, { tickMs: 10, watchProgressMs: 50, watchersPerConnectionMax: 3, watchersMax: 5, leasesMax: 6 });
  ctx.kv = await RawClient.open(ctx.c.peers[0]!);
});
one.after(async (ctx) => {
  ctx.kv.close();
  await ctx.c.close();
});

one('txn: the success branch runs when every compare holds, the failure branch otherwise, each op answering', async ({ kv }) => {
  const a = ok(await kv.call({ op: 'put', key: 't/a', value: '1', lease: 0, session: null }), 'write').index;
  const t1 = ok(await kv.call({
    op: 'txn', session: null,
    compare: [{ key: 't/a', target: 'value', op: '=', value: '1' }, { key: 't/a', target: 'version', op: '=', value: 1 }, { key: 't/b', target: 'createRevision', op: '=', value: 0 }],
    success: [{ op: 'put', key: 't/b', value: '2' }, { op: 'get', key: 't/a' }, { op: 'range', start: 't/', end: 't0', limit: 10 }],
    failure: [{ op: 'put', key: 't/failed', value: 'x' }],
  }), 'txn');
  assert.ok(t1.succeeded, 'every compare held');
  assert.ok(t1.index > a);
  const aKv = { key: 't/a', value: '1', createRevision: a, modRevision: a, version: 1, lease: 0 };
  const bKv = { key: 't/b', value: '2', createRevision: t1.index, modRevision: t1.index, version: 1, lease: 0 };
  assert.equal(t1.results, [{ op: 'put' }, { op: 'get', kv: aKv }, { op: 'range', kvs: [aKv, bKv], more: false }], 'the range sees the put before it');

  const t2 = ok(await kv.call({
    op: 'txn', session: null,
    compare: [{ key: 't/a', target: 'modRevision', op: '>', value: a }],
    success: [{ op: 'delete', key: 't/a' }],
    failure: [{ op: 'put', key: 't/c', value: '3' }, { op: 'delete', key: 't/b' }, { op: 'range', start: 't/', end: 't0', limit: 1 }],
  }), 'txn');
  assert.not.ok(t2.succeeded, `t/a's modRevision is ${a}, not above it`);
  assert.equal(t2.results, [{ op: 'put' }, { op: 'delete', deleted: 1 }, { op: 'range', kvs: [aKv], more: true }]);
  const all = ok(await kv.call({ op: 'range', start: 't/', end: 't0', limit: null, consistency: 'linearizable' }), 'range');
  assert.equal(all.kvs.map((x) => [x.key, x.value, x.modRevision]), [['t/a', '1', a], ['t/c', '3', t2.index]], 'the failure branch ran, the success branch did not');
  assert.ok(all.index >= t2.index, 'the range reply carries the revision it was served at');
});

one('txn: a key written twice in one branch, or a reserved key, is refused and nothing is written', async ({ kv }) => {
  const dup = [
    { success: [{ op: 'put' as const, key: 'd/k', value: '1' }, { op: 'put' as const, key: 'd/k', value: '2' }], failure: [] },
    { success: [], failure: [{ op: 'put' as const, key: 'd/k', value: '1' }, { op: 'delete' as const, key: 'd/k' }] },
    { success: [{ op: 'deleteRange' as const, start: 'd/', end: 'd0' }, { op: 'put' as const, key: 'd/k', value: '1' }], failure: [] },
  ];
  for (const branches of dup) {
    const e = failed(await kv.call({ op: 'txn', session: null, compare: [], ...branches }));
    assert.is(e.code, 'ERR_BAD_REQUEST');
    assert.match(e.message, /duplicate key given in txn request/);
    assert.match(e.message, /"d\/k"/, 'the message names the key');
  }
  // The same key in different branches, or deleted twice, is fine (etcd's rule).
  const fine = ok(await kv.call({
    op: 'txn', session: null, compare: [],
    success: [{ op: 'delete', key: 'd/x' }, { op: 'deleteRange', start: 'd/', end: 'd0' }],
    failure: [{ op: 'put', key: 'd/k', value: 'no' }],
  }), 'txn');
  assert.ok(fine.succeeded);
  const reserved = failed(await kv.call({ op: 'txn', session: null, compare: [], success: [{ op: 'put', key: '\u0000member:evil', value: 'ws://x:1' }], failure: [] }));
  assert.is(reserved.code, 'ERR_BAD_REQUEST');
  assert.match(reserved.message, /reserved/);
  const range = ok(await kv.call({ op: 'range', start: 'd/', end: 'd0', limit: null, consistency: 'linearizable' }), 'range');
  assert.equal(range.kvs, [], 'no refused txn wrote anything');
});

one('deleteRange: deletes [start, end) and says how many; a reserved start is refused', async ({ kv }) => {
  for (const k of ['r/1', 'r/2', 'r/3', 'r0', 's']) ok(await kv.call({ op: 'put', key: k, value: k, lease: 0, session: null }), 'write');
  const d = ok(await kv.call({ op: 'deleteRange', start: 'r/', end: 'r0', session: null }), 'deleted');
  assert.is(d.deleted, 3);
  const again = ok(await kv.call({ op: 'deleteRange', start: 'r/', end: 'r0', session: null }), 'deleted');
  assert.is(again.deleted, 0);
  assert.ok(again.index > d.index);
  const left = ok(await kv.call({ op: 'range', start: 'r', end: 't', limit: null, consistency: 'stale' }), 'range');
  assert.equal(left.kvs.map((x) => x.key), ['r0', 's']);
  const e = failed(await kv.call({ op: 'deleteRange', start: '\u0000', end: 'a', session: null }));
  assert.is(e.code, 'ERR_BAD_REQUEST');
  assert.match(e.message, /reserved/);
  const one2 = ok(await kv.call({ op: 'deleteRange', start: 's', end: null, session: null }), 'deleted');
  assert.ok(one2.deleted >= 1, 'an open-ended range reaches the last key');
});

one('leases: grant, attach a key, info, revoke deletes the key; a gone lease is refused everywhere', async ({ kv, c }) => {
  const g = ok(await kv.call({ op: 'leaseGrant', ttlMs: 5000, lease: 0, session: null }), 'lease');
  assert.is(g.ttlMs, 5000);
  assert.is(g.lease, g.index, 'an id the cluster picks is the grant entry\'s index');
  const put = ok(await kv.call({ op: 'put', key: 'l/k', value: 'v', lease: g.lease, session: null }), 'write');
  assert.is(kvOf(await kv.call({ op: 'range', start: 'l/', end: 'l0', limit: null, consistency: 'linearizable' }), 'l/k')?.lease, g.lease);
  const info = ok(await kv.call({ op: 'leaseInfo', lease: g.lease, consistency: 'linearizable' }), 'leaseInfo');
  assert.equal([info.lease, info.ttlMs, info.keys], [g.lease, 5000, ['l/k']]);
  assert.ok(info.remainingMs !== null && info.remainingMs > 4000 && info.remainingMs <= 5500, `the leader knows the time left: ${info.remainingMs}`);
  assert.ok(info.index >= put.index);
  assert.is((await status(kv)).leases, 1);
  assert.is(await metric(c.peers[0]!, 'edgeraft_leases'), 1);

  const r = ok(await kv.call({ op: 'leaseRevoke', lease: g.lease, session: null }), 'deleted');
  assert.is(r.deleted, 1);
  assert.is(ok(await kv.call({ op: 'get', key: 'l/k', consistency: 'linearizable' }), 'read').value, null, 'revoking deleted the key');
  for (const req of [
    { op: 'leaseInfo', lease: g.lease, consistency: 'linearizable' },
    { op: 'leaseKeepAlive', lease: g.lease },
    { op: 'leaseRevoke', lease: g.lease, session: null },
    { op: 'put', key: 'l/k', value: 'v', lease: g.lease, session: null },
  ] as const) {
    const e = failed(await kv.call(req));
    assert.is(e.code, 'ERR_LEASE_NOT_FOUND', `${req.op}: ${e.message}`);
    assert.match(e.message, new RegExp(`lease ${g.lease}`));
  }
  assert.is(ok(await kv.call({ op: 'get', key: 'l/k', consistency: 'linearizable' }), 'read').value, null, 'the refused put wrote nothing');
  assert.is((await status(kv)).leases, 0);
});

one('leases: a TTL out of [min, max] and a grant past leasesMax are refused', async ({ kv }) => {
  // min = 1.5 x (10 ticks x 10 ms) = 150 ms; max = 7 days.
  for (const ttlMs of [149, 1, leaseTtlMaxDefaultMs + 1]) {
    const e = failed(await kv.call({ op: 'leaseGrant', ttlMs, lease: 0, session: null }));
    assert.is(e.code, 'ERR_BAD_REQUEST', `ttl ${ttlMs}`);
    assert.match(e.message, `lease TTL ${ttlMs} ms is out of range: it must be in [150, ${leaseTtlMaxDefaultMs}] ms`);
  }
  const shortest = ok(await kv.call({ op: 'leaseGrant', ttlMs: 150, lease: 0, session: null }), 'lease');
  assert.is(shortest.ttlMs, 150, 'the minimum itself is allowed');
  ok(await kv.call({ op: 'leaseRevoke', lease: shortest.lease, session: null }), 'deleted');
  const have = (await status(kv)).leases as number;
  const ids: number[] = [];
  for (let i = have; i < 6; i++) ids.push(ok(await kv.call({ op: 'leaseGrant', ttlMs: 60_000, lease: 0, session: null }), 'lease').lease);
  const e = failed(await kv.call({ op: 'leaseGrant', ttlMs: 60_000, lease: 0, session: null }));
  assert.is(e.code, 'ERR_LEASE_LIMIT');
  assert.match(e.message, /6 leases exist already/);
  for (const id of ids) ok(await kv.call({ op: 'leaseRevoke', lease: id, session: null }), 'deleted');
  // A lease id of our choosing; one in use is refused by the machine.
  const exists = ok(await kv.call({ op: 'leaseGrant', ttlMs: 60_000, lease: 777_000, session: null }), 'lease');
  assert.is(exists.lease, 777_000);
  const dup = failed(await kv.call({ op: 'leaseGrant', ttlMs: 60_000, lease: 777_000, session: null }));
  assert.is(dup.code, 'ERR_LEASE_EXISTS');
  ok(await kv.call({ op: 'leaseRevoke', lease: 777_000, session: null }), 'deleted');
});

one('leases: one not kept alive expires after its TTL with its key; a kept-alive one outlives its TTL', async ({ kv, c }) => {
  const peer = c.peers[0]!;
  const expiriesBefore = (await metric(peer, 'edgeraft_lease_expiries_proposed_total')) ?? 0;
  const sent = Date.now();
  const [gone, kept] = await Promise.all([300, 300].map(async (ttlMs) => ok(await kv.call({ op: 'leaseGrant', ttlMs, lease: 0, session: null }), 'lease').lease));
  ok(await kv.call({ op: 'put', key: 'x/gone', value: '1', lease: gone!, session: null }), 'write');
  ok(await kv.call({ op: 'put', key: 'x/kept', value: '1', lease: kept!, session: null }), 'write');
  let keepAlives = 0;
  let renewing = true;
  const renew = (async () => {
    while (renewing) {
      const r = ok(await kv.call({ op: 'leaseKeepAlive', lease: kept! }), 'lease');
      assert.is(r.ttlMs, 300);
      keepAlives++;
      await sleep(60);
    }
  })();
  await until(async () => ok(await kv.call({ op: 'get', key: 'x/gone', consistency: 'linearizable' }), 'read').value === null, 'x/gone to expire', 3000);
  const goneAfter = Date.now() - sent;
  assert.ok(goneAfter >= 300, `deleted ${goneAfter} ms after the grant was sent, before its TTL (300 ms)`);
  assert.is(failed(await kv.call({ op: 'leaseInfo', lease: gone!, consistency: 'linearizable' })).code, 'ERR_LEASE_NOT_FOUND');
  await sleep(Math.max(0, 900 - (Date.now() - sent)));
  assert.is(ok(await kv.call({ op: 'get', key: 'x/kept', consistency: 'linearizable' }), 'read').value, '1', 'kept alive past 3 TTLs');
  renewing = false;
  await renew;
  assert.ok(keepAlives >= 8, `${keepAlives} keep-alives`);
  await until(async () => ok(await kv.call({ op: 'get', key: 'x/kept', consistency: 'linearizable' }), 'read').value === null, 'x/kept to expire once not renewed', 3000);
  assert.ok((await metric(peer, 'edgeraft_lease_expiries_proposed_total'))! - expiriesBefore >= 2, 'both expiries proposed by this leader');
  assert.ok((await metric(peer, 'edgeraft_lease_keepalives_total'))! >= keepAlives);
});

one('watch: from revision 1 it replays the history, then live events, then progress notices while idle', async ({ c }) => {
  const kv = await RawClient.open(c.peers[0]!);
  try {
    const i1 = ok(await kv.call({ op: 'put', key: 'w/1', value: 'one', lease: 0, session: null }), 'write').index;
    const i2 = ok(await kv.call({ op: 'put', key: 'w/2', value: 'two', lease: 0, session: null }), 'write').index;
    const i3 = ok(await kv.call({ op: 'delete', key: 'w/1', session: null }), 'write').index;
    ok(await kv.call({ op: 'put', key: 'other', value: 'x', lease: 0, session: null }), 'write');
    const id = kv.watch({ op: 'watch', start: 'w/', end: 'w0', fromRevision: 1, prevValue: true });
    const stream = kv.streams.get(id)!;
    const events = () => stream.flatMap((m) => ok(m, 'watch').batches.flatMap((b) => b.events.map((e) => ({ rev: b.revision, type: e.type, key: e.kv.key, value: e.kv.value, prev: e.prev?.value ?? null }))));
    await until(() => events().length >= 3, 'the history');
    assert.equal(events(), [
      { rev: i1, type: 'put', key: 'w/1', value: 'one', prev: null },
      { rev: i2, type: 'put', key: 'w/2', value: 'two', prev: null },
      { rev: i3, type: 'delete', key: 'w/1', value: '', prev: 'one' },
    ]);
    const i4 = ok(await kv.call({ op: 'put', key: 'w/2', value: 'deux', lease: 0, session: null }), 'write').index;
    await until(() => events().length >= 4, 'the live event');
    assert.equal(events()[3], { rev: i4, type: 'put', key: 'w/2', value: 'deux', prev: 'two' });
    const revisions = stream.map((m) => ok(m, 'watch').revision);
    assert.equal(revisions, [...revisions].sort((a, b) => a - b), 'revisions never go back');
    // Idle: progress notices (no events) at the current revision, every watchProgressMs (50).
    const seen = stream.length;
    await until(() => stream.slice(seen).some((m) => ok(m, 'watch').batches.length === 0), 'a progress notice', 2000);
    const progress = stream.slice(seen).find((m) => ok(m, 'watch').batches.length === 0)!;
    assert.is(ok(progress, 'watch').revision, c.peers[0]!.machine.revision);
    assert.ok(ok(progress, 'watch').revision >= i4);
    assert.is(await metric(c.peers[0]!, 'edgeraft_watchers'), 1);
    assert.ok((await metric(c.peers[0]!, 'edgeraft_watch_events_sent_total'))! >= 4);

    // A watch from now is confirmed at once by an empty message at the current revision.
    const now = kv.watch({ op: 'watch', start: 'w/2', end: 'w/2\u0000', fromRevision: 0, prevValue: false });
    await until(() => kv.streams.get(now)!.length >= 1, 'the confirmation');
    const first = ok(kv.streams.get(now)![0]!, 'watch');
    assert.equal(first.batches, []);
    assert.ok(first.revision >= i4);

    // Cancelled: nothing more arrives on the stream.
    assert.equal(ok(await kv.call({ op: 'watchCancel', watch: id }), 'info').info, { watch: id, cancelled: true });
    assert.equal(ok(await kv.call({ op: 'watchCancel', watch: id }), 'info').info, { watch: id, cancelled: false }, 'once');
    const after = stream.length;
    const i5 = ok(await kv.call({ op: 'put', key: 'w/2', value: 'drei', lease: 0, session: null }), 'write').index;
    await until(() => kv.streams.get(now)!.some((m) => ok(m, 'watch').batches.some((b) => b.revision === i5)), 'the one-key watch to see it');
    const last = ok(kv.streams.get(now)!.at(-1)!, 'watch').batches.at(-1)!;
    assert.equal(last.events.map((e) => [e.type, e.kv.value, e.prev]), [['put', 'drei', null]], 'prevValue false: no previous value');
    await sleep(150);
    assert.is(stream.length, after, 'the cancelled watch got nothing more');
    assert.ok(await metric(c.peers[0]!, 'edgeraft_watch_cancelled_total{reason="client"}') === 1);
  } finally {
    kv.close();
  }
});

one('watch: from a compacted revision it fails with ERR_COMPACTED and the compaction revision', async ({ kv, c }) => {
  const i = ok(await kv.call({ op: 'put', key: 'cmp/a', value: '1', lease: 0, session: null }), 'write').index;
  const i2 = ok(await kv.call({ op: 'put', key: 'cmp/a', value: '2', lease: 0, session: null }), 'write').index;
  const cp = ok(await kv.call({ op: 'compact', revision: i }), 'compact');
  assert.is(cp.compactRevision, i);
  const id = kv.watch({ op: 'watch', start: 'cmp/', end: 'cmp0', fromRevision: i, prevValue: false });
  await until(() => kv.streams.get(id)!.length > 0, 'the answer');
  const e = failed(kv.streams.get(id)![0]!);
  assert.is(e.code, 'ERR_COMPACTED');
  assert.is(e.detail?.compactRevision, i);
  assert.match(e.message, `revision ${i} was compacted`);
  const resumed = kv.watch({ op: 'watch', start: 'cmp/', end: 'cmp0', fromRevision: i + 1, prevValue: false });
  await until(() => kv.streams.get(resumed)!.length > 0, 'the history after the compaction');
  const got = ok(kv.streams.get(resumed)![0]!, 'watch');
  assert.equal(got.batches.map((b) => [b.revision, b.events[0]!.kv.value]), [[i2, '2']]);
  assert.ok(ok(await kv.call({ op: 'watchCancel', watch: resumed }), 'info'));
  assert.is((await status(kv)).compactRevision, i);
  assert.is(await metric(c.peers[0]!, 'edgeraft_compact_revision'), i);
  const tooFar = failed(await kv.call({ op: 'compact', revision: 1_000_000 }));
  assert.is(tooFar.code, 'ERR_BAD_REQUEST');
  const reader = await RawClient.open(c.peers[0]!, 'client');
  assert.is(failed(await reader.call({ op: 'compact', revision: 1 })).code, 'ERR_FORBIDDEN', 'compaction is an admin request');
  reader.close();
});

one('watch: at most watchersPerConnectionMax per connection, watchersMax per member; a closed connection\'s watchers are removed', async ({ c }) => {
  const peer = c.peers[0]!;
  const a = await RawClient.open(peer);
  const b = await RawClient.open(peer);
  const before = peer.watches.size;
  assert.is(before, 0, 'the earlier tests\' watchers are gone');
  const ids = [1, 2, 3].map((i) => a.watch({ op: 'watch', start: `lim/${i}`, end: null, fromRevision: 0, prevValue: false }));
  for (const id of ids) await until(() => a.streams.get(id)!.length > 0, `watch ${id} confirmed`);
  for (const id of ids) assert.ok(a.streams.get(id)![0]!.ok);
  const fourth = a.watch({ op: 'watch', start: 'lim/4', end: null, fromRevision: 0, prevValue: false });
  await until(() => a.streams.get(fourth)!.length > 0, 'the refusal');
  const e = failed(a.streams.get(fourth)![0]!);
  assert.is(e.code, 'ERR_WATCH_LIMIT');
  assert.match(e.message, /holds 3 watchers already/);
  const other = b.watch({ op: 'watch', start: 'lim/', end: 'lim0', fromRevision: 0, prevValue: false });
  await until(() => b.streams.get(other)!.length > 0, 'another connection may still watch');
  assert.ok(b.streams.get(other)![0]!.ok);
  // b may not cancel a's watches (a's third watch has an id b never used).
  assert.equal(ok(await b.call({ op: 'watchCancel', watch: ids[2]! }), 'info').info, { watch: ids[2], cancelled: false });
  assert.is(peer.watches.size, before + 4);
  const third = await RawClient.open(peer);
  const fifth = await third.call({ op: 'watch', start: 'lim/5', end: null, fromRevision: 0, prevValue: false });
  assert.ok(fifth.ok, 'the fifth watcher of the member');
  const sixth = failed(await third.call({ op: 'watch', start: 'lim/6', end: null, fromRevision: 0, prevValue: false }));
  assert.is(sixth.code, 'ERR_WATCH_LIMIT');
  assert.match(sixth.message, /serves 5 watchers already/);
  third.close();
  await until(() => peer.watches.size === before + 4, 'the third connection\'s watcher removed');
  const empty = failed(await b.call({ op: 'watch', start: 'z', end: 'a', fromRevision: 0, prevValue: false }));
  assert.is(empty.code, 'ERR_BAD_REQUEST');
  assert.match(empty.message, /is empty/);

  const disconnected = (await metric(peer, 'edgeraft_watch_cancelled_total{reason="disconnected"}')) ?? 0;
  a.close();
  await until(() => peer.watches.size === before + 1, 'a\'s watchers removed');
  assert.is((await status(b)).watchers, before + 1);
  assert.is(await metric(peer, 'edgeraft_watchers'), before + 1);
  assert.is(await metric(peer, 'edgeraft_watch_cancelled_total{reason="disconnected"}'), disconnected + 3);
  b.close();
  await until(() => peer.watches.size === before, 'b\'s watcher removed');
  assert.is(await metric(peer, 'edgeraft_watchers'), before);
});

one('status reports revision, compactRevision, leases and watchers', async ({ kv, c }) => {
  const st = await status(kv);
  assert.is(st.revision, c.peers[0]!.machine.revision);
  assert.ok((st.revision as number) > 10);
  assert.type(st.compactRevision, 'number');
  assert.is(st.leases, c.peers[0]!.machine.leaseCount);
  assert.is(st.watchers, c.peers[0]!.watches.size);
});

one.run();

// ---- options and flags -----------------------------------------------------------------------

const opts = suite('lease and watch options');
const base = { id: 'n1', port: 0, peers: { n1: 'ws://127.0.0.1:7001' }, dataDir: '/tmp/none', insecure: true } as const;

opts('defaults: the shortest TTL is 1.5 election timeouts, rounded up; the rest are named constants', () => {
  const d = resolvePeerOptions(base);
  assert.equal([d.leaseTtlMinMs, d.leaseTtlMaxMs, d.leasesMax, d.watchersMax, d.watchersPerConnectionMax, d.watchProgressMs, d.historyEventsMax, d.historyBytesMax],
    [750, 7 * 86_400_000, 100_000, 10_000, 1000, 1000, 10_000, 8 * 1024 * 1024]);
  assert.is(resolvePeerOptions({ ...base, tickMs: 7, raft: { electionTicks: 3 } }).leaseTtlMinMs, 32, '1.5 x 21 = 31.5, rounded up');
  assert.is(resolvePeerOptions({ ...base, leaseTtlMinMs: 60 }).leaseTtlMinMs, 60, 'a given minimum wins');
});

opts('bad values are refused naming the flag and the rule', () => {
  const cases: Array<[Record<string, unknown>, RegExp]> = [
    [{ leaseTtlMinMs: 10, leaseTtlMaxMs: 5 }, /lease-ttl-min-ms: must be an integer in \[50, 5\]/],
    [{ leaseTtlMinMs: 20 }, /lease-ttl-min-ms: must be an integer in \[50, /],
    [{ leaseTtlMaxMs: 0 }, /lease-ttl-max-ms/],
    [{ leasesMax: 0 }, /leases-max/],
    [{ watchersMax: 1.5 }, /watchers-max/],
    [{ watchersMax: 10, watchersPerConnectionMax: 11 }, /watchers-per-connection: must be an integer in \[1, 10\] \(at most --watchers-max\)/],
    [{ watchProgressMs: 5 }, /watch-progress-ms/],
    [{ historyEventsMax: 0 }, /history-events-max/],
    [{ historyBytesMax: 100 }, /history-bytes-max/],
  ];
  for (const [o, re] of cases) {
    try {
      resolvePeerOptions({ ...base, ...o });
      assert.unreachable(`accepted ${JSON.stringify(o)}`);
    } catch (err) {
      assert.instance(err, PeerOptionError);
      assert.match((err as Error).message, re);
    }
  }
});

opts('edgeraft peer flags: --help lists each; a value out of the flag\'s range is a usage error naming it', () => {
  for (const flag of ['--lease-ttl-min-ms', '--lease-ttl-max-ms', '--leases-max', '--watchers-max', '--watchers-per-connection', '--watch-progress-ms', '--history-events-max', '--history-bytes-max']) {
    assert.ok(peerKvHelp.includes(`  ${flag} N`), `--help describes ${flag}`);
  }
  const limits = (argv: string[]) => peerKvLimits(parse(argv, nodeFlags(peerKvFlagSpec)).values);
  assert.equal(limits([]), {}, 'absent flags keep the defaults');
  assert.equal(limits(['--lease-ttl-min-ms', '200', '--lease-ttl-max-ms', '60000', '--leases-max', '5', '--watchers-max', '50', '--watchers-per-connection', '7',
    '--watch-progress-ms', '250', '--history-events-max', '999', '--history-bytes-max', '4096']), {
    leaseTtlMinMs: 200, leaseTtlMaxMs: 60_000, leasesMax: 5, watchersMax: 50, watchersPerConnectionMax: 7, watchProgressMs: 250, historyEventsMax: 999, historyBytesMax: 4096,
  });
  const cases: Array<[string[], string]> = [
    [['--leases-max', '0'], "--leases-max must be an integer in [1, 10000000] (got '0')"],
    [['--watch-progress-ms', 'soon'], "--watch-progress-ms must be an integer in [10, 3600000] (got 'soon')"],
    [['--history-bytes-max', '10'], '--history-bytes-max must be an integer in [1024, '],
    [['--lease-ttl-min-ms=0'], "--lease-ttl-min-ms must be an integer in [1, 9007199254740991] (got '0')"],
  ];
  for (const [argv, message] of cases) {
    try {
      limits(argv);
      assert.unreachable(`accepted ${argv.join(' ')}`);
    } catch (err) {
      assert.instance(err, UsageError);
      assert.ok((err as Error).message.includes(message), (err as Error).message);
    }
  }
  // Flags the CLI passes on are checked together by resolvePeerOptions (exit 2 there too).
  try {
    resolvePeerOptions({ ...base, ...limits(['--lease-ttl-min-ms', '2000', '--lease-ttl-max-ms', '1000']) });
    assert.unreachable('accepted min > max');
  } catch (err) {
    assert.instance(err, PeerOptionError);
    assert.match((err as Error).message, /lease-ttl-min-ms: must be an integer in \[50, 1000\]/);
  }
});

opts.run();

// ---- three members -----------------------------------------------------------------------------

for (const mode of ['raft', 'parallel'] as const) {
  const three = suite<{ c: TestCluster }>(`three members (${mode})`);
  three.before(async (ctx) => {
    ctx.c = await TestCluster.start(3, { tickMs: 20, watchProgressMs: 100, mode });
  });
  three.after(async (ctx) => {
    await ctx.c.close();
  });

  three('keep-alives go to the leader: a follower answers ERR_NOT_LEADER naming it; a kept-alive lease survives', async ({ c }) => {
    const leader = await c.leader();
    const follower = c.followers(leader)[0]!;
    const atLeader = await RawClient.open(leader);
    const atFollower = await RawClient.open(follower);
    try {
      const g = ok(await atLeader.call({ op: 'leaseGrant', ttlMs: 400, lease: 0, session: null }), 'lease');
      ok(await atLeader.call({ op: 'put', key: 'lock/x', value: 'me', lease: g.lease, session: null }), 'write');
      const e = failed(await atFollower.call({ op: 'leaseKeepAlive', lease: g.lease }));
      assert.is(e.code, 'ERR_NOT_LEADER');
      assert.equal(e.leader, { id: leader.opts.id, url: leader.url });
      const grantAtFollower = failed(await atFollower.call({ op: 'leaseGrant', ttlMs: 400, lease: 0, session: null }));
      assert.is(grantAtFollower.code, 'ERR_NOT_LEADER');
      assert.is(grantAtFollower.leader?.id, leader.opts.id);
      // leaseInfo is a read: a follower answers it, without the time left (only the leader keeps it).
      const info = ok(await atFollower.call({ op: 'leaseInfo', lease: g.lease, consistency: 'linearizable' }), 'leaseInfo');
      assert.equal([info.ttlMs, info.remainingMs, info.keys], [400, null, ['lock/x']]);
      const started = Date.now();
      while (Date.now() - started < 1200) {
        assert.is(ok(await atLeader.call({ op: 'leaseKeepAlive', lease: g.lease }), 'lease').ttlMs, 400);
        await sleep(100);
      }
      assert.is(ok(await atFollower.call({ op: 'get', key: 'lock/x', consistency: 'linearizable' }), 'read').value, 'me', 'alive after 3 TTLs of keep-alives');
      await until(async () => ok(await atFollower.call({ op: 'get', key: 'lock/x', consistency: 'linearizable' }), 'read').value === null, 'the expiry, replicated', 4000);
      for (const p of c.peers) await until(() => p.machine.lease(g.lease) === undefined, `${p.opts.id} to apply the expiry`);
    } finally {
      atLeader.close();
      atFollower.close();
    }
  });

  three('a watch on a follower sees the history and the leader\'s writes, and its own range and txn work', async ({ c }) => {
    const leader = await c.leader();
    const follower = c.followers(leader)[0]!;
    const w = await RawClient.open(follower, 'reader');
    const kv = await RawClient.open(leader);
    try {
      const i1 = ok(await kv.call({ op: 'put', key: 'f/a', value: '1', lease: 0, session: null }), 'write').index;
      const t = ok(await kv.call({
        op: 'txn', session: null, compare: [{ key: 'f/a', target: 'version', op: '=', value: 1 }],
        success: [{ op: 'put', key: 'f/b', value: '2' }, { op: 'delete', key: 'f/a' }], failure: [],
      }), 'txn');
      assert.ok(t.succeeded);
      const id = w.watch({ op: 'watch', start: 'f/', end: 'f0', fromRevision: i1, prevValue: false });
      const events = () => w.streams.get(id)!.flatMap((m) => ok(m, 'watch').batches.flatMap((b) => b.events.map((e) => `${b.revision} ${e.type} ${e.kv.key}`)));
      await until(() => events().length >= 3, 'the history on the follower');
      assert.equal(events(), [`${i1} put f/a`, `${t.index} put f/b`, `${t.index} delete f/a`], 'one txn: one revision');
      const d = ok(await kv.call({ op: 'deleteRange', start: 'f/', end: 'f0', session: null }), 'deleted');
      assert.is(d.deleted, 1);
      await until(() => events().length >= 4, 'the live event on the follower');
      assert.equal(events()[3], `${d.index} delete f/b`);
      await until(() => w.streams.get(id)!.slice(-1).some((m) => ok(m, 'watch').batches.length === 0), 'a progress notice from the follower', 2000);
      const r = ok(await w.call({ op: 'range', start: 'f/', end: 'f0', limit: null, consistency: 'follower' }), 'range');
      assert.equal(r.kvs, []);
      assert.ok(r.index >= d.index, `served at ${r.index}, after the delete at ${d.index}`);
      assert.is(failed(await w.call({ op: 'txn', session: null, compare: [], success: [], failure: [] })).code, 'ERR_FORBIDDEN', 'a reader may not write');
      assert.is(follower.watches.size, 1);
      assert.is(leader.watches.size, 0, 'the watch lives on the member it was asked of');
    } finally {
      w.close();
      kv.close();
    }
    await until(() => follower.watches.size === 0, 'the follower to drop the closed connection\'s watcher');
  });
  three.run();
}

const learners = suite<{ c: TestCluster }>('a learner (raft)');
learners.before(async (ctx) => {
  ctx.c = await TestCluster.start(3, { tickMs: 20, watchProgressMs: 100 });
});
learners.after(async (ctx) => {
  await ctx.c.close();
});

learners('a learner serves watches from its own machine', async ({ c }) => {
  const leader = await c.leader();
  const admin = await RawClient.open(leader);
  const dir = mkdtempSync(join(tmpdir(), 'edgeraft-kv-learner-'));
  const [port] = await freePorts(1);
  const url = `ws://127.0.0.1:${port!}`;
  let learner: Peer | null = null;
  try {
    ok(await admin.call({ op: 'members', action: 'addLearner', node: 'n4', url }), 'info');
    const peers: Record<string, string> = {};
    for (const p of c.peers) peers[p.opts.id] = p.url;
    learner = await Peer.start({ id: 'n4', port: port!, peers, dataDir: dir, insecure: true, join: true, sync: 'none', logLevel: 'error', tickMs: 20, watchProgressMs: 100 });
    const i = ok(await admin.call({ op: 'put', key: 'lrn/a', value: 'seen by the learner', lease: 0, session: null }), 'write').index;
    await until(() => learner!.machine.revision >= i, 'the learner to apply the write');
    const w = await RawClient.open(learner, 'reader');
    try {
      const id = w.watch({ op: 'watch', start: 'lrn/', end: 'lrn0', fromRevision: 1, prevValue: false });
      await until(() => w.streams.get(id)!.some((m) => ok(m, 'watch').batches.length > 0), 'the history on the learner');
      const first = ok(w.streams.get(id)!.find((m) => ok(m, 'watch').batches.length > 0)!, 'watch');
      assert.equal(first.batches.map((b) => [b.revision, b.events.map((e) => `${e.type} ${e.kv.key}=${String(e.kv.value)}`)]), [[i, ['put lrn/a=seen by the learner']]]);
      const j = ok(await admin.call({ op: 'put', key: 'lrn/b', value: 'live', lease: 0, session: null }), 'write').index;
      await until(() => w.streams.get(id)!.some((m) => ok(m, 'watch').batches.some((b) => b.revision === j)), 'a live event on the learner');
      assert.is(learner.watches.size, 1);
      assert.ok(learner.driver.node.status().conf.learners.includes('n4'), 'n4 is a learner');
    } finally {
      w.close();
    }
    ok(await admin.call({ op: 'members', action: 'remove', node: 'n4', url: null }), 'info');
  } finally {
    admin.close();
    await learner?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

learners.run();
