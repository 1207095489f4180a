// The Node peer as a user runs it: 3 `edgeraft peer` processes started from the CLI, used through
// the SDK and through the CLI's own commands (status, kv, token), with wrong flags, read-only and
// forged tokens, graceful SIGTERM shutdown and the data-directory lock. E2E_TLS=1 runs it all
// over TLS (npm test does, once).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ClientError } from '../../src/client/errors.ts';
import { connect } from '../../src/client/node.ts';
import { mintToken } from '../../src/transport/token.ts';
import { explain, freePort, rejects, runCli, withCluster } from './cluster.ts';

test('a 3-peer cluster from the CLI elects a leader, serves the SDK and the CLI, and refuses bad flags and tokens', () => withCluster({ name: 'basics' }, async (c) => {
  const leader = await c.leader();

  // `edgeraft status` lists every member, each naming the same leader.
  const [st, js] = await Promise.all([c.cliAdmin(['status']), c.cliAdmin(['status', '--json'])]);
  assert.is(st.code, 0, explain(st));
  const rows = st.stdout.split('\n').filter((l) => /^n\d\s/.test(l)).map((l) => l.trim().split(/\s+/));
  assert.equal(rows.map((r) => r[0]).sort(), ['n1', 'n2', 'n3'], explain(st));
  for (const r of rows) assert.is(r[4], leader, `status row of ${r[0]} names leader ${r[4]}, not ${leader}\n${st.stdout}`);
  assert.is(rows.filter((r) => r[2] === 'leader').map((r) => r[0]).join(), leader, st.stdout);
  assert.is(js.code, 0, explain(js));
  const parsed = JSON.parse(js.stdout) as Array<{ id: string; leader: string }>;
  assert.equal(parsed.map((p) => `${p.id}:${p.leader}`).sort(), ['n1', 'n2', 'n3'].map((id) => `${id}:${leader}`));

  // SDK writes, then linearizable reads: through the same client, and through another client that
  // only knows a follower (it must still see every acknowledged write).
  const kv = await c.client('client');
  const written = new Map<string, string>();
  await Promise.all(Array.from({ length: 100 }, async (_, i) => {
    const key = `basic/${i}`;
    const r = await kv.put(key, `value ${i}`);
    assert.ok(r.index > 0);
    written.set(key, `value ${i}`);
  }));
  for (const [k, v] of written) assert.is(await kv.get(k), v, `own read of ${k}`);
  const follower = c.ids.find((id) => id !== leader)!;
  const viaFollower = await c.client('reader', { peers: [follower] });
  for (const [k, v] of written) {
    const r = await viaFollower.getWithMeta(k);
    assert.is(r.value, v, `linearizable read of ${k} through ${follower} (served by ${r.servedBy} via ${r.path})`);
  }
  assert.is(await kv.get('basic/never-written'), undefined);

  // `edgeraft kv put/get` round-trip, and cas reports a failed swap with exit 1.
  const put = await c.cliAdmin(['kv', 'put', 'greeting', 'hello world']);
  assert.is(put.code, 0, explain(put));
  assert.match(put.stdout, /^ok \(index \d+\)/);
  const get = await c.cliAdmin(['kv', 'get', 'greeting'], { peers: [follower] });
  assert.is(get.code, 0, explain(get));
  assert.is(get.stdout, 'hello world\n');
  assert.is(await kv.get('greeting'), 'hello world', 'the SDK sees what the CLI wrote');
  const [absent, cas] = await Promise.all([c.cliAdmin(['kv', 'get', 'no-such-key']), c.cliAdmin(['kv', 'cas', 'greeting', 'wrong', 'x'])]);
  assert.is(absent.stdout, '(absent)\n', explain(absent));
  assert.is(cas.code, 1, explain(cas));
  assert.match(cas.stdout, /not swapped/);
  const cas2 = await c.cliAdmin(['kv', 'cas', 'greeting', 'hello world', 'bye']);
  assert.is(cas2.code, 0, explain(cas2));
  assert.is(await kv.get('greeting'), 'bye');

  // Wrong flags exit 2 with a message naming the flag.
  const peers = c.peersFlag();
  const base = ['--peers', peers, '--data', join(c.dir, 'unused'), '--secret-file', c.secretFile];
  const usage: Array<[string[], RegExp]> = [
    [['peer', '--id', 'n1', '--listen', 'nohost', ...base], /--listen/],
    [['peer', '--id', 'n1', '--listen', '127.0.0.1:1', '--tick-ms', '0', ...base], /--tick-ms/],
    [['peer', '--id', 'n1', '--listen', '127.0.0.1:1', '--bogus', ...base], /--bogus/],
    [['peer', '--id', 'n9', '--listen', '127.0.0.1:1', ...base], /peers/],
    [['kv', 'put', 'a', 'b', '--peers', c.addr('n1'), '--secret-file', c.secretFile, '--consistency', 'eventual'], /--consistency/],
    [['kv', 'get', 'a', '--secret-file', c.secretFile], /--peers/],
    [['status', '--peers', 'not-a-host-port', '--secret-file', c.secretFile], /--peers/],
    [['token', '--role', 'superuser', '--secret-file', c.secretFile], /--role/],
    [['token', '--role', 'reader', '--ttl', 'forever', '--secret-file', c.secretFile], /--ttl/],
  ];
  const results = await Promise.all(usage.map(([args]) => runCli(args)));
  results.forEach((r, i) => {
    const [args, flag] = usage[i]!;
    assert.is(r.code, 2, `edgeraft ${args.join(' ')}\n${explain(r)}`);
    assert.match(r.stderr, flag, `edgeraft ${args.join(' ')}: the message should name ${flag}\n${explain(r)}`);
  });

  // A reader token (minted by `edgeraft token`) reads but cannot write: ERR_FORBIDDEN, exit 2.
  const tok = await runCli(['token', '--role', 'reader', '--secret-file', c.secretFile, '--ttl', '10m']);
  assert.is(tok.code, 0, explain(tok));
  const readerToken = tok.stdout.trim();
  const denied = await c.cli(['kv', 'put', 'greeting', 'overwrite', '--peers', c.clientPeersFlag(), '--token', readerToken]);
  assert.is(denied.code, 2, explain(denied));
  assert.match(denied.stderr, /ERR_FORBIDDEN/);
  const readOk = await c.cli(['kv', 'get', 'greeting', '--peers', c.clientPeersFlag(), '--token', readerToken]);
  assert.is(readOk.stdout, 'bye\n', explain(readOk));
  const reader = await c.client('reader', { token: readerToken });
  const e1 = await rejects(reader.put('greeting', 'overwrite'));
  assert.instance(e1, ClientError);
  assert.is((e1 as ClientError).code, 'ERR_FORBIDDEN');
  assert.is(await reader.get('greeting'), 'bye', 'the refused write changed nothing');
  // A client token may write but not change membership.
  const notAdmin = await c.client('client');
  const e2 = await rejects(notAdmin.members('addLearner', 'n9', 'ws://127.0.0.1:1'));
  assert.is((e2 as ClientError).code, 'ERR_FORBIDDEN', e2.message);

  // Tokens signed with another secret, or expired, are refused at the handshake.
  const forged = await mintToken('another secret of enough length', { role: 'admin', sub: 'mallory', cluster: 'edgeraft', expMs: Date.now() + 600_000 });
  const expired = await mintToken(c.secret, { role: 'admin', sub: 'late', cluster: 'edgeraft', expMs: Date.now() - 1000 });
  const says: Record<string, RegExp> = { forged: /refused the token: its signature does not verify/, expired: /refused the token: it has expired/ };
  await Promise.all([['forged', forged], ['expired', expired]].map(async ([what, token]) => {
    const [e, r] = await Promise.all([
      rejects(connect({ peers: c.ids.map((id) => c.url(id)), token: token!, timeoutMs: 1500, ...(c.ca !== null ? { ca: c.ca } : {}) })),
      c.cli(['kv', 'get', 'greeting', '--peers', c.clientPeersFlag(), '--token', token!, '--timeout', '1500ms']),
    ]);
    assert.instance(e, ClientError, `${what} token: ${e.message}`);
    assert.is((e as ClientError).code, 'ERR_FORBIDDEN', `${what} token: ${e.message}`);
    assert.match(e.message, says[what!]!, `${what} token: the error should say why it was refused: ${e.message}`);
    assert.is.not(r.code, 0, `${what} token\n${explain(r)}`);
    assert.is(r.code, 2, `${what} token\n${explain(r)}`);
    assert.match(r.stderr, says[what!]!, `${what} token\n${explain(r)}`);
    assert.not.match(r.stdout, /bye/);
  }));
}));

test('SIGTERM stops a peer with exit 0 and frees its lock; a second process on a data dir in use fails naming the lock', () => withCluster({ name: 'shutdown' }, async (c) => {
  const kv = await c.client();
  for (let i = 0; i < 50; i++) await kv.put(`s/${i}`, `${i}`);
  const leader = await c.leader();
  const follower = c.ids.find((id) => id !== leader)!;

  // A second peer process on a running member's data directory is refused: exit 1, naming LOCK.
  const pid = Number(readFileSync(join(c.dataDir(follower), 'wal', 'LOCK'), 'utf8').trim());
  const twin = await c.cli(c.peerArgs(follower, { port: await freePort() }), { timeoutMs: 20_000 });
  assert.is(twin.code, 1, explain(twin));
  assert.match(twin.stderr, /locked/, explain(twin));
  assert.match(twin.stderr, /LOCK/, explain(twin));
  assert.ok(twin.stderr.includes(String(pid)), `the message should name the holder pid ${pid}\n${explain(twin)}`);
  assert.ok(c.isRunning(follower), 'the twin must not disturb the running member');
  assert.is(Number(readFileSync(join(c.dataDir(follower), 'wal', 'LOCK'), 'utf8').trim()), pid, 'the lock still names the running member');

  // SIGTERM a follower, then the leader: each exits 0 on its own and leaves no lock behind.
  for (const id of [follower, leader]) {
    const exit = await c.stop(id, 5000);
    assert.equal(exit, { code: 0, signal: null }, `${id} after SIGTERM:\n${c.tail(id, 10)}`);
    assert.not.ok(existsSync(join(c.dataDir(id), 'wal', 'LOCK')), `${id} left its LOCK file behind`);
    assert.ok(c.logs(id).some((l) => l.msg === 'stopped'), `${id} should log 'stopped'`);
    // It starts again at once on the same directory, with its data.
    await c.start(id);
    const started = c.logs(id).filter((l) => l.msg === 'started').at(-1)!;
    assert.ok(Number(started.entries) + Number(started.snapshot) >= 50, `${id} restarted with its log: ${JSON.stringify(started)}`);
    assert.not.ok(c.logLines(id).some((l) => /stale lock/.test(l)), `${id} found a stale lock after a clean stop`);
  }
  await c.leader();
  await kv.put('s/after', 'restart');
  await c.converged();
  for (const id of c.ids) {
    const one = await c.client('reader', { peers: [id] });
    const r = await one.getWithMeta('s/after', { consistency: 'stale' });
    assert.is(r.value, 'restart', `${id} after restart`);
    assert.is(r.servedBy, id);
    assert.is(await one.get('s/49', { consistency: 'stale' }), '49');
  }
}));

test.run();
