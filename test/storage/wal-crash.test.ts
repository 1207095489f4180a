// Crash safety with real processes: a child appends under group commit and reports each index
// once its save resolved; it is SIGKILLed at seeded random moments, and after every kill each
// reported index must be present with every byte intact (see wal-crash-driver.ts). SEED=n replays.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCrashCycles } from './wal-crash-driver.ts';

const seed = Number(process.env['SEED'] ?? Date.now() % 1_000_000);

test(`20 SIGKILLs under load lose no acknowledged write (seed ${seed})`, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'edgeraft-wal-crash-'));
  try {
    const cycles = await runCrashCycles({ dir, seed, kills: 20 });
    assert.is(cycles.length, 20);
    const reported = cycles.reduce((n, c) => n + c.reported, 0);
    assert.ok(reported > 1000, `the children reported only ${reported} durable writes in total (seed ${seed})`);
    assert.ok(cycles.some((c) => c.snapshotIndex > 0), `no cycle compacted the log (seed ${seed})`);
  } catch (err) {
    console.error(`wal-crash failed with SEED=${seed}`);
    throw err;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
