// The Wing & Gong linearizability search with Lowe's memoisation, as Porcupine does it, over the
// ops of one key: call and return events in a doubly linked list ordered by time; linearize a call
// whose result fits, lift it out, restart; at a return nobody placed, backtrack. A visited set of
// (linearized ops, model state) cuts every subtree already explored.
import { SeededPrng } from '../../src/core/prng.ts';
import { ABSENT, OP_CAS_FALSE, OP_CAS_MAYBE, OP_CAS_TRUE, OP_GET, REJECTED, applyOp, readOf, unreachableReads, writeOf } from './model.ts';
import type { KeyOp } from './model.ts';
import { buildLists, relink, unlink } from './lists.ts';
import type { EventLists } from './lists.ts';
import { VisitedSet } from './visited.ts';

/** The budget options by name, so an `unknown` verdict says which one ran out. */
export type Budget = 'stepsPerKeyMax' | 'visitedPerKeyMax' | 'timeoutMs';

export interface SearchLimits {
  readonly stepsMax: number;
  readonly visitedMax: number;
  /** A performance.now() value after which the search gives up. */
  readonly deadlineMs: number;
}

export interface SearchMode {
  /** Record the deepest linearization, for explaining a violation. */
  readonly trackPrefix?: boolean;
  /**
   * Skip rule 4 below. The answer is the same, but the deepest linearization then runs on to the
   * read that cannot be placed instead of stopping at the write that strands it, which reads better.
   */
  readonly allowStranding?: boolean;
}

export type SearchOutcome =
  | { readonly verdict: 'ok'; readonly steps: number }
  /** `prefix` (positions in `ops`, in linearization order) is the deepest one reached, when tracked. */
  | { readonly verdict: 'violation'; readonly steps: number; readonly prefix: readonly number[] | null }
  | { readonly verdict: 'unknown'; readonly steps: number; readonly budget: Budget };

// Checking the clock every step would cost more than the step itself.
const CLOCK_EVERY_STEPS = 1024;
const ZOBRIST_SEED = 0x11ec4eed;
/** From #forcedRead: the node cannot be completed. */
const DEAD = -3;
/** The guard when the last placed op is not of unknown outcome. */
const NO_GUARD = -2;

// What the search does next: look for a forced read at a new node, or scan the candidates.
type Phase = 'fresh' | 'scanFinite' | 'scanUnknown';
// How a frame resumes on backtrack: scan on after its entry in the finite list, on after its op in
// the unknown list, or (forced) give up its node altogether.
const RESUME_FINITE = 0;
const RESUME_UNKNOWN = 1;
const RESUME_FORCED = 2;

function zobristTable(n: number): Int32Array {
  const prng = new SeededPrng(ZOBRIST_SEED);
  const table = new Int32Array(n);
  for (let i = 0; i < n; i++) table[i] = prng.nextU32() | 0;
  return table;
}

/**
 * Decides whether the ops of one key have a linearization.
 *
 * The candidates at a node are the ops called before the first pending return. Porcupine tries
 * them in call order; three rules keep the same answer with far less backtracking:
 *
 * 1. Forced reads. A read (get, failed cas) that fits the state is placed first, and if nothing
 *    follows it, its node fails without trying the others: any linearization from the node can move
 *    the read to the front, as it changes nothing and its call precedes every pending return.
 * 2. Targeted writers. When a read is rejected for want of a value, the pending ops that write that
 *    value are tried before the scan goes on. Every candidate is still tried (the visited set drops
 *    repeats), so this only changes the order.
 * 3. Normal form for ops of unknown outcome (always writes, never returning). Any linearization can
 *    be rewritten, staying valid, until each unknown op u placed at all (the rest go last, where
 *    nothing sees them) changes the state and is followed by an op that needs it: an op with a known
 *    return that does not fit the state before u (else swap the two if it reads, or move u to the
 *    end if it overwrites), or an unknown cas that swaps on u's value. Moving u later, or a read
 *    earlier past u, never breaks real-time order since u never returns. So unknown ops are tried
 *    last and only in that form; the guard (the state before the last placed op, when that op is
 *    unknown) restricts the next placement and is part of the visited key.
 * 4. Stranded reads. A write that leaves value v while some unplaced op still needs to read v and
 *    no unplaced op writes v again is rejected: that read could never be placed. Likewise a node
 *    fails when the first pending return is a read of v and no unplaced op writing v was called by
 *    then; and a read of a value that no op wrote, or that no writer was called before the read
 *    returned, fails the key before any search.
 * Values that no op ever reads or expects are merged into one: the model cannot tell them apart,
 * and the visited set then recognises orders of such blind writes as the same node.
 */
export function searchKey(ops: readonly KeyOp[], limits: SearchLimits, mode: SearchMode = {}): SearchOutcome {
  // A read of a value nothing could have written in time fails every order; the search would
  // have to try them all to find out.
  if (unreachableReads(ops).length > 0) return { verdict: 'violation', steps: 1, prefix: mode.trackPrefix === true ? [] : null };
  return new KeySearch(mergeBlindValues(ops), mode).run(limits);
}

/** Maps every value id that no op reads or expects to one id (absent stays 0). */
function mergeBlindValues(ops: readonly KeyOp[]): KeyOp[] {
  const observed = new Set<number>([ABSENT]);
  let blind = 1;
  for (const op of ops) {
    if (op.code === OP_GET) observed.add(op.resultId);
    else if (op.code === OP_CAS_TRUE || op.code === OP_CAS_FALSE || op.code === OP_CAS_MAYBE) observed.add(op.expectedId);
    blind = Math.max(blind, op.valueId + 1, op.expectedId + 1, op.resultId + 1);
  }
  return ops.map((op) => (observed.has(op.valueId) ? op : { ...op, valueId: blind }));
}

class KeySearch {
  readonly #ops: readonly KeyOp[];
  readonly #lists: EventLists;
  readonly #head: number;
  readonly #lin: Uint32Array;
  readonly #zobrist: Int32Array;
  readonly #visited: VisitedSet;
  // One frame per placed op: the op, the state before it, and how to resume on backtrack.
  readonly #stackOp: Int32Array;
  readonly #stackState: Int32Array;
  readonly #stackResume: Int32Array;
  readonly #stackMode: Uint8Array;
  readonly #stackReturnMs: Float64Array;
  readonly #best: Int32Array | null;
  // Per value id: unplaced ops that need to read it, and unplaced ops that may write it.
  readonly #readersLeft: Int32Array;
  readonly #writersLeft: Int32Array;
  readonly #allowStranding: boolean;
  #bestDepth = 0;
  #depth = 0;
  #state = ABSENT;
  #hash = 0;
  #guard = NO_GUARD;
  #finiteLeft: number;
  #phase: Phase = 'fresh';
  // An entry of the finite list, or in 'scanUnknown' an op of the unknown list, whose call must
  // come no later than returnMs (the first pending return).
  #cursor = 0;
  #returnMs = 0;

  constructor(ops: readonly KeyOp[], mode: SearchMode) {
    const n = ops.length;
    this.#ops = ops;
    this.#lists = buildLists(ops);
    this.#head = 2 * n;
    this.#lin = new Uint32Array(Math.max(1, (n + 31) >>> 5));
    this.#zobrist = zobristTable(n);
    this.#visited = new VisitedSet(this.#lin.length);
    this.#stackOp = new Int32Array(n);
    this.#stackState = new Int32Array(n);
    this.#stackResume = new Int32Array(n);
    this.#stackMode = new Uint8Array(n);
    this.#stackReturnMs = new Float64Array(n);
    this.#best = mode.trackPrefix === true ? new Int32Array(n) : null;
    this.#allowStranding = mode.allowStranding === true;
    this.#finiteLeft = this.#lists.finite;
    let ids = 1;
    for (const op of ops) ids = Math.max(ids, op.valueId + 1, op.expectedId + 1, op.resultId + 1);
    this.#readersLeft = new Int32Array(ids);
    this.#writersLeft = new Int32Array(ids);
    for (const op of ops) this.#count(op, 1);
  }

  #count(op: KeyOp, delta: number): void {
    const read = readOf(op);
    if (read !== REJECTED) this.#readersLeft[read] = (this.#readersLeft[read] as number) + delta;
    const written = writeOf(op);
    if (written !== REJECTED) this.#writersLeft[written] = (this.#writersLeft[written] as number) + delta;
  }

  run(limits: SearchLimits): SearchOutcome {
    const ops = this.#ops;
    const { next, nextUnknown } = this.#lists;
    const tailUnknown = ops.length + 1;
    let steps = 0;
    // Ops of unknown outcome never force a placement: once only they are left, the rest fits.
    while (this.#finiteLeft > 0) {
      steps++;
      if (steps > limits.stepsMax) return { verdict: 'unknown', steps, budget: 'stepsPerKeyMax' };
      if (steps % CLOCK_EVERY_STEPS === 0 && performance.now() > limits.deadlineMs) {
        return { verdict: 'unknown', steps, budget: 'timeoutMs' };
      }
      if (this.#visited.size > limits.visitedMax) return { verdict: 'unknown', steps, budget: 'visitedPerKeyMax' };
      const c = this.#cursor;
      let failed = false;
      if (this.#phase === 'fresh') {
        this.#phase = 'scanFinite';
        this.#cursor = next[this.#head] as number;
        const read = this.#forcedRead();
        // A forced read already visited means its node failed before.
        if (read === DEAD || (read !== -1 && !this.#place(read >>> 1, RESUME_FORCED, read))) failed = true;
      } else if (this.#phase === 'scanFinite') {
        if ((c & 1) === 1) {
          // The first pending return: the unknown ops called by then are the remaining candidates.
          this.#phase = 'scanUnknown';
          this.#returnMs = (ops[c >>> 1] as KeyOp).returnMs;
          this.#cursor = nextUnknown[ops.length] as number;
        } else if (!this.#place(c >>> 1, RESUME_FINITE, c) && !this.#placeWriterFor(c)) {
          this.#cursor = next[c] as number;
        }
      } else if (c === tailUnknown || (ops[c] as KeyOp).callMs > this.#returnMs) {
        failed = true;
      } else if (!this.#place(c, RESUME_UNKNOWN, c)) {
        this.#cursor = nextUnknown[c] as number;
      }
      if (failed && !this.#backtrack()) {
        const best = this.#best;
        return { verdict: 'violation', steps, prefix: best === null ? null : Array.from(best.subarray(0, this.#bestDepth)) };
      }
    }
    return { verdict: 'ok', steps };
  }

  /**
   * The entry of a candidate read that fits the state and the guard; -1 when there is none; DEAD
   * when the first pending return is a read of a value that nothing unplaced and called by then
   * can write, so no order from this node works.
   */
  #forcedRead(): number {
    const ops = this.#ops;
    const next = this.#lists.next;
    let c = next[this.#head] as number;
    for (; (c & 1) === 0; c = next[c] as number) {
      const op = ops[c >>> 1] as KeyOp;
      if (op.code !== OP_GET && op.code !== OP_CAS_FALSE) continue;
      if (applyOp(this.#state, op) === REJECTED) continue;
      if (this.#guard === NO_GUARD || applyOp(this.#guard, op) === REJECTED) return c;
    }
    const first = ops[c >>> 1] as KeyOp;
    const needed = readOf(first);
    if (needed === REJECTED || needed === this.#state) return -1;
    for (const w of this.#lists.writers.get(needed) ?? []) {
      if ((ops[w] as KeyOp).callMs > first.returnMs) break;
      if (((this.#lin[w >>> 5] as number) & (1 << (w & 31))) === 0 && w !== c >>> 1) return -1;
    }
    return DEAD;
  }

  /** Places op i if it fits, in normal form, and its node is new; the next step starts fresh. */
  #place(i: number, mode: number, resume: number): boolean {
    const op = this.#ops[i] as KeyOp;
    const state = this.#state;
    const after = applyOp(state, op);
    if (after === REJECTED) return false;
    const unknown = op.returnMs === Infinity;
    if (this.#guard !== NO_GUARD) {
      if (unknown ? op.code !== OP_CAS_MAYBE || op.expectedId !== state : applyOp(this.#guard, op) !== REJECTED) return false;
    }
    if (unknown && after === state) return false;
    if (after !== state && this.#writersLeft[state] === 0 && !this.#allowStranding) {
      const stranded = (this.#readersLeft[state] as number) - (readOf(op) === state ? 1 : 0);
      if (stranded > 0) return false;
    }
    const guard = unknown ? state : NO_GUARD;
    const lin = this.#lin;
    const word = i >>> 5;
    const bit = 1 << (i & 31);
    const afterHash = this.#hash ^ (this.#zobrist[i] as number);
    lin[word] = (lin[word] as number) | bit;
    if (!this.#visited.add(afterHash, lin, after, guard)) {
      lin[word] = (lin[word] as number) & ~bit;
      return false;
    }
    const d = this.#depth;
    this.#stackOp[d] = i;
    this.#stackState[d] = state;
    this.#stackResume[d] = resume;
    this.#stackMode[d] = mode;
    this.#stackReturnMs[d] = this.#returnMs;
    this.#depth = d + 1;
    this.#state = after;
    this.#hash = afterHash;
    this.#guard = guard;
    this.#count(op, -1);
    const { next, prev, nextUnknown, prevUnknown } = this.#lists;
    if (unknown) {
      unlink(i, nextUnknown, prevUnknown);
    } else {
      unlink(2 * i, next, prev);
      unlink(2 * i + 1, next, prev);
      this.#finiteLeft--;
    }
    if (this.#best !== null && d + 1 > this.#bestDepth) {
      this.#bestDepth = d + 1;
      this.#best.set(this.#stackOp.subarray(0, d + 1));
    }
    this.#phase = 'fresh';
    return true;
  }

  /**
   * The read at entry c was rejected: try the pending ops that write the value it needs and were
   * called no later (so they are candidates too). Backtracking resumes the scan after c.
   */
  #placeWriterFor(c: number): boolean {
    const ops = this.#ops;
    const op = ops[c >>> 1] as KeyOp;
    const needed = readOf(op);
    if (needed === REJECTED || needed === this.#state) return false;
    const writers = this.#lists.writers.get(needed);
    if (writers === undefined) return false;
    for (const w of writers) {
      if ((ops[w] as KeyOp).callMs > op.callMs) break;
      if (((this.#lin[w >>> 5] as number) & (1 << (w & 31))) !== 0) continue;
      if (this.#place(w, RESUME_FINITE, c)) return true;
    }
    return false;
  }

  /** Undoes placements up to the last one whose node has candidates left; false when none has. */
  #backtrack(): boolean {
    const { next, prev, nextUnknown, prevUnknown } = this.#lists;
    while (this.#depth > 0) {
      const d = --this.#depth;
      const i = this.#stackOp[d] as number;
      this.#state = this.#stackState[d] as number;
      this.#hash ^= this.#zobrist[i] as number;
      this.#lin[i >>> 5] = (this.#lin[i >>> 5] as number) & ~(1 << (i & 31));
      const below = d > 0 ? this.#stackOp[d - 1] as number : -1;
      this.#guard = below >= 0 && (this.#ops[below] as KeyOp).returnMs === Infinity ? this.#stackState[d - 1] as number : NO_GUARD;
      this.#count(this.#ops[i] as KeyOp, 1);
      if ((this.#ops[i] as KeyOp).returnMs === Infinity) {
        relink(i, nextUnknown, prevUnknown);
      } else {
        relink(2 * i + 1, next, prev);
        relink(2 * i, next, prev);
        this.#finiteLeft++;
      }
      const mode = this.#stackMode[d];
      if (mode === RESUME_FORCED) continue;
      const resume = this.#stackResume[d] as number;
      if (mode === RESUME_FINITE) {
        this.#phase = 'scanFinite';
        this.#cursor = next[resume] as number;
      } else {
        this.#phase = 'scanUnknown';
        this.#returnMs = this.#stackReturnMs[d] as number;
        this.#cursor = nextUnknown[resume] as number;
      }
      return true;
    }
    return false;
  }
}
