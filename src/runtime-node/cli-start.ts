// `edgeraft start` (what `npm start` runs): a local cluster as child processes of this one, each
// logging to its own file, plus the demo page and a few process-control endpoints on one small
// HTTP server. Everything lives under --dir, so running it again resumes from disk.

import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mintToken } from '../transport/token.ts';
import { integer, opt, parse, UsageError } from './cli-args.ts';
import { devHostsDefault, writeDevCertificates } from './cli-cert.ts';
import { ensureSecretFile, LocalCluster, portFree, type ExitInfo, type LineSource, type LocalTls } from './local-cluster.ts';
import { serveStatic } from './static.ts';

const cluster = 'edgeraft';
const peersMax = 9;
/** How long a member has to exit after SIGTERM before it is killed. */
const stopGraceMs = 5000;
const pageTokenTtlMs = 24 * 3_600_000;
/** A tab's id (kept in its sessionStorage): its replica's subject is `tab-<id>`. */
const tabIdPattern = /^[a-z0-9]{1,32}$/;
/** A dead member makes the others warn on every dial: show each warning at most this often. */
const warnRepeatMs = 30_000;
/** Distinct warnings remembered for that; past it they are forgotten (and may show again). */
const warnKeysMax = 256;
/** Browsers cannot send this header cross-origin without a preflight we never answer. */
const controlHeader = 'x-edgeraft-control';

export const startHelp = `usage: edgeraft start [--dir .edgeraft] [--port 7000] [--peers 3] [--tls]

Runs a local cluster on 127.0.0.1 as child processes (members n1..nN on ports PORT+1..PORT+N)
and serves a web page at http://127.0.0.1:PORT/ to watch it, use it and break it. Data, the
cluster secret and one log file per member live under --dir: run it again to resume from disk.
Ctrl-C stops everything.

  --dir DIR     data directory (default .edgeraft)
  --port N      port of the web page; members take the next N ports (default 7000)
  --peers N     number of members, 1..${peersMax} (default 3; fixed once the directory exists)
  --tls         members serve wss:// and https://, and the page https://, with a throwaway CA
                and certificate written to DIR/tls (\`edgeraft cert --dev\`); it prints how to
                trust that CA. Fixed once the directory exists (members' addresses are wss://).
`;

/** What a directory was created with: the members' addresses are part of the cluster's state. */
interface Layout {
  readonly format: 1;
  readonly port: number;
  readonly peers: number;
  /** Created with --tls (absent in directories from before TLS: false). */
  readonly tls?: boolean;
}

export async function runStart(argv: readonly string[]): Promise<number> {
  const { values } = parse(argv, {
    dir: { type: 'string' }, port: { type: 'string' }, peers: { type: 'string' }, tls: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
  });
  if (values.help === true) {
    process.stdout.write(startHelp);
    return 0;
  }
  const dir = resolve(opt(values, 'dir') ?? '.edgeraft');
  const { layout, fresh } = readLayout(dir, opt(values, 'port'), opt(values, 'peers'), values.tls === true);
  const webRoot = findWebRoot();
  if (webRoot === null) throw new Error('the demo page is not built (no dist/demo/index.html): run `node build.mjs` first (npm start does)');
  const secret = ensureSecret(dir);
  const tls = layout.tls === true ? ensureCertificates(dir) : null;
  const cli = process.argv[1];
  if (cli === undefined) throw new Error('cannot tell which edgeraft CLI file is running (process.argv[1] is empty)');
  const supervisor = new Supervisor(dir, layout, secret, webRoot, fresh, cli, tls);
  await supervisor.listen();
  try {
    for (let i = 1; i <= layout.peers; i++) {
      if (!(await portFree(layout.port + i))) throw new Error(`port ${layout.port + i} (for n${i}) is in use: ${supervisor.portHint}`);
    }
  } catch (err) {
    await supervisor.closeServer();
    throw err;
  }
  if (fresh) writeFileSync(join(dir, 'layout.json'), `${JSON.stringify(layout)}\n`);
  // A crash of this process must not leave members running (they would hold the ports and data):
  // the harness SIGKILLs them when this process exits, and so does a second Ctrl-C.
  const signalled = untilSignal(() => supervisor.killAll());
  supervisor.startAll();
  process.stdout.write(`edgeraft start: ${layout.peers} members, ${fresh ? 'a new cluster' : 'resuming from disk'} in ${shown(dir)}\n`);
  for (const id of supervisor.ids) {
    const c = supervisor.cluster;
    process.stdout.write(`  ${id}  ${c.url(id)}  pid ${c.pid(id) ?? '-'}  log ${shown(c.logPath(id))}\n`);
  }
  process.stdout.write(`web page: ${tls !== null ? 'https' : 'http'}://127.0.0.1:${layout.port}/   (Ctrl-C stops everything)\n`);
  if (tls !== null) process.stdout.write(trustHint(tls, layout, dir));
  await signalled;
  process.stdout.write('stopping the cluster…\n');
  await supervisor.shutdown();
  process.stdout.write('stopped\n');
  return 0;
}

function readLayout(dir: string, portText: string | undefined, peersText: string | undefined, tls: boolean): { layout: Layout; fresh: boolean } {
  const path = join(dir, 'layout.json');
  if (!existsSync(path)) {
    const peers = integer(peersText, 'peers', 3, 1, peersMax);
    return { layout: { format: 1, port: integer(portText, 'port', 7000, 1, 65535 - peers), peers, ...(tls ? { tls } : {}) }, fresh: true };
  }
  let stored: Layout;
  try {
    stored = JSON.parse(readFileSync(path, 'utf8')) as Layout;
  } catch (err) {
    throw new Error(`${path} is unreadable (${(err as Error).message}): fix it or remove ${dir}`);
  }
  if (!Number.isInteger(stored.port) || !Number.isInteger(stored.peers)) throw new Error(`${path} must hold {"port": N, "peers": N}`);
  for (const [flag, text, was] of [['port', portText, stored.port], ['peers', peersText, stored.peers]] as const) {
    if (text !== undefined && integer(text, flag, was, 1, 65535) !== was) {
      throw new UsageError(`--${flag} ${text} differs from the ${was} that ${dir} was created with (members' addresses are part of the cluster): use --${flag} ${was}, or a new --dir`);
    }
  }
  if (tls && stored.tls !== true) {
    throw new UsageError(`${dir} was created without --tls (its members' addresses are ws://, kept in the cluster's log): use a new --dir for a TLS cluster`);
  }
  return { layout: stored, fresh: false };
}

/** DIR/tls: the dev CA and certificate, written on the first --tls run and reused after. */
function ensureCertificates(dir: string): LocalTls {
  const tlsDir = join(dir, 'tls');
  const files = { certFile: join(tlsDir, 'cert.pem'), keyFile: join(tlsDir, 'key.pem'), caFile: join(tlsDir, 'ca.pem') };
  if (Object.values(files).every((f) => existsSync(f))) return files;
  const made = writeDevCertificates(tlsDir, { hosts: devHostsDefault, days: 825, force: true });
  return { certFile: made.certFile, keyFile: made.keyFile, caFile: made.caFile };
}

/** How to trust the throwaway CA: the browser (for the page and its wss://) and the CLI. */
function trustHint(tls: LocalTls, layout: Layout, dir: string): string {
  return `TLS: certificates from a throwaway CA, ${shown(tls.caFile)}. Browsers do not trust it: import it as an
  authority (Chrome: Settings > Privacy and security > Security > Manage certificates; Firefox:
  Settings > Privacy & Security > Certificates > View Certificates > Authorities > Import), or
  open the page and each member (https://127.0.0.1:${layout.port + 1}/healthz ...) once and accept the
  warning. The CLI: edgeraft status --peers 127.0.0.1:${layout.port + 1} --ca ${shown(tls.caFile)} --secret-file ${shown(join(dir, 'secret'))}
`;
}

/** dist/demo beside the bundled CLI (dist/node/cli.js), or from the source tree under tsx. */
function findWebRoot(): string | null {
  for (const rel of ['../demo/', '../../dist/demo/']) {
    const dir = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(join(dir, 'index.html'))) return dir;
  }
  return null;
}

/** Reads DIR/secret, or writes a new random one (mode 0600) on the first run. */
function ensureSecret(dir: string): string {
  mkdirSync(dir, { recursive: true });
  const { secret, warning } = ensureSecretFile(join(dir, 'secret'));
  if (warning !== null) process.stderr.write(`edgeraft start: warning: ${warning}\n`);
  return secret;
}

/** Resolves on the first SIGINT, SIGTERM or SIGHUP; a second one calls `again` (kill everything now). */
function untilSignal(again: () => void): Promise<void> {
  return new Promise((resolveSignal) => {
    let seen = false;
    const on = () => {
      if (seen) again();
      seen = true;
      resolveSignal();
    };
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, on);
  });
}

/** Node flags for the children: the same loader (e.g. `--import tsx`), but no second debugger. */
function nodeFlags(): string[] {
  return process.execArgv.filter((a) => !a.startsWith('--inspect'));
}

/** A path as the user would type it: relative below the working directory, else absolute. */
function shown(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel === '' ? '.' : rel.startsWith('..') ? path : rel;
}

function clock(): string {
  return new Date().toTimeString().slice(0, 8);
}

class Supervisor {
  readonly ids: readonly string[];
  readonly cluster: LocalCluster;
  readonly #layout: Layout;
  readonly #secret: string;
  readonly #webRoot: string;
  readonly #server: Server | HttpsServer;
  readonly #warned = new Map<string, number>();
  /** Why we signalled a member; absent while its exit would be a surprise. */
  readonly #expectExit = new Map<string, string>();
  /** The last warning or error of each member's current run, to say why it died. */
  readonly #lastProblem = new Map<string, string>();
  /** Control requests per member, one at a time. */
  readonly #queues = new Map<string, Promise<unknown>>();
  /** What to do about a port in use. */
  readonly portHint: string;
  #shuttingDown = false;

  constructor(dir: string, layout: Layout, secret: string, webRoot: string, fresh: boolean, cli: string, tls: LocalTls | null) {
    this.#layout = layout;
    this.portHint = fresh ? 'pick another --port'
      : `stop what uses it (the cluster in ${shown(dir)} was created with --port ${layout.port}, so it needs ports ${layout.port}..${layout.port + layout.peers})`;
    this.#secret = secret;
    this.#webRoot = webRoot;
    // Members run detached (their own process group: Ctrl-C in a terminal reaches only this
    // supervisor, which then stops each member exactly once, as a peer takes a second signal as
    // "exit now") with --exit-with-parent (their stdin closes if this process dies, even by SIGKILL).
    this.cluster = new LocalCluster({
      size: layout.peers, dir, ports: Array.from({ length: layout.peers }, (_, i) => layout.port + i + 1), cli, nodeArgs: nodeFlags(),
      args: ['--faults'], limits: { stopGraceMs }, ...(tls !== null ? { tls } : {}),
      onLine: (id, line, source) => this.#onLine(id, line, source), onExit: (id, exit) => this.#exited(id, exit),
    });
    this.ids = this.cluster.ids;
    const onRequest = (req: IncomingMessage, res: ServerResponse) => void this.#onHttp(req, res).catch((err: Error) => {
      if (!res.headersSent) json(res, 500, { error: err.message });
    });
    // A page served over https:// may open only wss:// (browsers block mixed content).
    this.#server = tls !== null
      ? createHttpsServer({ cert: readFileSync(tls.certFile, 'utf8'), key: readFileSync(tls.keyFile, 'utf8') }, onRequest)
      : createServer(onRequest);
  }

  listen(): Promise<void> {
    return new Promise((resolveListen, reject) => {
      this.#server.once('error', (err: NodeJS.ErrnoException) => reject(err.code === 'EADDRINUSE'
        ? new Error(`port ${this.#layout.port} (the web page) is in use: ${this.portHint}`) : err));
      this.#server.listen(this.#layout.port, '127.0.0.1', () => resolveListen());
    });
  }

  closeServer(): Promise<void> {
    this.#server.closeAllConnections();
    return new Promise((resolveClose) => this.#server.close(() => resolveClose()));
  }

  startAll(): void {
    for (const id of this.ids) this.#launch(id);
  }

  /** SIGTERM to every member, SIGKILL to those still up after stopGraceMs, then close the page. */
  async shutdown(): Promise<void> {
    this.#shuttingDown = true;
    for (const id of this.ids) this.#expectExit.set(id, 'shutdown');
    await this.cluster.close();
    await this.closeServer();
  }

  killAll(): void {
    this.cluster.killAll();
  }

  #say(id: string, text: string): void {
    process.stdout.write(`${clock()} [${id}] ${text}\n`);
  }

  /**
   * Spawns the member without waiting for it: one that fails to start is reported by #exited and
   * shows as down on the page. Crashed members stay down until restarted from the page, so a
   * member that dies at once cannot spin.
   */
  #launch(id: string): void {
    this.#expectExit.delete(id);
    this.#lastProblem.set(id, '');
    this.cluster.launch(id);
  }

  #onLine(id: string, line: string, source: LineSource): void {
    if (source === 'harness') return;
    const note = this.#notable(id, line);
    if (note === null) return;
    if (note.problem) this.#lastProblem.set(id, note.text);
    if (note.show) this.#say(id, note.text);
  }

  /** What of a member's log line the console shows: leader changes, warnings (rate-limited), errors. */
  #notable(id: string, line: string): { text: string; show: boolean; problem: boolean } | null {
    let rec: { level?: unknown; msg?: unknown; term?: unknown };
    try {
      rec = JSON.parse(line) as typeof rec;
    } catch {
      // Plain lines are the peer's last words (a failed start, a fatal error).
      return line.trim() === '' ? null : { text: line.trim(), show: true, problem: true };
    }
    const msg = String(rec.msg);
    if (msg === 'now leader') return { text: `leader of term ${String(rec.term)}`, show: true, problem: false };
    if (msg.startsWith('fault injection') || msg.startsWith('membership change')) return { text: msg, show: true, problem: false };
    if (rec.level === 'error') return { text: `error: ${msg}`, show: true, problem: true };
    if (rec.level !== 'warn') return null;
    const now = Date.now();
    const key = `${id} ${msg}`;
    const fresh = now - (this.#warned.get(key) ?? -Infinity) >= warnRepeatMs;
    if (fresh) {
      if (this.#warned.size >= warnKeysMax) this.#warned.clear();
      this.#warned.set(key, now);
    }
    return { text: `warning: ${msg}`, show: fresh, problem: true };
  }

  #exited(id: string, exit: ExitInfo): void {
    if (exit.error !== undefined) this.#say(id, `could not start: ${exit.error}`);
    const how = exit.signal !== null ? exit.signal : `exit code ${exit.code ?? '?'}`;
    const expected = this.#expectExit.get(id);
    const lastProblem = this.#lastProblem.get(id) ?? '';
    if (this.#shuttingDown) {
      this.#say(id, `stopped (${how})`);
    } else if (expected !== undefined) {
      this.#say(id, `${expected} (${how})`);
    } else {
      this.#say(id, `exited unexpectedly (${how})${lastProblem !== '' ? `: ${lastProblem}` : ''}; it shows as down on the page (restart it there); log: ${shown(this.cluster.logPath(id))}`);
    }
  }

  /** Signals the member's process and waits for it to exit (SIGTERM: SIGKILL after stopGraceMs). */
  async #stop(id: string, signal: 'SIGTERM' | 'SIGKILL', why: string): Promise<void> {
    if (!this.cluster.isRunning(id)) return;
    this.#expectExit.set(id, why);
    if (signal === 'SIGKILL') await this.cluster.kill(id);
    else await this.cluster.stop(id);
  }

  async #control(id: string, action: string): Promise<{ status: number; body: Record<string, unknown> }> {
    const state = () => ({ peer: id, action, pid: this.cluster.pid(id), running: this.cluster.isRunning(id) });
    if (action === 'restart') {
      await this.#stop(id, 'SIGTERM', 'stopped for a restart');
      // Ctrl-C while it stopped: starting it now would outlive the supervisor.
      if (this.#shuttingDown) return { status: 503, body: { ...state(), error: 'the cluster is shutting down' } };
      this.#launch(id);
      this.#say(id, `restarted (pid ${this.cluster.pid(id) ?? '-'})`);
      return { status: 200, body: state() };
    }
    if (!this.cluster.isRunning(id)) return { status: 409, body: { ...state(), error: `${id} is not running` } };
    if (action === 'kill') await this.#stop(id, 'SIGKILL', 'killed from the page');
    else await this.#stop(id, 'SIGTERM', 'stopped from the page');
    return { status: 200, body: state() };
  }

  async #onHttp(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // Only this machine's names: a DNS-rebinding page must not read the admin token.
    const host = req.headers.host;
    if (host !== `127.0.0.1:${this.#layout.port}` && host !== `localhost:${this.#layout.port}`) {
      json(res, 403, { error: `unexpected Host header ${JSON.stringify(host ?? '')}` });
      return;
    }
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (url.pathname.startsWith('/control/')) {
      await this.#onControl(req, res, url);
    } else if (req.method !== 'GET') {
      res.writeHead(405, { allow: 'GET' }).end('only GET here\n');
    } else if (url.pathname === '/config.json') {
      json(res, 200, await this.#config());
    } else if (url.pathname === '/token') {
      await this.#tabToken(res, url.searchParams.get('tab') ?? '');
    } else if (url.pathname === '/favicon.ico') {
      res.writeHead(204).end();
    } else {
      await serveStatic(this.#webRoot, url.pathname, res);
    }
  }

  async #onControl(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const action = url.pathname.slice('/control/'.length);
    if (action !== 'kill' && action !== 'restart' && action !== 'stop') {
      json(res, 404, { error: `unknown control action '${action}' (kill, restart or stop)` });
      return;
    }
    if (req.method !== 'POST') {
      res.writeHead(405, { allow: 'POST' }).end(`POST /control/${action}?peer=ID\n`);
      return;
    }
    if (req.headers[controlHeader] !== '1') {
      json(res, 403, { error: `control requests need the header ${controlHeader}: 1` });
      return;
    }
    const id = url.searchParams.get('peer') ?? '';
    if (!this.ids.includes(id)) {
      json(res, 400, { error: `unknown peer '${id}' (one of ${this.ids.join(', ')})` });
      return;
    }
    if (this.#shuttingDown) {
      json(res, 503, { error: 'the cluster is shutting down' });
      return;
    }
    const done = (this.#queues.get(id) ?? Promise.resolve()).then(() => this.#control(id, action));
    this.#queues.set(id, done.catch(() => {}));
    const r = await done;
    json(res, r.status, r.body);
  }

  async #config(): Promise<Record<string, unknown>> {
    const expMs = Date.now() + pageTokenTtlMs;
    return {
      cluster, tokenExpMs: expMs,
      token: await mintToken(this.#secret, { role: 'admin', sub: 'demo-page', cluster, expMs }),
      members: this.ids.map((id) => ({ id, url: this.cluster.url(id), pid: this.cluster.pid(id), running: this.cluster.isRunning(id) })),
    };
  }

  /**
   * A token for one tab's follower-reader. Each tab needs its own subject: the replica's IndexedDB
   * database is named after it and a Web Lock lets only one tab hold it. Role 'client', so the
   * tab may also write through its replica.
   */
  async #tabToken(res: ServerResponse, tab: string): Promise<void> {
    if (!tabIdPattern.test(tab)) {
      json(res, 400, { error: `tab id ${JSON.stringify(tab.slice(0, 40))} must be 1 to 32 characters of a-z and 0-9: GET /token?tab=ID` });
      return;
    }
    const expMs = Date.now() + pageTokenTtlMs;
    const sub = `tab-${tab}`;
    json(res, 200, { cluster, sub, tokenExpMs: expMs, token: await mintToken(this.#secret, { role: 'client', sub, cluster, expMs }) });
  }
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(`${JSON.stringify(body)}\n`);
}
