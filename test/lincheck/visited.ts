// Lowe's memo for the linearizability search: the (linearized ops, model state, guard) triples
// already explored, so a subtree reached again by another order of placements is cut at once.
// The guard (see search.ts) restricts what may follow a timed-out op, so it is part of the node.

/**
 * Set of (bitset of linearized ops, state, guard) triples, the bitsets pooled in one typed array and chained
 * per hash slot. The hash of a bitset is the XOR of per-op random words (Zobrist), updated in O(1).
 */
export class VisitedSet {
  readonly #words: number;
  readonly #heads = new Map<number, number>();
  #bits: Uint32Array;
  #states: Int32Array;
  #guards: Int32Array;
  #chain: Int32Array;
  #size = 0;

  constructor(words: number) {
    this.#words = words;
    const capacity = 256;
    this.#bits = new Uint32Array(capacity * words);
    this.#states = new Int32Array(capacity);
    this.#guards = new Int32Array(capacity);
    this.#chain = new Int32Array(capacity);
  }

  get size(): number {
    return this.#size;
  }

  /** Adds the triple; false when it was already there (that subtree has been explored). */
  add(hash: number, lin: Uint32Array, state: number, guard: number): boolean {
    const slot = (hash ^ Math.imul(state + 1, 0x9e3779b1) ^ Math.imul(guard + 3, 0x85ebca6b)) & 0x3fffffff;
    const head = this.#heads.get(slot) ?? -1;
    for (let e = head; e !== -1; e = this.#chain[e] as number) {
      if (this.#states[e] === state && this.#guards[e] === guard && this.#equal(e, lin)) return false;
    }
    if (this.#size === this.#states.length) this.#grow();
    const e = this.#size++;
    this.#bits.set(lin, e * this.#words);
    this.#states[e] = state;
    this.#guards[e] = guard;
    this.#chain[e] = head;
    this.#heads.set(slot, e);
    return true;
  }

  #equal(e: number, lin: Uint32Array): boolean {
    const base = e * this.#words;
    for (let w = 0; w < this.#words; w++) {
      if (this.#bits[base + w] !== lin[w]) return false;
    }
    return true;
  }

  #grow(): void {
    const capacity = this.#states.length * 2;
    const bits = new Uint32Array(capacity * this.#words);
    bits.set(this.#bits);
    this.#bits = bits;
    const states = new Int32Array(capacity);
    states.set(this.#states);
    this.#states = states;
    const guards = new Int32Array(capacity);
    guards.set(this.#guards);
    this.#guards = guards;
    const chain = new Int32Array(capacity);
    chain.set(this.#chain);
    this.#chain = chain;
  }
}

