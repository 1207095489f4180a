// Authentication over real sockets: every refusal — wrong secret, forged server, expired token,
// wrong role, insecure against secure — closes with the generic 4001 'unauthorized' while the
// detail stays in the refusing log; a token for another cluster closes with 4003 'wrong cluster'.
// (The token format itself: token.test.ts.)
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { WebSocketServer } from 'ws';
import type { Message } from '../../src/core/message.ts';
import { dialWs } from '../../src/runtime-node/ws-socket.ts';
import { timingSafeEqual } from '../../src/transport/auth.ts';
import { FrameCodec } from '../../src/transport/codec.ts';
import { tokenRefusalText } from '../../src/transport/errors.ts';
import { Mesh } from '../../src/transport/mesh.ts';
import { base64url, fromBase64url, mintToken } from '../../src/transport/token.ts';
import type { TokenClaimsInput } from '../../src/transport/token.ts';
import { cluster, rawPeer, rawSocket, rejects, secret, startNode, until, waitFor } from './net.ts';
import type { TestNode } from './net.ts';

const open: { close(): Promise<void> }[] = [];
async function node(...args: Parameters<typeof startNode>): Promise<TestNode> {
  const n = await startNode(...args);
  open.push(n.mesh);
  return n;
}
test.after.each(async () => {
  for (const n of open.splice(0)) await n.close();
});

const claims = (over: Partial<TokenClaimsInput> = {}): TokenClaimsInput => ({ role: 'learner', sub: 'l1', cluster, expMs: Date.now() + 60_000, ...over });

test('base64url round-trips every length and refuses non-canonical text; equality is exact', () => {
  for (let n = 0; n < 40; n++) {
    const b = Uint8Array.from({ length: n }, (_, i) => (i * 37 + n) & 0xff);
    const text = base64url(b);
    assert.ok(/^[A-Za-z0-9_-]*$/.test(text));
    assert.equal(fromBase64url(text), b);
  }
  assert.is(fromBase64url('AB'), null, 'stray low bits');
  assert.is(fromBase64url('A'), null);
  assert.is(fromBase64url('A+'), null);
  assert.ok(timingSafeEqual(new Uint8Array([1, 2]), new Uint8Array([1, 2])));
  assert.not.ok(timingSafeEqual(new Uint8Array([1, 2]), new Uint8Array([1, 3])));
  assert.not.ok(timingSafeEqual(new Uint8Array([1]), new Uint8Array([1, 0])));
});

test('a peer with the wrong secret is closed with a generic 4001; the detail stays in the server log', async () => {
  const a = await node('a');
  const failed = waitFor(a.mesh, 'auth:failed');
  const peer = await rawPeer(a.url, 'x', 'a', 'wrong secret, long enough');
  assert.equal(await peer.closed, { code: 4001, reason: 'unauthorized' });
  const e = await failed;
  assert.is(e.code, 'ERR_AUTH_FAILED');
  assert.ok(e.message.includes('failed the secret proof'), e.message);
  assert.ok(a.logs.some((l) => l.startsWith('warn') && l.includes('failed the secret proof')));
  assert.not.ok(a.mesh.isConnected('x'));
});

test('a mesh dialing with the wrong secret learns only that it was refused', async () => {
  const a = await node('a');
  const b = await node('b', { secret: 'wrong secret, long enough', peers: { a: a.url }, backoff: { initialMs: 5000, maxMs: 5000 } });
  const e = await waitFor(b.mesh, 'auth:failed');
  assert.ok(e.message.includes('4001 unauthorized'), e.message);
  assert.not.ok(e.message.includes('proof'), 'no detail crossed the wire');
  assert.not.ok(b.mesh.isConnected('a'));
});

test('the dialer authenticates the server too: a forged welcome is refused', async () => {
  const codec = new FrameCodec({ cluster });
  const wss = await new Promise<WebSocketServer>((resolve) => { const s: WebSocketServer = new WebSocketServer({ host: '127.0.0.1', port: 0 }, () => resolve(s)); });
  wss.on('connection', (ws) => {
    ws.send(codec.encode({ kind: 'hello', v: 1, cluster, serverId: 's', challenge: new Uint8Array(32) }));
    ws.on('message', () => ws.send(codec.encode({ kind: 'welcome', v: 1, proof: new Uint8Array(32).fill(7) })));
  });
  const port = (wss.address() as { port: number }).port;
  const b = await node('b', { listen: false, peers: { s: `ws://127.0.0.1:${port}` }, backoff: { initialMs: 5000, maxMs: 5000 } });
  const e = await waitFor(b.mesh, 'auth:failed');
  assert.ok(e.message.includes('server s failed the secret proof'), e.message);
  assert.not.ok(b.mesh.isConnected('s'));
  for (const c of wss.clients) c.terminate();
  await new Promise((r) => wss.close(r));
});

async function tokenAttempt(url: string, token: string): Promise<{ code: number; reason: string }> {
  const raw = await rawSocket(url);
  const codec = new FrameCodec({ cluster });
  await raw.next();
  raw.ws.send(codec.encode({ kind: 'tokenAuth', v: 1, cluster, token, slot: 0, instance: '' }));
  return raw.closed;
}

test('a token holder is told which of its token\'s own properties failed; a refused role or id only that it was refused', async () => {
  const a = await node('a', { acceptRoles: ['learner', 'reader'] });
  const failures: string[] = [];
  a.mesh.on('auth:failed', (e) => failures.push(`${e.code}: ${e.message}`));
  const attempts = [
    await mintToken(secret, claims({ expMs: Date.now() - 1 })),
    await mintToken(secret, claims({ role: 'client' })),
    await mintToken(secret, claims({ cluster: 'c2' })),
    await mintToken('a different secret entirely', claims()),
    await mintToken(secret, claims({ sub: 'a' })),
  ];
  for (const [i, t] of attempts.entries()) {
    const told = [
      { code: 4010, reason: 'credentials expired' }, { code: 4001, reason: 'unauthorized' }, { code: 4003, reason: 'wrong cluster' },
      { code: 4005, reason: 'token signature not accepted' }, { code: 4001, reason: 'unauthorized' },
    ];
    assert.equal(await tokenAttempt(a.url, t), told[i]);
  }
  await until(() => failures.length === attempts.length, 'all refusals logged');
  assert.ok(failures[0]!.startsWith('ERR_TOKEN_EXPIRED'), failures[0]);
  assert.ok(failures[1]!.includes('role client'), failures[1]);
  assert.ok(failures[2]!.startsWith('ERR_WRONG_CLUSTER') && failures[2]!.includes('for cluster "c2", but this member belongs to cluster "c1"'), failures[2]);
  assert.ok(failures[3]!.startsWith('ERR_TOKEN_SIGNATURE'), failures[3]);
  assert.ok(failures[4]!.includes('own id'), failures[4]);
});

test('what a token\'s holder is told of each close code about its token, as the SDK and a tab say it', () => {
  const at = (code: number, reason: string) => `connection closed during the handshake (${code} ${reason})`;
  assert.match(tokenRefusalText(at(4010, 'credentials expired'))!, /^it has expired/);
  assert.match(tokenRefusalText(at(4005, 'token signature not accepted'))!, /^its signature does not verify/);
  assert.match(tokenRefusalText(at(4006, 'token not yet valid'))!, /^it is not valid yet/);
  assert.match(tokenRefusalText(at(4007, 'token revoked'))!, /^it was revoked \(edgeraft token revoke\)/);
  assert.is(tokenRefusalText(at(4001, 'unauthorized')), null, 'a refused role or id: only that it was refused');
  assert.is(tokenRefusalText('connect ECONNREFUSED 127.0.0.1:1'), null);
});

test('a peer of another cluster, or an insecure peer against a secure one, is refused', async () => {
  const a = await node('a');
  const slow = { initialMs: 5000, maxMs: 5000 };
  const other = await Mesh.start({ id: 'b', cluster: 'c2', secret, dial: dialWs, peers: { a: a.url }, backoff: slow, logger: () => {} });
  open.push(other);
  const e = await waitFor(other, 'auth:failed');
  assert.is(e.code, 'ERR_FRAME_CLUSTER');
  const insecure = await node('c', { secret: null, insecure: true, peers: { a: a.url }, backoff: slow });
  const refused = await waitFor(a.mesh, 'auth:failed', (x) => x.message.includes('peer c'));
  assert.ok(refused.message.includes('failed the secret proof'));
  await until(() => insecure.logs.some((l) => l.includes('4001 unauthorized')), 'insecure side refused');
  assert.not.ok(a.mesh.isConnected('b') || a.mesh.isConnected('c'));
});

test('peers whose lease timing settings differ are refused at the handshake, by both sides, naming both settings', async () => {
  const timing = { tickMs: 50, electionTicks: 10, heartbeatTicks: 1, leaseDriftPercent: 10, checkQuorum: true };
  const slow = { initialMs: 5000, maxMs: 5000 };
  const a = await node('a', { timing });
  const b = await node('b', { timing: { ...timing, tickMs: 20 }, peers: { a: a.url }, backoff: slow });
  // The dialer sees the acceptor's settings in its hello and refuses first.
  const dialerSide = await waitFor(b.mesh, 'auth:failed');
  assert.is(dialerSide.code, 'ERR_TIMING_MISMATCH');
  assert.match(dialerSide.message, /peer a runs with tick 50 ms, election 10 ticks.*this member with tick 20 ms.*same --tick-ms/);
  assert.not.ok(a.mesh.isConnected('b'));
  // An acceptor checks the dialer's settings too (an older or misconfigured dialer that does not check).
  const c = await node('c', { timing: { ...timing, checkQuorum: false } });
  const d = await node('d', { timing: null, peers: { c: c.url }, backoff: slow });
  const acceptorSide = await waitFor(c.mesh, 'auth:failed');
  assert.is(acceptorSide.code, 'ERR_TIMING_MISMATCH');
  assert.match(acceptorSide.message, /peer d did not announce its timing settings/);
  await until(() => d.logs.some((l) => l.includes('4001 unauthorized')), 'the dialer was refused');
  // Equal settings connect.
  const e2 = await node('e', { timing, peers: { a: a.url }, backoff: slow });
  await until(() => a.mesh.isConnected('e') && e2.mesh.isConnected('a'), 'equal settings connect');
  // The longest token lifetime must match too: a revocation by subject is kept that long.
  const f = await node('f', { timing: { ...timing, tokenTtlMaxMs: 86_400_000 } });
  const g = await node('g', { timing: { ...timing, tokenTtlMaxMs: 3_600_000 }, peers: { f: f.url }, backoff: slow });
  const ttlSide = await waitFor(g.mesh, 'auth:failed');
  assert.is(ttlSide.code, 'ERR_TIMING_MISMATCH');
  assert.match(ttlSide.message, /peer f accepts tokens living up to 86400000 ms, this member up to 3600000 ms \(--token-ttl-max-ms\): every member must use the same/);
  assert.not.ok(f.mesh.isConnected('g'));
  const h = await node('h', { timing: { ...timing, tokenTtlMaxMs: 86_400_000 }, peers: { f: f.url }, backoff: slow });
  await until(() => f.mesh.isConnected('h') && h.mesh.isConnected('f'), 'equal token lifetimes connect');
});

test('a token may not take the id of a configured peer', async () => {
  const token = await mintToken(secret, claims({ sub: 'a', role: 'client' }));
  // v knows a peer 'a' (unreachable here); a client token claiming 'a' must not stand in for it.
  const victim = await node('v', { peers: { a: 'ws://127.0.0.1:9' }, backoff: { initialMs: 5000, maxMs: 5000 } });
  assert.equal(await tokenAttempt(victim.url, token), { code: 1008, reason: 'policy violation' });
  assert.ok(victim.logs.some((l) => l.includes('may not take a configured peer')));
});

test('silent sockets time out (4008) and too many pending handshakes are refused (1013)', async () => {
  const a = await node('a', { handshakeTimeoutMs: 100, handshakesMax: 1 });
  const first = await rawSocket(a.url);
  const second = await rawSocket(a.url);
  assert.equal(await second.closed, { code: 1013, reason: 'try again later' });
  assert.equal(await first.closed, { code: 4008, reason: 'handshake timeout' });
});

test('a browser-style learner dials with a token, receives the log, and may only acknowledge', async () => {
  const a = await node('a');
  const token = await mintToken(secret, claims({ sub: 'l1' }));
  const up = waitFor(a.mesh, 'peer:up', (e) => e.peer === 'l1');
  const l = await node('l1', { secret: null, token, listen: false, peers: { a: a.url } });
  const upEvent = await up;
  assert.is(upEvent.role, 'learner');
  assert.equal([upEvent.claims?.sub, upEvent.claims?.cluster, upEvent.claims?.scopes], ['l1', cluster, null], 'peer:up carries the verified claims');
  const app: Message = { type: 'app', from: 'a', to: 'l1', term: 1, prevIndex: 0, prevTerm: 0, commit: 0, entries: [{ term: 1, index: 1, type: 'normal', data: new Uint8Array([1, 2, 3]) }] };
  const got = waitFor(l.mesh, 'messages');
  a.mesh.send([app]);
  assert.equal(await got, { from: 'a', role: 'peer', msgs: [app] });
  const ack = waitFor(a.mesh, 'messages');
  l.mesh.send([{ type: 'appResp', from: 'l1', to: 'a', term: 1, index: 1, reject: false, hintIndex: 0, hintTerm: 0 }]);
  assert.equal((await ack).role, 'learner');
  const rejected = waitFor(a.mesh, 'frame:rejected');
  const down = waitFor(l.mesh, 'peer:down');
  l.mesh.send([{ type: 'vote', from: 'l1', to: 'a', term: 2, lastIndex: 1, lastTerm: 1, transfer: false }]);
  const r = await rejected;
  assert.is(r.code, 'ERR_FRAME_FORBIDDEN');
  assert.ok(r.message.includes('learner may not send vote'));
  await down;
});

test('token holders are held to tokenFrameBytesMax (1009), peers are not', async () => {
  const a = await node('a', { tokenFrameBytesMax: 2048 });
  const token = await mintToken(secret, claims({ sub: 'l3' }));
  const l = await node('l3', { secret: null, token, listen: false, peers: { a: a.url }, backoff: { initialMs: 5000, maxMs: 5000 } });
  await until(() => a.mesh.isConnected('l3') && l.mesh.isConnected('a'), 'learner connected');
  const acks: Message[] = Array.from({ length: 300 }, (_, i) => ({ type: 'appResp', from: 'l3', to: 'a', term: 1, index: i, reject: false, hintIndex: 0, hintTerm: 0 }));
  const rejected = waitFor(a.mesh, 'frame:rejected');
  l.mesh.send(acks);
  const r = await rejected;
  assert.is(r.code, 'ERR_FRAME_TOO_LARGE');
  assert.ok(r.message.includes('tokenFrameBytesMax'));
  await until(() => l.logs.some((x) => x.includes('1009 frame too large')), 'the learner saw 1009');
});

test('a token that expires while connected closes its connection (4010)', async () => {
  const a = await node('a');
  // exp is in whole seconds (rounded down): this token lives between 0.5 and 1.5 s.
  const token = await mintToken(secret, claims({ sub: 'l2', expMs: Date.now() + 1500 }));
  const l = await node('l2', { secret: null, token, listen: false, peers: { a: a.url }, backoff: { initialMs: 5000, maxMs: 5000 } });
  await waitFor(a.mesh, 'peer:up', (e) => e.peer === 'l2');
  await waitFor(a.mesh, 'peer:down', (e) => e.peer === 'l2');
  await until(() => l.logs.some((x) => x.includes('4010 credentials expired')), 'the learner saw 4010');
  assert.ok(a.logs.some((x) => x.includes('credentials of l2 expired')));
});

test.run();
