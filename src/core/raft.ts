// The Raft state machine: terms, roles, elections (PreVote, CheckQuorum, transfer) and message
// dispatch. Replication lives in replication.ts and reads in reads.ts; RaftNode (node.ts) wraps
// this in the Ready/advance API. Nothing here does I/O: effects accumulate in the outbox.

import { assert, assertNever } from './assert.ts';
import type { RaftConfig } from './config.ts';
import type { Message, VoteMsg } from './message.ts';
import { Progress } from './progress.ts';
import { quorumSize, voteResult } from './quorum.ts';
import { ReadOnly } from './read-only.ts';
import { RaftLog } from './log.ts';
import { ReorderBuffer } from './reorder-buffer.ts';
import type { ConfState, NodeId, ReadContext, ReadPath, Role, Snapshot, Term } from './types.ts';
import * as repl from './replication.ts';
import * as reads from './reads.ts';
import * as relay from './relay.ts';
import { RelayState } from './relay.ts';
import * as pfollower from './parallel/follower.ts';
import * as pleader from './parallel/leader.ts';
import { merge, mergeReply, wrap } from './parallel/merge.ts';
import { ParallelState } from './parallel/state.ts';

export interface RaftStats {
  elections: number;
  preVotesLost: number;
  leaderChanges: number;
  votesIgnoredInLease: number;
  appendsSent: number;
  entriesSent: number;
  appendRejectsSent: number;
  appendRejectsReceived: number;
  snapshotsSent: number;
  heartbeatsSent: number;
  readRounds: number;
  leaseReads: number;
  /** Terms this node led without a lease after it sent a timeoutNow (reads went by ReadIndex). */
  leaseForfeitedTerms: number;
  stalledProbes: number;
}

export type CampaignKind = 'preElection' | 'election' | 'transfer';

/** A read the core answered or gave up on, collected for the next Ready. */
export interface ReadOutcome {
  readonly context: ReadContext;
  readonly index: number;
  readonly path: ReadPath;
}

export class Raft {
  readonly id: NodeId;
  readonly cfg: RaftConfig;
  readonly log = new RaftLog();
  term: Term = 0;
  vote: NodeId | null = null;
  role: Role = 'follower';
  leader: NodeId | null = null;
  voters: NodeId[] = [];
  learners: NodeId[] = [];
  /**
   * Observers: learners outside the configuration (browser tabs), registered by the runtime. A
   * leader replicates to them like to learners; they never vote and never count in a quorum.
   */
  readonly observers = new Set<NodeId>();
  /** Follower: observers that chose this node get the committed log from it (relay.ts). */
  readonly relay = new RelayState();
  /** Parallel mode's extra state (unused in raft mode). */
  readonly par = new ParallelState();
  readonly parallel: boolean;
  /** Leader only: one entry per member, including this node (its match is its durable index). */
  readonly progress = new Map<NodeId, Progress>();
  readonly votes = new Map<NodeId, boolean>();
  electionElapsed = 0;
  heartbeatElapsed = 0;
  randomizedElectionTimeout = 0;
  /** Ticks since this node started: the clock of leases and the reorder buffer. */
  tickCount = 0;
  /** A node refuses votes until this tick: after a restart it may have acked a lease it forgot. */
  voteGuardUntilTick: number;
  transferee: NodeId | null = null;
  /**
   * Leader: a timeoutNow left this term, so voters may elect the transferee despite this
   * leader's lease (transfer votes bypass it). No lease is valid again until a new term.
   */
  leaseForfeited = false;
  /** Leader: index of the last config entry; no new change is accepted until it is applied. */
  pendingConfIndex = 0;
  uncommittedBytes = 0;
  readonly readOnly: ReadOnly;
  /** Leader: reads waiting for the first commit of this term before they can take an index. */
  readsAwaitingCommit: Array<{ context: ReadContext; from: NodeId | null; allowLease: boolean }> = [];
  readonly reorder: ReorderBuffer;
  /** Latest snapshot this node holds (taken locally or received), for lagging followers. */
  snapshot: Snapshot | null = null;
  /** A received snapshot waiting to be persisted by the next Ready. */
  pendingSnapshot: Snapshot | null = null;
  /**
   * This node is not in the configuration it applies. Informational: a member that is joining
   * passes through this state (it learns the older membership first), so only applying its own
   * removeNode means it was removed.
   */
  removed = false;
  outbox: Message[] = [];
  readStates: ReadOutcome[] = [];
  droppedReads: ReadContext[] = [];
  readonly stats: RaftStats = {
    elections: 0, preVotesLost: 0, leaderChanges: 0, votesIgnoredInLease: 0, appendsSent: 0,
    entriesSent: 0, appendRejectsSent: 0, appendRejectsReceived: 0, snapshotsSent: 0,
    heartbeatsSent: 0, readRounds: 0, leaseReads: 0, leaseForfeitedTerms: 0, stalledProbes: 0,
  };

  constructor(cfg: RaftConfig, conf: ConfState) {
    this.id = cfg.id;
    this.cfg = cfg;
    this.parallel = cfg.mode === 'parallel';
    this.readOnly = new ReadOnly(cfg.pendingReadsMax);
    this.reorder = new ReorderBuffer(cfg.reorderBufferMsgsMax, cfg.reorderBufferBytesMax);
    this.voteGuardUntilTick = cfg.checkQuorum ? cfg.electionTicks : 0;
    this.setConf(conf);
    this.resetRandomizedElectionTimeout();
  }

  // ---- membership -------------------------------------------------------------------------

  setConf(conf: ConfState): void {
    assert(new Set([...conf.voters, ...conf.learners]).size === conf.voters.length + conf.learners.length,
      () => `a member is both voter and learner: ${JSON.stringify(conf)}`);
    this.voters = [...conf.voters];
    this.learners = [...conf.learners];
    this.removed = !this.voters.includes(this.id) && !this.learners.includes(this.id) && this.voters.length > 0;
  }

  conf(): ConfState {
    return { voters: [...this.voters], learners: [...this.learners] };
  }

  isVoter(id: NodeId): boolean {
    return this.voters.includes(id);
  }

  /** Only voters campaign; learners and removed members never do. */
  promotable(): boolean {
    return this.isVoter(this.id) && this.pendingSnapshot === null;
  }

  members(): NodeId[] {
    return [...this.voters, ...this.learners];
  }

  // ---- role transitions --------------------------------------------------------------------

  resetRandomizedElectionTimeout(): void {
    this.randomizedElectionTimeout = this.cfg.electionTicks + this.cfg.prng.nextInt(this.cfg.electionTicks);
  }

  reset(term: Term): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = null;
      this.reorder.clear();
      if (this.parallel) pfollower.onNewTerm(this);
    }
    this.leader = null;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.resetRandomizedElectionTimeout();
    this.transferee = null;
    this.votes.clear();
    this.progress.clear();
    this.uncommittedBytes = 0;
    for (const r of this.readOnly.drain()) this.dropRead(r.context, r.from);
    for (const r of this.readsAwaitingCommit) this.dropRead(r.context, r.from);
    this.readsAwaitingCommit = [];
    relay.reset(this);
  }

  becomeFollower(term: Term, leader: NodeId | null): void {
    const wasLeader = this.role === 'leader';
    this.reset(term);
    this.role = 'follower';
    this.leader = leader;
    if (wasLeader) this.stats.leaderChanges++;
  }

  becomePreCandidate(): void {
    assert(this.role !== 'leader', 'a leader cannot become a pre-candidate');
    // A pre-candidate keeps its term and vote: pre-votes change nothing durable.
    this.votes.clear();
    this.progress.clear();
    this.role = 'preCandidate';
    this.leader = null;
    this.electionElapsed = 0;
    this.resetRandomizedElectionTimeout();
  }

  becomeCandidate(): void {
    assert(this.role !== 'leader', 'a leader cannot become a candidate');
    this.reset(this.term + 1);
    this.vote = this.id;
    this.role = 'candidate';
    this.par.mergeReplies.clear();
    this.stats.elections++;
  }

  becomeLeader(): void {
    assert(this.role === 'candidate', () => `becomeLeader from ${this.role}`);
    this.reset(this.term);
    this.role = 'leader';
    this.leader = this.id;
    this.leaseForfeited = false;
    this.stats.leaderChanges++;
    // Parallel mode: first the Merge stage decides (committed, end] and re-stamps it; followers
    // are probed from the commit watermark, since their copies of that range differ in term.
    const mergedFrom = this.log.committed + 1;
    if (this.parallel) merge(this);
    const next = this.parallel ? mergedFrom : this.log.lastIndex() + 1;
    for (const id of [...this.members(), ...this.observers]) {
      const learner = !this.voters.includes(id);
      const pr = new Progress(next, learner,
        learner ? this.cfg.learnerInflightMsgsMax : this.cfg.inflightMsgsMax, this.cfg.inflightBytesMax);
      if (id === this.id) {
        pr.match = this.parallel ? this.log.durablePrefix() : this.log.stableIndex;
        pr.becomeReplicate();
        pr.next = this.log.lastIndex() + 1;
      }
      pr.recentActive = true;
      this.progress.set(id, pr);
    }
    // Config entries not yet applied must be waited for before another change is accepted.
    this.pendingConfIndex = this.log.lastIndex();
    // A no-op of this term: committing it commits everything before it (Figure 8), and ReadIndex
    // needs it before it can trust its commit index.
    const noop = this.log.lastIndex() + 1;
    const data = this.parallel ? wrap(this, noop, 'noop', [], new Uint8Array(0)) : new Uint8Array(0);
    this.log.append([{ term: this.term, index: noop, type: 'noop', data }]);
    // Nothing commits out of order until the merged range and this no-op are committed.
    this.par.barrier = noop;
  }

  // ---- time --------------------------------------------------------------------------------

  tick(): void {
    this.tickCount++;
    if (this.role === 'leader') this.tickLeader();
    else this.tickElection();
  }

  private tickElection(): void {
    this.electionElapsed++;
    if (this.reorder.size > 0) {
      if (this.parallel) pfollower.expireReorder(this);
      else repl.expireReorder(this);
    }
    if (this.role === 'follower') relay.tick(this);
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.campaign(this.cfg.preVote ? 'preElection' : 'election');
    }
  }

  private tickLeader(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.cfg.electionTicks) {
      this.electionElapsed = 0;
      if (this.cfg.checkQuorum) {
        if (!this.quorumActive()) {
          this.becomeFollower(this.term, null);
          return;
        }
      }
      // A transfer that did not finish within an election timeout is abandoned.
      this.transferee = null;
    }
    if (this.heartbeatElapsed >= this.cfg.heartbeatTicks) {
      this.heartbeatElapsed = 0;
      repl.broadcastHeartbeat(this);
    }
  }

  /** CheckQuorum: was a quorum of voters heard from since the last check? Resets the marks. */
  private quorumActive(): boolean {
    let active = 0;
    for (const id of this.voters) {
      const pr = this.progress.get(id);
      if (id === this.id || pr?.recentActive === true) active++;
    }
    for (const [id, pr] of this.progress) if (id !== this.id) pr.recentActive = false;
    return active >= quorumSize(this.voters.length);
  }

  /** With CheckQuorum, a follower that heard from a leader recently ignores vote requests. */
  inLease(): boolean {
    if (!this.cfg.checkQuorum) return false;
    if (this.tickCount < this.voteGuardUntilTick) return true;
    return this.leader !== null && this.electionElapsed < this.cfg.electionTicks;
  }

  // ---- elections ---------------------------------------------------------------------------

  campaign(kind: CampaignKind): void {
    if (!this.promotable()) return;
    let voteType: 'vote' | 'preVote';
    let term: Term;
    if (kind === 'preElection') {
      this.becomePreCandidate();
      voteType = 'preVote';
      term = this.term + 1;
    } else {
      this.becomeCandidate();
      voteType = 'vote';
      term = this.term;
    }
    this.votes.set(this.id, true);
    if (voteResult(this.voters, this.votes) === 'won') {
      this.onElectionWon(kind);
      return;
    }
    const lastIndex = this.log.lastIndex();
    const lastTerm = this.log.lastTerm();
    for (const to of this.voters) {
      if (to === this.id) continue;
      const m: VoteMsg = { type: voteType, from: this.id, to, term, lastIndex, lastTerm, transfer: kind === 'transfer' };
      // Parallel mode: voters send back what they hold above our watermark (the Merge stage).
      this.send(this.parallel && voteType === 'vote' ? { ...m, commit: this.log.committed } : m);
    }
  }

  private onElectionWon(kind: CampaignKind): void {
    if (kind === 'preElection') this.campaign('election');
    else this.becomeLeader();
  }

  private handleVoteRequest(m: VoteMsg): void {
    const pre = m.type === 'preVote';
    const canVote = this.vote === m.from ||
      (this.vote === null && this.leader === null) ||
      (pre && m.term > this.term);
    const mergeData = canVote && !pre && this.parallel ? mergeReply(this, m) : undefined;
    if (canVote && this.log.isUpToDate(m.lastIndex, m.lastTerm) && mergeData !== null) {
      // A granted pre-vote carries the candidate's future term so it counts for that campaign.
      const resp = { type: pre ? 'preVoteResp' as const : 'voteResp' as const, from: this.id, to: m.from, term: m.term, reject: false };
      this.send(mergeData !== undefined ? { ...resp, merge: mergeData } : resp);
      if (!pre) {
        this.electionElapsed = 0;
        this.vote = m.from;
      }
    } else {
      this.send({ type: pre ? 'preVoteResp' : 'voteResp', from: this.id, to: m.from, term: this.term, reject: true });
    }
  }

  /** A timeoutNow is leaving: from now on this term's reads go by ReadIndex. */
  forfeitLease(): void {
    if (this.leaseForfeited) return;
    this.leaseForfeited = true;
    this.stats.leaseForfeitedTerms++;
  }

  // ---- messages ----------------------------------------------------------------------------

  send(m: Message): void {
    this.outbox.push(m);
  }

  step(m: Message): void {
    if (m.to !== this.id) return;
    // An observer's term comes from a member it followed; it must never push a member's term.
    if (m.term > this.term && this.observers.has(m.from)) return;
    if (m.term > this.term) {
      if (m.type === 'vote' || m.type === 'preVote') {
        if (!m.transfer && this.inLease()) {
          this.stats.votesIgnoredInLease++;
          return;
        }
      }
      if (m.type === 'preVote' || (m.type === 'preVoteResp' && !m.reject)) {
        // Neither changes our term: a pre-vote is a question, and a granted answer carries the
        // term we would campaign in.
      } else {
        const fromLeader = m.type === 'app' || m.type === 'hb' || m.type === 'snap';
        this.becomeFollower(m.term, fromLeader ? m.from : null);
      }
    } else if (m.term < this.term) {
      this.stepStale(m);
      return;
    }
    if (m.type === 'vote' || m.type === 'preVote') {
      this.handleVoteRequest(m);
      return;
    }
    switch (this.role) {
      case 'leader': this.stepLeader(m); return;
      case 'candidate':
      case 'preCandidate': this.stepCandidate(m); return;
      case 'follower': this.stepFollower(m); return;
      default: assertNever(this.role, 'role');
    }
  }

  /** A message from an older term. */
  private stepStale(m: Message): void {
    if ((this.cfg.checkQuorum || this.cfg.preVote) && (m.type === 'app' || m.type === 'hb')) {
      // A leader cut off by a partition may never hear a vote request (pre-vote and lease stop
      // them): tell it the new term so it steps down.
      this.send({ type: 'appResp', from: this.id, to: m.from, term: this.term, index: 0, reject: false, hintIndex: 0, hintTerm: 0 });
    } else if (m.type === 'preVote') {
      this.send({ type: 'preVoteResp', from: this.id, to: m.from, term: this.term, reject: true });
    } else if (m.type === 'readIndex') {
      this.dropRead(m.context, m.from);
    }
  }

  private stepLeader(m: Message): void {
    switch (m.type) {
      case 'appResp':
        if (this.parallel) pleader.handleAppendResponse(this, m);
        else repl.handleAppendResponse(this, m);
        return;
      case 'hbResp': repl.handleHeartbeatResponse(this, m); return;
      case 'readIndex': reads.requestRead(this, m.context, m.from); return;
      case 'app': case 'hb': case 'snap':
        assert(false, () => `leader ${this.id} got ${m.type} from ${m.from} in its own term ${this.term}: two leaders`);
        return;
      case 'voteResp': case 'preVoteResp': case 'timeoutNow': case 'readIndexResp': return;
      case 'vote': case 'preVote': return;
      default: assertNever(m, 'message');
    }
  }

  private stepCandidate(m: Message): void {
    switch (m.type) {
      case 'app': case 'hb': case 'snap':
        this.becomeFollower(m.term, m.from);
        this.stepFollower(m);
        return;
      case 'voteResp': case 'preVoteResp': {
        const expected = this.role === 'preCandidate' ? 'preVoteResp' : 'voteResp';
        if (m.type !== expected) return;
        // Parallel mode: a vote counts only with its Merge reply (the voting quorum is the merge quorum).
        const granted = !m.reject && (!this.parallel || m.type === 'preVoteResp' || m.merge !== undefined);
        if (granted && m.merge !== undefined) this.par.mergeReplies.set(m.from, m.merge);
        this.votes.set(m.from, granted);
        const result = voteResult(this.voters, this.votes);
        if (result === 'won') this.onElectionWon(this.role === 'preCandidate' ? 'preElection' : 'election');
        else if (result === 'lost') {
          if (this.role === 'preCandidate') this.stats.preVotesLost++;
          this.becomeFollower(this.term, null);
        }
        return;
      }
      case 'readIndex':
        this.dropRead(m.context, m.from);
        return;
      case 'appResp': case 'hbResp': case 'timeoutNow': case 'readIndexResp': case 'vote': case 'preVote': return;
      default: assertNever(m, 'message');
    }
  }

  private stepFollower(m: Message): void {
    switch (m.type) {
      case 'app':
        this.heardFromLeader(m.from);
        if (this.parallel) pfollower.handleAppend(this, m);
        else repl.handleAppend(this, m);
        return;
      case 'hb':
        this.heardFromLeader(m.from);
        if (this.parallel) pfollower.handleHeartbeat(this, m);
        else repl.handleHeartbeat(this, m);
        return;
      case 'snap':
        this.heardFromLeader(m.from);
        repl.handleSnapshot(this, m);
        return;
      case 'timeoutNow':
        // Leadership transfer: campaign at once, skipping pre-vote and the voters' lease.
        this.campaign('transfer');
        return;
      case 'readIndexResp':
        if (relay.onReadIndexResponse(this, m)) return;
        if (m.reject) this.droppedReads.push(m.context);
        else this.readStates.push({ context: m.context, index: m.index, path: 'readIndex' });
        return;
      case 'readIndex':
        if (this.observers.has(m.from)) relay.forwardRead(this, m);
        else this.dropRead(m.context, m.from);
        return;
      case 'appResp': relay.onAppendResponse(this, m); return;
      case 'hbResp': relay.onHeartbeatResponse(this, m); return;
      case 'voteResp': case 'preVoteResp': case 'vote': case 'preVote': return;
      default: assertNever(m, 'message');
    }
  }

  private heardFromLeader(from: NodeId): void {
    this.electionElapsed = 0;
    this.leader = from;
  }

  /** A read that cannot be served here (lost leadership, no leader): the runtime retries it. */
  dropRead(context: ReadContext, from: NodeId | null): void {
    if (from === null || from === this.id) this.droppedReads.push(context);
    else this.send({ type: 'readIndexResp', from: this.id, to: from, term: this.term, context, index: 0, reject: true });
  }
}
