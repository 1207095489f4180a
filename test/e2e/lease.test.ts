// The two ways an old leader used to serve a stale lease read (issue 13), on real peers: a leader
// SIGSTOPped for longer than an election timeout while clients pinned to each member keep reading
// with consistency 'lease' and 'linearizable' (their requests, and the acknowledgements of its
// last heartbeat round, wait in its socket buffers until SIGCONT); and a leadership transfer whose
// timeoutNow is held back (--faults) until the leader has given up on it, after which the leader
// hears nothing from the others. Each history must check linearizable; the peers' metrics show
// the lease was forfeited after the timeoutNow.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { connectWith, type KvClient } from '../../src/client/kv.ts';
import { dialWs } from '../../src/runtime-node/ws-socket.ts';
import type { Consistency } from '../../src/client/protocol.ts';
import { checkHistory, formatResult } from '../lincheck/checker.ts';
import { sleep, waitFor, withCluster, type Cluster } from './cluster.ts';
import { History } from './history.ts';

const test = suite('lease');

/** Election timeouts are 10-20 ticks; a lease (10 - 1) x tickMs x 0.9. */
const electionTicks = 10;

interface Loops {
  readonly history: History;
  stop(): Promise<void>;
  /** Reads answered by the member that led when the fault began, by path. */
  readonly servedByOld: Map<string, number>;
}

/**
 * Writers through the whole cluster on one hot key, and for every member a reader that knows only
 * that member, alternating 'lease' and 'linearizable' reads of the same key. Every call lands in
 * one history.
 */
async function startLoops(c: Cluster, old: string, key: string): Promise<Loops> {
  const history = new History();
  const servedByOld = new Map<string, number>();
  let stopped = false;
  // Impatient writers (an attempt gives up after 100 ms) find a new leader at once; one of them
  // starts from each member, as independent clients would.
  const token = await c.token('client');
  const writers = await Promise.all(c.ids.map((id) => connectWith({
    peers: [id, ...c.ids.filter((x) => x !== id)].map((x) => c.url(x)), token, dial: dialWs, timeoutMs: 4000, attemptTimeoutMs: 100,
  })));
  // Long enough that a request sent to a stopped member is still awaited when it resumes.
  const readers = await Promise.all(c.ids.map((id) => c.client('reader', { peers: [id], timeoutMs: 6000 })));
  let n = 0;
  const write = async (kv: KvClient, name: string) => {
    while (!stopped) {
      const value = `${name}-${n++}`;
      const p = history.call(name, 'put', key, { value });
      try {
        await kv.put(key, value);
        history.ok(p);
      } catch {
        history.unknown(p);
      }
      await sleep(2);
    }
  };
  const read = async (kv: KvClient, name: string) => {
    for (let i = 0; !stopped; i++) {
      const consistency: Consistency = i % 2 === 0 ? 'lease' : 'linearizable';
      const p = history.call(name, 'get', key);
      try {
        const r = await kv.getWithMeta(key, { consistency });
        history.ok(p, typeof r.value === 'string' ? r.value : null);
        if (r.servedBy === old) servedByOld.set(r.path, (servedByOld.get(r.path) ?? 0) + 1);
      } catch {
        history.unknown(p);
      }
      await sleep(1);
    }
  };
  const loops = [
    ...writers.map((kv, i) => write(kv, `w${i}`)),
    ...readers.map((kv, i) => read(kv, `r-${c.ids[i]}`)),
  ];
  return {
    history, servedByOld,
    stop: async () => {
      stopped = true;
      await Promise.all(loops);
      await Promise.all(writers.map((kv) => kv.close()));
    },
  };
}

function check(history: History): { ok: boolean; report: string } {
  const r = checkHistory(history.ops, { timeoutMs: 60_000 });
  return { ok: r.ok, report: r.ok ? '' : formatResult(r) };
}

test('a leader SIGSTOPped past an election timeout serves no stale read after SIGCONT, by lease or otherwise', async () => {
  const tickMs = 20;
  const electionMs = electionTicks * tickMs;
  await withCluster({ size: 3, tickMs, name: 'lease-sigstop' }, async (c) => {
    const admin = await c.client();
    let rounds = 0;
    let servedAfter = 0;
    // Several stops: each time the leader freezes at a different point of its heartbeat round.
    for (let round = 0; round < 3; round++) {
      const old = await c.leader();
      const loops = await startLoops(c, old, `x${round}`);
      await sleep(300);
      c.pause(old);
      // Long past an election timeout: the others elect a leader and commit writes meanwhile.
      await waitFor(async () => { const l = await c.leader(2000).catch(() => old); return l !== old; }, 'a new leader while the old one is stopped', 10_000);
      await sleep(4 * electionMs);
      const before = new Map(loops.servedByOld);
      c.resume(old);
      await sleep(1000);
      await loops.stop();
      for (const [path, k] of loops.servedByOld) servedAfter += k - (before.get(path) ?? 0);
      const r = check(loops.history);
      assert.ok(r.ok, `round ${round}: the history is not linearizable after the old leader ${old} resumed:\n${r.report}`);
      assert.ok(loops.history.counts.ok > 50, `round ${round}: only ${loops.history.counts.ok} operations completed`);
      rounds++;
    }
    console.log(`    ${rounds} stops of the leader; reads the old leaders answered after resuming: ${servedAfter} (linearizable histories)`);
  });
});

test('a leadership transfer whose timeoutNow arrives after the leader gave up does not leave it a lease', async () => {
  // Longer ticks: a 405 ms lease, long enough for a client to write through the new leader and
  // read at the old one while the old leader's lease would still hold.
  const tickMs = 50;
  const electionMs = electionTicks * tickMs;
  await withCluster({ size: 3, tickMs, faults: true, name: 'lease-transfer' }, async (c) => {
    const admin = await c.client();
    const old = await c.leader();
    const [to, third] = c.ids.filter((id) => id !== old) as [string, string];
    const forfeitsBefore = (await c.metrics(old)).get('edgeraft_lease_forfeited_terms_total') ?? 0;
    const loops = await startLoops(c, old, 'y');
    await sleep(300);
    // The timeoutNow is held back past the leader's election timeout: it gives up on the transfer.
    const holdMs = 3 * electionMs;
    await admin.injectFault(c.url(old), [], [{ type: 'timeoutNow', ms: holdMs }]);
    await admin.transferLeader(to);
    await sleep(holdMs - tickMs);
    // Just before the timeoutNow leaves, the old leader stops hearing from (and talking to) the
    // others: the transferee can win with the third voter's transfer vote, and nothing of the new
    // term reaches the old leader. (The held-back message still goes out: it is in the network.)
    await admin.injectFault(c.url(old), [to, third], [{ type: 'timeoutNow', ms: holdMs }]);
    await waitFor(async () => (await c.status(to)).role === 'leader', `${to} to win by the late transfer`, 5000).catch(() => {});
    const transferWon = (await c.status(to)).role === 'leader';
    await sleep(1500);
    await admin.injectFault(c.url(old), []);
    await sleep(500);
    await loops.stop();
    const forfeits = (await c.metrics(old)).get('edgeraft_lease_forfeited_terms_total') ?? 0;
    const r = check(loops.history);
    assert.ok(r.ok, `the history is not linearizable after the late transfer:\n${r.report}`);
    assert.ok(forfeits > forfeitsBefore, `the old leader counted the term it spent without a lease (${forfeitsBefore} -> ${forfeits})`);
    console.log(`    transfer ${old} -> ${to} ${transferWon ? 'won by the late timeoutNow' : 'did not win (an ordinary election followed)'}; ` +
      `${loops.history.counts.ok} operations, reads answered by ${old}: ${JSON.stringify(Object.fromEntries(loops.servedByOld))}`);
  });
});

test.run();
