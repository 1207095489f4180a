// Observers: learners outside the configuration (what browser tabs will be). Every leader
// replicates to them; they apply everything, never vote, never count toward a commit, and a
// leader serves at most observersMax of them.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { RaftError } from '../../src/core/errors.ts';
import { unreliableNetwork } from './network.ts';
import { Sim } from './sim.ts';
import { commitOne, elect, proposeMany } from './util.ts';

const t = suite('observers');

t('an observer applies every entry, across leader changes, and never campaigns', () => {
  const sim = new Sim({ seed: 41, voters: 3, observers: 2, snapshotEvery: 20 });
  elect(sim);
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < 30; i++) commitOne(sim);
    const leader = sim.leader()!;
    sim.crash(leader);
    elect(sim, 5000);
    sim.restart(leader);
  }
  commitOne(sim);
  assert.ok(sim.runUntil(() => sim.converged(), 5000), 'observers converge with the voters');
  for (const o of ['o1', 'o2']) {
    assert.is(sim.status(o)!.stats.elections, 0, `${o} never campaigned`);
    assert.is(sim.status(o)!.role, 'follower');
  }
  const lead = sim.status(sim.leader()!)!;
  assert.ok(lead.progress.o1?.learner === true, 'the leader tracks o1 as a learner');
  assert.not.ok(lead.conf.voters.includes('o1') || lead.conf.learners.includes('o1'), 'o1 is not in the configuration');
});

t('an observer never counts toward a commit', () => {
  const sim = new Sim({ seed: 42, voters: 3, observers: 2 });
  const leader = elect(sim);
  commitOne(sim);
  for (const id of sim.conf.voters) if (id !== leader) sim.crash(id);
  const stranded = proposeMany(sim, 3, 'stranded');
  sim.runFor(500);
  assert.not.ok(stranded.some((p) => sim.isCommitted(p.index, p.key)), 'leader + 2 observers are not a quorum of 3 voters');
});

t('observers follow on an unreliable network and catch up from snapshots', () => {
  const sim = new Sim({ seed: 43, voters: 3, observers: 1, network: unreliableNetwork, snapshotEvery: 10, snapshotRetain: 0 });
  elect(sim, 10_000);
  sim.crash('o1');
  for (let i = 0; i < 40; i++) commitOne(sim, 10_000);
  sim.restart('o1');
  commitOne(sim, 10_000);
  assert.ok(sim.runUntil(() => sim.converged(), 20_000), 'the observer caught up');
});

t('a leader serves at most observersMax observers and refuses members as observers', () => {
  const sim = new Sim({ seed: 44, voters: 3, raft: { observersMax: 2 } });
  const leader = elect(sim);
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

t.run();
