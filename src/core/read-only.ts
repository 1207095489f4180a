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
    return id;
  }

  /** A voter acknowledged heartbeats up to `round`; returns the reads this confirms. */
  ack(from: NodeId, round: number, self: NodeId, voters: readonly NodeId[]): ConfirmedRead[] {
    const prev = this.#acked.get(from) ?? 0;
    if (round > prev) this.#acked.set(from, round);
    return this.confirm(self, voters);
  }

  /** Confirms every round that a quorum (counting the leader) has acknowledged. */
  confirm(self: NodeId, voters: readonly NodeId[]): ConfirmedRead[] {
    const out: ConfirmedRead[] = [];
    const q = quorumSize(voters.length);
    let confirmedUpTo = -1;
    for (let i = this.#rounds.length - 1; i >= 0; i--) {
      const round = this.#rounds[i]!;
      let acks = 0;
      for (const v of voters) {
        if (v === self || (this.#acked.get(v) ?? 0) >= round.id) acks++;
      }
      if (acks >= q) {
        confirmedUpTo = i;
        if (round.sent !== null && (this.#leaseBase === null || round.sent.mono > this.#leaseBase.mono)) this.#leaseBase = round.sent;
        break;
      }
    }
    if (confirmedUpTo < 0) return out;
    for (let i = 0; i <= confirmedUpTo; i++) {
      const round = this.#rounds[i]!;
      for (const r of round.requests) out.push({ ...r, index: round.index });
      this.#pendingCount -= round.requests.length;
    }
    this.#rounds.splice(0, confirmedUpTo + 1);
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
    this.#acked.clear();
    this.#leaseBase = null;
    return out;
  }
}
