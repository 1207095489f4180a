// Snapshot streaming between two SnapshotStreams over a lossy in-process channel: the bytes
// arrive intact in bounded chunks despite drops (resumed from the acknowledged offset), a dead
// receiver cancels the transfer and reports failure, and a newer snapshot replaces an older one.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { SnapshotMsg } from '../../src/core/message.ts';
import { SeededPrng } from '../../src/core/prng.ts';
import { isStreamPayload, SnapshotStreams } from '../../src/transport/snapshot-stream.ts';

const t = suite('snapshot stream');

function snapshot(index: number, bytes: number, term = 3): SnapshotMsg {
  const data = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) data[i] = (i * 31 + index) & 0xff;
  return { type: 'snap', from: 'a', to: 'b', term, snapshot: { meta: { index, term: 2, conf: { voters: ['a', 'b', 'c'], learners: ['l'] } }, data } };
}

function pair(dropRate: number, seed: number, opts: { chunkTimeoutMs?: number; retriesMax?: number } = {}) {
  const rng = new SeededPrng(seed);
  const delivered: SnapshotMsg[] = [];
  const reports: Array<[string, boolean]> = [];
  let chunks = 0;
  let largest = 0;
  let receiverUp = true;
  const streams: Record<string, SnapshotStreams> = {};
  const make = (id: string) => new SnapshotStreams({
    id, chunkBytes: 1000, windowChunks: 2, chunkTimeoutMs: opts.chunkTimeoutMs ?? 15, retriesMax: opts.retriesMax ?? 50,
    log: () => {},
    send: (to, payload) => {
      assert.ok(isStreamPayload(payload), 'stream payloads are recognisable');
      if (to === 'b') { chunks++; largest = Math.max(largest, payload.byteLength); }
      if (to === 'b' && !receiverUp) return true;
      if (rng.nextFloat() < dropRate) return true;
      setTimeout(() => streams[to]!.onPayload(id, payload), rng.nextInt(3));
      return true;
    },
    deliver: (m) => delivered.push(m),
    report: (to, ok) => reports.push([to, ok]),
  });
  streams.a = make('a');
  streams.b = make('b');
  return { a: streams.a, delivered, reports, stats: () => ({ chunks, largest }), down: () => { receiverUp = false; } };
}

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}

t('a snapshot arrives intact in bounded chunks over a channel that drops 20% of them', async () => {
  // Generous retry limits: on a loaded machine a 15 ms chunk timeout can expire many times in a row.
  const p = pair(0.2, 7, { chunkTimeoutMs: 30, retriesMax: 10_000 });
  const msg = snapshot(100, 25_000);
  p.a.send(msg);
  await until(() => p.delivered.length === 1 && p.reports.length === 1);
  const got = p.delivered[0]!;
  assert.equal(got.snapshot.meta, msg.snapshot.meta);
  assert.equal(got.snapshot.data, msg.snapshot.data, 'every byte, in order');
  assert.equal(p.reports, [['b', true]]);
  assert.ok(p.stats().largest < 1100, `chunks stay bounded (largest ${p.stats().largest} bytes)`);
  assert.ok(p.stats().chunks > 25, 'lost chunks were resent');
});

t('an empty snapshot is one chunk and still delivered', async () => {
  const p = pair(0, 1);
  p.a.send(snapshot(5, 0));
  await until(() => p.delivered.length === 1);
  assert.is(p.delivered[0]!.snapshot.data.byteLength, 0);
});

t('a receiver that never answers cancels the transfer and reports failure', async () => {
  const p = pair(0, 2, { chunkTimeoutMs: 5, retriesMax: 3 });
  p.down();
  p.a.send(snapshot(9, 5000));
  await until(() => p.reports.length === 1);
  assert.equal(p.reports, [['b', false]]);
  assert.is(p.a.failed, 1);
});

t('a newer snapshot replaces one still in flight', async () => {
  const p = pair(0, 3);
  p.a.send(snapshot(10, 50_000));
  p.a.send(snapshot(20, 3000, 4));
  await until(() => p.delivered.length >= 1 && p.reports.length >= 1);
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(p.delivered.map((m) => m.snapshot.meta.index), [20], 'only the newer one is delivered');
});

t.run();
