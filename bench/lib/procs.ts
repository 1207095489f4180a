// The processes a benchmark starts, tracked by PID so that every one of them is stopped on the
// way out (normal end, error or Ctrl-C), plus what the parent reads about them from outside:
// CPU time and disk writes from /proc and a member's Prometheus metrics. Free ports and /metrics
// parsing are the local-cluster harness's (src/runtime-node/local-probe.ts), shared with the tests.

import { execFileSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { scrapeMetrics } from '../../src/runtime-node/local-probe.ts';

export { freePorts } from '../../src/runtime-node/local-probe.ts';

/** One GET /metrics of a member under load. */
const scrapeTimeoutMs = 5000;

export class ProcessGroup {
  readonly #procs = new Map<number, { readonly name: string; readonly child: ChildProcess }>();
  /** Rejects when a tracked process exits while it was still wanted. */
  readonly crashed: Promise<never>;
  #reject!: (err: Error) => void;
  #stopping = false;

  constructor() {
    this.crashed = new Promise<never>((_, reject) => { this.#reject = reject; });
    this.crashed.catch(() => {});
  }

  /** Tracks `child`; unless `exitIsCrash` is false (a tool that ends by itself), its exit before the end fails the benchmark. */
  add(name: string, child: ChildProcess, describe: () => string = () => '', exitIsCrash = true): void {
    const pid = child.pid;
    if (pid === undefined) throw new Error(`${name} did not start`);
    this.#procs.set(pid, { name, child });
    child.once('exit', (code, signal) => {
      const tracked = this.#procs.delete(pid);
      if (tracked && exitIsCrash && !this.#stopping) this.#reject(new Error(`${name} (pid ${pid}) exited early (code ${code}, signal ${signal})${describe()}`));
    });
  }

  /** Lets one process exit on its own (it was asked to) without counting as a crash. */
  async release(child: ChildProcess, timeoutMs = 10_000): Promise<void> {
    const pid = child.pid;
    if (pid === undefined || !this.#procs.has(pid)) return;
    const entry = this.#procs.get(pid)!;
    this.#procs.delete(pid);
    await waitExit(entry.child, timeoutMs);
  }

  /** From now on, processes exiting are expected (the benchmark is ending). */
  expectExits(): void {
    this.#stopping = true;
  }

  /** SIGTERM to each process by PID, then SIGKILL to those still running after `graceMs`. */
  async stopAll(graceMs = 5000): Promise<void> {
    this.#stopping = true;
    await this.stop([...this.#procs.values()].map((p) => p.child), graceMs);
    this.#procs.clear();
  }

  /** Stops watching some processes (their owner stops them, e.g. a LocalCluster): their exits are expected. */
  forget(children: readonly ChildProcess[]): void {
    for (const child of children) if (child.pid !== undefined) this.#procs.delete(child.pid);
  }

  /** Stops some of the processes (one cluster of several) the same way; their exits are expected. */
  async stop(children: readonly ChildProcess[], graceMs = 5000): Promise<void> {
    this.forget(children);
    for (const child of children) signal(child, 'SIGTERM');
    await Promise.all(children.map((child) => waitExit(child, graceMs)));
    for (const child of children) if (running(child)) signal(child, 'SIGKILL');
    await Promise.all(children.map((child) => waitExit(child, 2000)));
  }

  /** Every process still tracked (to tell this benchmark's CPU use from the machine's). */
  children(): ChildProcess[] {
    return [...this.#procs.values()].map((p) => p.child);
  }

  /** For process 'exit' handlers, which cannot wait. */
  killAllSync(): void {
    this.#stopping = true;
    for (const { child } of this.#procs.values()) if (running(child)) signal(child, 'SIGKILL');
  }
}

function running(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

function signal(child: ChildProcess, sig: NodeJS.Signals): void {
  try {
    if (child.pid !== undefined && running(child)) process.kill(child.pid, sig);
  } catch {
    // Already gone.
  }
}

function waitExit(child: ChildProcess, timeoutMs: number): Promise<void> {
  if (!running(child)) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Waits until processes stop writing to disk on their own (a new WAL segment being zero-filled or
 * preallocated, say): a measurement during that would time the startup, not the load.
 */
export async function settleDisk(children: readonly ChildProcess[], crashed: Promise<never>, timeoutMs = 30_000): Promise<void> {
  const total = () => children.reduce((s, c) => s + (c.pid !== undefined ? writeBytes(c.pid) ?? 0 : 0), 0);
  const deadline = Date.now() + timeoutMs;
  let last = total();
  let quiet = 0;
  while (Date.now() < deadline && quiet < 2) {
    await Promise.race([sleep(250), crashed]);
    const now = total();
    quiet = now - last < 256 * 1024 ? quiet + 1 : 0;
    last = now;
  }
}

let clockTicksPerS: number | null = null;

/** User plus system CPU time of a process so far, in ms; null once it is gone. */
export function cpuMs(pid: number): number | null {
  clockTicksPerS ??= (() => {
    try {
      return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      return 100;
    }
  })();
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / clockTicksPerS;
}

/** A member's /metrics (an edgeraft peer's or etcd's) as name{labels} -> value. */
export function scrape(httpBase: string): Promise<Map<string, number>> {
  return scrapeMetrics(httpBase, scrapeTimeoutMs);
}

/** Bytes a process has caused to be written to storage so far; null once it is gone. */
export function writeBytes(pid: number): number | null {
  try {
    const m = /^write_bytes:\s*(\d+)$/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'));
    return m === null ? null : Number(m[1]);
  } catch {
    return null;
  }
}

/**
 * CPU time all cores spent busy since boot, in ms: user, nice, system, irq and softirq (a process
 * is charged the interrupt work done in its context, such as loopback TCP, so leaving interrupts
 * out would make other processes' share come out negative). Idle, iowait and steal are not busy.
 */
export function machineBusyMs(): number {
  cpuMs(process.pid); // sets clockTicksPerS
  const f = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
  const busy = [0, 1, 2, 5, 6].reduce((s, i) => s + (f[i] ?? 0), 0);
  return (busy * 1000) / clockTicksPerS!;
}

/** Resident set size of a process in bytes (VmRSS); null once it is gone. */
export function rssBytes(pid: number): number | null {
  try {
    const m = /^VmRSS:\s*(\d+)\s*kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m === null ? null : Number(m[1]) * 1024;
  } catch {
    return null;
  }
}
