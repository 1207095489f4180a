// What a token may ask (authorize.ts), request by request, without a cluster: role refusals as
// sentences, scopes over every operation (a txn's compares and both branches, scans, watches),
// cluster-wide operations refused to scoped tokens, lease ownership, revocation and token lifetime.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { prefixEnd } from '../../src/core/kv/keys.ts';
import { Revocations } from '../../src/core/kv/revocations.ts';
import type { Request } from '../../src/client/protocol.ts';
import { authorize, type AuthContext } from '../../src/server/authorize.ts';
import { clientAuth, peerAuth, type ClientAuth } from '../../src/server/client-auth.ts';

const t = suite('authorize');
const day = 86_400_000;
const leases = new Map<number, string>([[7, 'acme'], [8, 'other'], [9, '']]);
const revocations = new Revocations();
const ctx: AuthContext = { leaseOwner: (id) => leases.get(id), revocation: (x) => revocations.find(x), tokenTtlMaxMs: 30 * day };

const token = (role: ClientAuth['role'], sub: string, scopes: string[] | null = null, extra: { jti?: string; iatMs?: number; expMs?: number } = {}): ClientAuth =>
  clientAuth(role, { sub, expMs: extra.expMs ?? 2 * day, scopes, jti: extra.jti ?? null, iatMs: extra.iatMs ?? day }, `${sub}~i1`);
const acme = token('client', 'acme', ['tenants/acme/']);

/** The refusal's message, or null when allowed. */
function refusal(auth: ClientAuth, req: Request): string | null {
  try {
    authorize(auth, req, ctx);
    return null;
  } catch (err) {
    assert.is((err as { code?: string }).code, 'ERR_FORBIDDEN');
    return (err as Error).message;
  }
}

const r = { id: 1, session: null } as const;

t('role refusals are sentences that say what the operation needs', () => {
  const reader = token('reader', 'dash');
  assert.is(refusal(reader, { ...r, op: 'register' }), 'a reader token cannot write: writes, transactions and leases need a client or admin token');
  assert.is(refusal(reader, { ...r, op: 'put', key: 'k', value: 'v', lease: 0 }), 'a reader token cannot write keys: put needs a client or admin token');
  assert.is(refusal(reader, { ...r, op: 'leaseGrant', ttlMs: 1000, lease: 0 }), 'a reader token cannot grant leases: leaseGrant needs a client or admin token');
  assert.is(refusal(token('client', 'app'), { id: 1, op: 'members', action: 'list', node: null, url: null }), 'a client token cannot see or change membership: members needs an admin token');
  assert.is(refusal(token('client', 'app'), { id: 1, op: 'transfer', to: 'n2' }), 'a client token cannot move leadership: transfer needs an admin token');
  assert.is(refusal(token('client', 'app'), { id: 1, op: 'compact', revision: 3 }), 'a client token cannot compact the watch history: compact needs an admin token');
  assert.is(refusal(token('client', 'app'), { id: 1, op: 'tokenRevoke', by: 'sub', name: 'x', expMs: null }), 'a client token cannot revoke tokens: tokenRevoke needs an admin token');
  assert.is(refusal(reader, { id: 1, op: 'get', key: 'k', consistency: 'linearizable' }), null);
  assert.is(refusal(peerAuth, { id: 1, op: 'members', action: 'list', node: null, url: null }), null);
});

t('every key and range of every operation must lie inside the scopes', () => {
  assert.is(refusal(acme, { ...r, op: 'put', key: 'tenants/acme/x', value: 'v', lease: 0 }), null);
  assert.is(refusal(acme, { ...r, op: 'put', key: 'tenants/other/x', value: 'v', lease: 0 }), 'put: key "tenants/other/x" is outside this token\'s scopes ("tenants/acme/")');
  assert.match(refusal(acme, { id: 1, op: 'get', key: 'x', consistency: 'stale' })!, /^get: key "x" is outside/);
  assert.match(refusal(acme, { ...r, op: 'delete', key: 'x' })!, /^delete: key "x"/);
  assert.match(refusal(acme, { ...r, op: 'cas', key: 'x', expected: null, value: 'v' })!, /^cas: key "x"/);
  assert.match(refusal(acme, { id: 1, op: 'range', start: 'tenants/', end: prefixEnd('tenants/'), limit: null, consistency: 'linearizable' })!, /^range: prefix "tenants\/" reaches outside this token's scopes \("tenants\/acme\/"\)/);
  assert.is(refusal(acme, { id: 1, op: 'range', start: 'tenants/acme/', end: prefixEnd('tenants/acme/'), limit: null, consistency: 'linearizable' }), null);
  assert.match(refusal(acme, { ...r, op: 'deleteRange', start: '', end: null })!, /^deleteRange: range \["", the last key\) reaches outside/);
  assert.match(refusal(acme, { id: 1, op: 'watch', start: 'tenants/', end: null, fromRevision: 0, prevValue: false })!, /^watch: range \["tenants\/", the last key\)/);
  assert.is(refusal(acme, { id: 1, op: 'watch', start: 'tenants/acme/k', end: 'tenants/acme/k\u0000', fromRevision: 0, prevValue: false }), null);
  assert.match(refusal(acme, { id: 1, op: 'scan', prefix: null, start: null, end: null, limit: null, consistency: 'stale' })!, /^scan: range \["", the last key\)/);
  assert.is(refusal(acme, { id: 1, op: 'scan', prefix: 'tenants/acme/a', start: null, end: null, limit: null, consistency: 'stale' }), null);
});

t('a transaction: every compared key and every operation of both branches', () => {
  const txn = (over: Partial<Extract<Request, { op: 'txn' }>>): Request => ({ ...r, op: 'txn', compare: [], success: [], failure: [], ...over });
  const inside = { op: 'put', key: 'tenants/acme/a', value: 'v' } as const;
  assert.is(refusal(acme, txn({ compare: [{ key: 'tenants/acme/a', target: 'version', op: '=', value: 0 }], success: [inside], failure: [{ op: 'get', key: 'tenants/acme/b' }] })), null);
  assert.match(refusal(acme, txn({ compare: [{ key: 'tenants/acme/a', target: 'version', op: '=', value: 0 }, { key: 'other', target: 'version', op: '=', value: 0 }] }))!, /^txn: compare 1: key "other" is outside/);
  assert.match(refusal(acme, txn({ success: [inside, { op: 'delete', key: 'x' }] }))!, /^txn: success operation 1 \(delete\): key "x"/);
  assert.match(refusal(acme, txn({ failure: [{ op: 'range', start: 'tenants/', end: null, limit: 0 }] }))!, /^txn: failure operation 0 \(range\): range \["tenants\/", the last key\)/);
  assert.match(refusal(acme, txn({ success: [{ op: 'put', key: 'tenants/acme/a', value: 'v', lease: 8 }] }))!, /^txn: lease 8 belongs to token subject "other", not to "acme"/);
});

t('cluster-wide operations are refused to a scoped token, even an admin one', () => {
  const scopedAdmin = token('admin', 'ops', ['tenants/acme/']);
  assert.is(refusal(scopedAdmin, { id: 1, op: 'compact', revision: 3 }), 'a token scoped to ("tenants/acme/") cannot compact the watch history: compact needs an admin token for the whole keyspace (no --prefix)');
  assert.match(refusal(scopedAdmin, { id: 1, op: 'members', action: 'list', node: null, url: null })!, /cannot see or change membership/);
  assert.match(refusal(scopedAdmin, { id: 1, op: 'tokenRevoke', by: 'sub', name: 'x', expMs: null })!, /cannot revoke tokens/);
  assert.is(refusal(acme, { id: 1, op: 'status' }), null, 'status names no key: allowed');
  assert.is(refusal(acme, { id: 1, op: 'register' }), null);
});

t('a lease belongs to its subject: others cannot attach keys, keep it alive or revoke it', () => {
  assert.is(refusal(acme, { ...r, op: 'put', key: 'tenants/acme/l', value: 'v', lease: 7 }), null);
  assert.is(refusal(acme, { ...r, op: 'leaseRevoke', lease: 8 }), 'leaseRevoke: lease 8 belongs to token subject "other", not to "acme": only the subject that granted a lease may use it');
  assert.match(refusal(acme, { id: 1, op: 'leaseKeepAlive', lease: 8 })!, /^leaseKeepAlive: lease 8 belongs to token subject "other"/);
  assert.match(refusal(acme, { ...r, op: 'put', key: 'tenants/acme/l', value: 'v', lease: 9 })!, /lease 9 belongs to no token subject/, 'a scoped token may not use an ownerless lease');
  assert.is(refusal(acme, { ...r, op: 'leaseRevoke', lease: 404 }), null, 'an unknown lease: the machine says ERR_LEASE_NOT_FOUND');
  assert.is(refusal(token('client', 'app'), { ...r, op: 'leaseRevoke', lease: 9 }), null, 'a whole-keyspace token uses ownerless leases');
  assert.match(refusal(token('client', 'app'), { ...r, op: 'leaseRevoke', lease: 7 })!, /lease 7 belongs to token subject "acme"/);
  assert.is(refusal(token('admin', 'root'), { ...r, op: 'leaseRevoke', lease: 7 }), null, 'an admin for the whole keyspace may clean up any lease');
  // A tenant cannot take the id of a lease that another tenant's requests still name.
  assert.is(refusal(acme, { ...r, op: 'leaseGrant', ttlMs: 5000, lease: 0 }), null);
  assert.is(refusal(acme, { ...r, op: 'leaseGrant', ttlMs: 5000, lease: 8 }), 'leaseGrant: a token scoped to ("tenants/acme/") cannot choose a lease id (8): leave it out and the cluster picks one');
  assert.is(refusal(token('client', 'app'), { ...r, op: 'leaseGrant', ttlMs: 5000, lease: 12 }), null, 'a whole-keyspace token may');
});

t('a revoked token is refused on every request, naming the token and the time; a longer-lived one too', () => {
  revocations.add({ by: 'sub', name: 'mallory', revokedAtMs: 5 * day, untilMs: 35 * day }, 5 * day);
  revocations.add({ by: 'jti', name: 'tok-1', revokedAtMs: 5 * day, untilMs: 6 * day }, 5 * day);
  const get: Request = { id: 1, op: 'get', key: 'k', consistency: 'stale' };
  assert.is(refusal(token('reader', 'mallory', null, { iatMs: 4 * day, expMs: 6 * day }), get),
    'the token of subject "mallory" was revoked at 1970-01-06T00:00:00.000Z (with every token of subject "mallory" issued until then): use a token minted after the revocation');
  assert.is(refusal(token('reader', 'mallory', null, { iatMs: 5 * day + 1, expMs: 6 * day }), get), null, 'minted after the revocation');
  assert.match(refusal(token('reader', 'alice', null, { jti: 'tok-1', iatMs: 5 * day + 1, expMs: 6 * day }), get)!, /^the token "tok-1" of subject "alice" was revoked at .* \(by its id\)/);
  assert.match(refusal(token('reader', 'long', null, { iatMs: 0, expMs: 31 * day }), get)!, /lives 31 days .* longer than this cluster accepts \(--token-ttl-max-ms 2592000000 = 30 days\)/);
  assert.is(refusal(token('reader', 'ok', null, { iatMs: 0, expMs: 30 * day }), get), null, 'exactly the longest lifetime');
  // An insecure member verifies no token: it checks no lifetime (the SDK's own token never expires).
  assert.not.throws(() => authorize(token('reader', 'long', null, { iatMs: 0, expMs: 1e15 }), get, { ...ctx, tokenTtlMaxMs: null }));
  // Without iat neither its lifetime nor whether it came before a revocation can be known.
  const noIat = clientAuth('reader', { sub: 'old', expMs: 2 * day, scopes: null, jti: null, iatMs: null }, 'old~i1');
  assert.match(refusal(noIat, get)!, /^the token of subject "old" has no iat \(issue time\): this cluster needs one/);
  assert.not.throws(() => authorize(noIat, get, { ...ctx, tokenTtlMaxMs: null }), 'an insecure member checks no lifetime');
});

t('a token connection with no claims on the event: its subject from the connection id, the whole keyspace', () => {
  assert.equal(clientAuth('client', null, 'app~i3'), { role: 'client', sub: 'app', scopes: null, jti: null, issuedAtMs: null, expMs: null });
  assert.is(clientAuth('peer', null, 'n2'), peerAuth);
});

t.run();
