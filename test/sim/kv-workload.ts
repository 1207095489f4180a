// Simulated key-value clients on top of the simulator: each client runs one operation at a time
// (put, cas, delete, or a get in one of the read modes), writes carry a client session so that
// retries after a timeout apply exactly once, and every operation lands in a history for the
// linearizability checker, with unknown outcomes marked as such.

import { encodeCommand, type KvCommand } from '../../src/core/kv/command.ts';
import type { KvResult } from '../../src/core/kv/machine.ts';
import { SeededPrng } from '../../src/core/prng.ts';
import type { Entry, ReadState } from '../../src/core/types.ts';
import type { HistoryOp } from '../lincheck/history.ts';
import type { Sim } from './sim.ts';

export type SimReadMode = 'readindex' | 'lease' | 'follower' | 'stale';

export interface WorkloadOptions {
  readonly seed: number;
  readonly clients: number;
  readonly keys: number;
  readonly readModes: readonly SimReadMode[];
  /** Fraction of operations that write. */
  readonly writeRatio?: number;
  /** One attempt's deadline; a write is retried with the same sequence number after it. */
  readonly attemptTimeoutMs?: number;
  /** Attempts per write before its outcome is declared unknown. */
  readonly attemptsMax?: number;
  /** Pause between a client's operations, uniform in [0, thinkMsMax]. */
  readonly thinkMsMax?: number;
  /** Stale reads go to this node when set (the scenario that shows the checker catching them). */
  readonly staleTarget?: () => string | null;
  /** Lease reads go to this node when set (the clock-drift scenario). */
  readonly leaseTarget?: () => string | null;
  /** ReadIndex reads go to this node when set. */
  readonly readTarget?: () => string | null;
}

interface WriteAttempt {
  readonly op: MutableOp;
  readonly term: number;
  readonly timer: () => void;
}

type MutableOp = { -readonly [K in keyof HistoryOp]: HistoryOp[K] };

export class KvWorkload {
  readonly history: MutableOp[] = [];
  readonly #sim: Sim;
  readonly #o: Required<Omit<WorkloadOptions, 'staleTarget' | 'leaseTarget' | 'readTarget'>> & Pick<WorkloadOptions, 'staleTarget' | 'leaseTarget' | 'readTarget'>;
  readonly #rng: SeededPrng;
  readonly #writes = new Map<string, WriteAttempt>();
  readonly #reads = new Map<string, { op: MutableOp; node: string; cancel: () => void; timedOut: () => boolean }>();
  readonly #waiting = new Map<string, Array<{ index: number; key: string; done: () => void }>>();
  readonly #sessions = new Map<number, number>();
  /**
   * The member each client believes leads, kept until it stops claiming so or an attempt times
   * out, as a real client would: a client cut off with an old leader keeps talking to it.
   */
  readonly #leaderOf = new Map<number, string>();
  #running = false;
  #nextId = 1;
  #nextCtx = 1;
  /** Commands committed more than once (retries that both landed): exactly-once must hide them. */
  duplicatesCommitted = 0;
  /** (client, seq) -> the log indexes it was committed at. */
  readonly #committedSeqs = new Map<string, Set<number>>();

  constructor(sim: Sim, o: WorkloadOptions) {
    this.#sim = sim;
    this.#o = { writeRatio: 0.5, attemptTimeoutMs: 300, attemptsMax: 4, thinkMsMax: 5, ...o };
    this.#rng = new SeededPrng(o.seed ^ 0x6b5f);
    sim.hooks.applied = (node, e, r) => this.#onApplied(node, e, r);
    sim.hooks.readState = (node, rs) => this.#onReadState(node, rs);
    sim.hooks.readDropped = (node, ctx) => this.#onReadDropped(node, ctx);
    sim.hooks.advanced = (node) => this.#release(node);
  }

  start(): void {
    this.#running = true;
    for (let c = 0; c < this.#o.clients; c++) this.#sim.at(this.#rng.nextInt(20), () => this.#register(c, 0));
  }

  /** Stops issuing operations; those in flight still finish or time out. */
  stop(): void {
    this.#running = false;
  }

  get pending(): number {
    return this.history.filter((h) => h.returnMs === null && h.outcome === 'ok').length;
  }

  // ---- sessions -----------------------------------------------------------------------------

  #register(c: number, tries: number): void {
    if (!this.#running) return;
    const leader = this.#sim.leader();
    const r = leader === null ? null : this.#sim.proposeBytes(leader, encodeCommand({ timeMs: this.#sim.now, session: null, cmd: { op: 'register' } }));
    if (r === null) {
      this.#sim.at(20, () => this.#register(c, tries + 1));
      return;
    }
    const key = `${leader}/${r.index}`;
    const op: MutableOp = { id: -1, client: c, op: 'put', key: '', callMs: this.#sim.now, returnMs: null, outcome: 'unknown' };
    const cancel = this.#timeout(() => {
      this.#writes.delete(key);
      this.#register(c, tries + 1);
    });
    this.#writes.set(key, { op, term: r.term, timer: cancel });
    (op as { session?: number }).session = -1; // marks a registration
    (op as { client: number }).client = c;
  }

  #next(c: number): void {
    if (!this.#running) return;
    this.#sim.at(this.#rng.nextInt(this.#o.thinkMsMax + 1), () => (this.#rng.nextFloat() < this.#o.writeRatio ? this.#write(c) : this.#read(c)));
  }

  // ---- writes -------------------------------------------------------------------------------

  #write(c: number): void {
    if (!this.#running) return;
    const key = `k${this.#rng.nextInt(this.#o.keys)}`;
    const roll = this.#rng.nextInt(10);
    const value = `c${c}-${this.#nextId}`;
    let cmd: KvCommand;
    const op: MutableOp = { id: this.#nextId++, client: c, op: 'put', key, callMs: this.#sim.now, returnMs: null, outcome: 'unknown' };
    if (roll < 5) {
      cmd = { op: 'put', key, value };
      op.value = value;
    } else if (roll < 8) {
      // cas from what this node last saw, or from absent: some swap, some do not.
      const seen = this.#sim.kvOf(this.#sim.ids[this.#rng.nextInt(this.#sim.ids.length)]!)?.get(key);
      const expected = typeof seen === 'string' ? seen : null;
      cmd = { op: 'cas', key, expected, value };
      op.op = 'cas';
      op.expected = expected;
      op.value = value;
    } else {
      cmd = { op: 'delete', key };
      op.op = 'delete';
    }
    this.history.push(op);
    const seq = op.id;
    const session = this.#sessions.get(c)!;
    this.#attempt(c, op, encodeCommand({ timeMs: this.#sim.now, session: { client: session, seq, firstUnacked: seq }, cmd }), 1);
  }

  #leaderFor(c: number): string | null {
    const cached = this.#leaderOf.get(c);
    if (cached !== undefined && this.#sim.alive(cached) && this.#sim.status(cached)?.role === 'leader') return cached;
    const l = this.#sim.leader();
    if (l === null) this.#leaderOf.delete(c);
    else this.#leaderOf.set(c, l);
    return l;
  }

  #attempt(c: number, op: MutableOp, data: Uint8Array, n: number): void {
    const leader = this.#leaderFor(c);
    const r = leader === null ? null : this.#sim.proposeBytes(leader, data);
    const retry = () => {
      this.#leaderOf.delete(c);
      if (n < this.#o.attemptsMax) this.#attempt(c, op, data, n + 1);
      else this.#next(c); // outcome stays unknown
    };
    if (r === null) {
      this.#sim.at(this.#o.attemptTimeoutMs, retry);
      return;
    }
    const key = `${leader}/${r.index}`;
    const cancel = this.#timeout(() => {
      this.#writes.delete(key);
      retry();
    });
    this.#writes.set(key, { op, term: r.term, timer: cancel });
    (op as { retry?: () => void }).retry = retry;
  }

  #onApplied(node: string, e: Entry, result: KvResult | null): void {
    if (result !== null && result.op !== 'register' && e.type === 'normal') this.#countDuplicate(e);
    const key = `${node}/${e.index}`;
    const w = this.#writes.get(key);
    if (w === undefined) return;
    this.#writes.delete(key);
    w.timer();
    const op = w.op;
    const c = op.client as number;
    if ((op as { session?: number }).session === -1) {
      if (e.term === w.term && result?.op === 'register') {
        this.#sessions.set(c, result.client);
        this.#next(c);
      } else {
        this.#register(c, 1);
      }
      return;
    }
    if (e.term !== w.term || result === null) {
      // Another entry took that index: this attempt is lost; try again (same sequence number).
      (op as { retry?: () => void }).retry?.();
      return;
    }
    op.returnMs = this.#sim.now;
    switch (result.op) {
      case 'put': case 'delete': op.outcome = 'ok'; break;
      case 'cas': op.outcome = 'ok'; op.result = result.swapped; break;
      // An expired session applied nothing; a stale duplicate may have applied earlier: unknown.
      default:
        if (result.op === 'error' && result.code === 'ERR_SESSION_EXPIRED') op.outcome = 'fail';
        else op.returnMs = null;
    }
    this.#next(c);
  }

  #countDuplicate(e: Entry): void {
    // Session and sequence live in the encoded command; decoding costs little here.
    const v = new DataView(e.data.buffer, e.data.byteOffset, e.data.byteLength);
    if ((e.data[2]! & 1) === 0) return;
    const id = `${v.getFloat64(11)}/${v.getFloat64(19)}`;
    const at = this.#committedSeqs.get(id) ?? new Set<number>();
    if (at.size === 0) this.#committedSeqs.set(id, at);
    if (!at.has(e.index)) {
      at.add(e.index);
      if (at.size > 1) this.duplicatesCommitted++;
    }
  }

  // ---- reads --------------------------------------------------------------------------------

  #read(c: number): void {
    if (!this.#running) return;
    const mode = this.#o.readModes[this.#rng.nextInt(this.#o.readModes.length)]!;
    const key = `k${this.#rng.nextInt(this.#o.keys)}`;
    const op: MutableOp = { id: this.#nextId++, client: c, op: 'get', key, callMs: this.#sim.now, returnMs: null, outcome: 'unknown' };
    this.history.push(op);
    const live = this.#sim.ids.filter((id) => this.#sim.alive(id));
    let node: string | null;
    switch (mode) {
      case 'stale': node = this.#o.staleTarget?.() ?? live[this.#rng.nextInt(live.length)] ?? null; break;
      case 'lease': node = this.#o.leaseTarget?.() ?? this.#leaderFor(c); break;
      case 'readindex': node = this.#o.readTarget?.() ?? this.#leaderFor(c); break;
      case 'follower': {
        const followers = live.filter((id) => id !== this.#sim.leader());
        node = followers[this.#rng.nextInt(followers.length)] ?? null;
        break;
      }
    }
    if (node === null || !this.#sim.alive(node)) {
      op.outcome = 'fail';
      op.returnMs = this.#sim.now;
      this.#next(c);
      return;
    }
    if (mode === 'stale') {
      const v = this.#sim.kvOf(node)!.get(key);
      op.result = typeof v === 'string' ? v : null;
      op.outcome = 'ok';
      op.returnMs = this.#sim.now;
      this.#next(c);
      return;
    }
    const ctx = this.#nextCtx++;
    if (!this.#sim.requestRead(node, ctx, mode !== 'readindex')) {
      op.outcome = 'fail';
      op.returnMs = this.#sim.now;
      this.#next(c);
      return;
    }
    const rk = `${node}/${ctx}`;
    let expired = false;
    const cancel = this.#timeout(() => {
      // Outcome unknown (dropped by the checker); the client moves on and ignores a late answer.
      expired = true;
      this.#reads.delete(rk);
      this.#leaderOf.delete(c);
      this.#next(c);
    });
    this.#reads.set(rk, { op, node, cancel, timedOut: () => expired });
  }

  #onReadState(node: string, rs: ReadState): void {
    const rk = `${node}/${rs.context}`;
    const r = this.#reads.get(rk);
    if (r === undefined) return;
    this.#reads.delete(rk);
    const finish = () => {
      if (r.timedOut()) return;
      r.cancel();
      const v = this.#sim.kvOf(node)?.get(r.op.key);
      if (process.env.SIM_READS !== undefined) {
        const st = this.#sim.status(node);
        console.error(`${this.#sim.now.toFixed(1)} read #${r.op.id} ${r.op.key} at ${node} (${st?.role} t${st?.term}) index ${rs.index} path ${rs.path} applied ${st?.applied} commit ${st?.commit} above ${JSON.stringify(st?.appliedAbove)} -> ${String(v)}`);
      }
      r.op.result = typeof v === 'string' ? v : null;
      r.op.outcome = 'ok';
      r.op.returnMs = this.#sim.now;
      this.#next(r.op.client as number);
    };
    // Serve only once the node has applied the read index (no wait-free shortcut); in parallel
    // mode, once every committed entry up to it that writes the key is applied (per-key).
    if (this.#readable(node, r.op.key, rs.index)) finish();
    else {
      const list = this.#waiting.get(node) ?? [];
      list.push({ index: rs.index, key: r.op.key, done: finish });
      this.#waiting.set(node, list);
    }
  }

  #readable(node: string, key: string, index: number): boolean {
    if (this.#sim.opts.mode === 'parallel') return this.#sim.alive(node) && this.#sim.raft(node).keyReadable(key, index);
    return (this.#sim.kvOf(node)?.appliedIndex ?? 0) >= index;
  }

  #release(node: string): void {
    const list = this.#waiting.get(node);
    if (list === undefined) return;
    const still = list.filter((w) => {
      if (!this.#readable(node, w.key, w.index)) return true;
      w.done();
      return false;
    });
    this.#waiting.set(node, still);
  }

  #onReadDropped(node: string, ctx: number | string): void {
    const rk = `${node}/${ctx}`;
    const r = this.#reads.get(rk);
    if (r === undefined) return;
    this.#reads.delete(rk);
    r.cancel();
    r.op.outcome = 'fail';
    r.op.returnMs = this.#sim.now;
    this.#next(r.op.client as number);
  }

  /** A one-shot timer on the virtual clock; returns its cancel function. */
  #timeout(fn: () => void): () => void {
    let live = true;
    this.#sim.at(this.#o.attemptTimeoutMs, () => { if (live) { live = false; fn(); } });
    return () => { live = false; };
  }

  /** The history as the checker wants it (internal markers dropped, registrations excluded). */
  result(): HistoryOp[] {
    return this.history.filter((h) => h.id > 0).map((h) => {
      const { retry: _r, session: _s, ...rest } = h as MutableOp & { retry?: unknown; session?: unknown };
      return rest;
    });
  }
}
