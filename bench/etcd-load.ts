// A load-generator process for the etcd side of bench/cluster.ts, the twin of bench/cluster-load.ts:
// the same IPC protocol, loops, key choice, warm-up, window and histogram, but each operation is a
// POST to etcd's v3 HTTP/JSON gateway over keep-alive connections (no gRPC library is installed).
// Watchers are long POSTs to /v3/watch, one connection each, read as a stream of JSON lines.

import { Agent, request, type ClientRequest } from 'node:http';
import { SeededPrng } from '../src/core/prng.ts';
import {
  checkStatus, gatewayPaths, leaseGrantBody, leaseIdBody, parseKeepAlive, parseLeaseGrant, parsePut, parseRange, parseTxn, parseWatchMessage, putBody,
  rangeBody, txnBody, watchCreateBody, type EtcdConsistency,
} from './lib/etcd-gateway.ts';
import { Histogram } from './lib/histogram.ts';
import type { CollectWatch, FromLoad, GoLoad, LoadResult, PrepareLoad, PrepareWatchers, PrepareWriter, ToLoad, WatchResult } from './lib/load-protocol.ts';
import { awaitComplete, awaitMarker, clockOffsetMs, nowMs, WatchSamples, writeAtRate } from './lib/watch-samples.ts';

/** What one loop of a txn or keep-alive load works on (see bench/cluster-load.ts). */
type LoopState =
  | { readonly kind: 'none' }
  | { readonly kind: 'txn'; readonly a: string; readonly b: string; version: number }
  | { readonly kind: 'keepalive'; readonly lease: string };

/** A keep-alive load's leases, in etcd's whole seconds (bench/cluster-load.ts: 30,000 ms). */
const keepaliveTtlS = 30;

/** One etcd client: a member's client URL and a keep-alive agent with a connection per loop. */
interface EtcdClient {
  readonly host: string;
  readonly port: number;
  readonly name: string;
  readonly agent: Agent;
}

interface Prepared {
  readonly spec: PrepareLoad;
  readonly clients: readonly EtcdClient[];
  readonly value: Uint8Array;
  readonly consistency: EtcdConsistency;
  readonly loops: LoopState[];
}

/** A request that takes longer than this failed (etcd's own request timeout is 5 s plus election time). */
const requestTimeoutMs = 10_000;

let prepared: Prepared | null = null;

function reply(m: FromLoad): void {
  process.send?.(m);
}

function post(c: EtcdClient, path: string, body: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({
      host: c.host, port: c.port, path, method: 'POST', agent: c.agent,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        try {
          checkStatus(res.statusCode ?? 0, text, path);
          resolve(text);
        } catch (err) {
          reject(err);
        }
      });
    });
    req.on('error', reject);
    req.setTimeout(requestTimeoutMs, () => req.destroy(Object.assign(new Error(`no answer from ${c.name} in ${requestTimeoutMs} ms`), { code: 'ERR_ETCD_TIMEOUT' })));
    req.end(body);
  });
}

function clientOf(url: string, sockets: number, what: string): EtcdClient {
  const u = new URL(url);
  if (u.protocol !== 'http:') throw new Error(`${what} needs an http:// client URL, got ${JSON.stringify(url)}`);
  return { host: u.hostname, port: Number(u.port), name: u.host, agent: new Agent({ keepAlive: true, maxSockets: sockets, maxFreeSockets: sockets }) };
}

function etcdConsistency(c: PrepareLoad['consistency']): EtcdConsistency {
  if (c !== 'linearizable' && c !== 'serializable') throw new Error(`etcd reads are linearizable or serializable, not ${c}`);
  return c;
}

async function prepare(spec: PrepareLoad): Promise<void> {
  const consistency = etcdConsistency(spec.consistency);
  // A connection per loop: HTTP/1.1 has one request in flight per connection (gRPC would multiplex).
  const sockets = Math.max(1, Math.ceil(spec.loops / spec.clientPeers.length));
  const clients = spec.clientPeers.map((urls, i) => clientOf(urls[0] ?? '', sockets, `etcd client ${i}`));
  const value = new Uint8Array(spec.valueBytes);
  for (let i = 0; i < value.length; i++) value[i] = (i * 31 + 7) & 0xff;
  // One operation per loop before the clock starts, so every connection is open when it does;
  // then each loop's keys (created now: version 1) or lease.
  let loops: LoopState[];
  try {
    loops = await Promise.all(Array.from({ length: spec.loops }, async (_, i): Promise<LoopState> => {
      const c = clients[i % clients.length]!;
      const key = `${spec.keyPrefix}${i % spec.keyCount}`;
      if (spec.op !== 'read') parsePut(await post(c, gatewayPaths.put, putBody(key, value)));
      if (spec.op === 'read' || spec.op === 'mixed') parseRange(await post(c, gatewayPaths.range, rangeBody(key, consistency)));
      if (spec.op === 'txn') {
        const a = `t/${spec.seed}/${i}/a`;
        const b = `t/${spec.seed}/${i}/b`;
        parsePut(await post(c, gatewayPaths.put, putBody(a, value)));
        parsePut(await post(c, gatewayPaths.put, putBody(b, value)));
        return { kind: 'txn', a, b, version: 1 };
      }
      if (spec.op === 'keepalive') return { kind: 'keepalive', lease: parseLeaseGrant(await post(c, gatewayPaths.leaseGrant, leaseGrantBody(keepaliveTtlS))).id };
      return { kind: 'none' };
    }));
  } catch (err) {
    for (const c of clients) c.agent.destroy();
    throw err;
  }
  prepared = { spec, clients, value, consistency, loops };
}

/** Revokes a keep-alive load's leases, then closes the connections. */
async function closePrepared(p: Prepared): Promise<void> {
  await Promise.all(p.loops.map(async (s, i) => {
    if (s.kind !== 'keepalive') return;
    try {
      await post(p.clients[i % p.clients.length]!, gatewayPaths.leaseRevoke, leaseIdBody(s.lease));
    } catch {
      // It runs out after its TTL anyway.
    }
  }));
  for (const c of p.clients) c.agent.destroy();
}

async function run(p: Prepared, go: GoLoad): Promise<LoadResult> {
  const { spec, clients, value, consistency, loops: states } = p;
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
  const writes = spec.op === 'write';
  const mixed = spec.op === 'mixed';

  const loop = async (c: EtcdClient, state: LoopState): Promise<void> => {
    while (running) {
      const key = spec.newKeys ? `${spec.keyPrefix}new/${spec.seed}/${created++}` : keys[prng.nextInt(keys.length)]!;
      const startedMs = performance.now();
      try {
        if (state.kind === 'txn') {
          const r = parseTxn(await post(c, gatewayPaths.txn, txnBody(state.a, state.b, state.version, value)));
          if (!r.succeeded) {
            state.version = r.version;
            throw Object.assign(new Error('the txn compare failed'), { code: 'TXN_COMPARE_FAILED' });
          }
          state.version++;
          if (measuring) {
            histogram.recordMs(performance.now() - startedMs);
            ops++;
          }
        } else if (state.kind === 'keepalive') {
          parseKeepAlive(await post(c, gatewayPaths.leaseKeepAlive, leaseIdBody(state.lease)));
          if (measuring) {
            histogram.recordMs(performance.now() - startedMs);
            ops++;
          }
        } else if (writes || (mixed && prng.nextFloat() < spec.writeShare)) {
          parsePut(await post(c, gatewayPaths.put, putBody(key, value)));
          if (measuring) {
            histogram.recordMs(performance.now() - startedMs);
            ops++;
          }
        } else {
          parseRange(await post(c, gatewayPaths.range, rangeBody(key, consistency)));
          if (measuring) {
            histogram.recordMs(performance.now() - startedMs);
            ops++;
            paths[consistency] = (paths[consistency] ?? 0) + 1;
            servedBy[c.name] = (servedBy[c.name] ?? 0) + 1;
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
  await closePrepared(p);
  prepared = null;
  return { type: 'result', ops, measuredMs, histogram: histogram.toArray(), errors, errorCodes, paths, servedBy };
}

// ---- watch delivery ----------------------------------------------------------------------------

let writer: EtcdClient | null = null;

interface Stream {
  readonly member: string;
  request: ClientRequest | null;
  /** Why the stream ended before it was closed (null: still open, or closed by us). */
  ended: string | null;
}

interface Watching {
  readonly spec: PrepareWatchers;
  readonly streams: Stream[];
  readonly samples: WatchSamples;
  closing: boolean;
}

let watching: Watching | null = null;

/** Opens watcher `i`'s stream: a POST to /v3/watch on its own connection, read line by line. */
function openStream(w: Watching, i: number, url: string): Promise<void> {
  const s = w.streams[i]!;
  const u = new URL(url);
  const body = watchCreateBody(w.spec.prefix, w.spec.fromRevision);
  return new Promise((resolve, reject) => {
    const req = request({
      host: u.hostname, port: Number(u.port), path: gatewayPaths.watch, method: 'POST', agent: false,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
    }, (res) => {
      if (res.statusCode !== 200) {
        reject(new Error(`etcd watch on ${u.host}: HTTP ${res.statusCode}`));
        res.resume();
        return;
      }
      resolve();
      let buffered = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        const t = nowMs();
        buffered += chunk;
        let nl = buffered.indexOf('\n');
        while (nl >= 0) {
          const line = buffered.slice(0, nl).trim();
          buffered = buffered.slice(nl + 1);
          nl = buffered.indexOf('\n');
          if (line === '') continue;
          try {
            const m = parseWatchMessage(line);
            if (m.canceled !== null) s.ended ??= m.canceled;
            for (const rev of m.revisions) w.samples.record(i, rev, t);
          } catch (err) {
            // Counted as a lost stream (the details say how many), not a crash of the generator.
            s.ended ??= (err as Error).message;
            req.destroy();
          }
        }
      });
      res.on('end', () => { if (!w.closing) s.ended ??= 'the stream ended'; });
      res.on('error', (err) => { if (!w.closing) s.ended ??= err.message; });
    });
    req.on('error', (err) => {
      if (!w.closing) s.ended ??= err.message;
      reject(err);
    });
    s.request = req;
    req.end(body);
  });
}

async function prepareWatchers(spec: PrepareWatchers): Promise<Record<string, number>> {
  const w: Watching = {
    spec, samples: new WatchSamples(spec.clients.length * spec.watchersPerClient, spec.fromRevision), closing: false,
    streams: spec.clients.flatMap((c) => Array.from({ length: spec.watchersPerClient }, (): Stream => ({ member: c.member, request: null, ended: null }))),
  };
  watching = w;
  const urls = spec.clients.flatMap((c) => Array.from({ length: spec.watchersPerClient }, () => c.peers[0] ?? ''));
  try {
    for (let i = 0; i < urls.length; i += 16) await Promise.all(urls.slice(i, i + 16).map((url, k) => openStream(w, i + k, url)));
    await awaitMarker(w.samples, spec.fromRevision, spec.readyTimeoutMs, 'etcd watchers');
  } catch (err) {
    closeWatching(w);
    throw err;
  }
  return servedBy(w);
}

function servedBy(w: Watching): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of w.streams) {
    const by = s.ended === null ? s.member : 'none';
    out[by] = (out[by] ?? 0) + 1;
  }
  return out;
}

function closeWatching(w: Watching): void {
  w.closing = true;
  if (watching === w) watching = null;
  for (const s of w.streams) s.request?.destroy();
}

async function collectWatch(m: CollectWatch): Promise<WatchResult> {
  const w = watching;
  if (w === null) throw new Error('collectWatch before prepareWatchers');
  await awaitComplete(w.samples, m.writes, m.graceMs);
  const by = servedBy(w);
  const ended = w.streams.filter((s) => s.ended !== null).length;
  closeWatching(w);
  // A stream is pinned to its member (no failover here): one that ended is not on it any more.
  return {
    type: 'watchResult', ...w.samples.result(m.writes, w.streams.map((s) => s.member === w.spec.leader)), servedBy: by, misplaced: ended, reconnects: ended,
    clockOffsetMs: clockOffsetMs(),
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
      void (async () => {
        writer?.agent.destroy();
        writer = clientOf(m.peers[0] ?? '', 64, 'the etcd writer');
        // One put opens a connection before the clock starts.
        parsePut(await post(writer, gatewayPaths.put, putBody('w/open', new Uint8Array(0))));
      })().then(() => reply({ type: 'writerReady' }), fail);
      break;
    case 'mark':
      void (async () => {
        if (writer === null) throw new Error('mark before prepareWriter');
        return parsePut(await post(writer, gatewayPaths.put, putBody(m.key, new Uint8Array([0x6d])))).revision;
      })().then((revision) => reply({ type: 'marked', revision }), fail);
      break;
    case 'writeAtRate':
      void (async () => {
        const w = writer;
        if (w === null) throw new Error('writeAtRate before prepareWriter');
        try {
          return await writeAtRate(async (key, value) => parsePut(await post(w, gatewayPaths.put, putBody(key, value))).revision, m);
        } finally {
          writer = null;
          w.agent.destroy();
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
      process.exit(0);
  }
});
// The parent went away (Ctrl-C, crash): do not linger.
process.on('disconnect', () => process.exit(0));
reply({ type: 'ready' });
