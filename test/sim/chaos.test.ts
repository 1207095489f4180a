// The seeded chaos run inside `npm test`: 500 seeds of a few thousand events each, every one
// checked for safety after each step and for convergence after the final heal. A failing seed
// prints the command that replays it alone.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { runChaos } from './chaos.ts';

const t = suite('chaos');
const seeds = Number(process.env.SIM_SEEDS ?? 500);
const from = Number(process.env.SIM_FROM ?? 1);

t(`${seeds} seeded chaos runs keep every safety property and converge`, () => {
  const failures: string[] = [];
  let committed = 0;
  let saved = 0;
  let crashes = 0;
  let kvOps = 0;
  for (let seed = from; seed < from + seeds; seed++) {
    const r = runChaos(seed);
    committed += r.committed;
    saved += r.reorderAccepted;
    crashes += r.crashes;
    kvOps += r.kvOps;
    if (!r.ok) failures.push(`seed ${seed} (${r.profile}): ${r.error}\n    replay: ${r.replay}`);
  }
  console.log(`    ${seeds} seeds: ${committed} entries committed, ${crashes} crashes, ${saved} resends saved by reorder buffers, ${kvOps} key-value operations checked linearizable`);
  assert.ok(kvOps > seeds * 20, 'the key-value histories are not empty');
  assert.is(failures.length, 0, `failing seeds:\n  ${failures.join('\n  ')}`);
});

t.run();
