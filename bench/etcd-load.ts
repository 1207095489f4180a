// A load-generator process for the etcd side of bench/cluster.ts, the twin of bench/cluster-load.ts:
// the same IPC protocol, loops, key choice, warm-up, window and histogram, but each operation is a
// POST to etcd's v3 HTTP/JSON gateway over keep-alive connections (no gRPC library is installed).

import { Agent, request } from 'node:http';
import { SeededPrng } from '../src/core/prng.ts';
import { checkStatus, gatewayPaths, parsePut, parseRange, putBody, rangeBody, type EtcdConsistency } from './lib/etcd-gateway.ts';
import { Histogram } from './lib/histogram.ts';
import type { FromLoad, GoLoad, LoadResult, PrepareLoad, ToLoad } from './lib/load-protocol.ts';

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

function etcdConsistency(c: PrepareLoad['consistency']): EtcdConsistency {
  if (c !== 'linearizable' && c !== 'serializable') throw new Error(`etcd reads are linearizable or serializable, not ${c}`);
  return c;
}

async function prepare(spec: PrepareLoad): Promise<void> {
  const consistency = etcdConsistency(spec.consistency);
  const clients = spec.clientPeers.map((urls, i): EtcdClient => {
    const url = new URL(urls[0] ?? '');
    if (url.protocol !== 'http:') throw new Error(`etcd client ${i} needs an http:// client URL, got ${JSON.stringify(urls[0])}`);
    // A connection per loop: HTTP/1.1 has one request in flight per connection (gRPC would multiplex).
    const sockets = Math.max(1, Math.ceil(spec.loops / spec.clientPeers.length));
    return { host: url.hostname, port: Number(url.port), name: url.host, agent: new Agent({ keepAlive: true, maxSockets: sockets, maxFreeSockets: sockets }) };
  });
  const value = new Uint8Array(spec.valueBytes);
  for (let i = 0; i < value.length; i++) value[i] = (i * 31 + 7) & 0xff;
  // One operation per loop before the clock starts, so every connection is open when it does.
  try {
    await Promise.all(Array.from({ length: spec.loops }, async (_, i) => {
      const c = clients[i % clients.length]!;
      const key = `${spec.keyPrefix}${i % spec.keyCount}`;
      if (spec.op !== 'read') parsePut(await post(c, gatewayPaths.put, putBody(key, value)));
      if (spec.op !== 'write') parseRange(await post(c, gatewayPaths.range, rangeBody(key, consistency)));
    }));
  } catch (err) {
    for (const c of clients) c.agent.destroy();
    throw err;
  }
  prepared = { spec, clients, value, consistency };
}

async function run(p: Prepared, go: GoLoad): Promise<LoadResult> {
  const { spec, clients, value, consistency } = p;
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

  const loop = async (c: EtcdClient): Promise<void> => {
    while (running) {
      const key = spec.newKeys ? `${spec.keyPrefix}new/${spec.seed}/${created++}` : keys[prng.nextInt(keys.length)]!;
      const startedMs = performance.now();
      try {
        if (writes || (mixed && prng.nextFloat() < spec.writeShare)) {
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

  const loops = Array.from({ length: spec.loops }, (_, i) => loop(clients[i % clients.length]!));
  await new Promise((r) => setTimeout(r, go.warmupMs));
  measuring = true;
  const startedMs = performance.now();
  await new Promise((r) => setTimeout(r, go.measureMs));
  measuring = false;
  const measuredMs = performance.now() - startedMs;
  running = false;
  await Promise.all(loops);
  for (const c of clients) c.agent.destroy();
  prepared = null;
  return { type: 'result', ops, measuredMs, histogram: histogram.toArray(), errors, errorCodes, paths, servedBy };
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
        if (prepared !== null) for (const c of prepared.clients) c.agent.destroy();
        prepared = null;
      })().then(() => reply({ type: 'released' }), fail);
      break;
    case 'exit':
      process.exit(0);
  }
});
// The parent went away (Ctrl-C, crash): do not linger.
process.on('disconnect', () => process.exit(0));
reply({ type: 'ready' });
