// Real-browser harness for tests and benchmarks: find Debian's Chromium, launch it headless with a
// throwaway profile through playwright-core, and serve a page plus its esbuild bundle from a Node
// http server on 127.0.0.1 (a ws server can share that port later: `served.server`).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { chromium } from 'playwright-core';
import type { BrowserContext, Page } from 'playwright-core';

/** Where CI (`.ci/run`) installs Chromium. CHROMIUM_PATH overrides it. */
export const chromiumPath = '/usr/bin/chromium';

/** Flags for a quiet, sandbox-free headless run on a CI machine without network. */
export const chromiumFlags: readonly string[] = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** The Chromium executable, or null when this machine has none (tests then print a skip line). */
export function findChromium(): string | null {
  const path = process.env['CHROMIUM_PATH'] ?? chromiumPath;
  return existsSync(path) ? path : null;
}

/** `Chromium 156.0.8078.79`-style version of an executable, or 'unknown'. */
export function chromiumVersion(executablePath: string): string {
  const r = spawnSync(executablePath, ['--version'], { encoding: 'utf8', timeout: 10_000 });
  return r.stdout.trim().split('\n').at(-1)?.trim() || 'unknown';
}

export interface LaunchedBrowser {
  readonly context: BrowserContext;
  readonly executablePath: string;
  /** Opens a tab and forwards its console errors and uncaught exceptions to stderr. */
  newPage(): Promise<Page>;
  /** Closes the browser and deletes its profile. */
  close(): Promise<void>;
}

/**
 * Launches headless Chromium with a fresh profile. Pages of the returned context share one
 * origin's storage (IndexedDB, Web Locks), like tabs of one browser; launch again for a separate
 * profile.
 */
export async function launchBrowser(options: { executablePath?: string; timeoutMs?: number; args?: readonly string[] } = {}): Promise<LaunchedBrowser> {
  const executablePath = options.executablePath ?? findChromium();
  if (executablePath === null) throw new Error(`no Chromium at ${chromiumPath} (set CHROMIUM_PATH or apt-get install chromium)`);
  const profileDir = mkdtempSync(join(tmpdir(), 'edgeraft-chromium-'));
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(profileDir, {
      executablePath,
      headless: true,
      args: [...chromiumFlags, ...(options.args ?? [])],
      timeout: options.timeoutMs ?? 20_000,
    });
  } catch (err) {
    rmSync(profileDir, { recursive: true, force: true });
    throw err;
  }
  return {
    context,
    executablePath,
    async newPage() {
      const page = await context.newPage();
      page.on('pageerror', (err) => process.stderr.write(`[page error] ${err.message}\n`));
      page.on('console', (msg) => {
        if (msg.type() === 'error') process.stderr.write(`[page console] ${msg.text()}\n`);
      });
      return page;
    },
    async close() {
      await context.close().catch(() => undefined);
      rmSync(profileDir, { recursive: true, force: true });
    },
  };
}

export interface ServedPage {
  /** The page's URL, `http://127.0.0.1:<port>/` (https:// when served with a certificate). */
  readonly url: string;
  readonly server: Server | HttpsServer;
  close(): Promise<void>;
}

/**
 * Bundles `bundleEntry` for the browser with esbuild and serves it as /bundle.js, next to a page at
 * / that loads it as a module (or `html`, which should include `<script type="module" src="/bundle.js">`).
 */
export async function servePage(options: { bundleEntry: string; html?: string; title?: string; tls?: { cert: string; key: string } }): Promise<ServedPage> {
  const result = await build({
    entryPoints: [options.bundleEntry],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    write: false,
    sourcemap: 'inline',
    logLevel: 'silent',
  });
  const bundle = result.outputFiles[0]?.text;
  if (bundle === undefined) throw new Error(`esbuild produced no output for ${options.bundleEntry}`);
  const html = options.html ??
    `<!doctype html><meta charset="utf-8"><title>${options.title ?? 'edgeraft test'}</title><script type="module" src="/bundle.js"></script>`;
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
    if (path === '/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      res.end(html);
    } else if (path === '/bundle.js') {
      res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'no-store' });
      res.end(bundle);
    } else if (path === '/favicon.ico') {
      res.writeHead(204);
      res.end();
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found');
    }
  };
  const server = options.tls !== undefined ? createHttpsServer(options.tls, handler) : createServer(handler);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `${options.tls !== undefined ? 'https' : 'http'}://127.0.0.1:${port}/`,
    server,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

/**
 * Evaluates `expression` (a string, so tsx's `__name` helper never reaches the page) and returns
 * its JSON-serializable result.
 */
export async function evaluate<T>(page: Page, expression: string): Promise<T> {
  return (await page.evaluate(expression)) as T;
}
