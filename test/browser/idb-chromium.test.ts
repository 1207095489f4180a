// IdbStore in real headless Chromium: a Ready's writes, overwrite, compaction and overlapping
// saves survive a page reload; a second tab of the same origin is refused the same member through
// Web Locks until the first tab closes; clusters and members get separate databases.
// Without Chromium its tests are registered as skipped (and counted so), saying why.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Page } from 'playwright-core';
import { unless } from '../requires.ts';
import { evaluate, findChromium, launchBrowser, servePage } from './chromium.ts';
import type { LaunchedBrowser, ServedPage } from './chromium.ts';
import type { LogSummary, Outcome } from './idb-page.ts';

const test = suite('IdbStore in Chromium');
const executablePath = findChromium();

const it = unless(test, executablePath === null ? 'no Chromium (apt-get install -y chromium)' : null);
{
  let browser: LaunchedBrowser | null = null;
  let served: ServedPage | null = null;

  if (executablePath !== null) {
    test.before(async () => {
      served = await servePage({ bundleEntry: new URL('./idb-page.ts', import.meta.url).pathname, title: 'IdbStore test' });
      browser = await launchBrowser({ executablePath });
    });
    test.after(async () => {
      await browser?.close();
      await served?.close();
    });
  }

  async function openTab(): Promise<Page> {
    assert.ok(browser !== null && served !== null, 'browser launched');
    const page = await browser.newPage();
    await page.goto(served.url);
    await page.waitForFunction('globalThis.idbPage !== undefined', undefined, { timeout: 10_000 });
    return page;
  }

  // The state test/browser/idb-page.ts write() leaves: snapshot at 8, entries 9..14 of term 1,
  // 15..17 overwritten with term 2 (its stale 18..20 deleted), then 18..25 of term 2.
  const expectedEntries: Array<[number, number]> = [
    ...Array.from({ length: 6 }, (_, k): [number, number] => [9 + k, 1]),
    ...Array.from({ length: 11 }, (_, k): [number, number] => [15 + k, 2]),
  ];

  it('a Ready-by-Ready history survives a page reload with the store left open', async () => {
    const page = await openTab();
    assert.ok(await evaluate<boolean>(page, 'idbPage.hasWebLocks()'), 'Web Locks present on 127.0.0.1');
    const written = await evaluate<{ before: LogSummary; after: LogSummary; order: number[]; durabilities: string[]; databaseName: string }>(
      page, "idbPage.write('c1', 'm1')");
    assert.equal(written.before.entries, []);
    assert.is(written.before.snapshot, null);
    assert.equal(written.order, [18, 19, 20, 21, 22, 23, 24, 25], 'overlapping saves resolve in call order');
    assert.equal(written.after.entries, expectedEntries);
    assert.equal(written.after.snapshot, { index: 8, term: 1, dataOk: true });
    assert.equal(written.after.hardState, { term: 2, vote: 'b', commit: 10 });
    assert.ok(written.after.dataOk, 'entry bytes');
    assert.ok(written.durabilities.length >= 4, `readwrite transactions: ${written.durabilities.length}`);
    assert.ok(written.durabilities.every((d) => d === 'strict'), `durabilities: ${written.durabilities.join(',')}`);
    assert.is(written.databaseName, 'edgeraft:c1:m1');

    await page.reload();
    await page.waitForFunction('globalThis.idbPage !== undefined', undefined, { timeout: 10_000 });
    const reloaded = await evaluate<LogSummary>(page, "idbPage.read('c1', 'm1')");
    assert.equal(reloaded, written.after);
    await page.close();
  });

  it('a second tab is refused the member (Web Locks) until the first tab closes', async () => {
    const first = await openTab();
    const second = await openTab();
    assert.equal(await evaluate<Outcome>(first, "idbPage.tryOpen('c1', 'locked')"), { ok: true });
    const refused = await evaluate<Outcome>(second, "idbPage.tryOpen('c1', 'locked')");
    assert.is(refused.ok ? 'ok' : refused.code, 'ERR_STORE_LOCKED');
    assert.match(refused.ok ? '' : refused.message, 'another tab');
    assert.equal(await evaluate<Outcome>(second, "idbPage.tryOpen('c1', 'other')"), { ok: true }, 'another member opens');
    await first.close();
    // Closing the tab releases its lock; Chromium does that asynchronously, so poll briefly.
    let after: Outcome = refused;
    for (let attempt = 0; attempt < 50 && !after.ok; attempt += 1) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      after = await evaluate<Outcome>(second, "idbPage.tryOpen('c1', 'locked')");
    }
    assert.equal(after, { ok: true }, 'opens once the first tab is gone');
    await second.close();
  });

  it('clusters and members each get their own database', async () => {
    const page = await openTab();
    await evaluate(page, "idbPage.fill('iso-1', 'a', 3, 1)");
    await evaluate(page, "idbPage.fill('iso-1', 'b', 5, 2)");
    await evaluate(page, "idbPage.fill('iso-2', 'a', 7, 3)");
    const names = await evaluate<string[]>(page, 'idbPage.databases()');
    for (const name of ['edgeraft:iso-1:a', 'edgeraft:iso-1:b', 'edgeraft:iso-2:a']) assert.ok(names.includes(name), `${name} in ${names.join(', ')}`);
    const cases: Array<[string, string, number, number]> = [['iso-1', 'a', 3, 1], ['iso-1', 'b', 5, 2], ['iso-2', 'a', 7, 3]];
    for (const [cluster, member, n, term] of cases) {
      const got = await evaluate<LogSummary>(page, `idbPage.read(${JSON.stringify(cluster)}, ${JSON.stringify(member)})`);
      assert.equal(got.entries, Array.from({ length: n }, (_, k) => [k + 1, term]), `${cluster}/${member}`);
      assert.equal(got.hardState, { term, vote: member, commit: n });
    }
    await page.close();
  });
}

test.run();
