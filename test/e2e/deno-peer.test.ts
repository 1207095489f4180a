// Native Deno peers (dist/deno/peer.js: Deno.serve, Deno.open + syncData, the native WebSocket; no
// Node compatibility layer) in clusters with Node peers: a mixed cluster where the Deno peer leads,
// is SIGKILLed as leader and restarted, then a Node leader is too, under concurrent clients whose
// history must be linearizable and whose acknowledged writes must all survive; and a single-member
// Deno cluster whose WAL keeps every acknowledged write across SIGKILL and drops a torn tail.
import { unless } from '../requires.ts';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { appendFileSync, copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KvClient } from '../../src/client/kv.ts';
import { checkHistory, formatResult } from '../lincheck/checker.ts';
import { Cluster, sleep, waitFor } from './cluster.ts';
import { History } from './history.ts';
import { Workload } from './history-clients.ts';
import { cliNodeArgs, repoRoot } from './proc.ts';

const test = suite('deno-peer');

/** The deno binary itself (npm's deno package installs it here), so signals reach the peer. */
const denoBin = join(repoRoot, 'node_modules/deno/deno');

function denoAvailable(): boolean {
  return spawnSync(denoBin, ['--version'], { encoding: 'utf8' }).status === 0;
}

const it = unless(test, denoAvailable() ? null : 'no deno binary (npm install puts it in node_modules/deno)');

/**
 * The harness spawns `PREFIX... node --import tsx cli.ts peer ARGS...`: for a Deno member the prefix
 * is a shell that drops the Node part and execs Deno on the bundle with the same ARGS (the flags of
 * `edgeraft peer`), with only the permissions the docs give. `withoutPeerMtls` also drops
 * --peer-mtls, which a Deno peer refuses (Deno.serve cannot ask for client certificates).
 */
function denoPrefix(withoutPeerMtls = false): readonly string[] {
  const nodePart = 1 + cliNodeArgs.length + 2; // node, its flags, cli.ts, 'peer'
  const filter = withoutPeerMtls ? 'for a; do shift; [ "$a" = --peer-mtls ] || set -- "$@" "$a"; done; ' : '';
  return ['sh', '-c', `shift ${nodePart}; ${filter}exec "$0" run --allow-net --allow-read --allow-write ${build()} "$@"`, denoBin];
}

/**
 * The suite runs the built bundle: built once, and copied away from dist/ (a build elsewhere
 * deletes dist/ first), so no test runs a stale or half-written one. Returns its path.
 */
let bundle: string | null = null;
function build(): string {
  if (bundle !== null) return bundle;
  const dir = mkdtempSync(join(tmpdir(), 'edgeraft-deno-bundle-'));
  // Another build running at the same moment (a developer's, another suite's) empties dist/: retry.
  for (let attempt = 1; ; attempt++) {
    const r = spawnSync(process.execPath, ['build.mjs', '--quiet'], { cwd: repoRoot, encoding: 'utf8' });
    try {
      assert.is(r.status, 0, r.stderr);
      copyFileSync(join(repoRoot, 'dist/deno/peer.js'), join(dir, 'peer.js'));
      break;
    } catch (err) {
      if (attempt === 3 || !/ENOENT|ENOTEMPTY/.test(String(r.stderr) + (err as Error).message)) throw err;
      spawnSync('sleep', ['2']);
    }
  }
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  bundle = join(dir, 'peer.js');
  return bundle;
}

/** Writes unique keys one after another, remembering each acknowledged one; errors are skipped. */
function ackedWriter(kv: KvClient, prefix: string): { readonly acked: string[]; stop(): Promise<void> } {
  const acked: string[] = [];
  let stopped = false;
  const loop = (async () => {
    for (let i = 0; !stopped; i++) {
      const key = `${prefix}${i}`;
      try {
        await kv.put(key, `v${i}`);
        acked.push(key);
      } catch {
        await sleep(20);
      }
    }
  })();
  return { acked, stop: async () => { stopped = true; await loop; } };
}

async function missing(kv: KvClient, keys: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const key of keys) if ((await kv.get(key)) !== `v${key.slice(key.lastIndexOf('/') + 1)}`) out.push(key);
  return out;
}

it('2 Node peers + 1 native Deno peer: the Deno peer leads, SIGKILLs of it and of a Node leader lose no acknowledged write, and the history is linearizable', async () => {
  build();
  // Small snapshots: the Deno peer compacts its WAL (a rewrite) several times, and may be sent one after its kill.
  const c = await Cluster.create({ size: 3, tickMs: 20, snapshotEntries: 100, name: 'deno-peer', spawnPrefix: (id) => (id === 'n3' ? denoPrefix() : []) });
  let ok = false;
  try {
    await c.startAll();
    await c.leader();
    const history = new History();
    const clients = await Promise.all([0, 1, 2].map(() => c.client('client', { timeoutMs: 5000 })));
    const workload = new Workload(history, clients, { prefix: 'lin/', seed: 18 });
    const writerKv = await c.client('client', { timeoutMs: 5000 });
    const writer = ackedWriter(writerKv, 'acked/');
    const admin = await c.client('admin');

    await sleep(500);
    await admin.transferLeader('n3');
    await waitFor(async () => (await c.status('n3')).role === 'leader', 'the Deno peer to lead', 10_000);
    const ledAt = writer.acked.length;
    await sleep(1000);
    assert.ok(writer.acked.length > ledAt, 'writes are acknowledged while the Deno peer leads');

    // SIGKILL the Deno peer while it leads and writes stream in; a Node peer takes over.
    await c.kill('n3');
    await waitFor(async () => ['n1', 'n2'].includes(await c.leader(5000)), 'a Node peer to lead', 15_000);
    await sleep(500);
    await c.start('n3');
    await c.caughtUp('n3');
    // Then SIGKILL the (Node) leader: the Deno peer must vote (one of the two left) and may lead.
    const nodeLeader = await c.leader();
    await c.kill(nodeLeader);
    await waitFor(async () => { const l = await c.leader(5000); return l !== nodeLeader; }, 'a new leader without the killed one', 15_000);
    await sleep(500);
    await c.start(nodeLeader);
    await c.caughtUp(nodeLeader);

    const stats = await workload.stop();
    await writer.stop();
    await Promise.all(clients.map((kv) => kv.close()));
    const r = checkHistory(history.ops, { timeoutMs: 60_000 });
    assert.ok(r.ok, `the history is not linearizable:\n${formatResult(r)}`);
    assert.ok(history.counts.ok >= 100, `only ${history.counts.ok} operations succeeded (${JSON.stringify(stats.errors)})`);
    assert.ok(writer.acked.length >= 50, `only ${writer.acked.length} writes were acknowledged`);
    assert.equal(await missing(admin, writer.acked), [], 'every acknowledged write is there after the kills');
    // The Deno peer holds them too (its own copy, read from its machine).
    await c.caughtUp('n3');
    const atDeno = await c.client('reader', { peers: ['n3'] });
    const last = writer.acked.at(-1)!;
    const served = await atDeno.getWithMeta(last, { consistency: 'follower' });
    assert.equal([served.value, served.servedBy], [`v${last.slice('acked/'.length)}`, 'n3']);
    const deno = await c.status('n3');
    // Past 2 x --snapshot-entries committed entries a snapshot must have compacted the Deno WAL.
    if (deno.commit >= 200) assert.ok(deno.firstIndex > 1, `the Deno peer compacted its log (commit ${deno.commit}, first index ${deno.firstIndex})`);
    console.log(`    ${writer.acked.length} acknowledged writes, ${history.counts.ok} operations in a linearizable history; the Deno peer's log starts at ${deno.firstIndex}`);
    await atDeno.close();
    await writerKv.close();
    await admin.close();
    ok = true;
  } finally {
    await c.close({ failed: !ok });
  }
});

it('a single-member native Deno cluster keeps every acknowledged write across SIGKILL, and drops a torn tail', async () => {
  build();
  const c = await Cluster.create({ size: 1, tickMs: 20, name: 'deno-wal', spawnPrefix: () => denoPrefix() });
  let ok = false;
  try {
    await c.startAll();
    await c.leader();
    const kv = await c.client('client', { timeoutMs: 3000 });
    // Four writers at once, so group commits carry several writes when the kill lands.
    const writers = [0, 1, 2, 3].map((w) => ackedWriter(kv, `w${w}/`));
    await sleep(1500);
    await c.kill('n1');
    await Promise.all(writers.map((w) => w.stop()));
    const acked = writers.flatMap((w) => w.acked);
    assert.ok(acked.length >= 40, `only ${acked.length} writes were acknowledged before the kill`);
    // A write the crash cut short: garbage where its frame would be.
    appendFileSync(join(c.dataDir('n1'), 'wal', 'deno.log'), Buffer.from([0x12, 0x34, 0x56, 0x78, 0x40, 0, 0, 0, 2, 1, 2, 3]));
    await c.start('n1');
    await c.leader();
    assert.ok(c.logLines('n1').some((l) => l.includes('dropped a torn tail')), 'the restart reports the torn tail it dropped');
    const kv2 = await c.client('client');
    assert.equal(await missing(kv2, acked), [], 'every acknowledged write survived SIGKILL');
    await kv2.put('after', 'restart');
    assert.is(await kv2.get('after'), 'restart');
    console.log(`    ${acked.length} writes acknowledged before SIGKILL, all present after the restart`);
    await kv.close();
    await kv2.close();
    ok = true;
  } finally {
    await c.close({ failed: !ok });
  }
});

it('TLS: a native Deno peer serves wss://, dials Node peers that require peer mTLS with its certificate, and leads', async () => {
  build();
  const c = await Cluster.create({ size: 3, tickMs: 20, name: 'deno-tls', tls: { peerMtls: true }, spawnPrefix: (id) => (id === 'n3' ? denoPrefix(true) : []) });
  let ok = false;
  try {
    await c.startAll();
    await c.leader();
    assert.ok(c.url('n3').startsWith('wss://'), c.url('n3'));
    const kv = await c.client('admin');
    for (let i = 0; i < 20; i++) await kv.put(`t/${i}`, `v${i}`);
    await kv.transferLeader('n3');
    await waitFor(async () => (await c.status('n3')).role === 'leader', 'the Deno peer to lead over TLS', 10_000);
    await kv.put('t/led-by-deno', 'yes');
    await c.caughtUp('n1');
    const atNode = await c.client('reader', { peers: ['n1'] });
    assert.equal((await atNode.getWithMeta('t/led-by-deno', { consistency: 'follower' })).value, 'yes');
    // The Node peers asked every connecting peer for a client certificate: none refused the Deno peer's.
    for (const id of ['n1', 'n2']) {
      const refusals = c.logLines(id).filter((l) => /certificate/i.test(l) && /refus|warn/i.test(l));
      assert.equal(refusals, [], `${id} refused a connection for its certificate`);
    }
    await atNode.close();
    await kv.close();
    ok = true;
  } finally {
    await c.close({ failed: !ok });
  }
});

it('a native Deno peer joins a Node cluster as a learner (--join), catches up, serves follower reads, and is promoted', async () => {
  build();
  const c = await Cluster.create({ size: 3, tickMs: 20, name: 'deno-learner', spawnPrefix: (id) => (id === 'n4' ? denoPrefix() : []) });
  let ok = false;
  try {
    await c.startAll();
    const kv = await c.client('admin');
    for (let i = 0; i < 100; i++) await kv.put(`l/${i}`, `v${i}`);
    const addr = await c.addMember('n4');
    await kv.members('addLearner', 'n4', c.url('n4'));
    await c.start('n4');
    const n4 = await c.caughtUp('n4');
    assert.equal([[...n4.conf.learners], n4.conf.voters.includes('n4')], [['n4'], false], `n4 at ${addr} is a learner, not a voter`);
    const atDeno = await c.client('reader', { peers: ['n4'] });
    assert.equal(await atDeno.getWithMeta('l/99', { consistency: 'follower' }).then((r) => [r.value, r.servedBy]), ['v99', 'n4']);
    await kv.members('promote', 'n4');
    await waitFor(async () => (await c.status(await c.leader())).conf.voters.includes('n4'), 'n4 to be a voter', 10_000);
    await kv.put('l/after-promote', 'yes');
    await c.caughtUp('n4');
    assert.is((await atDeno.getWithMeta('l/after-promote', { consistency: 'follower' })).value, 'yes');
    await atDeno.close();
    await kv.close();
    ok = true;
  } finally {
    await c.close({ failed: !ok });
  }
});

test.run();
