// The schedules in which an old leader used to answer a lease read with an index below a write a
// newer leader had already committed (issue 13), written out step by step on the simulator, which
// runs the peer's own driver and time policy. Each returns the reads the old leader answered and
// the index of the write the new leader committed before they were asked: a read below it is stale.
//
//   A  the transfer's timeoutNow is held in the network past the leader's giving up on it; its
//      lease comes back; the timeoutNow lands and the transferee is elected without it.
//   B  the timeoutNow lands at once, but everything the transferee sends is slow; the leader
//      gives up, then the transfer vote reaches the third voter and is granted.
//   stall  the leader sends a heartbeat round and stops (SIGSTOP, GC) for longer than an election;
//      the acknowledgements wait in its socket buffer while the others elect a new leader and
//      commit; on resume it steps the old acknowledgements and then the read. The same with the
//      machine suspended: its monotonic clock does not count the stop, its wall clock does.

import type { ReadResult } from '../../src/core/driver.ts';
import { encodeCommand } from '../../src/core/kv/command.ts';
import { Sim } from './sim.ts';

export interface LeaseScenarioResult {
  readonly oldLeader: string;
  readonly newLeader: string | null;
  /** Index of the write the new leader committed before the reads were asked (0: none). */
  readonly writeIndex: number;
  /** What the old leader answered (reads it could not serve fail or time out: not listed). */
  readonly answered: readonly ReadResult[];
  /** Answers below writeIndex. */
  readonly stale: readonly ReadResult[];
  readonly notes: readonly string[];
}

export class ScenarioSetupError extends Error {
  override readonly name = 'ScenarioSetupError';
}

const electionMs = 100; // 10 ticks of 10 ms

function must(ok: boolean, what: string): void {
  if (!ok) throw new ScenarioSetupError(`scenario precondition failed: ${what}`);
}

async function start(seed: number): Promise<{ sim: Sim; a: string; b: string; c: string }> {
  const sim = new Sim({ seed, voters: 3, kv: true });
  must(await sim.runUntil(() => sim.leader() !== null, 5000), 'a first leader');
  const a = sim.leader()!;
  // Let the no-op commit everywhere and a few rounds of heartbeats confirm the lease.
  must(await sim.runUntil(() => sim.converged() && sim.status(a)!.leaseValid, 2000), 'a holds a lease');
  const [b, c] = sim.conf.voters.filter((id) => id !== a) as [string, string];
  return { sim, a, b, c };
}

/** Has `to` commit a write and resolves with its index (0 when it did not commit in time). */
async function commitWrite(sim: Sim, to: string, maxMs: number): Promise<number> {
  let index = 0;
  const data = encodeCommand({ timeMs: sim.now, session: null, cmd: { op: 'put', key: 'x', value: `by ${to}` } });
  void sim.driver(to).propose(data).then((r) => { index = r.index; }, () => {});
  await sim.runUntil(() => index > 0, maxMs);
  return index;
}

/** Asks the old leader for lease reads now and for a while; collects what it answers. */
async function readAt(sim: Sim, a: string, answered: ReadResult[], count: number, everyMs: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    sim.request(a, (n) => n.driver!.read({ allowLease: true }), (r) => { if (r.ok) answered.push(r.value); });
    await sim.runFor(everyMs);
  }
  await sim.runFor(electionMs * 3);
}

function result(a: string, newLeader: string | null, writeIndex: number, answered: ReadResult[], notes: string[]): LeaseScenarioResult {
  return { oldLeader: a, newLeader, writeIndex, answered, stale: answered.filter((r) => r.index < writeIndex), notes };
}

/** Schedule A: the timeoutNow is delayed past the leader's giving up on the transfer. */
export async function delayedTimeoutNow(seed = 1): Promise<LeaseScenarioResult> {
  const { sim, a, b, c } = await start(seed);
  const notes: string[] = [];
  const timeoutNowDelayMs = electionMs * 1.5;
  sim.delayIf = (m) => (m.type === 'timeoutNow' ? timeoutNowDelayMs : null);
  const t0 = sim.now;
  sim.poke(a, (n) => n.transferLeadership(b));
  // b and c keep acknowledging a's heartbeats while the timeoutNow is on its way; a gives up.
  must(await sim.runUntil(() => sim.now - t0 > electionMs * 1.2, electionMs * 2), 'time passes');
  notes.push(`after ${(sim.now - t0).toFixed(0)} ms a's lease is ${sim.status(a)!.leaseValid ? 'valid' : 'off'}`);
  // Just before the timeoutNow lands, nothing from b or c reaches a any more.
  sim.net.cutOneWay(b, a);
  sim.net.cutOneWay(c, a);
  must(await sim.runUntil(() => sim.status(b)?.role === 'leader', electionMs * 2), 'b elected by the late transfer');
  const writeIndex = await commitWrite(sim, b, electionMs);
  must(writeIndex > 0, 'b committed a write');
  const answered: ReadResult[] = [];
  await readAt(sim, a, answered, 10, 5);
  return result(a, b, writeIndex, answered, notes);
}

/** Schedule B: the timeoutNow arrives at once, but the transferee's messages are slow. */
export async function slowTransferee(seed = 1): Promise<LeaseScenarioResult> {
  const { sim, a, b, c } = await start(seed);
  const notes: string[] = [];
  const slowMs = electionMs * 1.1;
  const t0 = sim.now;
  sim.delayIf = (m) => (m.from === b && sim.now - t0 < slowMs ? slowMs : null);
  sim.poke(a, (n) => n.transferLeadership(b));
  // c goes on acknowledging a; a gives up on the transfer after an election timeout.
  must(await sim.runUntil(() => sim.now - t0 > electionMs * 1.05, electionMs * 2), 'time passes');
  sim.net.cutOneWay(b, a);
  sim.net.cutOneWay(c, a);
  must(await sim.runUntil(() => sim.status(b)?.role === 'leader', electionMs * 2), 'b elected by its slow transfer vote');
  notes.push(`b elected ${(sim.now - t0).toFixed(0)} ms after the transfer began`);
  const writeIndex = await commitWrite(sim, b, electionMs);
  must(writeIndex > 0, 'b committed a write');
  const answered: ReadResult[] = [];
  await readAt(sim, a, answered, 10, 5);
  return result(a, b, writeIndex, answered, notes);
}

/** The stall: acknowledgements of a round sent before a long pause, stepped after it. */
export async function stalledLeader(seed = 1, suspend = false): Promise<LeaseScenarioResult> {
  const { sim, a, b, c } = await start(seed);
  const notes: string[] = [];
  const pauseMs = electionMs * 4;
  // a's next heartbeat round leaves, then a stops; the acknowledgements wait for it.
  const hbSent = sim.msgCount.get('hbResp') ?? 0;
  must(await sim.runUntil(() => (sim.msgCount.get('hbResp') ?? 0) > hbSent, electionMs), 'a heartbeat round answered');
  await sim.runFor(8);
  sim.pause(a, pauseMs, suspend);
  await sim.runFor(4);
  // Everything b and c send a from now on is lost: a learns of no new term before the read.
  sim.net.cutOneWay(b, a);
  sim.net.cutOneWay(c, a);
  must(await sim.runUntil(() => { const l = sim.leader(); return l === b || l === c; }, pauseMs - 50), 'a new leader while a is stopped');
  const newLeader = sim.leader()!;
  const writeIndex = await commitWrite(sim, newLeader, electionMs);
  must(writeIndex > 0 && sim.paused(a), 'the new leader committed a write while a was still stopped');
  notes.push(`${newLeader} committed ${writeIndex} ${(sim.now).toFixed(0)} ms in; a resumes at ${(sim.nodes.get(a)!.pausedUntil ?? 0).toFixed(0)}`);
  // Reads asked now wait in a's socket buffer behind the old acknowledgements.
  const answered: ReadResult[] = [];
  await readAt(sim, a, answered, 5, 2);
  must(!sim.paused(a), 'a resumed');
  return result(a, newLeader, writeIndex, answered, notes);
}

/** The stall on a suspended machine: its monotonic clock did not count the time. */
export function suspendedLeader(seed = 1): Promise<LeaseScenarioResult> {
  return stalledLeader(seed, true);
}

export const leaseScenarios = { delayedTimeoutNow, slowTransferee, stalledLeader, suspendedLeader } as const;
