// The client channel: a token holder dials a member by URL alone, learns its id from the hello,
// and exchanges rpc frames; holders sharing one token stay distinct; insecure members take
// unsigned tokens and secured members refuse them.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { dialWs } from '../../src/runtime-node/ws-socket.ts';
import { RpcConnection } from '../../src/transport/rpc-client.ts';
import { mintToken, unsignedToken } from '../../src/transport/token.ts';
import { cluster, rejects, secret, startNode, until, waitFor } from './net.ts';
import type { TestNode } from './net.ts';

const open: TestNode[] = [];
const conns: RpcConnection[] = [];
test.after.each(async () => {
  for (const c of conns.splice(0)) c.close();
  for (const n of open.splice(0)) await n.mesh.close();
});

const bytes = (...xs: number[]) => new Uint8Array(xs);
const hour = 3600_000;

async function client(url: string, token: string, instance: string): Promise<RpcConnection> {
  const c = await RpcConnection.open({ url, cluster, token, instance, dial: dialWs });
  conns.push(c);
  return c;
}

test('a client dials by URL, learns the member id, and exchanges payloads both ways', async () => {
  const n = await startNode('m1');
  open.push(n);
  const token = await mintToken(secret, { role: 'client', sub: 'app', cluster, expMs: Date.now() + hour });
  const c = await client(n.url, token, 'i1');
  assert.is(c.serverId, 'm1');
  assert.is(c.selfId, 'app~i1');
  const got: Uint8Array[][] = [];
  c.listen({ payloads: (p) => got.push([...p]), closed: () => {} });
  const req = waitFor(n.mesh, 'rpc');
  c.send(bytes(1, 2));
  c.send(bytes(3));
  const e = await req;
  assert.equal({ from: e.from, role: e.role, payloads: e.payloads }, { from: 'app~i1', role: 'client', payloads: [bytes(1, 2), bytes(3)] }, 'one frame carried both');
  assert.equal([e.claims?.sub, e.claims?.role, e.claims?.cluster], ['app', 'client', cluster], 'the rpc event carries the verified claims');
  assert.ok(n.mesh.sendRpc('app~i1', bytes(9, 9)));
  await until(() => got.length > 0, 'the answer');
  assert.equal(got, [[bytes(9, 9)]]);
  assert.not.ok(n.mesh.sendRpc('nobody', bytes(1)), 'sending to an unknown remote reports false');
});

test('two holders of one token are distinct remotes and both stay connected', async () => {
  const n = await startNode('m1');
  open.push(n);
  const token = await mintToken(secret, { role: 'reader', sub: 'dash', cluster, expMs: Date.now() + hour });
  const a = await client(n.url, token, 'a');
  const b = await client(n.url, token, 'b');
  await until(() => n.mesh.isConnected('dash~a') && n.mesh.isConnected('dash~b'), 'both connected');
  assert.ok(a.open && b.open);
});

test('an insecure member accepts an unsigned token; a secured one refuses it', async () => {
  const insecure = await startNode('m2', { secret: null, insecure: true });
  open.push(insecure);
  const token = unsignedToken({ role: 'client', sub: 'dev', cluster, expMs: Date.now() + hour });
  const c = await client(insecure.url, token, 'x');
  assert.is(c.serverId, 'm2');
  const secured = await startNode('m3');
  open.push(secured);
  await rejects(() => client(secured.url, token, 'y'), /closed during the handshake|unauthorized|ERR_AUTH/);
});

test.run();
