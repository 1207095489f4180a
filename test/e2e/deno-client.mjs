// Run by deno-client.test.ts under Deno: the browser build of the SDK (edgeraft/client with the
// native WebSocket) against a Node cluster. It prints one JSON line per step for the test to check.
// Usage: deno run ... deno-client.mjs TOKEN URL...
import { connect } from '../../dist/browser/client.js';

const [token, ...peers] = Deno.args;
const out = (step, value) => console.log(JSON.stringify({ step, value }));
const kv = await connect({ peers, token, timeoutMs: 10_000 });
try {
  const put = await kv.put('deno/a', 'one');
  out('put', put.index > 0);
  const t = await kv.txn({
    compare: [{ key: 'deno/a', target: 'version', op: '=', value: 1 }],
    success: [{ op: 'put', key: 'deno/b', value: 'two' }, { op: 'get', key: 'deno/a' }],
  });
  out('txn', [t.succeeded, t.results[1].kv.value]);
  const w = kv.watch({ prefix: 'deno/' }, { fromRevision: put.index, prevValue: true });
  const seen = [];
  for await (const b of w) {
    for (const e of b.events) seen.push(`${e.type} ${e.key}=${e.value}`);
    if (seen.length >= 2) break;
  }
  out('watch', seen);
  const lease = kv.keepAlive(await kv.grant(2000));
  await kv.put('deno/owned', 'while alive', { lease });
  await new Promise((r) => setTimeout(r, 2500));
  out('lease', [lease.alive, await kv.get('deno/owned')]);
  await kv.revoke(lease);
  out('revoked', (await kv.get('deno/owned')) ?? null);
  const lock = await kv.lock('deno-job', { ttlMs: 2000 });
  out('lock', lock.fencingToken > 0);
  await lock.release();
} finally {
  await kv.close();
}
