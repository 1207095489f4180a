// The ghost-entry scenario of docs/parallel-raft.md, scripted on five nodes in parallel mode:
//   1. leader A writes g (key x) that only F stores; A crashes;
//   2. leader B, elected without F, writes z (key y) and w (key x) after it; w commits out of
//      order and applies before the hole where z should be; z reaches nobody; B crashes;
//   3. the next leader merges with F (who holds g) but not B.
// A Merge that ranked claims by entry term alone would put g back under w, and the replicas that
// applied w before it would disagree with the others about x. The checker must see that.

import { encodeCommand } from '../../src/core/kv/command.ts';
import { Sim } from './sim.ts';

export class GhostSetupError extends Error {}

export interface GhostResult {
  /** What the last leader decided at g's index: 'noop' (safe) or the entry's payload key. */
  readonly atGhostIndex: string;
  /** x on every node once converged. */
  readonly x: readonly string[];
  readonly converged: boolean;
}

export function put(sim: Sim, id: string, key: string, value: string): number {
  const r = sim.proposeBytes(id, encodeCommand({ timeMs: 0, session: null, cmd: { op: 'put', key, value } }));
  if (r === null) throw new GhostSetupError(`${id} refused a proposal`);
  return r.index;
}

export function must(ok: boolean, what: string): void {
  if (!ok) throw new GhostSetupError(`scenario setup failed: ${what}`);
}

/** Where both ghost scripts start: A's g reached only F, A crashed, and B leads the rest. */
export interface GhostStage {
  readonly A: string;
  readonly F: string;
  readonly rest: readonly string[];
  readonly B: string;
  readonly gAt: number;
}

/**
 * Leader A writes `lost` entries and then g (key x) that only F stores, and crashes; F is cut off,
 * and B, elected by the rest, has committed its barrier (the first ones leave room for B's no-op).
 */
export async function ghostStage(sim: Sim, lost: number): Promise<GhostStage> {
  must(await sim.runUntil(() => sim.leader() !== null, 5000), 'a first leader');
  const A = sim.leader()!;
  const base = put(sim, A, 'base', '0');
  must(await sim.runUntil(() => sim.converged() && sim.checker.maxCommitted >= base, 5000), 'baseline converged');
  const others = sim.conf.voters.filter((id) => id !== A);
  const F = others[0]!;
  const rest = others.slice(1);
  const firstLost = sim.raft(A).status().lastIndex + 1;
  sim.dropIf = (m) => m.type === 'app' && m.from === A && m.to !== F && m.entries.some((e) => e.index >= firstLost);
  for (let i = 0; i < lost; i++) put(sim, A, `h${i}`, 'lost');
  const gAt = put(sim, A, 'x', 'g');
  must(await sim.runUntil(() => (sim.status(F)?.lastIndex ?? 0) >= gAt, 1000), 'F holds g');
  sim.crash(A);
  sim.dropIf = null;
  sim.net.partition([[F], rest]);
  must(await sim.runUntil(() => { const l = sim.leader(); return l !== null && rest.includes(l); }, 10_000), 'B elected');
  const B = sim.leader()!;
  must(await sim.runUntil(() => { const st = sim.status(B)!; return st.commit === st.lastIndex; }, 5000), 'B committed its barrier');
  return { A, F, rest, B, gAt };
}

export async function ghostScenario(seed = 5): Promise<GhostResult> {
  const sim = new Sim({ seed, voters: 5, kv: true, mode: 'parallel', snapshotEvery: 0, raft: { lookBehindEntries: 2 } });
  const { A, F, rest, B, gAt } = await ghostStage(sim, 4);
  // B fills the log up to just before g's index with entries everyone gets.
  while (sim.status(B)!.lastIndex + 1 < gAt) put(sim, B, 'pad', String(sim.status(B)!.lastIndex));
  must(await sim.runUntil(() => { const st = sim.status(B)!; return st.commit === st.lastIndex; }, 5000), 'B committed the padding');
  const zAt = put(sim, B, 'y', 'z');
  must(zAt === gAt, `z at g's index (z ${zAt}, g ${gAt})`);
  sim.dropIf = (m) => m.type === 'app' && m.from === B && m.entries.some((e) => e.index === zAt);
  await sim.runFor(2);
  const wAt = put(sim, B, 'x', 'w');
  const followers = rest.filter((id) => id !== B);
  must(await sim.runUntil(() => followers.every((id) => sim.status(id)!.appliedAbove.includes(wAt)), 2000),
    'w applied out of order on B\'s followers');
  sim.crash(B);
  sim.dropIf = null;
  // 3. F and B's followers elect a leader, which merges with F's g in view.
  sim.net.heal();
  must(await sim.runUntil(() => { const l = sim.leader(); return l !== null && l !== A && l !== B; }, 10_000), 'third leader elected');
  const C = sim.leader()!;
  must(await sim.runUntil(() => sim.status(C)!.commit >= wAt, 5000), 'merged range committed');
  const e = sim.raft(C).entryAt(gAt);
  const atGhostIndex = e === undefined ? 'compacted' : e.type === 'noop' ? 'noop' : 'entry';
  sim.restart(A);
  sim.restart(B);
  put(sim, C, 'after', '1');
  const converged = await sim.runUntil(() => sim.converged(), 10_000);
  const x = sim.ids.map((id) => String(sim.kvOf(id)?.get('x')));
  return { atGhostIndex, x, converged };
}
