// Scoped tokens and revocation in a real peer (in process, raw client protocol): a lease belongs
// to the subject that granted it (another tenant cannot revoke it, keep it alive, read it or
// attach keys to it; the owner survives a restart from the log), a scoped tenant uses locks under
// its prefix, and a revocation refuses the revoked subject's requests and closes its connections.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { prefixEnd } from '../../src/core/kv/keys.ts';
import { dialWs } from '../../src/runtime-node/ws-socket.ts';
import { RpcConnection } from '../../src/transport/rpc-client.ts';
import { unsignedToken } from '../../src/transport/token.ts';
import { cluster, failed, ok, RawClient, sleep, TestCluster, until } from './kv-harness.ts';

const t = suite('scoped tokens in a peer');
let c: TestCluster;

t.before(async () => {
  c = await TestCluster.start(1);
});
t.after(async () => {
  await c.close();
});

t('a lease granted with a scoped token belongs to its subject; one granted for the whole keyspace to no tenant', async () => {
  const leader = await c.leader();
  const acme = await RawClient.open(leader, 'client', { sub: 'acme', scopes: ['tenants/acme/'] });
  const other = await RawClient.open(leader, 'client', { sub: 'other', scopes: ['tenants/other/'] });
  const app = await RawClient.open(leader, 'client', { sub: 'app' });
  const root = await RawClient.open(leader, 'admin', { sub: 'root' });
  try {
    const lease = ok(await other.call({ op: 'leaseGrant', ttlMs: 60_000, lease: 0, session: null }), 'lease').lease;
    assert.is(leader.machine.lease(lease)?.owner, 'other', 'the grant recorded its subject');
    ok(await other.call({ op: 'put', key: 'tenants/other/k', value: 'v', lease, session: null }), 'write');
    const refusals = [
      await acme.call({ op: 'leaseRevoke', lease, session: null }),
      await acme.call({ op: 'leaseKeepAlive', lease }),
      await acme.call({ op: 'leaseInfo', lease, consistency: 'linearizable' }),
      await acme.call({ op: 'put', key: 'tenants/acme/k', value: 'v', lease, session: null }),
      await acme.call({ op: 'txn', compare: [], success: [{ op: 'put', key: 'tenants/acme/k', value: 'v', lease }], failure: [], session: null }),
      // A token for the whole keyspace, not an admin, is another subject too.
      await app.call({ op: 'leaseRevoke', lease, session: null }),
    ];
    for (const r of refusals) {
      const e = failed(r);
      assert.is(e.code, 'ERR_FORBIDDEN', e.message);
      assert.match(e.message, new RegExp(`lease ${lease} belongs to token subject "other", not to "(acme|app)": only the subject that granted a lease may use it`));
    }
    assert.equal(leader.machine.lease(lease)?.keys, ['tenants/other/k'], 'nothing refused changed the lease');
    assert.is(ok(await other.call({ op: 'leaseInfo', lease, consistency: 'linearizable' }), 'leaseInfo').keys.length, 1);
    ok(await other.call({ op: 'leaseKeepAlive', lease }), 'lease');
    // An admin for the whole keyspace may clean up any lease.
    assert.is(ok(await root.call({ op: 'leaseRevoke', lease, session: null }), 'deleted').deleted, 1);
    // A whole-keyspace grant has no owner: another whole-keyspace subject may use it, a tenant not.
    const shared = ok(await app.call({ op: 'leaseGrant', ttlMs: 60_000, lease: 0, session: null }), 'lease').lease;
    assert.is(leader.machine.lease(shared)?.owner, '');
    ok(await RawClient.open(leader, 'client', { sub: 'worker-2' }).then(async (w) => {
      try {
        return await w.call({ op: 'leaseKeepAlive', lease: shared });
      } finally {
        w.close();
      }
    }), 'lease');
    assert.match(failed(await acme.call({ op: 'leaseRevoke', lease: shared, session: null })).message, new RegExp(`lease ${shared} belongs to no token subject`));
    ok(await app.call({ op: 'leaseRevoke', lease: shared, session: null }), 'deleted');
  } finally {
    for (const k of [acme, other, app, root]) k.close();
  }
});

t('a scoped tenant takes a lock under its prefix: a grant, a txn with its key, a range and a watch of its prefix', async () => {
  const leader = await c.leader();
  const acme = await RawClient.open(leader, 'client', { sub: 'acme', scopes: ['tenants/acme/'] });
  try {
    const lease = ok(await acme.call({ op: 'leaseGrant', ttlMs: 60_000, lease: 0, session: null }), 'lease').lease;
    const key = `tenants/acme/lock/jobs/${lease.toString(16)}`;
    const entered = ok(await acme.call({
      op: 'txn', compare: [{ key, target: 'createRevision', op: '=', value: 0 }],
      success: [{ op: 'put', key, value: '', lease }], failure: [{ op: 'get', key }], session: null,
    }), 'txn');
    assert.ok(entered.succeeded);
    const prefix = 'tenants/acme/lock/jobs/';
    const r = ok(await acme.call({ op: 'range', start: prefix, end: prefixEnd(prefix), limit: null, consistency: 'linearizable' }), 'range');
    assert.equal(r.kvs.map((kv) => kv.key), [key]);
    const w = acme.watch({ op: 'watch', start: prefix, end: prefixEnd(prefix), fromRevision: 0, prevValue: false });
    await until(() => (acme.streams.get(w)?.length ?? 0) > 0, 'the watch to start');
    assert.ok(acme.streams.get(w)![0]!.ok, 'the watch of its own prefix runs');
    // The default prefix lies outside its scopes.
    const e = failed(await acme.call({ op: 'txn', compare: [{ key: 'edgeraft/lock/jobs/1', target: 'createRevision', op: '=', value: 0 }], success: [], failure: [], session: null }));
    assert.is(e.code, 'ERR_FORBIDDEN');
    assert.match(e.message, /^txn: compare 0: key "edgeraft\/lock\/jobs\/1" is outside this token's scopes \("tenants\/acme\/"\)$/);
  } finally {
    acme.close();
  }
});

t('a revocation closes the subject\'s open connections and refuses its new ones at the handshake', async () => {
  const leader = await c.leader();
  const mallory = await RawClient.open(leader, 'client', { sub: 'mallory' });
  const root = await RawClient.open(leader, 'admin', { sub: 'root' });
  try {
    ok(await mallory.call({ op: 'put', key: 'm', value: '1', lease: 0, session: null }), 'write');
    let closed = false;
    void mallory.closed.then(() => { closed = true; });
    const r = ok(await root.call({ op: 'tokenRevoke', by: 'sub', name: 'mallory', expMs: null }), 'info').info as { untilMs: number; revokedAtMs: number; revocations: number };
    assert.is(r.untilMs - r.revokedAtMs, leader.opts.tokenTtlMaxMs, 'kept for the longest token lifetime');
    assert.is(r.revocations, 1);
    await until(() => closed, 'the revoked subject\'s connection to close');
    // A new connection of the revoked subject, an SDK one or a follower-reader link (no SDK
    // instance), is refused at the handshake with close code 4007 (token revoked).
    const sdk = await RawClient.open(leader, 'client', { sub: 'mallory' }).then((x) => { x.close(); return null; }, (err: Error) => err);
    assert.match(sdk?.message ?? 'it opened', /during the handshake \(4007 token revoked\)/);
    const replica = await RpcConnection.open({ url: leader.url, cluster, token: unsignedToken({ role: 'learner', sub: 'mallory', cluster, expMs: Date.now() + 60_000 }), instance: '', dial: dialWs })
      .then((x) => { x.close(); return null; }, (err: Error) => err);
    assert.match(replica?.message ?? 'it opened', /during the handshake \(4007 token revoked\)/);
    const scoped = await RawClient.open(leader, 'admin', { sub: 'ops', scopes: ['tenants/acme/'] });
    try {
      assert.match(failed(await scoped.call({ op: 'tokenRevoke', by: 'sub', name: 'x', expMs: null })).message, /cannot revoke tokens: tokenRevoke needs an admin token for the whole keyspace/);
    } finally {
      scoped.close();
    }
  } finally {
    mallory.close();
    root.close();
  }
});

t.run();

const lag = suite('revocation at a lagging follower');
let c3: TestCluster;

lag.before(async () => {
  c3 = await TestCluster.start(3);
});
lag.after(async () => {
  await c3.close();
});

lag('a linearizable read at a follower that has not applied the revocation is never answered with data', async () => {
  const leader = await c3.leader();
  const follower = c3.followers(leader)[0]!;
  const root = await RawClient.open(leader, 'admin', { sub: 'root' });
  const mallory = await RawClient.open(follower, 'reader', { sub: 'mallory' });
  try {
    ok(await root.call({ op: 'put', key: 'secret', value: 's3', lease: 0, session: null }), 'write');
    await until(() => follower.machine.get('secret') === 's3', 'the follower to apply the write');
    // Cut the follower off: the revocation commits without it.
    follower.blockPeers(c3.peers.filter((p) => p !== follower).map((p) => p.opts.id));
    leader.blockPeers([follower.opts.id]);
    ok(await root.call({ op: 'tokenRevoke', by: 'sub', name: 'mallory', expMs: null }), 'info');
    assert.is(follower.machine.revocation({ sub: 'mallory', jti: null, issuedAtMs: null }), undefined, 'the follower has not applied it');
    // The window the docs state: a stale read there is still served.
    assert.is(ok(await mallory.call({ op: 'get', key: 'secret', consistency: 'stale' }), 'read').value, 's3');
    // A linearizable read passes the first check (the follower's state), then waits for the read index.
    const read = mallory.call({ op: 'get', key: 'secret', consistency: 'linearizable' });
    await sleep(100);
    follower.blockPeers([]);
    leader.blockPeers([]);
    const answer = await Promise.race([read, mallory.closed.then(() => 'closed' as const)]);
    if (answer !== 'closed') {
      const e = failed(answer);
      assert.is(e.code, 'ERR_FORBIDDEN', e.message);
      assert.match(e.message, /was revoked at/);
    }
    await until(() => follower.machine.revocation({ sub: 'mallory', jti: null, issuedAtMs: null }) !== undefined, 'the follower to apply the revocation');
  } finally {
    root.close();
    mallory.close();
  }
});

lag.run();
