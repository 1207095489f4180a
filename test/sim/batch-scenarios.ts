// ParallelRaft's batches in the simulator, scripted: the ghost entry inside a batch (a Merge must
// weigh what a batch's creator had at the batch's other indexes), an acknowledgement without the
// batch's head (a Merge must see the window an entry may have been applied by), and entries of
// one batch that write the same key (they apply in order even when the later one commits first).

import { encodeCommand } from '../../src/core/kv/command.ts';
import type { Message } from '../../src/core/message.ts';
import type { Entry } from '../../src/core/types.ts';
import { ghostStage, must, put, type GhostResult } from './ghost.ts';
import { Sim } from './sim.ts';

/** B leads rest (A crashed, F cut off), holding g's index free; X and Y are its followers. */
interface BatchStage {
  readonly sim: Sim;
  readonly A: string;
  readonly F: string;
  readonly B: string;
  readonly X: string;
  readonly Y: string;
  readonly gAt: number;
}

async function batchStage(seed: number, pads: number): Promise<BatchStage> {
  const sim = new Sim({ seed, voters: 5, kv: true, mode: 'parallel', snapshotEvery: 0 });
  const { A, F, rest, B, gAt } = await ghostStage(sim, 10);
  const [X, Y] = rest.filter((id) => id !== B) as [string, string];
  const settled = () => sim.runUntil(() => { const st = sim.status(B)!; return st.commit === st.lastIndex; }, 5000);
  while (sim.status(B)!.lastIndex + 1 < gAt - pads) put(sim, B, 'pad', String(sim.status(B)!.lastIndex));
  must(await settled(), 'B committed the padding');
  // Anything B appended meanwhile (a lease epoch) is padded over too, without running the clock.
  while (sim.status(B)!.lastIndex + 1 < gAt - pads) put(sim, B, 'pad', String(sim.status(B)!.lastIndex));
  must(sim.status(B)!.lastIndex + 1 === gAt - pads, `B's next index is ${gAt - pads} (it is ${sim.status(B)!.lastIndex + 1})`);
  return { sim, A, F, B, X, Y, gAt };
}

/** Y gets B's appends with only the entries at `keep` indexes (each run as its own append). */
function onlyTo(st: BatchStage, keep: (i: number) => boolean, touching: (i: number) => boolean): void {
  st.sim.rewriteIf = (m) => {
    if (m.type !== 'app' || m.from !== st.B || m.to !== st.Y || !m.entries.some((e) => touching(e.index))) return null;
    const parts: Message[] = [];
    let run: Entry[] = [];
    const flush = () => {
      if (run.length > 0) parts.push({ ...m, prevIndex: run[0]!.index - 1, prevTerm: run[0]!.index - 1 === m.prevIndex ? m.prevTerm : run[0]!.term, entries: run });
      run = [];
    };
    for (const e of m.entries) {
      if (keep(e.index)) run.push(e);
      else flush();
    }
    flush();
    return parts;
  };
}

const cmd = (key: string, value: string) => encodeCommand({ timeMs: 0, session: null, cmd: { op: 'put', key, value } });

/**
 * The end of both batch scenarios: once X applied w before g's index, B crashes, X is cut off, and
 * A, F (who hold g there) and Y elect a leader; then everyone converges.
 */
async function mergeWithoutBAndX(st: BatchStage, wAt: number): Promise<GhostResult> {
  const { sim, A, F, B, X, Y, gAt } = st;
  must((sim.status(X)?.commit ?? 0) < gAt, 'g\'s index not committed');
  sim.crash(B);
  sim.rewriteIf = null;
  sim.restart(A);
  sim.net.heal();
  sim.net.partition([[X], [A, F, Y]]);
  must(await sim.runUntil(() => { const l = sim.leader(); return l !== null && [A, F, Y].includes(l); }, 10_000), 'a leader among A, F and Y');
  const C = sim.leader()!;
  must(await sim.runUntil(() => sim.status(C)!.commit >= wAt, 5000), 'merged range committed');
  const e = sim.raft(C).entryAt(gAt);
  const atGhostIndex = e === undefined ? 'compacted' : e.type === 'noop' ? 'noop' : 'entry';
  sim.net.heal();
  sim.restart(B);
  put(sim, C, 'after', '1');
  const converged = await sim.runUntil(() => sim.converged(), 10_000);
  const x = sim.ids.map((id) => String(sim.kvOf(id)?.get('x')));
  return { atGhostIndex, x, converged };
}

/**
 * The ghost inside a batch: B's batch [h, z, w] (w writes x, z writes y, z at g's index) reaches X
 * whole but Y without z; w commits (B, X, Y hold it), z does not (B, X), and X applies w before
 * z. Then the Merge of A, F (holding A's g, key x, at z's index) and Y (a hole there): only w's
 * claim about its own batch outranks g; without it g commits under w, and X ends with x = g.
 */
export async function batchGhostScenario(seed = 5): Promise<GhostResult> {
  const st = await batchStage(seed, 1);
  const { sim, B, X, gAt } = st;
  onlyTo(st, (i) => i !== gAt, (i) => i === gAt);
  const r = sim.proposeBatch(B, [cmd('hb', 'head'), cmd('y', 'z'), cmd('x', 'w')]);
  must(r !== null && r.index === gAt - 1, `the batch's z at g's index (batch at ${r?.index}, g ${gAt})`);
  const wAt = gAt + 1;
  must(await sim.runUntil(() => sim.status(X)!.appliedAbove.includes(wAt), 2000), 'w applied before z on X');
  return mergeWithoutBAndX(st, wAt);
}

/**
 * An acknowledgement without the batch's head: B appends z (key y) at g's index, then the batch
 * [h, w] (w writes x; h's window names z). X holds all three; Y gets only w. Y must not acknowledge
 * w without h: then w is not committed, and X cannot apply it before z. A follower that did would
 * let w commit on {B, X, Y}; X applies w before z by h's window, and the Merge of A, F and Y, none
 * holding h, sees no claim about z's index above g's: g commits under w. Returns null when w was
 * (rightly) not committed, else how the scenario ended.
 */
export async function headlessAckScenario(seed = 5): Promise<GhostResult | null> {
  const st = await batchStage(seed, 0);
  const { sim, B, X, gAt } = st;
  const wAt = gAt + 2;
  onlyTo(st, (i) => i === wAt, (i) => i >= gAt && i <= wAt);
  must(put(sim, B, 'y', 'z') === gAt, 'z at g\'s index');
  const r = sim.proposeBatch(B, [cmd('hb', 'head'), cmd('x', 'w')]);
  must(r !== null && r.index === gAt + 1, `the batch after z (at ${r?.index}, g ${gAt})`);
  must(await sim.runUntil(() => (sim.status(st.Y)?.lastIndex ?? 0) >= wAt, 2000), 'Y holds w');
  if (!(await sim.runUntil(() => sim.status(X)!.appliedAbove.includes(wAt), 2000))) return null;
  return mergeWithoutBAndX(st, wAt);
}

/**
 * A batch [f, k, j] where k and j write the same key: Y gets f and j but not k, X gets nothing, so
 * j commits (leader and Y) before k (the leader alone). The leader must not apply j before k.
 * Returns x on every node once everything converged (all 'j' when they applied in order).
 */
export async function batchOrderScenario(seed = 5): Promise<{ readonly x: readonly string[]; readonly converged: boolean }> {
  const sim = new Sim({ seed, voters: 3, kv: true, mode: 'parallel', snapshotEvery: 0 });
  must(await sim.runUntil(() => sim.leader() !== null, 5000), 'a leader');
  const L = sim.leader()!;
  must(await sim.runUntil(() => { const st = sim.status(L)!; return st.commit === st.lastIndex && sim.converged(); }, 5000), 'settled');
  const [X, Y] = sim.conf.voters.filter((id) => id !== L) as [string, string];
  const f = sim.status(L)!.lastIndex + 1;
  const k = f + 1;
  const j = f + 2;
  const st: BatchStage = { sim, A: L, F: X, B: L, X, Y, gAt: k };
  onlyTo(st, (i) => i !== k, (i) => i === k);
  sim.dropIf = (m) => m.type === 'app' && m.from === L && m.to === X && m.entries.some((e) => e.index >= f);
  const r = sim.proposeBatch(L, [cmd('a', 'f'), cmd('x', 'k'), cmd('x', 'j')]);
  must(r !== null && r.index === f, `the batch at ${f} (at ${r?.index})`);
  must(await sim.runUntil(() => (sim.status(L)?.committedAbove ?? []).includes(j), 2000), 'j committed before k');
  await sim.runFor(200);
  sim.rewriteIf = null;
  sim.dropIf = null;
  put(sim, L, 'after', '1');
  const converged = await sim.runUntil(() => sim.converged(), 10_000);
  return { x: sim.ids.map((id) => String(sim.kvOf(id)?.get('x'))), converged };
}
