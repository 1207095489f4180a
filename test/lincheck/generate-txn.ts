// Histories of one txn group made by the real key-value machine, for the checker's tests: each
// op takes effect at a random instant inside its interval (some of unknown outcome, applied or
// not), so every history is linearizable by construction.
import { encodeCommand, type KvCommand } from '../../src/core/kv/command.ts';
import { KvMachine, type KvResult } from '../../src/core/kv/machine.ts';
import { SeededPrng } from '../../src/core/prng.ts';
import { randomTxn, txnGroup, txnResultOf } from '../sim/txn-ops.ts';
import type { HistoryOp, TxnSpec } from './history.ts';

type Mutable = { -readonly [K in keyof HistoryOp]: HistoryOp[K] };

interface Planned {
  readonly op: Mutable;
  readonly linMs: number;
  readonly applied: boolean;
  readonly make: (m: KvMachine) => KvCommand;
  readonly record: (r: KvResult) => void;
}

/** A history of `n` ops by `clients` sequential clients on one txn group, run on a real KvMachine. */
export function generateTxnHistory(seed: number, n: number, clients: number, unknownRatio: number): HistoryOp[] {
  const rng = new SeededPrng(seed);
  const g = txnGroup(`g${seed}`);
  const planned: Planned[] = [];
  const clock = Array.from({ length: clients }, () => rng.nextInt(5));
  let nextValue = 1;
  const value = (): string => `v${nextValue++}`;
  for (let id = 1; id <= n; id++) {
    const c = rng.nextInt(clients);
    const callMs = clock[c]!;
    const returnMs = callMs + 1 + rng.nextInt(20);
    clock[c] = returnMs + rng.nextInt(3);
    const unknown = rng.nextFloat() < unknownRatio;
    const key = g.keys[rng.nextInt(2)]!;
    const op: Mutable = { id, client: c, op: 'put', key, callMs, returnMs: unknown ? null : returnMs, outcome: unknown ? 'unknown' : 'ok' };
    const roll = rng.nextInt(10);
    let make: (m: KvMachine) => KvCommand;
    let record: (r: KvResult) => void;
    if (roll < 5) {
      op.op = 'txn';
      op.key = g.keys[0];
      // The compare reads the state at the instant it runs, or made-up revisions: both outcomes happen.
      make = (m) => {
        const fresh = rng.nextInt(3) !== 0;
        const t = randomTxn(rng, g, (k) => (fresh ? m.getKv(k) : undefined), value);
        op.txn = t.spec as TxnSpec;
        return t.cmd;
      };
      record = (r) => { if (r.op === 'txn') { op.txnResult = txnResultOf(r); op.revision = r.index; } };
    } else if (roll < 7) {
      const v = value();
      op.value = v;
      make = () => ({ op: 'put', key, value: v });
      record = (r) => { op.revision = r.index; };
    } else if (roll < 8) {
      op.op = 'delete';
      make = () => ({ op: 'delete', key });
      record = (r) => { op.revision = r.index; };
    } else if (roll < 9) {
      op.op = 'cas';
      const v = value();
      op.value = v;
      make = (m) => {
        const cur = m.get(key);
        op.expected = rng.nextInt(2) === 0 && typeof cur === 'string' ? cur : null;
        return { op: 'cas', key, expected: op.expected ?? null, value: v };
      };
      record = (r) => { if (r.op === 'cas') { op.result = r.swapped; op.revision = r.index; } };
    } else {
      op.op = 'get';
      if (unknown) { op.outcome = 'ok'; op.returnMs = returnMs; }
      make = () => { throw new Error('a get is read, not applied'); };
      record = () => {};
    }
    const linMs = callMs + rng.nextFloat() * (returnMs - callMs);
    planned.push({ op, linMs, applied: !unknown || rng.nextInt(2) === 0, make, record });
  }
  const m = new KvMachine();
  let index = 0;
  for (const p of [...planned].sort((x, y) => x.linMs - y.linMs)) {
    if (p.op.op === 'get') {
      p.op.result = (m.get(p.op.key) as string | undefined) ?? null;
      continue;
    }
    const cmd = p.make(m);
    if (!p.applied) continue;
    index++;
    const r = m.apply({ index, term: 1, type: 'normal', data: encodeCommand({ timeMs: 0, session: null, cmd }) });
    if (r !== null) p.record(r);
  }
  // An unknown op that never ran still needs its txn spec: build one now.
  for (const p of planned) if (p.op.op === 'txn' && p.op.txn === undefined) p.make(m);
  return planned.map((p) => p.op as HistoryOp);
}

