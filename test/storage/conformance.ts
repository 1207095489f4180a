// The LogStore contract as one uvu suite that every store runs (memory, file WAL, IndexedDB):
// ordering, overwrite, snapshots, compaction, reopen, validation and exact binary round trips.
// A store passes when it behaves like the contract in src/core/storage.ts, not like one store.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { StoreError } from '../../src/core/storage.ts';
import type { LogStore, StoreBatch, StoreErrorCode } from '../../src/core/storage.ts';
import { emptyHardState } from '../../src/core/types.ts';
import type { ConfChange, Entry, HardState, Snapshot } from '../../src/core/types.ts';

/**
 * How the suite reaches a store. `open()` creates fresh, empty storage and returns an open store
 * on it; `reopen()` closes the current instance (the one the last open()/reopen() returned) and
 * opens the same underlying storage again, as a restarted process would. `dispose()`, if given,
 * runs once after the whole suite (remove temp dirs, delete databases).
 */
export interface StoreFactory {
  open(): Promise<LogStore>;
  reopen(): Promise<LogStore>;
  dispose?(): Promise<void>;
}

// Deterministic payloads: the data of (index, term) is recognizable, and sizes vary.
export function entry(index: number, term: number, bytes = 16): Entry {
  const data = new Uint8Array(bytes);
  for (let k = 0; k < bytes; k++) data[k] = (index * 31 + term * 7 + k) & 0xff;
  return { index, term, type: 'normal', data };
}

export function entriesFrom(lo: number, hi: number, term: number, bytes = 16): Entry[] {
  const out: Entry[] = [];
  for (let i = lo; i < hi; i++) out.push(entry(i, term, bytes));
  return out;
}

export function batch(parts: Partial<StoreBatch>): StoreBatch {
  return { snapshot: parts.snapshot ?? null, entries: parts.entries ?? [], hardState: parts.hardState ?? null };
}

export function snapshot(index: number, term: number, bytes = 32): Snapshot {
  const data = new Uint8Array(bytes);
  for (let k = 0; k < bytes; k++) data[k] = (index + k * 13) & 0xff;
  return { meta: { index, term, conf: { voters: ['a', 'b', 'c'], learners: ['d'] } }, data };
}

export async function rejects(p: Promise<unknown>, code: StoreErrorCode, pattern?: RegExp): Promise<StoreError> {
  try {
    await p;
  } catch (err) {
    assert.instance(err, StoreError, `expected a StoreError, got ${String(err)}`);
    const e = err as StoreError;
    assert.is(e.code, code, `expected ${code}, got ${e.code}: ${e.message}`);
    if (pattern) assert.match(e.message, pattern);
    return e;
  }
  assert.unreachable(`expected ${code}`);
  throw new Error('unreachable');
}

async function expectLog(store: LogStore, lo: number, hi: number, check: (e: Entry) => Entry): Promise<void> {
  const loaded = await store.load();
  assert.is(loaded.entries.length, hi - lo, `expected entries [${lo}, ${hi})`);
  assert.is(loaded.entries[0]?.index ?? lo, lo);
  for (const e of loaded.entries) assert.equal(e, check(e), `entry ${e.index}`);
  assert.equal(await store.entries(lo, hi), loaded.entries);
}

/** Registers (and queues with run()) the `store conformance: <name>` suite. */
export function storeConformance(name: string, factory: StoreFactory): void {
  const test = suite(`store conformance: ${name}`);
  let current: LogStore | null = null;
  const open = async (): Promise<LogStore> => (current = await factory.open());
  const reopen = async (): Promise<LogStore> => (current = await factory.reopen());

  test.after.each(async () => {
    await current?.close();
    current = null;
  });
  test.after(async () => {
    await factory.dispose?.();
  });

  test('empty storage loads as an empty log', async () => {
    const s = await open();
    const loaded = await s.load();
    assert.equal(loaded.hardState, emptyHardState);
    assert.is(loaded.snapshot, null);
    assert.equal(loaded.entries, []);
    assert.equal(await s.entries(1, 1), []);
  });

  test('appends across many batches keep their order, also after reopen', async () => {
    let s = await open();
    let next = 1;
    for (let b = 0; b < 40; b++) {
      const n = 1 + ((b * 7) % 9);
      await s.save(batch({ entries: entriesFrom(next, next + n, 1 + (b >> 3), 8 + b) }));
      next += n;
    }
    const loaded = await s.load();
    assert.is(loaded.entries.length, next - 1);
    loaded.entries.forEach((e, k) => assert.is(e.index, k + 1));
    s = await reopen();
    assert.equal((await s.load()).entries, loaded.entries);
  });

  test('overlapping saves resolve in call order and all take effect', async () => {
    let s = await open();
    const order: number[] = [];
    const pending: Promise<void>[] = [];
    for (let k = 0; k < 30; k++) {
      const hs: HardState = { term: 1, vote: 'a', commit: k };
      pending.push(s.save(batch({ entries: [entry(k + 1, 1)], hardState: hs })).then(() => void order.push(k)));
    }
    await Promise.all(pending);
    assert.equal(order, [...Array(30).keys()]);
    s = await reopen();
    const loaded = await s.load();
    assert.is(loaded.entries.length, 30);
    assert.equal(loaded.hardState, { term: 1, vote: 'a', commit: 29 });
  });

  test('a conflicting suffix is overwritten, including truncation to a shorter log', async () => {
    let s = await open();
    await s.save(batch({ entries: entriesFrom(1, 11, 1) }));
    await s.save(batch({ entries: entriesFrom(6, 9, 2) }));
    await expectLog(s, 1, 9, (e) => entry(e.index, e.index < 6 ? 1 : 2));
    await s.save(batch({ entries: [entry(4, 3)] }));
    await expectLog(s, 1, 5, (e) => entry(e.index, e.index < 4 ? 1 : 3));
    s = await reopen();
    await expectLog(s, 1, 5, (e) => entry(e.index, e.index < 4 ? 1 : 3));
    // Overlapping saves that overwrite each other still end in call order.
    const a = s.save(batch({ entries: entriesFrom(5, 20, 3) }));
    const b = s.save(batch({ entries: entriesFrom(8, 10, 4) }));
    const c = s.save(batch({ entries: entriesFrom(10, 12, 4) }));
    await Promise.all([a, b, c]);
    const expected = (e: Entry): Entry => entry(e.index, e.index < 4 ? 1 : e.index < 8 ? 3 : 4);
    await expectLog(s, 1, 12, expected);
    s = await reopen();
    await expectLog(s, 1, 12, expected);
  });

  test('hard state round-trips, with and without a vote', async () => {
    let s = await open();
    await s.save(batch({ hardState: { term: 3, vote: 'node-2', commit: 0 } }));
    s = await reopen();
    assert.equal((await s.load()).hardState, { term: 3, vote: 'node-2', commit: 0 });
    await s.save(batch({ entries: entriesFrom(1, 4, 3), hardState: { term: 3, vote: 'node-2', commit: 2 } }));
    await s.save(batch({ hardState: { term: 5, vote: null, commit: 3 } }));
    s = await reopen();
    assert.equal((await s.load()).hardState, { term: 5, vote: null, commit: 3 });
  });

  test('save({snapshot}) installs it and replaces the whole log', async () => {
    let s = await open();
    await s.save(batch({ entries: entriesFrom(1, 21, 1) }));
    // A snapshot below the last index still drops every entry (the log is replaced).
    const snap = snapshot(12, 2, 1000);
    await s.save(batch({ snapshot: snap, entries: entriesFrom(13, 15, 2), hardState: { term: 2, vote: null, commit: 12 } }));
    const check = async (st: LogStore): Promise<void> => {
      const loaded = await st.load();
      assert.equal(loaded.snapshot, snap);
      assert.equal(loaded.entries, entriesFrom(13, 15, 2));
      assert.equal(loaded.hardState, { term: 2, vote: null, commit: 12 });
      assert.equal(await st.entries(13, 15), entriesFrom(13, 15, 2));
      await rejects(st.entries(12, 14), 'ERR_STORE_COMPACTED', /12/);
    };
    await check(s);
    s = await reopen();
    await check(s);
    // A later install beyond the last index also works, and appends continue after it.
    const snap2 = snapshot(40, 3, 0);
    await s.save(batch({ snapshot: snap2 }));
    await s.save(batch({ entries: [entry(41, 3)] }));
    s = await reopen();
    const loaded = await s.load();
    assert.equal(loaded.snapshot, snap2);
    assert.equal(loaded.entries, [entry(41, 3)]);
  });

  test('saveSnapshot compacts the prefix and keeps the tail', async () => {
    let s = await open();
    await s.save(batch({ entries: entriesFrom(1, 31, 1, 100), hardState: { term: 1, vote: 'a', commit: 25 } }));
    const snap = snapshot(20, 1, 5000);
    await s.saveSnapshot(snap);
    const check = async (st: LogStore): Promise<void> => {
      const loaded = await st.load();
      assert.equal(loaded.snapshot, snap);
      assert.equal(loaded.entries, entriesFrom(21, 31, 1, 100));
      assert.equal(loaded.hardState, { term: 1, vote: 'a', commit: 25 });
      await rejects(st.entries(20, 22), 'ERR_STORE_COMPACTED', /20/);
      assert.equal(await st.entries(21, 23), entriesFrom(21, 23, 1, 100));
    };
    await check(s);
    s = await reopen();
    await check(s);
    await s.save(batch({ entries: [entry(31, 2)] }));
    await s.saveSnapshot(snapshot(31, 2));
    s = await reopen();
    const loaded = await s.load();
    assert.is(loaded.snapshot?.meta.index, 31);
    assert.equal(loaded.entries, []);
    assert.equal(await s.entries(32, 32), []);
  });

  test('entries(lo, hi) returns exact ranges and refuses bad ones', async () => {
    const s = await open();
    await s.save(batch({ entries: entriesFrom(1, 11, 1) }));
    assert.equal(await s.entries(1, 11), entriesFrom(1, 11, 1));
    assert.equal(await s.entries(3, 4), [entry(3, 1)]);
    assert.equal(await s.entries(5, 5), []);
    assert.equal(await s.entries(11, 11), []);
    await rejects(s.entries(5, 12), 'ERR_STORE_INVALID', /12/);
    await rejects(s.entries(6, 5), 'ERR_STORE_INVALID');
    await rejects(s.entries(0, 3), 'ERR_STORE_COMPACTED');
  });

  test('reopen after close restores hard state, snapshot and entries', async () => {
    let s = await open();
    const conf: ConfChange = { type: 'addLearner', node: 'n-9' };
    await s.save(batch({ entries: entriesFrom(1, 6, 1), hardState: { term: 1, vote: 'a', commit: 5 } }));
    await s.saveSnapshot(snapshot(3, 1));
    await s.save(batch({ entries: [{ index: 6, term: 2, type: 'config', data: new Uint8Array(0), conf }], hardState: { term: 2, vote: 'b', commit: 6 } }));
    const before = await s.load();
    s = await reopen();
    assert.equal(await s.load(), before);
    s = await reopen();
    assert.equal(await s.load(), before);
  });

  test('invalid batches are refused with clear errors and change nothing', async () => {
    let s = await open();
    await s.save(batch({ entries: entriesFrom(1, 6, 2), hardState: { term: 2, vote: 'a', commit: 2 } }));
    await rejects(s.save(batch({ entries: [entry(8, 2)] })), 'ERR_STORE_INVALID', /gap.*8.*5/);
    await rejects(s.save(batch({ entries: [entry(6, 2), entry(8, 2)] })), 'ERR_STORE_INVALID', /contiguous.*8.*6/);
    await rejects(s.save(batch({ entries: [entry(6, 1)] })), 'ERR_STORE_INVALID', /term 1.*below/);
    await rejects(s.save(batch({ entries: [entry(2, 3)] })), 'ERR_STORE_INVALID', /committed/);
    await rejects(s.save(batch({ hardState: { term: 1, vote: null, commit: 2 } })), 'ERR_STORE_INVALID', /term 1.*below/);
    await rejects(s.save(batch({ hardState: { term: 2, vote: 'b', commit: 2 } })), 'ERR_STORE_INVALID', /vote/);
    await rejects(s.save(batch({ hardState: { term: 2, vote: 'a', commit: 9 } })), 'ERR_STORE_INVALID', /commit 9.*5/);
    const bad = { index: 6, term: 2, type: 'normal', data: 'x' } as unknown as Entry;
    await rejects(s.save(batch({ entries: [bad] })), 'ERR_STORE_INVALID', /data/);
    await rejects(s.saveSnapshot(snapshot(9, 2)), 'ERR_STORE_INVALID', /beyond/);
    await rejects(s.saveSnapshot(snapshot(4, 7)), 'ERR_STORE_INVALID', /term/);
    await s.saveSnapshot(snapshot(4, 2));
    await rejects(s.saveSnapshot(snapshot(3, 2)), 'ERR_STORE_INVALID', /not newer/);
    await rejects(s.save(batch({ snapshot: snapshot(4, 2) })), 'ERR_STORE_INVALID', /not newer/);
    await rejects(s.save(batch({ entries: [entry(4, 2)] })), 'ERR_STORE_INVALID', /snapshot/);
    // A refused batch mixed into overlapping valid ones leaves the valid ones intact.
    const ok1 = s.save(batch({ entries: [entry(6, 2)] }));
    const bad1 = rejects(s.save(batch({ entries: [entry(9, 2)] })), 'ERR_STORE_INVALID', /gap/);
    const ok2 = s.save(batch({ entries: [entry(7, 2)] }));
    await ok1;
    await bad1;
    await ok2;
    s = await reopen();
    const loaded = await s.load();
    assert.equal(loaded.entries, entriesFrom(5, 8, 2));
    assert.equal(loaded.hardState, { term: 2, vote: 'a', commit: 2 });
    assert.is(loaded.snapshot?.meta.index, 4);
  });

  test('binary data, empty data, no-op and config entries round-trip exactly', async () => {
    let s = await open();
    const all = new Uint8Array(256 * 3);
    for (let k = 0; k < all.length; k++) all[k] = k & 0xff;
    const confs: ConfChange[] = [
      { type: 'addVoter', node: 'voter-1' },
      { type: 'addLearner', node: 'learner-ü' },
      { type: 'promoteLearner', node: 'learner-ü' },
      { type: 'removeNode', node: 'n' },
    ];
    const big = new Uint8Array(1 << 20);
    for (let k = 0; k < big.length; k++) big[k] = (k * 2654435761) >>> 24;
    const list: Entry[] = [
      { index: 1, term: 1, type: 'normal', data: all },
      { index: 2, term: 1, type: 'normal', data: new Uint8Array(0) },
      { index: 3, term: 1, type: 'noop', data: new Uint8Array(0) },
      ...confs.map((conf, k): Entry => ({ index: 4 + k, term: 2, type: 'config', data: new Uint8Array(0), conf })),
      { index: 8, term: 2, type: 'config', data: new Uint8Array([1, 2, 3]), conf: { type: 'addVoter', node: 'x' } },
      { index: 9, term: 2 ** 40, type: 'normal', data: big },
    ];
    await s.save(batch({ entries: list, hardState: { term: 2 ** 40, vote: 'ü-voter', commit: 9 } }));
    const snap: Snapshot = { meta: { index: 2, term: 1, conf: { voters: ['a', 'ß'], learners: [] } }, data: all };
    await s.saveSnapshot(snap);
    s = await reopen();
    const loaded = await s.load();
    assert.equal(loaded.entries, list.slice(2));
    assert.equal(loaded.snapshot, snap);
    assert.equal(loaded.hardState, { term: 2 ** 40, vote: 'ü-voter', commit: 9 });
    assert.ok(loaded.entries.every((e) => e.data instanceof Uint8Array));
  });

  test('a closed store refuses every call with ERR_STORE_CLOSED', async () => {
    const s = await open();
    await s.save(batch({ entries: [entry(1, 1)] }));
    await s.close();
    await rejects(s.save(batch({ entries: [entry(2, 1)] })), 'ERR_STORE_CLOSED');
    await rejects(s.load(), 'ERR_STORE_CLOSED');
    await rejects(s.entries(1, 2), 'ERR_STORE_CLOSED');
    await rejects(s.saveSnapshot(snapshot(1, 1)), 'ERR_STORE_CLOSED');
    await s.close();
  });

  test.run();
}
