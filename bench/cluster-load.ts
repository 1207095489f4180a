// A load-generator process for bench/cluster.ts (forked with an IPC channel): it opens a few SDK
// clients, runs many async writer, reader, mixed, transaction or lease keep-alive loops over
// them, and reports what completed inside the measured window. Several of these can share one
// load so the generator is not the bottleneck. For the watch-delivery measurement (lib/
// coordination.ts) it is either the writer, putting at a fixed rate, or holds watchers and
// records when each event arrives. bench/etcd-load.ts is its twin for etcd.

import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Consistency, KvClient } from '../src/client/kv.ts';
import type { Lease } from '../src/client/lease.ts';
import type { Watcher } from '../src/client/watch.ts';
import { SeededPrng } from '../src/core/prng.ts';
import type { DialOptions } from '../src/transport/socket.ts';
import { Histogram } from './lib/histogram.ts';
import type { CollectWatch, FromLoad, GoLoad, LoadResult, PrepareLoad, PrepareWatchers, PrepareWriter, ToLoad, WatchResult } from './lib/load-protocol.ts';
import { awaitComplete, awaitMarker, clockOffsetMs, nowMs, WatchSamples, writeAtRate } from './lib/watch-samples.ts';

/** What one loop of a txn or keep-alive load works on. */
type LoopState =
  | { readonly kind: 'none' }
  /** Its own two keys; `version`: what it believes key a's version is (the txn compares it). */
  | { readonly kind: 'txn'; readonly a: string; readonly b: string; version: number }
  /** Its own lease, renewed by one keep-alive after another. */
  | { readonly kind: 'keepalive'; lease: Lease };

interface Prepared {
  readonly spec: PrepareLoad;
  readonly clients: readonly KvClient[];
  readonly value: Uint8Array;
  readonly loops: LoopState[];
}

/** A keep-alive load's leases: long enough that none runs out between the keep-alives. */
const keepaliveTtlMs = 30_000;
/** Watcher clients connect this many at a time. */
const connectBatch = 16;

// The SDK as users get it: the bundle `npm run bench` just built (no tsx helpers in the hot
// path, and profiles with real line numbers). The sources serve when there is no bundle.
const bundle = fileURLToPath(new URL('../dist/node/client.js', import.meta.url));
const { connect } = (await import(existsSync(bundle) ? bundle : '../src/client/node.ts')) as typeof import('../src/client/node.ts');

let prepared: Prepared | null = null;

function sdkConsistency(c: PrepareLoad['consistency']): Consistency {
  if (c === 'serializable') throw new Error('serializable is an etcd read; edgeraft calls its local reads stale');
  return c;
}

function reply(m: FromLoad): void {
  process.send?.(m);
}

async function prepare(spec: PrepareLoad): Promise<void> {
  const clients: KvClient[] = [];
  const value = new Uint8Array(spec.valueBytes);
  for (let i = 0; i < value.length; i++) value[i] = (i * 31 + 7) & 0xff;
  let loops: LoopState[] = [];
  try {
    const dialMap = spec.dialMap;
    // Loaded only by bench:wan's loads, which dial through the emulator's relays.
    const dialWs = dialMap === undefined ? null : (await import('../src/runtime-node/ws-socket.ts')).dialWs;
    const dial = dialMap === undefined || dialWs === null ? undefined : (url: string, o: DialOptions) => dialWs(dialMap[url] ?? url, o);
    const open = (peers: readonly string[]) => connect({
      peers, token: spec.token, timeoutMs: 30_000, ...(dial !== undefined ? { dial } : {}), ...(spec.ca !== undefined ? { ca: spec.ca } : {}),
    });
    // One after another unless asked otherwise (then a few at a time, in the given order).
    const step = Math.max(1, spec.connectConcurrency ?? 1);
    for (let i = 0; i < spec.clientPeers.length; i += step) {
      const opened = await Promise.allSettled(spec.clientPeers.slice(i, i + step).map(open));
      for (const o of opened) if (o.status === 'fulfilled') clients.push(o.value);
      const failed = opened.find((o) => o.status === 'rejected');
      if (failed !== undefined) throw (failed as PromiseRejectedResult).reason;
    }
    // One operation per client before the clock starts: it finds the leader and, for writes,
    // registers the client session, so neither lands in the measured window.
    await Promise.all(clients.map(async (kv, i) => {
      const key = `${spec.keyPrefix}${i % spec.keyCount}`;
      if (spec.op !== 'read') await kv.put(key, new Uint8Array(spec.valueBytes));
      if (spec.op === 'read' || spec.op === 'mixed') await kv.getWithMeta(key, { consistency: sdkConsistency(spec.consistency) });
    }));
    // Each loop's keys (created now: version 1) or lease, granted by the client the loop runs on.
    loops = await Promise.all(Array.from({ length: spec.loops }, async (_, i): Promise<LoopState> => {
      const kv = clients[i % clients.length]!;
      if (spec.op === 'txn') {
        const a = `t/${spec.seed}/${i}/a`;
        const b = `t/${spec.seed}/${i}/b`;
        await kv.put(a, value);
        await kv.put(b, value);
        return { kind: 'txn', a, b, version: 1 };
      }
      if (spec.op === 'keepalive') return { kind: 'keepalive', lease: await kv.grant(keepaliveTtlMs) };
      return { kind: 'none' };
    }));
  } catch (err) {
    await Promise.all(clients.map((kv) => kv.close()));
    throw err;
  }
  prepared = { spec, clients, value, loops };
}

/** Revokes a keep-alive load's leases (so no expiry lands in a later run), then closes the clients. */
async function closePrepared(p: Prepared): Promise<void> {
  await Promise.all(p.loops.map(async (s, i) => {
    if (s.kind !== 'keepalive') return;
    try {
      await p.clients[i % p.clients.length]!.revoke(s.lease.id);
    } catch {
      // It runs out after its TTL anyway.
    }
  }));
  await Promise.all(p.clients.map((kv) => kv.close()));
}

async function run(p: Prepared, go: GoLoad): Promise<LoadResult> {
  const { spec, clients, value, loops: states } = p;
  const prng = new SeededPrng(spec.seed);
  const keys = Array.from({ length: spec.keyCount }, (_, i) => `${spec.keyPrefix}${i}`);
  const histogram = new Histogram();
  const errorCodes: Record<string, number> = {};
  const paths: Record<string, number> = {};
  const servedBy: Record<string, number> = {};
  let ops = 0;
  let errors = 0;
  let measuring = false;
  let created = 0;
  let running = true;
  const options = { consistency: sdkConsistency(spec.consistency) };
  const writes = spec.op === 'write';
  const mixed = spec.op === 'mixed';

  const loop = async (kv: KvClient, state: LoopState): Promise<void> => {
    while (running) {
      const key = spec.newKeys ? `${spec.keyPrefix}new/${spec.seed}/${created++}` : keys[prng.nextInt(keys.length)]!;
      const startedMs = performance.now();
      try {
        if (state.kind === 'txn') {
          // Optimistic concurrency as users write it: write a and b only if a is as last seen.
          const r = await kv.txn({
            compare: [{ key: state.a, target: 'version', op: '=', value: state.version }],
            success: [{ op: 'put', key: state.a, value }, { op: 'put', key: state.b, value }],
            failure: [{ op: 'get', key: state.a }],
          });
          if (r.succeeded) {
            state.version++;
            if (measuring) {
              histogram.recordMs(performance.now() - startedMs);
              ops++;
            }
          } else {
            const got = r.results[0];
            state.version = got?.op === 'get' && got.kv !== null ? got.kv.version : 0;
            throw Object.assign(new Error('the txn compare failed'), { code: 'TXN_COMPARE_FAILED' });
          }
        } else if (state.kind === 'keepalive') {
          // One keep-alive, answered by the leader (the SDK's keepAlive() sends the same request
          // every third of the TTL in the background; keepAliveOnce() sends one now).
          await kv.keepAliveOnce(state.lease.id);
          if (measuring) {
            histogram.recordMs(performance.now() - startedMs);
            ops++;
          }
        } else if (writes || (mixed && prng.nextFloat() < spec.writeShare)) {
          await kv.put(key, value);
          if (measuring) {
            histogram.recordMs(performance.now() - startedMs);
            ops++;
          }
        } else {
          const r = await kv.getWithMeta(key, options);
          if (measuring) {
            histogram.recordMs(performance.now() - startedMs);
            ops++;
            paths[r.path] = (paths[r.path] ?? 0) + 1;
            servedBy[r.servedBy] = (servedBy[r.servedBy] ?? 0) + 1;
          }
        }
      } catch (err) {
        if (measuring) {
          errors++;
          const code = (err as { code?: string }).code ?? (err as Error).message.slice(0, 60);
          errorCodes[code] = (errorCodes[code] ?? 0) + 1;
        }
        await new Promise((r) => setTimeout(r, 5));
      }
    }
  };

  const loops = Array.from({ length: spec.loops }, (_, i) => loop(clients[i % clients.length]!, states[i] ?? { kind: 'none' }));
  await new Promise((r) => setTimeout(r, go.warmupMs));
  measuring = true;
  const startedMs = performance.now();
  await new Promise((r) => setTimeout(r, go.measureMs));
  measuring = false;
  const measuredMs = performance.now() - startedMs;
  running = false;
  await Promise.all(loops);
  if (go.keepClients !== true) {
    await closePrepared(p);
    prepared = null;
  }
  return { type: 'result', ops, measuredMs, histogram: histogram.toArray(), errors, errorCodes, paths, servedBy };
}

// ---- watch delivery ----------------------------------------------------------------------------

let writer: KvClient | null = null;

interface Watching {
  readonly spec: PrepareWatchers;
  readonly clients: readonly KvClient[];
  readonly watchers: readonly Watcher[];
  readonly samples: WatchSamples;
  /** Each watcher's consuming loop (it ends when the watcher closes). */
  readonly loops: Promise<void>[];
  /** What ended a watcher early (ERR_COMPACTED, say): fails the run. */
  failure: Error | null;
}

let watching: Watching | null = null;

async function prepareWriter(spec: PrepareWriter): Promise<void> {
  await writer?.close();
  writer = await connect({ peers: spec.peers, token: spec.token, timeoutMs: 30_000 });
}

/** Connects the clients, opens their watchers from the marker and resolves once each has the marker's event. */
async function prepareWatchers(spec: PrepareWatchers): Promise<Record<string, number>> {
  const clients: KvClient[] = [];
  try {
    for (let i = 0; i < spec.clients.length; i += connectBatch) {
      const batch = spec.clients.slice(i, i + connectBatch);
      clients.push(...await Promise.all(batch.map((c) => connect({ peers: c.peers, token: spec.token, timeoutMs: 30_000 }))));
    }
  } catch (err) {
    await Promise.all(clients.map((kv) => kv.close()));
    throw err;
  }
  const samples = new WatchSamples(spec.clients.length * spec.watchersPerClient, spec.fromRevision);
  const watchers = clients.flatMap((kv) => Array.from({ length: spec.watchersPerClient }, () => kv.watch({ prefix: spec.prefix }, { fromRevision: spec.fromRevision })));
  const w: Watching = { spec, clients, watchers, samples, loops: [], failure: null };
  watching = w;
  w.loops.push(...watchers.map(async (watcher, i) => {
    try {
      for await (const batch of watcher) {
        const t = nowMs();
        if (batch.events.length > 0) samples.record(i, batch.revision, t);
      }
    } catch (err) {
      w.failure ??= err as Error;
    }
  }));
  try {
    await awaitMarker(samples, spec.fromRevision, spec.readyTimeoutMs, 'edgeraft watchers');
    if (w.failure !== null) throw w.failure;
  } catch (err) {
    await closeWatching(w);
    throw err;
  }
  return servedBy(w);
}

function servedBy(w: Watching): Record<string, number> {
  const out: Record<string, number> = {};
  for (const watcher of w.watchers) {
    const by = watcher.servedBy ?? 'none';
    out[by] = (out[by] ?? 0) + 1;
  }
  return out;
}

async function closeWatching(w: Watching): Promise<void> {
  if (watching === w) watching = null;
  for (const watcher of w.watchers) watcher.close();
  await Promise.all(w.loops);
  await Promise.all(w.clients.map((kv) => kv.close()));
}

async function collectWatch(m: CollectWatch): Promise<WatchResult> {
  const w = watching;
  if (w === null) throw new Error('collectWatch before prepareWatchers');
  await awaitComplete(w.samples, m.writes, m.graceMs);
  const by = servedBy(w);
  // Where each watcher streams from now (between two streams: the member it was meant for).
  const members = w.spec.clients.flatMap((c) => Array.from({ length: w.spec.watchersPerClient }, () => c.member));
  const actual = w.watchers.map((x, i) => x.servedBy ?? members[i]!);
  const misplaced = actual.filter((m, i) => m !== members[i]).length;
  const reconnects = w.watchers.reduce((s, x) => s + x.reconnects, 0);
  const failure = w.failure;
  await closeWatching(w);
  if (failure !== null) throw failure;
  return {
    type: 'watchResult', ...w.samples.result(m.writes, actual.map((m2) => m2 === w.spec.leader)), servedBy: by, misplaced, reconnects, clockOffsetMs: clockOffsetMs(),
  };
}

process.on('message', (m: ToLoad) => {
  const fail = (err: unknown) => reply({ type: 'failed', message: (err as Error)?.stack ?? String(err) });
  switch (m.type) {
    case 'prepare':
      prepare(m).then(() => reply({ type: 'prepared' }), fail);
      break;
    case 'go':
      if (prepared === null) {
        fail(new Error('go before prepare'));
        break;
      }
      run(prepared, m).then(reply, fail);
      break;
    case 'release':
      void (async () => {
        if (prepared !== null) await closePrepared(prepared);
        prepared = null;
      })().then(() => reply({ type: 'released' }), fail);
      break;
    case 'prepareWriter':
      prepareWriter(m).then(() => reply({ type: 'writerReady' }), fail);
      break;
    case 'mark':
      void (async () => {
        if (writer === null) throw new Error('mark before prepareWriter');
        return (await writer.put(m.key, 'mark')).index;
      })().then((revision) => reply({ type: 'marked', revision }), fail);
      break;
    case 'writeAtRate':
      void (async () => {
        const w = writer;
        if (w === null) throw new Error('writeAtRate before prepareWriter');
        try {
          return await writeAtRate(async (key, value) => (await w.put(key, value)).index, m);
        } finally {
          writer = null;
          await w.close();
        }
      })().then(reply, fail);
      break;
    case 'prepareWatchers':
      prepareWatchers(m).then((servedBy) => reply({ type: 'watching', servedBy }), fail);
      break;
    case 'collectWatch':
      collectWatch(m).then(reply, fail);
      break;
    case 'exit':
      // process.exit (not a kill) so that --cpu-prof writes its profile.
      process.exit(0);
  }
});
// The parent went away (Ctrl-C, crash): do not linger.
process.on('disconnect', () => process.exit(0));
reply({ type: 'ready' });
