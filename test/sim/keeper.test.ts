// The lease keeper's own schedule (keeper-scenarios.ts): holders pinned to a leader that stops
// for longer than an election, cut off from the others, with their keep-alives waiting in its
// socket buffer. On resume it must acknowledge none it cannot back with a read; the new leader,
// with nobody renewing there, expires the leases, and no expiry comes before the last
// acknowledged keep-alive's send + TTL. (The mutants test checks the schedule does catch a keeper
// that renews without the read.) And in ParallelRaft, an expiry an old leader proposed but never
// committed, adopted by a later leader's Merge stage after another leader renewed the lease, must
// be void: found by the chaos run (parallel seeds 94 and 130 at the time), scripted here.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { KeeperSetupError, parallelStaleExpiry, pausedLeaderHolders } from './keeper-scenarios.ts';

const t = suite('lease keeper schedules');

for (const resume of ['inputFirst', 'timerFirst'] as const) {
  const how = resume === 'inputFirst' ? 'taking its input before its timer' : 'ticking first';
  t(`a stopped leader (${how} on resume) acknowledges no waiting keep-alive; its successor expires the leases no earlier than allowed`, async () => {
    let runs = 0;
    for (let seed = 1; seed <= 5; seed++) {
      let r;
      try {
        r = await pausedLeaderHolders(seed, resume);
      } catch (err) {
        if (!(err instanceof KeeperSetupError)) throw err;
        console.log(`    seed ${seed}: could not be set up (${err.message})`);
        continue;
      }
      runs++;
      assert.is(r.violation, null, `seed ${seed}: ${r.violation}`);
      assert.ok(r.newLeader !== null && r.newLeader !== r.oldLeader, `seed ${seed}: a new leader took over from ${r.oldLeader}`);
      assert.is(r.expired, 3, `seed ${seed}: the new leader expired the three leases nobody could renew`);
      assert.ok(r.acked > 10, `seed ${seed}: keep-alives were acknowledged before the stop (${r.acked})`);
    }
    assert.ok(runs >= 3, `the schedule could be played on only ${runs} of 5 seeds`);
  });
}

t('ParallelRaft: an old leader\'s expiry adopted by a later Merge stage is void after another leader renewed the lease', async () => {
  for (let seed = 1; seed <= 3; seed++) {
    const r = await parallelStaleExpiry(seed);
    assert.is(r.violation, null, `seed ${seed} (leaders ${r.leaders.join(', ')}): ${r.violation}`);
    assert.is.not(r.expiry, 'deleted the lease', `seed ${seed}: the old expiry at ${r.expiryIndex} deleted the lease`);
  }
});

t.run();
