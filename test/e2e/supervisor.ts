// The `edgeraft start` supervisor (the demo cluster: three member processes and the web page, as
// `npm start` runs them) for the tests that drive it: a block of free ports for it, and the
// supervisor itself spawned under tsx from the repo root, its output captured, started once it
// prints its page's URL. Stopping it (which signal, how long to wait) is left to each test.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));

export interface Supervisor {
  readonly proc: ChildProcess;
  /** The web page, e.g. http://127.0.0.1:7000/ (with the trailing slash; https:// with --tls). */
  readonly url: string;
  /** Everything it printed so far, stdout and stderr interleaved. */
  readonly output: () => string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Whether `port` can be bound on 127.0.0.1 right now. */
export async function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/** A port P with P..P+3 free (the page and three members). */
export async function freePortBlock(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    // Below the kernel's ephemeral range (32768+ here), so an outgoing connection of another test
    // cannot take one of these ports between this check and the members binding them.
    const base = 20_000 + Math.floor(Math.random() * 12_000);
    let ok = true;
    for (let i = 0; i <= 3 && ok; i++) ok = await isFree(base + i);
    if (ok) return base;
  }
  throw new Error('no block of 4 free ports found');
}

/**
 * Spawns `edgeraft start --dir DIR --port PORT [...args]` and resolves once it prints its page's
 * URL; if it exits first, or prints none within 30 s, it is sent SIGTERM and this rejects with its output.
 */
export async function startSupervisor(dir: string, port: number, args: readonly string[] = []): Promise<Supervisor> {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'src/runtime-node/cli.ts', 'start', '--dir', dir, '--port', String(port), ...args],
    { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  proc.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
  const deadline = Date.now() + 30_000;
  for (;;) {
    const m = /web page: (https?:\/\/127\.0\.0\.1:\d+\/)/.exec(out);
    if (m !== null) return { proc, url: m[1]!, output: () => out, exited };
    if (proc.exitCode !== null || Date.now() > deadline) {
      proc.kill('SIGTERM');
      throw new Error(`the supervisor printed no URL (exit ${proc.exitCode}):\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}
