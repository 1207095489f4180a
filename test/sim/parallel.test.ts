// ParallelRaft mode in the simulator: the scripted ghost-entry scenarios (docs/parallel-raft.md;
// before a batch, and inside one) end with a no-op where the ghost was and equal replicas; a follower's read index that outlives
// its own election is served only once the new leader's barrier is committed; and seeded chaos
// runs in parallel mode keep every safety property (per-key state, no committed entry lost,
// linearizable histories, txns included, lease expiries, watchers' streams in index order) while
// entries really are acknowledged, committed and applied out of order.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { addParallelStats, addPrimitiveStats, describePrimitives, emptyParallelStats, emptyPrimitiveStats, primitivesRan, runChaos } from './chaos.ts';
import { batchGhostScenario, batchOrderScenario, headlessAckScenario } from './batch-scenarios.ts';
import { ghostScenario, GhostSetupError } from './ghost.ts';
import { followerReadAcrossElection, ReadScenarioSetupError } from './parallel-reads.ts';

const t = suite('parallel');
const seeds = Number(process.env.SIM_SEEDS ?? 400);
const from = Number(process.env.SIM_FROM ?? 1);

t('a ghost entry left on a minority does not come back under an entry applied out of order', async () => {
  let runs = 0;
  for (let seed = 1; seed <= 20 && runs < 3; seed++) {
    let r;
    try {
      r = await ghostScenario(seed);
    } catch (err) {
      // Some seeds elect leaders in an order the script cannot use: try the next one.
      if (err instanceof GhostSetupError) continue;
      throw err;
    }
    runs++;
    assert.is(r.atGhostIndex, 'noop', `seed ${seed}: the Merge stage filled the ghost's index with a no-op`);
    assert.ok(r.converged, `seed ${seed}: replicas converged`);
    assert.equal(new Set(r.x).size, 1, `seed ${seed}: every replica agrees on x: ${r.x.join(', ')}`);
    assert.is(r.x[0], 'w');
  }
  assert.ok(runs >= 3, `the scenario could be set up on only ${runs} seeds`);
});

t('a ghost entry does not come back under an entry that overtook it inside its own batch', async () => {
  let runs = 0;
  const setup: string[] = [];
  for (let seed = 1; seed <= 20 && runs < 3; seed++) {
    let r;
    try {
      r = await batchGhostScenario(seed);
    } catch (err) {
      if (err instanceof GhostSetupError) {
        setup.push(`seed ${seed}: ${err.message}`);
        continue;
      }
      throw err;
    }
    runs++;
    assert.is(r.atGhostIndex, 'noop', `seed ${seed}: the Merge stage filled z's index with a no-op`);
    assert.ok(r.converged, `seed ${seed}: replicas converged`);
    assert.equal(new Set(r.x).size, 1, `seed ${seed}: every replica agrees on x: ${r.x.join(', ')}`);
    assert.is(r.x[0], 'w');
  }
  assert.ok(runs >= 3, `the scenario could be set up on only ${runs} seeds:\n${setup.join('\n')}`);
});

t('an entry past a hole is not acknowledged without its batch\'s head, so it cannot commit and overtake by a window no Merge sees', async () => {
  let runs = 0;
  for (let seed = 1; seed <= 20 && runs < 3; seed++) {
    let r;
    try {
      r = await headlessAckScenario(seed);
    } catch (err) {
      if (err instanceof GhostSetupError) continue;
      throw err;
    }
    runs++;
    assert.is(r, null, `seed ${seed}: w committed and applied early: ${JSON.stringify(r)}`);
  }
  assert.ok(runs >= 3, `the scenario could be set up on only ${runs} seeds`);
});

t('entries of one batch that write the same key apply in log order, even when the later one commits first', async () => {
  let runs = 0;
  for (let seed = 1; seed <= 10 && runs < 3; seed++) {
    let r;
    try {
      r = await batchOrderScenario(seed);
    } catch (err) {
      if (err instanceof GhostSetupError) continue;
      throw err;
    }
    runs++;
    assert.ok(r.converged, `seed ${seed}: replicas converged`);
    assert.equal(r.x, r.x.map(() => 'j'), `seed ${seed}: x on every replica`);
  }
  assert.ok(runs >= 3, `the scenario could be set up on only ${runs} seeds`);
});

t('a read index a follower got from the old leader waits, after the follower\'s election, for its barrier', async () => {
  let runs = 0;
  for (let seed = 1; seed <= 10 && runs < 3; seed++) {
    let r;
    try {
      r = await followerReadAcrossElection(seed);
    } catch (err) {
      if (err instanceof ReadScenarioSetupError) continue;
      throw err;
    }
    runs++;
    assert.ok(r.readIndex >= r.writeIndex, `seed ${seed}: read index ${r.readIndex} covers the write at ${r.writeIndex}`);
    assert.is(r.value, 'w', `seed ${seed}: the read sees the write acknowledged before it was asked`);
  }
  assert.ok(runs >= 3, `the scenario could be set up on only ${runs} seeds`);
});

t(`${seeds} seeded chaos runs in parallel mode keep every safety property and converge`, async () => {
  const failures: string[] = [];
  const stats = emptyParallelStats();
  let committed = 0;
  let kvOps = 0;
  const prim = emptyPrimitiveStats();
  for (let seed = from; seed < from + seeds; seed++) {
    const r = await runChaos(seed, { mode: 'parallel' });
    committed += r.committed;
    kvOps += r.kvOps;
    addPrimitiveStats(prim, r);
    addParallelStats(stats, r.parallel);
    if (!r.ok) failures.push(`seed ${seed} (${r.profile}): ${r.error?.slice(0, 2000)}\n    replay: ${r.replay}`);
  }
  console.log(`    ${seeds} parallel seeds: ${committed} entries committed, ${kvOps} key-value operations linearizable; ${JSON.stringify(stats)}`);
  console.log(`    ${describePrimitives(prim)}`);
  assert.is(failures.length, 0, `failing seeds:\n  ${failures.join('\n  ')}`);
  assert.ok(kvOps > seeds * 20, 'the key-value histories are not empty');
  assert.equal(primitivesRan(prim, seeds), [], 'the coordination primitives ran and met their faults');
  // The mode must actually run out of order, or the runs above prove nothing about it.
  assert.ok(stats.outOfOrderAccepted > 0 && stats.outOfOrderCommitted > 0 && stats.outOfOrderApplied > 0, JSON.stringify(stats));
  assert.ok(stats.merges > 0 && stats.mergeNoops > 0 && stats.applyHeldByConflict > 0, JSON.stringify(stats));
});

t.run();
