// The simulator has teeth: each deliberately broken safety rule (applied to a temporary copy of
// the core, never to the real one) is caught within a few hundred seeds. The lease, exactly-once
// and coordination-primitive mutants are hunted by the chaos run alone; the scripted lease
// schedules must catch the read-lease mutants too, and the scripted stopped-leader schedule
// stands in for the chaos run on a lease-keeper mutant the chaos mix meets only on a few seeds
// (a keep-alive renewed without its read: 4 in 300). Mutants marked safe are not hunted here.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { hunt, huntKeeperSchedule, huntLeaseScenarios, mutants } from './mutants.ts';

const t = suite('mutants');
const seedsMax = 300;

for (const m of mutants) {
  if (m.safe !== undefined) {
    // Hunting one costs the full 300 seeds; `npm run sim:mutants` does it.
    console.log(`    not hunted here: ${m.name} (safe in practice: ${m.safe})`);
    continue;
  }
  t(`the simulator catches a core that would ${m.name}`, async () => {
    const scripted = m.keeperSchedule === true ? await huntKeeperSchedule(m, 3) : null;
    // Caught by the script already: a shorter chaos hunt, for the record.
    const caught = await hunt(m, scripted !== null ? 100 : seedsMax);
    assert.ok(caught !== null || scripted !== null, `mutant '${m.name}' survived ${seedsMax} seeds`);
    if (caught !== null) console.log(`    ${m.name}: caught by ${caught.how} (seed ${caught.seed}): ${caught.error.split('\n')[0]!.slice(0, 160)}`);
    if (scripted !== null) console.log(`      ${caught === null ? 'missed by the chaos seeds, caught' : 'and'} by ${scripted.how} (seed ${scripted.seed}): ${scripted.error.slice(0, 160)}`);
    if (m.leaseSchedules === true) {
      const reads = await huntLeaseScenarios(m, 3);
      assert.ok(reads !== null, `the scripted lease schedules do not catch '${m.name}'`);
      console.log(`      and by ${reads!.how} (seed ${reads!.seed}): ${reads!.error.slice(0, 160)}`);
    }
  });
}

t.run();
