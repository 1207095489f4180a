// The demo page's follower-reader panel in real Chromium: two tabs of one browser (one origin, each
// with its own sessionStorage) each join the `edgeraft start` cluster as a replica of their own; a
// write in one tab shows up in the other's panel; a reload resumes from IndexedDB (resumed from > 0,
// few entries fetched); killing the leader from the page moves both replicas to the new leader; a
// duplicated tab (which copies sessionStorage, so the tab id) becomes a replica of its own.
// Screenshots of both tabs side by side go to test-results/demo/tabs-*.png.
// Without Chromium the tab test is registered as skipped (counted so); the token endpoint is still checked.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Page } from 'playwright-core';
import { connect } from '../../src/client/node.ts';
import { readClaims } from '../../src/transport/token.ts';
import { findChromium, launchBrowser, type LaunchedBrowser } from '../browser/chromium.ts';
import { unless } from '../requires.ts';
import { freePortBlock, startSupervisor, type Supervisor } from './supervisor.ts';

const test = suite('demo page: tabs as follower-readers');
const root = fileURLToPath(new URL('../../', import.meta.url));
const shots = join(root, 'test-results', 'demo');
const executablePath = findChromium();
/** Keys written before the reload, so that resuming visibly beats refetching. */
const bulkKeys = 40;

const dir = mkdtempSync(join(tmpdir(), 'edgeraft-tabs-'));
let running: Supervisor | null = null;

test.before(async () => {
  const r = spawnSync(process.execPath, ['build.mjs', '--quiet'], { cwd: root, encoding: 'utf8' });
  assert.is(r.status, 0, `node build.mjs failed:\n${r.stdout}${r.stderr}`);
  mkdirSync(shots, { recursive: true });
  running = await startSupervisor(dir, await freePortBlock());
});

test.after(async () => {
  if (running !== null) {
    running.proc.kill('SIGINT');
    const timer = setTimeout(() => running?.proc.kill('SIGKILL'), 15_000);
    await running.exited;
    clearTimeout(timer);
  }
  rmSync(dir, { recursive: true, force: true });
});

test('GET /token?tab=ID: a client token for subject tab-ID; bad ids and foreign hosts are refused', async () => {
  const s = running!;
  const res = await fetch(`${s.url}token?tab=abc123`);
  assert.is(res.status, 200);
  const body = (await res.json()) as { token: string; sub: string; cluster: string };
  assert.is(body.sub, 'tab-abc123');
  const claims = readClaims(body.token);
  assert.equal([claims.role, claims.sub, claims.cluster], ['client', 'tab-abc123', body.cluster]);
  for (const bad of ['', 'ABC', 'a-b', 'a'.repeat(33), '../x', 'a%20b']) {
    assert.is((await fetch(`${s.url}token?tab=${bad}`)).status, 400, `tab id ${JSON.stringify(bad)} is refused`);
  }
  const port = new URL(s.url).port;
  // A DNS-rebinding page reaches us under its own name: fetch() cannot set Host, so use http.request.
  const { request } = await import('node:http');
  const status = await new Promise<number>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/token?tab=abc', headers: { host: `evil.example:${port}` } }, (r) => {
      r.resume();
      resolve(r.statusCode ?? 0);
    });
    req.once('error', reject);
    req.end();
  });
  assert.is(status, 403, 'a foreign Host header is refused');
});

const text = (page: Page, testid: string) => page.getByTestId(testid).first().textContent().then((t) => t ?? '');
const textOf = (testid: string) => `(document.querySelector('[data-testid="${testid}"]')?.textContent ?? '')`;
/** True once the panel follows a leader (any member, or `not` excluded). */
const followsLeader = (not = '') => `document.querySelector('[data-testid="replica-panel"]')?.dataset.state === 'following'`
  + ` && /^n\\d$/.test(${textOf('replica-leader')}) && ${textOf('replica-leader')} !== '${not}'`;
const holds = (key: string, value: string) =>
  `[...document.querySelectorAll('[data-testid="replica-key"]')].some((li) => li.dataset.key === ${JSON.stringify(key)} && li.dataset.value === ${JSON.stringify(value)})`;

async function waitFor(page: Page, expression: string, what: string, timeoutMs = 15_000): Promise<void> {
  try {
    await page.waitForFunction(expression, undefined, { timeout: timeoutMs, polling: 100 });
  } catch (err) {
    await page.screenshot({ path: join(shots, 'tabs-failed.png'), fullPage: true }).catch(() => {});
    throw new Error(`${what}: not seen within ${timeoutMs} ms (${(err as Error).message.split('\n')[0]})`);
  }
}

/** Both tabs side by side in one image, each labelled, so a person sees them at once. */
async function shotBoth(browser: LaunchedBrowser, tabs: readonly Page[], name: string, labels = ['tab A', 'tab B']): Promise<void> {
  const images = await Promise.all(tabs.map(async (p) => (await p.screenshot({ fullPage: true })).toString('base64')));
  const sheet = await browser.newPage();
  try {
    await sheet.setViewportSize({ width: 2 * 1100 + 30, height: 400 });
    const cells = images.map((img, i) => `<figure><figcaption>${labels[i] ?? ''}</figcaption><img src="data:image/png;base64,${img}"></figure>`).join('');
    await sheet.setContent(`<style>body{margin:0;display:flex;gap:10px;padding:5px;background:#555;font:bold 16px system-ui}`
      + `figure{margin:0}figcaption{color:#fff;padding:4px}img{display:block;width:1100px}</style>${cells}`);
    await sheet.waitForFunction(`[...document.images].every((i) => i.complete)`);
    await sheet.screenshot({ path: join(shots, name), fullPage: true });
  } finally {
    await sheet.close();
  }
}

{
  const it = unless(test, executablePath === null ? 'no Chromium (apt-get install -y chromium): the two tabs are not driven' : null);
  it('two tabs: a write in one reaches the other; a reload resumes from IndexedDB; both follow a new leader', async () => {
    const browser = await launchBrowser({ executablePath: executablePath! });
    try {
      await twoTabs(browser, running!);
    } finally {
      await browser.close();
    }
  });
}

async function twoTabs(browser: LaunchedBrowser, s: Supervisor): Promise<void> {
  const errors: string[] = [];
  const tabs: Page[] = [];
  for (let i = 0; i < 2; i++) {
    const page = await browser.newPage();
    page.on('pageerror', (err) => errors.push(err.message));
    await page.setViewportSize({ width: 1100, height: 900 });
    await page.goto(s.url);
    tabs.push(page);
  }
  const [a, b] = tabs as [Page, Page];
  for (const [page, name] of [[a, 'A'], [b, 'B']] as const) await waitFor(page, followsLeader(), `tab ${name}'s replica following a leader`);
  const idA = await text(a, 'replica-id');
  const idB = await text(b, 'replica-id');
  assert.match(idA, /^tab-[a-z0-9]+$/);
  assert.match(idB, /^tab-[a-z0-9]+$/);
  assert.is.not(idA, idB, 'each tab is a replica of its own');
  await shotBoth(browser, tabs, 'tabs-01-two-tabs.png');

  // 1. A write through tab A's console (the SDK) appears in tab B's replica, and B reads it locally.
  await a.getByTestId('kv-key').fill('demo/from-a');
  await a.getByTestId('kv-value').fill('written in tab A');
  await a.getByTestId('kv-put').click();
  await waitFor(a, `${textOf('kv-result')}.includes('committed at log index')`, 'the put result in tab A');
  await waitFor(b, holds('demo/from-a', 'written in tab A'), "the key in tab B's replica");
  await b.getByTestId('replica-read-key').fill('demo/from-a');
  await b.getByTestId('replica-read').click();
  await waitFor(b, `${textOf('replica-read-result')}.startsWith('demo/from-a → "written in tab A" (linearizable')`, "tab B's linearizable local read");
  await shotBoth(browser, tabs, 'tabs-02-after-write.png');

  // 2. Enough entries that refetching would show, then reload tab B: it resumes from IndexedDB.
  const token = (await (await fetch(`${s.url}config.json`)).json() as { token: string; members: Array<{ url: string }> });
  const kv = await connect({ peers: token.members.map((m) => m.url), token: token.token, timeoutMs: 15_000 });
  let last = 0;
  try {
    for (let i = 0; i < bulkKeys; i++) last = (await kv.put(`bulk/${String(i).padStart(2, '0')}`, `v${i}`)).index;
  } finally {
    await kv.close();
  }
  await waitFor(b, `Number(${textOf('replica-applied')}) >= ${last}`, `tab B applied up to ${last}`);
  await b.reload();
  await waitFor(b, followsLeader(), "tab B's replica following again after the reload");
  assert.is(await text(b, 'replica-id'), idB, 'a reload keeps the tab id (sessionStorage)');
  const resumedFrom = Number(await text(b, 'replica-resumed-from'));
  const fetched = Number(await text(b, 'replica-fetched'));
  assert.ok(resumedFrom >= bulkKeys, `resumed from index ${resumedFrom} (>= ${bulkKeys}), not from scratch`);
  assert.ok(fetched * 4 < resumedFrom, `fetched ${fetched} entries after resuming from ${resumedFrom}: not the whole log again`);
  await waitFor(b, `${holds('demo/from-a', 'written in tab A')} && ${holds(`bulk/${bulkKeys - 1}`, `v${bulkKeys - 1}`)}`, 'the keys listed from IndexedDB after the reload');
  await shotBoth(browser, tabs, 'tabs-03-reloaded.png');

  // 3. Kill the leader from tab A's page: both replicas follow the new one.
  const old = await text(a, 'leader');
  assert.match(old, /^n\d$/);
  await a.getByTestId(`kill-${old}`).click();
  for (const [page, name] of [[a, 'A'], [b, 'B']] as const) await waitFor(page, followsLeader(old), `tab ${name}'s replica following a new leader (not ${old})`, 20_000);
  await a.getByTestId('kv-key').fill('demo/after-kill');
  await a.getByTestId('kv-value').fill('new leader');
  await a.getByTestId('kv-put').click();
  for (const [page, name] of [[a, 'A'], [b, 'B']] as const) await waitFor(page, holds('demo/after-kill', 'new leader'), `tab ${name}'s replica gets a write under the new leader`);
  const leaderA = await text(a, 'replica-leader');
  assert.is(await text(b, 'replica-leader'), leaderA, 'both replicas follow the same leader');
  assert.is(await text(a, 'leader'), leaderA, "the replicas follow the leader the page's cluster view shows");
  await shotBoth(browser, tabs, 'tabs-04-leader-killed.png');

  // 4. A duplicated tab starts with a copy of A's sessionStorage, so A's id: A holds that replica's
  // lock, so the copy takes an id of its own and fetches everything.
  const c = await browser.newPage();
  c.on('pageerror', (err) => errors.push(err.message));
  await c.addInitScript(`if (sessionStorage.getItem('edgeraft-demo-tab') === null) sessionStorage.setItem('edgeraft-demo-tab', ${JSON.stringify(idA.slice('tab-'.length))})`);
  await c.setViewportSize({ width: 1100, height: 900 });
  await c.goto(s.url);
  await waitFor(c, `${followsLeader()} && ${holds('demo/after-kill', 'new leader')}`, 'the duplicated tab following with a replica of its own');
  const idC = await text(c, 'replica-id');
  assert.match(idC, /^tab-[a-z0-9]+$/);
  assert.ok(idC !== idA && idC !== idB, `the duplicate became ${idC}, not ${idA}`);
  assert.is(await text(c, 'replica-resumed-from'), '0', 'a new replica starts from scratch');
  await shotBoth(browser, [a, c], 'tabs-05-duplicated-tab.png', ['tab A', 'tab C (a duplicate of A)']);
  assert.is(await text(a, 'replica-id'), idA, 'the original keeps its replica');

  // Leave the cluster whole for the supervisor's shutdown.
  await a.getByTestId(`restart-${old}`).click();
  await waitFor(a, `document.querySelector('[data-testid="member-${old}"]')?.dataset.up === 'true'`, `${old} up again`, 20_000);
  assert.equal(errors, [], 'no uncaught errors on either page');
}

test('SIGINT stops the supervisor and its members', async () => {
  const s = running!;
  s.proc.kill('SIGINT');
  const timer = setTimeout(() => s.proc.kill('SIGKILL'), 15_000);
  const { code } = await s.exited;
  clearTimeout(timer);
  running = null;
  assert.is(code, 0, `the supervisor exits 0:\n${s.output()}`);
});

test.run();
