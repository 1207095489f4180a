// The etcd side of `npm run bench` without etcd: the JSON gateway's request bodies (base64 keys and
// values, the serializable flag), its answers and errors as etcd 3.4 sends them, and the summary
// of `etcdctl check perf` in its PASS and FAIL forms.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { checkPerfLoads, CheckPerfParseError, parseCheckPerf } from '../../bench/lib/etcd-check-perf.ts';
import { checkStatus, GatewayError, parsePut, parseRange, parseStatus, putBody, rangeBody } from '../../bench/lib/etcd-gateway.ts';

const test = suite('etcd gateway and check perf');

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

test('a put carries exactly the key and the value, base64-encoded', () => {
  const value = new Uint8Array(256).map((_, i) => (i * 31 + 7) & 0xff);
  const body = JSON.parse(putBody('k/42', value)) as Record<string, string>;
  assert.equal(Object.keys(body).sort(), ['key', 'value']);
  assert.is(body.key, b64('k/42'));
  assert.equal(new Uint8Array(Buffer.from(body.value!, 'base64')), value);
});

test('a put encodes only the bytes of a view, not its whole buffer', () => {
  const backing = new Uint8Array([9, 9, 1, 2, 3, 9]);
  const body = JSON.parse(putBody('k', backing.subarray(2, 5))) as Record<string, string>;
  assert.is(body.value, Buffer.from([1, 2, 3]).toString('base64'));
});

test('a range is linearizable unless asked to be serializable', () => {
  assert.equal(JSON.parse(rangeBody('k/7', 'linearizable')), { key: b64('k/7') });
  assert.equal(JSON.parse(rangeBody('k/7', 'serializable')), { key: b64('k/7'), serializable: true });
  assert.is(JSON.parse(rangeBody('ключ', 'linearizable')).key, b64('ключ'));
});

test('answers as etcd 3.4 sends them: revisions as strings, a missing key without kvs', () => {
  const header = '{"header":{"cluster_id":"15118495548433857066","member_id":"13668033151171901709","revision":"2","raft_term":"2"}';
  assert.equal(parsePut(`${header}}`), { revision: 2 });
  const hit = parseRange(`${header},"kvs":[{"key":"Zm9v","create_revision":"2","mod_revision":"2","version":"1","value":"YmFy"}],"count":"1"}`);
  assert.is(hit.revision, 2);
  assert.equal(hit.value, new Uint8Array(Buffer.from('bar')));
  assert.is(parseRange(`${header}}`).value, null);
  assert.equal(parseRange(`${header},"kvs":[{"key":"Zm9v","version":"1"}],"count":"1"}`).value, new Uint8Array(0));
  const status = parseStatus(`${header},"version":"3.4.23","dbSize":"20480","leader":"13668033151171901709","raftIndex":"5"}`);
  assert.equal(status, { memberId: '13668033151171901709', leaderId: '13668033151171901709', version: '3.4.23', dbBytes: 20480 });
});

test('malformed answers and HTTP errors throw GatewayError with a stable code', () => {
  const codeOf = (f: () => unknown) => {
    try {
      f();
    } catch (err) {
      assert.instance(err, GatewayError);
      return (err as GatewayError).code;
    }
    return 'no error';
  };
  assert.is(codeOf(() => parsePut('<html>')), 'ERR_ETCD_BAD_JSON');
  assert.is(codeOf(() => parsePut('{"header":{}}')), 'ERR_ETCD_BAD_JSON');
  assert.is(codeOf(() => parseStatus('{"header":{}}')), 'ERR_ETCD_BAD_JSON');
  assert.is(codeOf(() => checkStatus(200, '{}', 'put')), 'no error');
  assert.is(codeOf(() => checkStatus(400, '{"error":"illegal base64 data at input byte 0","message":"illegal base64 data at input byte 0","code":3}', 'put')), 'ERR_ETCD_REQUEST');
  assert.is(codeOf(() => checkStatus(503, '{"error":"etcdserver: leader changed","code":14}', 'put')), 'ERR_ETCD_UNAVAILABLE');
  assert.is(codeOf(() => checkStatus(500, '{"message":"etcdserver: request timed out","code":14}', 'range')), 'ERR_ETCD_UNAVAILABLE');
});

const passOutput = ` 60 / 60 Booooooooooooooooooooooooooooooooooooooooooooooooooooo! 100.00% 1m0s
PASS: Throughput is 151 writes/s
PASS: Slowest request took 0.031415s
PASS: Stddev is 0.002718s
PASS
`;

const failOutput = ` 60 / 60 Boooooooooooooooooooooooooooooooooooooo! 100.00%1m0s\r
FAIL: Throughput too low: 2491 writes/s
Slowest request took too long: 0.786915s
PASS: Stddev is 0.063215s
FAIL
`;

test('check perf: a passing summary', () => {
  const s = parseCheckPerf(passOutput);
  assert.is(s.pass, true);
  assert.is(s.writesPerS, 151);
  assert.ok(s.throughputPass && s.slowestPass && s.stddevPass);
  assert.ok(Math.abs(s.slowestMs - 31.415) < 1e-9);
  assert.ok(Math.abs(s.stddevMs - 2.718) < 1e-9);
  assert.equal(s.errors, []);
});

test('check perf: a failing summary keeps which parts failed', () => {
  const s = parseCheckPerf(`${failOutput}FAIL: ERROR(context deadline exceeded) -> 3\n`);
  assert.is(s.pass, false);
  assert.is(s.writesPerS, 2491);
  assert.is(s.throughputPass, false);
  assert.is(s.slowestPass, false);
  assert.ok(Math.abs(s.slowestMs - 786.915) < 1e-9);
  assert.is(s.stddevPass, true);
  assert.equal(s.errors, ['FAIL: ERROR(context deadline exceeded) -> 3']);
});

test('check perf: output without its summary is an error naming what is missing', () => {
  try {
    parseCheckPerf('Error: context deadline exceeded\n');
    assert.unreachable('parsed');
  } catch (err) {
    assert.instance(err, CheckPerfParseError);
    assert.is((err as CheckPerfParseError).code, 'ERR_CHECK_PERF_OUTPUT');
    assert.match((err as Error).message, 'throughput, slowest request, stddev, PASS/FAIL');
  }
  assert.is(checkPerfLoads.l.clients, 500);
});

test.run();
