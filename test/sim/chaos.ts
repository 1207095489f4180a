// A seeded chaos run: the seed picks a cluster shape, a network profile and options, then a
// nemesis crashes and restarts nodes, partitions them (symmetric and one-way), isolates the
// leader, pauses processes (SIGSTOP, GC) and suspends machines, slows senders down, and transfers
// leadership (its timeoutNow and transfer votes delayed, lost or overtaken) while clients work.
// At the end the network heals and the cluster must converge. Any violation carries the seed and
// the command that replays it. In key-value runs the clients also run transactions over small key
// groups, hold leases (some stop renewing, so they expire) and watch keys and prefixes across
// members; the checks are linearizability (txns included), the lease expiry property, and every
// watcher's stream against the applied history (reference.ts).

import { AssertionError } from '../../src/core/assert.ts';
import { RaftError } from '../../src/core/errors.ts';
import { SeededPrng } from '../../src/core/prng.ts';
import { SafetyViolation } from './checker.ts';
import { reliableNetwork, unreliableNetwork, type NetworkOptions } from './network.ts';
import { checkHistory, formatResult } from '../lincheck/checker.ts';
import { KvWorkload } from './kv-workload.ts';
import { LeaseClients } from './lease-clients.ts';
import { ReferenceLog } from './reference.ts';
import { WatchClients } from './watch-clients.ts';
import { Sim, type SimOptions } from './sim.ts';
import type { ModeStats as ParallelStats } from '../../src/core/mode.ts';

export function emptyParallelStats(): ParallelStats {
  return { outOfOrderAccepted: 0, outOfOrderCommitted: 0, outOfOrderApplied: 0, applyHeldByConflict: 0, merges: 0, mergeNoops: 0 };
}

export function addParallelStats(into: ParallelStats, s: ParallelStats): void {
  for (const k of Object.keys(into) as Array<keyof ParallelStats>) into[k] += s[k];
}

/** What the coordination primitives did over runs, summed (see ChaosResult). */
export interface PrimitiveStats {
  txns: number;
  txnSucceeded: number;
  leases: number;
  keepAlives: number;
  leasesExpired: number;
  leasesRevoked: number;
  closeCalls: number;
  watchEvents: number;
  watchRevisions: number;
  watchResumes: number;
  watchCompacted: number;
}

export function emptyPrimitiveStats(): PrimitiveStats {
  return { txns: 0, txnSucceeded: 0, leases: 0, keepAlives: 0, leasesExpired: 0, leasesRevoked: 0, closeCalls: 0, watchEvents: 0, watchRevisions: 0, watchResumes: 0, watchCompacted: 0 };
}

export function addPrimitiveStats(into: PrimitiveStats, r: ChaosResult): void {
  into.txns += r.txns;
  into.txnSucceeded += r.txnSucceeded;
  into.leases += r.leasesGranted;
  into.keepAlives += r.keepAlives;
  into.leasesExpired += r.leasesExpired;
  into.leasesRevoked += r.leasesRevoked;
  into.closeCalls += r.leaseCloseCalls;
  into.watchEvents += r.watchEvents;
  into.watchRevisions += r.watchRevisions;
  into.watchResumes += r.watchResumes;
  into.watchCompacted += r.watchCompacted;
}

export function describePrimitives(p: PrimitiveStats): string {
  return `txns: ${p.txns} answered (${p.txnSucceeded} took the success branch), checked with the other operations; ` +
    `leases: ${p.leases} granted, ${p.keepAlives} keep-alives acknowledged, ${p.leasesExpired} expired (${p.closeCalls} within 1.5 TTL of an acknowledged keep-alive's send), ` +
    `${p.leasesRevoked} revoked, no expiry before its last acknowledged keep-alive's send + TTL; ` +
    `watches: ${p.watchEvents} events in ${p.watchRevisions} revisions checked against the applied history, ${p.watchResumes} resumptions, ${p.watchCompacted} ERR_COMPACTED reloads`;
}

/**
 * Problems when the primitives did not really run over `seeds` runs (the checks would prove
 * nothing): about half the seeds run key-value clients; the rarer events are required from 100 on.
 */
export function primitivesRan(p: PrimitiveStats, seeds: number): string[] {
  const out: string[] = [];
  const many = seeds >= 100;
  if (p.txns < seeds * 10 || p.txnSucceeded === 0 || p.txnSucceeded === p.txns) out.push(`txns ${p.txns} (${p.txnSucceeded} succeeded)`);
  if (p.keepAlives < seeds * 5 || p.leasesExpired < seeds / 4 || (many && (p.leasesRevoked === 0 || p.closeCalls === 0))) {
    out.push(`leases: ${p.keepAlives} keep-alives, ${p.leasesExpired} expired (${p.closeCalls} close calls), ${p.leasesRevoked} revoked`);
  }
  if (p.watchEvents < seeds * 20 || (many && (p.watchResumes === 0 || p.watchCompacted === 0))) out.push(`watches: ${p.watchEvents} events, ${p.watchResumes} resumptions, ${p.watchCompacted} ERR_COMPACTED`);
  return out;
}

export interface ChaosOptions {
  /** Virtual milliseconds of faults before healing (the run then continues until it converges). */
  durationMs?: number;
  /** Events at most before healing, whatever the virtual time (a bound on a busy run). */
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
  readonly pauses: number;
  readonly transfers: number;
  /** Reads served from a lease, and lease-mode reads that went by ReadIndex. */
  readonly leaseReads: number;
  readonly readIndexReads: number;
  /** Terms in which a leader gave up its lease after sending a timeoutNow (nodes alive at the end). */
  readonly leaseForfeitedTerms: number;
  /** Writes the state machine answered ERR_OUTCOME_UNKNOWN (an evicted answer), and expired sessions. */
  readonly outcomeUnknown: number;
  readonly expired: number;
  /** Transactions answered, and how many took their success branch. */
  readonly txns: number;
  readonly txnSucceeded: number;
  /** Leases granted, keep-alives acknowledged, leases whose expiry was applied (checked against their keep-alives), revoked. */
  readonly leasesGranted: number;
  readonly keepAlives: number;
  readonly leasesExpired: number;
  readonly leasesRevoked: number;
  /** Expiries applied within 1.5 TTL of the lease's last acknowledged keep-alive's send time. */
  readonly leaseCloseCalls: number;
  /** Watch events and revisions checked against the applied history; resumptions. */
  readonly watchEvents: number;
  readonly watchRevisions: number;
  readonly watchResumes: number;
  readonly watchCompacted: number;
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
  // A leadership transfer's own messages are held back (past the leader's giving up) or lost.
  const transferFaults = rng.nextInt(4) !== 0;
  // Tight session limits: answers evicted while retries are in flight, sessions that expire.
  const tightSessions = kv && rng.nextInt(3) === 0;
  const sim: SimOptions = {
    seed, voters, learners, observers, observersAt, snapshotEvery, snapshotRetain: rng.nextInt(10), kv, clockDrift: kv ? 0.04 : 0,
    network: transferFaults ? {
      ...network,
      timeoutNow: { dropRate: 0.1, delayRate: 0.7, delayMinMs: 50, delayMaxMs: 350 },
      transferVote: { dropRate: 0.05, delayRate: 0.2, delayMinMs: 0, delayMaxMs: 200 },
    } : network,
    ...(tightSessions ? { kvMachine: { sessionResultsMax: 1 + rng.nextInt(2), sessionTtlMs: 1500 + rng.nextInt(3000), sessionsMax: 2 + rng.nextInt(4) } } : {}),
    fsyncMinMs: 0.05, fsyncMaxMs: 0.5 + rng.nextFloat() * 3,
    raft: {
      reorderBufferMsgsMax: reorderBuffer,
      inflightMsgsMax: 1 + rng.nextInt(64),
      msgBytesMax: 64 + rng.nextInt(4096),
    },
  };
  if (mode === 'parallel') {
    // Small messages and a wider window make holes (and out-of-order everything) common; windows
    // of a few entries or batches put holes at their edges, and batches cut across messages.
    sim.mode = 'parallel';
    const lookBehindEntries = rng.nextInt(2) === 0 ? 1 + rng.nextInt(8) : 8 + rng.nextInt(56);
    sim.raft = { ...sim.raft, lookBehindEntries, lookBehindBatches: 1 + rng.nextInt(4), msgBytesMax: 64 + rng.nextInt(512) };
  }
  // The coordination primitives (drawn last, so the choices above stay what they were): a history
  // short enough that watchers meet ERR_COMPACTED, small catch-up batches, progress notices often
  // enough to matter in a run of a few seconds.
  const eventsMax = [20, 60, 400, 100_000][rng.nextInt(4)]!;
  sim.kvMachine = { ...sim.kvMachine, history: { eventsMax } };
  sim.watchLimits = { batchEventsMax: [3, 50, 1000][rng.nextInt(3)]! };
  sim.watchProgressMs = [200, 500, 1000][rng.nextInt(3)]!;
  const name = `${voters} voters${learners ? ` + ${learners} learner` : ''}${observers ? ` + ${observers} observers (at ${observersAt})` : ''}, ${netName} network` +
    `${transferFaults ? ' (transfer messages delayed/lost)' : ''}, snapshots ${snapshotEvery || 'off'}, reorder buffer ${reorderBuffer || 'off'}` +
    `${kv ? `, kv clients (txns, leases, watchers; history of ${eventsMax} events) + linearizability check${tightSessions ? ' (tight session limits)' : ''}` : ''}`;
  return { sim, name };
}

/** Election timeout of the simulated cluster (10 ticks of 10 ms), the unit of pauses. */
const electionMs = 100;

export async function runChaos(seed: number, options: ChaosOptions = {}): Promise<ChaosResult> {
  const stepsMax = options.steps ?? 40_000;
  const durationMs = options.durationMs ?? 2500;
  const mode = options.mode ?? 'raft';
  const { sim: simOptions, name: profileName } = chaosProfile(seed, mode);
  const name = mode === 'parallel' ? `parallel mode (window ${simOptions.raft?.lookBehindBatches} batches, at most ${simOptions.raft?.lookBehindEntries} entries), ${profileName}` : profileName;
  const log = options.verbose ? (s: string) => process.stderr.write(`${s}\n`) : () => {};
  let sim: Sim | null = null;
  let crashes = 0;
  let partitions = 0;
  let transfers = 0;
  let error: string | null = null;
  let kvOps = 0;
  let workload: KvWorkload | null = null;
  let leases: LeaseClients | null = null;
  let watches: WatchClients | null = null;
  try {
    sim = new Sim(simOptions);
    const s = sim;
    const ref = simOptions.kv === true ? new ReferenceLog(s) : null;
    const rng = new SeededPrng(seed ^ 0x1234567);
    const voters = s.conf.voters;
    const everyone = s.ids;
    let healing = false;
    // Half the runs are calm: faults far enough apart that each one (a transfer, a pause) plays
    // out in a cluster that is otherwise healthy, which is when a stale lease would show.
    const calm = rng.nextInt(2) === 0;
    const nemesis = (): void => {
      if (healing) return;
      const roll = rng.nextInt(15);
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
      } else if (roll < 12) {
        const leader = s.leader();
        const target = voters[rng.nextInt(voters.length)]!;
        if (leader !== null && target !== leader) {
          transfers++;
          log(`${s.now.toFixed(1)}ms transfer ${leader} -> ${target}`);
          try {
            s.poke(leader, (n) => n.transferLeadership(target));
          } catch (err) {
            // Time caught up first: it may have stepped down (CheckQuorum) just now.
            if (!(err instanceof RaftError)) throw err;
          }
          // A transfer in flight meets a network in trouble: the transferee is slow for a while
          // (its transfer vote arrives late), and often the old leader stops hearing from the
          // others some time after it gave up on the transfer (an election timeout), while the
          // late timeoutNow or vote may still elect the transferee. It must not answer from a
          // lease the transfer voided.
          if (rng.nextInt(3) === 0) {
            s.net.slow(target, 1 + rng.nextInt(2 * electionMs));
            log(`${s.now.toFixed(1)}ms slow ${target} (the transferee)`);
          }
          if (rng.nextInt(4) !== 0) {
            // When the transferee campaigns (its transfer votes are leaving), the old leader's
            // inbound links fail: it learns nothing of the new term from anyone.
            const started = s.now;
            s.watchSends((m) => {
              if (healing || s.now - started > 10 * electionMs) return true;
              if (m.type !== 'vote' || !m.transfer || m.from !== target) return false;
              for (const other of everyone) if (other !== leader) s.net.cutOneWay(other, leader);
              partitions++;
              log(`${s.now.toFixed(1)}ms cut everything into ${leader} (its transferee is campaigning)`);
              return true;
            });
          }
        }
      } else if (roll < 14) {
        // A paused process: the leader more often than not, for up to five election timeouts.
        const leader = s.leader();
        const alive = everyone.filter((id) => s.alive(id));
        const victim = leader !== null && rng.nextInt(5) < 3 ? leader : alive[rng.nextInt(alive.length)];
        if (victim !== undefined) {
          const ms = 1 + rng.nextInt(5 * electionMs);
          const suspend = rng.nextInt(2) === 0;
          log(`${s.now.toFixed(1)}ms ${suspend ? 'suspend' : 'pause'} ${victim} for ${ms} ms`);
          s.pause(victim, ms, suspend);
          // Sometimes its network degrades meanwhile, early on (before the others elect a new
          // leader): what is sent to it from then on is lost.
          if (rng.nextInt(2) === 0) {
            s.at(rng.nextInt(Math.min(ms, electionMs)), () => {
              if (healing) return;
              for (const other of everyone) if (other !== victim) s.net.cutOneWay(other, victim);
              partitions++;
              log(`${s.now.toFixed(1)}ms cut everything into ${victim} (while it is stopped)`);
            });
          }
        }
      } else {
        const victim = everyone[rng.nextInt(everyone.length)]!;
        const ms = 1 + rng.nextInt(Math.floor(1.5 * electionMs));
        s.net.slow(victim, ms);
        log(`${s.now.toFixed(1)}ms slow ${victim} (up to +${ms} ms)`);
      }
      s.at(calm ? 150 + rng.nextInt(750) : 30 + rng.nextInt(300), nemesis);
    };
    workload = simOptions.kv === true
      ? new KvWorkload(s, {
        // Load from light (quiet moments, in which a late transfer can still win) to heavy.
        seed, clients: 2 + rng.nextInt(7), keys: 1 + rng.nextInt(3), readModes: ['readindex', 'lease', 'follower'], pipeline: 1 + rng.nextInt(3),
        thinkMsMax: [5, 20, 50][rng.nextInt(3)]!,
        // Impatient clients move to a new leader sooner; patient ones stay with the old one longer.
        attemptTimeoutMs: 30 + rng.nextInt(270),
        keyEpochMs: 500,
        txnClients: 2 + rng.nextInt(3), txnGroups: 1, leaseReaders: 2,
      })
      : null;
    workload?.start();
    if (ref !== null) {
      // TTLs of 1.5 to 4 election timeouts: leases meet pauses and leader changes of that order.
      leases = new LeaseClients(s, { seed, clients: 3 + rng.nextInt(5), ttlMinMs: 1.5 * electionMs, ttlMaxMs: 3 * electionMs });
      watches = new WatchClients(s, ref, {
        seed, watchers: 2 + rng.nextInt(5), prefixes: ['', 'k', 'g', 'L'], keys: ['k0@0', 'k1@1', 'k0@2', 'g0@1/a'],
        compactEveryMs: rng.nextInt(2) === 0 ? 0 : 300 + rng.nextInt(500),
      });
      leases.start();
      watches.start();
    }
    const client = (): void => {
      if (healing || workload !== null) return;
      const burst = 1 + rng.nextInt(8);
      for (let i = 0; i < burst; i++) s.propose();
      s.at(2 + rng.nextInt(20), client);
    };
    s.at(100 + rng.nextInt(200), nemesis);
    s.at(1, client);
    while (s.now < durationMs && s.steps < stepsMax && await s.stepOnce()) { /* run */ }
    healing = true;
    workload?.stop();
    leases?.stop();
    watches?.stop();
    s.net.heal();
    s.net.options = reliableNetwork;
    for (const id of everyone) s.restart(id);
    log(`${s.now.toFixed(1)}ms heal all, restart all`);
    const settled = await s.runUntil(() => s.leader() !== null, 20_000);
    let final: { index: number; key: string } | null = null;
    let proposedAt = 0;
    const committed = settled && await s.runUntil(() => {
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
    if (ref !== null) {
      ref.checkComplete();
      watches?.check();
    }
    if (workload !== null && workload.readsBehindCommit.length > 0) {
      throw new SafetyViolation(`a linearizable read was stale: ${workload.readsBehindCommit[0]} (${workload.readsBehindCommit.length} such reads)`);
    }
    if (workload !== null) {
      // SIM_LINCHECK_STEPS raises the checker's budget when a replay ends undecided.
      const steps = Number(process.env.SIM_LINCHECK_STEPS ?? 0);
      const r = checkHistory(workload.result(), steps > 0 ? { timeoutMs: 600_000, stepsPerKeyMax: steps } : { timeoutMs: 20_000 });
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
  let leaseForfeitedTerms = 0;
  const parallel: ParallelStats = emptyParallelStats();
  if (sim !== null) {
    for (const n of sim.nodes.values()) {
      const st = n.node?.status();
      if (st === undefined) continue;
      leaderChanges += st.stats.leaderChanges;
      leaseForfeitedTerms += st.stats.leaseForfeitedTerms;
      reorderAccepted += st.stats.reorder.accepted;
      addParallelStats(parallel, st.stats.parallel);
    }
  }
  return {
    seed, ok: error === null, error, steps: sim?.steps ?? 0, virtualMs: sim?.now ?? 0,
    committed: sim?.checker.maxCommitted ?? 0, crashes, partitions, leaderChanges, reorderAccepted, parallel, kvOps,
    pauses: sim?.pauses ?? 0, transfers, leaseReads: workload?.stats.leaseReads ?? 0, readIndexReads: workload?.stats.readIndexReads ?? 0,
    leaseForfeitedTerms, outcomeUnknown: workload?.stats.outcomeUnknown ?? 0, expired: workload?.stats.expired ?? 0,
    txns: workload?.stats.txns ?? 0, txnSucceeded: workload?.stats.txnSucceeded ?? 0,
    leasesGranted: leases?.stats.granted ?? 0, keepAlives: leases?.stats.keepAlivesAcked ?? 0, leasesExpired: leases?.stats.expired ?? 0,
    leasesRevoked: leases?.stats.revoked ?? 0, leaseCloseCalls: leases?.stats.closeCalls ?? 0,
    watchEvents: watches?.stats.eventsChecked ?? 0, watchRevisions: watches?.stats.revisionsChecked ?? 0,
    watchResumes: (watches?.stats.resumedAfterCrash ?? 0) + (watches?.stats.resumedAfterSlow ?? 0) + (watches?.stats.resumedAfterStall ?? 0) + (watches?.stats.moved ?? 0),
    watchCompacted: watches?.stats.compactedReloads ?? 0,
    profile: name, replay: `npm run sim -- --seed ${seed}${mode === 'parallel' ? ' --mode parallel' : ''}`,
  };
}
