// The leader's view of one follower: how far it matches, what to send next, and whether to
// probe (one message at a time), replicate (pipelined) or wait for a snapshot to land.

import { assert } from './assert.ts';
import { Inflights } from './inflights.ts';
import type { Index } from './types.ts';

export type ProgressState = 'probe' | 'replicate' | 'snapshot';

export class Progress {
  // Invariant: match < next.
  match: Index = 0;
  next: Index;
  state: ProgressState = 'probe';
  /** In probe state: one probe is out, wait for its answer (or a heartbeat response). */
  probeSent = false;
  /** In snapshot state: the index of the snapshot being sent. */
  pendingSnapshot: Index = 0;
  /** Heard from since the last CheckQuorum round. */
  recentActive = false;
  /** Tick of the last acknowledgement (or of the first send into an empty pipeline). */
  progressTick = 0;
  /** The commit index this follower has been told (so commit notices are sent once). */
  sentCommit: Index = 0;
  /** Leadership transfer: TimeoutNow already sent to this follower. */
  timeoutNowSent = false;
  /** Parallel mode: indexes above match the follower acknowledged out of order (this term). */
  readonly ooo = new Set<Index>();
  /** Parallel mode: commits above the watermark happened that this follower was not told of. */
  commitSetDirty = false;
  readonly isLearner: boolean;
  readonly inflights: Inflights;

  constructor(next: Index, isLearner: boolean, inflightMsgsMax: number, inflightBytesMax: number) {
    this.next = next;
    this.isLearner = isLearner;
    this.inflights = new Inflights(inflightMsgsMax, inflightBytesMax);
  }

  becomeProbe(): void {
    if (this.state === 'snapshot') {
      this.next = Math.max(this.match + 1, this.pendingSnapshot + 1);
    } else {
      this.next = this.match + 1;
    }
    this.state = 'probe';
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.inflights.reset();
  }

  becomeReplicate(): void {
    this.state = 'replicate';
    this.next = this.match + 1;
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.inflights.reset();
  }

  becomeSnapshot(snapshotIndex: Index): void {
    this.state = 'snapshot';
    this.pendingSnapshot = snapshotIndex;
    this.probeSent = false;
    this.inflights.reset();
  }

  /** An acknowledgement up to `n`. Returns false when it is stale (already known). */
  maybeUpdate(n: Index): boolean {
    let updated = false;
    if (this.match < n) {
      this.match = n;
      updated = true;
      this.probeSent = false;
      if (this.ooo.size > 0) for (const i of this.ooo) if (i <= n) this.ooo.delete(i);
    }
    if (this.next < n + 1) this.next = n + 1;
    return updated;
  }

  /** After sending entries up to `last` in replicate state. */
  sentTo(last: Index, bytes: number): void {
    assert(this.state === 'replicate', `sentTo in ${this.state} state`);
    this.next = last + 1;
    this.inflights.add(last, bytes);
  }

  /**
   * A rejection of an AppendEntries whose prev was `rejected`; `probeFrom` is where the hint
   * says to try next. Returns false when the rejection is stale.
   */
  maybeDecrTo(rejected: Index, probeFrom: Index): boolean {
    if (this.state === 'replicate') {
      // Stale unless it rejects something at or after what we know matches.
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    // Probe: only the answer to the last probe (prev = next - 1) counts.
    if (this.next - 1 !== rejected) return false;
    // A follower that holds everything up to match hints at or above it. A hint below means it
    // lost entries it had acknowledged (a disk that dropped synced writes): believe the follower,
    // or the leader would probe at match + 1 forever. Commits already made are not undone.
    if (probeFrom < this.match) {
      this.match = probeFrom;
      this.ooo.clear();
    }
    this.next = Math.max(Math.min(rejected, probeFrom + 1), this.match + 1);
    this.probeSent = false;
    return true;
  }

  /**
   * ParallelRaft: the follower says the prefix it can vouch for ends at `index`, below match.
   * After a restart it knows only its committed prefix to match the leader (acknowledged entries
   * above it may sit beside holes or stale copies), so the leader must resend from there. Believe
   * it, as maybeDecrTo does; commits already made stand.
   */
  lowerMatchTo(index: Index): void {
    assert(index >= 0 && index < this.match, () => `lowerMatchTo(${index}) with match ${this.match}`);
    this.match = index;
  }

  isPaused(): boolean {
    switch (this.state) {
      case 'probe': return this.probeSent;
      case 'replicate': return this.inflights.full();
      case 'snapshot': return true;
    }
  }
}
