// Every refusal a new user can meet, walked through the built CLI (`node dist/node/cli.js`) against
// one small cluster: a token for another cluster, expired, forged, malformed; the wrong role for
// each operation; keys, prefixes, watches, transactions and leases outside a token's scopes; a
// revoked token (and the open connection holding it closed). Each one must fail at once with its
// exit code and a message that says what happened. A single member keeps it deterministic: the
// revocation is applied by the member asked as soon as the revoke command returns.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { mintToken } from '../../src/transport/token.ts';
import { Cluster, sleep, waitFor } from './cluster.ts';
import { hermeticEnv, repoRoot } from './proc.ts';

const t = suite('refusals through the CLI');
const cliJs = join(repoRoot, 'dist/node/cli.js');
/**
 * Every refusal must come back well within the CLI's 10 s --timeout: a refusal retried until the
 * timeout (the old ERR_TIMEOUT behaviour) takes 10 s. This bound is not a timing assertion, only
 * the line between "at once" and "after the whole timeout".
 */
const fastMs = 5000;

let c: Cluster;
let failed = false;

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
}

t.before(async () => {
  const built = spawnSync(process.execPath, ['build.mjs', '--quiet'], { cwd: repoRoot, encoding: 'utf8' });
  assert.is(built.status, 0, `node build.mjs failed:\n${built.stdout}${built.stderr}`);
  c = await Cluster.start({ size: 1, name: 'refusals' });
});

t.after(async () => {
  await c?.close({ failed });
});

/** `node dist/node/cli.js ...args`, with EDGERAFT_PEERS naming the cluster (and its CA under TLS). */
function cli(args: readonly string[], timeoutMs = 30_000): Promise<Run> {
  const started = Date.now();
  const env = { ...hermeticEnv(), EDGERAFT_PEERS: c.clientPeersFlag(), ...(c.certs !== null ? { EDGERAFT_CA: c.certs.caFile } : {}) };
  const child = spawn(process.execPath, [cliJs, ...args], { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
  child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  return new Promise((resolve) => child.once('close', (code) => {
    clearTimeout(timer);
    resolve({ code, stdout, stderr, ms: Date.now() - started });
  }));
}

const show = (what: string, r: Run): string => `${what}: exit ${r.code} after ${r.ms} ms\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;

/** A token minted by the CLI with the cluster secret (HS256). */
async function mint(role: string, sub: string, more: readonly string[] = []): Promise<string> {
  const r = await cli(['token', '--role', role, '--sub', sub, '--secret-file', c.secretFile, ...more]);
  assert.is(r.code, 0, show('token', r));
  return r.stdout.trim();
}

/**
 * `args` connecting with `token` (token revoke's --token names the revoked one), the flag put
 * before a `--` (what follows it is kv lock's command).
 */
function as(token: string, args: readonly string[], more: readonly string[] = []): string[] {
  const flag = [args[0] === 'token' ? '--admin-token' : '--token', token, ...more];
  const dashes = args.indexOf('--');
  return dashes < 0 ? [...args, ...flag] : [...args.slice(0, dashes), ...flag, ...args.slice(dashes)];
}

/** Runs a client command with `token` and checks it was refused at once, with `code` and `message`. */
async function refused(what: string, token: string, args: readonly string[], code: number, message: RegExp): Promise<Run> {
  const r = await cli(as(token, args, ['--timeout', '10s']));
  assert.is(r.code, code, show(what, r));
  assert.match(r.stderr, message, show(what, r));
  assert.ok(r.ms < fastMs, show(`${what} (refused at once, not after the 10 s timeout)`, r));
  return r;
}

async function ok(what: string, token: string, args: readonly string[]): Promise<Run> {
  const r = await cli(as(token, args));
  assert.is(r.code, 0, show(what, r));
  return r;
}

function test(name: string, fn: () => Promise<void>): void {
  t(name, async () => {
    try {
      await fn();
    } catch (err) {
      failed = true;
      throw err;
    }
  });
}

test('tokens the cluster cannot accept: another cluster, expired, forged, malformed', async () => {
  const other = await mint('client', 'app', ['--cluster', 'other']);
  await refused('another cluster', other, ['kv', 'get', 'k'], 2, /ERR_WRONG_CLUSTER: \S+ belongs to cluster "?edgeraft"?, but this client's token is for cluster "?other"?/);
  const now = Date.now();
  const expired = await mintToken(c.secret, { role: 'client', sub: 'late', cluster: 'edgeraft', expMs: now - 3_600_000 }, now - 7_200_000);
  // The handshake tells a token's holder which of the token's own properties failed (the
  // detail is in the member's log): the CLI says so at once, naming the member.
  await refused('expired', expired, ['kv', 'get', 'k'], 2, /ERR_FORBIDDEN: ws\S* refused the token: it has expired \(mint a new one, edgeraft token\)/);
  const forged = await mintToken('a secret that is not the cluster\'s', { role: 'admin', sub: 'mallory', cluster: 'edgeraft', expMs: now + 600_000 });
  await refused('forged', forged, ['kv', 'get', 'k'], 2, /ERR_FORBIDDEN: ws\S* refused the token: its signature does not verify with any key or secret this cluster accepts/);
  const early = await mintToken(c.secret, { role: 'client', sub: 'early', cluster: 'edgeraft', expMs: now + 7_200_000 }, now + 3_600_000);
  await refused('not yet valid', early, ['kv', 'get', 'k'], 2, /ERR_FORBIDDEN: ws\S* refused the token: it is not valid yet/);
  // A token that is not a JWT at all is refused before any member is asked.
  await refused('malformed', 'not-a-token', ['kv', 'get', 'k'], 2, /ERR_OPTIONS: the token is malformed: a token is a JWT of three dot-separated parts/);
});

test('a reader token may read, and each write, lease and admin operation says what it needs', async () => {
  const admin = await mint('admin', 'root');
  await ok('seed', admin, ['kv', 'put', 'k', 'v']);
  const reader = await mint('reader', 'dash');
  assert.is((await ok('reader get', reader, ['kv', 'get', 'k'])).stdout, 'v\n');
  const writes = /ERR_FORBIDDEN: a reader token cannot write: writes, transactions and leases need a client or admin token/;
  await refused('reader put', reader, ['kv', 'put', 'k', 'x'], 2, writes);
  await refused('reader delete', reader, ['kv', 'del', 'k'], 2, writes);
  await refused('reader txn', reader, ['kv', 'txn', '{"compare":[],"success":[{"op":"put","key":"k","value":"x"}]}'], 2, writes);
  await refused('reader lease grant', reader, ['kv', 'lease', 'grant', '60000'], 2, writes);
  await refused('reader members add', reader, ['members', 'add', 'n9', '127.0.0.1:1'], 2, /ERR_FORBIDDEN: a reader token cannot see or change membership: members needs an admin token/);
  await refused('reader transfer', reader, ['transfer-leader', 'n1'], 2, /ERR_FORBIDDEN: a reader token cannot move leadership: transfer needs an admin token/);
  await refused('reader compact', reader, ['kv', 'compact', '1'], 2, /ERR_FORBIDDEN: a reader token cannot compact the watch history: compact needs an admin token/);
  await refused('reader revoke', reader, ['token', 'revoke', '--sub', 'x'], 2, /ERR_FORBIDDEN: a reader token cannot revoke tokens: tokenRevoke needs an admin token/);
  assert.is((await ok('after', admin, ['kv', 'get', 'k'])).stdout, 'v\n', 'nothing refused changed anything');
});

test('a client token writes but does not administer the cluster', async () => {
  const client = await mint('client', 'app');
  await ok('client put', client, ['kv', 'put', 'k', 'w']);
  await refused('client members', client, ['members', 'list'], 2, /ERR_FORBIDDEN: a client token cannot see or change membership: members needs an admin token/);
  await refused('client transfer', client, ['transfer-leader', 'n1'], 2, /ERR_FORBIDDEN: a client token cannot move leadership: transfer needs an admin token/);
  await refused('client compact', client, ['kv', 'compact', '1'], 2, /ERR_FORBIDDEN: a client token cannot compact the watch history/);
  await refused('client revoke', client, ['token', 'revoke', '--sub', 'x'], 2, /ERR_FORBIDDEN: a client token cannot revoke tokens: tokenRevoke needs an admin token/);
});

test('a scoped token works inside its prefix (keys, ranges, txns, leases, locks) and is refused outside it', async () => {
  const acme = await mint('client', 'acme', ['--prefix', 'tenants/acme/']);
  const other = await mint('client', 'other', ['--prefix', 'tenants/other/']);
  await ok('put inside', acme, ['kv', 'put', 'tenants/acme/x', '1']);
  await ok('put other\'s', other, ['kv', 'put', 'tenants/other/x', '2']);
  assert.is((await ok('get inside', acme, ['kv', 'get', 'tenants/acme/x'])).stdout, '1\n');
  assert.match((await ok('range inside', acme, ['kv', 'range', '--prefix', 'tenants/acme/'])).stdout, /tenants\/acme\/x/);
  await ok('lock under its prefix', acme, ['kv', 'lock', 'jobs', '--prefix', 'tenants/acme/lock/', '--', process.execPath, '-e', '']);

  const outside = /ERR_FORBIDDEN: \w+: key "tenants\/other\/x" is outside this token's scopes \("tenants\/acme\/"\)/;
  await refused('get outside', acme, ['kv', 'get', 'tenants/other/x'], 2, outside);
  await refused('put outside', acme, ['kv', 'put', 'tenants/other/x', 'stolen'], 2, outside);
  await refused('range over a wider prefix', acme, ['kv', 'range', '--prefix', 'tenants/'], 2, /ERR_FORBIDDEN: range: prefix "tenants\/" reaches outside this token's scopes \("tenants\/acme\/"\): it must lie inside one of them \(a wider range is refused, not filtered\)/);
  await refused('watch over a wider prefix', acme, ['kv', 'watch', '--prefix', 'tenants/'], 2, /ERR_FORBIDDEN: watch: prefix "tenants\/" reaches outside this token's scopes/);
  await refused('txn touching another tenant', acme, ['kv', 'txn', '{"compare":[{"key":"tenants/acme/x","target":"version","op":">","value":0}],"success":[{"op":"get","key":"tenants/other/x"}]}'], 2,
    /ERR_FORBIDDEN: txn: success operation 0 \(get\): key "tenants\/other\/x" is outside this token's scopes/);
  await refused('lock under the default prefix', acme, ['kv', 'lock', 'jobs', '--', process.execPath, '-e', ''], 2, /ERR_FORBIDDEN: .*"edgeraft\/lock\/jobs\/.*is outside this token's scopes/);
  await refused('cluster-wide op', await mint('admin', 'acme-ops', ['--prefix', 'tenants/acme/']), ['members', 'list'], 2, /ERR_FORBIDDEN: a token scoped to \("tenants\/acme\/"\) cannot see or change membership/);

  // A lease belongs to the subject that granted it.
  const granted = await ok('other grants a lease', other, ['kv', 'lease', 'grant', '60000', '--json']);
  const lease = (JSON.parse(granted.stdout) as { id: number }).id;
  const notYours = new RegExp(`ERR_FORBIDDEN: \\w+: lease ${lease} belongs to token subject "other", not to "acme": only the subject that granted a lease may use it`);
  await refused('revoke another subject\'s lease', acme, ['kv', 'lease', 'revoke', String(lease)], 2, notYours);
  await refused('keep another subject\'s lease alive', acme, ['kv', 'lease', 'keepalive', String(lease), '--once'], 2, notYours);
  await refused('read another subject\'s lease', acme, ['kv', 'lease', 'info', String(lease)], 2, notYours);
  await refused('attach a key to another subject\'s lease', acme, ['kv', 'put', 'tenants/acme/y', 'v', '--lease', String(lease)], 2, notYours);
  await ok('the owner revokes it', other, ['kv', 'lease', 'revoke', String(lease)]);
});

const revokedToken = /ERR_FORBIDDEN: wss?:\S+ refused the token: it was revoked \(edgeraft token revoke\): use a token minted after the revocation/;

test('a revoked token is refused at once, by subject or by id, and its open connection is closed', async () => {
  const admin = await mint('admin', 'root');
  const mallory = await mint('client', 'mallory');
  await ok('before', mallory, ['kv', 'put', 'm', '1']);
  // An open connection holding the token: a watch, which runs until its connection is refused.
  const watch = spawn(process.execPath, [cliJs, 'kv', 'watch', 'm', '--token', mallory, '--timeout', '10s'], {
    cwd: repoRoot, env: { ...hermeticEnv(), EDGERAFT_PEERS: c.clientPeersFlag(), ...(c.certs !== null ? { EDGERAFT_CA: c.certs.caFile } : {}) }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let watched = '';
  let watchErr = '';
  watch.stdout.setEncoding('utf8').on('data', (d: string) => { watched += d; });
  watch.stderr.setEncoding('utf8').on('data', (d: string) => { watchErr += d; });
  const watchExit = new Promise<number | null>((resolve) => watch.once('close', (code) => resolve(code)));
  try {
    await waitFor(async () => {
      await ok('a change to watch', admin, ['kv', 'put', 'm', String(Date.now())]);
      return watched.includes('"key":"m"');
    }, 'the watch to see a change', 15_000, 200);
    const revoked = await ok('revoke by subject', admin, ['token', 'revoke', '--sub', 'mallory']);
    assert.match(revoked.stdout, /revoked every token of subject "mallory" issued until .*; the cluster forgets this revocation at/);
    // A new connection is refused at the handshake (close code 4007), which the CLI says at once.
    await refused('revoked (by subject)', mallory, ['kv', 'get', 'm'], 2, revokedToken);
    const code = await Promise.race([watchExit, sleep(fastMs).then(() => 'still running' as const)]);
    assert.is(code, 2, `the watch holding the revoked token ends, refused: ${code}\n${watchErr}`);
    assert.match(watchErr, /ERR_FORBIDDEN: .*was revoked/);
  } finally {
    if (watch.exitCode === null) watch.kill('SIGKILL');
  }
  // Tokens issued after the revocation are good (iat is in whole seconds: the next second on).
  await sleep(1100);
  await ok('a new token of the subject', await mint('client', 'mallory'), ['kv', 'get', 'm']);

  // By id: that one token, not the others of its subject.
  const eve1 = await mint('client', 'eve');
  const eve2 = await mint('client', 'eve');
  const byId = await ok('revoke by token', admin, ['token', 'revoke', '--token', eve1, '--json']);
  assert.is((JSON.parse(byId.stdout) as { by: string }).by, 'jti');
  await refused('revoked (by id)', eve1, ['kv', 'get', 'm'], 2, revokedToken);
  await ok('another token of the same subject', eve2, ['kv', 'get', 'm']);
  const usage = await cli(['token', 'revoke', '--sub', 'a', '--id', 'b']);
  assert.is(usage.code, 2, show('two targets', usage));
  assert.match(usage.stderr, /token revoke needs exactly one of --sub NAME, --id JTI or --token T \(got --sub and --id\)/);
});

t.run();
