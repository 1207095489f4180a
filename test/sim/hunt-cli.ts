// `npm run sim:mutants`: hunts each mutant (or those whose name contains the argument) and prints
// how and where the simulator caught it; a mutant that survives is a failure (exit 1), except one
// marked safe (its note says why the broken rule cannot show), which must survive.
import { hunt, huntKeeperSchedule, huntLeaseScenarios, mutants } from './mutants.ts';

const filter = process.argv[2] ?? '';
const seedsMax = Number(process.env.MUTANT_SEEDS ?? 300);
let survived = 0;
for (const m of mutants.filter((x) => x.name.includes(filter))) {
  const started = Date.now();
  const caught = await hunt(m, seedsMax);
  const s = ((Date.now() - started) / 1000).toFixed(1);
  // A mutant marked safe that is caught means the reasoning for it was wrong: that fails too.
  if ((caught === null) !== (m.safe !== undefined)) survived++;
  if (caught === null && m.safe !== undefined) console.log(`survived ${m.name} (${seedsMax} seeds, ${s} s), as expected: ${m.safe}`);
  else console.log(caught === null ? `SURVIVED ${m.name} (${seedsMax} seeds, ${s} s)` : `caught   ${m.name}: by ${caught.how}, seed ${caught.seed} (${s} s): ${caught.error.split('\n')[0]!.slice(0, 200)}${m.safe !== undefined ? ' (MARKED SAFE: the note is wrong)' : ''}`);
  if (m.keeperSchedule === true) {
    const scripted = await huntKeeperSchedule(m, 3);
    console.log(`         scripted stopped-leader lease schedule: ${scripted === null ? 'not caught' : `caught on seed ${scripted.seed}: ${scripted.error.slice(0, 200)}`}`);
  }
  if (m.leaseSchedules === true) {
    const scripted = await huntLeaseScenarios(m, 3);
    console.log(`         scripted lease schedules: ${scripted === null ? 'not caught' : `caught on seed ${scripted.seed}: ${scripted.error.slice(0, 200)}`}`);
  }
}
process.exitCode = survived === 0 ? 0 : 1;
