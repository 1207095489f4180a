// A Deno peer in a cluster of Node peers: the same built CLI runs under `npx deno run` (Deno's
// Node-compatible fs, net and crypto carry the file WAL and the ws transport unchanged), joins as
// a voter, replicates, can lead, and its loss leaves the Node majority serving.
import { unless } from '../requires.ts';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Cluster, sleep, waitFor } from './cluster.ts';

const test = suite('deno');

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** The deno binary itself (npm's deno package installs it here), so signals reach the peer. */
const denoBin = join(root, 'node_modules/deno/deno');

function denoAvailable(): boolean {
  const r = spawnSync(denoBin, ['--version'], { encoding: 'utf8' });
  return r.status === 0;
}

const it = unless(test, denoAvailable() ? null : 'no deno binary (npm install puts it in node_modules/deno)');

it('a Deno peer joins Node peers as a voter, replicates, leads after a transfer, and its loss is tolerated', async () => {
  // The Deno peer runs the built bundle: build it so the test never runs a stale one.
  const build = spawnSync(process.execPath, ['build.mjs', '--quiet'], { cwd: root, encoding: 'utf8' });
  assert.is(build.status, 0, build.stderr);
  const c = await Cluster.create({ size: 3, tickMs: 20, name: 'deno' });
  let deno: ChildProcess | null = null;
  let denoLog = '';
  try {
    await c.start('n1');
    await c.start('n2');
    deno = spawn(denoBin, ['run', '--allow-net', '--allow-read', '--allow-write',
      '--allow-env', '--allow-sys', '--allow-ffi', join(root, 'dist/node/cli.js'), ...c.peerArgs('n3')], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    deno.stderr!.on('data', (d: Buffer) => { denoLog += d.toString(); });
    await waitFor(async () => /"msg":"started"/.test(denoLog), 'the Deno peer to start', 20_000);
    const kv = await c.client();
    for (let i = 0; i < 50; i++) await kv.put(`d/${i}`, `v${i}`);
    await waitFor(async () => (await c.status('n3')).applied >= (await c.status('n1')).commit, 'the Deno peer to apply everything', 10_000);
    assert.is((await kv.getWithMeta('d/49', { consistency: 'stale' })).value !== undefined, true);
    const atDeno = await (await c.client('reader', { peers: ['n3'] })).getWithMeta('d/49', { consistency: 'follower' });
    assert.equal([atDeno.value, atDeno.servedBy], ['v49', 'n3'], 'the Deno peer serves follower reads');

    await kv.transferLeader('n3');
    // The harness did not start n3 itself, so ask it directly, and check the others follow it.
    await waitFor(async () => (await c.status('n3')).role === 'leader', 'the Deno peer to lead', 10_000);
    await waitFor(async () => (await c.status('n1')).leader === 'n3' && (await c.status('n2')).leader === 'n3', 'the Node peers to follow it', 10_000);
    await kv.put('d/led-by-deno', 'yes');
    assert.is(await kv.get('d/led-by-deno'), 'yes');

    deno.kill('SIGKILL');
    await sleep(100);
    await waitFor(async () => ['n1', 'n2'].includes(await c.leader()), 'a Node peer to take over', 15_000);
    await kv.put('d/after-deno', 'ok');
    assert.is(await kv.get('d/after-deno'), 'ok');
    assert.is(await kv.get('d/0'), 'v0');
    await kv.close();
    await c.close();
  } catch (err) {
    console.log(`Deno peer log:\n${denoLog.split('\n').slice(-20).join('\n')}`);
    await c.close({ failed: true });
    throw err;
  } finally {
    if (deno !== null && deno.exitCode === null) deno.kill('SIGKILL');
  }
});

/**
 * The browser build of the SDK under Deno (deno-client.mjs) against a cluster; over TLS Deno trusts
 * the cluster's throwaway CA through its own `--cert` flag (its WebSocket takes no `ca` option).
 */
async function sdkUnderDeno(tls: boolean): Promise<void> {
  const build = spawnSync(process.execPath, ['build.mjs', '--quiet'], { cwd: root, encoding: 'utf8' });
  assert.is(build.status, 0, build.stderr);
  const c = await Cluster.start({ size: tls ? 1 : 3, tickMs: 20, name: tls ? 'deno-client-tls' : 'deno-client', tls });
  try {
    const urls = c.ids.map((id) => c.url(id));
    assert.ok(urls.every((u) => u.startsWith(tls ? 'wss://' : 'ws://')), urls.join());
    // --node-modules-dir=manual: Deno resolves cbor-x from node_modules as npm left it, changing nothing.
    const run = spawnSync(denoBin, ['run', '--node-modules-dir=manual', '--allow-net', '--allow-read', '--allow-env',
      ...(tls ? [`--cert=${c.certs!.caFile}`] : []),
      join(root, 'test/e2e/deno-client.mjs'), await c.token('client'), ...urls], { cwd: root, encoding: 'utf8', timeout: 60_000 });
    assert.is(run.status, 0, `deno exited ${String(run.status)}: ${run.stderr}`);
    const steps = Object.fromEntries(run.stdout.trim().split('\n').map((l) => { const j = JSON.parse(l) as { step: string; value: unknown }; return [j.step, j.value]; }));
    assert.equal(steps, {
      put: true,
      txn: [true, 'one'],
      watch: ['put deno/a=one', 'put deno/b=two'],
      lease: [true, 'while alive'],
      revoked: null,
      lock: true,
    });
    if (tls) {
      // Without --cert, Deno does not trust the member: the error says so and names the fix.
      const untrusted = spawnSync(denoBin, ['run', '--node-modules-dir=manual', '--allow-net', '--allow-read', '--allow-env',
        join(root, 'test/e2e/deno-untrusted.mjs'), await c.token('client'), urls[0]!], { cwd: root, encoding: 'utf8', timeout: 30_000 });
      const r = JSON.parse(untrusted.stdout.trim().split('\n').pop() ?? '{}') as { code: string | null; message: string };
      assert.is(r.code, 'ERR_TIMEOUT', r.message);
      assert.match(r.message, /does not trust the member's TLS certificate: give it the CA with --cert FILE or DENO_CERT=FILE/);
    }
  } finally {
    await c.close();
  }
}

it('the browser build of the SDK runs under Deno with its native WebSocket: txn, watch, a kept-alive lease, a lock', () => sdkUnderDeno(false));

it('the same over wss://, Deno trusting the cluster\'s CA with --cert; without it the error says to give it', () => sdkUnderDeno(true));

test.run();
