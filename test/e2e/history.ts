// The operation history of a fault run, in the lincheck format (test/lincheck/history.ts): every
// client call with its call and return time (one monotonic clock for all clients) and outcome.
// 'stale' reads are kept apart: they are not linearizable by design, so they are only checked for
// "this value was written to this key, by a call made before the read returned".

import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { HistoryOp, OpName, Outcome } from '../lincheck/history.ts';
import { toJsonl } from '../lincheck/history.ts';

export interface StaleRead {
  readonly id: number;
  readonly client: string;
  readonly key: string;
  readonly callMs: number;
  readonly returnMs: number;
  /** The value read; null when the key was absent. */
  readonly result: string | null;
  readonly servedBy: string;
}

/** An operation that was called and has not returned yet. */
export interface PendingOp {
  readonly id: number;
  readonly client: string;
  readonly op: OpName;
  readonly key: string;
  readonly value?: string;
  readonly expected?: string | null;
  readonly callMs: number;
}

export interface HistoryCounts {
  readonly ok: number;
  readonly unknown: number;
  readonly fail: number;
  readonly staleReads: number;
}

export class History {
  readonly #ops: HistoryOp[] = [];
  readonly #stale: StaleRead[] = [];
  readonly #t0 = performance.now();
  #nextId = 1;
  #ok = 0;
  #unknown = 0;
  #fail = 0;

  /** Milliseconds since this history began (performance.now(): monotonic, shared by all clients). */
  now(): number {
    return performance.now() - this.#t0;
  }

  get ops(): readonly HistoryOp[] {
    return this.#ops;
  }

  get staleReads(): readonly StaleRead[] {
    return this.#stale;
  }

  get counts(): HistoryCounts {
    return { ok: this.#ok, unknown: this.#unknown, fail: this.#fail, staleReads: this.#stale.length };
  }

  /** Marks the call of an operation (its time is taken now). */
  call(client: string, op: OpName, key: string, fields: { value?: string; expected?: string | null } = {}): PendingOp {
    return { id: this.#nextId++, client, op, key, ...fields, callMs: this.now() };
  }

  /** The answer arrived: for a get, `result` is the value read (null: absent); for a cas, whether it swapped. */
  ok(p: PendingOp, result?: string | boolean | null): void {
    this.#ok++;
    this.#push(p, 'ok', this.now(), result);
  }

  /** Timed out or the connection was lost: it may take effect at any time after its call, or never. */
  unknown(p: PendingOp): void {
    this.#unknown++;
    this.#push(p, 'unknown', null, undefined);
  }

  /** Definitely not applied (rejected before it was proposed). */
  fail(p: PendingOp): void {
    this.#fail++;
    this.#push(p, 'fail', this.now(), undefined);
  }

  #push(p: PendingOp, outcome: Outcome, returnMs: number | null, result: string | boolean | null | undefined): void {
    this.#ops.push({
      id: p.id, client: p.client, op: p.op, key: p.key, callMs: p.callMs, returnMs, outcome,
      ...(p.value !== undefined ? { value: p.value } : {}), ...(p.expected !== undefined ? { expected: p.expected } : {}),
      ...(result !== undefined ? { result } : {}),
    });
  }

  /** A 'stale' read that returned (failed stale reads say nothing and are not kept). */
  stale(client: string, key: string, callMs: number, result: string | null, servedBy: string): void {
    this.#stale.push({ id: this.#nextId++, client, key, callMs, returnMs: this.now(), result, servedBy });
  }

  /** Writes the history as JSON lines (`npm run lincheck -- FILE` checks it again); returns the path. */
  save(path: string): string {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, toJsonl(this.#ops));
    return path;
  }

  /** Writes the stale reads as JSON lines beside the history. */
  saveStale(path: string): string {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, this.#stale.map((r) => JSON.stringify(r)).join('\n') + (this.#stale.length > 0 ? '\n' : ''));
    return path;
  }
}

/**
 * Stale reads that read a value no put or cas on that key wrote by a call made before the read
 * returned (a cas acknowledged as not swapped wrote nothing). Absent is always allowed: a stale
 * replica may be behind the first write. One line per bad read.
 */
export function checkStaleReads(history: History, limit = 20): string[] {
  const firstCall = new Map<string, number>();
  for (const op of history.ops) {
    if ((op.op !== 'put' && op.op !== 'cas') || typeof op.value !== 'string') continue;
    if (op.op === 'cas' && op.outcome === 'ok' && op.result === false) continue;
    if (op.outcome === 'fail') continue;
    const k = `${op.key}\u0000${op.value}`;
    firstCall.set(k, Math.min(firstCall.get(k) ?? Infinity, op.callMs));
  }
  const bad: string[] = [];
  for (const r of history.staleReads) {
    if (r.result === null) continue;
    const called = firstCall.get(`${r.key}\u0000${r.result}`);
    if (called !== undefined && called <= r.returnMs) continue;
    if (bad.length < limit) {
      bad.push(`stale read #${r.id} by ${r.client} from ${r.servedBy} of ${r.key} at ${r.callMs.toFixed(1)}..${r.returnMs.toFixed(1)} ms returned ` +
        `${JSON.stringify(r.result)}, ${called === undefined ? 'which no put or cas wrote to that key' : `which was first written at ${called.toFixed(1)} ms, after the read returned`}`);
    }
  }
  return bad;
}
