// Rotation without downtime, at the mesh level: the cluster secret rolled through its three steps
// (add the new one second, make it first, drop the old) with fresh handshakes after every change,
// the token signing key rotated through a JWKS file re-read as a reload does, and the refusal of
// a scoped token on a follower-reader link (a replica receives every key).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import type { CryptoKey as JoseKey } from 'jose';
import { meshCredentials } from '../../src/runtime-node/token-files.ts';
import { dialWs } from '../../src/runtime-node/ws-socket.ts';
import { RpcConnection } from '../../src/transport/rpc-client.ts';
import { mintToken } from '../../src/transport/token.ts';
import { cluster, secret, startNode, until, waitFor } from './net.ts';
import type { NodeOptions, TestNode } from './net.ts';

const open: TestNode[] = [];
const failures: string[] = [];
test.after.each(async () => {
  for (const n of open.splice(0)) await n.mesh.close();
  failures.length = 0;
});

async function node(id: string, options: NodeOptions = {}): Promise<TestNode> {
  const n = await startNode(id, { backoff: { initialMs: 10, maxMs: 50 }, ...options });
  // Only while the test that made it runs: a closing node's last handshake may fail after it.
  n.mesh.on('auth:failed', (e) => { if (open.includes(n)) failures.push(`${id}: ${e.code} ${e.message}`); });
  open.push(n);
  return n;
}

/** Drops every link of `x` and waits until each is up again: new handshakes, with the keys of now. */
async function relink(x: TestNode, others: readonly TestNode[]): Promise<void> {
  for (const y of others) {
    const up = waitFor(x.mesh, 'peer:up', (e) => e.peer === y.mesh.id);
    x.mesh.removePeer(y.mesh.id);
    x.mesh.addPeer(y.mesh.id, y.url);
    await up;
  }
  await until(() => others.every((y) => y.mesh.isConnected(x.mesh.id) && x.mesh.isConnected(y.mesh.id)), `${x.mesh.id} linked again`);
}

test('the cluster secret rotates in three rolling steps, every handshake passing at every step', async () => {
  const next = 'the next cluster secret, 32 chars';
  const nodes = [await node('a'), await node('b'), await node('c')];
  for (const [i, x] of nodes.entries()) for (const y of nodes.slice(i + 1)) x.mesh.addPeer(y.mesh.id, y.url);
  await until(() => nodes.every((x) => x.mesh.connected().length === 2), 'all linked');
  // Each step goes through the members one at a time (a rolling reload), relinking each.
  for (const secrets of [[secret, next], [next, secret], [next]]) {
    for (const x of nodes) {
      await x.mesh.rekey({ secret: secrets });
      await relink(x, nodes.filter((y) => y !== x));
    }
  }
  assert.equal(failures, [], 'no handshake failed during the rotation');
  // A member that missed the rotation, holding only the old secret, is now refused.
  const stale = await node('d', { secret: [secret] });
  stale.mesh.addPeer('a', nodes[0]!.url);
  await until(() => failures.some((f) => f.startsWith('a: ERR_AUTH_FAILED peer d failed the secret proof')), 'the stale member refused');
  assert.not.ok(nodes[0]!.mesh.isConnected('d'));
});

test('the acceptor answers with the secret the dialer proved with, so a one-sided overlap still links', async () => {
  const next = 'the next cluster secret, 32 chars';
  const a = await node('a', { secret: [next, secret] });
  const b = await node('b', { secret: [secret] });
  b.mesh.addPeer('a', a.url);
  await until(() => a.mesh.isConnected('b') && b.mesh.isConnected('a'), 'b (old secret only) linked to a (new first, old accepted)');
  assert.equal(failures, []);
});

async function jwk(privateKey: JoseKey, publicKey: JoseKey, kid: string) {
  return { privateKey, jwk: { ...await exportJWK(publicKey), kid, alg: 'EdDSA', use: 'sig' } };
}

test('the signing key rotates through the JWKS file: both kids during the overlap, then the new alone', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'edgeraft-jwks-'));
  try {
    const k1 = await generateKeyPair('EdDSA').then((p) => jwk(p.privateKey, p.publicKey, 'k1'));
    const k2 = await generateKeyPair('EdDSA').then((p) => jwk(p.privateKey, p.publicKey, 'k2'));
    const file = join(dir, 'jwks.json');
    const writeJwks = (...keys: Array<typeof k1>): void => writeFileSync(file, JSON.stringify({ keys: keys.map((k) => k.jwk) }));
    const files = { insecure: false, secret: [secret], secretFile: null, tokenPublicKeyFiles: [], tokenJwksFiles: [file], tokenAlgs: ['EdDSA' as const] };
    writeJwks(k1);
    const a = await node('a', (await meshCredentials(files, false)).credentials);
    const sign = (k: typeof k1, sub: string): Promise<string> => new SignJWT({ role: 'reader' })
      .setProtectedHeader({ alg: 'EdDSA', kid: k.jwk.kid }).setSubject(sub).setAudience(cluster).setIssuedAt().setExpirationTime('1h').sign(k.privateKey);
    const connects = async (token: string): Promise<boolean> => {
      try {
        (await RpcConnection.open({ url: a.url, cluster, token, instance: 'i', dial: dialWs })).close();
        return true;
      } catch {
        return false;
      }
    };
    assert.ok(await connects(await sign(k1, 'app-1')), 'k1 before the rotation');
    assert.not.ok(await connects(await sign(k2, 'app-2')), 'k2 is not known yet');
    assert.not.ok(await connects(await mintToken(secret, { role: 'reader', sub: 'hs', cluster, expMs: Date.now() + 60_000 })), '--token-algs EdDSA refuses HS256');
    // The overlap: the file holds both keys, and a reload (SIGHUP) reads it again.
    writeJwks(k1, k2);
    await a.mesh.rekey((await meshCredentials(files, true)).credentials);
    assert.ok(await connects(await sign(k1, 'app-3')), 'k1 during the overlap');
    assert.ok(await connects(await sign(k2, 'app-4')), 'k2 during the overlap');
    // Retired: k1's tokens have all expired (the overlap outlasted the longest TTL); k1 leaves the file.
    writeJwks(k2);
    await a.mesh.rekey((await meshCredentials(files, true)).credentials);
    assert.not.ok(await connects(await sign(k1, 'app-5')), 'k1 after it was retired');
    assert.ok(await connects(await sign(k2, 'app-6')), 'k2 after the rotation');
    assert.ok(failures.some((f) => f.includes('ERR_TOKEN_SIGNATURE') && f.includes('names kid k1, but this member\'s EdDSA keys are k2')), failures.join('\n'));
    // A broken file on reload is an error naming it; the caller (Peer.reload) keeps the old keys.
    writeFileSync(file, '{"keys": [');
    try {
      await meshCredentials(files, true);
      assert.unreachable('a broken JWKS must not load');
    } catch (err) {
      assert.match(String(err), new RegExp(`--token-jwks ${file}: is neither a PEM key nor JSON`));
    }
    assert.ok(await connects(await sign(k2, 'app-7')), 'the previous keys stay in use');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a scoped token cannot hold a follower-reader link (a replica receives every key); through the SDK it can', async () => {
  const a = await node('a');
  const token = await mintToken(secret, { role: 'learner', sub: 'tab-s', cluster, expMs: Date.now() + 60_000, scopes: ['tenants/acme/'] });
  const refused = waitFor(a.mesh, 'auth:failed');
  await node('tab-s', { secret: null, token, listen: false, peers: { a: a.url }, backoff: { initialMs: 5000, maxMs: 5000 } });
  const e = await refused;
  assert.is(e.code, 'ERR_AUTH_FAILED');
  assert.match(e.message, /the token of tab-s is scoped to key prefixes "tenants\/acme\/", but a follower-reader replica receives the whole log .*use the SDK/);
  assert.not.ok(a.mesh.isConnected('tab-s'));
  const rpc = waitFor(a.mesh, 'rpc');
  const sdk = await RpcConnection.open({ url: a.url, cluster, token, instance: 'x', dial: dialWs });
  sdk.send(new Uint8Array([1]));
  assert.equal((await rpc).claims?.scopes, ['tenants/acme/'], 'the rpc event carries the scopes');
  sdk.close();
});

test.run();
