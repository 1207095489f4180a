// The data-directory lock across real processes: a second process is refused with the holder's
// pid, a second open in the same process is refused too, and a dead holder's lock is taken over.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FileWal } from '../../src/runtime-node/wal.ts';
import { rejects } from './conformance.ts';

const child = fileURLToPath(new URL('./wal-child.ts', import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'edgeraft-wal-lock-'));
const test = suite('FileWal directory lock');

function probe(dir: string): { ok: boolean; code?: string; message?: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', child, 'probe', dir], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.trim()) as { ok: boolean; code?: string; message?: string };
}

test('another process cannot open a directory this process holds', async () => {
  const dir = join(root, 'held');
  const wal = await FileWal.open(dir);
  const r = probe(dir);
  assert.is(r.ok, false);
  assert.is(r.code, 'ERR_STORE_LOCKED');
  assert.ok(r.message?.includes(dir), r.message);
  assert.ok(r.message?.includes(`process ${process.pid}`), r.message);
  await rejects(FileWal.open(dir), 'ERR_STORE_LOCKED', /locked by this process/);
  await wal.close();
  assert.not.ok(existsSync(join(dir, 'LOCK')), 'close releases the lock');
  assert.equal(probe(dir), { ok: true });
});

test('this process is refused while a live child holds the lock, and takes over once it is killed', async () => {
  const dir = join(root, 'child');
  const holder = spawn(process.execPath, ['--import', 'tsx', child, 'hold', dir], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve) => holder.stdout.once('data', () => resolve()));
  await rejects(FileWal.open(dir), 'ERR_STORE_LOCKED', new RegExp(`locked by process ${holder.pid}`));
  const exited = new Promise((resolve) => holder.once('exit', resolve));
  holder.kill('SIGKILL');
  await exited;
  const warnings: string[] = [];
  const wal = await FileWal.open(dir, { logger: { warn: (m) => void warnings.push(m) } });
  assert.is(warnings.length, 1);
  assert.match(warnings[0]!, new RegExp(`stale lock .*LOCK of process ${holder.pid}`));
  assert.is(readFileSync(join(dir, 'LOCK'), 'utf8'), `${process.pid}\n`);
  await wal.close();
});

test('an empty lock file (crash between create and write) counts as stale', async () => {
  const dir = join(root, 'empty');
  await (await FileWal.open(dir)).close();
  writeFileSync(join(dir, 'LOCK'), '');
  const warnings: string[] = [];
  const wal = await FileWal.open(dir, { logger: { warn: (m) => void warnings.push(m) } });
  assert.match(warnings[0] ?? '', /stale lock/);
  await wal.close();
});

test.after(() => rmSync(root, { recursive: true, force: true }));
test.run();
