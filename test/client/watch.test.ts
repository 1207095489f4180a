// The SDK's watcher, against scripted members: its cursor drops what a lagging member sends again
// and asks for the revision after the last it received; when its member dies it resumes on
// another with no event lost or repeated; ERR_WATCH_SLOW resumes it; ERR_COMPACTED reaches the
// consumer (after the events it already had) with the compaction revision; a consumer that does
// not pull makes it drop its stream at bufferEventsMax and resume from where it stopped once
// drained; leaving the loop cancels the stream on the member.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { connectWith, type KvClient } from '../../src/client/kv.ts';
import { decodeRequest, encodeResponse, type Request, type Response } from '../../src/client/protocol.ts';
import { WatchCursor, type WatchBatch } from '../../src/client/watch.ts';
import type { RevisionEvents } from '../../src/core/kv/history.ts';
import { dialWs } from '../../src/runtime-node/ws-socket.ts';
import { mintToken } from '../../src/transport/token.ts';
import { cluster, secret, startNode, type TestNode } from '../transport/net.ts';

const t = suite('client watch');

/** Revision r holds one put of key `k` with value `v<r>`. */
const rev = (r: number): RevisionEvents => ({
  revision: r, events: [{ type: 'put', kv: { key: 'k', value: `v${r}`, createRevision: 1, modRevision: r, version: r, lease: 0 }, prev: null }],
});
const revs = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => rev(from + i));

t('the cursor: from a revision, from now, progress, and what a lagging member sends again', () => {
  const c = new WatchCursor(5);
  assert.is(c.resumeFrom, 5);
  assert.equal(c.accept(6, [rev(5), rev(6)]).map((b) => b.revision), [5, 6]);
  assert.is(c.resumeFrom, 7);
  assert.equal(c.accept(7, [rev(5), rev(6), rev(7)]).map((b) => b.revision), [7], 'a member that lags sends 5 and 6 again: dropped');
  assert.equal(c.accept(12, []), [], 'progress');
  assert.is(c.resumeFrom, 13);
  assert.equal(c.accept(9, []), [], 'a lagging member\'s progress does not move the cursor back');
  assert.is(c.resumeFrom, 13);
  const now = new WatchCursor(undefined);
  assert.is(now.resumeFrom, 0, 'from now, until the member says where now is');
  assert.equal(now.accept(40, []), []);
  assert.is(now.resumeFrom, 41);
  assert.equal(new WatchCursor(0).resumeFrom, 0);
});

type Script = (req: Request, reply: (r: Response) => void, node: TestNode) => void;

async function member(id: string, script: Script): Promise<{ node: TestNode; log: Request[] }> {
  const node = await startNode(id);
  const log: Request[] = [];
  node.mesh.on('rpc', (e) => {
    for (const p of e.payloads) {
      const req = decodeRequest(p);
      log.push(req);
      if (req.op === 'status') { node.mesh.sendRpc(e.from, encodeResponse({ id: req.id, ok: true, reply: { kind: 'info', info: { id } } })); continue; }
      script(req, (r) => node.mesh.sendRpc(e.from, encodeResponse(r)), node);
    }
  });
  return { node, log };
}

const watchMsg = (id: number, revision: number, batches: RevisionEvents[]): Response => ({ id, ok: true, reply: { kind: 'watch', revision, batches } });
const watchesOf = (log: Request[]) => log.filter((r): r is Extract<Request, { op: 'watch' }> => r.op === 'watch');

async function client(urls: string[]): Promise<KvClient> {
  const token = await mintToken(secret, { role: 'client', sub: 'app', cluster, expMs: Date.now() + 3600_000 });
  return connectWith({ peers: urls, token, dial: dialWs, timeoutMs: 3000, attemptTimeoutMs: 300 });
}

async function take(it: AsyncIterator<WatchBatch>, n: number, timeoutMs = 5000): Promise<WatchBatch[]> {
  const out: WatchBatch[] = [];
  const deadline = Date.now() + timeoutMs;
  while (out.length < n) {
    const r = await Promise.race([it.next(), new Promise<'late'>((res) => setTimeout(() => res('late'), Math.max(1, deadline - Date.now())))]);
    if (r === 'late') throw new Error(`only ${out.length} of ${n} batches within ${timeoutMs} ms: ${out.map((b) => b.revision).join(',')}`);
    if (r.done === true) break;
    out.push(r.value);
  }
  return out;
}

t('a member that dies mid-stream: the watcher resumes on the other from the next revision, no gap, no repeat', async () => {
  const a = await member('m1', (req, reply, node) => {
    if (req.op !== 'watch') return;
    reply(watchMsg(req.id, 6, revs(5, 6)));
    setTimeout(() => { void node.mesh.close(); }, 30); // the member dies
  });
  // A member that lags: it sends from revision 5 again, whatever it was asked.
  const b = await member('m2', (req, reply) => {
    if (req.op === 'watch') reply(watchMsg(req.id, 9, revs(5, 9)));
  });
  const kv = await client([a.node.url, b.node.url]);
  try {
    const w = kv.watch({ key: 'k' }, { fromRevision: 5, prevValue: true });
    const got = await take(w, 5);
    assert.equal(got.map((x) => x.revision), [5, 6, 7, 8, 9]);
    assert.equal(got.map((x) => x.events[0]!.value), ['v5', 'v6', 'v7', 'v8', 'v9']);
    assert.equal(got[0]!.events[0], { type: 'put', key: 'k', value: 'v5', createRevision: 1, modRevision: 5, version: 5, lease: 0 });
    assert.equal(watchesOf(a.log).map((r) => [r.fromRevision, r.prevValue, r.start, r.end]), [[5, true, 'k', 'k\u0000']]);
    assert.equal(watchesOf(b.log).map((r) => r.fromRevision), [7], 'resumed after the last revision received');
    assert.is(w.revision, 9);
    assert.is(w.reconnects, 1);
    assert.is(w.servedBy, 'm2');
    w.close();
  } finally {
    await kv.close();
    await b.node.mesh.close();
  }
});

t('ERR_WATCH_SLOW resumes the stream; ERR_COMPACTED reaches the consumer after the events it had', async () => {
  let n = 0;
  const m = await member('m1', (req, reply) => {
    if (req.op !== 'watch') return;
    n++;
    if (n === 1) {
      reply(watchMsg(req.id, 3, revs(2, 3)));
      reply({ id: req.id, ok: false, error: { code: 'ERR_WATCH_SLOW', message: 'the watcher fell behind', leader: null, detail: { compactRevision: 0, revision: 3 } } });
    } else if (n === 2) {
      reply(watchMsg(req.id, 4, revs(4, 4)));
      reply({ id: req.id, ok: false, error: { code: 'ERR_COMPACTED', message: 'this member installed a snapshot', leader: null, detail: { compactRevision: 50, revision: 4 } } });
    }
  });
  const kv = await client([m.node.url]);
  try {
    const w = kv.watch({ prefix: 'k' }, { fromRevision: 2 });
    const seen: number[] = [];
    const err = await (async () => {
      for await (const b of w) seen.push(b.revision);
      return null;
    })().catch((e: unknown) => e);
    assert.equal(seen, [2, 3, 4]);
    assert.equal(watchesOf(m.log).map((r) => r.fromRevision), [2, 4]);
    assert.ok(err !== null);
    const e = err as { code: string; compactRevision: number; revision: number };
    assert.is(e.code, 'ERR_COMPACTED');
    assert.is(e.compactRevision, 50);
    assert.is(w.revision, 4);
  } finally {
    await kv.close();
    await m.node.mesh.close();
  }
});

t('a consumer that does not pull: the stream is dropped at bufferEventsMax and resumed, drained, from where it stopped', async () => {
  const m = await member('m1', (req, reply) => {
    if (req.op !== 'watch') return;
    // Whatever it is asked, everything from there to 30 at once, ten revisions per message.
    for (let from = req.fromRevision; from <= 30; from += 10) reply(watchMsg(req.id, Math.min(from + 9, 30), revs(from, Math.min(from + 9, 30))));
  });
  const kv = await client([m.node.url]);
  try {
    const w = kv.watch({ key: 'k' }, { fromRevision: 1, bufferEventsMax: 10 });
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(w.buffered <= 20, `at most bufferEventsMax plus one message is held (${w.buffered})`);
    assert.ok(w.buffered > 10);
    assert.ok(m.log.some((r) => r.op === 'watchCancel'), 'the stream was cancelled on the member');
    const got = await take(w, 30);
    assert.equal(got.map((b) => b.revision), Array.from({ length: 30 }, (_, i) => i + 1), 'every revision once, in order');
    assert.equal(watchesOf(m.log).map((r) => r.fromRevision), [1, 21]);
    w.close();
  } finally {
    await kv.close();
    await m.node.mesh.close();
  }
});

t('progress notices move revision, and are yielded only with progressNotify; leaving the loop cancels', async () => {
  const m = await member('m1', (req, reply) => {
    if (req.op !== 'watch') return;
    reply(watchMsg(req.id, 10, []));
    reply(watchMsg(req.id, 11, [rev(11)]));
    reply(watchMsg(req.id, 15, []));
  });
  const kv = await client([m.node.url]);
  try {
    const quiet = kv.watch({ key: 'k' });
    const [b] = await take(quiet, 1);
    assert.is(b!.revision, 11);
    await new Promise((r) => setTimeout(r, 100));
    const p = quiet.next();
    await new Promise((r) => setTimeout(r, 20));
    assert.is(quiet.revision, 15, 'with nothing left to yield, the progress notice is where it is');
    quiet.close();
    assert.equal(await p, { value: undefined, done: true });
    const loud = kv.watch({ key: 'k' }, { progressNotify: true });
    const seen: Array<[number, number]> = [];
    for await (const x of loud) {
      seen.push([x.revision, x.events.length]);
      if (seen.length === 3) break;
    }
    assert.equal(seen, [[10, 0], [11, 1], [15, 0]]);
    await new Promise((r) => setTimeout(r, 50));
    const cancels = m.log.filter((r): r is Extract<Request, { op: 'watchCancel' }> => r.op === 'watchCancel');
    const ids = watchesOf(m.log).map((r) => r.id);
    assert.equal(cancels.map((c) => c.watch), ids, 'each watch was cancelled by its id');
  } finally {
    await kv.close();
    await m.node.mesh.close();
  }
});

t.run();
