// IdbStore opened with ParallelRaft's log rules against MemoryStore (same rules) as a
// model: holes, falling terms, fills (in-place, sometimes beside a truncation or inside a new run,
// sometimes filling a run of holes so the record splits), snapshots, reopens.
import 'fake-indexeddb/auto';
import { IDBFactory } from 'fake-indexeddb';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { IdbStore } from '../../src/runtime-browser/idb-store.ts';
import { MemoryBacking, MemoryStore } from '../../src/core/store/memory-store.ts';
import { SeededPrng, StoreError, logRulesFor } from '../../src/core/index.ts';
import type { Entry, LoadedState, LogStore, StoreBatch } from '../../src/core/index.ts';

const rules = logRulesFor('parallel');
const opsPerRun = 220;
const seeds = process.env['SEED'] !== undefined ? [Number(process.env['SEED'])] : [1, 2, 3, 4, 5, 6, 7, 8];

function outcome(p: Promise<unknown>): Promise<string> {
  return p.then(() => 'ok', (err: unknown) => (err instanceof StoreError ? err.code : `unexpected ${String(err)} ${(err as Error).stack}`));
}

function termAt(s: LoadedState, i: number): number {
  if (i === (s.snapshot?.meta.index ?? 0)) return s.snapshot?.meta.term ?? 0;
  return s.entries.find((e) => e.index === i)?.term ?? 0;
}

function one(rng: SeededPrng, index: number, term: number): Entry {
  if (term === 0) return { index, term: 0, type: 'noop', data: new Uint8Array(0) };
  return { index, term, type: 'normal', data: Uint8Array.from({ length: rng.nextInt(60) }, () => rng.nextInt(256)) };
}

function entries(rng: SeededPrng, from: number, n: number, maxTerm: number): Entry[] {
  return Array.from({ length: n }, (_, k) => one(rng, from + k, rng.nextInt(4) === 0 ? 0 : 1 + rng.nextInt(Math.max(1, maxTerm))));
}

function nextCall(rng: SeededPrng, s: LoadedState): { kind: string; run(store: LogStore): Promise<void> } {
  const snapIndex = s.snapshot?.meta.index ?? 0;
  const last = snapIndex + s.entries.length;
  const hs = s.hardState;
  const conf = { voters: ['a', 'b', 'c'], learners: [] };
  const maxTerm = Math.max(1, hs.term);
  const fills = (n: number, lo: number, hi: number): Entry[] => {
    const out: Entry[] = [];
    for (let k = 0; k < n && hi >= lo; k++) out.push(one(rng, lo + rng.nextInt(hi - lo + 1), 1 + rng.nextInt(maxTerm)));
    return out;
  };
  const roll = rng.nextInt(100);
  if (roll < 30) {
    const es = entries(rng, last + 1, 1 + rng.nextInt(12), maxTerm);
    const b: StoreBatch = rng.nextInt(3) === 0
      ? { snapshot: null, entries: es, fills: fills(1 + rng.nextInt(4), hs.commit + 1, es[es.length - 1]!.index), hardState: null }
      : { snapshot: null, entries: es, hardState: null };
    return { kind: 'append', run: (st) => st.save(b) };
  }
  if (roll < 55) {
    // In-place fills (sometimes, wrongly, of a committed entry or beyond the end).
    const lo = rng.nextInt(12) === 0 ? snapIndex + 1 : Math.max(hs.commit, snapIndex) + 1;
    const hi = rng.nextInt(12) === 0 ? last + 2 : last;
    const b: StoreBatch = { snapshot: null, entries: [], fills: fills(1 + rng.nextInt(6), lo, hi), hardState: rng.nextInt(2) === 0 ? null : { term: hs.term + rng.nextInt(2), vote: hs.vote, commit: hs.commit } };
    return { kind: 'fill', run: (st) => st.save(b) };
  }
  if (roll < 62) {
    const floor = Math.max(hs.commit, snapIndex);
    const first = floor + 1 + rng.nextInt(Math.max(1, last - floor));
    const es = entries(rng, first, 1 + rng.nextInt(4), maxTerm + 1);
    const b: StoreBatch = { snapshot: null, entries: es, fills: fills(rng.nextInt(3), floor + 1, first - 1), hardState: { term: hs.term + 1, vote: null, commit: hs.commit } };
    return { kind: 'overwrite', run: (st) => st.save(b) };
  }
  if (roll < 80) {
    const commit = hs.commit + rng.nextInt(Math.max(1, last - hs.commit + 1));
    const b: StoreBatch = { snapshot: null, entries: [], hardState: { term: Math.max(hs.term, 1), vote: hs.vote ?? 'b', commit } };
    return { kind: 'hardState', run: (st) => st.save(b) };
  }
  if (roll < 93) {
    const index = snapIndex + 1 + rng.nextInt(Math.max(1, hs.commit - snapIndex));
    const snap = { meta: { index, term: termAt(s, index), conf }, data: Uint8Array.from({ length: rng.nextInt(64) }, (_, k) => k) };
    return { kind: 'saveSnapshot', run: (st) => st.saveSnapshot(snap) };
  }
  const index = Math.max(hs.commit, snapIndex + 1) + rng.nextInt(8);
  const term = hs.term + 1;
  const es = entries(rng, index + 1, rng.nextInt(5), term);
  const b: StoreBatch = {
    snapshot: { meta: { index, term, conf }, data: new Uint8Array([index & 0xff, 1, 2]) },
    entries: es,
    fills: es.length > 0 ? fills(rng.nextInt(3), index + 1, index + es.length) : [],
    hardState: { term, vote: null, commit: index },
  };
  return { kind: 'install', run: (st) => st.save(b) };
}

async function runSeed(seed: number, recordBytesMax?: number): Promise<{ refused: number; reopens: number; fills: number }> {
  const rng = new SeededPrng(seed);
  const factory = new IDBFactory();
  const open = () => IdbStore.open({ cluster: 'model', member: String(seed), indexedDB: factory, locks: null, logRules: rules, ...(recordBytesMax !== undefined ? { recordBytesMax } : {}) });
  const model = new MemoryStore(new MemoryBacking({ rules }));
  let store: LogStore = await open();
  let calls = 0;
  let refused = 0;
  let reopens = 0;
  let fillsOk = 0;
  while (calls < opsPerRun) {
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
      else if (what.endsWith('fill')) fillsOk += 1;
    }
    assert.equal(await store.load(), await model.load(), `seed ${seed}: the store's view differs from the model after ${calls} calls`);
    if (rng.nextInt(4) === 0) {
      await store.close();
      store = await open();
      reopens += 1;
      assert.equal(await store.load(), await model.load(), `seed ${seed}: the reopened store differs from the model after ${calls} calls`);
    }
  }
  await store.close();
  store = await open();
  assert.equal(await store.load(), await model.load(), `seed ${seed}: final reopen`);
  await store.close();
  return { refused, reopens, fills: fillsOk };
}

const t = suite('IdbStore (parallel rules) vs MemoryStore');
for (const [seed, rb] of seeds.flatMap((s): Array<[number, number | undefined]> => [[s, undefined], [s, 80], [s, 300]])) {
  t(`seed ${seed} records ${rb ?? 'default'}`, async () => {
    try {
      const r = await runSeed(seed, rb);
      assert.ok(r.fills > 10, `only ${r.fills} fills accepted`);
      assert.ok(r.refused < opsPerRun / 2, `${r.refused} refused`);
    } catch (err) {
      console.error(`failing SEED=${seed} records ${rb}`);
      throw err;
    }
  });
}
t.run();
