// The simulator has teeth: each deliberately broken safety rule (applied to a temporary copy of
// the core, never to the real one) is caught within a few hundred seeds.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { hunt, mutants } from './mutants.ts';

const t = suite('mutants');

for (const m of mutants) {
  t(`the simulator catches a core that would ${m.name}`, async () => {
    const caught = await hunt(m, 300);
    assert.ok(caught !== null, `mutant '${m.name}' survived 300 seeds`);
    console.log(`    ${m.name}: caught by ${caught!.how} (seed ${caught!.seed}): ${caught!.error.slice(0, 160)}`);
  });
}

t.run();
