// IdbStore against MemoryStore as a model: seeded random appends, overwrites, snapshots, hard
// states and reopens, with several saves in flight at once. Both must accept or refuse each call
// the same way, and after every reopen IndexedDB must give back exactly the model's log. Each seed
// runs twice: with default records, and with records of a few entries, so overwrites and
// compactions cut inside runs. SEED=<n> replays one seed.
import 'fake-indexeddb/auto';
import { IDBFactory } from 'fake-indexeddb';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { IdbStore } from '../../src/runtime-browser/idb-store.ts';
import { MemoryStore } from '../../src/core/store/memory-store.ts';
import { SeededPrng, StoreError } from '../../src/core/index.ts';
import type { Entry, LoadedState, LogStore, StoreBatch } from '../../src/core/index.ts';

const opsPerRun = 160;
const seeds = process.env['SEED'] !== undefined ? [Number(process.env['SEED'])] : [1, 2, 3, 4, 5, 6];
/** Records of a few entries each, so overwrites and compactions cut inside runs all the time. */
const smallRecordBytes = 80;

function outcome(p: Promise<unknown>): Promise<string> {
  return p.then(() => 'ok', (err: unknown) => (err instanceof StoreError ? err.code : `unexpected ${String(err)}`));
}

function termAt(s: LoadedState, i: number): number {
  if (i === (s.snapshot?.meta.index ?? 0)) return s.snapshot?.meta.term ?? 0;
  return s.entries.find((e) => e.index === i)?.term ?? 0;
}

function entries(rng: SeededPrng, from: number, n: number, term: number): Entry[] {
  return Array.from({ length: n }, (_, k) => ({
    index: from + k,
    term,
    type: 'normal' as const,
    data: Uint8Array.from({ length: rng.nextInt(40) }, () => rng.nextInt(256)),
  }));
}

/** One random call, built from the model's accepted view; now and then deliberately invalid. */
function nextCall(rng: SeededPrng, s: LoadedState): { kind: string; run(store: LogStore): Promise<void> } {
  const snapIndex = s.snapshot?.meta.index ?? 0;
  const last = snapIndex + s.entries.length;
  const hs = s.hardState;
  const conf = { voters: ['a', 'b', 'c'], learners: [] };
  const roll = rng.nextInt(100);
  if (roll < 40) {
    const b: StoreBatch = { snapshot: null, entries: entries(rng, last + 1, 1 + rng.nextInt(6), Math.max(hs.term, termAt(s, last))), hardState: null };
    return { kind: 'append', run: (st) => st.save(b) };
  }
  if (roll < 55) {
    // A new leader's log overwrites an uncommitted suffix (sometimes, wrongly, a committed one).
    const floor = rng.nextInt(10) === 0 ? snapIndex : Math.max(hs.commit, snapIndex);
    const first = floor + 1 + rng.nextInt(Math.max(1, last - floor));
    const term = hs.term + 1;
    const b: StoreBatch = { snapshot: null, entries: entries(rng, first, 1 + rng.nextInt(4), term), hardState: { term, vote: null, commit: hs.commit } };
    return { kind: 'overwrite', run: (st) => st.save(b) };
  }
  if (roll < 75) {
    const commit = hs.commit + rng.nextInt(last - hs.commit + 2); // may exceed last: refused
    const b: StoreBatch = { snapshot: null, entries: [], hardState: { term: hs.term, vote: hs.vote ?? 'b', commit } };
    return { kind: 'hardState', run: (st) => st.save(b) };
  }
  if (roll < 90) {
    const index = snapIndex + 1 + rng.nextInt(Math.max(1, hs.commit - snapIndex));
    const snap = { meta: { index, term: termAt(s, index), conf }, data: Uint8Array.from({ length: rng.nextInt(64) }, (_, k) => k) };
    return { kind: 'saveSnapshot', run: (st) => st.saveSnapshot(snap) };
  }
  const index = Math.max(hs.commit, snapIndex + 1) + rng.nextInt(8);
  const term = hs.term + 1;
  const b: StoreBatch = {
    snapshot: { meta: { index, term, conf }, data: new Uint8Array([index & 0xff, 1, 2]) },
    entries: entries(rng, index + 1, rng.nextInt(3), term),
    hardState: { term, vote: null, commit: index },
  };
  return { kind: 'install', run: (st) => st.save(b) };
}

async function runSeed(seed: number, recordBytesMax?: number): Promise<{ calls: number; refused: number; reopens: number }> {
  const rng = new SeededPrng(seed);
  const factory = new IDBFactory();
  const open = () => IdbStore.open({ cluster: 'model', member: String(seed), indexedDB: factory, locks: null, ...(recordBytesMax !== undefined ? { recordBytesMax } : {}) });
  const model = new MemoryStore();
  let store: LogStore = await open();
  let calls = 0;
  let refused = 0;
  let reopens = 0;
  while (calls < opsPerRun) {
    // Several calls in flight at once: each is validated against the ones before it.
    const inFlight: Array<Promise<[string, string, string]>> = [];
    for (let k = 1 + rng.nextInt(4); k > 0 && calls < opsPerRun; k -= 1, calls += 1) {
      const call = nextCall(rng, await model.load());
      const expected = outcome(call.run(model));
      const actual = outcome(call.run(store));
      inFlight.push(Promise.all([Promise.resolve(`#${calls} ${call.kind}`), expected, actual]));
    }
    for (const [what, expected, actual] of await Promise.all(inFlight)) {
      assert.is(actual, expected, `seed ${seed}, call ${what}`);
      if (expected !== 'ok') refused += 1;
    }
    if (rng.nextInt(4) === 0) {
      await store.close();
      store = await open();
      reopens += 1;
      assert.equal(await store.load(), await model.load(), `seed ${seed}: the reopened store differs from the model after ${calls} calls`);
    }
  }
  await store.close();
  return { calls, refused, reopens };
}

const model = suite('IdbStore vs MemoryStore (seeded)');

for (const [seed, recordBytesMax] of seeds.flatMap((s): Array<[number, number | undefined]> => [[s, undefined], [s, smallRecordBytes]])) {
  model(`seed ${seed}${recordBytesMax !== undefined ? `, records of ${recordBytesMax} bytes` : ''}`, async () => {
    try {
      const { refused, reopens } = await runSeed(seed, recordBytesMax);
      assert.ok(reopens >= 3, `seed ${seed}: only ${reopens} reopens`);
      assert.ok(refused < opsPerRun / 2, `seed ${seed}: ${refused} of ${opsPerRun} calls refused: the generator is off`);
    } catch (err) {
      console.error(`failing seed: SEED=${seed}`);
      throw err;
    }
  });
}

model.run();
