// The native Deno WAL on Deno's own file API (deno-wal-check.ts runs under Deno and reports):
// group commit, one awaited save after another, compaction, reopen, the directory lock, a torn tail dropped on load and the log
// writable after it, and a Node peer's WAL directory refused. Skipped without a deno binary.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { unless } from '../requires.ts';

const test = suite('deno-wal');
const root = resolve(import.meta.dirname, '../..');
const denoBin = join(root, 'node_modules/deno/deno');
const it = unless(test, spawnSync(denoBin, ['--version']).status === 0 ? null : 'no deno binary (npm install puts it in node_modules/deno)');

it('saves, compacts, reopens, locks, drops a torn tail and refuses a Node WAL directory', () => {
  const dir = mkdtempSync(join(tmpdir(), 'edgeraft-deno-wal-'));
  try {
    const r = spawnSync(denoBin, ['run', '--allow-read', '--allow-write', join(root, 'test/runtime-deno/deno-wal-check.ts'), dir], { encoding: 'utf8', timeout: 30_000 });
    assert.is(r.status, 0, r.stderr);
    const got = Object.fromEntries(r.stdout.trim().split('\n').map((l) => { const j = JSON.parse(l) as { check: string; value: unknown }; return [j.check, j.value]; }));
    assert.equal(got.fresh, { hardState: { term: 0, vote: null, commit: 0 }, snapshot: 0, entries: [] });
    assert.is(got['second open while held'], 'ERR_STORE_LOCKED');
    assert.equal(got['entries(3, 6)'], [3, 4, 5]);
    assert.is(got['below the snapshot'], 'ERR_STORE_COMPACTED');
    const kept = { hardState: { term: 2, vote: 'n1', commit: 4 }, snapshot: 2, entries: ['3:2:e3', '4:2:e4', '5:2:e5'] };
    assert.equal(got.reopened, kept);
    assert.equal(got['after a torn write'], kept);
    assert.equal(got['written after the torn tail'], ['3:2:e3', '4:2:e4', '5:2:e5', '6:2:e6']);
    const warnings = got.warnings as string[];
    assert.is(warnings.filter((w) => w.includes('dropped a torn tail')).length, 1, warnings.join('\n'));
    assert.is(got['serial saves'], 50);
    assert.is(got['a Node WAL directory'], 'ERR_STORE_VERSION');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
