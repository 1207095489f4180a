// Crash and network-fault scenarios: persistence across whole-cluster crashes, the paper's
// Figure 8 under 1000 leader crashes, unreliable networks, churn, snapshots for lagging nodes.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { SeededPrng } from '../../src/core/prng.ts';
import { reliableNetwork, unreliableNetwork } from './network.ts';
import { figure8, figure8Script } from './figure8.ts';
import { Sim } from './sim.ts';
import { allCommitted, commitOne, elect, liveIds, proposeMany, type Proposal } from './util.ts';

const t = suite('faults');

t('persistence: crashing every node loses nothing committed', async () => {
  const sim = new Sim({ seed: 31, voters: 3 });
  await elect(sim);
  const committed: Proposal[] = [];
  for (let round = 0; round < 5; round++) {
    for (let i = 0; i < 10; i++) committed.push(await commitOne(sim));
    for (const id of sim.ids) sim.crash(id);
    await sim.runFor(50);
    for (const id of sim.ids) sim.restart(id);
    await elect(sim, 5000);
  }
  await commitOne(sim);
  assert.ok(await sim.runUntil(() => sim.converged(), 3000));
  const leader = sim.raft(sim.leader()!);
  for (const p of committed) assert.ok(leader.entryAt(p.index) !== undefined, `entry ${p.index} survived`);
});

t('Figure 8: 5 nodes, 1000 leader crashes, only current-term entries commit by counting', async () => {
  const r = await figure8(32, 1000);
  assert.is(r.crashes, 1000);
  assert.ok(r.converged, 'all replicas converge after 1000 leader crashes');
  assert.ok(r.terms >= 500, `${r.terms} terms had a leader`);
});

t('Figure 8, scripted: an old-term entry on a bare majority is not committed, and may be overwritten', async () => {
  const r = await figure8Script();
  assert.not.ok(r.committed, 'the entry of an older term was never committed by counting');
  assert.ok(r.finalTerm > r.oldEntry.term, 'the later leader overwrote it with its own entry, as the paper shows');
});

t('unreliable agreement: 10% drops, 0-26 ms delays and long reorders', async () => {
  const sim = new Sim({ seed: 33, voters: 5, network: unreliableNetwork });
  await elect(sim, 10_000);
  const props: Proposal[] = [];
  for (let round = 0; round < 20; round++) {
    props.push(...await proposeMany(sim, 10));
    await sim.runFor(50);
  }
  const ok = await sim.runUntil(() => props.filter((p) => sim.isCommitted(p.index, p.key)).length >= props.length * 0.5, 20_000);
  assert.ok(ok, 'proposals commit despite the network');
  sim.net.options = reliableNetwork;
  await commitOne(sim, 10_000);
  assert.ok(await sim.runUntil(() => sim.converged(), 10_000));
});

for (const [name, network] of [['reliable', reliableNetwork], ['unreliable', unreliableNetwork]] as const) {
  t(`churn with crashes on a ${name} network: committed entries survive, replicas converge`, async () => {
    const sim = new Sim({ seed: 34, voters: 5, network, snapshotEvery: 25 });
    const rng = new SeededPrng(34);
    const committed: Proposal[] = [];
    const pending: Proposal[] = [];
    for (let step = 0; step < 60; step++) {
      const p = sim.propose('churn');
      if (p !== null) pending.push(p);
      const roll = rng.nextInt(10);
      const live = liveIds(sim);
      if (roll < 3 && live.length > 3) sim.crash(live[rng.nextInt(live.length)]!);
      else if (roll < 6) {
        const down = sim.ids.filter((id) => !sim.nodes.get(id)!.alive);
        if (down.length > 0) sim.restart(down[rng.nextInt(down.length)]!);
      }
      await sim.runFor(20 + rng.nextInt(200));
      for (let i = pending.length - 1; i >= 0; i--) {
        if (sim.isCommitted(pending[i]!.index, pending[i]!.key)) committed.push(...pending.splice(i, 1));
      }
    }
    for (const id of sim.ids) sim.restart(id);
    sim.net.options = reliableNetwork;
    await commitOne(sim, 20_000);
    assert.ok(await sim.runUntil(() => sim.converged(), 10_000), 'replicas converge after churn');
    assert.ok(committed.length >= 10, `${committed.length} entries committed during churn`);
    for (const p of committed) assert.ok(sim.isCommitted(p.index, p.key), `entry ${p.index} still committed`);
  });
}

t('snapshots: a follower that was down gets a snapshot, and the durable log stays bounded', async () => {
  const sim = new Sim({ seed: 35, voters: 3, snapshotEvery: 20, snapshotRetain: 5 });
  const leader = await elect(sim);
  const follower = sim.ids.find((id) => id !== leader)!;
  sim.crash(follower);
  for (let i = 0; i < 200; i++) await commitOne(sim);
  sim.restart(follower);
  assert.ok(await sim.runUntil(() => sim.converged(), 5000), 'the follower catches up from a snapshot');
  assert.ok(sim.status(leader)!.stats.snapshotsSent >= 1, 'the leader sent a snapshot');
  for (const id of sim.ids) {
    const d = sim.nodes.get(id)!.durable;
    assert.ok(d.entries.length <= 20 + 5 + 10, `${id} keeps ${d.entries.length} entries on disk`);
    assert.ok((d.snapshot?.meta.index ?? 0) >= 150, `${id} has a recent snapshot`);
  }
});

t('snapshots under an unreliable network, with a crash during the install', async () => {
  const sim = new Sim({ seed: 36, voters: 3, snapshotEvery: 10, snapshotRetain: 0, network: unreliableNetwork });
  const leader = await elect(sim, 10_000);
  const follower = sim.ids.find((id) => id !== leader)!;
  sim.crash(follower);
  for (let i = 0; i < 60; i++) await commitOne(sim, 10_000);
  sim.restart(follower);
  await sim.runFor(30);
  sim.crash(follower);
  await sim.runFor(100);
  sim.restart(follower);
  sim.net.options = reliableNetwork;
  await commitOne(sim, 10_000);
  assert.ok(await sim.runUntil(() => sim.converged(), 10_000));
});

t('learners receive every entry but never vote and never count toward a commit', async () => {
  const sim = new Sim({ seed: 37, voters: 3, learners: 1 });
  const leader = await elect(sim);
  for (let i = 0; i < 10; i++) await commitOne(sim);
  assert.ok(await sim.runUntil(() => sim.converged(), 2000), 'the learner applies everything');
  assert.is(sim.status('l1')!.stats.elections, 0);
  const voters = sim.ids.filter((id) => id !== leader && id !== 'l1');
  for (const v of voters) sim.crash(v);
  const stranded = await proposeMany(sim, 3, 'stranded');
  await sim.runFor(150);
  assert.not.ok(stranded.some((p) => sim.isCommitted(p.index, p.key)), 'leader + learner are not a quorum');
  await sim.runFor(3000);
  assert.is(sim.status('l1')!.role, 'follower', 'the learner never campaigns');
  assert.is(sim.status('l1')!.stats.elections, 0);
});

t('the uncommitted-bytes limit refuses proposals with a clear error while no quorum is reachable', async () => {
  const sim = new Sim({ seed: 38, voters: 3, raft: { uncommittedBytesMax: 64 * 1024, proposalBytesMax: 8 * 1024 } });
  const leader = await elect(sim);
  for (const id of sim.ids) if (id !== leader) sim.crash(id);
  let error: { code: string; message: string } | null = null;
  let accepted = 0;
  for (let i = 0; i < 1000 && error === null; i++) {
    try {
      sim.raft(leader).propose(new Uint8Array(1024));
      accepted++;
    } catch (err) {
      error = err as { code: string; message: string };
    }
  }
  assert.ok(error !== null, 'proposals are refused eventually');
  assert.is(error!.code, 'ERR_UNCOMMITTED_LIMIT');
  assert.match(error!.message, /uncommittedBytesMax/);
  assert.ok(accepted >= 50 && accepted <= 64, `${accepted} KiB-sized proposals were accepted under a 64 KiB limit`);
});

t('the reorder buffer saves resends when messages arrive out of order', async () => {
  const run = async (bufferMsgs: number) => {
    const sim = new Sim({
      seed: 39, voters: 3,
      network: { delayMinMs: 0.2, delayMaxMs: 1, dropRate: 0, duplicateRate: 0, reorderRate: 0.2, reorderDelayMaxMs: 3 },
      raft: { reorderBufferMsgsMax: bufferMsgs, msgBytesMax: 512 },
    });
    await elect(sim);
    let props: Proposal[] = [];
    for (let i = 0; i < 100; i++) {
      props = props.concat(await proposeMany(sim, 20));
      await sim.runFor(1);
    }
    assert.ok(await sim.runUntil(() => allCommitted(sim, props), 10_000));
    let rejects = 0;
    let saved = 0;
    for (const id of sim.ids) {
      rejects += sim.status(id)!.stats.appendRejectsSent;
      saved += sim.status(id)!.stats.reorder.accepted;
    }
    return { rejects, saved, entries: sim.entriesDelivered };
  };
  const on = await run(32);
  const off = await run(0);
  console.log(`    reorder buffer on: ${on.rejects} rejections, ${on.saved} held appends accepted, ${on.entries} entries delivered; ` +
    `off: ${off.rejects} rejections, ${off.entries} entries delivered`);
  assert.ok(on.saved > 0, 'held appends were accepted once their gap filled');
  assert.ok(on.rejects * 2 < off.rejects, 'far fewer rejections with the buffer');
  assert.ok(on.entries < off.entries, 'and fewer entries resent');
});

t.run();
