// The Raft state machine: terms, roles, elections (PreVote, CheckQuorum, transfer), proposals,
// membership, and message dispatch. It owns its state; collaborators own theirs: the log, the
// tracker (members and progress), reads and the lease, the leader's replication, the relay to
// observers, and the replication mode (plain Raft or ParallelRaft), which decides how appends are
// taken and what may commit and apply. RaftNode (node.ts) wraps it in the Ready/advance API.
// Nothing here does I/O: effects accumulate in the outbox.

import { assert, assertNever } from './assert.ts';
import type { RaftConfig } from './config.ts';
import { RaftError } from './errors.ts';
import type { RaftLog } from './log.ts';
import type { Message, VoteMsg } from './message.ts';
import type { ReplicationMode } from './mode.ts';
import { voteResult } from './quorum.ts';
import { Reads } from './reads.ts';
import { Relay } from './relay.ts';
import { ReorderBuffer } from './reorder-buffer.ts';
import { Replication } from './replication.ts';
import { ProgressTracker } from './tracker.ts';
import type { ConfChange, ConfState, Entry, Index, NodeId, Role, Snapshot, Term } from './types.ts';

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

export class Raft {
  readonly id: NodeId;
  readonly cfg: RaftConfig;
  readonly mode: ReplicationMode;
  readonly log: RaftLog;
  readonly tracker: ProgressTracker;
  readonly reads: Reads;
  readonly replication: Replication;
  readonly relay: Relay;
  readonly reorder: ReorderBuffer;
  readonly stats: RaftStats = {
    elections: 0, preVotesLost: 0, leaderChanges: 0, votesIgnoredInLease: 0, appendsSent: 0,
    entriesSent: 0, appendRejectsSent: 0, appendRejectsReceived: 0, snapshotsSent: 0,
    heartbeatsSent: 0, readRounds: 0, leaseReads: 0, leaseForfeitedTerms: 0, stalledProbes: 0,
  };

  #term: Term = 0;
  #vote: NodeId | null = null;
  #role: Role = 'follower';
  #leader: NodeId | null = null;
  readonly #votes = new Map<NodeId, boolean>();
  #electionElapsed = 0;
  #heartbeatElapsed = 0;
  #randomizedElectionTimeout = 0;
  /** Ticks since this node started: the clock of timeouts and the reorder buffer. */
  #tickCount = 0;
  /** A node refuses votes until this tick: after a restart it may have acked a lease it forgot. */
  readonly #voteGuardUntilTick: number;
  #transferee: NodeId | null = null;
  /** Leader: index of the last config entry; no new change is accepted until it is applied. */
  #pendingConfIndex = 0;
  /** Leader: bytes proposed and not committed yet (bounded by uncommittedBytesMax). */
  #uncommittedBytes = 0;
  /** Latest snapshot this node holds (taken locally or received), for lagging followers. */
  #snapshot: Snapshot | null = null;
  /** A received snapshot waiting to be persisted by the next Ready. */
  #pendingSnapshot: Snapshot | null = null;
  #outbox: Message[] = [];

  constructor(cfg: RaftConfig, conf: ConfState, mode: ReplicationMode) {
    this.id = cfg.id;
    this.cfg = cfg;
    this.mode = mode;
    this.log = mode.log;
    this.tracker = new ProgressTracker(cfg.id, cfg, conf);
    this.reorder = new ReorderBuffer(cfg.reorderBufferMsgsMax, cfg.reorderBufferBytesMax);
    this.reads = new Reads(this);
    this.replication = new Replication(this);
    this.relay = new Relay(this);
    this.#voteGuardUntilTick = cfg.checkQuorum ? cfg.electionTicks : 0;
    this.#resetRandomizedElectionTimeout();
    mode.attach(this);
  }

  // ---- state, read only -------------------------------------------------------------------

  get term(): Term {
    return this.#term;
  }

  get vote(): NodeId | null {
    return this.#vote;
  }

  get role(): Role {
    return this.#role;
  }

  /** The leader this node knows of (itself when it leads), or null. */
  get leader(): NodeId | null {
    return this.#leader;
  }

  get tickCount(): number {
    return this.#tickCount;
  }

  get transferee(): NodeId | null {
    return this.#transferee;
  }

  get snapshot(): Snapshot | null {
    return this.#snapshot;
  }

  get pendingConfIndex(): Index {
    return this.#pendingConfIndex;
  }

  get uncommittedBytes(): number {
    return this.#uncommittedBytes;
  }

  /**
   * This node is not in the configuration it applies. Informational: a member that is joining
   * passes through this state (it learns the older membership first), so only applying its own
   * removeNode means it was removed.
   */
  get removed(): boolean {
    return this.tracker.selfRemoved();
  }

  /** Only voters campaign; learners and removed members never do, nor one restoring a snapshot. */
  promotable(): boolean {
    return this.tracker.isVoter(this.id) && this.#pendingSnapshot === null;
  }

  /** Term, vote and commit as they must be persisted. */
  hardState(): { term: Term; vote: NodeId | null; commit: Index } {
    return { term: this.#term, vote: this.#vote, commit: this.log.committed };
  }

  /** Restores term and vote a store loaded on start. */
  loadHardState(term: Term, vote: NodeId | null): void {
    assert(this.#term === 0 && this.#role === 'follower', 'loadHardState() after the node started');
    this.#term = term;
    this.#vote = vote;
  }

  // ---- role transitions --------------------------------------------------------------------

  #resetRandomizedElectionTimeout(): void {
    this.#randomizedElectionTimeout = this.cfg.electionTicks + this.cfg.prng.nextInt(this.cfg.electionTicks);
  }

  #reset(term: Term): void {
    if (this.#term !== term) {
      this.#term = term;
      this.#vote = null;
      this.reorder.clear();
      this.mode.onNewTerm();
    }
    this.#leader = null;
    this.#electionElapsed = 0;
    this.#heartbeatElapsed = 0;
    this.#resetRandomizedElectionTimeout();
    this.#transferee = null;
    this.#votes.clear();
    this.tracker.clear();
    this.#uncommittedBytes = 0;
    this.reads.reset();
    this.relay.reset();
  }

  becomeFollower(term: Term, leader: NodeId | null): void {
    const wasLeader = this.#role === 'leader';
    this.#reset(term);
    this.#role = 'follower';
    this.#leader = leader;
    if (wasLeader) this.stats.leaderChanges++;
  }

  #becomePreCandidate(): void {
    assert(this.#role !== 'leader', 'a leader cannot become a pre-candidate');
    // A pre-candidate keeps its term and vote: pre-votes change nothing durable.
    this.#votes.clear();
    this.tracker.clear();
    this.#role = 'preCandidate';
    this.#leader = null;
    this.#electionElapsed = 0;
    this.#resetRandomizedElectionTimeout();
  }

  #becomeCandidate(): void {
    assert(this.#role !== 'leader', 'a leader cannot become a candidate');
    this.#reset(this.#term + 1);
    this.#vote = this.id;
    this.#role = 'candidate';
    this.mode.onCampaign();
    this.stats.elections++;
  }

  #becomeLeader(): void {
    assert(this.#role === 'candidate', () => `becomeLeader from ${this.#role}`);
    this.#reset(this.#term);
    this.#role = 'leader';
    this.#leader = this.id;
    this.reads.startLeading();
    this.stats.leaderChanges++;
    // The mode settles the log for this term (ParallelRaft's Merge stage) and says where to
    // probe followers from.
    const next = this.mode.onElected();
    this.tracker.startLeading(next, this.mode.durableIndex(), this.log.lastIndex() + 1);
    // Config entries not yet applied must be waited for before another change is accepted.
    this.#pendingConfIndex = this.log.lastIndex();
    // A no-op of this term: committing it commits everything before it (Figure 8), and ReadIndex
    // needs it before it can trust its commit index.
    const noop = this.log.lastIndex() + 1;
    this.log.append([{ term: this.#term, index: noop, type: 'noop', data: this.mode.entryData(noop, 'noop', new Uint8Array(0), []) }]);
    this.mode.onTermNoop(noop);
  }

  // ---- time --------------------------------------------------------------------------------

  tick(): void {
    this.#tickCount++;
    if (this.#role === 'leader') this.#tickLeader();
    else this.#tickElection();
  }

  #tickElection(): void {
    this.#electionElapsed++;
    if (this.reorder.size > 0) this.mode.expireReorder();
    if (this.#role === 'follower') this.relay.tick();
    if (this.promotable() && this.#electionElapsed >= this.#randomizedElectionTimeout) {
      this.#electionElapsed = 0;
      this.campaign(this.cfg.preVote ? 'preElection' : 'election');
    }
  }

  #tickLeader(): void {
    this.#heartbeatElapsed++;
    this.#electionElapsed++;
    if (this.#electionElapsed >= this.cfg.electionTicks) {
      this.#electionElapsed = 0;
      if (this.cfg.checkQuorum && !this.tracker.quorumActive()) {
        this.becomeFollower(this.#term, null);
        return;
      }
      // A transfer that did not finish within an election timeout is abandoned.
      this.#transferee = null;
    }
    if (this.#heartbeatElapsed >= this.cfg.heartbeatTicks) {
      this.#heartbeatElapsed = 0;
      this.replication.broadcastHeartbeat();
    }
  }

  /** With CheckQuorum, a follower that heard from a leader recently ignores vote requests. */
  #inLease(): boolean {
    if (!this.cfg.checkQuorum) return false;
    if (this.#tickCount < this.#voteGuardUntilTick) return true;
    return this.#leader !== null && this.#electionElapsed < this.cfg.electionTicks;
  }

  // ---- elections ---------------------------------------------------------------------------

  campaign(kind: CampaignKind): void {
    if (!this.promotable()) return;
    let voteType: 'vote' | 'preVote';
    let term: Term;
    if (kind === 'preElection') {
      this.#becomePreCandidate();
      voteType = 'preVote';
      term = this.#term + 1;
    } else {
      this.#becomeCandidate();
      voteType = 'vote';
      term = this.#term;
    }
    this.#votes.set(this.id, true);
    if (voteResult(this.tracker.voters, this.#votes) === 'won') {
      this.#onElectionWon(kind);
      return;
    }
    const lastIndex = this.log.lastIndex();
    const lastTerm = this.log.lastTerm();
    for (const to of this.tracker.voters) {
      if (to === this.id) continue;
      const m: VoteMsg = { type: voteType, from: this.id, to, term, lastIndex, lastTerm, transfer: kind === 'transfer' };
      this.send(voteType === 'vote' ? this.mode.voteRequest(m) : m);
    }
  }

  #onElectionWon(kind: CampaignKind): void {
    if (kind === 'preElection') this.campaign('election');
    else this.#becomeLeader();
  }

  #handleVoteRequest(m: VoteMsg): void {
    const pre = m.type === 'preVote';
    const canVote = this.#vote === m.from ||
      (this.#vote === null && this.#leader === null) ||
      (pre && m.term > this.#term);
    const extra = canVote && !pre ? this.mode.voteReply(m) : undefined;
    if (canVote && this.log.isUpToDate(m.lastIndex, m.lastTerm) && extra !== null) {
      // A granted pre-vote carries the candidate's future term so it counts for that campaign.
      const resp = { type: pre ? 'preVoteResp' as const : 'voteResp' as const, from: this.id, to: m.from, term: m.term, reject: false };
      this.send(extra !== undefined ? { ...resp, merge: extra } : resp);
      if (!pre) {
        this.#electionElapsed = 0;
        this.#vote = m.from;
      }
    } else {
      this.send({ type: pre ? 'preVoteResp' : 'voteResp', from: this.id, to: m.from, term: this.#term, reject: true });
    }
  }

  /** Leadership transfer: the leader sends a timeoutNow once `to` has caught up (replication.ts). */
  transferLeadership(to: NodeId): void {
    if (this.#role !== 'leader') throw new RaftError('ERR_NOT_LEADER', `${this.id} is not the leader`, this.#leader);
    if (to === this.id) return;
    if (!this.tracker.isVoter(to)) throw new RaftError('ERR_CONF_CHANGE_INVALID', `${to} is not a voter and cannot lead`, this.id);
    this.#transferee = to;
    this.#electionElapsed = 0;
    const pr = this.tracker.get(to);
    if (pr !== undefined) pr.timeoutNowSent = false;
  }

  /** A timeoutNow is leaving: from now on this term's reads go by ReadIndex (reads.ts). */
  forfeitLease(): void {
    this.reads.forfeitLease();
  }

  // ---- proposals and membership --------------------------------------------------------------

  #assertCanPropose(): void {
    if (this.#role !== 'leader') throw new RaftError('ERR_NOT_LEADER', `${this.id} is not the leader`, this.#leader);
    if (this.#transferee !== null) {
      throw new RaftError('ERR_TRANSFER_IN_PROGRESS', `leadership is being transferred to ${this.#transferee}`, this.#transferee);
    }
  }

  /** Appends proposals (a batch shares one message per follower); returns the first index. */
  propose(batch: readonly Uint8Array[]): Index {
    this.#assertCanPropose();
    assert(batch.length > 0, 'propose needs at least one entry');
    let bytes = 0;
    for (const d of batch) {
      if (d.byteLength > this.cfg.proposalBytesMax) {
        throw new RaftError('ERR_PROPOSAL_TOO_LARGE', `proposal of ${d.byteLength} bytes exceeds proposalBytesMax (${this.cfg.proposalBytesMax})`, this.id);
      }
      bytes += d.byteLength + 24;
    }
    if (this.#uncommittedBytes > 0 && this.#uncommittedBytes + bytes > this.cfg.uncommittedBytesMax) {
      throw new RaftError('ERR_UNCOMMITTED_LIMIT',
        `${this.#uncommittedBytes} bytes proposed are not committed yet (uncommittedBytesMax ${this.cfg.uncommittedBytesMax}): is a quorum reachable?`, this.id);
    }
    const first = this.mode.appendProposals(this.#term, batch);
    this.#uncommittedBytes += bytes;
    return first;
  }

  /** Committed proposals leave the uncommitted-bytes budget. */
  releaseUncommitted(bytes: number): void {
    this.#uncommittedBytes = Math.max(0, this.#uncommittedBytes - bytes);
  }

  /** Proposes one membership change; one at a time. Returns its index. */
  proposeConfChange(cc: ConfChange, problem: (conf: ConfState, cc: ConfChange) => string | null): Index {
    this.#assertCanPropose();
    if (this.#pendingConfIndex > this.log.applied) {
      throw new RaftError('ERR_CONF_CHANGE_PENDING', `a membership change at index ${this.#pendingConfIndex} is not applied yet`, this.id);
    }
    if (this.log.term(this.log.committed) !== this.#term || !this.mode.leaderCommitted()) {
      throw new RaftError('ERR_CONF_CHANGE_PENDING', 'the leader has not committed an entry of its term yet; retry shortly', this.id);
    }
    const why = problem(this.tracker.conf(), cc);
    if (why !== null) throw new RaftError('ERR_CONF_CHANGE_INVALID', `${cc.type} ${cc.node}: ${why}`, this.id);
    const index = this.log.lastIndex() + 1;
    this.log.append([{ term: this.#term, index, type: 'config', data: this.mode.entryData(index, 'config', new Uint8Array(0), null), conf: cc }]);
    this.#pendingConfIndex = index;
    return index;
  }

  /**
   * A membership change was applied: the new configuration, and on a leader the tracking of the
   * new members (a leader that removed itself steps down).
   */
  applyConf(next: ConfState, cc: ConfChange): void {
    this.tracker.setConf(next);
    if (this.#role !== 'leader') return;
    this.tracker.reconcile(cc.node, cc.type === 'promoteLearner', this.log.lastIndex() + 1);
    if (this.#transferee !== null && !this.tracker.isVoter(this.#transferee)) this.#transferee = null;
    if (!this.tracker.isVoter(this.id)) {
      this.becomeFollower(this.#term, null);
      return;
    }
    this.replication.maybeCommit();
  }

  /** Registers an observer (a follower-reader outside the configuration). */
  addObserver(id: NodeId): void {
    if (this.tracker.observers.has(id)) return;
    if (this.tracker.isMember(id)) throw new RaftError('ERR_CONF_CHANGE_INVALID', `${id} is a member, not an observer`, this.#leader);
    if (this.tracker.observers.size >= this.cfg.observersMax) {
      throw new RaftError('ERR_UNAVAILABLE', `${this.tracker.observers.size} observers already follow this node (observersMax=${this.cfg.observersMax})`, this.#leader);
    }
    this.tracker.addObserver(id);
    if (this.#role === 'leader') this.tracker.track(id, this.log.lastIndex() + 1);
  }

  removeObserver(id: NodeId): void {
    this.tracker.removeObserver(id);
  }

  // ---- snapshots -----------------------------------------------------------------------------

  /** The runtime took a snapshot at the applied index: keep it, compact the log behind it. */
  takeSnapshot(data: Uint8Array, retainEntries: number): Snapshot {
    const log = this.log;
    const index = log.applied;
    assert(index > 0, 'nothing applied yet: no snapshot to take');
    const snap: Snapshot = { meta: { index, term: log.term(index), conf: this.tracker.conf() }, data };
    this.#snapshot = snap;
    const to = Math.max(log.snapIndex, index - retainEntries);
    if (to > log.snapIndex) log.compact(to, log.term(to));
    return snap;
  }

  /** A snapshot restored on start is the one this node holds. */
  loadSnapshot(snap: Snapshot): void {
    this.#snapshot = snap;
  }

  /**
   * A follower installs the leader's snapshot (its log was replaced by the mode): it carries the
   * membership, serves lagging observers, and is persisted and restored by the next Ready.
   */
  installSnapshot(snap: Snapshot): void {
    this.tracker.setConf(snap.meta.conf);
    this.#snapshot = snap;
    this.#pendingSnapshot = snap;
  }

  hasPendingSnapshot(): boolean {
    return this.#pendingSnapshot !== null;
  }

  /** The received snapshot goes into a Ready. */
  takePendingSnapshot(): Snapshot | null {
    const s = this.#pendingSnapshot;
    this.#pendingSnapshot = null;
    return s;
  }

  // ---- messages ----------------------------------------------------------------------------

  send(m: Message): void {
    this.#outbox.push(m);
  }

  hasMessages(): boolean {
    return this.#outbox.length > 0;
  }

  takeMessages(): Message[] {
    const out = this.#outbox;
    this.#outbox = [];
    return out;
  }

  step(m: Message): void {
    if (m.to !== this.id) return;
    // An observer's term comes from a member it followed; it must never push a member's term.
    if (m.term > this.#term && this.tracker.observers.has(m.from)) return;
    if (m.term > this.#term) {
      if (m.type === 'vote' || m.type === 'preVote') {
        if (!m.transfer && this.#inLease()) {
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
    } else if (m.term < this.#term) {
      this.#stepStale(m);
      return;
    }
    if (m.type === 'vote' || m.type === 'preVote') {
      this.#handleVoteRequest(m);
      return;
    }
    switch (this.#role) {
      case 'leader': this.#stepLeader(m); return;
      case 'candidate':
      case 'preCandidate': this.#stepCandidate(m); return;
      case 'follower': this.#stepFollower(m); return;
      default: assertNever(this.#role, 'role');
    }
  }

  /** A message from an older term. */
  #stepStale(m: Message): void {
    if ((this.cfg.checkQuorum || this.cfg.preVote) && (m.type === 'app' || m.type === 'hb')) {
      // A leader cut off by a partition may never hear a vote request (pre-vote and lease stop
      // them): tell it the new term so it steps down.
      this.send({ type: 'appResp', from: this.id, to: m.from, term: this.#term, index: 0, reject: false, hintIndex: 0, hintTerm: 0 });
    } else if (m.type === 'preVote') {
      this.send({ type: 'preVoteResp', from: this.id, to: m.from, term: this.#term, reject: true });
    } else if (m.type === 'readIndex') {
      this.reads.drop(m.context, m.from);
    }
  }

  #stepLeader(m: Message): void {
    switch (m.type) {
      case 'appResp': this.mode.onAppendResponse(m); return;
      case 'hbResp': this.replication.handleHeartbeatResponse(m); return;
      case 'readIndex': this.reads.request(m.context, m.from); return;
      case 'app': case 'hb': case 'snap':
        assert(false, () => `leader ${this.id} got ${m.type} from ${m.from} in its own term ${this.#term}: two leaders`);
        return;
      case 'voteResp': case 'preVoteResp': case 'timeoutNow': case 'readIndexResp': return;
      case 'vote': case 'preVote': return;
      default: assertNever(m, 'message');
    }
  }

  #stepCandidate(m: Message): void {
    switch (m.type) {
      case 'app': case 'hb': case 'snap':
        this.becomeFollower(m.term, m.from);
        this.#stepFollower(m);
        return;
      case 'voteResp': case 'preVoteResp': {
        const expected = this.#role === 'preCandidate' ? 'preVoteResp' : 'voteResp';
        if (m.type !== expected) return;
        const granted = m.type === 'preVoteResp' ? !m.reject : this.mode.acceptVote(m);
        this.#votes.set(m.from, granted);
        const result = voteResult(this.tracker.voters, this.#votes);
        if (result === 'won') this.#onElectionWon(this.#role === 'preCandidate' ? 'preElection' : 'election');
        else if (result === 'lost') {
          if (this.#role === 'preCandidate') this.stats.preVotesLost++;
          this.becomeFollower(this.#term, null);
        }
        return;
      }
      case 'readIndex':
        this.reads.drop(m.context, m.from);
        return;
      case 'appResp': case 'hbResp': case 'timeoutNow': case 'readIndexResp': case 'vote': case 'preVote': return;
      default: assertNever(m, 'message');
    }
  }

  #stepFollower(m: Message): void {
    switch (m.type) {
      case 'app':
        this.#heardFromLeader(m.from);
        this.mode.onAppend(m);
        return;
      case 'hb':
        this.#heardFromLeader(m.from);
        this.mode.onHeartbeat(m);
        return;
      case 'snap':
        this.#heardFromLeader(m.from);
        this.mode.onSnapshot(m);
        return;
      case 'timeoutNow':
        // Leadership transfer: campaign at once, skipping pre-vote and the voters' lease.
        this.campaign('transfer');
        return;
      case 'readIndexResp':
        if (this.relay.onReadIndexResponse(m)) return;
        if (m.reject) this.reads.drop(m.context, null);
        else this.reads.answered(m.context, m.index);
        return;
      case 'readIndex':
        if (this.tracker.observers.has(m.from)) this.relay.forwardRead(m);
        else this.reads.drop(m.context, m.from);
        return;
      case 'appResp': this.relay.onAppendResponse(m); return;
      case 'hbResp': this.relay.onHeartbeatResponse(m); return;
      case 'voteResp': case 'preVoteResp': case 'vote': case 'preVote': return;
      default: assertNever(m, 'message');
    }
  }

  #heardFromLeader(from: NodeId): void {
    this.#electionElapsed = 0;
    this.#leader = from;
  }

  /** The entries of a configuration change, for the tests and checkers that look inside. */
  entryAt(i: Index): Entry | undefined {
    const log = this.log;
    if (i <= log.snapIndex || i > log.lastIndex()) return undefined;
    return log.entry(i);
  }
}
