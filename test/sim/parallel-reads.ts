// A ParallelRaft read scenario, scripted on the simulator (the peer's own driver and its per-key
// read waiters): a follower's read index outlives the follower's own election.
//   1. leader A commits x = w with the third voter and answers its writer; follower B holds the
//      entry but never hears it is committed (what A sends B with that commit is lost);
//   2. a reader asks B for x: B gets read index >= w's index from A and waits for its commit;
//   3. A hands leadership to B. B's Merge stage re-stamps w's entry, uncommitted until its
//      barrier commits.
// A leader that served that waiting read in its Merge stage, skipping the entries it has not
// committed, would answer without w: a stale read (parallel seeds 6349, 9034, 15862, 18819).

import { encodeCommand } from '../../src/core/kv/command.ts';
import type { Message } from '../../src/core/message.ts';
import { Sim } from './sim.ts';

export class ReadScenarioSetupError extends Error {
  override readonly name = 'ReadScenarioSetupError';
}

export interface ReadAcrossElectionResult {
  /** Index of the write x = w, acknowledged to its writer before the read was asked. */
  readonly writeIndex: number;
  /** The read index the follower was given, and what the read returned once served. */
  readonly readIndex: number;
  readonly value: string | null;
  /** Whether the reader saw the state from before the write. */
  readonly stale: boolean;
}

function must(ok: boolean, what: string): void {
  if (!ok) throw new ReadScenarioSetupError(`scenario precondition failed: ${what}`);
}

export async function followerReadAcrossElection(seed = 1): Promise<ReadAcrossElectionResult> {
  const sim = new Sim({ seed, voters: 3, kv: true, mode: 'parallel', snapshotEvery: 0 });
  must(await sim.runUntil(() => sim.leader() !== null, 5000), 'a first leader');
  const a = sim.leader()!;
  must(await sim.runUntil(() => sim.converged() && sim.status(a)!.commit === sim.status(a)!.lastIndex, 2000), 'the first leader settled');
  const b = sim.conf.voters.find((id) => id !== a)!;
  // 1. From now on nothing A sends B says that the write is committed.
  let writeIndex = Infinity;
  sim.dropIf = (m: Message) => m.from === a && m.to === b && (m.type === 'app' || m.type === 'hb') &&
    (m.commit >= writeIndex || (m.commitSet?.some((i) => i >= writeIndex) ?? false));
  writeIndex = sim.status(a)!.lastIndex + 1;
  let acked = 0;
  const data = encodeCommand({ timeMs: sim.now, session: null, cmd: { op: 'put', key: 'x', value: 'w' } });
  void sim.driver(a).propose(data).then((r) => { acked = r.index; }, () => {});
  must(await sim.runUntil(() => acked > 0, 1000), 'the write acknowledged');
  must(acked === writeIndex, `the write at ${writeIndex} (it went to ${acked})`);
  must(await sim.runUntil(() => (sim.status(b)?.lastIndex ?? 0) >= writeIndex && sim.status(a)!.progress[b]?.match === sim.status(a)!.lastIndex, 1000),
    'the follower holds the write and the leader knows it');
  must(sim.status(b)!.commit < writeIndex, 'the follower has not heard of the commit');
  // 2. The read, at the follower.
  const read: { served: { index: number; value: string | null } | null; failed: boolean } = { served: null, failed: false };
  sim.request(b, (n) => n.driver!.read({ allowLease: false, key: 'x' }).then((r) => {
    const v = n.machine!.kv!.get('x');
    return { index: r.index, value: typeof v === 'string' ? v : null };
  }), (r) => {
    if (r.ok) read.served = r.value;
    else read.failed = true;
  });
  const answers = sim.msgCount.get('readIndexResp') ?? 0;
  must(await sim.runUntil(() => (sim.msgCount.get('readIndexResp') ?? 0) > answers, 500), 'the follower got its read index');
  must(read.served === null && !read.failed, 'the read waits for the follower\'s commit');
  // 3. The follower becomes the leader.
  sim.poke(a, (n) => n.transferLeadership(b));
  must(await sim.runUntil(() => sim.status(b)?.role === 'leader', 1000), 'the follower elected');
  sim.dropIf = null;
  must(await sim.runUntil(() => read.served !== null || read.failed, 2000), 'the read answered');
  const s = read.served;
  must(s !== null, 'the read served');
  const { index, value } = s!;
  must(index >= writeIndex, `a read index at or past the write (${index} < ${writeIndex})`);
  return { writeIndex, readIndex: index, value, stale: value !== 'w' };
}
