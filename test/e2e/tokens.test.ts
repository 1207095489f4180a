// Tokens from the command line, end to end: `edgeraft token keygen` and `token --key` mint for a
// one-member peer started with --token-jwks and --token-algs EdDSA,ES256 (HS256 off); a second
// key becomes valid after SIGHUP re-reads the JWKS; a bad key file stops a start (exit 2) naming it.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, runCli, spawnCli, waitFor } from './proc.ts';

test('an app key mints for a peer that verifies it by JWKS; a new key counts after SIGHUP; HS256 is off', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'edgeraft-tokens-'));
  const port = await freePort();
  const peers = `127.0.0.1:${port}`;
  const secretFile = join(dir, 'secret');
  writeFileSync(secretFile, 'a secret of more than sixteen chars\n', { mode: 0o600 });
  const keys = join(dir, 'keys');
  const jwks = join(dir, 'jwks.json');
  const ok = async (args: string[]): Promise<string> => {
    const r = await runCli(args, { timeoutMs: 20_000 });
    assert.is(r.code, 0, `${args.slice(0, 3).join(' ')}: ${r.stderr}`);
    return r.stdout.trim();
  };
  await ok(['token', 'keygen', '--alg', 'EdDSA', '--kid', 'k1', '--out', keys]);
  writeFileSync(jwks, readFileSync(join(keys, 'jwks.json')));
  const bad = await runCli(['peer', '--id', 'n1', '--listen', peers, '--peers', `n1=${peers}`, '--data', join(dir, 'data'), '--secret-file', secretFile, '--token-jwks', secretFile]);
  assert.is(bad.code, 2, bad.stderr);
  assert.match(bad.stderr, new RegExp(`--token-jwks ${secretFile}: is neither a PEM key nor JSON`));
  assert.not.match(bad.stderr, /sixteen/, 'the file\'s text stays out of the error');
  let stderr = '';
  const peer = spawnCli(['peer', '--id', 'n1', '--listen', peers, '--peers', `n1=${peers}`, '--data', join(dir, 'data'),
    '--secret-file', secretFile, '--token-jwks', jwks, '--token-algs', 'EdDSA,ES256']);
  peer.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
  try {
    const k1 = await ok(['token', '--key', join(keys, 'k1.private.jwk.json'), '--role', 'client', '--sub', 'app']);
    await waitFor(async () => (await runCli(['kv', 'put', 'a', '1', '--peers', peers, '--token', k1, '--timeout', '3s'])).code === 0, 'a write with the k1 token', 20_000);
    const hs = await runCli(['kv', 'get', 'a', '--peers', peers, '--secret-file', secretFile, '--timeout', '3s']);
    assert.is(hs.code, 2, 'HS256 is not accepted');
    assert.match(hs.stderr, /ERR_FORBIDDEN/);
    await ok(['token', 'keygen', '--alg', 'ES256', '--kid', 'k2', '--out', keys]);
    const k2 = await ok(['token', '--key', join(keys, 'k2.private.jwk.json'), '--role', 'reader', '--sub', 'dash', '--prefix', 'a']);
    assert.is((await runCli(['kv', 'get', 'a', '--peers', peers, '--token', k2, '--timeout', '3s'])).code, 2, 'k2 before the reload');
    writeFileSync(jwks, readFileSync(join(keys, 'jwks.json')));
    peer.kill('SIGHUP');
    await waitFor(() => stderr.includes('token keys reloaded'), 'the reload', 10_000);
    assert.match(stderr, /"tokens":"EdDSA \(kid k1\), ES256 \(kid k2\)"/);
    assert.is(await ok(['kv', 'get', 'a', '--peers', peers, '--token', k2, '--timeout', '5s']), '1');
    assert.match(stderr, /the token is signed with ES256, but this member has no ES256 public key/);
    assert.match(stderr, /the token is signed with HS256, which this member does not accept/);
  } finally {
    peer.kill('SIGTERM');
    await new Promise((r) => peer.once('exit', r));
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
