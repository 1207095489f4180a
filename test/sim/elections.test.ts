// Election scenarios from the Raft paper and the usual lab suites, on the simulator.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { SeededPrng } from '../../src/core/prng.ts';
import { unreliableNetwork } from './network.ts';
import { Sim } from './sim.ts';
import { commitOne, elect, liveIds } from './util.ts';

const t = suite('elections');

t('initial election: one leader, agreed by all, and no elections while nothing fails', async () => {
  const sim = new Sim({ seed: 11, voters: 3 });
  const leader = await elect(sim, 2000);
  await sim.runFor(100);
  const term = sim.status(leader)!.term;
  for (const id of sim.ids) {
    assert.is(sim.status(id)!.leader, leader, `${id} follows the leader`);
    assert.is(sim.status(id)!.term, term, `${id} is in the leader's term`);
  }
  await sim.runFor(3000);
  assert.is(sim.leader(), leader, 'the leader stays while nothing fails');
  assert.is(sim.status(leader)!.term, term, 'no new term without a failure');
});

t('re-election after leader loss, and the old leader rejoins without disrupting', async () => {
  const sim = new Sim({ seed: 12, voters: 3 });
  const first = await elect(sim);
  sim.crash(first);
  const second = await elect(sim, 3000);
  assert.is.not(second, first);
  const term = sim.status(second)!.term;
  sim.restart(first);
  await sim.runFor(2000);
  assert.is(sim.leader(), second, 'the restarted node rejoins as a follower');
  assert.is(sim.status(second)!.term, term, 'its return does not force an election');
  assert.is(sim.status(first)!.leader, second);
});

t('many elections with 7 nodes under churn: a leader whenever a quorum is up', async () => {
  const sim = new Sim({ seed: 13, voters: 7 });
  const rng = new SeededPrng(13);
  await elect(sim);
  for (let round = 0; round < 10; round++) {
    const victims = new Set<string>();
    while (victims.size < 3) victims.add(sim.ids[rng.nextInt(7)]!);
    for (const v of victims) sim.crash(v);
    assert.ok(await sim.runUntil(() => sim.leader() !== null && !victims.has(sim.leader()!), 5000),
      `round ${round}: no leader among the 4 live nodes`);
    for (const v of victims) sim.restart(v);
    await sim.runFor(200);
  }
  const leaders = sim.checker.leaders.size;
  assert.ok(leaders >= 5, `churn produced ${leaders} distinct terms with leaders`);
});

t('no leader without a quorum, and one as soon as a quorum returns', async () => {
  const sim = new Sim({ seed: 14, voters: 5 });
  const leader = await elect(sim);
  const others = sim.ids.filter((id) => id !== leader);
  for (const id of others.slice(0, 3)) sim.crash(id);
  // CheckQuorum makes the stranded leader step down; nobody can win with 2 of 5.
  await sim.runFor(500);
  assert.ok(await sim.runUntil(() => sim.leader() === null, 2000), 'the leader without a quorum steps down');
  await sim.runFor(5000);
  assert.is(sim.leader(), null, 'no leader with 2 of 5 up');
  sim.restart(others[0]!);
  const back = await elect(sim, 5000);
  assert.ok(liveIds(sim).includes(back));
});

t('PreVote: a rejoining partitioned node does not disrupt the leader', async () => {
  const sim = new Sim({ seed: 15, voters: 3 });
  const leader = await elect(sim);
  const loner = sim.ids.find((id) => id !== leader)!;
  const term = sim.status(leader)!.term;
  sim.net.isolate(loner, sim.ids);
  await sim.runFor(3000);
  assert.is(sim.status(loner)!.term, term, 'pre-votes that fail do not raise the loner\'s term');
  assert.is(sim.status(loner)!.stats.elections, 0, 'the loner never started a real election');
  sim.net.heal();
  await sim.runFor(2000);
  assert.is(sim.leader(), leader, 'the leader keeps its place');
  assert.is(sim.status(leader)!.term, term, 'no term inflation after the heal');
});

t('without PreVote and CheckQuorum the same rejoin does disrupt (the control case)', async () => {
  const sim = new Sim({ seed: 15, voters: 3, raft: { preVote: false, checkQuorum: false, leaseReads: false } });
  const leader = await elect(sim);
  const loner = sim.ids.find((id) => id !== leader)!;
  const term = sim.status(leader)!.term;
  sim.net.isolate(loner, sim.ids);
  await sim.runFor(3000);
  assert.ok(sim.status(loner)!.term > term + 3, 'the isolated node inflates its term');
  sim.net.heal();
  await sim.runFor(2000);
  assert.ok(sim.status(sim.leader()!)!.term > term, 'its return forces a new term');
});

t('CheckQuorum: an isolated leader steps down within an election timeout', async () => {
  const sim = new Sim({ seed: 16, voters: 3 });
  const leader = await elect(sim);
  sim.net.isolate(leader, sim.ids);
  const stepDownMs = 2 * 10 * 10 + 50;
  assert.ok(await sim.runUntil(() => sim.status(leader)!.role !== 'leader', stepDownMs),
    `isolated leader still leads after ${stepDownMs} ms`);
  const other = await elect(sim, 3000);
  assert.is.not(other, leader, 'the majority elects a new leader');
});

t('leadership transfer: the target leads within an election timeout, nothing committed is lost', async () => {
  const sim = new Sim({ seed: 17, voters: 3 });
  const leader = await elect(sim);
  const committed = await commitOne(sim);
  const target = sim.ids.find((id) => id !== leader)!;
  sim.poke(leader, (n) => n.transferLeadership(target));
  // While the transfer runs, the old leader refuses proposals with a clear error.
  let refused = '';
  try { sim.raft(leader).propose(new Uint8Array([1])); } catch (err) { refused = (err as { code: string }).code; }
  assert.is(refused, 'ERR_TRANSFER_IN_PROGRESS');
  assert.ok(await sim.runUntil(() => sim.leader() === target, 300), 'the target becomes leader');
  assert.ok(sim.isCommitted(committed.index, committed.key));
  await commitOne(sim);
});

t('leadership transfer to a lagging follower catches it up first', async () => {
  const sim = new Sim({ seed: 18, voters: 3 });
  const leader = await elect(sim);
  const target = sim.ids.find((id) => id !== leader)!;
  sim.crash(target);
  for (let i = 0; i < 20; i++) await commitOne(sim);
  sim.restart(target);
  sim.poke(leader, (n) => n.transferLeadership(target));
  assert.ok(await sim.runUntil(() => sim.leader() === target, 1000), 'the lagging target becomes leader after catching up');
  assert.is(sim.status(target)!.lastIndex >= sim.checker.maxCommitted, true);
});

t('elections converge on an unreliable network', async () => {
  const sim = new Sim({ seed: 19, voters: 5, network: unreliableNetwork });
  for (let i = 0; i < 5; i++) {
    const leader = await elect(sim, 10_000);
    sim.crash(leader);
    await elect(sim, 10_000);
    sim.restart(leader);
  }
});

t.run();
