// Peers as separate hosts (root + iproute2): each peer runs in its own network namespace with its
// own address and a real veth link to every other peer. Cutting the leader's links really
// isolates it (the rest elect a new leader, the old one cannot commit); then a seeded nemesis
// partitions by setting links down, kills, pauses and damages WALs, and the run is checked like
// the loopback suite. Without root or iproute2 its test is registered as skipped, saying why.
import { spawnSync } from 'node:child_process';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ClientError } from '../../src/client/errors.ts';
import { unless } from '../requires.ts';
import { waitFor } from './cluster.ts';
import { FaultRun } from './nemesis-run.ts';
import { NetnsNet, netnsUnavailable } from './netns.ts';

const test = suite('netns');
const peers = 3;
const clients = 4;
const seconds = 20;

const unavailable = netnsUnavailable();
const it = unless(test, unavailable === null ? null : `not root or no iproute2 (${unavailable})`);

it('peers in their own network namespaces survive real link cuts, kills, pauses and WAL damage with a linearizable history', async () => {
  const env = process.env.FAULTS_SEED;
  const seed = env !== undefined && env !== '' ? Number(env) >>> 0 : (Date.now() ^ Math.floor(Math.random() * 2 ** 31)) >>> 0;
  console.log(`netns: seed ${seed} (replay: FAULTS_SEED=${seed} node --import tsx node_modules/uvu/bin.js test/e2e netns)`);
  const net = await NetnsNet.create(Array.from({ length: peers }, (_, i) => `n${i + 1}`));
  let run: FaultRun;
  try {
    run = await FaultRun.start({
      name: 'netns', peers, mode: 'raft', clients, netns: net,
      replay: (s) => `FAULTS_SEED=${s} node --import tsx node_modules/uvu/bin.js test/e2e netns   ` +
        `(or: npm run soak -- --seconds ${seconds} --seed ${s} --peers ${peers} --clients ${clients} --netns)`,
    });
  } catch (err) {
    await net.close();
    throw err;
  }
  let ok = false;
  try {
    const c = run.cluster;
    for (const id of c.ids) assert.is(c.addr(id).split(':')[0], net.hostOf(id), `${id} listens on its own address`);

    // Cut every link of the leader: a real partition, not a filter inside the peers.
    const old = await c.leader();
    const others = c.ids.filter((id) => id !== old);
    await net.cut(others.map((o) => [old, o] as const));
    for (const o of others) assert.not.ok(await net.linkUp(old, o), `the link ${old}-${o} is still up`);
    await waitFor(async () => others.includes(await c.leader(2000)), 'the others to elect a new leader', 15_000);
    const stranded = await c.client('client', { peers: [old], timeoutMs: 1500 });
    try {
      await stranded.put('netns/split-brain', 'old leader alone');
      assert.unreachable(`${old}, cut off from every peer, acknowledged a write`);
    } catch (err) {
      if (!(err instanceof ClientError)) throw err;
      assert.ok(['ERR_TIMEOUT', 'ERR_UNAVAILABLE'].includes(err.code), `${err.code}: ${err.message}`);
    }
    await stranded.close();
    await net.heal();
    for (const o of others) assert.ok(await net.linkUp(old, o), `the link ${old}-${o} did not come back`);
    await waitFor(async () => (await c.status(old)).role !== 'leader', `${old} to step down after the heal`, 15_000);

    const r = await run.round(seed, seconds * 1000, 'netns/');
    assert.ok(r.ok, `\n${r.text}`);
    assert.ok(r.ops.ok >= 100, `only ${r.ops.ok} operations succeeded (seed ${seed})`);
    console.log(`netns: ${r.ops.ok} ok, ${r.ops.unknown} unknown; faults ${JSON.stringify(r.faultsByKind)}`);
    ok = true;
  } finally {
    await run.close(!ok);
  }
  assert.equal(net.namespaces.filter((ns) => existsNs(ns)), [], 'every namespace is removed');
});

function existsNs(name: string): boolean {
  return spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout.split('\n').some((l) => l.split(' ')[0] === name);
}

test.run();
