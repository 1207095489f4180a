// The seeded chaos run inside `npm test`: 400 seeds (each key-value seed costs more since the
// coordination primitives joined it), each a few seconds of virtual time, every one
// checked for safety after each step and for convergence after the final heal; in key-value runs
// also txns (linearizability), lease expiries (never before the last acknowledged keep-alive's send
// + TTL) and every watcher's stream (against the applied history). Processes pause,
// machines suspend and leadership transfers run with their messages held back: the counts printed
// show the mix really ran. A failing seed prints the command that replays it alone.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { addPrimitiveStats, describePrimitives, emptyPrimitiveStats, primitivesRan, runChaos } from './chaos.ts';

const t = suite('chaos');
const seeds = Number(process.env.SIM_SEEDS ?? 400);
const from = Number(process.env.SIM_FROM ?? 1);

t(`${seeds} seeded chaos runs keep every safety property and converge`, async () => {
  const failures: string[] = [];
  const n = { committed: 0, saved: 0, crashes: 0, kvOps: 0, pauses: 0, transfers: 0, leaseReads: 0, readIndexReads: 0, forfeited: 0, outcomeUnknown: 0 };
  const prim = emptyPrimitiveStats();
  for (let seed = from; seed < from + seeds; seed++) {
    const r = await runChaos(seed);
    n.committed += r.committed;
    n.saved += r.reorderAccepted;
    n.crashes += r.crashes;
    n.kvOps += r.kvOps;
    n.pauses += r.pauses;
    n.transfers += r.transfers;
    n.leaseReads += r.leaseReads;
    n.readIndexReads += r.readIndexReads;
    n.forfeited += r.leaseForfeitedTerms;
    n.outcomeUnknown += r.outcomeUnknown;
    addPrimitiveStats(prim, r);
    if (!r.ok) failures.push(`seed ${seed} (${r.profile}): ${r.error}\n    replay: ${r.replay}`);
  }
  console.log(`    ${seeds} seeds: ${n.committed} entries committed, ${n.crashes} crashes, ${n.pauses} pauses, ${n.transfers} transfers, ` +
    `${n.saved} resends saved by reorder buffers, ${n.kvOps} key-value operations checked linearizable ` +
    `(${n.leaseReads} reads by lease, ${n.readIndexReads} by ReadIndex at the leader, ${n.forfeited} leader terms without a lease after a timeoutNow, ` +
    `${n.outcomeUnknown} writes answered ERR_OUTCOME_UNKNOWN)`);
  console.log(`    ${describePrimitives(prim)}`);
  assert.is(failures.length, 0, `failing seeds:\n  ${failures.join('\n  ')}`);
  assert.equal(primitivesRan(prim, seeds), [], 'the coordination primitives ran and met their faults');
  assert.ok(n.kvOps > seeds * 20, 'the key-value histories are not empty');
  // The fault mix must really include what the lease rules are about.
  assert.ok(n.pauses > seeds / 2 && n.transfers > seeds / 2, `pauses ${n.pauses}, transfers ${n.transfers}`);
  assert.ok(n.leaseReads > 0 && n.forfeited > 0, `lease reads ${n.leaseReads}, terms without a lease ${n.forfeited}`);
});

t.run();
