// Browser tabs as follower-readers, in real headless Chromium against a real 3-peer cluster from
// the CLI: what each token role may do, how bad tokens are refused, ten tabs at once with the
// leader's --learners-max cap (the eleventh waits for a slot), and a hidden tab that the leader
// stops serving and that catches up, fetching only what it missed, when it shows again.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import type { KvClient } from '../../src/client/kv.ts';
import { mintToken, type TokenRole } from '../../src/transport/token.ts';
import { Cluster, waitFor } from '../e2e/cluster.ts';
import { unless } from '../requires.ts';
import { evaluate, findChromium, launchBrowser, servePage, type LaunchedBrowser, type ServedPage } from './chromium.ts';
import type { JoinResult, PageError, TimedRead } from './tabs-page.ts';
import type { ReplicaStatus } from '../../src/runtime-browser/follower.ts';

const test = suite('tabs-chromium');
const here = dirname(fileURLToPath(import.meta.url));
/** The leader serves at most this many tabs (--learners-max): the eleventh must wait. */
const learnersMax = 10;
/** How long a tab waits for a leader that accepted its link to send something (the test is impatient). */
const notFollowedMs = 1000;

interface Ctx {
  cluster: Cluster;
  browser: LaunchedBrowser;
  served: ServedPage;
  admin: KvClient;
  peers: string[];
  failed: boolean;
}

const skip = findChromium() === null;
const it = unless(test, skip ? 'no Chromium (apt-get install -y chromium)' : null);
let ctx: Ctx | null = null;

function c(): Ctx {
  if (ctx === null) throw new Error('the suite did not start');
  return ctx;
}

function token(role: TokenRole, sub: string, o: { secret?: string; cluster?: string; expMs?: number } = {}): Promise<string> {
  return mintToken(o.secret ?? c().cluster.secret, { role, sub, cluster: o.cluster ?? 'edgeraft', expMs: o.expMs ?? Date.now() + 3_600_000 });
}

async function openTab(): Promise<Page> {
  const page = await c().browser.newPage();
  await page.goto(c().served.url);
  await page.waitForFunction('globalThis.tabPage !== undefined');
  return page;
}

async function joinTab(page: Page, tok: string, options: Record<string, unknown> = {}): Promise<JoinResult> {
  return evaluate<JoinResult>(page, `tabPage.join(${JSON.stringify(c().peers)}, ${JSON.stringify(tok)}, ${JSON.stringify({ notFollowedMs, ...options })})`);
}

async function joined(page: Page, tok: string): Promise<ReplicaStatus> {
  const r = await joinTab(page, tok);
  assert.ok(r.status !== undefined, `join failed: ${JSON.stringify(r.error)}`);
  return r.status;
}

const status = (page: Page): Promise<ReplicaStatus> => evaluate<ReplicaStatus>(page, 'tabPage.status()');
const read = (page: Page, key: string, consistency = 'linearizable'): Promise<TimedRead | { error: PageError }> =>
  evaluate(page, `tabPage.get(${JSON.stringify(key)}, ${JSON.stringify(consistency)})`);

async function value(page: Page, key: string, consistency = 'linearizable'): Promise<string | null> {
  const r = await read(page, key, consistency);
  if ('error' in r) throw new Error(`read of ${key} failed: ${r.error.code}: ${r.error.message}`);
  return r.value;
}

/** Tab subjects the leader replicates to right now (its per-follower gauge lists observers too). */
async function followedByLeader(): Promise<string[]> {
  const m = await c().cluster.metrics(await c().cluster.leader());
  return [...m.keys()].flatMap((k) => /^edgeraft_follower_match_index\{follower="(tab-[^"]+)"\}$/.exec(k)?.[1] ?? []);
}

async function closeTab(page: Page): Promise<void> {
  await evaluate(page, 'tabPage.close()');
  await page.close();
}

/** Runs a test body, remembering a failure so that after() keeps the cluster's logs. */
function guarded(fn: () => Promise<void>): () => Promise<void> {
  return async () => {
    if (skip) return;
    try {
      await fn();
    } catch (err) {
      c().failed = true;
      throw err;
    }
  };
}

test.before(async () => {
  if (skip) return;
  const cluster = await Cluster.start({ size: 3, tickMs: 20, name: 'tabs', extraArgs: ['--learners-max', String(learnersMax)] });
  try {
    const served = await servePage({ bundleEntry: join(here, 'tabs-page.ts'), title: 'tabs' });
    const browser = await launchBrowser();
    const admin = await cluster.client();
    ctx = { cluster, browser, served, admin, peers: cluster.ids.map((id) => cluster.url(id)), failed: false };
  } catch (err) {
    await cluster.close({ failed: true });
    throw err;
  }
});

test.after(async () => {
  if (ctx === null) return;
  await ctx.browser.close();
  await ctx.served.close();
  await ctx.admin.close();
  await ctx.cluster.close({ failed: ctx.failed });
});

it('a reader tab follows and reads linearizably but may not write; a client tab writes', guarded(async () => {
  const { admin } = c();
  const reader = await openTab();
  const st = await joined(reader, await token('reader', 'tab-reader'));
  assert.is(st.id, 'tab-reader');
  for (let i = 0; i < 10; i++) {
    await admin.put('r/k', `v${i}`);
    assert.is(await value(reader, 'r/k'), `v${i}`, 'a read that starts after a completed write sees it');
  }
  const refused = await evaluate<{ error?: PageError }>(reader, `tabPage.put('r/mine', 'no')`);
  assert.is(refused.error?.code, 'ERR_FORBIDDEN');
  assert.match(refused.error?.message ?? '', /reader/, 'the refusal names the role');

  const writer = await openTab();
  await joined(writer, await token('client', 'tab-writer'));
  const wrote = await evaluate<{ index?: number; error?: PageError }>(writer, `tabPage.put('r/mine', 'from-a-tab')`);
  assert.ok(typeof wrote.index === 'number' && wrote.index > 0, `a client tab writes: ${JSON.stringify(wrote)}`);
  assert.is(await value(writer, 'r/mine'), 'from-a-tab');
  assert.is(await value(reader, 'r/mine'), 'from-a-tab', 'and the reader tab sees it');
  assert.is((await status(reader)).state, 'following');
  await closeTab(reader);
  await closeTab(writer);
}));

it('tabs with a bad token are refused with an error that names the problem', guarded(async () => {
  const page = await openTab();
  const cases: Array<[string, string, Record<string, unknown>, string, RegExp]> = [
    ['wrong signature', await token('learner', 'tab-forged', { secret: 'not-the-cluster-secret-at-all' }), {}, 'ERR_FORBIDDEN', /refused the token/],
    ['another cluster', await token('learner', 'tab-other', { cluster: 'other' }), {}, 'ERR_WRONG_CLUSTER', /for cluster 'other', but .* serves cluster 'edgeraft'/],
    ['another cluster, checked locally', await token('learner', 'tab-other', { cluster: 'other' }), { cluster: 'edgeraft' }, 'ERR_WRONG_CLUSTER', /for cluster 'other', not 'edgeraft'/],
    ['expired', await token('learner', 'tab-late', { expMs: Date.now() - 60_000 }), {}, 'ERR_TOKEN_EXPIRED', /expired at/],
    ['malformed', 'not-a-token', {}, 'ERR_FORBIDDEN', /malformed/],
  ];
  for (const [what, tok, options, code, message] of cases) {
    const r = await joinTab(page, tok, options);
    assert.is(r.error?.code, code, `${what}: ${JSON.stringify(r)}`);
    assert.match(r.error?.message ?? '', message, what);
  }
  await page.close();
}));

it(`ten tabs follow a stream of writes; with --learners-max ${learnersMax} an eleventh waits until a tab pauses`, guarded(async () => {
  const { admin } = c();
  const tabs = await Promise.all(Array.from({ length: learnersMax }, () => openTab()));
  await Promise.all(tabs.map(async (p, i) => joined(p, await token('learner', `tab-${i}`))));
  let last = 0;
  for (let round = 0; round < 5; round++) {
    // A stream of writes while the tabs follow (the voters keep committing), then every tab reads
    // the last one linearizably.
    await Promise.all(Array.from({ length: 20 }, (_, k) => admin.put(`s/${k}`, `r${round}`)));
    last = (await admin.put('s/last', `r${round}`)).index;
    const seen = await Promise.all(tabs.map((p) => read(p, 's/last')));
    for (const [i, r] of seen.entries()) {
      assert.ok(!('error' in r), `tab-${i}: ${JSON.stringify(r)}`);
      if (!('error' in r)) assert.equal([r.value, r.path], [`r${round}`, 'follower'], `tab-${i} reads the last write`);
      if (!('error' in r)) assert.ok(r.index >= last, `tab-${i} read at ${r.index}, the write was at ${last}`);
    }
  }
  assert.is((await followedByLeader()).length, learnersMax, 'the leader replicates to the ten tabs');

  // The eleventh: the leader accepts its link but does not follow it; the tab says so and waits.
  const extra = await openTab();
  await joined(extra, await token('learner', 'tab-extra'));
  await waitFor(async () => (await status(extra)).problem?.code === 'ERR_NOT_FOLLOWED', 'the eleventh tab to report that it is not followed', 10_000);
  const waiting = await status(extra);
  assert.match(waiting.problem?.message ?? '', /learners-max/, 'the problem names the cap');
  assert.is(waiting.state, 'connecting');
  assert.is(waiting.applied, 0, 'it got no log');
  assert.not.ok((await followedByLeader()).includes('tab-extra'));
  assert.is((await admin.put('s/during', 'x')).index > last, true, 'the voters commit while a tab waits');

  // One tab goes to the background: its slot frees, the eleventh takes it, and the voters' commits
  // never wait for the paused tab.
  const paused = await evaluate<ReplicaStatus>(tabs[0]!, 'tabPage.setHidden(true)');
  assert.is(paused.state, 'paused');
  await waitFor(async () => !(await followedByLeader()).includes('tab-0'), 'the leader to drop the hidden tab', 10_000);
  const before = (await status(tabs[0]!)).applied;
  const writes = await Promise.all(Array.from({ length: 50 }, (_, k) => admin.put(`p/${k}`, 'while-paused')));
  assert.is(writes.length, 50);
  const commit = Math.max(...writes.map((w) => w.index));
  assert.is((await status(tabs[0]!)).applied, before, 'the paused tab applied nothing');
  await waitFor(async () => (await status(extra)).applied >= commit, 'the eleventh tab to be followed and catch up', 20_000);
  const now = await status(extra);
  assert.is(now.state, 'following');
  assert.is(now.problem, null);
  assert.is(await value(extra, 'p/49'), 'while-paused');
  await Promise.all([...tabs, extra].map(closeTab));
}));

it('a hidden tab is dropped by the leader and, shown again, catches up fetching only what it missed', guarded(async () => {
  const { admin } = c();
  const page = await openTab();
  await joined(page, await token('learner', 'tab-hidden'));
  await admin.put('h/k', 'before');
  assert.is(await value(page, 'h/k'), 'before');
  await waitFor(async () => (await followedByLeader()).includes('tab-hidden'), 'the leader to follow the tab');

  const hidden = await evaluate<ReplicaStatus>(page, 'tabPage.setHidden(true)');
  assert.equal([hidden.state, hidden.paused, hidden.connected], ['paused', true, false]);
  await waitFor(async () => !(await followedByLeader()).includes('tab-hidden'), 'the leader to drop the hidden tab');
  const missed = 40;
  for (let i = 0; i < missed; i++) await admin.put('h/k', `missed-${i}`);
  const away = await status(page);
  assert.is(away.applied, hidden.applied, 'a paused tab applies nothing');
  assert.is(await value(page, 'h/k', 'stale'), 'before', 'stale reads still answer while paused');

  const shown = await evaluate<ReplicaStatus>(page, 'tabPage.setHidden(false)');
  assert.is(shown.paused, false);
  const commit = (await c().cluster.status(await c().cluster.leader())).commit;
  await waitFor(async () => (await status(page)).applied >= commit, 'the tab to catch up after it showed again', 10_000);
  const back = await status(page);
  const fetched = back.fetchedEntries - away.fetchedEntries;
  // What it missed, not the log again: a loaded machine can make the leader resend an append
  // once (a stall probe), so allow each missed entry twice, far below the whole log.
  assert.ok(fetched >= missed && fetched <= 2 * missed + 20 && fetched < back.applied / 2,
    `it fetched ${fetched} entries for ${missed} missed writes (log at ${back.applied})`);
  assert.is(back.state, 'following');
  assert.is(await value(page, 'h/k'), `missed-${missed - 1}`);

  // A linearizable read on a hidden tab resumes it first, and answers with the latest write.
  await evaluate(page, 'tabPage.setHidden(true)');
  await admin.put('h/k', 'read-while-hidden');
  const r = await read(page, 'h/k');
  assert.ok(!('error' in r) && r.value === 'read-while-hidden', JSON.stringify(r));
  assert.is((await status(page)).paused, false);
  await closeTab(page);
}));

it('tabs can be served by followers: the leader serves them nothing, reads stay linearizable, a dead relay is replaced', guarded(async () => {
  const { admin, cluster } = c();
  const leader = await cluster.leader();
  const tabs = await Promise.all([0, 1, 2].map(() => openTab()));
  const sts = await Promise.all(tabs.map(async (p, i) => {
    const r = await joinTab(p, await token('reader', `tab-relayed-${i}`), { serveFrom: 'follower' });
    assert.ok(r.status !== undefined, JSON.stringify(r.error));
    return r.status;
  }));
  for (const st of sts) assert.ok(st.source !== null && st.source !== leader, `${st.id} replicates from ${st.source}, not from the leader ${leader}`);
  for (let i = 0; i < 5; i++) {
    await admin.put('f/k', `v${i}`);
    for (const p of tabs) assert.is(await value(p, 'f/k'), `v${i}`, 'a relayed tab reads the last completed write');
  }
  assert.equal((await followedByLeader()).filter((id) => id.startsWith('tab-relayed')), [], 'the leader replicates to none of them');

  // The relay of the first tab dies: it moves to another member and keeps reading.
  const relay = (await status(tabs[0]!)).source!;
  await cluster.kill(relay);
  await admin.put('f/k', 'after-relay-died');
  await waitFor(async () => (await status(tabs[0]!)).source !== relay, 'the tab to leave its dead relay', 15_000);
  assert.is(await value(tabs[0]!, 'f/k'), 'after-relay-died');
  await Promise.all(tabs.map(closeTab));
  await cluster.start(relay);
}));

test.run();
