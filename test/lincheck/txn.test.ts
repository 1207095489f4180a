// The checker on transactions: histories made by the real key-value machine (each op takes effect
// at a random instant inside its interval, some of unknown outcome, applied or not) must pass;
// the same histories with one read corrupted must fail on the txn's partition; hand-made ones show
// the model's rules (two create-if-absent txns cannot both win; a txn's writes are atomic); and on
// small histories the multi-key search agrees with a brute force over every order.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SeededPrng } from '../../src/core/prng.ts';
import { generateTxnHistory as generate } from './generate-txn.ts';
import { checkHistory, formatResult } from './checker.ts';
import { parseJsonl, toJsonl, type HistoryOp, type TxnSpec } from './history.ts';
import { MultiModel, type MultiState } from './txn-model.ts';

const SEEDS = 60;

test('txn histories made by the key-value machine pass, with ops of unknown outcome too', () => {
  for (let seed = 1; seed <= SEEDS; seed++) {
    const ops = generate(seed, 20 + (seed % 5) * 20, 2 + (seed % 4), (seed % 3) * 0.1);
    const r = checkHistory(ops);
    assert.ok(r.ok, `seed ${seed}:\n${formatResult(r)}`);
  }
});

test('txn histories survive a round trip through JSON lines', () => {
  const ops = generate(7, 60, 3, 0.2);
  const back = parseJsonl(toJsonl(ops));
  assert.is(toJsonl(back), toJsonl(ops));
  assert.ok(back.some((op) => op.txnResult !== undefined && op.revision !== undefined));
  assert.ok(checkHistory(back).ok);
  assert.throws(() => parseJsonl('{"id":1,"client":1,"op":"txn","key":"a","callMs":0,"returnMs":1,"outcome":"ok","txn":{"compare":[],"success":[{"op":"put","key":"a","value":"x"}],"failure":[]}}'), /txnResult/);
});

test('a txn read corrupted to a version never reached fails on the group', () => {
  let corrupted = 0;
  for (let seed = 1; seed <= SEEDS; seed++) {
    const ops = generate(seed, 60, 3, 0.1);
    const victim = ops.findIndex((op) => op.outcome === 'ok' && op.txnResult?.results.some((x) => x.op === 'get' && x.kv !== null));
    if (victim === -1) continue;
    const op = ops[victim]!;
    const results = op.txnResult!.results.map((x) => (x.op === 'get' && x.kv !== null ? { op: 'get' as const, kv: { ...x.kv, version: 9999 } } : x));
    ops[victim] = { ...op, txnResult: { succeeded: op.txnResult!.succeeded, results } };
    const r = checkHistory(ops);
    assert.is(r.verdict, 'violation', `seed ${seed}, txn #${op.id}:\n${formatResult(r)}`);
    if (r.verdict === 'violation') assert.ok(r.key.includes(' + '), r.key);
    corrupted++;
  }
  assert.ok(corrupted > SEEDS / 2, `${corrupted} histories had a txn read to corrupt`);
});

test('two create-if-absent txns cannot both win', () => {
  const txn: TxnSpec = { compare: [{ key: 'l/a', target: 'createRevision', op: '=', value: 0 }], success: [{ op: 'put', key: 'l/a', value: 'x' }], failure: [] };
  const won = { succeeded: true, results: [{ op: 'put' as const }] };
  const ops: HistoryOp[] = [
    { id: 1, client: 1, op: 'txn', key: 'l/a', txn, txnResult: won, callMs: 0, returnMs: 10, outcome: 'ok', revision: 1 },
    { id: 2, client: 2, op: 'txn', key: 'l/a', txn: { ...txn, success: [{ op: 'put', key: 'l/a', value: 'y' }] }, txnResult: won, callMs: 20, returnMs: 30, outcome: 'ok', revision: 2 },
  ];
  const r = checkHistory(ops);
  assert.is(r.verdict, 'violation', formatResult(r));
  assert.match(formatResult(r), /compares fail here/);
  // With a delete in between, both may win.
  const ok = checkHistory([...ops.slice(0, 1), { id: 3, client: 3, op: 'delete', key: 'l/a', callMs: 11, returnMs: 19, outcome: 'ok', revision: 2 }, { ...ops[1]!, revision: 3 }]);
  assert.ok(ok.ok, formatResult(ok));
});

test('a txn writes its keys atomically: a range read sees both or neither', () => {
  const put2: TxnSpec = { compare: [], success: [{ op: 'put', key: 'g/a', value: '1' }, { op: 'put', key: 'g/b', value: '1' }], failure: [] };
  const range: TxnSpec = { compare: [], success: [{ op: 'range', start: 'g/', end: 'g0' }], failure: [] };
  const kv = (key: string) => ({ key, value: '1', version: 1, createRevision: 1, modRevision: 1 });
  const history = (kvs: ReturnType<typeof kv>[]): HistoryOp[] => [
    { id: 1, client: 1, op: 'txn', key: 'g/a', txn: put2, txnResult: { succeeded: true, results: [{ op: 'put' }, { op: 'put' }] }, callMs: 0, returnMs: 10, outcome: 'ok', revision: 1 },
    { id: 2, client: 2, op: 'txn', key: 'g/a', txn: range, txnResult: { succeeded: true, results: [{ op: 'range', kvs }] }, callMs: 5, returnMs: 15, outcome: 'ok', revision: 2 },
  ];
  assert.ok(checkHistory(history([])).ok);
  assert.ok(checkHistory(history([kv('g/a'), kv('g/b')])).ok);
  const half = checkHistory(history([kv('g/a')]));
  assert.is(half.verdict, 'violation', formatResult(half));
  // A plain get of g/b joins the same partition through the range.
  const withGet: HistoryOp[] = [...history([]), { id: 3, client: 3, op: 'get', key: 'g/b', result: '1', callMs: 16, returnMs: 17, outcome: 'ok' }];
  const r = checkHistory(withGet);
  assert.ok(r.ok, formatResult(r));
  assert.is(r.stats.keys, 1);
});

/** Every order that respects real time, each op of unknown outcome placed somewhere or left out. */
function brute(ops: readonly HistoryOp[]): boolean {
  const keys = new Set<string>();
  for (const op of ops) {
    keys.add(op.key);
    for (const c of op.txn?.compare ?? []) keys.add(c.key);
    for (const s of [...(op.txn?.success ?? []), ...(op.txn?.failure ?? [])]) if (s.op !== 'range' && s.op !== 'deleteRange') keys.add(s.key);
  }
  const m = new MultiModel(keys);
  const live = ops.filter((o) => o.outcome !== 'fail' && !(o.outcome === 'unknown' && o.op === 'get'));
  const compiled = live.map((o, i) => m.compile(o, i));
  const ret = (i: number) => (live[i]!.outcome === 'unknown' ? Infinity : live[i]!.returnMs!);
  const go = (placed: number, s: MultiState): boolean => {
    let must = false;
    for (let i = 0; i < live.length; i++) if ((placed & (1 << i)) === 0 && ret(i) !== Infinity) must = true;
    if (!must) return true;
    for (let i = 0; i < live.length; i++) {
      if ((placed & (1 << i)) !== 0) continue;
      let ready = true;
      for (let j = 0; j < live.length; j++) if ((placed & (1 << j)) === 0 && j !== i && ret(j) < live[i]!.callMs) ready = false;
      if (!ready) continue;
      const next = compiled[i]!.step(s);
      if (typeof next === 'string') continue;
      for (const t of next) if (go(placed | (1 << i), t)) return true;
    }
    return false;
  };
  return go(0, m.initial());
}

test('on small txn histories the search agrees with a brute force', () => {
  let violations = 0;
  const seeds = Number(process.env.TXN_BRUTE_SEEDS ?? 300);
  for (let seed = 1; seed <= seeds; seed++) {
    const ops = generate(1000 + seed, 3 + (seed % Number(process.env.TXN_BRUTE_SPAN ?? 6)), 2 + (seed % 3), 0.1 + (seed % 3) * 0.15);
    const rng = new SeededPrng(seed);
    // Half of them get one result changed, which may or may not break them.
    if (seed % 2 === 0) {
      const i = rng.nextInt(ops.length);
      const op = ops[i]!;
      if (op.op === 'get' && op.outcome === 'ok') ops[i] = { ...op, result: op.result === null ? 'v1' : null };
      else if (op.op === 'txn' && op.outcome === 'ok') ops[i] = { ...op, txnResult: { ...op.txnResult!, succeeded: !op.txnResult!.succeeded, results: [] }, txn: { ...op.txn!, success: [], failure: [] } };
      else if (op.op === 'cas' && op.outcome === 'ok') ops[i] = { ...op, result: op.result !== true };
    }
    const expected = brute(ops);
    const r = checkHistory(ops);
    assert.is(r.ok, expected, `seed ${seed}: search says ${r.verdict}, brute force ${expected}\n${formatResult(r)}`);
    if (!expected) violations++;
  }
  if (process.env.TXN_BRUTE_SEEDS !== undefined) console.log(`${seeds} small histories, ${violations} violations`);
  assert.ok(violations > 10, `${violations} of the small histories are violations`);
});

test.run();
