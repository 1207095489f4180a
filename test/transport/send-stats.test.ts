// What a mesh counts of what it sent, split by destination: frames, bytes and appended entries to
// peers and to token holders (a browser tab's follower-reader link), as a leader's metrics report.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Message } from '../../src/core/message.ts';
import { dialWs } from '../../src/runtime-node/ws-socket.ts';
import { Mesh } from '../../src/transport/mesh.ts';
import { mintToken } from '../../src/transport/token.ts';
import { normalEntries } from './fixtures.ts';
import { cluster, secret, startNode, until } from './net.ts';

test('data frames are counted by destination: peers and token holders, with the entries they carry', async () => {
  const a = await startNode('a');
  const b = await startNode('b', { peers: { a: a.url } });
  const token = await mintToken(secret, { role: 'reader', sub: 'tab-1', cluster, expMs: Date.now() + 3_600_000 });
  const tab = await Mesh.start({ id: 'tab-1', cluster, token, dial: dialWs, logger: () => {} });
  try {
    tab.addPeer('a', a.url);
    await until(() => a.mesh.isConnected('b') && a.mesh.isConnected('tab-1'), 'connected');
    const before = a.mesh.sent.read();
    const received: number[] = [];
    tab.on('messages', (e) => { for (const m of e.msgs) if (m.type === 'app') received.push(m.entries.length); });
    const entries = normalEntries(1, 30, 1, 100);
    const app = (to: string): Message => ({ type: 'app', from: 'a', to, term: 1, prevIndex: 0, prevTerm: 0, entries, commit: 0 });
    a.mesh.send([app('tab-1'), app('b'), { type: 'hb', from: 'a', to: 'b', term: 1, commit: 0, round: 0 }]);
    await until(() => received.length === 1, 'the tab got its append');
    const after = a.mesh.sent.read();
    assert.is(after.token_holders.appEntries - before.token_holders.appEntries, 30);
    assert.is(after.peers.appEntries - before.peers.appEntries, 30);
    assert.ok(after.token_holders.dataBytes - before.token_holders.dataBytes > 30 * 100, 'bytes to the tab');
    assert.ok(after.peers.dataBytes - before.peers.dataBytes > 30 * 100, 'bytes to the peer');
    assert.is(after.peers.frames - before.peers.frames, 1, 'the append and the heartbeat to b share a frame');
    // The batch went to two destinations and was encoded once.
    assert.is(a.mesh.codec.entryStats.entriesEncoded, 30);
    assert.is(a.mesh.codec.entryStats.entriesFramed, 60);
  } finally {
    await tab.close();
    await b.mesh.close();
    await a.mesh.close();
  }
});

test.run();
