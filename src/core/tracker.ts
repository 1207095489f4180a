// Who is in the cluster and, on a leader, how far each of them has the log: the voters and
// learners of the configuration this node applies, the observers (follower-readers outside it)
// the runtime registered, and one Progress per member and observer while this node leads.

import { assert } from './assert.ts';
import { Progress } from './progress.ts';
import { committedIndex, quorumSize } from './quorum.ts';
import type { ConfState, Index, NodeId } from './types.ts';

export interface TrackerLimits {
  readonly inflightMsgsMax: number;
  readonly learnerInflightMsgsMax: number;
  readonly inflightBytesMax: number;
  readonly learnerInflightBytesMax: number;
}

export class ProgressTracker {
  readonly #self: NodeId;
  readonly #limits: TrackerLimits;
  #voters: NodeId[] = [];
  #learners: NodeId[] = [];
  /**
   * Observers: learners outside the configuration (browser tabs), registered by the runtime. A
   * leader replicates to them like to learners; they never vote and never count in a quorum.
   */
  readonly #observers = new Set<NodeId>();
  /** Leader only: one entry per member and observer, including this node. */
  readonly #progress = new Map<NodeId, Progress>();

  constructor(self: NodeId, limits: TrackerLimits, conf: ConfState) {
    this.#self = self;
    this.#limits = limits;
    this.setConf(conf);
  }

  // ---- membership -------------------------------------------------------------------------

  setConf(conf: ConfState): void {
    assert(new Set([...conf.voters, ...conf.learners]).size === conf.voters.length + conf.learners.length,
      () => `a member is both voter and learner: ${JSON.stringify(conf)}`);
    this.#voters = [...conf.voters];
    this.#learners = [...conf.learners];
  }

  conf(): ConfState {
    return { voters: [...this.#voters], learners: [...this.#learners] };
  }

  get voters(): readonly NodeId[] {
    return this.#voters;
  }

  get learners(): readonly NodeId[] {
    return this.#learners;
  }

  isVoter(id: NodeId): boolean {
    return this.#voters.includes(id);
  }

  isMember(id: NodeId): boolean {
    return this.#voters.includes(id) || this.#learners.includes(id);
  }

  members(): NodeId[] {
    return [...this.#voters, ...this.#learners];
  }

  /** This node is not in the configuration it applies (a joining member passes through this). */
  selfRemoved(): boolean {
    return !this.isMember(this.#self) && this.#voters.length > 0;
  }

  get observers(): ReadonlySet<NodeId> {
    return this.#observers;
  }

  addObserver(id: NodeId): void {
    this.#observers.add(id);
  }

  /** Forgets an observer (and its progress); returns whether `id` was one. */
  removeObserver(id: NodeId): boolean {
    if (!this.#observers.delete(id)) return false;
    this.#progress.delete(id);
    return true;
  }

  // ---- progress (leader) ------------------------------------------------------------------

  get(id: NodeId): Progress | undefined {
    return this.#progress.get(id);
  }

  /** Every tracked member and observer with its progress, this node included. */
  entries(): IterableIterator<[NodeId, Progress]> {
    return this.#progress.entries();
  }

  has(id: NodeId): boolean {
    return this.#progress.has(id);
  }

  clear(): void {
    this.#progress.clear();
  }

  /** A fresh Progress for `id` starting at `next`, with the window its kind gets. */
  track(id: NodeId, next: Index): Progress {
    const learner = !this.isVoter(id);
    const l = this.#limits;
    const pr = learner
      ? new Progress(next, true, l.learnerInflightMsgsMax, l.learnerInflightBytesMax)
      : new Progress(next, false, l.inflightMsgsMax, l.inflightBytesMax);
    this.#progress.set(id, pr);
    return pr;
  }

  /**
   * A new leader tracks every member and observer from `next`; its own entry matches what it
   * holds durably (`selfMatch`) and replicates from `selfNext`.
   */
  startLeading(next: Index, selfMatch: Index, selfNext: Index): void {
    this.#progress.clear();
    for (const id of [...this.members(), ...this.#observers]) {
      const pr = this.track(id, next);
      if (id === this.#self) {
        pr.match = selfMatch;
        pr.becomeReplicate();
        pr.next = selfNext;
      }
      pr.recentActive = true;
    }
  }

  /**
   * After a membership change a leader tracks the new members from `next` (a promoted learner
   * keeps what it has, in probe state with a voter's window) and forgets the removed.
   */
  reconcile(changed: NodeId, promoted: boolean, next: Index): void {
    for (const id of this.members()) {
      if (this.#progress.has(id) && (changed !== id || !promoted)) continue;
      const old = this.#progress.get(id);
      const pr = this.track(id, next);
      if (old !== undefined) {
        pr.match = old.match;
        pr.next = old.match + 1;
      }
      pr.recentActive = true;
    }
    for (const id of [...this.#progress.keys()]) if (!this.isMember(id) && !this.#observers.has(id)) this.#progress.delete(id);
  }

  /** The highest index a quorum of voters holds. */
  committedIndex(): Index {
    return committedIndex(this.#voters, (id) => this.#progress.get(id)?.match ?? 0);
  }

  quorum(): number {
    return quorumSize(this.#voters.length);
  }

  /** CheckQuorum: was a quorum of voters heard from since the last check? Resets the marks. */
  quorumActive(): boolean {
    let active = 0;
    for (const id of this.#voters) {
      const pr = this.#progress.get(id);
      if (id === this.#self || pr?.recentActive === true) active++;
    }
    for (const [id, pr] of this.#progress) if (id !== this.#self) pr.recentActive = false;
    return active >= quorumSize(this.#voters.length);
  }
}
