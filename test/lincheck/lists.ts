// The event lists the linearizability search walks: the call and return events of one key's ops
// in time order, linked both ways so a placed op is lifted out in O(1) and put back on backtrack.
import { REJECTED, writeOf } from './model.ts';
import type { KeyOp } from './model.ts';

/**
 * Ops with a known return are entries 2i (call of op i) and 2i+1 (its return), linked in time order
 * between HEAD = 2n and TAIL = 2n+1. At equal times calls come first, so touching intervals count
 * as concurrent. Ops of unknown outcome have no return to respect: they sit in a second list, by
 * call time, between n and n+1.
 */
export interface EventLists {
  readonly next: Int32Array;
  readonly prev: Int32Array;
  readonly nextUnknown: Int32Array;
  readonly prevUnknown: Int32Array;
  /** How many ops have a known return. */
  readonly finite: number;
  /** Value id -> ops that may write it (put, cas, delete for absent), by call time. */
  readonly writers: Map<number, number[]>;
}

export function buildLists(ops: readonly KeyOp[]): EventLists {
  const n = ops.length;
  const times = new Float64Array(2 * n);
  const order: number[] = [];
  const unknown: number[] = [];
  for (let i = 0; i < n; i++) {
    const op = ops[i] as KeyOp;
    times[2 * i] = op.callMs;
    times[2 * i + 1] = op.returnMs;
    if (op.returnMs === Infinity) unknown.push(i);
    else order.push(2 * i, 2 * i + 1);
  }
  order.sort((a, b) => ((times[a] as number) - (times[b] as number)) || ((a & 1) - (b & 1)) || (a - b));
  unknown.sort((a, b) => ((times[2 * a] as number) - (times[2 * b] as number)) || (a - b));
  const lists = {
    next: new Int32Array(2 * n + 2), prev: new Int32Array(2 * n + 2),
    nextUnknown: new Int32Array(n + 2), prevUnknown: new Int32Array(n + 2),
    finite: order.length / 2, writers: writersByValue(ops),
  };
  chain(order, 2 * n, lists.next, lists.prev);
  chain(unknown, n, lists.nextUnknown, lists.prevUnknown);
  return lists;
}

function writersByValue(ops: readonly KeyOp[]): Map<number, number[]> {
  const writers = new Map<number, number[]>();
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i] as KeyOp;
    const written = writeOf(op);
    if (written === REJECTED) continue;
    const list = writers.get(written);
    if (list === undefined) writers.set(written, [i]);
    else list.push(i);
  }
  for (const list of writers.values()) list.sort((a, b) => (ops[a] as KeyOp).callMs - (ops[b] as KeyOp).callMs || a - b);
  return writers;
}

function chain(order: readonly number[], head: number, next: Int32Array, prev: Int32Array): void {
  let last = head;
  for (const e of order) {
    next[last] = e;
    prev[e] = last;
    last = e;
  }
  next[last] = head + 1;
  prev[head + 1] = last;
}

// An unlinked entry keeps its own links, so relink can put it back; relinking in the reverse order
// of unlinking restores every link as it was.
export function unlink(e: number, next: Int32Array, prev: Int32Array): void {
  next[prev[e] as number] = next[e] as number;
  prev[next[e] as number] = prev[e] as number;
}

export function relink(e: number, next: Int32Array, prev: Int32Array): void {
  next[prev[e] as number] = e;
  prev[next[e] as number] = e;
}
