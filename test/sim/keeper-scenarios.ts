// The schedule the lease keeper's rules are about, played on the simulator: lease holders pinned
// to the leader (as an SDK connected to one peer is) keep their leases alive through it; the
// leader stops (SIGSTOP, a long GC) for longer than an election, and everything the others send it
// is cut early in the stop, so it hears nothing of the new term. The keep-alives its holders send
// meanwhile wait in its socket buffer; on resume it takes them, before or after its timer (the
// schedule picks), as a runtime may. The new leader runs the lease clocks from its promotion and, with nobody renewing
// there, expires the leases. The old leader must acknowledge no keep-alive it cannot back with a
// linearizable read: LeaseClients checks the property (no expiry applied before the last
// acknowledged keep-alive's send + TTL) exactly as in the chaos run.

import { encodeCommand } from '../../src/core/kv/command.ts';
import { SafetyViolation } from './checker.ts';
import { LeaseClients } from './lease-clients.ts';
import { Sim } from './sim.ts';

export class KeeperSetupError extends Error {
  override readonly name = 'KeeperSetupError';
}

export interface KeeperScenarioResult {
  readonly oldLeader: string;
  readonly newLeader: string | null;
  /** Keep-alives acknowledged (before and after the stop), leases whose expiry was applied. */
  readonly acked: number;
  readonly expired: number;
  /** The property broken, if it was. */
  readonly violation: string | null;
}

function must(ok: boolean, what: string): void {
  if (!ok) throw new KeeperSetupError(`scenario precondition failed: ${what}`);
}

/**
 * `resume`: what the old leader runs first when it resumes. Input first is the hard case: the
 * waiting keep-alives reach the keeper before its timer has told it that its own clocks ran out.
 */
export async function pausedLeaderHolders(seed: number, resume: 'timerFirst' | 'inputFirst' = 'inputFirst', pauseMs = 450): Promise<KeeperScenarioResult> {
  const sim = new Sim({ seed, voters: 3, kv: true });
  must(await sim.runUntil(() => sim.leader() !== null, 5000), 'a first leader');
  const old = sim.leader()!;
  must(await sim.runUntil(() => sim.converged() && sim.status(old)!.leaseValid, 2000), 'the leader holds a read lease');
  const holders = new LeaseClients(sim, { seed, clients: 3, ttlMinMs: 150, ttlMaxMs: 200, abandonChance: 0, revokeChance: 0, sticky: true });
  holders.start();
  let violation: string | null = null;
  const run = async (ms: number): Promise<void> => {
    try {
      await sim.runFor(ms);
    } catch (err) {
      if (!(err instanceof SafetyViolation)) throw err;
      violation ??= err.message;
    }
  };
  await run(400);
  must(sim.leader() === old && holders.holding.length === 3, 'three leases held through the first leader');
  sim.pause(old, pauseMs, false, resume);
  sim.at(10, () => { for (const id of sim.ids) if (id !== old) sim.net.cutOneWay(id, old); });
  await run(pauseMs + 800);
  const now = sim.leader();
  must(violation !== null || (now !== null && now !== old), 'a new leader elected during the stop');
  holders.stop();
  return { oldLeader: old, newLeader: now, acked: holders.stats.keepAlivesAcked, expired: holders.stats.expired, violation };
}

export interface StaleExpiryResult {
  /** The leaders of terms 1, 2 and 3. */
  readonly leaders: readonly [string, string, string];
  /** Index of the old leader's expiry in its own log, and what became of it there. */
  readonly expiryIndex: number;
  readonly expiry: 'deleted the lease' | 'void' | 'not committed' | 'replaced';
  /** The property broken, if it was. */
  readonly violation: string | null;
}

/**
 * ParallelRaft only: a leader's expiry that never committed in its own term, adopted by a later
 * leader's Merge stage after another leader renewed the lease. With 3 voters A, B, C:
 *   1. A leads; a lease (TTL 1 s) is granted and a key attached. A's appends of anything new are
 *      lost from now on: three writes, then (nobody renews) the expiry A proposes, stay in A's log.
 *   2. A is cut off; B or C (X) is elected without them and renews the lease: a keep-alive
 *      acknowledged now means the lease must live a TTL from its send.
 *   3. X is cut off; the third voter Y is elected with A's vote, and its Merge stage adopts A's
 *      entries above Y's log, the expiry among them (nobody else claims those indexes).
 * The expiry must not delete the lease before the keep-alive's send + TTL.
 */
export async function parallelStaleExpiry(seed: number): Promise<StaleExpiryResult> {
  const ttlMs = 1000;
  const sim = new Sim({ seed, voters: 3, kv: true, mode: 'parallel', raft: { lookBehindEntries: 4 } });
  must(await sim.runUntil(() => sim.leader() !== null, 5000), 'a first leader');
  const a = sim.leader()!;
  const propose = (at: string, cmd: Parameters<typeof encodeCommand>[0]['cmd']): number => {
    const r = sim.proposeBytes(at, encodeCommand({ timeMs: sim.now, session: null, cmd }));
    must(r !== null, `${at} took a proposal`);
    return r!.index;
  };
  const lease = 77;
  propose(a, { op: 'leaseGrant', id: lease, ttlMs });
  const keyAt = propose(a, { op: 'put', key: 'L77/k', value: 'held', lease });
  must(await sim.runUntil(() => sim.converged() && sim.checker.maxCommitted >= keyAt, 2000), 'the lease and its key committed everywhere');
  let violation: string | null = null;
  let ackedSend = -1;
  let expiryIndex = 0;
  let expiry: StaleExpiryResult['expiry'] = 'not committed';
  sim.hooks.applied.push((node, e, r) => {
    if (e.index === expiryIndex) expiry = r?.op !== 'leaseExpire' ? 'replaced' : r.found ? 'deleted the lease' : 'void';
    if (r?.op !== 'leaseExpire' || !r.found) return;
    if (ackedSend >= 0 && sim.now < ackedSend + ttlMs) {
      violation ??= `lease ${lease}: its expiry was applied on ${node} at ${sim.now.toFixed(1)} ms, but a keep-alive sent at ${ackedSend.toFixed(1)} ms was acknowledged (TTL ${ttlMs} ms)`;
    }
  });
  // 1. A's new entries reach nobody; nobody renews, so A proposes the expiry itself.
  const committed = sim.status(a)!.commit;
  sim.dropIf = (m) => m.type === 'app' && m.from === a && m.entries.some((e) => e.index > committed);
  for (let i = 0; i < 3; i++) propose(a, { op: 'put', key: `pad${i}`, value: 'lost' });
  must(await sim.runUntil(() => (sim.nodes.get(a)!.keeper?.stats.expiriesProposed ?? 0) > 0, 3 * ttlMs), 'the old leader proposed the expiry');
  expiryIndex = sim.status(a)!.lastIndex;
  must(sim.role(a) === 'leader', 'the old leader still leads when it proposes the expiry');
  // 2. A is cut off; X is elected without A's entries and renews the lease.
  const [b, c] = sim.conf.voters.filter((id) => id !== a) as [string, string];
  sim.net.partition([[a], [b, c]]);
  sim.dropIf = null;
  must(await sim.runUntil(() => { const l = sim.leader(); return (l === b || l === c) && sim.status(l)!.commit === sim.status(l)!.lastIndex; }, 5000), 'a second leader with its barrier committed');
  const x = sim.leader()!;
  const y = x === b ? c : b;
  await sim.runFor(50);
  const sent = sim.now;
  let renewed = false;
  sim.request(x, (n) => n.keeper!.keepAlive(lease), (r) => { if (r.ok) { renewed = true; ackedSend = sent; } });
  must(await sim.runUntil(() => renewed, 500), 'the second leader renewed the lease');
  // 3. X is cut off; Y is elected with A's vote and merges A's entries.
  sim.net.heal();
  sim.net.partition([[x], [a, y]]);
  must(await sim.runUntil(() => sim.leader() === y && sim.role(x) !== 'leader', 5000), 'the third leader elected');
  await sim.runUntil(() => violation !== null || (sim.status(y)!.commit >= expiryIndex && sim.kvOf(y)!.revision >= expiryIndex), 2000);
  return { leaders: [a, x, y], expiryIndex, expiry, violation };
}
