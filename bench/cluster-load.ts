// A load-generator process for bench/cluster.ts (forked with an IPC channel): it opens a few SDK
// clients, runs many async writer, reader or mixed loops over them, and reports what completed
// inside the measured window. Several of these can share one load so the generator is not the
// bottleneck. bench/etcd-load.ts is its twin for etcd.

import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Consistency, KvClient } from '../src/client/kv.ts';
import { SeededPrng } from '../src/core/prng.ts';
import { Histogram } from './lib/histogram.ts';
import type { FromLoad, GoLoad, LoadResult, PrepareLoad, ToLoad } from './lib/load-protocol.ts';

interface Prepared {
  readonly spec: PrepareLoad;
  readonly clients: readonly KvClient[];
  readonly value: Uint8Array;
}

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
  try {
    for (const peers of spec.clientPeers) clients.push(await connect({ peers, token: spec.token, timeoutMs: 30_000 }));
    // One operation per client before the clock starts: it finds the leader and, for writes,
    // registers the client session, so neither lands in the measured window.
    await Promise.all(clients.map(async (kv, i) => {
      const key = `${spec.keyPrefix}${i % spec.keyCount}`;
      if (spec.op !== 'read') await kv.put(key, new Uint8Array(spec.valueBytes));
      if (spec.op !== 'write') await kv.getWithMeta(key, { consistency: sdkConsistency(spec.consistency) });
    }));
  } catch (err) {
    await Promise.all(clients.map((kv) => kv.close()));
    throw err;
  }
  const value = new Uint8Array(spec.valueBytes);
  for (let i = 0; i < value.length; i++) value[i] = (i * 31 + 7) & 0xff;
  prepared = { spec, clients, value };
}

async function run(p: Prepared, go: GoLoad): Promise<LoadResult> {
  const { spec, clients, value } = p;
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

  const loop = async (kv: KvClient): Promise<void> => {
    while (running) {
      const key = spec.newKeys ? `${spec.keyPrefix}new/${spec.seed}/${created++}` : keys[prng.nextInt(keys.length)]!;
      const startedMs = performance.now();
      try {
        if (writes || (mixed && prng.nextFloat() < spec.writeShare)) {
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

  const loops = Array.from({ length: spec.loops }, (_, i) => loop(clients[i % clients.length]!));
  await new Promise((r) => setTimeout(r, go.warmupMs));
  measuring = true;
  const startedMs = performance.now();
  await new Promise((r) => setTimeout(r, go.measureMs));
  measuring = false;
  const measuredMs = performance.now() - startedMs;
  running = false;
  await Promise.all(loops);
  await Promise.all(clients.map((kv) => kv.close()));
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
        if (prepared !== null) await Promise.all(prepared.clients.map((kv) => kv.close()));
        prepared = null;
      })().then(() => reply({ type: 'released' }), fail);
      break;
    case 'exit':
      // process.exit (not a kill) so that --cpu-prof writes its profile.
      process.exit(0);
  }
});
// The parent went away (Ctrl-C, crash): do not linger.
process.on('disconnect', () => process.exit(0));
reply({ type: 'ready' });
