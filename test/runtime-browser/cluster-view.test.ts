// A member's status reply comes from the network: the follower-reader keeps only well-formed
// fields, and refuses a token that cannot work before it connects.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { checkToken, clusterMode, memberStatus } from '../../src/runtime-browser/cluster-view.ts';
import { FollowerError } from '../../src/runtime-browser/follower-error.ts';
import { mintToken } from '../../src/transport/token.ts';

test('a status naming a leader gives the leader and the other voters', () => {
  const st = memberStatus({
    leader: 'n1', leaderUrl: 'ws://h:1', commit: 42,
    members: { members: [
      { id: 'n1', url: 'ws://h:1', role: 'voter' }, { id: 'n2', url: 'ws://h:2', role: 'voter' },
      { id: 'n9', url: 'ws://h:9', role: 'learner' },
    ] },
  });
  assert.equal(st, { commit: 42, view: { leader: { id: 'n1', url: 'ws://h:1' }, followers: [{ id: 'n2', url: 'ws://h:2' }] } });
});

test('malformed fields are ignored, never used', () => {
  assert.equal(memberStatus({ leader: null, leaderUrl: null, commit: 3 }), { commit: 3, view: null });
  assert.equal(memberStatus({ leader: 'n1', leaderUrl: 'http://evil', commit: -1 }), { commit: null, view: null });
  assert.equal(memberStatus({ leader: 'n1', leaderUrl: 'ws://h:1', commit: 1.5 }).commit, null);
  const st = memberStatus({ leader: 'n1', leaderUrl: 'ws://h:1', members: { members: [{ id: 5, url: 'ws://x', role: 'voter' }, 'junk', { id: 'n2', url: 'ftp://x', role: 'voter' }] } });
  assert.equal(st.view?.followers, []);
});

test('the cluster\'s mode is read from the status, and an unknown or missing one is refused', () => {
  assert.is(clusterMode({ mode: 'raft' }, 'n1'), 'raft');
  assert.is(clusterMode({ mode: 'parallel' }, 'n1'), 'parallel');
  for (const st of [{ mode: 'quantum' }, { mode: 3 }, {}]) {
    try {
      clusterMode(st, 'n1');
      assert.unreachable(`accepted ${JSON.stringify(st)}`);
    } catch (err) {
      assert.instance(err, FollowerError);
      assert.is((err as FollowerError).code, 'ERR_UNKNOWN_MODE');
      assert.match((err as Error).message, /n1/);
    }
  }
});

test('checkToken refuses a malformed, expired or foreign token with its own code', async () => {
  const secret = 's'.repeat(32);
  const now = 1_700_000_000_000;
  const token = await mintToken(secret, { cluster: 'c1', sub: 'tab', role: 'reader', expMs: now + 60_000 });
  assert.is(checkToken(token, 'c1', now).sub, 'tab');
  const code = (fn: () => unknown): string => {
    try { fn(); } catch (err) { assert.instance(err, FollowerError); return (err as FollowerError).code; }
    return 'none';
  };
  assert.is(code(() => checkToken('not-a-token', undefined, now)), 'ERR_FORBIDDEN');
  assert.is(code(() => checkToken(token, 'c2', now)), 'ERR_WRONG_CLUSTER');
  assert.is(code(() => checkToken(token, 'c1', now + 60_000)), 'ERR_TOKEN_EXPIRED');
  // A replica receives every key: a scoped token is refused before it dials, saying so.
  const scoped = await mintToken(secret, { cluster: 'c1', sub: 'tab', role: 'reader', expMs: now + 60_000, scopes: ['tenants/acme/'] }, now);
  assert.throws(() => checkToken(scoped, 'c1', now), (e: unknown) => e instanceof FollowerError && e.code === 'ERR_FORBIDDEN'
    && /scoped to key prefixes "tenants\/acme\/", but a follower-reader replica receives the whole log.*use the SDK/.test(e.message));
});

test.run();
