// Stores in parallel mode (ParallelRaft): holes (term 0) and stale entries whose terms fall along
// the log, in-place fills that leave the suffix alone, all surviving a reopen (FileWal replays fill
// records over tiny segments; IdbStore rewrites the small records holding them); and the same
// batches refused by stores in raft mode.
import 'fake-indexeddb/auto';
import { IDBFactory } from 'fake-indexeddb';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { MemoryBacking, MemoryStore } from '../../src/core/store/memory-store.ts';
import type { LogStore } from '../../src/core/storage.ts';
import type { Entry } from '../../src/core/types.ts';
import { FileWal } from '../../src/runtime-node/wal.ts';
import { IdbStore } from '../../src/runtime-browser/idb-store.ts';
import { logRulesFor } from '../../src/core/modes.ts';

const t = suite('parallel stores');
const root = mkdtempSync(join(tmpdir(), 'edgeraft-par-store-'));
let n = 0;

function e(index: number, term: number, text = `e${index}/${term}`): Entry {
  return term === 0
    ? { term: 0, index, type: 'noop', data: new Uint8Array(0) }
    : { term, index, type: 'normal', data: new TextEncoder().encode(text) };
}

function shape(entries: readonly Entry[]): string[] {
  return entries.map((x) => `${x.index}/${x.term}:${new TextDecoder().decode(x.data)}`);
}

interface Opened { store: LogStore; reopen: () => Promise<LogStore> }

const kinds: Array<[string, (parallel: boolean) => Promise<Opened>]> = [
  ['memory', async (parallel) => {
    const backing = new MemoryBacking(parallel ? { rules: logRulesFor('parallel') } : {});
    let store: LogStore = new MemoryStore(backing);
    return { store, reopen: async () => { await store.close(); store = new MemoryStore(backing); return store; } };
  }],
  ['file wal', async (parallel) => {
    const dir = join(root, `w${n++}`);
    const options = { segmentBytes: 4096, ...(parallel ? { logRules: logRulesFor('parallel') } : {}), logger: { warn: () => undefined } };
    let store: LogStore = await FileWal.open(dir, options);
    return { store, reopen: async () => { await store.close(); store = await FileWal.open(dir, options); return store; } };
  }],
  ['indexeddb', async (parallel) => {
    // Records of a few entries, so fills land inside runs (and the run of holes filled splits).
    const options = { cluster: 'c', member: `m${n++}`, indexedDB: new IDBFactory(), locks: null, recordBytesMax: 200, ...(parallel ? { logRules: logRulesFor('parallel') } : {}) };
    let store: LogStore = await IdbStore.open(options);
    return { store, reopen: async () => { await store.close(); store = await IdbStore.open(options); return store; } };
  }],
];

for (const [name, open] of kinds) {
  t(`${name}: holes, falling terms and in-place fills survive a reopen`, async () => {
    const o = await open(true);
    await o.store.save({ snapshot: null, entries: [e(1, 1), e(2, 1), e(3, 2)], hardState: { term: 2, vote: 'a', commit: 1 } });
    // A stale entry of term 1 after term 2, then a hole, then an entry held out of order.
    await o.store.save({ snapshot: null, entries: [e(4, 1), e(5, 0), e(6, 3)], hardState: null });
    for (let i = 7; i <= 60; i++) await o.store.save({ snapshot: null, entries: [e(i, 3, 'x'.repeat(100))], hardState: null });
    await o.store.save({ snapshot: null, entries: [], fills: [e(5, 3, 'filled'), e(4, 3, 'overwritten')], hardState: { term: 3, vote: 'a', commit: 3 } });
    const want = ['1/1:e1/1', '2/1:e2/1', '3/2:e3/2', '4/3:overwritten', '5/3:filled', '6/3:e6/3'];
    assert.equal(shape((await o.store.load()).entries).slice(0, 6), want);
    assert.equal(shape(await o.store.entries(4, 7)), want.slice(3));
    const again = await o.reopen();
    const loaded = await again.load();
    assert.equal(shape(loaded.entries).slice(0, 6), want);
    assert.is(loaded.entries.length, 60, 'the suffix after the fills is intact');
    assert.equal(loaded.hardState, { term: 3, vote: 'a', commit: 3 });
    // A fill may not touch a committed entry, nor lie beyond the log.
    const committed = await again.save({ snapshot: null, entries: [], fills: [e(2, 3)], hardState: null }).catch((err: { code: string; message: string }) => err);
    assert.is((committed as { code: string }).code, 'ERR_STORE_INVALID');
    assert.match((committed as { message: string }).message, /committed/);
    const beyond = await again.save({ snapshot: null, entries: [], fills: [e(99, 3)], hardState: null }).catch((err: { code: string }) => err);
    assert.is((beyond as { code: string }).code, 'ERR_STORE_INVALID');
    await again.close();
  });

  t(`${name}: a store in raft mode refuses fills and falling terms`, async () => {
    const o = await open(false);
    await o.store.save({ snapshot: null, entries: [e(1, 1), e(2, 2)], hardState: null });
    const fill = await o.store.save({ snapshot: null, entries: [], fills: [e(2, 3)], hardState: null }).catch((err: { code: string; message: string }) => err);
    assert.is((fill as { code: string }).code, 'ERR_STORE_INVALID');
    assert.match((fill as { message: string }).message, /parallel mode/);
    const falling = await o.store.save({ snapshot: null, entries: [e(3, 1)], hardState: null }).catch((err: { code: string; message: string }) => err);
    assert.is((falling as { code: string }).code, 'ERR_STORE_INVALID');
    await o.store.close();
  });
}

t.after(() => rmSync(root, { recursive: true, force: true }));
t.run();
