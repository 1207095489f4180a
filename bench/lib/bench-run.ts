// What every long benchmark process sets up first: progress lines on stderr with the time since
// it started, a process group for what it spawns, a temp dir, and an exit path on SIGINT/SIGTERM
// that SIGKILLs everything it started (by PID) and removes the temp dir.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProcessGroup } from './procs.ts';

export interface BenchRun {
  readonly startedMs: number;
  readonly group: ProcessGroup;
  /** This run's temp dir (removed when the process exits). */
  readonly dir: string;
  /** A line on stderr. */
  progress(text: string): void;
  /** Time since the run started, as m:ss. */
  elapsed(): string;
}

export function startBenchRun(name: string): BenchRun {
  const startedMs = Date.now();
  const progress = (text: string) => process.stderr.write(`${text}\n`);
  const group = new ProcessGroup();
  const dir = mkdtempSync(join(tmpdir(), `edgeraft-bench-${name}-`));
  // Exit through process.exit on a signal so the exit hook below runs.
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => {
      progress(`${sig}: stopping the clusters, the load generators and the relays...`);
      process.exit(130);
    });
  }
  process.on('exit', () => {
    group.killAllSync();
    rmSync(dir, { recursive: true, force: true });
  });
  return {
    startedMs, group, dir, progress,
    elapsed: () => {
      const s = Math.round((Date.now() - startedMs) / 1000);
      return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
    },
  };
}
