// The leader's side of log replication, shared by both modes: pipelined AppendEntries
// (flow-controlled per follower), commit notices, snapshots for followers that lag past
// compaction, heartbeat rounds, flow control on acknowledgements, and commit by quorum for
// entries of the current term only (Figure 8). How a follower takes an append is the mode's.

import { assert } from './assert.ts';
import type { AppendRespMsg, HeartbeatRespMsg } from './message.ts';
import type { Progress } from './progress.ts';
import type { Raft } from './raft.ts';
import type { Index, NodeId } from './types.ts';
import { entryBytes } from './types.ts';

/** What an entry costs against the uncommitted-bytes budget (only commands count). */
export function proposalBytes(e: { readonly data: Uint8Array; readonly type: string }): number {
  return e.type === 'normal' ? entryBytes(e as Parameters<typeof entryBytes>[0]) : 0;
}

export class Replication {
  readonly #r: Raft;

  constructor(raft: Raft) {
    this.#r = raft;
  }

  /**
   * Sends what each follower is owed: new entries while its flow control allows, else a commit
   * notice if it lags the commit index. Called once per Ready, so proposals and acknowledgements
   * that arrived together share messages.
   */
  flush(): void {
    const r = this.#r;
    assert(r.role === 'leader', 'flush on a non-leader');
    const last = r.log.lastIndex();
    for (const [id, pr] of r.tracker.entries()) {
      if (id !== r.id) this.flushTo(id, pr, last);
    }
    if (this.#wantsTimeoutNow()) {
      const to = r.transferee!;
      r.forfeitLease();
      r.send({ type: 'timeoutNow', from: r.id, to, term: r.term });
      r.tracker.get(to)!.timeoutNowSent = true;
    }
  }

  /**
   * Sends one follower (or observer) what it is owed of the log up to `last`: the leader passes
   * its last index, a follower relaying to observers its commit index (relay.ts).
   */
  flushTo(id: NodeId, pr: Progress, last: Index): void {
    let sent = false;
    while (this.#wantsAppend(pr, last)) {
      this.#sendAppend(id, pr, last);
      sent = true;
      if (pr.state !== 'replicate') break;
    }
    if (sent) return;
    if (this.#wantsCommit(pr)) this.#sendCommit(id, pr);
    else if (wantsProbe(pr, last)) this.#sendAppend(id, pr, last);
  }

  #wantsAppend(pr: Progress, last: number): boolean {
    const r = this.#r;
    if (pr.isPaused() || pr.next > last) return false;
    // A compacted prefix means a snapshot, sent only to a follower that is known to be alive.
    return r.log.term(pr.next - 1) !== -1 || (pr.recentActive && r.snapshot !== null);
  }

  #wantsCommit(pr: Progress): boolean {
    if (pr.state === 'snapshot') return false;
    return pr.sentCommit < Math.min(this.#r.log.committed, pr.match) || (pr.commitSetDirty && this.#r.role === 'leader');
  }

  #wantsTimeoutNow(): boolean {
    const r = this.#r;
    if (r.transferee === null) return false;
    const pr = r.tracker.get(r.transferee);
    return pr !== undefined && pr.match === r.log.lastIndex() && !pr.timeoutNowSent;
  }

  /** Extra commit news (ParallelRaft's commit sets) only a leader sends. */
  #commitSet(pr: Progress, upTo: Index): Index[] | undefined {
    return this.#r.role === 'leader' ? this.#r.mode.commitSetFor(pr, upTo) : undefined;
  }

  /** One AppendEntries from pr.next up to `last` (or a snapshot when that prefix is compacted). */
  #sendAppend(to: NodeId, pr: Progress, last: Index): void {
    const r = this.#r;
    const prevIndex = pr.next - 1;
    const prevTerm = r.log.term(prevIndex);
    if (prevTerm === -1) {
      this.#sendSnapshot(to, pr);
      return;
    }
    const entries = pr.next <= last ? r.log.slice(pr.next, last + 1, r.cfg.msgBytesMax) : [];
    const commit = r.log.committed;
    const commitSet = this.#commitSet(pr, prevIndex + entries.length);
    if (commitSet !== undefined) pr.commitSetDirty = false;
    r.send(commitSet === undefined
      ? { type: 'app', from: r.id, to, term: r.term, prevIndex, prevTerm, entries, commit }
      : { type: 'app', from: r.id, to, term: r.term, prevIndex, prevTerm, entries, commit, commitSet });
    r.stats.appendsSent++;
    r.stats.entriesSent += entries.length;
    pr.sentCommit = Math.max(pr.sentCommit, Math.min(commit, prevIndex + entries.length));
    if (pr.state === 'replicate' && entries.length > 0) {
      if (pr.inflights.count === 0) pr.progressTick = r.tickCount;
      let bytes = 0;
      for (const e of entries) bytes += entryBytes(e);
      pr.sentTo(entries[entries.length - 1]!.index, bytes);
    } else if (pr.state === 'probe') {
      pr.probeSent = true;
    }
  }

  /**
   * A commit notice: a heartbeat outside any read round, carrying the commit index capped at what
   * the follower is known to hold (so it never commits entries it may not have).
   */
  #sendCommit(to: NodeId, pr: Progress): void {
    const r = this.#r;
    const commit = Math.min(r.log.committed, pr.match);
    pr.commitSetDirty = false;
    const commitSet = this.#commitSet(pr, pr.match);
    r.send(commitSet === undefined
      ? { type: 'hb', from: r.id, to, term: r.term, commit, round: 0 }
      : { type: 'hb', from: r.id, to, term: r.term, commit, round: 0, commitSet });
    r.stats.heartbeatsSent++;
    pr.sentCommit = commit;
  }

  #sendSnapshot(to: NodeId, pr: Progress): void {
    const r = this.#r;
    const snap = r.snapshot;
    assert(snap !== null, () => `follower ${to} needs entries before ${r.log.firstIndex()} but there is no snapshot`);
    pr.becomeSnapshot(snap.meta.index);
    r.send({ type: 'snap', from: r.id, to, term: r.term, snapshot: snap });
    r.stats.snapshotsSent++;
  }

  /** Raft mode's answer to an acknowledgement: flow control, then commit if a voter advanced. */
  handleAppendResponse(m: AppendRespMsg): void {
    const pr = this.#r.tracker.get(m.from);
    if (pr === undefined) return;
    if (this.onAppendResponse(pr, m) && !pr.isLearner) this.maybeCommit();
  }

  /** Flow control on an acknowledgement or rejection; true when the follower's match advanced. */
  onAppendResponse(pr: Progress, m: AppendRespMsg): boolean {
    const r = this.#r;
    pr.recentActive = true;
    if (m.reject) {
      r.stats.appendRejectsReceived++;
      const probeFrom = m.hintTerm > 0 ? r.log.findConflictByTerm(m.hintIndex, m.hintTerm) : m.hintIndex;
      if (pr.maybeDecrTo(m.index, probeFrom)) {
        if (pr.state === 'replicate') pr.becomeProbe();
        pr.sentCommit = 0;
      }
      return false;
    }
    if (!pr.maybeUpdate(m.index)) {
      if (pr.state === 'replicate') pr.inflights.freeLE(m.index);
      return false;
    }
    pr.progressTick = r.tickCount;
    switch (pr.state) {
      case 'probe': pr.becomeReplicate(); break;
      case 'snapshot': if (pr.match >= pr.pendingSnapshot) pr.becomeProbe(); break;
      case 'replicate': pr.inflights.freeLE(m.index); break;
    }
    return true;
  }

  /** Commits the quorum's match index if it is an entry of this leader's term (Figure 8). */
  maybeCommit(): boolean {
    const r = this.#r;
    const log = r.log;
    const idx = r.tracker.committedIndex();
    if (idx <= log.committed) return false;
    if (log.term(idx) !== r.term) return false;
    // Proposals are charged against the uncommitted-bytes budget until they commit (those the
    // mode committed out of order were charged off already).
    for (let i = Math.max(log.committed + 1, log.firstIndex()); i <= idx; i++) {
      if (!r.mode.committedAhead(i)) r.releaseUncommitted(proposalBytes(log.entry(i)));
    }
    log.commitTo(idx);
    r.reads.onCommit();
    return true;
  }

  /** A heartbeat round to every follower: it renews the lease and confirms queued reads. */
  broadcastHeartbeat(): void {
    const r = this.#r;
    const round = r.reads.startRound();
    for (const [id, pr] of r.tracker.entries()) {
      if (id === r.id) continue;
      const commit = Math.min(pr.match, r.log.committed);
      const commitSet = r.mode.commitSetFor(pr, pr.match);
      if (commitSet !== undefined) pr.commitSetDirty = false;
      r.send(commitSet === undefined
        ? { type: 'hb', from: r.id, to: id, term: r.term, commit, round }
        : { type: 'hb', from: r.id, to: id, term: r.term, commit, round, commitSet });
      r.stats.heartbeatsSent++;
    }
  }

  handleHeartbeatResponse(m: HeartbeatRespMsg): void {
    const r = this.#r;
    const pr = r.tracker.get(m.from);
    if (pr === undefined) return;
    if (m.round > 0 && !pr.isLearner) r.reads.onHeartbeatAck(m.from, m.round);
    this.onHeartbeatResponse(pr);
  }

  /** Liveness and stall detection on a heartbeat answer (leader to followers, relay to observers). */
  onHeartbeatResponse(pr: Progress): void {
    const r = this.#r;
    pr.recentActive = true;
    pr.probeSent = false;
    // A pipeline that made no progress for a while lost a message: resend from match.
    if (pr.state === 'replicate' && pr.inflights.count > 0 && r.tickCount - pr.progressTick >= this.#stallTicks(pr)) {
      pr.becomeProbe();
      r.stats.stalledProbes++;
    }
    if (pr.match < r.log.committed) pr.sentCommit = Math.min(pr.sentCommit, pr.match);
  }

  /** Ticks without an acknowledgement, while appends are in flight, before the leader resends. */
  #stallTicks(pr: Progress): number {
    const cfg = this.#r.cfg;
    const voter = Math.max(2 * cfg.heartbeatTicks, cfg.reorderTimeoutTicks + 1);
    // A learner (a browser tab) that answers heartbeats but acknowledges late is slow, not lost:
    // it acknowledges only once its store wrote and it applied a whole window, which a tab sharing
    // a core takes far longer than a voter. Resending it the window then is pure over-sending (the
    // tab receives the entries twice, and the link may shed them), so it gets a longer backstop;
    // losses a runtime knows of are reported at once (reportUnreachable) and do not wait for it.
    return pr.isLearner ? Math.max(voter, 2 * cfg.electionTicks) : voter;
  }

  /** The runtime could not deliver to `to` (connection down, queue shed): re-probe it. */
  reportUnreachable(pr: Progress | undefined): void {
    if (pr !== undefined && pr.state === 'replicate') pr.becomeProbe();
  }

  reportSnapshot(pr: Progress | undefined, ok: boolean): void {
    if (pr === undefined || pr.state !== 'snapshot') return;
    // On success wait for the follower's answer before replicating; on failure probe again.
    if (!ok) pr.pendingSnapshot = 0;
    pr.becomeProbe();
    pr.probeSent = ok;
  }
}

/** A probe with nothing new to carry still finds where a follower stands. */
function wantsProbe(pr: Progress, last: number): boolean {
  return pr.state === 'probe' && !pr.probeSent && pr.next > last && pr.match < last;
}
