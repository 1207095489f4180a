// Kill-and-recover cycles for the file WAL, shared by the crash test (20 kills) and the soak
// script (as many as asked): a child appends under group commit and reports each durable index,
// the parent SIGKILLs it at a seeded random moment, reopens the WAL and checks every byte.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { SeededPrng } from '../../src/core/prng.ts';
import { FileWal } from '../../src/runtime-node/wal.ts';
import { crashEntry, crashSnapshot } from './wal-crash-data.ts';

const childScript = fileURLToPath(new URL('./wal-child.ts', import.meta.url));

export interface CrashOptions {
  readonly dir: string;
  readonly seed: number;
  readonly kills: number;
  readonly segmentBytes?: number;
  readonly onCycle?: (summary: CycleSummary) => void;
}

export interface CycleSummary {
  readonly cycle: number;
  readonly killedAfterReadyMs: number | null;
  readonly reported: number;
  readonly maxReported: number;
  readonly recoveredLast: number;
  readonly snapshotIndex: number;
  readonly warnings: readonly string[];
}

interface ChildRun {
  readonly reported: number[];
  readonly ready: boolean;
  readonly stderr: string;
  readonly exit: string;
}

/** Starts the appender, kills it `delayMs` after it is ready (or `startupKillMs` after spawn). */
function runChild(dir: string, seed: number, segmentBytes: number, writers: number, kill: { afterReadyMs: number | null; startupKillMs: number }): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', childScript, 'append', dir, String(seed), String(segmentBytes), String(writers)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const reported: number[] = [];
    let ready = false;
    let pending = '';
    let stderr = '';
    const killNow = (): void => void child.kill('SIGKILL');
    const startupTimer = kill.afterReadyMs === null ? setTimeout(killNow, kill.startupKillMs) : null;
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        if (line.startsWith('ready')) {
          ready = true;
          if (kill.afterReadyMs !== null) setTimeout(killNow, kill.afterReadyMs);
        } else if (line.length > 0) {
          reported.push(Number(line));
        }
      }
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => void (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (startupTimer !== null) clearTimeout(startupTimer);
      resolve({ reported, ready, stderr, exit: signal ?? `code ${code}` });
    });
  });
}

/** Reopens the WAL and checks what the killed child reported durable; returns the summary. */
async function verify(dir: string, run: ChildRun, cycle: number): Promise<Omit<CycleSummary, 'killedAfterReadyMs'>> {
  const warnings: string[] = [];
  const wal = await FileWal.open(dir, { segmentBytes: 1 << 20, logger: { warn: (m) => void warnings.push(m) } });
  try {
    const loaded = await wal.load();
    const snapIndex = loaded.snapshot?.meta.index ?? 0;
    const last = snapIndex + loaded.entries.length;
    if (loaded.snapshot !== null) {
      const want = crashSnapshot(snapIndex);
      if (!sameBytes(loaded.snapshot.data, want.data)) throw new Error(`cycle ${cycle}: snapshot ${snapIndex} data differs`);
    }
    for (const e of loaded.entries) {
      const want = crashEntry(e.index);
      if (e.term !== want.term || e.type !== want.type || !sameBytes(e.data, want.data)) {
        throw new Error(`cycle ${cycle}: entry ${e.index} is damaged (${e.data.length} bytes, expected ${want.data.length})`);
      }
    }
    let maxReported = 0;
    for (const i of run.reported) {
      if (i > last) throw new Error(`cycle ${cycle}: index ${i} was reported durable but the log ends at ${last}`);
      if (i > maxReported) maxReported = i;
    }
    if (loaded.hardState.commit < maxReported) {
      throw new Error(`cycle ${cycle}: hard state commit ${loaded.hardState.commit} is below the reported durable index ${maxReported}`);
    }
    return { cycle, reported: run.reported.length, maxReported, recoveredLast: last, snapshotIndex: snapIndex, warnings };
  } finally {
    await wal.close();
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let k = 0; k < a.length; k++) if (a[k] !== b[k]) return false;
  return true;
}

/** Runs `kills` cycles; throws (with the seed in the message) on the first lost or damaged write. */
export async function runCrashCycles(opts: CrashOptions): Promise<CycleSummary[]> {
  const prng = new SeededPrng(opts.seed);
  const summaries: CycleSummary[] = [];
  for (let cycle = 0; cycle < opts.kills; cycle++) {
    // One kill in five lands during start-up or recovery; the rest under load.
    const afterReadyMs = prng.nextInt(5) === 0 ? null : 20 + prng.nextInt(400);
    const writers = 1 + prng.nextInt(48);
    const run = await runChild(opts.dir, prng.nextU32(), opts.segmentBytes ?? 1 << 20, writers, { afterReadyMs, startupKillMs: 100 + prng.nextInt(600) });
    if (run.exit !== 'SIGKILL') {
      throw new Error(`seed ${opts.seed} cycle ${cycle}: the child exited with ${run.exit} before the kill:\n${run.stderr}`);
    }
    try {
      const s = { ...(await verify(opts.dir, run, cycle)), killedAfterReadyMs: afterReadyMs };
      summaries.push(s);
      opts.onCycle?.(s);
    } catch (err) {
      throw new Error(`seed ${opts.seed}: ${(err as Error).message}\nchild stderr:\n${run.stderr}`);
    }
  }
  return summaries;
}
