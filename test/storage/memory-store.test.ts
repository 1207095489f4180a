// MemoryStore against the shared LogStore conformance suite, plus what only it promises: the
// backing is held by one store at a time, crash() frees it, and saved data is copied.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { MemoryBacking, MemoryStore } from '../../src/core/store/memory-store.ts';
import { batch, entry, rejects, storeConformance } from './conformance.ts';

let backing = new MemoryBacking();
let current: MemoryStore | null = null;
storeConformance('memory', {
  async open() {
    backing = new MemoryBacking();
    return (current = new MemoryStore(backing));
  },
  async reopen() {
    await current?.close();
    return (current = new MemoryStore(backing));
  },
});

const test = suite('MemoryStore');

test('one open store per backing; crash() frees it and closes the old one', async () => {
  const b = new MemoryBacking();
  const s = new MemoryStore(b);
  assert.throws(() => new MemoryStore(b), (e: Error) => /already held/.test(e.message));
  await s.save(batch({ entries: [entry(1, 1)] }));
  b.crash();
  await rejects(s.save(batch({ entries: [entry(2, 1)] })), 'ERR_STORE_CLOSED');
  const s2 = new MemoryStore(b);
  assert.equal((await s2.load()).entries, [entry(1, 1)]);
  await s2.close();
});

test('saved data is copied, so reusing the caller buffer does not change the log', async () => {
  const s = new MemoryStore();
  const e = entry(1, 1);
  await s.save(batch({ entries: [e] }));
  e.data.fill(0);
  assert.equal(await s.entries(1, 2), [entry(1, 1)]);
  await s.close();
});

test.run();
