// Durability and leader changes with real processes: writes acknowledged through the SDK survive
// `kill -9` of the leader and of a follower (read back linearizably and from every member),
// cas/delete keep their meaning and apply exactly once across leader changes, and
// `edgeraft transfer-leader` moves leadership without losing an acknowledged write. Every test
// runs in raft mode and in parallel mode (ParallelRaft, docs/parallel-raft.md).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ClientError } from '../../src/client/errors.ts';
import { explain, waitFor, withCluster, type Cluster } from './cluster.ts';
import { checkEveryMember, checkLinearizable, Writers, type WriteLog } from './workload.ts';

/** Writes `count` keys and SIGKILLs `victim()` once `killAfter` were acknowledged; restarts it after. */
async function writeThroughCrash(c: Cluster, prefix: string, count: number, killAfter: number, victim: () => Promise<string>): Promise<{ log: WriteLog; killed: string }> {
  const kv = await c.client();
  let killing: Promise<string> | null = null;
  let ackedAtKill = 0;
  const writers = new Writers(kv, {
    prefix, count, workers: 24,
    onAck: (n) => {
      if (n < killAfter || killing !== null) return;
      killing = victim().then(async (id) => {
        await c.kill(id);
        ackedAtKill = writers.log.acked.size;
        return id;
      });
    },
  });
  await writers.done;
  assert.ok(killing !== null, `only ${writers.log.acked.size} of ${count} writes were acknowledged: the kill never happened`);
  const killed = await killing!;
  assert.ok(writers.log.acked.size - ackedAtKill >= count / 4, `the kill came too late to be mid-stream (${ackedAtKill} of ${count} acknowledged by then)`);
  await c.start(killed);
  return { log: writers.log, killed };
}

for (const mode of ['raft', 'parallel'] as const) {
  const test = suite(`crash (${mode} mode)`);
  const modeArgs = mode === 'parallel' ? ['--mode', 'parallel'] : [];

  test('acknowledged writes survive kill -9 of the leader and of a follower', () => withCluster({ name: `crash-${mode}`, extraArgs: modeArgs }, async (c) => {
    // The leader dies mid-stream: the SDK retries the writes it had in flight on the new leader.
    const first = await writeThroughCrash(c, 'a/', 1500, 400, () => c.leader());
    assert.is(first.log.indeterminate.size, 0, `writes failed across the leader crash:\n${first.log.failures()}`);
    // A follower dies mid-stream: the other two still form a majority.
    const second = await writeThroughCrash(c, 'b/', 1500, 400, async () => {
      const l = await c.leader();
      return c.ids.find((id) => id !== l)!;
    });
    assert.is(second.log.indeterminate.size, 0, `writes failed across the follower crash:\n${second.log.failures()}`);

    const acked = new Map([...first.log.acked, ...second.log.acked]);
    assert.is(acked.size, 3000);
    const kv = await c.client('reader');
    assert.equal(await checkLinearizable(kv, acked), [], 'linearizable reads after the crashes');
    await c.converged(20_000);
    assert.equal(await checkEveryMember(c, first.log.acked, 'a/'), [], 'stale reads of a/ on every member');
    assert.equal(await checkEveryMember(c, second.log.acked, 'b/'), [], 'stale reads of b/ on every member');
    // The restarted peers recovered from their own WAL (then caught up), not from nothing.
    for (const id of [first.killed, second.killed]) {
      const started = c.logs(id).filter((l) => l.msg === 'started').at(-1)!;
      assert.ok(Number(started.applied) + Number(started.entries) > 0, `${id} restarted empty: ${JSON.stringify(started)}`);
    }
  }));

  test('cas and delete keep their meaning across leader changes, and cas increments apply exactly once through a crash', () => withCluster({ name: `cas-${mode}`, extraArgs: modeArgs }, async (c) => {
    const kv = await c.client();
    await kv.put('x', '1');
    const l1 = await c.leader();
    await c.kill(l1);
    // Under the new leader.
    assert.is(await kv.cas('x', '1', '2'), true, 'cas from the acknowledged value swaps');
    assert.is(await kv.cas('x', '1', '3'), false, 'cas from a stale value does not');
    assert.is(await kv.get('x'), '2');
    assert.is(await kv.cas('y', undefined, 'new'), true, 'cas on an absent key, expecting absent, swaps');
    await c.start(l1);
    const l2 = await c.leader();
    await c.kill(l2);
    // Under a third leader (or l1 again).
    const d1 = await kv.delete('x');
    assert.is(d1.existed, true, 'delete of a present key reports it existed');
    const d2 = await kv.delete('x');
    assert.is(d2.existed, false, 'a second delete finds it absent');
    assert.ok(d2.index > d1.index);
    assert.is(await kv.get('x'), undefined);
    assert.is(await kv.cas('x', undefined, 'fresh'), true, 'cas expecting absent swaps after the delete');
    assert.is(await kv.cas('x', undefined, 'again'), false);
    assert.is(await kv.cas('y', undefined, 'again'), false, 'y was created under the previous leader');
    assert.is(await kv.get('x'), 'fresh');
    assert.is(await kv.get('y'), 'new');
    await c.start(l2);

    // Four clients increment a counter with read + cas loops; the leader is SIGKILLed (and restarted)
    // after 20 increments. A cas retried after the crash must apply once: the final value equals
    // the number of swaps the clients saw acknowledged.
    await kv.put('counter', '0');
    const clients = await Promise.all([0, 1, 2, 3].map(() => c.client()));
    let swaps = 0;
    const failures: string[] = [];
    let crash: Promise<void> | null = null;
    await Promise.all(clients.map(async (k) => {
      for (let done = 0; done < 15;) {
        const cur = Number(await k.get('counter'));
        try {
          if (!(await k.cas('counter', String(cur), String(cur + 1)))) continue;
          swaps++;
          done++;
          if (swaps >= 20 && crash === null) {
            crash = c.leader().then(async (id) => {
              await c.kill(id);
              await c.start(id);
            });
          }
        } catch (err) {
          failures.push(`${(err as ClientError).code}: ${(err as Error).message}`);
          done++;
        }
      }
    }));
    assert.ok(crash !== null, 'the leader was never killed');
    await crash;
    assert.equal(failures, [], 'no increment should fail across one crash');
    assert.is(swaps, 60);
    assert.is(await kv.get('counter'), String(swaps), 'each acknowledged cas applied exactly once');
  }));

  test('a SIGSTOPped leader is replaced; after SIGCONT it steps down and catches up, and no acknowledged write is lost', () => withCluster({ name: `pause-${mode}`, extraArgs: modeArgs }, async (c) => {
    const kv = await c.client();
    const writers = new Writers(kv, { prefix: 'p/', count: 1_000_000, workers: 16 });
    await waitFor(() => writers.log.acked.size >= 200, '200 writes before the pause');
    const old = await c.leader();
    const term = (await c.status(old)).term;
    c.pause(old);
    const next = await c.leader();
    assert.is.not(next, old);
    const atPause = writers.log.acked.size;
    await waitFor(() => writers.log.acked.size >= atPause + 300, '300 writes while the old leader is frozen');
    c.resume(old);
    await waitFor(async () => (await c.status(old)).role !== 'leader', `${old} to step down after SIGCONT`);
    const log = await writers.stop();
    assert.is(log.indeterminate.size, 0, `writes failed across the pause:\n${log.failures()}`);
    assert.ok((await c.status(next)).term > term);
    assert.equal(await checkLinearizable(kv, log.acked), [], 'linearizable reads after the pause');
    await c.converged();
    assert.equal(await checkEveryMember(c, log.acked, 'p/'), [], 'stale reads on every member, the resumed one included');
  }));

  test('edgeraft transfer-leader n2 moves leadership to n2 with one election and loses no acknowledged write', () => withCluster({ name: `transfer-${mode}`, extraArgs: modeArgs }, async (c) => {
    const kv = await c.client();
    if ((await c.leader()) === 'n2') {
      await kv.transferLeader('n1');
      await waitFor(async () => (await c.leader()) === 'n1', 'leadership to move to n1 first');
    }
    const writers = new Writers(kv, { prefix: 't/', count: 1_000_000, workers: 16 });
    await waitFor(() => writers.log.acked.size >= 300, '300 writes before the transfer');
    const before = await c.status(await c.leader());
    const r = await c.cliAdmin(['transfer-leader', 'n2']);
    assert.is(r.code, 0, explain(r));
    assert.match(r.stdout, /leadership transfer to n2 started/);
    await waitFor(async () => (await c.leader()) === 'n2', 'n2 to lead', 5000, 20);
    const atMove = writers.log.acked.size;
    await waitFor(() => writers.log.acked.size >= atMove + 300, '300 more writes after the transfer');
    const log = await writers.stop();
    // The transfer is one campaign (TimeoutNow skips pre-vote), so it takes exactly one term.
    assert.is((await c.status('n2')).term, before.term + 1, `${before.id} led in term ${before.term}`);
    const bad = await c.cliAdmin(['transfer-leader', 'n9']);
    assert.is(bad.code, 1, explain(bad));
    assert.match(bad.stderr, /n9/, explain(bad));
    assert.is(log.indeterminate.size, 0, `writes failed across the transfer:\n${log.failures()}`);
    assert.equal(await checkLinearizable(kv, log.acked), [], 'linearizable reads after the transfer');
    await c.converged();
    assert.equal(await checkEveryMember(c, log.acked, 't/'), [], 'stale reads on every member');
    // Only admins move leadership.
    const client = await c.client('client');
    try {
      await client.transferLeader('n1');
      assert.unreachable('a client token moved leadership');
    } catch (err) {
      assert.is((err as ClientError).code, 'ERR_FORBIDDEN', (err as Error).message);
    }
  }));

  test.run();
}
