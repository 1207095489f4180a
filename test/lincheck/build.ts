// A terse way to write histories by hand in tests: one call per op, ids assigned in order.
// `b.put('c1', 'x', 'a', 0, 10)` is client c1 writing "a" to key x, called at 0, returning at 10.
import type { HistoryOp, Outcome, Value } from './history.ts';

export class HistoryBuilder {
  readonly ops: HistoryOp[] = [];

  #add(op: Omit<HistoryOp, 'id' | 'returnMs' | 'outcome'>, returnMs: number, outcome: Outcome): this {
    this.ops.push({ ...op, id: this.ops.length + 1, returnMs: outcome === 'unknown' ? null : returnMs, outcome });
    return this;
  }

  put(client: string, key: string, value: Value, callMs: number, returnMs: number, outcome: Outcome = 'ok'): this {
    return this.#add({ client, op: 'put', key, value, callMs }, returnMs, outcome);
  }

  /** `result` null means the key was absent. */
  get(client: string, key: string, result: Value | null, callMs: number, returnMs: number, outcome: Outcome = 'ok'): this {
    return this.#add({ client, op: 'get', key, result, callMs }, returnMs, outcome);
  }

  delete(client: string, key: string, callMs: number, returnMs: number, outcome: Outcome = 'ok'): this {
    return this.#add({ client, op: 'delete', key, callMs }, returnMs, outcome);
  }

  /** `expected` null means "the key is absent"; `swapped` is the result of an ok cas. */
  cas(
    client: string, key: string, expected: Value | null, value: Value, swapped: boolean,
    callMs: number, returnMs: number, outcome: Outcome = 'ok',
  ): this {
    const result = outcome === 'ok' ? { result: swapped } : {};
    return this.#add({ client, op: 'cas', key, expected, value, callMs, ...result }, returnMs, outcome);
  }
}

export function history(): HistoryBuilder {
  return new HistoryBuilder();
}
