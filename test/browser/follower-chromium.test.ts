// A follower-reader in real headless Chromium against real peer processes: it joins through the
// native WebSocket with a learner token, keeps its copy in IndexedDB, answers linearizable reads
// that see completed writes, gets change events, and after a reload resumes from IndexedDB
// (its applied index is there before it reconnects) instead of starting over: it fetches only
// what was written after the reload. It runs against a raft-mode cluster and a --mode parallel
// one (the tab learns the mode from the members and keeps a ParallelRaft log in IndexedDB), and
// follows a new leader after a leadership transfer (test/e2e/follower.test.ts kills one).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitFor, withCluster } from '../e2e/cluster.ts';
import { unless } from '../requires.ts';
import { evaluate, findChromium, launchBrowser, servePage } from './chromium.ts';
import type { ReplicaStatus } from '../../src/runtime-browser/follower.ts';

const test = suite('follower-chromium');

const here = dirname(fileURLToPath(import.meta.url));

const it = unless(test, findChromium() === null ? 'no Chromium (apt-get install -y chromium)' : null);

for (const mode of ['raft', 'parallel'] as const) it(`${mode} mode: a tab follows the cluster, reads linearizably, follows a new leader, and resumes from IndexedDB after a reload`, async () => {
  await withCluster({ size: 3, tickMs: 20, name: `tab-${mode}`, extraArgs: mode === 'parallel' ? ['--mode', 'parallel'] : [] }, async (c) => {
    const admin = await c.client();
    // Independent writes at once (in parallel mode they commit and apply out of order).
    await Promise.all(Array.from({ length: 100 }, (_, i) => admin.put(`t/${i}`, `v${i}`)));
    const token = await c.token('learner');
    const peers = c.ids.map((id) => c.url(id));
    const served = await servePage({ bundleEntry: join(here, 'follower-page.ts'), title: 'follower' });
    const browser = await launchBrowser();
    try {
      const page = await browser.newPage();
      await page.goto(served.url);
      const first = await evaluate<ReplicaStatus>(page, `followerPage.join(${JSON.stringify(peers)}, ${JSON.stringify(token)})`);
      assert.equal([first.applied, first.resumedFrom, first.mode], [0, 0, mode], 'a fresh tab starts empty, in the cluster\'s mode');
      await waitFor(async () => (await evaluate<{ value: string | null }>(page, `followerPage.get('t/99', 'stale')`)).value === 'v99', 'the tab to catch up', 15_000);
      for (let i = 0; i < 5; i++) {
        await admin.put('t/live', `w${i}`);
        const r = await evaluate<{ value: string | null; path: string }>(page, `followerPage.get('t/live', 'linearizable')`);
        assert.equal([r.value, r.path], [`w${i}`, 'follower'], 'a read after a completed write sees it');
      }
      // Leadership moves: the tab follows the new leader (in parallel mode, after its Merge stage).
      const leader = await c.leader();
      const target = c.ids.find((id) => id !== leader)!;
      // A transfer is abandoned if the target does not catch up within an election timeout (a
      // busy machine): ask again until leadership has moved.
      await waitFor(async () => {
        if ((await c.leader()) !== leader) return true;
        await admin.transferLeader(target);
        return false;
      }, 'leadership to move', 15_000, 500);
      await admin.put('t/live', 'after-change');
      const changed = await evaluate<{ value: string | null; path: string }>(page, `followerPage.get('t/live', 'linearizable')`);
      assert.equal([changed.value, changed.path], ['after-change', 'follower'], 'a read after the leader change sees the write made under the new leader');
      const events = (await evaluate<string[]>(page, 'followerPage.events()')).filter((e) => e.startsWith('t/live='));
      assert.equal(events, [...Array.from({ length: 5 }, (_, i) => `t/live=w${i}`), 't/live=after-change'], 'change events reach the page, each once, in order');
      const before = await evaluate<ReplicaStatus>(page, 'followerPage.status()');
      assert.ok(before.fetchedEntries >= 100, `the fresh tab fetched the log (${before.fetchedEntries} entries)`);
      await evaluate(page, 'followerPage.close()');

      await page.reload();
      const again = await evaluate<ReplicaStatus>(page, `followerPage.join(${JSON.stringify(peers)}, ${JSON.stringify(token)})`);
      assert.ok(again.applied >= before.applied - 1 && again.applied > 100, `after a reload the tab resumes at ${again.applied} (was ${before.applied}), not from scratch`);
      await admin.put('t/after-reload', 'yes');
      const r = await evaluate<{ value: string | null }>(page, `followerPage.get('t/after-reload', 'linearizable')`);
      assert.is(r.value, 'yes');
      const after = await evaluate<ReplicaStatus>(page, 'followerPage.status()');
      assert.ok(after.resumedFrom > 100 && after.resumedFrom >= before.applied - 1, `it resumed from ${after.resumedFrom} (was at ${before.applied})`);
      assert.ok(after.fetchedEntries < 20, `after the reload it fetched ${after.fetchedEntries} entries, not the log of ${after.applied}`);
      await evaluate(page, 'followerPage.close()');
    } finally {
      await browser.close();
      await served.close();
      await admin.close();
    }
  });
});

test.run();
