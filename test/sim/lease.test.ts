// The stale-lease schedules of issue 13, played step by step on the simulator (the peer's own
// driver and time policy): a timeoutNow delayed past the leader's giving up on the transfer, a
// transferee whose vote arrives late, and a leader stopped (or its machine suspended) while the
// acknowledgements of its last round wait in its socket buffer. In each the old leader must answer
// no read below the write the new leader committed before the read was asked. (The mutants test
// checks that these schedules do catch the old rules.)
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { delayedTimeoutNow, ScenarioSetupError, slowTransferee, stalledLeader, suspendedLeader, type LeaseScenarioResult } from './lease-scenarios.ts';

const t = suite('lease schedules');
const seeds = 5;

async function each(name: string, run: (seed: number) => Promise<LeaseScenarioResult>): Promise<LeaseScenarioResult[]> {
  const out: LeaseScenarioResult[] = [];
  for (let seed = 1; seed <= seeds; seed++) {
    try {
      out.push(await run(seed));
    } catch (err) {
      if (!(err instanceof ScenarioSetupError)) throw err;
      console.log(`    ${name} seed ${seed}: could not be set up (${err.message})`);
    }
  }
  assert.ok(out.length >= 3, `${name} could be played on only ${out.length} of ${seeds} seeds`);
  for (const r of out) {
    assert.equal(r.stale, [], `${name}: ${r.oldLeader} answered ${JSON.stringify(r.stale)} after ${r.newLeader} committed ${r.writeIndex} (${r.notes.join('; ')})`);
    assert.ok(r.writeIndex > 0, 'the new leader committed a write first');
  }
  return out;
}

t('A: a timeoutNow delayed past the transfer\'s abandonment leaves the old leader no lease', async () => {
  const runs = await each('delayedTimeoutNow', delayedTimeoutNow);
  console.log(`    ${runs.length} runs; ${runs.map((r) => r.notes[0]).join('; ')}`);
});

t('B: a slow transferee elected after the leader gave up leaves it no lease', async () => {
  await each('slowTransferee', slowTransferee);
});

t('a stopped leader\'s old acknowledgements do not revive its lease', async () => {
  await each('stalledLeader', (seed) => stalledLeader(seed, false));
});

t('a suspended machine (monotonic clock stopped) does not keep its lease', async () => {
  await each('suspendedLeader', suspendedLeader);
});

t.run();
