// The coordination phase of `npm run bench` without clusters: etcd's gateway bodies and answers
// for txns, leases and watches, the watchers' receive times turned into signed latencies, the
// fixed-rate writer, and the JSON keys and placeholder section of the report.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { coordinationJson, coordinationMarkdown } from '../../bench/lib/coordination-report.ts';
import { coordinationDefaults, type CoordinationOptions, type CoordinationReport, type LoopFigures, type WatchFigures } from '../../bench/lib/coordination.ts';
import {
  GatewayError, leaseGrantBody, leaseIdBody, parseKeepAlive, parseLeaseGrant, parseTxn, parseWatchMessage, prefixRangeEnd, txnBody, watchCreateBody,
} from '../../bench/lib/etcd-gateway.ts';
import { Histogram, signedQuantileMs } from '../../bench/lib/histogram.ts';
import { WatchSamples, writeAtRate } from '../../bench/lib/watch-samples.ts';

const test = suite('bench coordination');

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
const header = '"header":{"cluster_id":"1","member_id":"2","revision":"7","raft_term":"2"}';

test('a txn compares a\'s version and writes a and b, else reads a', () => {
  const body = JSON.parse(txnBody('t/1/0/a', 't/1/0/b', 3, new Uint8Array([1, 2]))) as Record<string, unknown>;
  assert.equal(body.compare, [{ key: b64('t/1/0/a'), result: 'EQUAL', target: 'VERSION', version: '3' }]);
  assert.equal(body.success, [{ request_put: { key: b64('t/1/0/a'), value: 'AQI=' } }, { request_put: { key: b64('t/1/0/b'), value: 'AQI=' } }]);
  assert.equal(body.failure, [{ request_range: { key: b64('t/1/0/a') } }]);
});

test('a txn answer: succeeded, or (left out when false) the version the failure branch read', () => {
  assert.equal(parseTxn(`{${header},"succeeded":true,"responses":[]}`), { revision: 7, succeeded: true, version: Number.NaN });
  const failed = parseTxn(`{${header},"responses":[{"response_range":{"kvs":[{"key":"YQ==","version":"5"}],"count":"1"}}]}`);
  assert.equal(failed, { revision: 7, succeeded: false, version: 5 });
  assert.is(parseTxn(`{${header},"responses":[{"response_range":{}}]}`).version, 0);
});

test('a lease id stays the decimal string etcd sends (int64 does not fit a double)', () => {
  assert.equal(JSON.parse(leaseGrantBody(30)), { TTL: 30 });
  const g = parseLeaseGrant(`{${header},"ID":"7587862135462952456","TTL":"30"}`);
  assert.equal(g, { id: '7587862135462952456', ttlS: 30 });
  assert.equal(JSON.parse(leaseIdBody(g.id)), { ID: '7587862135462952456' });
  assert.throws(() => parseLeaseGrant(`{${header},"TTL":"30"}`), (e: unknown) => e instanceof GatewayError && /without an ID/.test(e.message));
});

test('a keep-alive answer is a stream message; TTL 0 or an error means the lease is gone', () => {
  assert.equal(parseKeepAlive(`{"result":{${header},"ID":"1","TTL":"30"}}\n`), { ttlS: 30 });
  assert.throws(() => parseKeepAlive(`{"result":{${header},"ID":"1"}}`), (e: unknown) => e instanceof GatewayError && e.code === 'ERR_ETCD_LEASE_NOT_FOUND');
  assert.throws(() => parseKeepAlive('{"error":{"grpc_code":5,"message":"requested lease not found"}}'), (e: unknown) => e instanceof GatewayError && /not found/.test(e.message));
});

test('a prefix\'s range end is the prefix with its last byte below 0xff raised by one', () => {
  assert.equal(prefixRangeEnd('w/'), new Uint8Array(Buffer.from('w0')));
  assert.equal(prefixRangeEnd('a\u00ff'), new Uint8Array([0x61, 0xc3, 0xc0]));
  assert.equal(prefixRangeEnd(''), new Uint8Array([0]));
  const body = JSON.parse(watchCreateBody('w/', 12)) as { create_request: Record<string, string> };
  assert.equal(body.create_request, { key: b64('w/'), range_end: b64('w0'), start_revision: '12' });
});

test('watch messages: created and progress carry no revisions, events their mod revisions, a cancel its reason', () => {
  assert.equal(parseWatchMessage(`{"result":{${header},"created":true}}`), { revisions: [], canceled: null });
  const two = parseWatchMessage(`{"result":{${header},"events":[{"kv":{"key":"dy8x","mod_revision":"8"}},{"type":"DELETE","kv":{"key":"dy8y","mod_revision":"8"}}]}}`);
  assert.equal(two, { revisions: [8, 8], canceled: null });
  assert.equal(parseWatchMessage(`{"result":{${header},"canceled":true,"cancel_reason":"mvcc: required revision has been compacted"}}`).canceled, 'mvcc: required revision has been compacted');
  assert.ok(parseWatchMessage('{"error":{"message":"boom"}}').canceled?.includes('boom'));
  assert.throws(() => parseWatchMessage(`{"result":{${header},"events":[{"kv":{"key":"dy8x"}}]}}`), (e: unknown) => e instanceof GatewayError && /mod_revision/.test(e.message));
});

test('signed quantiles: negatives (as magnitudes) first, largest magnitude lowest', () => {
  const pos = new Histogram();
  const neg = new Histogram();
  for (const v of [1, 2, 3]) pos.recordMs(v);
  for (const v of [5, 10]) neg.recordMs(v);
  // Ascending: -10, -5, 1, 2, 3.
  const near = (a: number, b: number) => Math.abs(a - b) <= Math.abs(b) * 0.011;
  assert.ok(near(signedQuantileMs(pos, neg, 0.2), -10), String(signedQuantileMs(pos, neg, 0.2)));
  assert.ok(near(signedQuantileMs(pos, neg, 0.4), -5));
  assert.ok(near(signedQuantileMs(pos, neg, 0.5), 1));
  assert.ok(near(signedQuantileMs(pos, neg, 1), 3));
  assert.ok(Number.isNaN(signedQuantileMs(new Histogram(), new Histogram(), 0.5)));
});

test('watch samples: first receive time per watcher, split by placement, early ones apart', () => {
  const s = new WatchSamples(3, 10);
  s.record(0, 9, 0); // before the marker: not kept
  s.record(0, 10, 100);
  s.record(0, 10, 999); // a repeat keeps the first time
  s.record(1, 10, 103);
  s.record(2, 10, 120);
  s.record(0, 11, 210);
  assert.is(s.count(9), 0);
  assert.is(s.count(10), 3);
  assert.is(s.complete([[10, 90, 101]]), true);
  assert.is(s.complete([[10, 90, 101], [11, 200, 205]]), false);
  const r = s.result([[10, 90, 101], [11, 200, 205]], [true, false, false]);
  assert.is(r.expected, 6);
  assert.is(r.received, 4);
  // Watcher 0 got revision 10 one ms before the put resolved.
  assert.is(r.beforeResolve, 1);
  assert.is(new Histogram(r.earlyLeader).total, 1);
  assert.is(new Histogram(r.fromResolveLeader).total, 1);
  assert.is(new Histogram(r.fromResolveFollowers).total, 2);
  const followers = new Histogram(r.fromResolveFollowers);
  assert.ok(Math.abs(followers.quantileMs(1) - 19) < 0.2, String(followers.quantileMs(1)));
  assert.ok(Math.abs(new Histogram(r.fromSend).quantileMs(1) - 30) < 0.31);
});

test('the writer puts on schedule, keeps the window\'s writes sorted by revision, and counts its errors', async () => {
  let n = 0;
  const put = async (key: string): Promise<number> => {
    const i = n++;
    if (i === 7) throw Object.assign(new Error('nope'), { code: 'ERR_X' });
    // Later puts resolve sooner: the result must still come out in revision order.
    await new Promise((r) => setTimeout(r, i % 2 === 0 ? 15 : 1));
    assert.ok(key.startsWith('w/'));
    return 100 + i;
  };
  const w = await writeAtRate(put, { type: 'writeAtRate', ratePerS: 100, warmupMs: 50, measureMs: 100, keyPrefix: 'w/', keyCount: 3, valueBytes: 8 });
  // 15 puts in 150 ms; the window holds those sent from 50 ms on.
  assert.is(n, 15);
  assert.ok(w.writes.length >= 8 && w.writes.length <= 10, String(w.writes.length));
  assert.equal(w.writes.map((x) => x[0]), [...w.writes.map((x) => x[0])].sort((a, b) => a - b));
  for (const [, sent, resolved] of w.writes) assert.ok(resolved >= sent);
  assert.is(w.errors, 1);
  assert.equal(w.errorCodes, { ERR_X: 1 });
});

const options: CoordinationOptions = {
  ...coordinationDefaults, txnClients: [1, 256], valueBytes: 256, runs: 3, warmupS: 1, seconds: 3,
};

function watchFigures(p50: number, p99: number): WatchFigures {
  return {
    p50Ms: p50, p99Ms: p99, leaderP50Ms: -1, leaderP99Ms: p99, followersP50Ms: p50, followersP99Ms: p99, fromSendP50Ms: p50 + 10, fromSendP99Ms: p99 + 10,
    putP50Ms: 10, putP99Ms: 20,
    eventsPerS: 10_000, putsPerS: 10, expected: 30_000, received: 29_990, beforeResolveShare: 0.2, writeErrors: 0, writeErrorCodes: {}, writerLagMsMax: 1,
    servedBy: {}, misplaced: 0, reconnects: 0, clockSpreadMs: 0.01, leaderCpuPct: 10, followerCpuPct: 10, generatorCpuPct: 30, otherCpuPct: 0,
    leaderChanged: false, runs: 3, p50MinMs: p50, p50MaxMs: p50, p99MinMs: p99, p99MaxMs: p99, watchers: 1000, ratePerS: 10, procs: 4,
  };
}

function loopFigures(ops: number, p50: number): LoopFigures {
  return {
    opsPerS: ops, p50Ms: p50, p99Ms: p50 * 3, errors: 0, errorCodes: {}, paths: {}, servedBy: {}, generatorCpuPct: 50, leaderCpuPct: 50, followerCpuPct: 20,
    entriesPerSync: 1, persistMs: 1, persistP50Ms: 1, bytesPerSync: 1, leaderChanged: false, otherCpuPct: 0, leaderUsPerOp: 100, generatorUsPerOp: 100,
    followerUsPerOp: 50, rawSyncP50Ms: Number.NaN, opsMin: ops * 0.9, opsMax: ops * 1.1, procs: 4, clientsPerProc: 64, runs: 3,
    p50MinMs: p50, p50MaxMs: p50, p99MinMs: p50 * 3, p99MaxMs: p50 * 3,
  };
}

test('the JSON keys the issue names, etcd\'s beside them, and ratios that read > 1 when edgeraft is better', () => {
  const point = { key: 'x', label: 'x', system: 'edgeraft', members: 3, op: 'txn', concurrency: 1, shape: 'independent', consistency: 'linearizable', valueBytes: 256, newKeys: false } as const;
  const report: CoordinationReport = {
    notMeasured: null, etcdNotMeasured: null, options,
    sizes: [{
      members: 3, watch: { edgeraft: watchFigures(2, 40), etcd: watchFigures(8, 80) },
      txn: [{ clients: 1, edgeraft: loopFigures(400, 2), etcd: loopFigures(200, 4), point }, { clients: 256, edgeraft: loopFigures(6000, 40), etcd: loopFigures(2000, 120), point }],
      keepalive: { clients: 256, edgeraft: loopFigures(9000, 20), etcd: loopFigures(3000, 60), point },
    }],
  };
  const { keys, ratioToEtcd } = coordinationJson(report);
  assert.is(keys.watch_p50_ms_1000_watchers, 2);
  assert.is(keys.watch_p99_ms_1000_watchers, 40);
  assert.is(keys.etcd_watch_p50_ms_1000_watchers, 8);
  assert.is(keys.keepalives_per_s, 9000);
  assert.equal(keys.keepalives_per_s_range, [8100, 9900]);
  assert.is(keys.txn_writes_per_s_256_independent, 6000);
  assert.is(keys.etcd_txn_writes_per_s_256_independent, 2000);
  assert.is(keys.ratio_to_etcd_txn_256_independent, 3);
  assert.is(keys.ratio_to_etcd_keepalives, 3);
  assert.is(keys.ratio_to_etcd_watch_p50_1000_watchers, 4);
  assert.is(keys.ratio_to_etcd_watch_from_send_p50_1000_watchers, 1.5);
  // A commit → watcher figure at or below 0 has no ratio.
  assert.is(ratioToEtcd.watch_leader_p50_ms_1000_watchers, null);
  assert.is(ratioToEtcd.txn_p50_ms_256_independent, 3);
  assert.is(coordinationMarkdown(report).some((l) => l.includes('not measured yet')), false);
});

test('a run without the phase says so, with every figure a placeholder', () => {
  const md = coordinationMarkdown({ notMeasured: 'the run was asked not to (--no-coordination)', etcdNotMeasured: null, options, sizes: [] }).join('\n');
  assert.match(md, /## Coordination: watches, leases, transactions/);
  assert.match(md, /\*\*Not measured yet\*\* \(the run was asked not to \(--no-coordination\)\)/);
  assert.is(md.split('\n').filter((l) => l.startsWith('| 3 ') && l.includes('not measured yet')).length, 4 + options.txnClients.length + 1);
  const { keys } = coordinationJson({ notMeasured: 'x', etcdNotMeasured: null, options, sizes: [] });
  assert.is(keys.coordination_measured, false);
  assert.is(keys.keepalives_per_s, undefined);
});

test.run();
