// Backpressure against a peer that stops reading: the sender's queued bytes stay under the hard
// cap, replication is shed above the high-water mark with 'unreachable' reported, heartbeats still
// go out, and once the peer reads again traffic flows and new appends are admitted.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Message } from '../../src/core/message.ts';
import { WsListener } from '../../src/runtime-node/ws-server.ts';
import { Mesh } from '../../src/transport/mesh.ts';
import type { SocketLike, SocketListener } from '../../src/transport/socket.ts';
import type { DropReason } from '../../src/transport/transport.ts';
import { normalEntries } from './fixtures.ts';
import { startNode, tick, until } from './net.ts';
import type { TestNode } from './net.ts';
import { cluster, secret } from './net.ts';

const highWaterBytes = 1024 * 1024;
const hardCapBytes = 2 * 1024 * 1024;

test('a slow consumer cannot grow the sender without bound; replication is shed, votes and heartbeats are not', async () => {
  const inner = await WsListener.open();
  const sockets: SocketLike[] = [];
  const listener: SocketListener = {
    listen: (cb) => inner.listen((s) => { sockets.push(s); cb(s); }),
    close: () => inner.close(),
  };
  const b = await Mesh.start({ id: 'b', cluster, secret, listener, logger: () => {} });
  let a: TestNode | null = null;
  try {
    a = await startNode('a', { listen: false, peers: { b: inner.url }, highWaterBytes, hardCapBytes });
    const sender = a.mesh;
    await until(() => sender.isConnected('b') && b.isConnected('a'), 'connected');
    assert.is(sockets.length, 1);
    sockets[0]!.pause!();

    const drops = new Map<string, number>();
    let unreachable = 0;
    sender.on('send:dropped', (e) => drops.set(`${e.type}:${e.reason}`, (drops.get(`${e.type}:${e.reason}`) ?? 0) + 1));
    sender.on('unreachable', (e) => { if (e.peer === 'b') unreachable += 1; });
    const entries = normalEntries(1, 64, 1, 1024);
    const app: Message = { type: 'app', from: 'a', to: 'b', term: 1, prevIndex: 0, prevTerm: 0, commit: 0, entries };
    const appBytes = sender.codec.estimateBytes(app);
    let pendingMax = 0;
    for (let i = 0; i < 1500; i++) {
      sender.send([app, { type: 'hb', from: 'a', to: 'b', term: 1, commit: 0, round: i }]);
      if (i % 10 === 9) {
        await tick();
        pendingMax = Math.max(pendingMax, sender.bufferedBytes('b'));
      }
    }
    await tick();
    pendingMax = Math.max(pendingMax, sender.bufferedBytes('b'));
    const attempted = 1500 * appBytes;
    assert.ok(pendingMax <= hardCapBytes + appBytes, `queued ${pendingMax} bytes, hard cap ${hardCapBytes}`);
    assert.ok((drops.get('app:high-water') ?? 0) > 1000, `appends shed: ${JSON.stringify([...drops])} of ${attempted} bytes`);
    assert.is(drops.get('hb:high-water'), undefined, 'heartbeats are never shed at the high-water mark');
    assert.ok(unreachable >= 1, 'unreachable reported');

    // The peer reads again: what was queued arrives, the queue drains, new appends are admitted.
    let received = 0;
    b.on('messages', (e) => { received += e.msgs.length; });
    sockets[0]!.resume!();
    await until(() => received > 0 && sender.bufferedBytes('b') === 0, 'drained', 10_000);
    const reasons: DropReason[] = [];
    const off = sender.on('send:dropped', (e) => reasons.push(e.reason));
    sender.send([app]);
    await tick();
    off();
    assert.equal(reasons, [], 'an append after draining is admitted');
  } finally {
    await a?.mesh.close();
    await b.close();
  }
});

test.run();
