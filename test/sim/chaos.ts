// A seeded chaos run: the seed picks a cluster shape, a network profile and options, then a
// nemesis crashes and restarts nodes, partitions them (symmetric and one-way), isolates the
// leader and transfers leadership while clients propose. At the end the network heals and the
// cluster must converge. Any violation carries the seed and the command that replays it.

import { AssertionError } from '../../src/core/assert.ts';
import { SeededPrng } from '../../src/core/prng.ts';
import { SafetyViolation } from './checker.ts';
import { reliableNetwork, unreliableNetwork, type NetworkOptions } from './network.ts';
import { checkHistory, formatResult } from '../lincheck/checker.ts';
import { KvWorkload } from './kv-workload.ts';
import { Sim, type SimOptions } from './sim.ts';
import type { ParallelStats } from '../../src/core/parallel/state.ts';

export function emptyParallelStats(): ParallelStats {
  return { outOfOrderAccepted: 0, outOfOrderCommitted: 0, outOfOrderApplied: 0, applyHeldByConflict: 0, merges: 0, mergeNoops: 0 };
}

export function addParallelStats(into: ParallelStats, s: ParallelStats): void {
  for (const k of Object.keys(into) as Array<keyof ParallelStats>) into[k] += s[k];
}

export interface ChaosOptions {
  /** Events to run before healing (the run then continues until it converges). */
  steps?: number;
  /** Print the schedule as it happens. */
  verbose?: boolean;
  /** Consensus mode of the cluster (default raft). */
  mode?: 'raft' | 'parallel';
}

export interface ChaosResult {
  readonly seed: number;
  readonly ok: boolean;
  readonly error: string | null;
  readonly steps: number;
  readonly virtualMs: number;
  readonly committed: number;
  readonly crashes: number;
  readonly partitions: number;
  readonly leaderChanges: number;
  readonly reorderAccepted: number;
  /** Parallel mode's counters, summed over the nodes alive at the end. */
  readonly parallel: ParallelStats;
  /** Completed key-value operations whose history passed the linearizability checker. */
  readonly kvOps: number;
  readonly profile: string;
  readonly replay: string;
}

const reorderHeavy: NetworkOptions = {
  delayMinMs: 0.5, delayMaxMs: 4, dropRate: 0.01, duplicateRate: 0.01, reorderRate: 0.3, reorderDelayMaxMs: 6,
};

export function chaosProfile(seed: number, mode: 'raft' | 'parallel' = 'raft'): { sim: SimOptions; name: string } {
  const rng = new SeededPrng(seed ^ 0x9e3779b9);
  const voters = rng.nextInt(3) === 0 ? 5 : 3;
  const nets: Array<[string, NetworkOptions]> = [['reliable', reliableNetwork], ['unreliable', unreliableNetwork], ['reorder', reorderHeavy]];
  const [netName, network] = nets[rng.nextInt(nets.length)]!;
  const snapshotEvery = rng.nextInt(2) === 0 ? 0 : 10 + rng.nextInt(40);
  const reorderBuffer = rng.nextInt(4) === 0 ? 0 : 32;
  const learners = rng.nextInt(4) === 0 ? 1 : 0;
  const observers = rng.nextInt(4) === 0 ? 2 : 0;
  const observersAt = observers > 0 && rng.nextInt(2) === 0 ? 'followers' : 'leader';
  // Half the seeds run key-value clients whose histories go through the linearizability checker.
  const kv = rng.nextInt(2) === 0;
  const sim: SimOptions = {
    seed, voters, learners, observers, observersAt, network, snapshotEvery, snapshotRetain: rng.nextInt(10), kv, clockDrift: kv ? 0.04 : 0,
    fsyncMinMs: 0.05, fsyncMaxMs: 0.5 + rng.nextFloat() * 3,
    raft: {
      reorderBufferMsgsMax: reorderBuffer,
      inflightMsgsMax: 1 + rng.nextInt(64),
      msgBytesMax: 64 + rng.nextInt(4096),
    },
  };
  if (mode === 'parallel') {
    // Small messages and a wider window make holes (and out-of-order everything) common.
    sim.mode = 'parallel';
    sim.raft = { ...sim.raft, lookBehindEntries: 1 + rng.nextInt(8), msgBytesMax: 64 + rng.nextInt(512) };
  }
  const name = `${voters} voters${learners ? ` + ${learners} learner` : ''}${observers ? ` + ${observers} observers (at ${observersAt})` : ''}, ${netName} network, snapshots ${snapshotEvery || 'off'}, reorder buffer ${reorderBuffer || 'off'}${kv ? ', kv clients + linearizability check' : ''}`;
  return { sim, name };
}

export function runChaos(seed: number, options: ChaosOptions = {}): ChaosResult {
  const stepsTarget = options.steps ?? 3000;
  const mode = options.mode ?? 'raft';
  const { sim: simOptions, name: profileName } = chaosProfile(seed, mode);
  const name = mode === 'parallel' ? `parallel mode (look-behind ${simOptions.raft?.lookBehindEntries}), ${profileName}` : profileName;
  const log = options.verbose ? (s: string) => process.stderr.write(`${s}\n`) : () => {};
  let sim: Sim | null = null;
  let crashes = 0;
  let partitions = 0;
  let error: string | null = null;
  let kvOps = 0;
  try {
    sim = new Sim(simOptions);
    const s = sim;
    const rng = new SeededPrng(seed ^ 0x1234567);
    const voters = s.conf.voters;
    const everyone = s.ids;
    let healing = false;
    const nemesis = (): void => {
      if (healing) return;
      const roll = rng.nextInt(10);
      if (roll < 3) {
        const alive = everyone.filter((id) => s.nodes.get(id)!.alive);
        const victim = alive[rng.nextInt(alive.length)];
        if (victim !== undefined) {
          log(`${s.now.toFixed(1)}ms crash ${victim}`);
          s.crash(victim);
          crashes++;
          s.at(50 + rng.nextInt(800), () => { log(`${s.now.toFixed(1)}ms restart ${victim}`); s.restart(victim); });
        }
      } else if (roll < 5) {
        const shuffled = [...everyone].sort(() => rng.nextInt(3) - 1);
        const cut = 1 + rng.nextInt(everyone.length - 1);
        s.net.heal();
        s.net.partition([shuffled.slice(0, cut), shuffled.slice(cut)]);
        partitions++;
        log(`${s.now.toFixed(1)}ms partition ${shuffled.slice(0, cut)} | ${shuffled.slice(cut)}`);
      } else if (roll < 6) {
        const leader = s.leader();
        if (leader !== null) {
          s.net.heal();
          s.net.isolate(leader, everyone);
          partitions++;
          log(`${s.now.toFixed(1)}ms isolate leader ${leader}`);
        }
      } else if (roll < 7) {
        const a = everyone[rng.nextInt(everyone.length)]!;
        const b = everyone[rng.nextInt(everyone.length)]!;
        if (a !== b) { s.net.cutOneWay(a, b); partitions++; log(`${s.now.toFixed(1)}ms cut ${a}->${b}`); }
      } else if (roll < 9) {
        s.net.heal();
        log(`${s.now.toFixed(1)}ms heal`);
      } else {
        const leader = s.leader();
        const target = voters[rng.nextInt(voters.length)]!;
        if (leader !== null && target !== leader) {
          log(`${s.now.toFixed(1)}ms transfer ${leader} -> ${target}`);
          s.poke(leader, (n) => n.transferLeadership(target));
        }
      }
      s.at(30 + rng.nextInt(300), nemesis);
    };
    const workload = simOptions.kv === true
      ? new KvWorkload(s, { seed, clients: 4, keys: 3, readModes: ['readindex', 'lease', 'follower'] })
      : null;
    workload?.start();
    const client = (): void => {
      if (healing || workload !== null) return;
      const burst = 1 + rng.nextInt(8);
      for (let i = 0; i < burst; i++) s.propose();
      s.at(2 + rng.nextInt(20), client);
    };
    s.at(100 + rng.nextInt(200), nemesis);
    s.at(1, client);
    while (s.steps < stepsTarget && s.stepOnce()) { /* run */ }
    healing = true;
    workload?.stop();
    s.net.heal();
    s.net.options = reliableNetwork;
    for (const id of everyone) s.restart(id);
    log(`${s.now.toFixed(1)}ms heal all, restart all`);
    const settled = s.runUntil(() => s.leader() !== null, 20_000);
    let final: { index: number; key: string } | null = null;
    let proposedAt = 0;
    const committed = settled && s.runUntil(() => {
      // A proposal to a leader that is then deposed may be dropped: propose again after a while.
      if (final === null || (s.now - proposedAt > 2000 && !s.isCommitted(final.index, final.key))) {
        final = s.propose('final');
        proposedAt = s.now;
      }
      return final !== null && s.isCommitted(final.index, final.key) && s.converged();
    }, 30_000);
    if (!committed) {
      throw new SafetyViolation(`no convergence within 30 s after healing: leader ${s.leader()}, ` +
        everyone.map((id) => {
          const st = s.status(id);
          return `${id} ${st?.role ?? 'down'} term ${st?.term} last ${st?.lastIndex} commit ${st?.commit} applied ${s.stateMachine(id).applied}`;
        }).join('; ') + `; committed ${s.checker.maxCommitted}; final proposal ${JSON.stringify(final)}` +
        // How the leader sees each follower: most stalls show up here.
        (() => {
          const l = s.leader();
          const st = l === null ? null : s.status(l);
          if (st === null) return '';
          return `; leader's progress: ${Object.entries(st.progress).map(([id, p]) => `${id} match ${p.match} next ${p.next} ${p.state} inflight ${p.inflightMsgs}`).join(', ')}`;
        })());
    }
    s.checkDurableQuorum();
    if (workload !== null) {
      const r = checkHistory(workload.result(), { timeoutMs: 20_000 });
      kvOps = workload.result().filter((h) => h.outcome === 'ok').length;
      if (!r.ok) throw new SafetyViolation(`the key-value history is not linearizable:\n${formatResult(r)}`);
    }
  } catch (err) {
    if (err instanceof SafetyViolation) error = `${err.name}: ${err.message}`;
    else if (err instanceof AssertionError) error = `${err.name}: ${err.message}${process.env.SIM_STACK !== undefined ? `\n${err.stack ?? ''}` : ''}`;
    else error = `crash: ${err instanceof Error ? err.stack ?? err.message : String(err)}`;
  }
  let leaderChanges = 0;
  let reorderAccepted = 0;
  const parallel: ParallelStats = emptyParallelStats();
  if (sim !== null) {
    for (const n of sim.nodes.values()) {
      const st = n.node?.status();
      if (st === undefined) continue;
      leaderChanges += st.stats.leaderChanges;
      reorderAccepted += st.stats.reorder.accepted;
      addParallelStats(parallel, st.stats.parallel);
    }
  }
  return {
    seed, ok: error === null, error, steps: sim?.steps ?? 0, virtualMs: sim?.now ?? 0,
    committed: sim?.checker.maxCommitted ?? 0, crashes, partitions, leaderChanges, reorderAccepted, parallel, kvOps,
    profile: name, replay: `npm run sim -- --seed ${seed}${mode === 'parallel' ? ' --mode parallel' : ''}`,
  };
}
