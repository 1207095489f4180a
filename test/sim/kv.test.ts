// Linearizable reads and exactly-once writes, proven on the simulator with simulated key-value
// clients and the linearizability checker: every read mode under partitions, crashes, reordering
// and bounded clock drift; and the checker's teeth — stale reads from a cut-off leader and lease
// reads on a clock that drifts beyond the configured margin are caught.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { SeededPrng } from '../../src/core/prng.ts';
import { checkHistory, formatResult } from '../lincheck/checker.ts';
import { KvWorkload, type SimReadMode } from './kv-workload.ts';
import { reliableNetwork, unreliableNetwork } from './network.ts';
import { Sim } from './sim.ts';
import { oldLeaderReads } from './kv-scenarios.ts';
import { elect } from './util.ts';

const t = suite('kv histories');

interface Run {
  readonly ok: boolean;
  readonly ops: number;
  readonly report: string;
  readonly duplicates: number;
  readonly sim: Sim;
}

async function finish(sim: Sim, w: KvWorkload, settleMs = 2000): Promise<Run> {
  w.stop();
  sim.net.heal();
  sim.net.options = reliableNetwork;
  await sim.runFor(settleMs);
  const history = w.result();
  const r = checkHistory(history, { timeoutMs: 20_000 });
  return { ok: r.ok, ops: history.filter((h) => h.outcome === 'ok').length, report: r.ok ? '' : formatResult(r), duplicates: w.duplicatesCommitted, sim };
}

/** A seeded run with a nemesis: crashes, partitions, leader isolation, bounded drift. */
async function chaosRun(seed: number, modes: readonly SimReadMode[]): Promise<Run> {
  const rng = new SeededPrng(seed ^ 0x2545f491);
  const voters = rng.nextInt(3) === 0 ? 5 : 3;
  const sim = new Sim({
    seed, voters, kv: true, clockDrift: 0.04, snapshotEvery: rng.nextInt(2) === 0 ? 0 : 30,
    network: rng.nextInt(2) === 0 ? unreliableNetwork : { ...reliableNetwork, reorderRate: 0.2, reorderDelayMaxMs: 5 },
  });
  await elect(sim, 10_000);
  const w = new KvWorkload(sim, { seed, clients: 5, keys: 3, readModes: modes });
  w.start();
  const everyone = sim.ids;
  const nemesis = (): void => {
    const roll = rng.nextInt(6);
    if (roll === 0) {
      const v = everyone[rng.nextInt(everyone.length)]!;
      sim.crash(v);
      sim.at(100 + rng.nextInt(400), () => sim.restart(v));
    } else if (roll === 1) {
      const l = sim.leader();
      if (l !== null) { sim.net.heal(); sim.net.isolate(l, everyone); }
    } else if (roll === 2) {
      const cut = 1 + rng.nextInt(everyone.length - 1);
      sim.net.heal();
      sim.net.partition([everyone.slice(0, cut), everyone.slice(cut)]);
    } else {
      sim.net.heal();
    }
    sim.at(100 + rng.nextInt(300), nemesis);
  };
  sim.at(200, nemesis);
  await sim.runFor(3000);
  for (const id of everyone) sim.restart(id);
  return await finish(sim, w);
}

const seeds = Number(process.env.KV_SEEDS ?? 60);

t(`${seeds} seeded runs with every read mode, partitions, crashes and drift are linearizable`, async () => {
  let ops = 0;
  let dups = 0;
  for (let seed = 1; seed <= seeds; seed++) {
    const r = await chaosRun(seed, ['readindex', 'lease', 'follower']);
    ops += r.ops;
    dups += r.duplicates;
    assert.ok(r.ok, `seed ${seed} is not linearizable (replay: KV_SEEDS=${seed} and look at seed ${seed}):\n${r.report}`);
  }
  console.log(`    ${seeds} runs, ${ops} completed operations checked, ${dups} retried writes committed twice and applied once`);
  assert.ok(ops > seeds * 50, `enough operations completed (${ops})`);
});

t('exactly-once: writes retried across timeouts and leader changes apply once', async () => {
  const sim = new Sim({ seed: 77, voters: 3, kv: true, network: { ...unreliableNetwork, dropRate: 0.05, duplicateRate: 0.1 } });
  await elect(sim, 10_000);
  // A short attempt deadline makes clients retry writes that are merely slow.
  const w = new KvWorkload(sim, { seed: 77, clients: 6, keys: 2, readModes: ['readindex'], writeRatio: 0.8, attemptTimeoutMs: 25, attemptsMax: 8 });
  w.start();
  for (let i = 0; i < 6; i++) {
    await sim.runFor(400);
    const l = sim.leader();
    if (l !== null) { sim.crash(l); sim.at(150, () => sim.restart(l)); }
  }
  const r = await finish(sim, w);
  assert.ok(r.duplicates > 0, 'retries did commit the same request twice');
  assert.ok(r.ok, `a retried cas or put applied twice:\n${r.report}`);
  console.log(`    exactly-once: ${r.duplicates} duplicate commits, ${r.ops} operations, history linearizable`);
});

t('the checker has teeth: stale reads from a cut-off old leader are rejected', async () => {
  const sim = new Sim({ seed: 5, voters: 3, kv: true });
  const old = await elect(sim);
  const w = new KvWorkload(sim, { seed: 5, clients: 4, keys: 1, readModes: ['stale'], writeRatio: 0.5, staleTarget: () => old });
  w.start();
  await sim.runFor(300);
  sim.net.isolate(old, sim.ids);
  await sim.runFor(1500);
  const r = await finish(sim, w, 100);
  assert.not.ok(r.ok, 'stale reads at a partitioned old leader must be caught');
  assert.match(r.report, /k0/);
});

t('lease reads: safe with drift inside the margin, caught as unsafe beyond it', async () => {
  let caught = 0;
  for (let seed = 1; seed <= 20; seed++) {
    const within = await oldLeaderReads(seed, 'lease', 1.05);
    assert.ok(within.ok, `seed ${seed}: lease reads with 5% drift (margin 10%) must be linearizable:\n${within.report}`);
    if (!(await oldLeaderReads(seed, 'lease', 3)).ok) caught++;
  }
  console.log(`    lease beyond the drift margin (3x slow clock): ${caught} of 20 runs produced a history the checker rejects`);
  assert.ok(caught >= 6, 'a lease outliving its real-time bound serves stale reads, and the checker sees it');
});

t('ReadIndex reads from a cut-off leader stay linearizable (it cannot confirm leadership)', async () => {
  for (let seed = 1; seed <= 10; seed++) {
    const r = await oldLeaderReads(seed, 'readindex', 1);
    assert.ok(r.ok, `seed ${seed}:\n${r.report}`);
  }
});

t.run();
