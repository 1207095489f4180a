// The data-directory lock: a LOCK file created exclusively and holding the owner's pid, so two
// processes (or two FileWal instances in one process) never write the same WAL. Node has no
// flock(), so a lock left by a dead process is detected by its pid and taken over with a warning.
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { StoreError } from '../core/storage.ts';

export const lockFileName = 'LOCK';

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function parsePid(text: string): number | null {
  const m = /^(\d+)\n?$/.exec(text);
  const pid = m === null ? NaN : Number(m[1]);
  return Number.isSafeInteger(pid) && pid > 0 ? pid : null;
}

async function readText(path: string): Promise<string | null> {
  try {
    return await fsp.readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

export class DirLock {
  readonly path: string;
  #released = false;

  private constructor(path: string) {
    this.path = path;
  }

  /**
   * Takes the lock of `dir` or throws ERR_STORE_LOCKED naming the directory and the holder pid.
   * A lock whose pid is dead (or unreadable: a crash between create and write) is stale.
   */
  static async acquire(dir: string, warn: (message: string) => void): Promise<DirLock> {
    const path = join(dir, lockFileName);
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        const fh = await fsp.open(path, 'wx');
        try {
          await fh.writeFile(`${process.pid}\n`);
        } finally {
          await fh.close();
        }
        return new DirLock(path);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const text = await readText(path);
      if (text === null) continue;
      const pid = parsePid(text);
      if (pid === process.pid) {
        throw new StoreError('ERR_STORE_LOCKED', `data directory ${dir} is locked by this process (pid ${pid}): another FileWal is open on it`);
      }
      if (pid !== null && isAlive(pid)) {
        throw new StoreError('ERR_STORE_LOCKED', `data directory ${dir} is locked by process ${pid} (${path}); if no such process uses it, remove the file`);
      }
      await DirLock.#takeOver(path, text, pid, warn);
    }
    throw new StoreError('ERR_STORE_LOCKED', `data directory ${dir}: could not take ${path} (other processes keep racing for it)`);
  }

  /**
   * Moves a stale lock aside with rename (atomic: of two racing processes only one succeeds).
   * If what we moved is no longer the stale lock we saw, another process took over meanwhile: put
   * its lock back with link(), which refuses to overwrite a newer one.
   */
  static async #takeOver(path: string, seen: string, pid: number | null, warn: (message: string) => void): Promise<void> {
    const aside = `${path}.stale-${process.pid}`;
    try {
      await fsp.rename(path, aside);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    const moved = await readText(aside);
    if (moved !== seen) {
      await fsp.link(aside, path).catch(() => undefined);
      await fsp.rm(aside, { force: true });
      return;
    }
    await fsp.rm(aside, { force: true });
    warn(`took over the stale lock ${path} of process ${pid ?? `(unreadable: ${JSON.stringify(seen)})`}, which is not running`);
  }

  /** Removes the lock file if it is still ours. */
  async release(): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    const text = await readText(this.path);
    if (text !== null && parsePid(text) === process.pid) await fsp.rm(this.path, { force: true });
  }
}
