// IdbStore in Node on fake-indexeddb: what only this store does (quota mapping, format refusal,
// locks, per-member databases, surviving a reopen), plus the shared LogStore conformance suite.
// Real Chromium runs the same store in test/browser/idb-chromium.test.ts.
import 'fake-indexeddb/auto';
import { IDBFactory } from 'fake-indexeddb';
import { createStore, promisifyRequest, setMany } from 'idb-keyval';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { IdbStore } from '../../src/runtime-browser/idb-store.ts';
import type { IdbStoreOptions } from '../../src/runtime-browser/idb-store.ts';
import { StoreError, emptyHardState } from '../../src/core/index.ts';
import type { Entry, LogStore, Snapshot, StoreBatch } from '../../src/core/index.ts';
import { storeConformance } from './conformance.ts';

// ---------- helpers

type Opts = Partial<IdbStoreOptions>;

/** A fresh, empty "origin": its own IndexedDB factory, no Web Locks (in-process registry). */
function origin(base: Opts = {}) {
  const factory = new IDBFactory();
  const options = (o: Opts = {}): IdbStoreOptions => ({ cluster: 'c1', member: 'm1', indexedDB: factory, locks: null, ...base, ...o });
  return { factory, options, open: (o: Opts = {}) => IdbStore.open(options(o)) };
}

function bytes(seed: number, n = 8): Uint8Array {
  return Uint8Array.from({ length: n }, (_, k) => (seed * 31 + k * 7) & 0xff);
}

function entry(index: number, term: number, n = 8): Entry {
  return { index, term, type: 'normal', data: bytes(index * 100 + term, n) };
}

function run(from: number, to: number, term: number): Entry[] {
  return Array.from({ length: to - from + 1 }, (_, k) => entry(from + k, term));
}

function batch(b: Partial<StoreBatch>): StoreBatch {
  return { snapshot: null, entries: [], hardState: null, ...b };
}

function snapshot(index: number, term: number): Snapshot {
  return { meta: { index, term, conf: { voters: ['m1', 'm2', 'm3'], learners: [] } }, data: bytes(index, 32) };
}

async function rejects(p: Promise<unknown>, code: string): Promise<StoreError> {
  try {
    await p;
  } catch (err) {
    assert.instance(err, StoreError, `expected a StoreError, got ${String(err)}`);
    assert.is((err as StoreError).code, code, (err as StoreError).message);
    return err as StoreError;
  }
  throw new assert.Assertion({ message: `expected rejection with ${code}`, generated: false, operator: 'rejects', expects: code, actual: 'resolved' });
}

function indexes(entries: readonly Entry[]): number[] {
  return entries.map((e) => e.index);
}

async function rawDb(factory: IDBFactory, name: string, version?: number): Promise<IDBDatabase> {
  return promisifyRequest(version === undefined ? factory.open(name) : factory.open(name, version));
}

async function rawKeys(factory: IDBFactory, name: string): Promise<IDBValidKey[]> {
  const db = await rawDb(factory, name);
  const keys = await promisifyRequest(db.transaction('log').objectStore('log').getAllKeys());
  db.close();
  return keys;
}

async function rawPut(factory: IDBFactory, name: string, key: IDBValidKey, value: unknown): Promise<void> {
  const db = await rawDb(factory, name);
  const tx = db.transaction('log', 'readwrite');
  tx.objectStore('log').put(value, key);
  await promisifyRequest(tx);
  db.close();
}

// ---------- the shared contract

// The suite handles some refused saves only after awaiting an earlier save. MemoryStore settles
// both in the same microtask turn, IndexedDB settles in a later task, so Node would report the
// refusal as unhandled and exit. Tolerate rejections handled late; the last test below fails
// on any that stay unhandled.
const unhandled = new Map<Promise<unknown>, unknown>();
process.on('unhandledRejection', (reason, promise) => void unhandled.set(promise, reason));
process.on('rejectionHandled', (promise) => void unhandled.delete(promise));

{
  let current: { origin: ReturnType<typeof origin>; store: LogStore } | null = null;
  storeConformance('IdbStore (fake-indexeddb)', {
    async open() {
      const o = origin();
      current = { origin: o, store: await o.open() };
      return current.store;
    },
    async reopen() {
      assert.ok(current !== null, 'reopen() after open()');
      await current.store.close();
      current.store = await current.origin.open();
      return current.store;
    },
  });
}

// ---------- IndexedDB specifics

const idb = suite('IdbStore');

idb('a new member starts empty and survives a reload with everything it saved', async () => {
  const o = origin();
  let store = await o.open();
  const empty = await store.load();
  assert.equal(empty, { hardState: emptyHardState, snapshot: null, entries: [] });
  await store.save(batch({ entries: run(1, 5, 1), hardState: { term: 1, vote: 'm2', commit: 3 } }));
  await store.close();

  store = await o.open();
  const loaded = await store.load();
  assert.equal(loaded.hardState, { term: 1, vote: 'm2', commit: 3 });
  assert.equal(loaded.entries, run(1, 5, 1));
  assert.instance(loaded.entries[0]?.data, Uint8Array);
  assert.equal(await store.entries(2, 4), run(2, 3, 1));
  await store.close();
});

idb('one Ready (snapshot, entries, hard state) is one readwrite transaction', async () => {
  const o = origin();
  const store = await o.open();
  const modes: string[] = [];
  const original = IDBDatabase.prototype.transaction;
  IDBDatabase.prototype.transaction = function (this: IDBDatabase, ...args: Parameters<IDBDatabase['transaction']>) {
    modes.push(String(args[1] ?? 'readonly'));
    return original.apply(this, args);
  };
  try {
    await store.save(batch({ snapshot: snapshot(10, 2), entries: run(11, 14, 3), hardState: { term: 3, vote: null, commit: 12 } }));
  } finally {
    IDBDatabase.prototype.transaction = original;
  }
  assert.equal(modes, ['readwrite']);
  const loaded = await store.load();
  assert.is(loaded.snapshot?.meta.index, 10);
  assert.equal(indexes(loaded.entries), [11, 12, 13, 14]);
  assert.is(loaded.hardState.commit, 12);
  await store.close();
});

idb('overlapping saves resolve in call order and share transactions', async () => {
  const o = origin();
  const store = await o.open();
  let transactions = 0;
  let hardStatePuts = 0;
  const original = IDBDatabase.prototype.transaction;
  IDBDatabase.prototype.transaction = function (this: IDBDatabase, ...args: Parameters<IDBDatabase['transaction']>) {
    if (args[1] === 'readwrite') transactions += 1;
    return original.apply(this, args);
  };
  const originalPut = IDBObjectStore.prototype.put;
  IDBObjectStore.prototype.put = function (this: IDBObjectStore, value: unknown, key?: IDBValidKey) {
    if (key === 'hardState') hardStatePuts += 1;
    return originalPut.call(this, value, key);
  };
  const resolved: number[] = [];
  try {
    const saves: Promise<void>[] = [];
    for (let i = 1; i <= 40; i += 1) {
      const hardState = { term: 1, vote: 'm1', commit: Math.min(i - 1, 25) };
      saves.push(store.save(batch({ entries: [entry(i, 1)], hardState })).then(() => { resolved.push(i); }));
    }
    // A conflicting overwrite and a compaction, validated against the calls before them.
    saves.push(store.save(batch({ entries: run(30, 32, 2) })).then(() => { resolved.push(41); }));
    saves.push(store.saveSnapshot(snapshot(20, 1)).then(() => { resolved.push(42); }));
    await Promise.all(saves);
  } finally {
    IDBDatabase.prototype.transaction = original;
    IDBObjectStore.prototype.put = originalPut;
  }
  assert.equal(resolved, Array.from({ length: 42 }, (_, k) => k + 1));
  assert.ok(transactions >= 1 && transactions < 42, `expected grouped transactions, got ${transactions}`);
  assert.ok(hardStatePuts <= transactions, `a group writes its last hard state only: ${hardStatePuts} puts in ${transactions} transactions`);
  const loaded = await store.load();
  assert.is(loaded.snapshot?.meta.index, 20);
  assert.equal(indexes(loaded.entries), Array.from({ length: 12 }, (_, k) => 21 + k));
  assert.is(loaded.entries.at(-1)?.term, 2);
  assert.is(loaded.hardState.commit, 25);
  await store.close();
});

idb('overwriting a conflicting suffix deletes the stale entries after it', async () => {
  const o = origin();
  const store = await o.open();
  await store.save(batch({ entries: run(1, 8, 1) }));
  await store.save(batch({ entries: run(4, 5, 2) }));
  assert.equal(indexes(await store.entries(1, 6)), [1, 2, 3, 4, 5]);
  await rejects(store.entries(1, 7), 'ERR_STORE_INVALID');
  // Records are runs keyed by their first index: 1..8 was cut back to 1..3, then 4..5 written.
  assert.equal(await rawKeys(o.factory, store.databaseName), [1, 4, 'meta']);
  await store.close();
  const again = await o.open();
  const loaded = await again.load();
  assert.equal(loaded.entries, [...run(1, 3, 1), ...run(4, 5, 2)]);
  await again.close();
});

idb('invalid batches are refused and leave the store usable', async () => {
  const o = origin();
  const store = await o.open();
  await store.save(batch({ entries: run(1, 3, 1) }));
  await rejects(store.save(batch({ entries: [entry(5, 1)] })), 'ERR_STORE_INVALID');
  await rejects(store.save(batch({ entries: [entry(4, 1), entry(6, 1)] })), 'ERR_STORE_INVALID');
  await rejects(store.save(batch({ entries: [{ ...entry(4, 1), index: 4.5 }] })), 'ERR_STORE_INVALID');
  await rejects(store.save(batch({ hardState: { term: -1, vote: null, commit: 0 } })), 'ERR_STORE_INVALID');
  await rejects(store.saveSnapshot(snapshot(9, 1)), 'ERR_STORE_INVALID');
  await rejects(store.entries(2, 1), 'ERR_STORE_INVALID');
  await rejects(store.entries(0, 2), 'ERR_STORE_COMPACTED');
  await store.save(batch({ entries: [entry(4, 1)] }));
  assert.equal(indexes((await store.load()).entries), [1, 2, 3, 4]);
  await store.close();
});

idb('saveSnapshot compacts covered entries; a leader snapshot in save() replaces the log', async () => {
  const o = origin();
  const store = await o.open();
  await store.save(batch({ entries: run(1, 10, 1) }));
  await store.saveSnapshot(snapshot(6, 1));
  // The run 1..10 was cut: its tail 7..10 is rewritten under its new first index.
  assert.equal(await rawKeys(o.factory, store.databaseName), [7, 'meta', 'snapshotData', 'snapshotMeta']);
  await rejects(store.entries(6, 8), 'ERR_STORE_COMPACTED');
  assert.equal(indexes(await store.entries(7, 11)), [7, 8, 9, 10]);
  await rejects(store.saveSnapshot(snapshot(5, 1)), 'ERR_STORE_INVALID');

  await rejects(store.save(batch({ snapshot: snapshot(20, 3), entries: run(19, 22, 3) })), 'ERR_STORE_INVALID');
  await store.save(batch({ snapshot: snapshot(20, 3), entries: run(21, 22, 3) }));
  assert.equal(await rawKeys(o.factory, store.databaseName), [21, 'meta', 'snapshotData', 'snapshotMeta']);
  const loaded = await store.load();
  assert.equal(loaded.snapshot, snapshot(20, 3));
  assert.instance(loaded.snapshot?.data, Uint8Array);
  assert.equal(indexes(loaded.entries), [21, 22]);
  await rejects(store.save(batch({ snapshot: snapshot(20, 3) })), 'ERR_STORE_INVALID');
  await store.close();
});

idb('entry data is stored compactly even when it views a larger buffer', async () => {
  const o = origin();
  const store = await o.open();
  const big = new Uint8Array(1 << 16).fill(7);
  await store.save(batch({ entries: [{ index: 1, term: 1, type: 'normal', data: big.subarray(100, 356) }] }));
  const [stored] = await store.entries(1, 2);
  assert.is(stored?.data.byteLength, 256);
  assert.is(stored?.data.buffer.byteLength, 256);
  await store.close();
});

idb('config entries keep their conf change', async () => {
  const o = origin();
  const store = await o.open();
  const conf: Entry = { index: 1, term: 1, type: 'config', data: new Uint8Array(0), conf: { type: 'addLearner', node: 'm4' } };
  await store.save(batch({ entries: [conf] }));
  await rejects(store.save(batch({ entries: [{ index: 2, term: 1, type: 'config', data: new Uint8Array(0) }] })), 'ERR_STORE_INVALID');
  assert.equal(await store.entries(1, 2), [conf]);
  await store.close();
});

// ---------- quota

/** Makes IndexedDB puts of entries fail the way Chromium reports a full origin. */
function failPutsWithQuota(mode: 'abort' | 'throw'): () => void {
  const original = IDBObjectStore.prototype.put;
  IDBObjectStore.prototype.put = function (this: IDBObjectStore, value: unknown, key?: IDBValidKey) {
    if (typeof key !== 'number') return original.call(this, value, key);
    if (mode === 'throw') throw new DOMException('The quota has been exceeded.', 'QuotaExceededError');
    const request = original.call(this, value, key);
    const tx = this.transaction as unknown as { _abort(name: string): void };
    // Chromium aborts the transaction with the quota error when it commits.
    request.addEventListener('success', () => tx._abort('QuotaExceededError'));
    return request;
  };
  return () => {
    IDBObjectStore.prototype.put = original;
  };
}

for (const mode of ['abort', 'throw'] as const) {
  idb(`a QuotaExceededError (${mode}) becomes ERR_STORE_QUOTA and nothing of the group lands`, async () => {
    const o = origin();
    let store = await o.open();
    await store.save(batch({ entries: run(1, 2, 1), hardState: { term: 1, vote: null, commit: 0 } }));
    const restore = failPutsWithQuota(mode);
    let first: StoreError;
    let second: StoreError;
    try {
      const a = store.save(batch({ entries: [entry(3, 1, 256), entry(4, 1, 256)], hardState: { term: 1, vote: null, commit: 2 } }));
      await Promise.resolve(); // a's transaction is now in flight; b queues behind it
      const b = store.save(batch({ entries: [entry(5, 1)] }));
      first = await rejects(a, 'ERR_STORE_QUOTA');
      second = await rejects(b, 'ERR_STORE_QUOTA');
    } finally {
      restore();
    }
    const bytesWritten = 2 * (256 + 24) + 64; // two entries and the hard state record
    assert.match(first.message, `writing ${bytesWritten} bytes`);
    assert.match(first.message, 'edgeraft:c1:m1');
    assert.match(first.message, 'navigator.storage.persist()');
    assert.match(second.message, 'earlier write failed');
    await rejects(store.save(batch({ entries: [entry(3, 1)] })), 'ERR_STORE_QUOTA');
    await store.close();

    store = await o.open();
    const loaded = await store.load();
    assert.equal(indexes(loaded.entries), [1, 2]);
    assert.is(loaded.hardState.commit, 0);
    await store.save(batch({ entries: [entry(3, 1)] }));
    await store.close();
  });
}

// ---------- format and version

idb('a database of a newer schema or format version is refused with ERR_STORE_VERSION', async () => {
  const o = origin();
  const name = IdbStore.databaseName('c1', 'm1');
  const db = await rawDb(o.factory, name, 2);
  db.close();
  const schema = await rejects(o.open(), 'ERR_STORE_VERSION');
  assert.match(schema.message, name);

  const p = origin();
  const store = await p.open();
  await store.save(batch({ entries: run(1, 2, 1) }));
  await store.close();
  await rawPut(p.factory, name, 'meta', { format: 'edgeraft-idb', version: 99, cluster: 'c1', member: 'm1' });
  const format = await rejects(p.open(), 'ERR_STORE_VERSION');
  assert.match(format.message, 'format version 99');
  // The refusal released the lock: fixing the record lets the member open again.
  await rawPut(p.factory, name, 'meta', { format: 'edgeraft-idb', version: 1, cluster: 'c1', member: 'm1' });
  const fixed = await p.open();
  assert.equal(indexes((await fixed.load()).entries), [1, 2]);
  await fixed.close();
});

idb('databases edgeraft did not write, or damaged ones, are refused with ERR_STORE_CORRUPT', async () => {
  const o = origin();
  const name = IdbStore.databaseName('c1', 'm1');
  globalThis.indexedDB = o.factory; // idb-keyval's createStore opens through the global factory
  await setMany([['x', 1]], createStore(name, 'keyval'));
  await rejects(o.open(), 'ERR_STORE_CORRUPT');

  const p = origin();
  const store = await p.open();
  // One save per entry: one record each, so the record at key 2 holds entry 2 alone.
  for (const e of run(1, 4, 1)) await store.save(batch({ entries: [e] }));
  await store.close();
  await rawPut(p.factory, name, 2, { ...entry(3, 1) });
  const moved = await rejects(p.open(), 'ERR_STORE_CORRUPT');
  assert.match(moved.message, 'under key 2 says index 3');
  await rawPut(p.factory, name, 2, { ...entry(2, 5) });
  const terms = await rejects(p.open(), 'ERR_STORE_CORRUPT');
  assert.match(terms.message, 'inconsistent log');
  await rawPut(p.factory, name, 2, { ...entry(2, 1), data: 'not bytes' });
  await rejects(p.open(), 'ERR_STORE_CORRUPT');
  // A single entry (the version 1 record shape) between runs is read as a run of one.
  await rawPut(p.factory, name, 2, entry(2, 1));
  const repaired = await p.open();
  assert.equal((await repaired.load()).entries, run(1, 4, 1));
  await repaired.close();

  // Damaged runs: an index out of place inside one, an empty one, one overlapping the next.
  await rawPut(p.factory, name, 2, [entry(2, 1), entry(4, 1)]);
  const inside = await rejects(p.open(), 'ERR_STORE_CORRUPT');
  assert.match(inside.message, 'entry 1 of the run stored under key 2 says index 4, expected 3');
  await rawPut(p.factory, name, 2, []);
  await rejects(p.open(), 'ERR_STORE_CORRUPT');
  await rawPut(p.factory, name, 2, [entry(2, 1), entry(3, 1)]);
  const overlap = await rejects(p.open(), 'ERR_STORE_CORRUPT');
  assert.match(overlap.message, 'inconsistent log');
  await rawPut(p.factory, name, 2, [entry(2, 1)]);
  const again = await p.open();
  assert.equal((await again.load()).entries, run(1, 4, 1));
  await again.close();

  await rawPut(p.factory, name, 'meta', { format: 'edgeraft-idb', version: 1, cluster: 'c1', member: 'other' });
  await rejects(p.open(), 'ERR_STORE_CORRUPT');
});

// ---------- entry runs

/** Every record under a numeric key, as [key, entries in it]. */
async function rawRuns(factory: IDBFactory, name: string): Promise<Array<[number, number]>> {
  const db = await rawDb(factory, name);
  const store = db.transaction('log').objectStore('log');
  const range = IDBKeyRange.bound(-Infinity, Infinity);
  const [keys, values] = await Promise.all([promisifyRequest(store.getAllKeys(range)), promisifyRequest(store.getAll(range))]);
  db.close();
  return keys.map((k, i) => [k as number, Array.isArray(values[i]) ? (values[i] as unknown[]).length : 1]);
}

idb('a catch-up is stored in few records: runs of up to recordBytesMax bytes', async () => {
  const o = origin({ recordBytesMax: 1024 });
  const store = await o.open();
  const many = Array.from({ length: 100 }, (_, k) => entry(k + 1, 1, 232)); // 256 bytes each by entryBytes
  await store.save(batch({ entries: many, hardState: { term: 1, vote: null, commit: 100 } }));
  const runs = await rawRuns(o.factory, store.databaseName);
  assert.equal(runs, Array.from({ length: 25 }, (_, k): [number, number] => [1 + 4 * k, 4]));
  // One entry larger than a record still gets a record of its own.
  await store.save(batch({ entries: [entry(101, 1, 4000), entry(102, 1, 8)] }));
  assert.equal((await rawRuns(o.factory, store.databaseName)).slice(-2), [[101, 1], [102, 1]]);
  await store.close();
  const again = await o.open();
  assert.equal((await again.load()).entries, [...many, entry(101, 1, 4000), entry(102, 1, 8)]);
  await again.close();
});

idb('an overwrite and a compaction that cut inside runs keep exactly the surviving entries', async () => {
  const o = origin({ recordBytesMax: 10 * 32 }); // ten 8-byte entries (32 bytes each) per record
  let store = await o.open();
  await store.save(batch({ entries: run(1, 40, 1), hardState: { term: 1, vote: null, commit: 12 } }));
  assert.equal(await rawRuns(o.factory, store.databaseName), [[1, 10], [11, 10], [21, 10], [31, 10]]);
  await store.save(batch({ entries: run(17, 19, 2), hardState: { term: 2, vote: null, commit: 12 } }));
  assert.equal(await rawRuns(o.factory, store.databaseName), [[1, 10], [11, 6], [17, 3]]);
  await store.saveSnapshot(snapshot(12, 1));
  assert.equal(await rawRuns(o.factory, store.databaseName), [[13, 4], [17, 3]]);
  // Cut at a record boundary: nothing to rewrite.
  await store.saveSnapshot(snapshot(16, 1));
  assert.equal(await rawRuns(o.factory, store.databaseName), [[17, 3]]);
  await store.save(batch({ entries: run(20, 22, 2) }));
  await store.close();
  store = await o.open();
  const loaded = await store.load();
  assert.equal(loaded.entries, [...run(17, 22, 2)]);
  assert.is(loaded.snapshot?.meta.index, 16);
  // The reopened store knows its records: an overwrite inside the last run cuts it.
  await store.save(batch({ entries: run(21, 21, 3), hardState: { term: 3, vote: null, commit: 12 } }));
  assert.equal(await rawRuns(o.factory, store.databaseName), [[17, 3], [20, 1], [21, 1]]);
  await store.close();
});

idb('a format version 1 database (one entry per record) opens, reads, and is marked version 2', async () => {
  const o = origin();
  const name = IdbStore.databaseName('c1', 'm1');
  const created = await o.open();
  await created.close();
  await rawPut(o.factory, name, 'meta', { format: 'edgeraft-idb', version: 1, cluster: 'c1', member: 'm1' });
  for (const e of run(1, 5, 1)) await rawPut(o.factory, name, e.index, e);
  await rawPut(o.factory, name, 'hardState', { term: 1, vote: 'm2', commit: 3 });
  const store = await o.open();
  assert.equal((await store.load()).entries, run(1, 5, 1));
  const db = await rawDb(o.factory, name);
  const meta = await promisifyRequest(db.transaction('log').objectStore('log').get('meta'));
  db.close();
  assert.equal(meta, { format: 'edgeraft-idb', version: 2, cluster: 'c1', member: 'm1' });
  // Old single-entry records and new runs side by side: overwrite inside, compact, reload.
  await store.save(batch({ entries: run(4, 8, 2), hardState: { term: 2, vote: null, commit: 3 } }));
  await store.saveSnapshot(snapshot(2, 1));
  await store.close();
  const again = await o.open();
  const loaded = await again.load();
  assert.equal(loaded.entries, [entry(3, 1), ...run(4, 8, 2)]);
  await again.close();
});

// ---------- locks and isolation

/** The Web Locks subset IdbStore uses, for Node (which has no navigator.locks before v22). */
class FakeLocks {
  readonly #held = new Set<string>();
  request(name: string, _options: LockOptions, callback: (lock: Lock | null) => unknown): Promise<unknown> {
    if (this.#held.has(name)) return Promise.resolve(callback(null));
    this.#held.add(name);
    return Promise.resolve(callback({ name, mode: 'exclusive' })).finally(() => this.#held.delete(name));
  }
}

for (const kind of ['in-process registry', 'Web Locks'] as const) {
  idb(`a second open of the same member is refused with ERR_STORE_LOCKED (${kind})`, async () => {
    const locks = kind === 'Web Locks' ? (new FakeLocks() as unknown as LockManager) : null;
    const o = origin({ locks });
    const first = await o.open();
    const refused = await rejects(o.open(), 'ERR_STORE_LOCKED');
    assert.match(refused.message, 'edgeraft:c1:m1');
    await rejects(IdbStore.destroy(o.options()), 'ERR_STORE_LOCKED');
    const other = await o.open({ member: 'm2' });
    await first.close();
    const second = await o.open();
    await second.close();
    await other.close();
    await IdbStore.destroy(o.options());
  });
}

idb('clusters and members never share a database', async () => {
  const o = origin();
  const ids = [['c1', 'm1'], ['c1', 'm2'], ['c2', 'm1'], ['c:1', 'm'], ['c', '1:m']] as const;
  const stores = await Promise.all(ids.map(([cluster, member]) => o.open({ cluster, member })));
  assert.is(new Set(stores.map((s) => s.databaseName)).size, ids.length);
  await Promise.all(stores.map((s, k) => s.save(batch({ entries: run(1, k + 1, k + 1) }))));
  await Promise.all(stores.map((s) => s.close()));
  for (const [k, [cluster, member]] of ids.entries()) {
    const s = await o.open({ cluster, member });
    assert.equal((await s.load()).entries, run(1, k + 1, k + 1), `${cluster}/${member}`);
    await s.close();
  }
  // Another origin (factory) holds its own databases under the same names.
  const elsewhere = await origin().open();
  assert.equal((await elsewhere.load()).entries, []);
  await elsewhere.close();
});

idb('a closed store refuses work; close is idempotent and waits for pending saves', async () => {
  const o = origin();
  const store = await o.open();
  const pending = store.save(batch({ entries: run(1, 3, 1) }));
  const closing = store.close();
  await rejects(store.save(batch({ entries: [entry(4, 1)] })), 'ERR_STORE_CLOSED');
  await pending;
  await closing;
  await store.close();
  await rejects(store.load(), 'ERR_STORE_CLOSED');
  await rejects(store.entries(1, 2), 'ERR_STORE_CLOSED');
  const again = await o.open();
  assert.equal(indexes((await again.load()).entries), [1, 2, 3]);
  await again.close();
});

idb('pendingBytesMax bounds what is accepted but not yet durable', async () => {
  const o = origin({ transactionBytesMax: 1024, pendingBytesMax: 2048 });
  const store = await o.open();
  const a = store.save(batch({ entries: [entry(1, 1, 900)] }));
  const b = store.save(batch({ entries: [entry(2, 1, 900)] }));
  const refused = await rejects(store.save(batch({ entries: [entry(3, 1, 900)] })), 'ERR_STORE_INVALID');
  assert.match(refused.message, 'pendingBytesMax 2048');
  await Promise.all([a, b]);
  await store.save(batch({ entries: [entry(3, 1, 900)] }));
  assert.equal(indexes((await store.load()).entries), [1, 2, 3]);
  await store.close();
  await rejects(IdbStore.open({ cluster: 'c', member: 'm', indexedDB: o.factory, locks: null, pendingBytesMax: 10, transactionBytesMax: 100 }), 'ERR_STORE_INVALID');
  await rejects(IdbStore.open({ cluster: '', member: 'm', indexedDB: o.factory, locks: null }), 'ERR_STORE_INVALID');
});

idb.run();

const last = suite('IdbStore tests');
last('leave no rejection unhandled', async () => {
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal([...unhandled.values()].map(String), []);
});
last.run();
