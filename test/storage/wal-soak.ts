// `npm run soak:wal -- [--kills 200] [--seed n] [--segment-bytes n]`: the WAL crash test for as
// long as you like. Each cycle SIGKILLs an appending child at a seeded random moment and checks
// that every write it reported durable survived intact. Progress goes to stderr.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCrashCycles } from './wal-crash-driver.ts';

function option(name: string, fallback: number): number {
  const k = process.argv.indexOf(`--${name}`);
  if (k < 0) return fallback;
  const v = Number(process.argv[k + 1]);
  if (!Number.isSafeInteger(v) || v < 1) throw new Error(`--${name} needs a positive integer, got ${process.argv[k + 1]}`);
  return v;
}

const kills = option('kills', 200);
const seed = option('seed', Date.now() % 1_000_000);
const segmentBytes = option('segment-bytes', 1 << 20);
const dir = mkdtempSync(join(tmpdir(), 'edgeraft-wal-soak-'));
const started = Date.now();
let reported = 0;
let warnings = 0;
try {
  await runCrashCycles({
    dir, seed, kills, segmentBytes,
    onCycle: (c) => {
      reported += c.reported;
      warnings += c.warnings.filter((w) => !w.includes('stale lock')).length;
      process.stderr.write(`cycle ${c.cycle + 1}/${kills}: ${c.reported} reported durable, log ends at ${c.recoveredLast}, snapshot ${c.snapshotIndex}\n`);
    },
  });
  console.log(`soak:wal passed: ${kills} kills, ${reported} acknowledged writes checked, ${warnings} recovery warnings besides stale locks, seed ${seed}, ${((Date.now() - started) / 1000).toFixed(1)} s`);
} catch (err) {
  console.error(`soak:wal FAILED (seed ${seed}; rerun with --seed ${seed}):\n${(err as Error).message}`);
  process.exitCode = 1;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
