// Peers with TLS, started through the CLI with a throwaway CA (`edgeraft cert --dev`'s code): the
// SDK over wss:// with `ca`, a leader killed and restarted without losing an acknowledged write,
// certificate rotation by SIGHUP without an election (and a bad new file kept out), a peer with
// another CA refused with a log line that names it, --peer-mtls refusing a peer whose client
// certificate is not ours while serving clients that have none, bad files refused at start, and
// `edgeraft start --tls`.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { ClientError } from '../../src/client/errors.ts';
import { connect } from '../../src/client/node.ts';
import { writeDevCertificates } from '../../src/runtime-node/cli-cert.ts';
import { getText } from '../../src/runtime-node/local-probe.ts';
import { generateP256, writeCertificate } from '../../src/runtime-node/x509-writer.ts';
import { explain, isStatus, rejects, runCli, waitFor, withCluster, type Cluster } from './cluster.ts';
import { freePortBlock, startSupervisor } from './supervisor.ts';

const hosts = ['127.0.0.1', 'localhost'];

/** The serial of the certificate a new TLS connection to `port` is served (lower-case hex). */
function servedSerial(port: number, ca: string): Promise<string> {
  return new Promise((resolveSerial, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port, ca }, () => {
      const serial = s.getPeerCertificate().serialNumber.toLowerCase();
      s.destroy();
      resolveSerial(serial);
    });
    s.once('error', reject);
  });
}

function certsOf(c: Cluster): NonNullable<Cluster['certs']> {
  assert.ok(c.certs !== null && c.ca !== null, 'a TLS cluster');
  return c.certs;
}

const portOf = (c: Cluster, id: string): number => Number(c.addr(id).split(':').at(-1));

async function terms(c: Cluster): Promise<Map<string, number>> {
  const sts = await c.statuses();
  return new Map([...sts].map(([id, s]) => [id, isStatus(s) ? s.term : -1]));
}

test('a TLS cluster: SDK over wss:// with ca, a leader SIGKILLed and restarted keeps every acknowledged write, SIGHUP rotates the certificate without an election', () => withCluster({ name: 'tls', tls: true, tickMs: 20 }, async (c) => {
  const certs = certsOf(c);
  const leader = await c.leader();
  assert.match(c.url(leader), /^wss:\/\//);
  const kv = await c.client('client');
  const acked = new Map<string, string>();
  await Promise.all(Array.from({ length: 100 }, async (_, i) => {
    await kv.put(`tls/${i}`, `v${i}`);
    acked.set(`tls/${i}`, `v${i}`);
  }));
  const follower = c.ids.find((id) => id !== leader)!;
  const viaFollower = await c.client('reader', { peers: [follower] });
  for (const [k, v] of acked) assert.is(await viaFollower.get(k), v, `linearizable read of ${k} through ${follower}`);

  // Without the CA a client is refused by TLS itself, and says so; ws:// reaches no TLS listener.
  const token = await c.token('reader');
  const untrusted = await rejects(connect({ peers: [c.url(leader)], token, timeoutMs: 1500 }));
  assert.instance(untrusted, ClientError);
  assert.match(untrusted.message, /TLS certificate of wss:\/\/127\.0\.0\.1:\d+ is not trusted/, untrusted.message);
  const cli = await c.cliAdmin(['kv', 'get', 'tls/7']);
  assert.is(cli.stdout, 'v7\n', `the CLI with EDGERAFT_CA reads over wss://\n${explain(cli)}`);

  // The leader dies mid-load; writes go on through the new leader; it comes back with everything.
  const writing = (async () => {
    for (let i = 0; i < 60; i++) {
      await kv.put(`kill/${i}`, `k${i}`);
      acked.set(`kill/${i}`, `k${i}`);
    }
  })();
  await waitFor(() => acked.has('kill/10'), 'writes before the kill', 10_000, 10);
  await c.kill(leader);
  await writing;
  await c.start(leader);
  await c.caughtUp(leader);
  for (const id of c.ids) {
    const one = await c.client('reader', { peers: [id] });
    for (const [k, v] of acked) assert.is(await one.get(k, { consistency: 'stale' }), v, `${id} holds acknowledged ${k}`);
  }

  // Rotation: a new certificate from the same CA, then SIGHUP to each member.
  const before = await terms(c);
  const rotated = writeDevCertificates(certs.dir, { hosts, force: true });
  await Promise.all(c.ids.map(async (id) => {
    const mark = c.logMark(id);
    c.hangup(id);
    const rec = await c.waitForLog(id, (r) => r.msg === 'TLS certificate reloaded', `${id} to reload its certificate`, 10_000, mark);
    assert.is(rec.serial, rotated.serial, `${id} logs the new serial`);
    assert.is(await servedSerial(portOf(c, id), c.ca!), rotated.serial, `a new connection to ${id} gets the new certificate`);
  }));
  await kv.put('after/rotation', 'yes');
  assert.is(await viaFollower.get('after/rotation'), 'yes');
  assert.equal(await terms(c), before, 'no election: every member is still in the term it was in');

  // A bad new key is refused on SIGHUP, naming the file; the member keeps serving the rotated certificate.
  writeFileSync(certs.keyFile, 'not a key\n');
  const mark = c.logMark(follower);
  c.hangup(follower);
  const err = await c.waitForLog(follower, (r) => r.level === 'error' && /TLS reload failed/.test(String(r.msg)), 'the failed reload', 10_000, mark);
  assert.match(String(err.msg), new RegExp(`--tls-key ${certs.keyFile.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: not a PEM private key`));
  assert.is(await servedSerial(portOf(c, follower), c.ca!), rotated.serial);
  await kv.put('after/bad-reload', 'still');
  assert.equal(await terms(c), before, 'a failed reload disturbs nothing either');
}));

test('--peer-mtls: a peer whose CA is another is refused with a log line naming it, its URL and why; a peer without our client certificate is refused; clients without one are served', () => withCluster({ name: 'tls-mtls', tls: { peerMtls: true }, tickMs: 20 }, async (c) => {
  certsOf(c);
  const leader = await c.leader();
  const kv = await c.client('client');
  await kv.put('m/1', 'one');
  const other = writeDevCertificates(join(c.dir, 'other-ca'), { hosts });
  const odd = c.ids.find((id) => id !== leader)!;
  const peerUrl = c.url(odd);
  const withFiles = (cert: string, key: string, ca: string) => ['--tls-cert', cert, '--tls-key', key, '--tls-ca', ca];

  // Another CA entirely: neither side trusts the other's certificate, and each logs the dial it refused.
  await c.stop(odd);
  let mark = c.logMark(odd);
  const leaderMark = c.logMark(leader);
  await c.start(odd, { extraArgs: withFiles(other.certFile, other.keyFile, other.caFile) });
  const own = await c.waitForLog(odd, (r) => r.level === 'warn' && /^dial n\d \(wss:.*not trusted/.test(String(r.msg)), `${odd} to log its refused dial`, 10_000, mark);
  assert.match(String(own.msg), /the TLS certificate of wss:\/\/127\.0\.0\.1:\d+ is not trusted: .*\((SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)\)/);
  const theirs = await c.waitForLog(leader, (r) => r.level === 'warn' && String(r.msg).startsWith(`dial ${odd} (${peerUrl}) failed: the TLS certificate of ${peerUrl} is not trusted`), `${leader} to log its refused dial of ${odd}`, 10_000, leaderMark);
  assert.ok(theirs.msg);
  await kv.put('m/2', 'two');
  // (Its listener serves the other CA's certificate: a client must trust that CA to ask it.)
  const oddClient = await connect({ peers: [peerUrl], token: await c.token('reader'), ca: readFileSync(other.caFile), timeoutMs: 5000 });
  try {
    assert.is(await oddClient.get('m/2', { consistency: 'stale' }), undefined, `${odd} is cut off: it never got m/2`);
  } finally {
    await oddClient.close();
  }

  // Our CA trusted, but a client certificate from the other CA: TLS lets it in, the mesh refuses the peer.
  await c.stop(odd);
  mark = c.logMark(leader);
  await c.start(odd, { extraArgs: withFiles(other.certFile, other.keyFile, c.certs!.caFile) });
  const refused = await c.waitForLog(leader, (r) => r.level === 'warn' && String(r.msg) === `refused ${odd} (peer): its connection presented no TLS client certificate signed by our CA (--peer-mtls)`, `${leader} to refuse ${odd}'s handshake`, 10_000, mark);
  assert.ok(refused);

  // Back with its own files, it rejoins and catches up; clients (no certificate) were served all along.
  await c.stop(odd);
  await c.start(odd);
  await c.caughtUp(odd);
  const back = await c.client('reader', { peers: [odd] });
  assert.is(await back.get('m/2', { consistency: 'stale' }), 'two');
}));

test('bad TLS files and flags stop `edgeraft peer` at once with exit 2 and a message naming the file and the problem', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'edgeraft-e2e-tls-files-'));
  try {
    const good = writeDevCertificates(join(dir, 'good'), { hosts });
    const other = writeDevCertificates(join(dir, 'other'), { hosts });
    const garbage = join(dir, 'garbage.pem');
    writeFileSync(garbage, 'hello\n');
    // A certificate that expired yesterday, for the good key.
    const keys = generateP256();
    const expiredFile = join(dir, 'expired.pem');
    const expiredKey = join(dir, 'expired-key.pem');
    writeFileSync(expiredFile, writeCertificate({
      commonName: 'old', publicKey: keys.publicKey, selfKey: keys.privateKey, ca: false, hosts, notBeforeMs: Date.now() - 10 * 86_400_000, notAfterMs: Date.now() - 86_400_000,
    }).pem);
    writeFileSync(expiredKey, keys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), { mode: 0o600 });
    const secret = join(dir, 'secret');
    writeFileSync(secret, 'a secret of more than sixteen characters\n', { mode: 0o600 });
    const base = ['peer', '--id', 'n1', '--listen', '127.0.0.1:1', '--peers', 'n1=127.0.0.1:1', '--data', join(dir, 'data'), '--secret-file', secret];
    const cases: Array<[string[], RegExp]> = [
      [['--tls-cert', join(dir, 'missing.pem'), '--tls-key', good.keyFile], /--tls-cert .*missing\.pem: cannot read it \(no such file\)/],
      [['--tls-cert', garbage, '--tls-key', good.keyFile], /--tls-cert .*garbage\.pem: not a PEM certificate/],
      [['--tls-cert', good.certFile, '--tls-key', garbage], /--tls-key .*garbage\.pem: not a PEM private key/],
      [['--tls-cert', good.certFile, '--tls-key', other.keyFile], /--tls-key .*other\/key\.pem: this key does not match the certificate in --tls-cert .*good\/cert\.pem/],
      [['--tls-cert', expiredFile, '--tls-key', expiredKey], /--tls-cert .*expired\.pem: the certificate expired on 20\d\d-/],
      [['--tls-cert', good.certFile, '--tls-key', good.keyFile, '--tls-ca', garbage], /--tls-ca .*garbage\.pem: not a PEM certificate/],
      [['--tls-key', good.keyFile], /--tls-key needs --tls-cert/],
      [['--tls-cert', good.certFile], /--tls-cert needs --tls-key/],
      [['--peer-mtls'], /--peer-mtls needs --tls-cert and --tls-key/],
    ];
    const results = await Promise.all(cases.map(([args]) => runCli([...base, ...args], { timeoutMs: 20_000 })));
    results.forEach((r, i) => {
      const [args, message] = cases[i]!;
      assert.is(r.code, 2, `edgeraft peer ${args.join(' ')}\n${explain(r)}`);
      assert.match(r.stderr, message, `edgeraft peer ${args.join(' ')}\n${explain(r)}`);
    });
    const cert = await runCli(['cert', '--dev', '--out', join(dir, 'good')]);
    assert.is(cert.code, 2, `cert --dev over existing files without --force\n${explain(cert)}`);
    assert.match(cert.stderr, /exist.* already: use --force/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('`edgeraft start --tls` (npm start -- --tls): members on wss://, the page on https://, a CA to trust, and an SDK client that trusts it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'edgeraft-e2e-start-tls-'));
  const s = await startSupervisor(join(dir, 'c'), await freePortBlock(), ['--tls']);
  try {
    assert.match(s.url, /^https:\/\//);
    const caFile = join(dir, 'c', 'tls', 'ca.pem');
    assert.match(s.output(), new RegExp(`TLS: certificates from a throwaway CA, .*${caFile.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    const ca = readFileSync(caFile, 'utf8');
    const config = JSON.parse(await getText(`${s.url}config.json`, 5000, ca)) as { token: string; members: Array<{ url: string }> };
    assert.ok(config.members.length === 3 && config.members.every((m) => m.url.startsWith('wss://')), JSON.stringify(config.members));
    const kv = await connect({ peers: config.members.map((m) => m.url), token: config.token, ca, timeoutMs: 20_000 });
    try {
      await kv.put('start/tls', 'yes');
      assert.is(await kv.get('start/tls'), 'yes');
    } finally {
      await kv.close();
    }
    const health = JSON.parse(await getText(`${config.members[0]!.url.replace('wss:', 'https:')}/healthz`, 5000, ca)) as { id: string };
    assert.is(health.id, 'n1');
  } finally {
    s.proc.kill('SIGINT');
    const timer = setTimeout(() => s.proc.kill('SIGKILL'), 15_000);
    const exit = await s.exited;
    clearTimeout(timer);
    rmSync(dir, { recursive: true, force: true });
    assert.equal(exit, { code: 0, signal: null }, `the supervisor exits 0 on SIGINT:\n${s.output()}`);
  }
});

test.run();
