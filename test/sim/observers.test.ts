// Observers: learners outside the configuration (what browser tabs are). A leader, or a follower
// relaying the committed log, replicates to them; they apply everything, never vote, never count
// toward a commit, and a node serves at most observersMax of them.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { RaftError } from '../../src/core/errors.ts';
import { unreliableNetwork } from './network.ts';
import { Sim } from './sim.ts';
import { commitOne, elect, proposeMany } from './util.ts';

const t = suite('observers');

t('an observer applies every entry, across leader changes, and never campaigns', async () => {
  const sim = new Sim({ seed: 41, voters: 3, observers: 2, snapshotEvery: 20 });
  await elect(sim);
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < 30; i++) await commitOne(sim);
    const leader = sim.leader()!;
    sim.crash(leader);
    await elect(sim, 5000);
    sim.restart(leader);
  }
  await commitOne(sim);
  assert.ok(await sim.runUntil(() => sim.converged(), 5000), 'observers converge with the voters');
  for (const o of ['o1', 'o2']) {
    assert.is(sim.status(o)!.stats.elections, 0, `${o} never campaigned`);
    assert.is(sim.status(o)!.role, 'follower');
  }
  const lead = sim.status(sim.leader()!)!;
  assert.ok(lead.progress.o1?.learner === true, 'the leader tracks o1 as a learner');
  assert.not.ok(lead.conf.voters.includes('o1') || lead.conf.learners.includes('o1'), 'o1 is not in the configuration');
});

t('an observer never counts toward a commit', async () => {
  const sim = new Sim({ seed: 42, voters: 3, observers: 2 });
  const leader = await elect(sim);
  await commitOne(sim);
  for (const id of sim.conf.voters) if (id !== leader) sim.crash(id);
  const stranded = await proposeMany(sim, 3, 'stranded');
  await sim.runFor(500);
  assert.not.ok(stranded.some((p) => sim.isCommitted(p.index, p.key)), 'leader + 2 observers are not a quorum of 3 voters');
});

t('observers follow on an unreliable network and catch up from snapshots', async () => {
  const sim = new Sim({ seed: 43, voters: 3, observers: 1, network: unreliableNetwork, snapshotEvery: 10, snapshotRetain: 0 });
  await elect(sim, 10_000);
  sim.crash('o1');
  for (let i = 0; i < 40; i++) await commitOne(sim, 10_000);
  sim.restart('o1');
  await commitOne(sim, 10_000);
  assert.ok(await sim.runUntil(() => sim.converged(), 20_000), 'the observer caught up');
});

t('a leader serves at most observersMax observers and refuses members as observers', async () => {
  const sim = new Sim({ seed: 44, voters: 3, raft: { observersMax: 2 } });
  const leader = await elect(sim);
  const node = sim.raft(leader);
  node.addObserver('tab-1');
  node.addObserver('tab-2');
  node.addObserver('tab-2'); // idempotent
  let code = '';
  try { node.addObserver('tab-3'); } catch (err) { code = (err as RaftError).code; }
  assert.is(code, 'ERR_UNAVAILABLE');
  try { node.addObserver('n1'); } catch (err) { code = (err as RaftError).code; }
  assert.is(code, 'ERR_CONF_CHANGE_INVALID');
  node.removeObserver('tab-1');
  node.addObserver('tab-3');
  assert.equal(Object.keys(sim.status(leader)!.progress).filter((id) => id.startsWith('tab-')).sort(), ['tab-2', 'tab-3']);
});

t('observers served by followers: the relay sends the committed log and passes reads on; the leader sends them nothing', async () => {
  const sim = new Sim({ seed: 45, voters: 3, observers: 2, observersAt: 'followers', snapshotEvery: 10, snapshotRetain: 0 });
  const direct: string[] = [];
  sim.dropIf = (m) => {
    const relayOf = (o: string) => `n${Number(o.slice(1)) % 3 === 0 ? 3 : Number(o.slice(1)) % 3}`;
    if (m.to.startsWith('o') && m.from !== relayOf(m.to)) direct.push(`${m.from}->${m.to} ${m.type}`);
    return false;
  };
  // o1 is registered at n1, o2 at n2: make n3 lead so both are served by followers.
  const first = await elect(sim);
  if (first !== 'n3') sim.poke(first, (n) => n.transferLeadership('n3'));
  assert.ok(await sim.runUntil(() => sim.leader() === 'n3', 5000), 'n3 leads');
  direct.length = 0;
  for (let i = 0; i < 30; i++) await commitOne(sim);
  assert.ok(await sim.runUntil(() => sim.converged(), 5000), 'observers converge through their relays');
  assert.equal(direct, [], 'nothing went to an observer except from its relay');
  assert.not.ok('o1' in sim.status('n3')!.progress, 'the leader does not track o1');
  // A linearizable read at an observer: the relay asks the leader for a read index.
  const p = await commitOne(sim);
  const got: number[] = [];
  void sim.driver('o1').read().then((r) => got.push(r.index));
  assert.ok(await sim.runUntil(() => got.length > 0, 2000), 'the read index came back through the relay');
  assert.ok(got[0]! >= p.index, `read index ${got[0]} covers the write committed before the read (${p.index})`);
  // The observer falls behind past compaction: its relay sends a snapshot.
  sim.crash('o1');
  for (let i = 0; i < 40; i++) await commitOne(sim);
  sim.restart('o1');
  await commitOne(sim);
  assert.ok(await sim.runUntil(() => sim.converged(), 10_000), 'o1 caught up from its relay (snapshot)');
  assert.ok(sim.status('o1')!.firstIndex > 1, 'o1 restored a snapshot');
  assert.equal(direct, []);
});

t('an observer cannot raise a member\'s term', async () => {
  const sim = new Sim({ seed: 46, voters: 3, observers: 1, observersAt: 'followers' });
  const leader = await elect(sim);
  const relay = sim.raft('n1');
  const term = sim.status(leader)!.term;
  sim.poke('n1', (n) => n.step({ type: 'appResp', from: 'o1', to: 'n1', term: term + 5, index: 0, reject: false, hintIndex: 0, hintTerm: 0 }));
  assert.is(relay.status().term, term, 'the relay ignored the higher term from its observer');
});

t.run();
