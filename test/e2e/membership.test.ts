// Membership with real processes: a peer started with --join is added as a learner, catches up
// (from the log, or from a snapshot once the leader compacted) and is promoted, and must then
// know the whole voter set; a removed follower or leader leaves the member list and stops.
// Tests within one suite share a cluster and run in order.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { explain, waitFor, withCluster, type Cluster, type ExitInfo, type MemberInfo } from './cluster.ts';
import { clusterSuite } from './suite.ts';
import { checkEveryMember, checkLinearizable, Writers } from './workload.ts';

function roles(list: readonly MemberInfo[]): string[] {
  return list.map((m) => `${m.id}:${m.role}`).sort();
}

/** The `members list --json` answer. */
async function memberList(c: Cluster): Promise<{ leader: string | null; members: MemberInfo[] }> {
  const r = await c.cliAdmin(['members', 'list', '--json']);
  assert.is(r.code, 0, explain(r));
  return JSON.parse(r.stdout) as { leader: string | null; members: MemberInfo[] };
}

/** Resolves with how `id` exited, or null if it is still running after `timeoutMs`. */
async function exitWithin(c: Cluster, id: string, timeoutMs: number): Promise<ExitInfo | null> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<null>((res) => { timer = setTimeout(() => res(null), timeoutMs); });
  try {
    return await Promise.race([c.exited(id), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

// ---- joining from the log ---------------------------------------------------------------------

const join = clusterSuite('join', { name: 'join' });
let joinAcked = new Map<string, string>();

join.test('a peer started with --join is added as a learner (members add --learner) and catches up from the log', async (c) => {
  const kv = await c.client();
  joinAcked = (await new Writers(kv, { prefix: 'm/', count: 2000, workers: 32 }).finished()).acked;
  assert.is(joinAcked.size, 2000);

  const addr = await c.addMember('n4');
  const add = await c.cliAdmin(['members', 'add', 'n4', addr, '--learner']);
  assert.is(add.code, 0, explain(add));
  assert.match(add.stdout, /^n4\tlearner\tws:\/\/127\.0\.0\.1:\d+/m, explain(add));
  assert.equal(roles((await memberList(c)).members), ['n1:voter', 'n2:voter', 'n3:voter', 'n4:learner']);

  // n4 is started as a user would: --join, its --peers listing the members and itself.
  await c.start('n4');
  const n4 = await c.caughtUp('n4');
  assert.ok(n4.keys >= 2000, `n4 holds ${n4.keys} keys`);
  assert.equal(await checkEveryMember(c, joinAcked, 'm/'), [], 'every member, n4 included, holds every acknowledged write');
});

join.test('`edgeraft members list` prints every member with its role', async (c) => {
  const r = await c.cliAdmin(['members', 'list']);
  assert.is(r.code, 0, explain(r));
  const lines = r.stdout.split('\n').filter((l) => l.trim() !== '').map((l) => l.split('\t').slice(0, 2).join(':')).sort();
  assert.equal(lines, ['n1:voter', 'n2:voter', 'n3:voter', 'n4:learner'], `members list printed ${JSON.stringify(r.stdout)}`);
});

join.test('the caught-up learner is promoted (members promote) and counts as a voter', async (c) => {
  const promote = await c.cliAdmin(['members', 'promote', 'n4']);
  assert.is(promote.code, 0, explain(promote));
  assert.match(promote.stdout, /^n4\tvoter\t/m, explain(promote));
  assert.equal(roles((await memberList(c)).members), ['n1:voter', 'n2:voter', 'n3:voter', 'n4:voter']);
  const leader = await c.leader();
  assert.equal([...(await c.status(leader)).conf.voters].sort(), ['n1', 'n2', 'n3', 'n4'], 'the leader counts n4 as a voter');
  const kv = await c.client();
  await kv.put('m/after-promote', 'yes');
  assert.is(await kv.get('m/after-promote'), 'yes');
});

join.test('the joined voter knows the whole voter set: its own view of the membership matches the leader\'s', async (c) => {
  const view = async (id: string) => {
    const conf = (await c.status(id)).conf;
    return JSON.stringify({ voters: [...conf.voters].sort(), learners: [...conf.learners].sort() });
  };
  let seen = '';
  await waitFor(async () => {
    const leader = await c.leader(2000);
    const want = await view(leader);
    const views = await Promise.all(c.live().map(async (id) => `${id}: ${await view(id)}`));
    seen = `the leader ${leader} has ${want}; ${views.join('; ')}`;
    return views.every((v) => v.endsWith(want));
  }, 'every member to hold the leader\'s membership', 3000).catch(() => {
    throw new Error(`members disagree on the membership: ${seen}`);
  });
});

join.test('with the other voters down, the joined voter n4 cannot elect itself or commit a write alone', async (c) => {
  for (const id of ['n1', 'n2', 'n3']) if (c.isRunning(id)) await c.kill(id);
  assert.ok(c.isRunning('n4'), `n4 is not running:\n${c.tail('n4', 8)}`);
  const kv = await c.client('admin', { peers: ['n4'], timeoutMs: 3000 });
  let wrote: { index: number } | null = null;
  let error: Error | null = null;
  try {
    wrote = await kv.put('split-brain', 'n4 alone');
  } catch (err) {
    error = err as Error;
  }
  const n4 = await c.status('n4');
  assert.ok(wrote === null, `n4 alone acknowledged a write at index ${wrote?.index} as ${n4.role} of term ${n4.term}, believing the voters are ${JSON.stringify(n4.conf.voters)}`);
  assert.match(error?.message ?? '', /no answer/);
  assert.is.not(n4.role, 'leader', `n4 made itself leader with voters ${JSON.stringify(n4.conf.voters)}`);
});

join.run();

// ---- joining from a snapshot ------------------------------------------------------------------

test('a peer that joins after the leader compacted catches up from a snapshot and is promoted', () => withCluster({ name: 'snapshot', snapshotEntries: 200 }, async (c) => {
  const kv = await c.client();
  // The peer keeps 5000 entries behind each snapshot (snapshotRetainEntries; no CLI flag), so the
  // leader's log starts past index 1 only after more than 5200 entries.
  const { acked } = await new Writers(kv, { prefix: 's/', count: 6000, workers: 64 }).finished();
  assert.is(acked.size, 6000);
  const leader = await c.leader();
  const ls = await c.status(leader);
  assert.ok(ls.firstIndex > 1, `the leader has not compacted its log (firstIndex ${ls.firstIndex}), so no snapshot is needed`);

  const addr = await c.addMember('n4');
  await kv.members('addLearner', 'n4', `ws://${addr}`);
  await c.start('n4');
  const n4 = await c.caughtUp('n4');
  assert.ok(n4.firstIndex > 1, `n4's log starts at ${n4.firstIndex}: it did not install a snapshot`);
  const sent = (await c.metrics(await c.leader())).get('edgeraft_snapshots_sent_total') ?? 0;
  assert.ok(sent > 0, `the leader's edgeraft_snapshots_sent_total is ${sent}`);
  assert.ok(((await c.metrics('n4')).get('edgeraft_snapshots_installed_total') ?? 0) >= 1, 'n4 counts the installed snapshot');
  assert.equal(await checkEveryMember(c, acked, 's/'), [], 'every member, n4 included, holds every acknowledged write');

  const promote = await c.cliAdmin(['members', 'promote', 'n4']);
  assert.is(promote.code, 0, explain(promote));
  assert.equal(roles((await memberList(c)).members), ['n1:voter', 'n2:voter', 'n3:voter', 'n4:voter']);
  await kv.put('s/after-promote', 'yes');
  assert.is(await kv.get('s/after-promote'), 'yes');
}));

test.run();

// ---- removal ----------------------------------------------------------------------------------

const removal = clusterSuite('removal', { name: 'removal', size: 4 });

removal.test('a removed follower leaves the member list, the rest keep serving, and it stops on its own (exit 0)', async (c) => {
  const kv = await c.client();
  if ((await c.leader()) === 'n3') {
    await kv.transferLeader('n1');
    await waitFor(async () => (await c.leader()) !== 'n3', 'leadership to leave n3');
  }
  const rm = await c.cliAdmin(['members', 'remove', 'n3']);
  assert.is(rm.code, 0, explain(rm));
  assert.not.match(rm.stdout, /^n3\t/m, explain(rm));
  assert.equal(roles((await memberList(c)).members), ['n1:voter', 'n2:voter', 'n4:voter']);

  // The rest keep serving, through a client that still lists n3 among its peers.
  const log = await new Writers(kv, { prefix: 'r/', count: 300, workers: 16 }).finished();
  assert.is(log.indeterminate.size, 0, log.failures());
  assert.equal(await checkLinearizable(kv, log.acked), []);
  for (const id of ['n1', 'n2', 'n4']) {
    await waitFor(async () => !(await c.status(id)).conf.voters.includes('n3'), `${id} to apply the removal of n3`);
  }

  // n3 stops by itself: either it applied its own removal, or (the leader having stopped
  // replicating to it) a remaining member tells it when it next campaigns.
  assert.equal(await exitWithin(c, 'n3', 10_000), { code: 0, signal: null }, `n3 did not stop after its removal:\n${c.tail('n3', 8)}`);
  assert.ok(c.logLines('n3').some((l) => /removed from the cluster/.test(l)), c.tail('n3', 5));
});

removal.test('a removed leader (members remove LEADER) hands over and, knowing it was removed, stops on its own with exit 0', async (c) => {
  const kv = await c.client();
  const old = await c.leader();
  const rest = ['n1', 'n2', 'n4'].filter((id) => id !== old);
  const rm = await c.cliAdmin(['members', 'remove', old]);
  assert.is(rm.code, 0, explain(rm));
  assert.not.match(rm.stdout, new RegExp(`^${old}\\t`, 'm'), explain(rm));
  const next = await c.leader();
  assert.ok(rest.includes(next), `${next} leads`);
  await kv.put('r/after-leader-removal', 'ok');
  assert.is(await kv.get('r/after-leader-removal'), 'ok');
  assert.equal(roles((await memberList(c)).members), rest.map((id) => `${id}:voter`));
  // The old leader committed and applied its own removal, so it knows and stops by itself.
  const exit = await exitWithin(c, old, 5000);
  assert.ok(exit !== null, `${old} applied its own removal but is still running 5 s later; its log ends:\n${c.tail(old, 5)}`);
  assert.equal(exit, { code: 0, signal: null });
  assert.ok(c.logLines(old).some((l) => /stopped: removed from the cluster/.test(l)), c.tail(old, 5));
});

removal.run();
