// Linearizable reads without the log (Raft dissertation, section 6.4): ReadIndex rounds confirmed
// by a quorum of heartbeat acknowledgements, batched so that every read queued before a round
// starts shares it, and the leader lease that heartbeat rounds renew.

import { assert } from './assert.ts';
import type { Instant } from './clock.ts';
import { quorumSize } from './quorum.ts';
import type { Index, NodeId, ReadContext } from './types.ts';

export interface ReadRequest {
  readonly context: ReadContext;
  /** The follower that asked on behalf of its reader, or null for a local read. */
  readonly from: NodeId | null;
}

interface Round {
  readonly id: number;
  readonly index: Index;
  /** When the round was made (before its heartbeats left); null without a clock. */
  readonly sent: Instant | null;
  readonly requests: ReadRequest[];
}

export interface ConfirmedRead extends ReadRequest {
  readonly index: Index;
}

export class ReadOnly {
  readonly pendingMax: number;
  /** Reads waiting for the next round to start. */
  #queued: ReadRequest[] = [];
  /** Rounds sent and not yet confirmed, oldest first. */
  #rounds: Round[] = [];
  #pendingCount = 0;
  /** Unconfirmed rounds that carry reads (trim() never drops those). */
  #readRounds = 0;
  #nextRoundId = 1;
  /** Highest round each voter has acknowledged. */
  readonly #acked = new Map<NodeId, number>();
  /**
   * When the newest round a quorum confirmed was sent: the base of the lease. Only moves forward,
   * and only from a round's own send time, so acknowledgements that arrive late (after a stall)
   * confirm a lease that is already as old as the round they answer.
   */
  #leaseBase: Instant | null = null;

  constructor(pendingMax: number) {
    this.pendingMax = pendingMax;
  }

  get leaseBase(): Instant | null {
    return this.#leaseBase;
  }

  get pending(): number {
    return this.#pendingCount;
  }

  full(): boolean {
    return this.#pendingCount >= this.pendingMax;
  }

  enqueue(req: ReadRequest): void {
    assert(!this.full(), () => `read queue full (${this.#pendingCount}/${this.pendingMax})`);
    this.#queued.push(req);
    this.#pendingCount++;
  }

  hasQueued(): boolean {
    return this.#queued.length > 0;
  }

  /**
   * Starts a round at the current commit index; every heartbeat carries the returned round id,
   * so plain heartbeats also renew the lease. Queued reads join this round.
   */
  startRound(commit: Index, sent: Instant | null): number {
    const id = this.#nextRoundId++;
    const requests = this.#queued;
    this.#queued = [];
    this.#rounds.push({ id, index: commit, sent, requests });
    if (requests.length > 0) this.#readRounds++;
    return id;
  }

  /** Unconfirmed rounds carrying reads. */
  get readRounds(): number {
    return this.#readRounds;
  }

  /** A voter acknowledged heartbeats up to `round`; returns the reads this confirms. */
  ack(from: NodeId, round: number, self: NodeId, voters: readonly NodeId[]): ConfirmedRead[] {
    const prev = this.#acked.get(from) ?? 0;
    if (round > prev) this.#acked.set(from, round);
    return this.confirm(self, voters);
  }

  /**
   * Confirms every round that a quorum (counting the leader) has acknowledged. Rounds are in id
   * order, so the newest round a quorum acknowledged is the quorum-th highest acknowledgement, and
   * every round up to it is confirmed: a walk over the voters, not over the rounds in flight (under
   * many independent readers a round per Ready is in flight, and every ack used to scan them all).
   */
  confirm(self: NodeId, voters: readonly NodeId[]): ConfirmedRead[] {
    const out: ConfirmedRead[] = [];
    if (this.#rounds.length === 0) return out;
    const acked = voters.map((v) => (v === self ? Infinity : this.#acked.get(v) ?? 0)).sort((a, b) => b - a);
    const quorumRound = acked[quorumSize(voters.length) - 1] ?? 0;
    let n = 0;
    let newest: Round | null = null;
    while (n < this.#rounds.length && this.#rounds[n]!.id <= quorumRound) {
      const round = this.#rounds[n]!;
      for (const r of round.requests) out.push({ ...r, index: round.index });
      this.#pendingCount -= round.requests.length;
      if (round.requests.length > 0) this.#readRounds--;
      newest = round;
      n++;
    }
    assert(this.#readRounds >= 0, () => `read-carrying rounds went negative (${this.#readRounds})`);
    if (newest === null) return out;
    if (newest.sent !== null && (this.#leaseBase === null || newest.sent.mono > this.#leaseBase.mono)) this.#leaseBase = newest.sent;
    this.#rounds.splice(0, n);
    return out;
  }

  get rounds(): number {
    return this.#rounds.length;
  }

  /**
   * Drops unconfirmed rounds that carry no reads, except the newest `keepRounds`, so plain
   * heartbeat rounds stay bounded while a quorum is unreachable.
   */
  trim(keepRounds: number): void {
    if (this.#rounds.length <= keepRounds) return;
    const cut = this.#rounds.length - keepRounds;
    this.#rounds = this.#rounds.filter((r, i) => i >= cut || r.requests.length > 0);
  }

  /** Everything pending, when leadership is lost: the caller fails these reads. */
  drain(): ReadRequest[] {
    const out: ReadRequest[] = [...this.#queued];
    for (const r of this.#rounds) out.push(...r.requests);
    this.#queued = [];
    this.#rounds = [];
    this.#pendingCount = 0;
    this.#readRounds = 0;
    this.#acked.clear();
    this.#leaseBase = null;
    return out;
  }
}
