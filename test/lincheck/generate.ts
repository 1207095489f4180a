// Seeded histories of a simulated linearizable KV store, for the checker's randomized tests and
// its benchmark: concurrent clients whose ops overlap in time, each op taking effect at one instant
// inside its interval, some timing out (unknown: applied or not) and some rejected (fail).
import { SeededPrng } from '../../src/core/prng.ts';
import type { HistoryOp, OpName, Value } from './history.ts';

export interface GenerateOptions {
  readonly seed: number;
  readonly ops: number;
  readonly keys: number;
  readonly clients: number;
  /** Share of ops whose outcome is unknown (half of those take effect). */
  readonly unknownRatio?: number;
  /** Share of ops rejected before taking effect. */
  readonly failRatio?: number;
  /** Longest op duration; ops last 1..opDurationMaxMs. */
  readonly opDurationMaxMs?: number;
  /** Longest pause between a client's ops. */
  readonly thinkMaxMs?: number;
  /** When false, values repeat (drawn from 4 per key), which makes the search work harder. */
  readonly valuesDistinct?: boolean;
  /** Weights of put, get, delete, cas. */
  readonly mix?: readonly [number, number, number, number];
}

interface Draft {
  id: number;
  client: number;
  op: OpName;
  key: string;
  callMs: number;
  effectMs: number;
  returnMs: number;
  outcome: 'ok' | 'fail' | 'unknown';
  applied: boolean;
  value?: Value;
  expected?: Value | null;
  result?: Value | boolean | null;
}

const OP_NAMES: readonly OpName[] = ['put', 'get', 'delete', 'cas'];

function pickOp(prng: SeededPrng, mix: readonly [number, number, number, number]): OpName {
  const total = mix[0] + mix[1] + mix[2] + mix[3];
  let r = prng.nextFloat() * total;
  for (let k = 0; k < 4; k++) {
    r -= mix[k] as number;
    if (r < 0) return OP_NAMES[k] as OpName;
  }
  return 'get';
}

/** A history that is linearizable by construction. */
export function generateHistory(options: GenerateOptions): HistoryOp[] {
  const prng = new SeededPrng(options.seed);
  const mix = options.mix ?? [3, 5, 1, 2];
  const durationMax = options.opDurationMaxMs ?? 20;
  const thinkMax = options.thinkMaxMs ?? 5;
  const freeAtMs = new Float64Array(options.clients);
  const drafts: Draft[] = [];
  for (let id = 0; id < options.ops; id++) {
    // The client that is free first issues the next op, so clients stay busy and overlap.
    let client = 0;
    for (let c = 1; c < options.clients; c++) if ((freeAtMs[c] as number) < (freeAtMs[client] as number)) client = c;
    const callMs = (freeAtMs[client] as number) + prng.nextInt(thinkMax + 1);
    const returnMs = callMs + 1 + prng.nextInt(durationMax);
    const r = prng.nextFloat();
    const outcome = r < (options.unknownRatio ?? 0) ? 'unknown' : r < (options.unknownRatio ?? 0) + (options.failRatio ?? 0) ? 'fail' : 'ok';
    drafts.push({
      id, client, op: pickOp(prng, mix), key: `k${prng.nextInt(options.keys)}`, callMs,
      effectMs: callMs + prng.nextFloat() * (returnMs - callMs), returnMs, outcome,
      applied: outcome === 'ok' || (outcome === 'unknown' && prng.nextInt(2) === 0),
    });
    freeAtMs[client] = returnMs;
  }
  applyInEffectOrder(drafts, prng, options.valuesDistinct ?? true);
  return drafts.map(finish);
}

// Runs the ops against a Map in the order they take effect, filling in what each one saw.
function applyInEffectOrder(drafts: Draft[], prng: SeededPrng, distinct: boolean): void {
  const store = new Map<string, Value>();
  const byEffect = drafts.slice().sort((a, b) => a.effectMs - b.effectMs || a.id - b.id);
  for (const d of byEffect) {
    const current = store.get(d.key) ?? null;
    const fresh = distinct ? `v${d.id}` : `v${prng.nextInt(4)}`;
    switch (d.op) {
      case 'put':
        d.value = fresh;
        if (d.applied) store.set(d.key, fresh);
        break;
      case 'delete':
        if (d.applied) store.delete(d.key);
        break;
      case 'get':
        if (d.applied) d.result = current;
        break;
      case 'cas': {
        // Mostly expect the current value so swaps succeed; otherwise a value that may not match.
        d.expected = prng.nextInt(3) < 2 ? current : prng.nextInt(4) === 0 ? null : `v${prng.nextInt(distinct ? d.id + 1 : 4)}`;
        d.value = fresh;
        const swapped = d.expected === current;
        if (d.applied && swapped) store.set(d.key, fresh);
        if (d.applied) d.result = swapped;
        break;
      }
    }
  }
}

function finish(d: Draft): HistoryOp {
  const op: HistoryOp = {
    id: d.id, client: `c${d.client}`, op: d.op, key: d.key, callMs: d.callMs,
    returnMs: d.outcome === 'unknown' ? null : d.returnMs, outcome: d.outcome,
    ...(d.value !== undefined ? { value: d.value } : {}),
    ...(d.op === 'cas' ? { expected: d.expected ?? null } : {}),
    ...(d.outcome === 'ok' && d.result !== undefined ? { result: d.result } : {}),
  };
  return op;
}
