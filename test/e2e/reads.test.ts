// The checker has teeth on the real system: with the old leader cut off by a partition, reads
// served from it in 'stale' mode produce a history the linearizability checker rejects, while
// the same reads in the default (linearizable) mode keep the history linearizable — they cannot
// be answered by a leader that cannot confirm its leadership.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Consistency } from '../../src/client/protocol.ts';
import { checkHistory, formatResult } from '../lincheck/checker.ts';
import type { HistoryOp } from '../lincheck/history.ts';
import { sleep, waitFor, withCluster, type Cluster } from './cluster.ts';

const test = suite('reads');

async function partitionedReads(c: Cluster, consistency: Consistency): Promise<{ ok: boolean; report: string; reads: number }> {
  const admin = await c.client();
  await admin.put('x', 'v0');
  const old = await c.leader();
  const others = c.ids.filter((id) => id !== old);
  // A reader that only knows the old leader, and a writer that knows everyone.
  const reader = await c.client('reader', { peers: [old], timeoutMs: 800 });
  const writer = await c.client('client', { timeoutMs: 5000 });
  const history: HistoryOp[] = [];
  let id = 1;
  const now = () => performance.now();
  await admin.injectFault(c.url(old), others);
  for (const o of others) await admin.injectFault(c.url(o), [old]);
  await waitFor(async () => { const l = await c.leader(); return others.includes(l); }, 'the majority to elect a new leader');
  // Writes complete through the new leader, then reads go to the old one.
  for (let i = 1; i <= 5; i++) {
    const value = `v${i}`;
    const callMs = now();
    await writer.put('x', value);
    history.push({ id: id++, client: 'writer', op: 'put', key: 'x', value, callMs, returnMs: now(), outcome: 'ok' });
    const readCall = now();
    try {
      const r = await reader.getWithMeta('x', { consistency });
      history.push({ id: id++, client: 'reader', op: 'get', key: 'x', callMs: readCall, returnMs: now(), result: typeof r.value === 'string' ? r.value : null, outcome: 'ok' });
    } catch {
      history.push({ id: id++, client: 'reader', op: 'get', key: 'x', callMs: readCall, returnMs: null, outcome: 'unknown' });
    }
  }
  for (const m of c.ids) await admin.injectFault(c.url(m), []);
  await Promise.all([reader.close(), writer.close(), admin.close()]);
  const r = checkHistory(history);
  return { ok: r.ok, report: r.ok ? '' : formatResult(r), reads: history.filter((h) => h.op === 'get' && h.outcome === 'ok').length };
}

test("'stale' reads from a partitioned old leader are caught by the linearizability checker", async () => {
  await withCluster({ size: 3, tickMs: 10, faults: true, name: 'stale-reads' }, async (c) => {
    const r = await partitionedReads(c, 'stale');
    assert.ok(r.reads >= 3, `the old leader answered stale reads (${r.reads})`);
    assert.not.ok(r.ok, 'the checker must reject a history with stale reads after completed writes');
    assert.match(r.report, /x/);
  });
});

test('linearizable reads at the same partitioned old leader keep the history linearizable', async () => {
  await withCluster({ size: 3, tickMs: 10, faults: true, name: 'lin-reads' }, async (c) => {
    await sleep(100);
    const r = await partitionedReads(c, 'linearizable');
    assert.ok(r.ok, `linearizable reads produced a non-linearizable history:\n${r.report}`);
  });
});

test.run();
