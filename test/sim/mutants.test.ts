// The simulator has teeth: each deliberately broken safety rule (applied to a temporary copy of
// the core, never to the real one) is caught within a few hundred seeds. The lease and
// exactly-once mutants are hunted by the chaos run alone; the scripted lease schedules must catch
// the lease mutants too.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { hunt, huntLeaseScenarios, mutants } from './mutants.ts';

const t = suite('mutants');
const seedsMax = 300;

for (const m of mutants) {
  t(`the simulator catches a core that would ${m.name}`, async () => {
    const caught = await hunt(m, seedsMax);
    assert.ok(caught !== null, `mutant '${m.name}' survived ${seedsMax} seeds`);
    console.log(`    ${m.name}: caught by ${caught!.how} (seed ${caught!.seed}): ${caught!.error.split('\n')[0]!.slice(0, 160)}`);
    if (m.chaosOnly === true && m.name.includes('lease')) {
      const scripted = await huntLeaseScenarios(m, 3);
      assert.ok(scripted !== null, `the scripted lease schedules do not catch '${m.name}'`);
      console.log(`      and by ${scripted!.how} (seed ${scripted!.seed}): ${scripted!.error.slice(0, 160)}`);
    }
  });
}

t.run();
