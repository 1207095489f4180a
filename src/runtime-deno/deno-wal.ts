// The native Deno peer's durable log: a LogStore on Deno.open, FsFile.write and FsFile.syncData.
// The log since the last snapshot lives in memory (LogState, as in the IndexedDB store) and in one
// append-only file; a snapshot rewrites the files. Its own format (wal-records.ts), not the Node
// WAL's: a data directory belongs to one runtime, and each refuses the other's by its VERSION file.
//
// Files in DIR: VERSION ("edgeraft-deno-wal 1"), LOCK (flock, holds the pid), deno.log (a header
// naming the snapshot it continues, then one frame per group commit), snap-<index>.snap.
// Crash safety: every write is synced before its save resolves; a rewrite goes through a temporary
// file, fsync, rename and a directory fsync, and the old snapshot is deleted only after the new
// log names the new one, so at every instant the log names a snapshot that exists.

import { StoreError } from '../core/storage.ts';
import type { LoadedState, LogStore, StoreBatch } from '../core/storage.ts';
import { raftLogRules, type LogRules } from '../core/store/log-rules.ts';
import { LogState } from '../core/store/log-state.ts';
import { emptyHardState } from '../core/types.ts';
import type { Entry, HardState, Index, Snapshot } from '../core/types.ts';
import {
  ByteWriter, decodeSnapshotFile, denoWalVersionText, putBatchesFrame, putHeaderFrame, putSnapshotFrame, scanLog,
} from './wal-records.ts';

export interface DenoWalOptions {
  /** 'none' skips fdatasync (benchmarks only: acknowledged writes are lost on power failure). */
  readonly sync?: 'fdatasync' | 'none';
  readonly rules?: LogRules;
  /** A torn tail dropped on load, stray files removed. */
  readonly warn?: (message: string) => void;
}

const logName = 'deno.log';
const lockName = 'LOCK';
const versionName = 'VERSION';
const nodeVersionText = 'edgeraft-wal 1\n';
const snapRe = /^snap-(\d{16})\.snap$/;

function snapName(index: Index): string {
  return `snap-${String(index).padStart(16, '0')}.snap`;
}

function copyEntry(e: Entry): Entry {
  const data = new Uint8Array(e.data);
  return e.conf === undefined ? { term: e.term, index: e.index, type: e.type, data } : { term: e.term, index: e.index, type: e.type, data, conf: e.conf };
}

/** What a rewrite puts on disk: the snapshot the log continues, and everything after it. */
interface Image {
  readonly snapshot: Snapshot | null;
  readonly entries: readonly Entry[];
  readonly hardState: HardState;
}

type Job =
  | { readonly kind: 'append'; readonly batch: StoreBatch; readonly done: () => void; readonly fail: (err: Error) => void }
  | { readonly kind: 'rewrite'; readonly image: Image; readonly done: () => void; readonly fail: (err: Error) => void };

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.open(path, { read: true }).then((f) => f.close());
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

async function writeAll(f: Deno.FsFile, b: Uint8Array): Promise<void> {
  for (let at = 0; at < b.byteLength;) at += await f.write(b.subarray(at));
}

export class DenoWal implements LogStore {
  readonly dir: string;
  readonly #sync: boolean;
  readonly #rules: LogRules;
  readonly #warn: (message: string) => void;
  readonly #lock: Deno.FsFile;
  #state: LogState | null = null;
  #log: Deno.FsFile | null = null;
  readonly #queue: Job[] = [];
  /** The latest pump (close() waits for it). Invariant: #writing while it runs. */
  #pumping: Promise<void> | null = null;
  #writing = false;
  #failed: StoreError | null = null;
  #closed = false;

  private constructor(dir: string, lock: Deno.FsFile, options: DenoWalOptions) {
    this.dir = dir;
    this.#lock = lock;
    this.#sync = (options.sync ?? 'fdatasync') === 'fdatasync';
    this.#rules = options.rules ?? raftLogRules;
    this.#warn = options.warn ?? (() => {});
  }

  /** Takes the directory's lock (ERR_STORE_LOCKED if another process or store holds it) and checks its format. */
  static async open(dir: string, options: DenoWalOptions = {}): Promise<DenoWal> {
    await Deno.mkdir(dir, { recursive: true });
    const lockPath = `${dir}/${lockName}`;
    const lock = await Deno.open(lockPath, { read: true, write: true, create: true });
    if (!(await lock.tryLock(true))) {
      lock.close();
      const holder = (await Deno.readTextFile(lockPath).catch(() => '')).trim();
      throw new StoreError('ERR_STORE_LOCKED', `data directory ${dir} is locked by another running peer${holder !== '' ? ` (pid ${holder})` : ''}: two members cannot share one directory`);
    }
    try {
      await lock.truncate(0);
      await writeAll(lock, new TextEncoder().encode(`${Deno.pid}\n`));
      const wal = new DenoWal(dir, lock, options);
      await wal.#checkVersion();
      return wal;
    } catch (err) {
      lock.close();
      throw err;
    }
  }

  async #checkVersion(): Promise<void> {
    const path = `${this.dir}/${versionName}`;
    let text: string | null = null;
    try {
      text = await Deno.readTextFile(path);
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
    if (text === nodeVersionText) {
      throw new StoreError('ERR_STORE_VERSION', `${path}: this directory holds a Node peer's WAL (${JSON.stringify(text.trim())}); the native Deno peer writes its own format (${JSON.stringify(denoWalVersionText.trim())}): run this member under Node, or give the Deno peer a new directory and let it catch up`);
    }
    if (text !== null && text !== denoWalVersionText) {
      throw new StoreError('ERR_STORE_VERSION', `${path}: format ${JSON.stringify(text.trim())} is not supported (this build reads ${JSON.stringify(denoWalVersionText.trim())})`);
    }
    if (text === null) {
      if (await exists(`${this.dir}/${logName}`)) throw new StoreError('ERR_STORE_CORRUPT', `${path} is missing but ${this.dir} holds ${logName}`);
      await this.#writeFileSynced(versionName, new TextEncoder().encode(denoWalVersionText));
    }
  }

  async load(): Promise<LoadedState> {
    this.#checkOpen('load');
    const logPath = `${this.dir}/${logName}`;
    let bytes: Uint8Array | null = null;
    try {
      bytes = await Deno.readFile(logPath);
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
    if (bytes === null) {
      await this.#rewrite({ snapshot: null, entries: [], hardState: emptyHardState });
      this.#state = new LogState(this.#rules);
      return this.#state.loaded();
    }
    const scanned = scanLog(bytes, logPath);
    const snapshot = scanned.base.index === 0 ? null : decodeSnapshotFile(await Deno.readFile(`${this.dir}/${snapName(scanned.base.index)}`), `${this.dir}/${snapName(scanned.base.index)}`);
    if (snapshot !== null && snapshot.meta.term !== scanned.base.term) {
      throw new StoreError('ERR_STORE_CORRUPT', `${logPath} continues the snapshot at index ${scanned.base.index} term ${scanned.base.term}, but ${snapName(scanned.base.index)} has term ${snapshot.meta.term}`);
    }
    const state = LogState.from({ hardState: emptyHardState, snapshot, entries: [] }, this.#rules);
    scanned.batches.forEach((b, k) => {
      try {
        state.checkBatch(b);
      } catch (err) {
        throw new StoreError('ERR_STORE_CORRUPT', `${logPath}: save ${k} does not follow the ones before it: ${(err as Error).message}`);
      }
      state.applyBatch(b);
    });
    if (scanned.torn !== null) {
      this.#warn(`${logPath}: dropped a torn tail (a write the crash interrupted, never acknowledged): ${scanned.torn}`);
      const f = await Deno.open(logPath, { write: true });
      await f.truncate(scanned.validBytes);
      await f.syncData();
      f.close();
    }
    await this.#removeStrays(scanned.base.index);
    this.#log = await Deno.open(logPath, { write: true, append: true });
    this.#state = state;
    return state.loaded();
  }

  /** Snapshots other than the log's base, and temporary files: left by a crash mid-rewrite. */
  async #removeStrays(base: Index): Promise<void> {
    for await (const d of Deno.readDir(this.dir)) {
      const m = snapRe.exec(d.name);
      if ((m !== null && Number(m[1]) !== base) || d.name.endsWith('.tmp')) {
        await Deno.remove(`${this.dir}/${d.name}`);
        this.#warn(`${this.dir}/${d.name}: removed (left by an interrupted snapshot)`);
      }
    }
  }

  // async, and nothing awaited before the job is queued: writes take effect in call order.
  async save(batch: StoreBatch): Promise<void> {
    const state = this.#ready('save');
    state.checkBatch(batch);
    const copy: StoreBatch = {
      snapshot: batch.snapshot === null ? null : { meta: batch.snapshot.meta, data: new Uint8Array(batch.snapshot.data) },
      entries: batch.entries.map(copyEntry),
      ...(batch.fills !== undefined ? { fills: batch.fills.map(copyEntry) } : {}),
      hardState: batch.hardState,
    };
    state.applyBatch(copy);
    // A snapshot from the leader replaces the log: the files are rewritten from memory.
    if (copy.snapshot !== null) return this.#enqueue((done, fail) => ({ kind: 'rewrite', image: this.#image(), done, fail }));
    return this.#enqueue((done, fail) => ({ kind: 'append', batch: copy, done, fail }));
  }

  async saveSnapshot(snapshot: Snapshot): Promise<void> {
    const state = this.#ready('saveSnapshot');
    state.checkCompaction(snapshot);
    state.applyCompaction({ meta: snapshot.meta, data: new Uint8Array(snapshot.data) });
    return this.#enqueue((done, fail) => ({ kind: 'rewrite', image: this.#image(), done, fail }));
  }

  async entries(lo: Index, hi: Index): Promise<Entry[]> {
    return this.#ready('entries').range(lo, hi);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#pumping;
    this.#log?.close();
    this.#log = null;
    // The lock file stays (deleting a flock'd file lets two later openers lock different inodes).
    this.#lock.close();
  }

  #checkOpen(op: string): void {
    if (this.#closed) throw new StoreError('ERR_STORE_CLOSED', `${op}: the Deno WAL in ${this.dir} is closed`);
    if (this.#failed !== null) throw this.#failed;
  }

  #ready(op: string): LogState {
    this.#checkOpen(op);
    if (this.#state === null) throw new StoreError('ERR_STORE_INVALID', `${op}: call load() first`);
    return this.#state;
  }

  /** The state as it stands now (captured at call time: later saves append after it). */
  #image(): Image {
    const s = this.#state!;
    return { snapshot: s.snapshot, entries: s.range(s.firstIndex(), s.lastIndex() + 1), hardState: s.hardState };
  }

  #enqueue(make: (done: () => void, fail: (err: Error) => void) => Job): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#queue.push(make(resolve, reject));
      if (!this.#writing) this.#pumping = this.#pump();
    });
  }

  /** Writes queued jobs in order: consecutive appends share one frame and one sync (group commit). */
  async #pump(): Promise<void> {
    this.#writing = true;
    try {
      while (this.#queue.length > 0) await this.#writeNext();
    } finally {
      // Cleared in the same turn the queue was seen empty, so a job queued next starts a new pump.
      this.#writing = false;
    }
  }

  /** The next rewrite, or the run of appends at the head of the queue, written and synced. */
  async #writeNext(): Promise<void> {
    const first = this.#queue[0]!;
    const jobs = first.kind === 'rewrite' ? this.#queue.splice(0, 1) : this.#queue.splice(0, this.#appendRun());
    try {
      if (this.#failed !== null) throw this.#failed;
      if (first.kind === 'rewrite') await this.#rewrite(first.image);
      else await this.#append(jobs.map((j) => (j as Extract<Job, { kind: 'append' }>).batch));
      for (const j of jobs) j.done();
    } catch (err) {
      // A failed write leaves the file's end unknown: every later save fails too (the driver stops).
      this.#failed ??= err instanceof StoreError ? err : new StoreError('ERR_STORE_IO', `writing the Deno WAL in ${this.dir} failed: ${(err as Error).message}`, { cause: err });
      for (const j of jobs) j.fail(this.#failed);
    }
  }

  #appendRun(): number {
    let n = 0;
    while (n < this.#queue.length && this.#queue[n]!.kind === 'append') n++;
    return n;
  }

  async #append(batches: readonly StoreBatch[]): Promise<void> {
    const w = new ByteWriter();
    putBatchesFrame(w, batches);
    await writeAll(this.#log!, w.view());
    if (this.#sync) await this.#log!.syncData();
  }

  /** New snapshot file (if any), then a new log naming it, then the old snapshot goes. */
  async #rewrite(image: Image): Promise<void> {
    const base = image.snapshot === null ? { index: 0, term: 0 } : { index: image.snapshot.meta.index, term: image.snapshot.meta.term };
    if (image.snapshot !== null && !(await exists(`${this.dir}/${snapName(base.index)}`))) {
      const w = new ByteWriter();
      putSnapshotFrame(w, image.snapshot);
      await this.#writeFileSynced(snapName(base.index), w.view());
    }
    const w = new ByteWriter();
    putHeaderFrame(w, base);
    putBatchesFrame(w, [{ snapshot: null, entries: image.entries, hardState: image.hardState }]);
    this.#log?.close();
    this.#log = null;
    await this.#writeFileSynced(logName, w.view());
    this.#log = await Deno.open(`${this.dir}/${logName}`, { write: true, append: true });
    for await (const d of Deno.readDir(this.dir)) {
      const m = snapRe.exec(d.name);
      if (m !== null && Number(m[1]) !== base.index) await Deno.remove(`${this.dir}/${d.name}`);
    }
  }

  /** name.tmp, fsync, rename over name, fsync the directory: the file is whole or absent. */
  async #writeFileSynced(name: string, bytes: Uint8Array): Promise<void> {
    const tmp = `${this.dir}/${name}.tmp`;
    const f = await Deno.open(tmp, { write: true, create: true, truncate: true });
    try {
      await writeAll(f, bytes);
      if (this.#sync) await f.sync();
    } finally {
      f.close();
    }
    await Deno.rename(tmp, `${this.dir}/${name}`);
    if (this.#sync) await syncDir(this.dir);
  }
}

async function syncDir(dir: string): Promise<void> {
  const d = await Deno.open(dir, { read: true });
  try {
    await d.sync();
  } finally {
    d.close();
  }
}
