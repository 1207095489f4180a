// Small helpers shared by the scenario tests: wait for a leader, propose and wait for commits.
import * as assert from 'uvu/assert';
import type { Sim } from './sim.ts';

export interface Proposal {
  readonly index: number;
  readonly key: string;
}

export async function elect(sim: Sim, maxMs = 5000): Promise<string> {
  assert.ok(await sim.runUntil(() => sim.leader() !== null, maxMs), `no leader within ${maxMs} ms (seed ${sim.opts.seed})`);
  return sim.leader()!;
}

/** Proposes `count` entries through the current leader, retrying while there is none. */
export async function proposeMany(sim: Sim, count: number, label = 'p'): Promise<Proposal[]> {
  const out: Proposal[] = [];
  while (out.length < count) {
    const p = sim.propose(label);
    if (p === null) {
      await sim.runFor(10);
      continue;
    }
    out.push(p);
  }
  return out;
}

export function allCommitted(sim: Sim, props: readonly Proposal[]): boolean {
  return props.every((p) => sim.isCommitted(p.index, p.key));
}

/** Proposes one entry and waits until it commits (re-proposing if a leader change drops it). */
export async function commitOne(sim: Sim, maxMs = 5000, label = 'c'): Promise<Proposal> {
  const end = sim.now + maxMs;
  while (sim.now < end) {
    const p = sim.propose(label);
    if (p !== null && await sim.runUntil(() => sim.isCommitted(p.index, p.key), 1000)) return p;
    if (p === null) await sim.runFor(20);
  }
  assert.unreachable(`nothing committed within ${maxMs} ms (seed ${sim.opts.seed})`);
  throw new Error('unreachable');
}

export function liveIds(sim: Sim): string[] {
  return sim.ids.filter((id) => sim.nodes.get(id)!.alive);
}
