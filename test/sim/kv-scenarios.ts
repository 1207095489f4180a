// Targeted key-value scenarios shared by the tests and the mutation checks: a leader is cut off
// while some clients keep reading from it and others write through the new leader.

import { checkHistory, formatResult } from '../lincheck/checker.ts';
import { KvWorkload } from './kv-workload.ts';
import { Sim } from './sim.ts';

export interface ScenarioRun {
  readonly ok: boolean;
  readonly ops: number;
  readonly report: string;
}

/**
 * Elects a leader, slows its clock by `clockFactor` (1 = exact), isolates it, and has clients
 * read from it in `mode` while writers move on to the new leader. Linearizable reads must see
 * every write that completed before they started.
 */
export async function oldLeaderReads(seed: number, mode: 'lease' | 'readindex', clockFactor: number): Promise<ScenarioRun> {
  const sim = new Sim({ seed, voters: 3, kv: true });
  if (!await sim.runUntil(() => sim.leader() !== null, 5000)) return { ok: true, ops: 0, report: 'no leader' };
  const old = sim.leader()!;
  // Its clock now runs `clockFactor` times slow: its ticks and its lease measure stretch alike.
  sim.nodes.get(old)!.clock.setRate(1 / clockFactor);
  // Short attempt deadlines move writers to the new leader quickly, while readers stay on the old.
  const w = new KvWorkload(sim, {
    seed, clients: 8, keys: 1, readModes: [mode], writeRatio: 0.5, thinkMsMax: 1, attemptTimeoutMs: 30,
    ...(mode === 'lease' ? { leaseTarget: () => old } : { readTarget: () => old }),
  });
  w.start();
  await sim.runFor(300);
  sim.net.isolate(old, sim.ids);
  await sim.runFor(1000);
  w.stop();
  sim.net.heal();
  await sim.runFor(100);
  const history = w.result();
  const r = checkHistory(history, { timeoutMs: 20_000 });
  return { ok: r.ok, ops: history.filter((h) => h.outcome === 'ok').length, report: r.ok ? '' : formatResult(r) };
}
