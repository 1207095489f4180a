// The page side of test/browser/idb-chromium.test.ts: runs IdbStore in real Chromium and exposes
// `globalThis.idbPage`, whose methods return plain JSON summaries that the Node test asserts on.
import { IdbStore } from '../../src/runtime-browser/idb-store.ts';
import { StoreError } from '../../src/core/index.ts';
import type { Entry, LoadedState, Snapshot, StoreBatch } from '../../src/core/index.ts';

export interface LogSummary {
  readonly snapshot: { index: number; term: number; dataOk: boolean } | null;
  readonly hardState: { term: number; vote: string | null; commit: number };
  /** [index, term] of every entry, in order. */
  readonly entries: Array<[number, number]>;
  /** Every entry's bytes are the ones written for its (index, term). */
  readonly dataOk: boolean;
}

export type Outcome = { ok: true } | { ok: false; code: string; message: string };

/** Durability of every readwrite transaction the page opened, to check it is 'strict'. */
const durabilities: string[] = [];
const originalTransaction = IDBDatabase.prototype.transaction;
IDBDatabase.prototype.transaction = function (this: IDBDatabase, ...args: Parameters<IDBDatabase['transaction']>) {
  if (args[1] === 'readwrite') durabilities.push(args[2]?.durability ?? 'default');
  return originalTransaction.apply(this, args);
};

const held = new Map<string, IdbStore>();

function bytes(index: number, term: number, n: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, k) => (index * 131 + term * 17 + k) & 0xff);
}

function entry(index: number, term: number): Entry {
  return { index, term, type: 'normal', data: bytes(index, term, 256) };
}

function range(lo: number, hi: number, term: number): Entry[] {
  return Array.from({ length: hi - lo + 1 }, (_, k) => entry(lo + k, term));
}

function snapshot(index: number, term: number): Snapshot {
  return { meta: { index, term, conf: { voters: ['a', 'b', 'c'], learners: [] } }, data: bytes(index, term, 4096) };
}

function batch(b: Partial<StoreBatch>): StoreBatch {
  return { snapshot: null, entries: [], hardState: null, ...b };
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, k) => v === b[k]);
}

function summarize(loaded: LoadedState): LogSummary {
  const s = loaded.snapshot;
  return {
    snapshot: s === null ? null : { index: s.meta.index, term: s.meta.term, dataOk: same(s.data, bytes(s.meta.index, s.meta.term, 4096)) },
    hardState: { ...loaded.hardState },
    entries: loaded.entries.map((e) => [e.index, e.term]),
    dataOk: loaded.entries.every((e) => e.data instanceof Uint8Array && same(e.data, bytes(e.index, e.term, 256))),
  };
}

function outcome(err: unknown): Outcome {
  if (err instanceof StoreError) return { ok: false, code: err.code, message: err.message };
  return { ok: false, code: 'unexpected', message: String(err) };
}

const key = (cluster: string, member: string): string => `${cluster}/${member}`;

const api = {
  /**
   * Appends, overwrites a conflicting suffix, compacts with a snapshot, then issues overlapping
   * saves; leaves the store open, so a reload right after is like a tab killed mid-run.
   */
  async write(cluster: string, member: string) {
    const store = await IdbStore.open({ cluster, member });
    held.set(key(cluster, member), store);
    const before = summarize(await store.load());
    await store.save(batch({ entries: range(1, 20, 1), hardState: { term: 1, vote: 'a', commit: 5 } }));
    await store.save(batch({ entries: range(15, 17, 2), hardState: { term: 2, vote: null, commit: 10 } }));
    await store.saveSnapshot(snapshot(8, 1));
    const order: number[] = [];
    const saves: Array<Promise<void>> = [];
    for (let i = 18; i <= 25; i += 1) {
      saves.push(store.save(batch({ entries: [entry(i, 2)], hardState: { term: 2, vote: 'b', commit: 10 } })).then(() => void order.push(i)));
    }
    await Promise.all(saves);
    return { before, after: summarize(await store.load()), order, durabilities: [...durabilities], databaseName: store.databaseName };
  },

  /** Opens (and keeps open) a member and summarizes what it loads. */
  async read(cluster: string, member: string): Promise<LogSummary> {
    const store = await IdbStore.open({ cluster, member });
    held.set(key(cluster, member), store);
    return summarize(await store.load());
  },

  /** Writes `n` entries of term `term` into a member, then closes it. */
  async fill(cluster: string, member: string, n: number, term: number): Promise<void> {
    const store = await IdbStore.open({ cluster, member });
    await store.save(batch({ entries: range(1, n, term), hardState: { term, vote: member, commit: n } }));
    await store.close();
  },

  async tryOpen(cluster: string, member: string): Promise<Outcome> {
    try {
      held.set(key(cluster, member), await IdbStore.open({ cluster, member }));
      return { ok: true };
    } catch (err) {
      return outcome(err);
    }
  },

  async close(cluster: string, member: string): Promise<void> {
    await held.get(key(cluster, member))?.close();
    held.delete(key(cluster, member));
  },

  async databases(): Promise<string[]> {
    return (await indexedDB.databases()).map((d) => d.name ?? '').filter((n) => n.startsWith('edgeraft:')).sort();
  },

  hasWebLocks(): boolean {
    return typeof navigator.locks?.request === 'function';
  },
};

export type IdbPage = typeof api;
(globalThis as { idbPage?: IdbPage }).idbPage = api;
