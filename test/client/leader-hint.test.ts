// The SDK follows a NOT_LEADER hint to the leader by the address it was given for that member when
// it has one, not by the address the member advertises: a client that reaches the cluster through
// a proxy, a NAT or its region's relay must not be sent around it. Bad numeric options are refused,
// and a token for another cluster fails at once, naming both clusters.
import { createServer, connect as tcpConnect, type Server } from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { connectWith } from '../../src/client/kv.ts';
import { decodeRequest, encodeResponse, type Response } from '../../src/client/protocol.ts';
import { dialWs } from '../../src/runtime-node/ws-socket.ts';
import { mintToken } from '../../src/transport/token.ts';
import { cluster, secret, startNode } from '../transport/net.ts';

const t = suite('leader hints');

/** A TCP relay to `port` on 127.0.0.1; resolves with its own port. */
function relayTo(port: number): Promise<{ server: Server; port: number }> {
  const server = createServer((c) => {
    const up = tcpConnect({ host: '127.0.0.1', port });
    c.pipe(up).pipe(c);
    const end = () => { c.destroy(); up.destroy(); };
    c.on('error', end).on('close', end);
    up.on('error', end).on('close', end);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as { port: number }).port })));
}

t('a hint naming a member this client reaches through a relay sends the request through the relay', async () => {
  const m1 = await startNode('m1');
  const m2 = await startNode('m2');
  const relay = await relayTo(Number(new URL(m2.url).port));
  const viaRelay = `ws://127.0.0.1:${relay.port}`;
  const puts: string[] = [];
  // m1 follows and names m2 at m2's own address; m2 leads, and first names m1 (so the client
  // learns, on its relayed connection, which member sits behind the relay).
  const answer = (id: string) => (e: { from: string; payloads: readonly Uint8Array[] }, mesh: typeof m1.mesh) => {
    for (const p of e.payloads) {
      const req = decodeRequest(p);
      let res: Response;
      if (req.op === 'status') res = { id: req.id, ok: true, reply: { kind: 'info', info: {} } };
      else if (req.op === 'register') res = { id: req.id, ok: true, reply: { kind: 'register', client: 3 } };
      else if (req.op === 'put' && id === 'm2' && puts.includes('m1')) {
        puts.push('m2');
        res = { id: req.id, ok: true, reply: { kind: 'write', index: 9, flag: null } };
      } else {
        if (req.op === 'put') puts.push(id);
        const leader = id === 'm1' ? { id: 'm2', url: m2.url } : { id: 'm1', url: m1.url };
        res = { id: req.id, ok: false, error: { code: 'ERR_NOT_LEADER', message: `${id} is not the leader`, leader } };
      }
      mesh.sendRpc(e.from, encodeResponse(res));
    }
  };
  m1.mesh.on('rpc', (e) => answer('m1')(e, m1.mesh));
  m2.mesh.on('rpc', (e) => answer('m2')(e, m2.mesh));
  const dialed: string[] = [];
  const token = await mintToken(secret, { role: 'client', sub: 'app', cluster, expMs: Date.now() + 3600_000 });
  const kv = await connectWith({
    peers: [viaRelay, m1.url], token, timeoutMs: 5000, attemptTimeoutMs: 500,
    dial: (url, protocols) => {
      dialed.push(url);
      return dialWs(url, protocols);
    },
  });
  try {
    assert.equal(await kv.put('k', 'v'), { index: 9 });
    assert.ok(puts.includes('m1'), `m1 was asked and named m2 (asked: ${puts.join(', ')})`);
    assert.is(puts[puts.length - 1], 'm2');
    assert.not.ok(dialed.some((u) => u.replace(/\/$/, '') === m2.url.replace(/\/$/, '')), `m2's own address was never dialed (dialed: ${dialed.join(', ')})`);
  } finally {
    await kv.close();
    relay.server.close();
    await m1.mesh.close();
    await m2.mesh.close();
  }
});

t('client options with a bad number are refused, naming the option', async () => {
  const token = await mintToken(secret, { role: 'client', sub: 'app', cluster, expMs: Date.now() + 3600_000 });
  for (const bad of [{ retryBackoffMaxMs: 0 }, { timeoutMs: Number.NaN }, { attemptTimeoutMs: -1 }, { inflightMax: Infinity }]) {
    const [name] = Object.keys(bad);
    const err = await connectWith({ peers: ['ws://127.0.0.1:1'], token, dial: dialWs, ...bad }).then(() => null, (e: { code?: string; message: string }) => e);
    assert.is(err?.code, 'ERR_OPTIONS', name);
    assert.match(err!.message, new RegExp(`${name} must be a positive number`));
  }
});

t('a token for another cluster fails at once with ERR_WRONG_CLUSTER, naming both clusters', async () => {
  const m1 = await startNode('m1');
  const token = await mintToken(secret, { role: 'client', sub: 'app', cluster: 'other', expMs: Date.now() + 3600_000 });
  try {
    const err = await connectWith({ peers: [m1.url], token, dial: dialWs, timeoutMs: 10_000 }).then(() => null, (e: { code?: string; message: string }) => e);
    assert.is(err?.code, 'ERR_WRONG_CLUSTER', err?.message);
    assert.match(err!.message, new RegExp(`belongs to cluster "${cluster}", but this client's token is for cluster "other"`));
    // Not retried until the 10 s deadline: one attempt's worth of messages, then the answer.
    assert.not.match(err!.message, /no answer from the cluster/);
  } finally {
    await m1.mesh.close();
  }
});

t.run();
