// The page side of bench/store-idb.ts: times IdbStore.save() of batches of 256-byte entries in
// real Chromium, the same entries as overlapping one-entry saves (grouped by the store), and the
// same puts on bare IndexedDB (one transaction per batch) as the baseline.
import { IdbStore } from '../src/runtime-browser/idb-store.ts';
import type { IdbDurability } from '../src/runtime-browser/idb-store.ts';
import type { Entry } from '../src/core/index.ts';

export interface BenchRun {
  readonly entries: number;
  readonly ms: number;
}

export interface BenchOptions {
  readonly batch: number;
  readonly durability: IdbDurability;
  /** Keep writing batches until this much time has passed (and at least minBatches). */
  readonly minMs: number;
  readonly minBatches: number;
  readonly entryBytes: number;
}

let runId = 0;

function payload(bytes: number): Uint8Array {
  return Uint8Array.from({ length: bytes }, (_, k) => (k * 73 + 11) & 0xff);
}

async function timed(options: BenchOptions, writeBatch: (from: number) => Promise<void>): Promise<BenchRun> {
  let next = 1;
  let batches = 0;
  const started = performance.now();
  while (batches < options.minBatches || performance.now() - started < options.minMs) {
    await writeBatch(next);
    next += options.batch;
    batches += 1;
  }
  return { entries: next - 1, ms: performance.now() - started };
}

/** IdbStore: one awaited save() per batch, each its own transaction. */
async function store(options: BenchOptions): Promise<BenchRun> {
  const member = `store-${runId++}`;
  const s = await IdbStore.open({ cluster: 'bench', member, durability: options.durability });
  await s.load();
  const data = payload(options.entryBytes);
  const run = await timed(options, (from) => {
    const entries: Entry[] = Array.from({ length: options.batch }, (_, k) => ({ index: from + k, term: 1, type: 'normal', data }));
    return s.save({ snapshot: null, entries, hardState: { term: 1, vote: null, commit: from - 1 } });
  });
  await s.close();
  await IdbStore.destroy({ cluster: 'bench', member });
  return run;
}

/** IdbStore: `batch` single-entry saves issued at once, then awaited; they share transactions. */
async function overlap(options: BenchOptions): Promise<BenchRun> {
  const member = `overlap-${runId++}`;
  const s = await IdbStore.open({ cluster: 'bench', member, durability: options.durability });
  await s.load();
  const data = payload(options.entryBytes);
  const run = await timed(options, async (from) => {
    const saves: Array<Promise<void>> = [];
    for (let k = 0; k < options.batch; k += 1) {
      const index = from + k;
      saves.push(s.save({ snapshot: null, entries: [{ index, term: 1, type: 'normal', data }], hardState: { term: 1, vote: null, commit: index - 1 } }));
    }
    await Promise.all(saves);
  });
  await s.close();
  await IdbStore.destroy({ cluster: 'bench', member });
  return run;
}

function request<T>(r: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}

/** Bare IndexedDB: the same records and hard state put in one transaction per batch. */
async function raw(options: BenchOptions): Promise<BenchRun> {
  const name = `bench-raw-${runId++}`;
  const open = indexedDB.open(name, 1);
  open.onupgradeneeded = () => open.result.createObjectStore('log');
  const db = await request(open);
  const data = payload(options.entryBytes);
  const run = await timed(options, (from) => new Promise<void>((resolve, reject) => {
    const tx = db.transaction('log', 'readwrite', { durability: options.durability });
    const st = tx.objectStore('log');
    for (let k = 0; k < options.batch; k += 1) st.put({ index: from + k, term: 1, type: 'normal', data }, from + k);
    st.put({ term: 1, vote: null, commit: from - 1 }, 'hardState');
    tx.oncomplete = () => resolve();
    tx.onabort = () => reject(tx.error);
  }));
  db.close();
  await request(indexedDB.deleteDatabase(name));
  return run;
}

const api = {
  store,
  overlap,
  raw,
  userAgent: (): string => navigator.userAgent,
};

export type IdbBenchPage = typeof api;
(globalThis as { idbBench?: IdbBenchPage }).idbBench = api;
