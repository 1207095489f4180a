// Log agreement scenarios: basic replication, failures of followers and of quorums, concurrent
// proposals, divergent logs being repaired, and the message counts replication should cost.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Sim } from './sim.ts';
import { allCommitted, commitOne, elect, proposeMany } from './util.ts';

const t = suite('agreement');

t('basic agreement: each entry commits at the same index on every node', async () => {
  const sim = new Sim({ seed: 21, voters: 3 });
  await elect(sim);
  const indexes: number[] = [];
  for (let i = 0; i < 50; i++) indexes.push((await commitOne(sim)).index);
  for (let i = 1; i < indexes.length; i++) assert.is(indexes[i], indexes[i - 1]! + 1, 'consecutive indexes');
  assert.ok(await sim.runUntil(() => sim.converged(), 1000), 'every node applies every entry');
});

t('agreement with a follower down, and it catches up when it returns', async () => {
  const sim = new Sim({ seed: 22, voters: 3 });
  const leader = await elect(sim);
  const follower = sim.ids.find((id) => id !== leader)!;
  sim.crash(follower);
  for (let i = 0; i < 30; i++) await commitOne(sim);
  sim.restart(follower);
  assert.ok(await sim.runUntil(() => sim.converged(), 3000), 'the returning follower catches up');
});

t('no commit without a quorum; everything commits once it returns', async () => {
  const sim = new Sim({ seed: 23, voters: 5 });
  const leader = await elect(sim);
  await commitOne(sim);
  const followers = sim.ids.filter((id) => id !== leader);
  for (const id of followers.slice(0, 3)) sim.crash(id);
  const stranded = await proposeMany(sim, 5, 'stranded');
  await sim.runFor(150);
  assert.not.ok(stranded.some((p) => sim.isCommitted(p.index, p.key)), 'nothing commits with 2 of 5');
  for (const id of followers.slice(0, 3)) sim.restart(id);
  await elect(sim, 5000);
  const after = await commitOne(sim);
  assert.ok(after.index > stranded[stranded.length - 1]!.index || stranded.every((p) => !sim.isCommitted(p.index, p.key)));
  assert.ok(await sim.runUntil(() => sim.converged(), 3000));
});

t('concurrent proposals: 500 entries proposed at once all commit exactly once, in one order', async () => {
  const sim = new Sim({ seed: 24, voters: 3 });
  await elect(sim);
  const props = await proposeMany(sim, 500);
  assert.ok(await sim.runUntil(() => allCommitted(sim, props), 2000), 'all 500 commit');
  const seen = new Set(props.map((p) => p.index));
  assert.is(seen.size, 500, 'each at its own index');
  assert.ok(await sim.runUntil(() => sim.converged(), 1000));
});

t('a partitioned old leader rejoins and its uncommitted entries are overwritten', async () => {
  const sim = new Sim({ seed: 25, voters: 5 });
  const old = await elect(sim);
  await commitOne(sim);
  sim.net.isolate(old, sim.ids);
  const lost = (await proposeMany(sim, 5, 'lost')).filter((p) => p !== null);
  // The proposals above went to `old` while it still believed it led.
  const majority = sim.ids.filter((id) => id !== old);
  assert.ok(await sim.runUntil(() => sim.leader() !== null && sim.leader() !== old, 3000));
  const kept: string[] = [];
  for (let i = 0; i < 5; i++) kept.push((await commitOne(sim)).key);
  sim.net.heal();
  assert.ok(await sim.runUntil(() => sim.converged(), 3000), 'the old leader converges on the new log');
  for (const p of lost) assert.not.ok(sim.isCommitted(p.index, p.key), `stranded entry at ${p.index} was not committed`);
  const oldLog = sim.raft(old);
  const newLeader = sim.raft(sim.leader()!);
  for (let i = 1; i <= sim.checker.maxCommitted; i++) assert.is(oldLog.termAt(i), newLeader.termAt(i), `index ${i} agrees`);
  assert.ok(majority.length === 4);
});

t('fast backup: 50+ divergent entries are repaired in a few round trips, in both directions', async () => {
  const sim = new Sim({ seed: 26, voters: 5 });
  const a = await elect(sim);
  await commitOne(sim);
  const [b, c, d, e] = sim.ids.filter((id) => id !== a) as [string, string, string, string];
  // Leader a with b in a minority: 60 entries that never commit.
  sim.net.partition([[a, b], [c, d, e]]);
  await proposeMany(sim, 60, 'minority');
  await sim.runFor(50);
  // The majority elects among c, d, e and commits 60 entries of its own.
  assert.ok(await sim.runUntil(() => { const l = sim.leader(); return l !== null && [c, d, e].includes(l); }, 3000));
  for (let i = 0; i < 60; i++) await commitOne(sim, 5000, 'majority');
  // Now the new leader and one follower are cut off and write 60 more that never commit.
  const leader2 = sim.leader()!;
  const other = [c, d, e].find((x) => x !== leader2)!;
  const third = [c, d, e].find((x) => x !== leader2 && x !== other)!;
  sim.net.heal();
  sim.net.partition([[leader2, other], [a, b, third]]);
  await proposeMany(sim, 60, 'minority2');
  await sim.runFor(50);
  // a, b and the third form a majority; a and b must repair 60 divergent entries each.
  assert.ok(await sim.runUntil(() => { const l = sim.leader(); return l !== null && [a, b, third].includes(l); }, 5000));
  const before = rejects(sim);
  for (let i = 0; i < 10; i++) await commitOne(sim, 5000, 'after');
  sim.net.heal();
  assert.ok(await sim.runUntil(() => sim.converged(), 5000), 'everyone converges');
  const used = rejects(sim) - before;
  console.log(`    fast backup: ${used} rejections repaired two 60-entry divergences`);
  assert.ok(used < 25, `repairing 60-entry divergences took ${used} rejections (one per entry would be 120+)`);
});

function rejects(sim: Sim): number {
  let n = 0;
  for (const id of sim.ids) n += sim.status(id)?.stats.appendRejectsSent ?? 0;
  return n;
}

t('message counts: an election takes few messages, an idle second only heartbeats, each entry reaches each follower about once', async () => {
  const sim = new Sim({ seed: 27, voters: 3 });
  const leader = await elect(sim);
  await sim.runFor(5);
  const electionMsgs = sim.countMessages();
  console.log(`    election: ${electionMsgs} messages`);
  assert.ok(electionMsgs <= 30, `an election took ${electionMsgs} messages`);
  await commitOne(sim);
  await sim.runFor(100);
  sim.msgCount.clear();
  await sim.runFor(1000);
  const hb = sim.msgCount.get('hb') ?? 0;
  const followers = 2;
  const heartbeatsPerSecond = 1000 / (sim.opts.tickMs * 1);
  assert.ok(hb <= followers * (heartbeatsPerSecond + 2), `idle second: ${hb} heartbeats`);
  const other = sim.countMessages() - hb - (sim.msgCount.get('hbResp') ?? 0);
  assert.is(other, 0, 'an idle second sends nothing but heartbeats and their answers');
  sim.entriesDelivered = 0;
  const props = await proposeMany(sim, 1000);
  assert.ok(await sim.runUntil(() => allCommitted(sim, props), 3000));
  await sim.runFor(100);
  assert.ok(sim.entriesDelivered <= 1000 * followers * 1.1, `1000 entries were delivered ${sim.entriesDelivered} times to ${followers} followers`);
  assert.ok(sim.entriesDelivered >= 1000 * followers, 'and every follower got every entry');
  assert.is(sim.leader(), leader);
});

t.run();
