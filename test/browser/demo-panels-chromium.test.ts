// The demo page's watch and lock panels in real Chromium, against the `edgeraft start` cluster
// (three member processes and the page, as `npm start` runs them): a put through the console shows
// up in the watch panel with its revision and previous value; ERR_COMPACTED offers a reload that
// watches on; the watch resumes on another member when its member is killed; a lock is held with
// a fencing token and a countdown that keep-alives push back up; a second tab waits for it until
// the first releases; a lock whose keep-alives cannot get through (no majority) shows as lost.
// Screenshots go to test-results/demo/panels-*.png. Without Chromium every test is registered as
// skipped (counted so), and the reason is printed.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Page } from 'playwright-core';
import { findChromium, launchBrowser, type LaunchedBrowser } from './chromium.ts';
import { unless } from '../requires.ts';
import { freePortBlock, startSupervisor, type Supervisor } from '../e2e/supervisor.ts';

const test = suite('demo page: watch and lock panels');
const root = fileURLToPath(new URL('../../', import.meta.url));
const shots = join(root, 'test-results', 'demo');
const executablePath = findChromium();
const it = unless(test, executablePath === null ? 'no Chromium (apt-get install -y chromium): the demo page\'s watch and lock panels are not driven' : null);
/** Short, so that keep-alives (every third of it) land within the test's patience. */
const lockTtlS = 3;

interface Ctx {
  readonly running: Supervisor;
  readonly browser: LaunchedBrowser;
  readonly a: Page;
  readonly errors: string[];
}

const dir = mkdtempSync(join(tmpdir(), 'edgeraft-panels-'));
let ctx: Ctx | null = null;

function c(): Ctx {
  if (ctx === null) throw new Error('the suite did not start');
  return ctx;
}

const textOf = (testid: string) => `(document.querySelector('[data-testid="${testid}"]')?.textContent ?? '')`;
const stateOf = (panel: string) => `document.querySelector('[data-testid="${panel}"]')?.dataset.state`;
const text = async (page: Page, testid: string) => (await page.getByTestId(testid).first().textContent()) ?? '';

async function waitFor(page: Page, expression: string, what: string, timeoutMs = 15_000): Promise<void> {
  try {
    await page.waitForFunction(expression, undefined, { timeout: timeoutMs, polling: 100 });
  } catch (err) {
    await page.screenshot({ path: join(shots, 'panels-failed.png'), fullPage: true }).catch(() => {});
    throw new Error(`${what}: not seen within ${timeoutMs} ms (${(err as Error).message.split('\n')[0]}); `
      + `watch panel: ${await text(page, 'watch-fresh').catch(() => '?')} / ${await text(page, 'watch-result').catch(() => '?')}; `
      + `lock panel: ${await text(page, 'lock-result').catch(() => '?')}`);
  }
}

/** The watch-event row of `key` at `revision`, as the page lists it (null: not listed). */
async function eventRow(page: Page, key: string, revision: number): Promise<{ type: string; value: string; text: string } | null> {
  return page.evaluate(`(() => {
    const li = [...document.querySelectorAll('[data-testid="watch-event"]')].find((e) => e.dataset.key === ${JSON.stringify(key)} && e.dataset.revision === '${revision}');
    return li === undefined ? null : { type: li.dataset.type, value: li.dataset.value, text: li.textContent };
  })()`) as Promise<{ type: string; value: string; text: string } | null>;
}

async function openTab(browser: LaunchedBrowser, url: string, errors: string[]): Promise<Page> {
  const page = await browser.newPage();
  page.on('pageerror', (err) => errors.push(err.message));
  await page.setViewportSize({ width: 1100, height: 1400 });
  await page.goto(url);
  await waitFor(page, `${stateOf('watch-panel')} === 'idle' && ${stateOf('lock-panel')} === 'idle'`, 'the panels ready (the SDK connected)', 30_000);
  return page;
}

/** Puts through the page's console; returns the revision (log index) the console reports. */
async function putViaConsole(page: Page, key: string, value: string): Promise<number> {
  await page.getByTestId('kv-key').fill(key);
  await page.getByTestId('kv-value').fill(value);
  await page.getByTestId('kv-put').click();
  const expect = `put ${key} = ${JSON.stringify(value)}: committed at log index`;
  await waitFor(page, `${textOf('kv-result')}.startsWith(${JSON.stringify(expect)})`, `the console's answer to put ${key}`);
  const m = /committed at log index (\d+)/.exec(await text(page, 'kv-result'));
  assert.ok(m !== null, 'the console names the revision');
  return Number(m[1]);
}

test.before(async () => {
  if (executablePath === null) return;
  const r = spawnSync(process.execPath, ['build.mjs', '--quiet'], { cwd: root, encoding: 'utf8' });
  assert.is(r.status, 0, `node build.mjs failed:\n${r.stdout}${r.stderr}`);
  mkdirSync(shots, { recursive: true });
  const running = await startSupervisor(dir, await freePortBlock());
  const browser = await launchBrowser({ executablePath });
  const errors: string[] = [];
  ctx = { running, browser, a: await openTab(browser, running.url, errors), errors };
});

test.after(async () => {
  if (ctx !== null) {
    await ctx.browser.close();
    ctx.running.proc.kill('SIGINT');
    const timer = setTimeout(() => ctx?.running.proc.kill('SIGKILL'), 15_000);
    await ctx.running.exited;
    clearTimeout(timer);
  }
  rmSync(dir, { recursive: true, force: true });
});

it('watch: a put through the console appears with its revision and the previous value; other prefixes do not', async () => {
  const { a } = c();
  await a.getByTestId('watch-prefix').fill('demo/');
  await a.getByTestId('watch-start').click();
  await waitFor(a, `${stateOf('watch-panel')} === 'watching' && ${textOf('watch-fresh')}.startsWith('fresh as of revision ')`, 'the watch confirmed by a member');
  assert.match(await text(a, 'watch-fresh'), /^fresh as of revision \d+, \d+\.\d s ago · streaming from n\d/);

  const first = await putViaConsole(a, 'demo/watched', 'first value');
  const outside = await putViaConsole(a, 'other/key', 'not watched');
  const second = await putViaConsole(a, 'demo/watched', 'second value');
  assert.ok(first < outside && outside < second, `revisions grow: ${first} < ${outside} < ${second}`);
  const listed = `[...document.querySelectorAll('[data-testid="watch-event"]')].some((e) => e.dataset.revision === '${second}')`;
  await waitFor(a, listed, `the watch row of revision ${second}`);
  const r1 = await eventRow(a, 'demo/watched', first);
  const r2 = await eventRow(a, 'demo/watched', second);
  assert.ok(r1 !== null, `revision ${first} is listed`);
  assert.equal([r1.type, r1.value], ['put', 'first value']);
  assert.match(r1.text, `@${first}`);
  assert.match(r1.text, '(new key)');
  assert.ok(r2 !== null, `revision ${second} is listed`);
  assert.equal([r2.type, r2.value], ['put', 'second value']);
  assert.match(r2.text, 'was "first value"', 'the previous value is shown');
  assert.is(await eventRow(a, 'other/key', outside), null, 'a key outside the prefix is not listed');
  const rows = await a.getByTestId('watch-event').all();
  assert.is(await rows[0]!.getAttribute('data-revision'), String(second), 'newest first');
  await waitFor(a, `Number(document.querySelector('[data-testid="watch-fresh"]').dataset.revision) >= ${second}`, 'the freshness line at the last revision');

  await a.getByTestId('kv-key').fill('demo/watched');
  await a.getByTestId('kv-delete').click();
  await waitFor(a, `[...document.querySelectorAll('[data-testid="watch-event"]')].some((e) => e.dataset.type === 'delete' && e.dataset.key === 'demo/watched')`, 'the delete listed');
  assert.match(await a.getByTestId('watch-event').first().textContent() ?? '', 'was "second value"');
  await a.screenshot({ path: join(shots, 'panels-01-watch.png'), fullPage: true });
});

it('watch: after a compaction, a watch from revision 1 shows ERR_COMPACTED and reload watches on', async () => {
  const { a } = c();
  await a.getByTestId('watch-compact').click();
  await waitFor(a, `${textOf('watch-result')}.startsWith('history compacted up to revision ')`, 'the compaction');
  const compacted = Number(/up to revision (\d+)/.exec(await text(a, 'watch-result'))![1]);
  await a.getByTestId('watch-from').fill('1');
  await a.getByTestId('watch-start').click();
  await waitFor(a, `${stateOf('watch-panel')} === 'compacted'`, 'the watch refused with ERR_COMPACTED');
  assert.ok(await a.getByTestId('watch-compacted').isVisible(), 'the compaction message shows');
  assert.match(await text(a, 'watch-compacted-text'), `ERR_COMPACTED`);
  assert.match(await text(a, 'watch-compacted-text'), `after ${compacted}`);
  await a.screenshot({ path: join(shots, 'panels-02-compacted.png'), fullPage: true });

  await a.getByTestId('watch-reload').click();
  await waitFor(a, `${stateOf('watch-panel')} === 'watching'`, 'watching again after the reload');
  assert.match(await text(a, 'watch-mark'), /^reloaded: \d+ keys? as of revision \d+/);
  assert.ok(!(await a.getByTestId('watch-compacted').isVisible()), 'the compaction message is gone');
  const rev = await putViaConsole(a, 'demo/after-reload', 'v');
  await waitFor(a, `[...document.querySelectorAll('[data-testid="watch-event"]')].some((e) => e.dataset.key === 'demo/after-reload' && e.dataset.revision === '${rev}')`, 'an event after the reload');
  await a.getByTestId('watch-from').fill('');
});

it('lock: held with a fencing token and a countdown that keep-alives push back up; a second tab waits until the first releases', async () => {
  const { a, browser, running, errors } = c();
  await a.getByTestId('lock-name').fill('panels');
  await a.getByTestId('lock-ttl').fill(String(lockTtlS));
  await a.getByTestId('lock-acquire').click();
  await waitFor(a, `${stateOf('lock-panel')} === 'held'`, 'the lock held in tab A');
  const tokenA = Number(await text(a, 'lock-token'));
  assert.ok(Number.isSafeInteger(tokenA) && tokenA > 0, `a fencing token: ${tokenA}`);
  const lease = /^(\d+) \(0x([0-9a-f]+)\)$/.exec(await text(a, 'lock-lease'));
  assert.ok(lease !== null, 'the lease id, in decimal and hex');
  assert.is(Number(lease[1]), parseInt(lease[2]!, 16));
  assert.match(await text(a, 'lock-result'), `fencing token ${tokenA}, key edgeraft/lock/panels/${lease[2]}, lease ${lease[1]} (TTL 3.0 s, margin 0.3 s)`);

  // The countdown runs down, and jumps back up when a keep-alive (every TTL / 3) is acknowledged.
  const readings: number[] = [];
  for (let i = 0; i < 40; i++) {
    readings.push(Number(await a.getByTestId('lock-countdown').getAttribute('data-remaining-ms')));
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(readings.every((ms) => ms > 0 && ms <= lockTtlS * 1000), `the countdown stays within (0, TTL]: ${readings.join(' ')}`);
  assert.ok(readings.some((ms, i) => i > 0 && ms < readings[i - 1]!), `the countdown goes down: ${readings.join(' ')}`);
  assert.ok(readings.some((ms, i) => i > 0 && ms > readings[i - 1]! + 200), `a keep-alive pushes it back up: ${readings.join(' ')}`);
  assert.ok(Number(await text(a, 'lock-renewals')) >= 2, 'keep-alives are counted');
  assert.match(await text(a, 'lock-acked'), /^sent \d+\.\d s ago$/);

  const b = await openTab(browser, running.url, errors);
  try {
    await b.getByTestId('lock-name').fill('panels');
    await b.getByTestId('lock-ttl').fill(String(lockTtlS));
    await b.getByTestId('lock-acquire').click();
    await waitFor(b, `${stateOf('lock-panel')} === 'waiting'`, 'tab B waiting');
    await new Promise((r) => setTimeout(r, 1500));
    assert.is(await b.getByTestId('lock-panel').getAttribute('data-state'), 'waiting', 'tab B still waits while A holds the lock');
    assert.is(await a.getByTestId('lock-panel').getAttribute('data-state'), 'held', 'tab A still holds it');
    await a.screenshot({ path: join(shots, 'panels-03-lock-held.png'), fullPage: true });

    await a.getByTestId('lock-release').click();
    await waitFor(a, `${stateOf('lock-panel')} === 'released'`, 'tab A released');
    await waitFor(b, `${stateOf('lock-panel')} === 'held'`, 'tab B holding the lock after A released it');
    const tokenB = Number(await text(b, 'lock-token'));
    assert.ok(tokenB > tokenA, `the fencing token grows from holder to holder: ${tokenA} then ${tokenB}`);
    await b.screenshot({ path: join(shots, 'panels-04-lock-handed-over.png'), fullPage: true });
    await b.getByTestId('lock-release').click();
    await waitFor(b, `${stateOf('lock-panel')} === 'released'`, 'tab B released');
  } finally {
    await b.close();
  }
});

it('kill buttons: the watch resumes on another member; without a majority the lock is lost', async () => {
  const { a, errors } = c();
  await a.getByTestId('watch-prefix').fill('demo/');
  await a.getByTestId('watch-start').click();
  await waitFor(a, `/streaming from n\\d/.test(${textOf('watch-fresh')})`, 'the watch streaming');
  const served = /streaming from (n\d)/.exec(await text(a, 'watch-fresh'))![1]!;
  await a.getByTestId(`kill-${served}`).click();
  await waitFor(a, `${textOf('watch-note')}.startsWith('resumed from revision ')`, `the watch resumed after ${served} was killed`, 20_000);
  assert.not.match(await text(a, 'watch-note'), ` on ${served} `, 'on another member');
  const rev = await putViaConsole(a, 'demo/after-kill', 'still watched');
  await waitFor(a, `[...document.querySelectorAll('[data-testid="watch-event"]')].some((e) => e.dataset.key === 'demo/after-kill' && e.dataset.revision === '${rev}')`, 'an event after the resume', 20_000);

  await a.getByTestId('lock-acquire').click();
  await waitFor(a, `${stateOf('lock-panel')} === 'held'`, 'the lock held with two members up', 20_000);
  const up = await a.evaluate(`[...document.querySelectorAll('.card[data-up="true"]')].map((e) => e.dataset.testid.slice('member-'.length))`) as string[];
  const second = up.find((id) => id !== served);
  assert.ok(second !== undefined, `another member is up besides ${served}: ${up.join(', ')}`);
  await a.getByTestId(`kill-${second}`).click();
  await waitFor(a, `${stateOf('lock-panel')} === 'lost'`, 'the lock lost without a majority', lockTtlS * 1000 + 10_000);
  assert.match(await text(a, 'lock-result'), /^LOST lock "panels" \(fencing token \d+\): ERR_LEASE_LOST/);
  assert.is(await text(a, 'lock-countdown'), 'lost');
  await a.screenshot({ path: join(shots, 'panels-05-lock-lost.png'), fullPage: true });

  // Leave the cluster whole, and the lock cleaned up.
  for (const id of [served, second]) await a.getByTestId(`restart-${id}`).click();
  for (const id of [served, second]) await waitFor(a, `document.querySelector('[data-testid="member-${id}"]')?.dataset.up === 'true'`, `${id} up again`, 30_000);
  await a.getByTestId('lock-release').click();
  await waitFor(a, `${stateOf('lock-panel')} === 'released'`, 'the lost lock cleaned up', 20_000);
  assert.equal(errors, [], 'no uncaught errors on the pages');
});

test.run();
