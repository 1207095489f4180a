// Child processes for the end-to-end tests: the `edgeraft` CLI run under tsx (no build needed),
// free loopback ports, and polling. Every child spawned here is tracked and SIGKILLed if the test
// process exits first; nothing else is ever signalled. Peers are spawned by the local-cluster
// harness (src/runtime-node/local-cluster.ts, through cluster.ts), which does the same for them.

import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePorts } from '../../src/runtime-node/local-cluster.ts';

export { freePorts } from '../../src/runtime-node/local-cluster.ts';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const cliPath = join(repoRoot, 'src/runtime-node/cli.ts');
/** Node flags that run cliPath from source. */
export const cliNodeArgs: readonly string[] = ['--import', 'tsx'];

export interface CliResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** A CLI run as an assertion message: exit code or signal, then both streams. */
export function explain(r: CliResult): string {
  return `exit ${r.code}${r.signal !== null ? ` (${r.signal})` : ''}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
}

/** The error `p` fails with; throws if it succeeds. */
export async function rejects(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected the call to fail, but it succeeded');
}

const liveChildren = new Set<ChildProcess>();
let exitHookInstalled = false;

/** Spawns `node --import tsx src/runtime-node/cli.ts ...args` from the repo root, tracked. */
export function spawnCli(args: readonly string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  const child = spawn(process.execPath, [...cliNodeArgs, cliPath, ...args], {
    cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'], env: { ...hermeticEnv(), ...env },
  });
  liveChildren.add(child);
  child.once('exit', () => liveChildren.delete(child));
  child.once('error', () => liveChildren.delete(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const c of liveChildren) c.kill('SIGKILL');
    });
  }
  return child;
}

/** The test's environment minus EDGERAFT_* (the CLI reads peers, token and cluster from them). */
export function hermeticEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { FORCE_COLOR: '0', NO_COLOR: '1' };
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('EDGERAFT_') && !(k in env)) env[k] = v;
  return env;
}

/**
 * Runs the CLI with `args` and collects its output. SIGKILLed after `timeoutMs` (the result
 * then has signal SIGKILL).
 */
export function runCli(args: readonly string[], options: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
  const child = spawnCli(args, options.env);
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 30_000);
  return new Promise((res, rej) => {
    child.once('error', (err) => { clearTimeout(timer); rej(err); });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      res({ code, signal, stdout, stderr });
    });
  });
}

/** A port free now, below the kernel's ephemeral range (see freePorts in local-probe.ts). */
export async function freePort(): Promise<number> {
  return (await freePorts(1))[0]!;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Thrown by a waitFor() condition to stop waiting at once (other errors are retried). */
export class WaitAborted extends Error {
  override readonly name = 'WaitAborted';
}

/**
 * Polls `cond` until it returns true and resolves with the ms it took; throws naming `what` (and
 * the last error `cond` threw) after `timeoutMs`, or at once if `cond` throws WaitAborted.
 */
export async function waitFor(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000, intervalMs = 50): Promise<number> {
  const started = Date.now();
  let last: unknown = null;
  for (;;) {
    try {
      if (await cond()) return Date.now() - started;
      last = null;
    } catch (err) {
      if (err instanceof WaitAborted) throw err;
      last = err;
    }
    if (Date.now() - started >= timeoutMs) {
      const why = last === null ? '' : ` (last error: ${(last as Error).message ?? String(last)})`;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${why}`);
    }
    await sleep(intervalMs);
  }
}
