// `npm run sim:mutants`: hunts each mutant (or those whose name contains the argument) and prints
// how and where the simulator caught it; a mutant that survives is a failure (exit 1).
import { hunt, huntLeaseScenarios, mutants } from './mutants.ts';

const filter = process.argv[2] ?? '';
const seedsMax = Number(process.env.MUTANT_SEEDS ?? 300);
let survived = 0;
for (const m of mutants.filter((x) => x.name.includes(filter))) {
  const started = Date.now();
  const caught = await hunt(m, seedsMax);
  const s = ((Date.now() - started) / 1000).toFixed(1);
  if (caught === null) survived++;
  console.log(caught === null ? `SURVIVED ${m.name} (${seedsMax} seeds, ${s} s)` : `caught   ${m.name}: by ${caught.how}, seed ${caught.seed} (${s} s): ${caught.error.split('\n')[0]!.slice(0, 200)}`);
  if (m.chaosOnly === true) {
    const scripted = await huntLeaseScenarios(m, 3);
    console.log(`         scripted lease schedules: ${scripted === null ? 'not caught' : `caught on seed ${scripted.seed}: ${scripted.error.slice(0, 200)}`}`);
  }
}
process.exitCode = survived === 0 ? 0 : 1;
