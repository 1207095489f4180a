// The SDK's exactly-once rule against a scripted member: an expired session proves nothing was
// applied only when it answers an attempt after which no earlier one is in doubt. A retry whose
// first attempt went unanswered and then meets ERR_SESSION_EXPIRED must end ERR_OUTCOME_UNKNOWN,
// never be written again under a new session (which could apply it twice).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { connectWith, type KvClient } from '../../src/client/kv.ts';
import { decodeRequest, encodeResponse, type Request, type Response } from '../../src/client/protocol.ts';
import { dialWs } from '../../src/runtime-node/ws-socket.ts';
import { mintToken } from '../../src/transport/token.ts';
import { cluster, secret, startNode, type TestNode } from '../transport/net.ts';

const t = suite('client sessions');

/** A member that answers each request with what `script` returns (null: no answer at all). */
async function fakeMember(script: (req: Request, log: Request[]) => Response | null): Promise<{ node: TestNode; log: Request[] }> {
  const node = await startNode('m1');
  const log: Request[] = [];
  node.mesh.on('rpc', (e) => {
    for (const p of e.payloads) {
      const req = decodeRequest(p);
      log.push(req);
      const res = script(req, log);
      if (res !== null) node.mesh.sendRpc(e.from, encodeResponse(res));
    }
  });
  return { node, log };
}

const expired = (id: number): Response => ({ id, ok: false, error: { code: 'ERR_SESSION_EXPIRED', message: 'client session 7 expired', leader: null } });
const registered = (id: number, client: number): Response => ({ id, ok: true, reply: { kind: 'register', client } });
const written = (id: number, index: number): Response => ({ id, ok: true, reply: { kind: 'write', index, flag: null } });

async function client(url: string): Promise<KvClient> {
  const token = await mintToken(secret, { role: 'client', sub: 'app', cluster, expMs: Date.now() + 3600_000 });
  return connectWith({ peers: [url], token, dial: dialWs, timeoutMs: 3000, attemptTimeoutMs: 150 });
}

const writesOf = (log: Request[]) => log.filter((r) => r.op === 'put');
const registersOf = (log: Request[]) => log.filter((r) => r.op === 'register');

t('an expiry answering a retry after an unanswered attempt is ERR_OUTCOME_UNKNOWN, and nothing is written again', async () => {
  const { node, log } = await fakeMember((req, l) => {
    if (req.op === 'status') return { id: req.id, ok: true, reply: { kind: 'info', info: {} } };
    if (req.op === 'register') return registered(req.id, 7);
    if (req.op === 'put') return writesOf(l).length === 1 ? null : expired(req.id); // the first answer is lost
    return null;
  });
  const kv = await client(node.url);
  try {
    const err = await kv.put('k', 'v').then(() => null, (e: { code?: string; message: string }) => e);
    assert.ok(err !== null, 'the write must not succeed');
    assert.is(err!.code, 'ERR_OUTCOME_UNKNOWN', err!.message);
    assert.match(err!.message, /may have been applied/);
    assert.is(registersOf(log).length, 1, 'no new session was opened to write it again');
    assert.is(writesOf(log).length, 2, 'the first attempt and one retry, with the same sequence number');
    assert.equal(writesOf(log).map((r) => (r as { session: { seq: number } }).session.seq), [1, 1]);
  } finally {
    await kv.close();
    await node.mesh.close();
  }
});

t('an expiry answering the first attempt proves nothing applied: a new session writes it once', async () => {
  let sessions = 0;
  const { node, log } = await fakeMember((req, l) => {
    if (req.op === 'status') return { id: req.id, ok: true, reply: { kind: 'info', info: {} } };
    if (req.op === 'register') return registered(req.id, 10 + sessions++);
    if (req.op === 'put') return writesOf(l).length === 1 ? expired(req.id) : written(req.id, 42);
    return null;
  });
  const kv = await client(node.url);
  try {
    assert.equal(await kv.put('k', 'v'), { index: 42 });
    assert.is(registersOf(log).length, 2, 'a second session was registered');
    assert.equal(writesOf(log).map((r) => (r as { session: { client: number } }).session.client), [10, 11]);
  } finally {
    await kv.close();
    await node.mesh.close();
  }
});

t('an attempt refused before it was proposed (ERR_NOT_LEADER) leaves nothing in doubt', async () => {
  const { node, log } = await fakeMember((req, l) => {
    if (req.op === 'status') return { id: req.id, ok: true, reply: { kind: 'info', info: {} } };
    if (req.op === 'register') return registered(req.id, 20 + registersOf(l).length);
    if (req.op === 'put') {
      const n = writesOf(l).length;
      if (n === 1) return { id: req.id, ok: false, error: { code: 'ERR_NOT_LEADER', message: 'not the leader', leader: null } };
      return n === 2 ? expired(req.id) : written(req.id, 5);
    }
    return null;
  });
  const kv = await client(node.url);
  try {
    assert.equal(await kv.put('k', 'v'), { index: 5 });
    assert.is(registersOf(log).length, 2);
  } finally {
    await kv.close();
    await node.mesh.close();
  }
});

t('ERR_OUTCOME_UNKNOWN from the member (an evicted answer) reaches the caller as is', async () => {
  const { node } = await fakeMember((req) => {
    if (req.op === 'status') return { id: req.id, ok: true, reply: { kind: 'info', info: {} } };
    if (req.op === 'register') return registered(req.id, 3);
    if (req.op === 'put') return { id: req.id, ok: false, error: { code: 'ERR_OUTCOME_UNKNOWN', message: 'request 1 of client 3 may have applied already', leader: null } };
    return null;
  });
  const kv = await client(node.url);
  try {
    const err = await kv.put('k', 'v').then(() => null, (e: { code?: string }) => e);
    assert.is(err?.code, 'ERR_OUTCOME_UNKNOWN');
  } finally {
    await kv.close();
    await node.mesh.close();
  }
});

t('an error code the SDK does not know is refused as a malformed answer, not passed on', async () => {
  const { node } = await fakeMember((req) => {
    if (req.op === 'status') return { id: req.id, ok: true, reply: { kind: 'info', info: {} } };
    // A member (or something posing as one) invents a code.
    return { id: req.id, ok: false, error: { code: 'ERR_MADE_UP' as 'ERR_INTERNAL', message: 'x', leader: null } };
  });
  const kv = await client(node.url);
  try {
    const err = await kv.get('k').then(() => null, (e: { message: string }) => e);
    assert.ok(err !== null);
    assert.match(err!.message, /unknown error code "ERR_MADE_UP"/);
  } finally {
    await kv.close();
    await node.mesh.close();
  }
});

t.run();
