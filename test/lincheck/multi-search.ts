// The linearizability search for a partition of keys tied together by transactions: Wing & Gong
// with Lowe's memo over (linearized ops, model state), on the multi-key model of txn-model.ts. It
// has none of the single-key search's pruning rules (they reason about one register), so it is
// meant for small partitions: the simulator keeps each txn to one small group of keys, and replaces
// the groups as time passes. Ops of unknown outcome may be placed anywhere after their call, or
// never; one placed where it changes nothing is skipped (leaving it out is the same order).
//
// Normal form for ops of unknown outcome. Two adjacent ops commute at a state when the other order
// is accepted too and reaches the same state. Order all ops by (revision, unknown revisions last;
// then position). Any linearization can be rewritten, staying valid, until each unknown op u is
// followed by an op it does not commute with, or by one that comes after it in that order: while
// u is followed by a commuting op that comes before it, swap the two (u never returns, so moving
// it later, or the other op earlier past it, keeps real-time order). Each swap removes one
// inversion of that order, so this ends. The search explores only that form: after placing u from
// state g, the next op must not commute with u at g unless it comes after u in the order.
//
// Candidates are tried in revision order where known (a correct store's own order): with the
// forced reads below, a linearizable history is then found with little backtracking.
import type { Budget, SearchLimits } from './search.ts';
import { stateKey, type MultiOp, type MultiState } from './txn-model.ts';

// Checking the clock every step would cost more than the step itself.
const CLOCK_EVERY_STEPS = 256;

export type MultiOutcome =
  | { readonly verdict: 'ok'; readonly steps: number }
  /** `prefix`: the deepest linearization reached, in order: positions in `ops` and the state after each. */
  | { readonly verdict: 'violation'; readonly steps: number; readonly prefix: ReadonlyArray<{ readonly op: number; readonly after: MultiState }> }
  | { readonly verdict: 'unknown'; readonly steps: number; readonly budget: Budget };

interface Frame {
  /** The op placed to reach this node (-1 at the root) and the state it left. */
  readonly via: number;
  readonly at: MultiState;
  /** The highest revision placed so far. */
  readonly revision: number;
  /** Candidates and the successor states of the one being tried. */
  readonly cands: readonly number[];
  ci: number;
  succ: MultiState[];
  si: number;
}

/** The order the normal form keeps commuting neighbours in: by revision (unknown last), then position. */
function after(ops: readonly MultiOp[], i: number, u: number): boolean {
  const a = ops[i]!.revision;
  const b = ops[u]!.revision;
  return a > b || (a === b && i > u);
}

function has(list: readonly MultiState[] | string, key: string): boolean {
  return typeof list !== 'string' && list.some((s) => stateKey(s) === key);
}

export function searchMulti(ops: readonly MultiOp[], initial: MultiState, limits: SearchLimits): MultiOutcome {
  return new MultiSearch(ops).run(initial, limits);
}

class MultiSearch {
  readonly #ops: readonly MultiOp[];
  readonly #placed: Uint8Array;
  /** The placed set as bits, for the memo's key. */
  readonly #bits: Uint16Array;
  /** Known ops by return time: the first unplaced one bounds the candidates. */
  readonly #byReturn: number[];
  /** By revision where known, then known ops before unknown ones, then by call. */
  readonly #byCall: number[];
  readonly #stateIds = new Map<string, number>();
  readonly #visited = new Set<string>();
  #finiteLeft: number;

  constructor(ops: readonly MultiOp[]) {
    this.#ops = ops;
    this.#placed = new Uint8Array(ops.length);
    this.#bits = new Uint16Array(Math.ceil(ops.length / 16));
    const all = ops.map((_, i) => i);
    this.#byReturn = all.filter((i) => ops[i]!.returnMs !== Infinity).sort((a, b) => ops[a]!.returnMs - ops[b]!.returnMs || a - b);
    this.#byCall = [...all].sort((a, b) => {
      const fa = ops[a]!.returnMs === Infinity ? 1 : 0;
      const fb = ops[b]!.returnMs === Infinity ? 1 : 0;
      const ra = ops[a]!.revision;
      const rb = ops[b]!.revision;
      return (ra === rb ? 0 : ra < rb ? -1 : 1) || fa - fb || ops[a]!.callMs - ops[b]!.callMs || a - b;
    });
    this.#finiteLeft = this.#byReturn.length;
  }

  run(initial: MultiState, limits: SearchLimits): MultiOutcome {
    const stack: Frame[] = [this.#frame(-1, initial, null, 0)];
    let best: Array<{ op: number; after: MultiState }> = [];
    let steps = 0;
    this.#visited.add(this.#nodeKey(initial));
    while (this.#finiteLeft > 0) {
      steps++;
      if (steps > limits.stepsMax) return { verdict: 'unknown', steps, budget: 'stepsPerKeyMax' };
      if (steps % CLOCK_EVERY_STEPS === 0 && performance.now() > limits.deadlineMs) return { verdict: 'unknown', steps, budget: 'timeoutMs' };
      if (this.#visited.size > limits.visitedMax) return { verdict: 'unknown', steps, budget: 'visitedPerKeyMax' };
      const f = stack[stack.length - 1]!;
      const next = this.#nextChild(f, stack.length > 1 ? stack[stack.length - 2]!.at : null);
      if (next === null) {
        // Every way on from here fails: back up one placement.
        stack.pop();
        if (stack.length === 0) return { verdict: 'violation', steps, prefix: best };
        this.#mark(f.via, false);
        continue;
      }
      this.#mark(next.op, true);
      const key = this.#nodeKey(next.to);
      if (this.#visited.has(key)) {
        this.#mark(next.op, false);
        continue;
      }
      this.#visited.add(key);
      stack.push(this.#frame(next.op, next.to, this.#ops[next.op]!.returnMs === Infinity ? f.at : null, f.revision));
      if (stack.length - 1 > best.length) best = stack.slice(1).map((x) => ({ op: x.via, after: x.at }));
    }
    return { verdict: 'ok', steps };
  }

  /** The next (op, successor) to try at node `f`, whose parent node left `parent`; null when none is left. */
  #nextChild(f: Frame, parent: MultiState | null): { op: number; to: MultiState } | null {
    const ops = this.#ops;
    const state = f.at;
    // Reached by an unknown op u from `guard`: what follows must not commute with it.
    const u = f.via >= 0 && ops[f.via]!.returnMs === Infinity ? f.via : -1;
    const guard = u >= 0 ? parent : null;
    for (;;) {
      if (f.si < f.succ.length) return { op: f.cands[f.ci]!, to: f.succ[f.si++]! };
      if (++f.ci >= f.cands.length) return null;
      const i = f.cands[f.ci]!;
      const r = ops[i]!.step(state);
      const unknown = ops[i]!.returnMs === Infinity;
      f.succ = typeof r === 'string' ? [] : unknown ? r.filter((s) => stateKey(s) !== stateKey(state)) : r;
      if (guard !== null && f.succ.length > 0 && !after(ops, i, u)) {
        const before = ops[i]!.step(guard);
        if (typeof before !== 'string') {
          // Keep the successors the other order (this op first, then u) cannot reach.
          const swapped = before.map((x) => ops[u]!.step(x));
          f.succ = f.succ.filter((s) => !swapped.some((y) => has(y, stateKey(s))));
        }
      }
      f.si = 0;
    }
  }

  /** A node reached by placing `via` (from `guard` when `via` is unknown), with its candidates. */
  #frame(via: number, at: MultiState, guard: MultiState | null, below: number): Frame {
    const ops = this.#ops;
    let deadlineMs = Infinity;
    for (const i of this.#byReturn) if (this.#placed[i] === 0) { deadlineMs = ops[i]!.returnMs; break; }
    // (Reads are placed early by the rule below: only writes say how far the order has come.)
    const revision = via >= 0 && !ops[via]!.readOnly && ops[via]!.revision !== Infinity ? Math.max(below, ops[via]!.revision) : below;
    const open = this.#byCall.filter((i) => this.#placed[i] === 0 && ops[i]!.callMs <= deadlineMs);
    // An op whose revision lies below one placed already is off the store's own order: last.
    const cands = [...open.filter((i) => ops[i]!.revision >= revision), ...open.filter((i) => ops[i]!.revision < revision)];
    // Forced reads: a known op that fits and never changes anything can go first (it may move to
    // the front of any order from here), so its node tries nothing else. If it fits before the
    // unknown op that led here too, that op commutes with it: the order with the read first,
    // reached from the node before, covers this node, which is dropped.
    const key = stateKey(at);
    for (const i of cands) {
      const op = ops[i]!;
      if (!op.readOnly) continue;
      const r = op.step(at);
      if (typeof r === 'string' || r.length !== 1 || stateKey(r[0]!) !== key) continue;
      const dead = guard !== null && has(op.step(guard), stateKey(guard));
      return { via, at, revision, cands: dead ? [] : [i], ci: -1, succ: [], si: 0 };
    }
    return { via, at, revision, cands, ci: -1, succ: [], si: 0 };
  }

  #mark(i: number, on: boolean): void {
    this.#placed[i] = on ? 1 : 0;
    if (on) this.#bits[i >>> 4] = this.#bits[i >>> 4]! | (1 << (i & 15));
    else this.#bits[i >>> 4] = this.#bits[i >>> 4]! & ~(1 << (i & 15));
    if (this.#ops[i]!.returnMs !== Infinity) this.#finiteLeft += on ? -1 : 1;
  }

  #nodeKey(s: MultiState): string {
    const k = stateKey(s);
    let id = this.#stateIds.get(k);
    if (id === undefined) this.#stateIds.set(k, (id = this.#stateIds.size));
    return `${id}:${String.fromCharCode(...this.#bits)}`;
  }
}
