// The mesh over real `ws` sockets on 127.0.0.1: connect and exchange, duplicate connections
// settled the same way on both sides, reconnect after a restart, parallel connections per pair,
// and refusal of invalid frames from an authenticated peer.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Message } from '../../src/core/message.ts';
import { Mesh } from '../../src/transport/mesh.ts';
import { dialWs } from '../../src/runtime-node/ws-socket.ts';
import { TransportError } from '../../src/transport/errors.ts';
import type { FrameCodec } from '../../src/transport/codec.ts';
import { cluster, rawPeer, rejects, startNode, tick, until, waitFor } from './net.ts';
import type { TestNode } from './net.ts';
import { normalEntries } from './fixtures.ts';

const open: TestNode[] = [];
async function node(...args: Parameters<typeof startNode>): Promise<TestNode> {
  const n = await startNode(...args);
  open.push(n);
  return n;
}
test.after.each(async () => {
  for (const n of open.splice(0)) await n.mesh.close();
});

const hb = (from: string, to: string, round: number): Message => ({ type: 'hb', from, to, term: 1, commit: 0, round });

test('two peers authenticate, come up and exchange messages both ways', async () => {
  const a = await node('a');
  const upA = waitFor(a.mesh, 'peer:up', (e) => e.peer === 'b');
  const b = await node('b', { peers: { a: a.url } });
  const upB = await waitFor(b.mesh, 'peer:up', (e) => e.peer === 'a');
  assert.equal(await upA, { peer: 'b', role: 'peer', claims: null });
  assert.equal(upB, { peer: 'a', role: 'peer', claims: null });
  const got = waitFor(a.mesh, 'messages');
  b.mesh.send([hb('b', 'a', 7)]);
  assert.equal(await got, { from: 'b', role: 'peer', msgs: [hb('b', 'a', 7)] });
  const back = waitFor(b.mesh, 'messages');
  a.mesh.send([{ type: 'hbResp', from: 'a', to: 'b', term: 1, round: 7 }]);
  assert.equal((await back).msgs, [{ type: 'hbResp', from: 'a', to: 'b', term: 1, round: 7 }]);
});

test('messages of one turn to one peer travel in one frame, in order', async () => {
  const a = await node('a');
  const b = await node('b', { peers: { a: a.url } });
  await until(() => a.mesh.isConnected('b') && b.mesh.isConnected('a'), 'connected');
  const frames: (readonly Message[])[] = [];
  a.mesh.on('messages', (e) => frames.push(e.msgs));
  const batch = [hb('b', 'a', 1), hb('b', 'a', 2), hb('b', 'a', 3)];
  b.mesh.send(batch.slice(0, 1));
  b.mesh.send(batch.slice(1));
  await until(() => frames.length > 0, 'delivery');
  await tick();
  assert.equal(frames, [batch]);
});

test('a working connection is not duplicated: the other side does not dial a peer that is up', async () => {
  const a = await node('a');
  const b = await node('b', { peers: { a: a.url } });
  await until(() => a.mesh.isConnected('b') && b.mesh.isConnected('a'), 'b dialed a');
  const downs: string[] = [];
  a.mesh.on('peer:down', (e) => downs.push(`a lost ${e.peer}`));
  b.mesh.on('peer:down', (e) => downs.push(`b lost ${e.peer}`));
  a.mesh.addPeer('b', b.url);
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(a.mesh.connections('b').map((c) => c.dialedBy), ['b']);
  assert.equal(b.mesh.connections('a').map((c) => c.dialedBy), ['b']);
  assert.equal(downs, []);
});

test('a duplicate connection is settled on the one dialed by the lower id, on both sides, without a peer:down', async () => {
  const b = await node('b');
  let bReady = false;
  // a starts dialing at once but its socket opens only after b's own connection is up: a duplicate.
  const a = await node('a', {
    peers: { b: b.url },
    dial: async (url, o) => {
      await until(() => bReady, 'b connected first');
      return dialWs(url, o);
    },
  });
  const downs: string[] = [];
  a.mesh.on('peer:down', (e) => downs.push(`a lost ${e.peer}`));
  b.mesh.on('peer:down', (e) => downs.push(`b lost ${e.peer}`));
  b.mesh.addPeer('a', a.url);
  await until(() => a.mesh.connections('b')[0]?.dialedBy === 'b' && b.mesh.connections('a')[0]?.dialedBy === 'b', 'b\'s connection up');
  bReady = true;
  await until(() => a.mesh.connections('b')[0]?.dialedBy === 'a' && b.mesh.connections('a')[0]?.dialedBy === 'a', 'a\'s connection kept');
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(a.mesh.connections('b').map((c) => c.dialedBy), ['a']);
  assert.equal(b.mesh.connections('a').map((c) => c.dialedBy), ['a']);
  assert.equal(downs, [], 'the swap is invisible to the peer:up/down events');
  const settled = [...a.logs, ...b.logs].filter((l) => l.includes('duplicate connection'));
  assert.ok(settled.length >= 2 && settled.every((l) => l.includes('keeping the one dialed by a')), settled.join('; '));
  const got = waitFor(a.mesh, 'messages');
  b.mesh.send([hb('b', 'a', 1)]);
  assert.is((await got).msgs.length, 1);
});

test('peers that learn of each other at once end on the lower id\'s connection', async () => {
  const a = await node('a');
  const b = await node('b');
  a.mesh.addPeer('b', b.url);
  b.mesh.addPeer('a', a.url);
  await until(() => a.mesh.connections('b')[0]?.dialedBy === 'a' && b.mesh.connections('a')[0]?.dialedBy === 'a', 'settled');
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(a.mesh.connections('b').map((c) => c.dialedBy), ['a']);
  assert.equal(b.mesh.connections('a').map((c) => c.dialedBy), ['a']);
});

test('a peer that restarts on the same port is reconnected with backoff', async () => {
  const a = await node('a');
  const b1 = await startNode('b', { peers: { a: a.url } });
  a.mesh.addPeer('b', b1.url);
  await until(() => a.mesh.isConnected('b'), 'first connection');
  const down = waitFor(a.mesh, 'peer:down', (e) => e.peer === 'b');
  const port = b1.listener!.port;
  await b1.mesh.close();
  await down;
  const up = waitFor(a.mesh, 'peer:up', (e) => e.peer === 'b');
  const b2 = await node('b', { port, peers: { a: a.url } });
  await up;
  await until(() => a.mesh.connections('b')[0]?.dialedBy === 'a' && b2.mesh.connections('a')[0]?.dialedBy === 'a', 'settled on a\'s dial');
  const got = waitFor(b2.mesh, 'messages');
  a.mesh.send([hb('a', 'b', 9)]);
  assert.equal((await got).msgs, [hb('a', 'b', 9)]);
});

test('connectionsPerPeer > 1 opens every slot and delivers every frame', async () => {
  const a = await node('a', { connectionsPerPeer: 3 });
  const b = await node('b', { connectionsPerPeer: 3, peers: { a: a.url } });
  a.mesh.addPeer('b', b.url);
  // Settled: every slot on both sides is the connection dialed by the lower id, so none of them
  // will still be replaced (frames on a replaced connection are lost, which Raft tolerates).
  const settled = (m: Mesh, peer: string): boolean => m.connections(peer).filter((c) => c.dialedBy === 'a').length === 3;
  await until(() => settled(a.mesh, 'b') && settled(b.mesh, 'a'), 'three settled connections');
  const rounds = new Set<number>();
  a.mesh.on('messages', (e) => { for (const m of e.msgs) if (m.type === 'hb') rounds.add(m.round); });
  const frames = 300;
  for (let i = 1; i <= frames; i++) {
    b.mesh.send([hb('b', 'a', i)]);
    await Promise.resolve();
    if (i % 50 === 0) await tick();
  }
  await until(() => rounds.size === frames, `all ${frames} frames`);
  assert.is(rounds.size, frames);
  const slots = a.mesh.connections('b').map((c) => c.slot).sort();
  assert.equal(slots, [0, 1, 2]);
});

test('an authenticated peer sending garbage, a spoofed sender or text is refused and closed', async () => {
  const a = await node('a');
  const cases: [(codec: FrameCodec) => Uint8Array | string, string, number][] = [
    [() => new Uint8Array([0xff, 0x00, 0x13]), 'ERR_FRAME_MALFORMED', 1002],
    [(codec) => codec.encodeData('y', 'a', [hb('y', 'a', 1)]), 'ERR_FRAME_ADDRESS', 1008],
    [(codec) => codec.encodeData('x', 'q', [hb('x', 'q', 1)]), 'ERR_FRAME_ADDRESS', 1008],
    [() => 'hello', 'ERR_FRAME_MALFORMED', 1002],
  ];
  for (const [payload, code, close] of cases) {
    const peer = await rawPeer(a.url, 'x', 'a');
    const welcome = peer.codec.decodeHandshake(await peer.next());
    assert.is(welcome.kind, 'welcome');
    const rejected = waitFor(a.mesh, 'frame:rejected');
    peer.ws.send(payload(peer.codec));
    const e = await rejected;
    assert.is(e.code, code);
    assert.is(e.peer, 'x');
    assert.is((await peer.closed).code, close);
  }
});

test('a frame over maxPayload is refused by ws before decoding (1009)', async () => {
  const a = await node('a', { frameBytesMax: 4096, limits: { frameBytesMax: 4096, entryBytesMax: 1024 } });
  const peer = await rawPeer(a.url, 'x', 'a');
  await peer.next();
  peer.ws.send(new Uint8Array(5000));
  assert.is((await peer.closed).code, 1009);
});

test('sending to an unknown or disconnected peer drops the message and reports it unreachable', async () => {
  const a = await node('a');
  const dropped = waitFor(a.mesh, 'send:dropped');
  const unreachable = waitFor(a.mesh, 'unreachable');
  a.mesh.send([{ type: 'app', from: 'a', to: 'zz', term: 1, prevIndex: 0, prevTerm: 0, commit: 0, entries: normalEntries(1, 1, 1, 8) }]);
  assert.equal(await dropped, { peer: 'zz', type: 'app', reason: 'not-connected' });
  assert.equal(await unreachable, { peer: 'zz' });
});

test('a message that cannot fit a frame is dropped as too-large and reported unreachable', async () => {
  const limits = { frameBytesMax: 4096, entryBytesMax: 1024 };
  const a = await node('a', { limits, frameBytesMax: 4096 });
  const b = await node('b', { limits, peers: { a: a.url } });
  await until(() => b.mesh.isConnected('a'), 'connected');
  const dropped = waitFor(b.mesh, 'send:dropped');
  const unreachable = waitFor(b.mesh, 'unreachable');
  b.mesh.send([{ type: 'app', from: 'b', to: 'a', term: 1, prevIndex: 0, prevTerm: 0, commit: 0, entries: normalEntries(1, 4, 1, 1000) }]);
  assert.equal(await dropped, { peer: 'a', type: 'app', reason: 'too-large' });
  assert.equal(await unreachable, { peer: 'a' });
  assert.ok(b.logs.some((l) => l.startsWith('error') && l.includes('more than frameBytesMax')));
});

test('keepalives hold an idle pair up; a silent connection is closed as idle', async () => {
  const a = await node('a', { keepaliveMs: 30, idleTimeoutMs: 90 });
  const b = await node('b', { keepaliveMs: 30, idleTimeoutMs: 90, peers: { a: a.url } });
  await until(() => a.mesh.isConnected('b') && b.mesh.isConnected('a'), 'connected');
  let downs = 0;
  a.mesh.on('peer:down', () => { downs += 1; });
  await new Promise((r) => setTimeout(r, 400));
  assert.is(downs, 0, 'keepalives kept the idle pair up');
  const peer = await rawPeer(a.url, 'x', 'a');
  await peer.next();
  assert.is((await peer.closed).code, 4011, 'a peer that never sends is closed as idle');
});

test('removePeer closes the connections and stops dialing', async () => {
  const a = await node('a');
  const b = await node('b', { peers: { a: a.url } });
  await until(() => a.mesh.isConnected('b') && b.mesh.isConnected('a'), 'connected');
  const down = waitFor(a.mesh, 'peer:down', (e) => e.peer === 'b');
  b.mesh.removePeer('a');
  await down;
  await new Promise((r) => setTimeout(r, 150));
  assert.not.ok(b.mesh.isConnected('a'), 'b does not dial a again');
  assert.not.ok(a.mesh.isConnected('b'));
});

test('options are validated: a mesh without a secret needs insecure: true', async () => {
  await rejects(() => Mesh.start({ id: 'a', cluster }), (e: unknown) => e instanceof TransportError && e.code === 'ERR_CONFIG_INVALID' && e.message.includes('insecure'));
  await rejects(() => Mesh.start({ id: 'a', cluster, secret: 'short' }), /at least 16 bytes/);
  await rejects(() => Mesh.start({ id: 'a', cluster, insecure: true, peers: { b: 'ws://x' } }), /dial/);
  await rejects(() => Mesh.start({ id: 'a', cluster, insecure: true, connectionsPerPeer: 0 }), /connectionsPerPeer/);
  await rejects(() => Mesh.start({ id: 'a', cluster, insecure: true, highWaterBytes: 10, hardCapBytes: 5 }), /hardCapBytes/);
  const a = await node('a', { secret: null, insecure: true });
  const b = await node('b', { secret: null, insecure: true, peers: { a: a.url } });
  await until(() => a.mesh.isConnected('b') && b.mesh.isConnected('a'), 'insecure peers connect');
});

test.run();
