// Simulated key-value clients on top of the simulator. Each client holds a session and keeps up to
// `pipeline` operations in flight (put, cas, delete, or a get in one of the read modes); every
// request crosses the simulated network to a node's RaftDriver, as a peer's client service would
// hand it over, and every answer crosses back. Writes carry (session, seq, firstUnacked) so that
// retries apply exactly once; the rules for what an answer proves are the SDK's (src/client/kv.ts):
// an expired session proves nothing was applied only if no earlier attempt is in doubt. Every
// operation lands in a history for the linearizability checker, unknown outcomes marked as such.
// With txnClients, more clients work on groups of two keys instead (txn-ops.ts): transactions over
// a group, and plain puts, cas, deletes and reads of its keys, checked as one partition. Every
// write records the revision it took effect at (from its answer; for an unknown outcome, from where
// the state machine executed it, if it did), which the checker needs to model modRevision. With
// leaseReaders, more clients only read by lease. In Raft mode every read is also checked against
// the simulator's global view (readsBehindCommit): its index covers every entry committed before it
// was sent, and no read is served from a lease while another member leads a newer term.

import { RaftError } from '../../src/core/errors.ts';
import { encodeCommand, type KvCommand } from '../../src/core/kv/command.ts';
import type { KvResult } from '../../src/core/kv/machine.ts';
import { SeededPrng } from '../../src/core/prng.ts';
import type { Entry } from '../../src/core/types.ts';
import type { HistoryOp } from '../lincheck/history.ts';
import type { Settled, Sim } from './sim.ts';
import { randomTxn, txnGroup, txnResultOf } from './txn-ops.ts';

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
  /** Operations each client keeps in flight at once (writes share its session). */
  readonly pipeline?: number;
  /**
   * The key set is replaced by a fresh one this often (0: never). It bounds how many operations,
   * and open unknown writes, the checker has to order on one key.
   */
  readonly keyEpochMs?: number;
  /** Stale reads go to this node when set (the scenario that shows the checker catching them). */
  readonly staleTarget?: () => string | null;
  /** Lease reads go to this node when set (the clock-drift scenario). */
  readonly leaseTarget?: () => string | null;
  /** ReadIndex reads go to this node when set. */
  readonly readTarget?: () => string | null;
  /** Clients, beside `clients`, that work on txn groups only (txns, and plain ops on the group's keys). */
  readonly txnClients?: number;
  /** Groups of two keys per key epoch that transactions tie together. */
  readonly txnGroups?: number;
  /**
   * Clients, beside the others, that only read by lease, pinned to the member they last saw lead,
   * one read after another: a lease an old leader should not hold shows in their read indexes.
   */
  readonly leaseReaders?: number;
}

type MutableOp = { -readonly [K in keyof HistoryOp]: HistoryOp[K] };

interface Client {
  readonly id: number;
  /**
   * How it finds the leader. 'sticky': it stays with the member it last saw lead for as long as
   * that member says it leads, whatever times out (an SDK pinned to one peer, a tab). 'fresh':
   * it looks the leader up for every attempt (one that was just redirected by a follower).
   * 'cached': it stays until an attempt times out or fails.
   */
  readonly finds: 'sticky' | 'fresh' | 'cached';
  /** Works on the txn groups only, or only reads by lease. */
  readonly groups: boolean;
  readonly leaseReader: boolean;
  session: number | null;
  registering: boolean;
  nextSeq: number;
  /** Sequence numbers in flight; the lowest is firstUnacked. */
  readonly outstanding: Set<number>;
  /** Slots waiting for a session. */
  waiting: Array<() => void>;
}

/** What the workload saw, beyond the history. */
export interface WorkloadStats {
  leaseReads: number;
  readIndexReads: number;
  followerReads: number;
  /** Writes whose outcome stayed unknown. */
  unknownWrites: number;
  /** Writes answered ERR_OUTCOME_UNKNOWN by the state machine (an evicted answer). */
  outcomeUnknown: number;
  /** Writes refused because their session expired. */
  expired: number;
  /** Transactions answered (success and failure branches), and plain ops on group keys. */
  txns: number;
  txnSucceeded: number;
}

type Opts = Required<Omit<WorkloadOptions, 'staleTarget' | 'leaseTarget' | 'readTarget'>> &
  Pick<WorkloadOptions, 'staleTarget' | 'leaseTarget' | 'readTarget'>;

export class KvWorkload {
  readonly history: MutableOp[] = [];
  readonly stats: WorkloadStats = { leaseReads: 0, readIndexReads: 0, followerReads: 0, unknownWrites: 0, outcomeUnknown: 0, expired: 0, txns: 0, txnSucceeded: 0 };
  /** History op id -> the (session, sequence number) its attempts carried. */
  readonly #requestOf = new Map<number, { client: number; seq: number }>();
  readonly #sim: Sim;
  readonly #o: Opts;
  readonly #rng: SeededPrng;
  readonly #clients: Client[] = [];
  /**
   * The member each client believes leads, kept until it stops claiming so or an attempt times
   * out, as a real client would: a client cut off with an old leader keeps talking to it.
   */
  readonly #leaderOf = new Map<number, string>();
  #running = false;
  #nextId = 1;
  /**
   * Linearizable reads (Raft mode) served below an index committed before they were sent, and
   * reads served from a lease while a newer leader existed (a lease exists to rule that out).
   */
  readonly readsBehindCommit: string[] = [];
  /** Commands committed more than once (retries that both landed): exactly-once must hide them. */
  duplicatesCommitted = 0;
  /** (client, seq) -> the log indexes it was committed at. */
  readonly #committedSeqs = new Map<string, Set<number>>();

  constructor(sim: Sim, o: WorkloadOptions) {
    this.#sim = sim;
    this.#o = { writeRatio: 0.5, attemptTimeoutMs: 300, attemptsMax: 4, thinkMsMax: 5, pipeline: 1, keyEpochMs: 0, txnClients: 0, txnGroups: 1, leaseReaders: 0, ...o };
    this.#rng = new SeededPrng(o.seed ^ 0x6b5f);
    sim.hooks.applied.push((_node, e, r) => { if (r !== null && r.op !== 'register' && e.type === 'normal') this.#countDuplicate(e); });
  }

  start(): void {
    this.#running = true;
    const plain = this.#o.clients;
    const groups = plain + this.#o.txnClients;
    for (let c = 0; c < groups + this.#o.leaseReaders; c++) {
      const leaseReader = c >= groups;
      const finds = leaseReader ? 'sticky' : (['sticky', 'fresh', 'cached'] as const)[this.#rng.nextInt(3)]!;
      const client: Client = { id: c, finds, groups: c >= plain && !leaseReader, leaseReader, session: null, registering: false, nextSeq: 1, outstanding: new Set(), waiting: [] };
      this.#clients.push(client);
      // A lease reader reads one at a time.
      for (let slot = 0; slot < (leaseReader ? 1 : this.#o.pipeline); slot++) this.#sim.at(this.#rng.nextInt(20), () => this.#op(client, slot));
    }
  }

  /** Stops issuing operations; those in flight still finish or time out. */
  stop(): void {
    this.#running = false;
  }

  #op(c: Client, slot: number): void {
    if (!this.#running) return;
    if (c.groups) {
      this.#groupOp(c, slot);
      return;
    }
    if (c.leaseReader) {
      this.#read(c, slot, undefined, 'lease');
      return;
    }
    if (this.#rng.nextFloat() < this.#o.writeRatio) this.#write(c, slot);
    else this.#read(c, slot);
  }

  /** An operation on a txn group of the current epoch: mostly a txn, else a plain op on one of its keys. */
  #groupOp(c: Client, slot: number): void {
    const epoch = this.#o.keyEpochMs > 0 ? Math.floor(this.#sim.now / this.#o.keyEpochMs) : 0;
    const g = txnGroup(`g${this.#rng.nextInt(this.#o.txnGroups)}@${epoch}`);
    const roll = this.#rng.nextInt(10);
    if (roll < 6) {
      const look = this.#sim.ids[this.#rng.nextInt(this.#sim.ids.length)]!;
      const t = randomTxn(this.#rng, g, (k) => this.#sim.kvOf(look)?.getKv(k), () => `c${c.id}-${this.#nextId}-${this.#rng.nextInt(1000)}`);
      const op: MutableOp = { id: this.#nextId++, client: `${c.id}.${slot}`, op: 'txn', key: g.keys[0], txn: t.spec, callMs: this.#sim.now, returnMs: null, outcome: 'unknown' };
      this.#submit(c, slot, op, t.cmd);
      return;
    }
    const key = g.keys[this.#rng.nextInt(2)]!;
    if (roll < 8) this.#write(c, slot, key);
    else this.#read(c, slot, key);
  }

  #next(c: Client, slot: number): void {
    if (!this.#running) return;
    this.#sim.at(this.#rng.nextInt(this.#o.thinkMsMax + 1), () => this.#op(c, slot));
  }

  // ---- sessions -----------------------------------------------------------------------------

  /** Runs `then` once the client has a session (registering one if needed). */
  #withSession(c: Client, then: () => void): void {
    if (c.session !== null) {
      then();
      return;
    }
    c.waiting.push(then);
    if (!c.registering) this.#register(c);
  }

  #register(c: Client): void {
    if (!this.#running) {
      c.waiting = [];
      return;
    }
    c.registering = true;
    const leader = this.#leaderFor(c);
    if (leader === null) {
      this.#sim.at(20, () => this.#register(c));
      return;
    }
    const data = encodeCommand({ timeMs: this.#sim.now, session: null, cmd: { op: 'register' } });
    let done = false;
    const cancel = this.#timeout(() => {
      done = true;
      this.#forget(c);
      this.#register(c);
    });
    this.#sim.request(leader, (n) => n.driver!.propose(data), (r) => {
      if (done) return;
      done = true;
      cancel();
      if (!r.ok || r.value.result?.op !== 'register') {
        this.#forget(c);
        this.#sim.at(5, () => this.#register(c));
        return;
      }
      c.session = r.value.result.client;
      c.nextSeq = 1;
      c.registering = false;
      const waiting = c.waiting;
      c.waiting = [];
      for (const w of waiting) w();
    });
  }

  // ---- writes -------------------------------------------------------------------------------

  /** A key of the current epoch. */
  #key(): string {
    const k = `k${this.#rng.nextInt(this.#o.keys)}`;
    return this.#o.keyEpochMs > 0 ? `${k}@${Math.floor(this.#sim.now / this.#o.keyEpochMs)}` : k;
  }

  #write(c: Client, slot: number, at?: string): void {
    const key = at ?? this.#key();
    const roll = this.#rng.nextInt(10);
    const value = `c${c.id}-${this.#nextId}`;
    let cmd: KvCommand;
    const op: MutableOp = { id: this.#nextId++, client: `${c.id}.${slot}`, op: 'put', key, callMs: this.#sim.now, returnMs: null, outcome: 'unknown' };
    if (roll < 5) {
      cmd = { op: 'put', key, value };
      op.value = value;
    } else if (roll < 8) {
      // cas from what some node last saw, or from absent: some swap, some do not.
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
    this.#submit(c, slot, op, cmd);
  }

  /** Records `op` and runs `cmd` under the client's session, with retries. */
  #submit(c: Client, slot: number, op: MutableOp, cmd: KvCommand): void {
    this.history.push(op);
    this.#withSession(c, () => {
      const session = c.session!;
      const seq = c.nextSeq++;
      this.#requestOf.set(op.id, { client: session, seq });
      c.outstanding.add(seq);
      let firstUnacked = seq;
      for (const s of c.outstanding) if (s < firstUnacked) firstUnacked = s;
      const data = encodeCommand({ timeMs: this.#sim.now, session: { client: session, seq, firstUnacked }, cmd });
      const end = (): void => {
        c.outstanding.delete(seq);
        if (op.outcome === 'unknown') this.stats.unknownWrites++;
        this.#next(c, slot);
      };
      this.#attempt(c, op, data, 1, { uncertain: false }, session, end);
    });
  }

  /**
   * One attempt of a write. `trace.uncertain` becomes true once an attempt went out whose fate is
   * unknown (no answer in time, or an answer that does not prove it was not applied).
   */
  #attempt(c: Client, op: MutableOp, data: Uint8Array, n: number, trace: { uncertain: boolean }, session: number, end: () => void): void {
    const again = (uncertain: boolean): void => {
      if (uncertain) trace.uncertain = true;
      this.#forget(c);
      if (n < this.#o.attemptsMax && this.#running) this.#sim.at(uncertain ? 0 : 5, () => this.#attempt(c, op, data, n + 1, trace, session, end));
      else end(); // outcome stays unknown (or, with nothing in doubt, it was never applied)
    };
    const leader = this.#leaderFor(c);
    if (leader === null) {
      this.#sim.at(this.#o.attemptTimeoutMs, () => again(false));
      return;
    }
    let settled = false;
    const cancel = this.#timeout(() => {
      settled = true;
      again(true);
    });
    this.#sim.request(leader, (node) => node.driver!.propose(data), (r: Settled<{ index: number; result: KvResult | null }>) => {
      if (settled) return;
      settled = true;
      cancel();
      if (!r.ok) {
        // The driver refused before proposing (ERR_NOT_LEADER) or gave up on the entry.
        again(r.error.code !== 'ERR_NOT_LEADER');
        return;
      }
      const result = r.value.result;
      if (result === null) {
        again(true);
        return;
      }
      this.#answered(c, op, result, trace, session);
      end();
    });
  }

  #answered(c: Client, op: MutableOp, result: KvResult, trace: { uncertain: boolean }, session: number): void {
    switch (result.op) {
      case 'put': case 'delete':
        op.outcome = 'ok';
        op.revision = result.index;
        op.returnMs = this.#sim.now;
        return;
      case 'cas':
        op.outcome = 'ok';
        op.result = result.swapped;
        op.revision = result.index;
        op.returnMs = this.#sim.now;
        return;
      case 'txn':
        op.outcome = 'ok';
        op.txnResult = txnResultOf(result);
        op.revision = result.index;
        op.returnMs = this.#sim.now;
        this.stats.txns++;
        if (result.succeeded) this.stats.txnSucceeded++;
        return;
      case 'register': case 'deleteRange': case 'leaseGrant': case 'leaseRevoke': case 'leaseExpire': case 'compact':
        return;
      case 'error':
        if (result.code === 'ERR_SESSION_EXPIRED') {
          this.stats.expired++;
          if (c.session === session) c.session = null;
          // Nothing was applied now; an earlier attempt that went unanswered may have been.
          if (!trace.uncertain) {
            op.outcome = 'fail';
            op.returnMs = this.#sim.now;
          }
          return;
        }
        if (result.code === 'ERR_OUTCOME_UNKNOWN') this.stats.outcomeUnknown++;
        // ERR_OUTCOME_UNKNOWN, ERR_SESSION_STALE: it may have applied once; the outcome stays unknown.
        return;
    }
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

  #leaderFor(c: Client): string | null {
    if (c.finds === 'fresh') return this.#sim.leader();
    const cached = this.#leaderOf.get(c.id);
    if (cached !== undefined && this.#sim.role(cached) === 'leader') return cached;
    const l = this.#sim.leader();
    if (l === null) this.#leaderOf.delete(c.id);
    else this.#leaderOf.set(c.id, l);
    return l;
  }

  /** An attempt timed out or failed: a 'cached' client looks for the leader again. */
  #forget(c: Client): void {
    if (c.finds === 'cached') this.#leaderOf.delete(c.id);
  }

  // ---- reads --------------------------------------------------------------------------------

  #read(c: Client, slot: number, at?: string, only?: SimReadMode): void {
    const mode = only ?? this.#o.readModes[this.#rng.nextInt(this.#o.readModes.length)]!;
    const key = at ?? this.#key();
    const op: MutableOp = { id: this.#nextId++, client: `${c.id}.${slot}`, op: 'get', key, callMs: this.#sim.now, returnMs: null, outcome: 'unknown' };
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
      this.#next(c, slot);
      return;
    }
    let settled = false;
    const cancel = this.#timeout(() => {
      // Outcome unknown (dropped by the checker); the client moves on and ignores a late answer.
      settled = true;
      this.#forget(c);
      this.#next(c, slot);
    });
    const parallel = this.#sim.opts.mode === 'parallel';
    // Everything committed anywhere before the read is sent is below its read index (Raft mode:
    // the leader that serves it knows every commit; ParallelRaft's per-key reads wait for their key).
    const committedAtCall = this.#sim.checker.maxCommitted;
    this.#sim.request(node, (n): Promise<{ value: unknown; path: string; index: number }> => {
      if (mode === 'stale') return Promise.resolve({ value: n.machine!.kv!.get(key), path: 'stale', index: 0 });
      // As the peer's client service: the leader paths are refused by a follower.
      if ((mode === 'lease' || mode === 'readindex') && n.driver!.role !== 'leader') {
        throw new RaftError('ERR_NOT_LEADER', `${n.id} is not the leader`, n.driver!.leader);
      }
      // A lease is decided now: while it is valid no other member can have been elected.
      const newer = parallel ? null : this.#newerLeader(n.node!.term);
      const at = n.driver!.read({ allowLease: mode !== 'readindex', ...(parallel ? { key } : {}) });
      // Read when the driver says the index is applied (a snapshot restore may have replaced the machine).
      return at.then((r) => {
        if (r.path === 'lease' && newer !== null) {
          this.readsBehindCommit.push(`${n.id} (term ${n.node?.term}) served a read of ${key} from its lease while ${newer} already led`);
        }
        return { value: n.machine!.kv!.get(key), path: r.path, index: r.index };
      });
    }, (r) => {
      if (settled) return;
      settled = true;
      cancel();
      op.returnMs = this.#sim.now;
      if (!r.ok) {
        op.outcome = 'fail';
        this.#forget(c);
      } else {
        op.outcome = 'ok';
        op.result = typeof r.value.value === 'string' ? r.value.value : null;
        if (!parallel && mode !== 'stale' && r.value.index < committedAtCall) {
          this.readsBehindCommit.push(`a ${r.value.path} read of ${key} at ${node} (sent at ${op.callMs.toFixed(1)} ms) was served at index ${r.value.index}, but ${committedAtCall} was committed before it was sent`);
        }
        if (r.value.path === 'lease') this.stats.leaseReads++;
        else if (r.value.path === 'readIndex') this.stats.readIndexReads++;
        else if (r.value.path === 'follower') this.stats.followerReads++;
      }
      this.#next(c, slot);
    });
  }

  /** A one-shot timer on the virtual clock; returns its cancel function. */
  #timeout(fn: () => void): () => void {
    let live = true;
    this.#sim.at(this.#o.attemptTimeoutMs, () => { if (live) { live = false; fn(); } });
    return () => { live = false; };
  }

  /** A member leading in a term above `term` now (the simulator's global view), or null. */
  #newerLeader(term: number): string | null {
    for (const m of this.#sim.nodes.values()) {
      if (m.node !== null && m.node.role === 'leader' && m.node.term > term) return `${m.id} (term ${m.node.term})`;
    }
    return null;
  }

  /**
   * The history as the checker wants it. A write of unknown outcome that the state machine did
   * execute carries the revision it executed at (the simulator saw it; a client would learn it by
   * reading the key's modRevision): the model of modRevision needs it.
   */
  result(): HistoryOp[] {
    return this.history.map((h) => {
      if (h.outcome !== 'unknown' || h.op === 'get') return { ...h };
      const req = this.#requestOf.get(h.id);
      const at = req === undefined ? undefined : this.#sim.checker.executedAt(req.client, req.seq);
      return at === undefined ? { ...h } : { ...h, revision: at };
    });
  }
}
