// The Figure 8 scenario of the Raft paper, as in the usual lab suites: 5 nodes, leaders crashed
// again and again shortly after proposing, so that entries of old terms sit on a minority or a
// bare majority when new leaders arrive. Committing an old term's entry by counting replicas
// shows up here as a lost committed entry.

import type { Message } from '../../src/core/message.ts';
import { SeededPrng } from '../../src/core/prng.ts';
import { reliableNetwork, unreliableNetwork } from './network.ts';
import { Sim } from './sim.ts';

export interface Figure8Result {
  readonly crashes: number;
  readonly terms: number;
  readonly converged: boolean;
}

/** Throws the checker's SafetyViolation if a rule breaks. */
export async function figure8(seed: number, crashesTarget: number): Promise<Figure8Result> {
  // One entry per message: a new leader's no-op then travels apart from the old entries before it.
  const sim = new Sim({ seed, voters: 5, network: { ...unreliableNetwork, dropRate: 0.05, reorderRate: 0.02 }, raft: { msgBytesMax: 1 } });
  const rng = new SeededPrng(seed);
  let crashes = 0;
  let lastCrashedTerm = -1;
  while (crashes < crashesTarget) {
    const leader = sim.leader();
    if (leader !== null) {
      sim.propose('f8');
      const term = sim.status(leader)!.term;
      // Crash the leader after a short, random time: often before its entries reach a quorum.
      await sim.runFor(rng.nextInt(2) === 0 ? rng.nextInt(13) : rng.nextInt(120));
      if (sim.leader() === leader && term !== lastCrashedTerm) {
        sim.crash(leader);
        lastCrashedTerm = term;
        crashes++;
      }
    } else {
      await sim.runFor(10);
    }
    // Keep a quorum alive: bring crashed nodes back when too many are down.
    const down = sim.ids.filter((id) => !sim.nodes.get(id)!.alive);
    if (down.length >= 2 || (down.length > 0 && rng.nextInt(4) === 0)) sim.restart(down[rng.nextInt(down.length)]!);
  }
  for (const id of sim.ids) sim.restart(id);
  sim.net.options = reliableNetwork;
  let final = sim.propose('final');
  let at = sim.now;
  const converged = await sim.runUntil(() => {
    if (final === null || (sim.now - at > 2000 && !sim.isCommitted(final.index, final.key))) {
      final = sim.propose('final');
      at = sim.now;
    }
    return final !== null && sim.isCommitted(final.index, final.key) && sim.converged();
  }, 30_000);
  sim.checkDurableQuorum();
  return { crashes, terms: sim.checker.leaders.size, converged };
}

/** The script could not play out as written (a precondition failed): inconclusive, not a violation. */
export class ScriptError extends Error {
  override readonly name = 'ScriptError';
}

export interface Figure8ScriptResult {
  /** The old-term entry the scripted leader replicated to a bare majority. */
  readonly oldEntry: { readonly index: number; readonly term: number };
  /** Whether anybody ever committed it (the correct rule never does in this script). */
  readonly committed: boolean;
  /** Term at the old entry's index in the final leader's log. */
  readonly finalTerm: number;
}

/**
 * The paper's Figure 8, scripted step by step on 5 nodes (S1..S5 named by role, as in the paper):
 * (a) S1 leads and places x on S2 only; (b) S1 crashes, S5 wins a term with the others' votes and
 * writes its own no-op at x's index, then crashes; (c) S1 returns, wins a later term and
 * replicates x to a majority while its own no-op is lost; (d) S1 crashes and S5 returns, wins with
 * a newer last term and overwrites x. Correct Raft never commits x in (c). Throws the checker's
 * SafetyViolation when a broken rule does.
 */
export async function figure8Script(): Promise<Figure8ScriptResult> {
  // One entry per message, and no reorder buffer (which would keep the no-op for later).
  const sim = new Sim({ seed: 8, voters: 5, raft: { msgBytesMax: 1, reorderBufferMsgsMax: 0 } });
  const need = (cond: boolean, what: string): void => {
    if (!cond) throw new ScriptError(`figure 8 script: ${what}`);
  };
  const leaderAmong = (ids: readonly string[]) => (): boolean => {
    const l = sim.leader();
    return l !== null && ids.includes(l);
  };
  need(await sim.runUntil(() => sim.leader() !== null, 5000), 'no first leader');
  const a = sim.leader()!;
  const [b, c, d, e] = sim.ids.filter((id) => id !== a) as [string, string, string, string];
  // (a) The leader replicates x to one follower only.
  await sim.runFor(100);
  sim.net.partition([[a, b], [c, d, e]]);
  const proposed = sim.proposeAt(a, 'x');
  if (proposed === null) throw new ScriptError('figure 8 script: the first leader refused x');
  const x = proposed;
  await sim.runFor(50);
  const xTerm = sim.status(a)!.term;
  need(sim.raft(b).termAt(x.index) === xTerm, 'x did not reach its one follower');
  // (b) It crashes; the other three elect one of them ("S5"), which writes its no-op at x's
  // index and is cut off at once, then crashes.
  sim.crash(a);
  need(await sim.runUntil(leaderAmong([c, d, e]), 3000), 'the majority side elected nobody');
  const s5 = sim.leader()!;
  sim.net.isolate(s5, sim.ids);
  await sim.runFor(5);
  need(sim.raft(s5).termAt(x.index) > xTerm, 'S5 has no entry of its term at x\'s index');
  sim.crash(s5);
  const [s3, s4] = [c, d, e].filter((id) => id !== s5) as [string, string];
  // (c) The holders of x return; one of them ("S1") wins a later term and replicates x to a
  // bare majority while every copy of its own no-op is lost.
  sim.net.heal();
  sim.restart(a);
  // Anything after x is lost on its way to a node that already holds x: the no-op never lands.
  const noopLost = (m: Message): boolean => m.type === 'app' && m.entries.some((en) => en.index > x.index) &&
    sim.nodes.get(m.to)!.node?.termAt(x.index) === xTerm;
  sim.dropIf = noopLost;
  need(await sim.runUntil(leaderAmong([a, b]), 3000), 'no holder of x won');
  const s1 = sim.leader()!;
  const s2 = s1 === a ? b : a;
  await sim.runFor(100);
  need(sim.raft(s3).termAt(x.index) === xTerm || sim.raft(s4).termAt(x.index) === xTerm, 'x did not reach a majority');
  // (d) S1 and S2 go down; S5 returns and, with the newest last term, wins S3's and S4's votes.
  sim.crash(s1);
  sim.crash(s2);
  // S3 and S4 would race S5 to the next term: their own campaigns are lost, so S5 wins (d); the
  // no-op S1 sent before it went down is still lost on the way.
  sim.dropIf = (m) => noopLost(m) || ((m.type === 'preVote' || m.type === 'vote') && (m.from === s3 || m.from === s4));
  sim.restart(s5);
  need(await sim.runUntil(() => sim.leader() === s5, 3000), 'S5 did not win in (d)');
  sim.dropIf = null;
  sim.restart(s1);
  sim.restart(s2);
  let f = sim.propose('after');
  let at = sim.now;
  await sim.runUntil(() => {
    if (f === null || (sim.now - at > 1000 && !sim.isCommitted(f.index, f.key))) { f = sim.propose('after'); at = sim.now; }
    return f !== null && sim.isCommitted(f.index, f.key) && sim.converged();
  }, 10_000);
  const committed = sim.checker.committed[x.index]?.key === x.key;
  return { oldEntry: { index: x.index, term: xTerm }, committed, finalTerm: sim.raft(sim.leader() ?? s5).termAt(x.index) };
}
