// Every limit of the core as a named option with a default, and validate(), which names the
// option, the rule it broke and the value it got. Relations between defaults are asserted at load.

import { assert } from './assert.ts';
import { RaftError } from './errors.ts';
import type { Clock } from './clock.ts';
import type { Prng } from './prng.ts';
import type { NodeId } from './types.ts';

/** The replication protocols a node can run (modes.ts builds each). */
export type ReplicationModeName = 'raft' | 'parallel';

export interface RaftOptions {
  /** This member's id. */
  readonly id: NodeId;
  /** Injected randomness for election timeouts (a SeededPrng in tests and simulations). */
  readonly prng: Prng;
  /**
   * Injected time, read when a heartbeat round is sent and again whenever a lease is checked:
   * leader leases are measured on it. Required when leaseReads is on.
   */
  readonly clock?: Clock | null;
  /**
   * Milliseconds one tick stands for (the runtime's tick period). With electionTicks it sets the
   * lease: (electionTicks - 1) x tickMs x (1 - leaseDriftPercent / 100). Every member must use the
   * same timing settings (peers check it when they connect).
   */
  readonly tickMs?: number;
  /** Ticks without hearing from a leader before a follower campaigns (randomized to [n, 2n)). */
  readonly electionTicks?: number;
  /** Ticks between leader heartbeats. */
  readonly heartbeatTicks?: number;
  /** Run a pre-vote round first, so a partitioned node cannot inflate terms (section 9.6). */
  readonly preVote?: boolean;
  /** A leader steps down when it has not heard from a quorum within an election timeout. */
  readonly checkQuorum?: boolean;
  /** AppendEntries in flight per voter before the leader waits for acknowledgements. */
  readonly inflightMsgsMax?: number;
  /** Bytes of entries in flight per follower. */
  readonly inflightBytesMax?: number;
  /** AppendEntries in flight per learner (kept small so learners never crowd out voters). */
  readonly learnerInflightMsgsMax?: number;
  /**
   * Bytes of entries in flight per learner and observer (browser tab). A runtime keeps it, plus one
   * message of msgBytesMax, below what its link to the learner queues before shedding (the mesh's
   * highWaterBytes): a leader that outruns a slow tab would otherwise have appends shed and
   * resend them from the tab's match index, sending the same entries several times.
   */
  readonly learnerInflightBytesMax?: number;
  /**
   * Observers (learners outside the configuration, such as browser tabs) a leader replicates to at
   * once; more are refused, so tabs can never crowd out the voters.
   */
  readonly observersMax?: number;
  /**
   * A follower relays the committed log to observers that connect to it (instead of the leader),
   * and passes their read-index requests on: tabs then load followers, not the leader.
   */
  readonly relayObservers?: boolean;
  /** Bytes of entries in one AppendEntries message (at least one entry is always sent). */
  readonly msgBytesMax?: number;
  /** Bytes of proposed but uncommitted entries the leader accepts before refusing proposals. */
  readonly uncommittedBytesMax?: number;
  /** Largest single proposal. */
  readonly proposalBytesMax?: number;
  /** AppendEntries a follower may hold while waiting for a gap before them to fill; 0 disables. */
  readonly reorderBufferMsgsMax?: number;
  /** Bytes of entries held in the reorder buffer. */
  readonly reorderBufferBytesMax?: number;
  /** Ticks a held AppendEntries waits for its gap before the follower rejects it. */
  readonly reorderTimeoutTicks?: number;
  /** Read requests waiting for confirmation at once. */
  readonly pendingReadsMax?: number;
  /**
   * ReadIndex rounds carrying reads that may be unconfirmed at once; reads that arrive meanwhile
   * wait for the next one (as etcd keeps one ReadIndex in flight). Under many readers a round per
   * Ready cost every follower a heartbeat and the leader an ack each; a read waits at most one
   * round trip longer. Heartbeat ticks start rounds (carrying any waiting reads) regardless.
   */
  readonly readRoundsInFlightMax?: number;
  /** Serve reads from a leader lease when it is valid (requires checkQuorum). */
  readonly leaseReads?: boolean;
  /** Lease safety margin for clock drift, in percent of the election timeout. */
  readonly leaseDriftPercent?: number;
  /**
   * 'raft' (default) or 'parallel': ParallelRaft's out-of-order acknowledge, commit and apply
   * (docs/parallel-raft.md). Every member of a cluster must run the same mode.
   */
  readonly mode?: ReplicationModeName;
  /**
   * Parallel mode: a batch's window covers the leader's previous lookBehindBatches batches, at most
   * lookBehindEntries entries; a follower acknowledges entries up to lookBehindEntries past a hole.
   */
  readonly lookBehindEntries?: number;
  readonly lookBehindBatches?: number;
  /** Parallel mode: bytes of entries a voter sends a candidate for its Merge stage (more: no vote); well under a frame. */
  readonly mergeBytesMax?: number;
  /**
   * Parallel mode: the keys a proposal writes, read from its payload (pure, deterministic); null
   * means "conflicts with everything" and is what a missing keysOf means for every entry.
   */
  readonly keysOf?: KeysOf | null;
  /**
   * Full invariant checks after every Ready and advance (each O(log in memory)): for tests and the
   * simulator. The always-on assertions stay O(1).
   */
  readonly debugChecks?: boolean;
}

/** The keys a command writes, or null when it may touch anything (it then applies in log order). */
export type KeysOf = (data: Uint8Array) => readonly string[] | null;

export type RaftConfig = Required<Omit<RaftOptions, 'prng' | 'clock'>> & { readonly prng: Prng; readonly clock: Clock | null };

export const defaults = {
  clock: null,
  tickMs: 50,
  electionTicks: 10,
  heartbeatTicks: 1,
  preVote: true,
  checkQuorum: true,
  inflightMsgsMax: 256,
  inflightBytesMax: 32 * 1024 * 1024,
  learnerInflightMsgsMax: 32,
  learnerInflightBytesMax: 4 * 1024 * 1024,
  observersMax: 256,
  relayObservers: true,
  msgBytesMax: 1024 * 1024,
  uncommittedBytesMax: 64 * 1024 * 1024,
  proposalBytesMax: 4 * 1024 * 1024,
  reorderBufferMsgsMax: 32,
  reorderBufferBytesMax: 8 * 1024 * 1024,
  reorderTimeoutTicks: 2,
  pendingReadsMax: 65536,
  readRoundsInFlightMax: 1,
  leaseReads: true,
  leaseDriftPercent: 10,
  mode: 'raft',
  lookBehindEntries: 512,
  lookBehindBatches: 4,
  mergeBytesMax: 16 * 1024 * 1024,
  keysOf: null,
  debugChecks: false,
} as const;

/** A window's identities and key summary ride in each batch's head: bounded. */
export const lookBehindEntriesMax = 4096;
export const lookBehindBatchesMax = 64;

assert(defaults.electionTicks > defaults.heartbeatTicks, 'default electionTicks must exceed heartbeatTicks');
assert(defaults.reorderTimeoutTicks < defaults.electionTicks, 'default reorder timeout must be under an election');
assert(defaults.proposalBytesMax <= defaults.uncommittedBytesMax, 'default proposal cap must fit the uncommitted cap');
assert(defaults.learnerInflightBytesMax <= defaults.inflightBytesMax, 'a learner\'s default bytes in flight must not exceed a voter\'s');

function invalid(option: string, rule: string, value: unknown): RaftError {
  return new RaftError('ERR_CONFIG_INVALID', `invalid option ${option}: must be ${rule} (got ${show(value)})`);
}

/** Shows a bad value as the caller wrote it: NaN stays NaN, a bigint stays 1n. */
function show(value: unknown): string {
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value);
  if (typeof value === 'bigint') return `${value}n`;
  if (value === undefined) return 'undefined';
  if (typeof value === 'function') return 'a function';
  return JSON.stringify(value) ?? String(value);
}

function intAtLeast(name: string, value: number, min: number): void {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) throw invalid(name, `an integer >= ${min}`, value);
}

/** Fills defaults and checks every option; throws RaftError('ERR_CONFIG_INVALID') naming the first bad one. */
export function validate(options: RaftOptions): RaftConfig {
  // Unknown keys first: a misspelt option would otherwise surface as some other complaint.
  const known = new Set<string>([...Object.keys(defaults), 'id', 'prng']);
  for (const key of Object.keys(options)) {
    if (!known.has(key)) throw invalid(key, `one of the known options (${[...known].join(', ')})`, (options as unknown as Record<string, unknown>)[key]);
  }
  const c: RaftConfig = { ...defaults, ...stripUndefined(options) } as RaftConfig;
  if (typeof c.id !== 'string' || c.id.length === 0 || /\s/.test(c.id)) {
    throw invalid('id', 'a non-empty string without whitespace', c.id);
  }
  if (typeof c.prng !== 'object' || c.prng === null || typeof c.prng.nextInt !== 'function') {
    throw invalid('prng', 'an object with nextInt(bound)', typeof c.prng);
  }
  if (c.clock !== null && (typeof c.clock !== 'object' || typeof c.clock.monoMs !== 'function' || typeof c.clock.wallMs !== 'function')) {
    throw invalid('clock', 'null or an object with monoMs() and wallMs()', typeof c.clock);
  }
  if (typeof c.tickMs !== 'number' || !Number.isFinite(c.tickMs) || c.tickMs <= 0) throw invalid('tickMs', 'a positive number of milliseconds', c.tickMs);
  intAtLeast('heartbeatTicks', c.heartbeatTicks, 1);
  intAtLeast('electionTicks', c.electionTicks, 2);
  if (c.electionTicks <= c.heartbeatTicks) {
    throw invalid('electionTicks', `greater than heartbeatTicks (${c.heartbeatTicks})`, c.electionTicks);
  }
  intAtLeast('inflightMsgsMax', c.inflightMsgsMax, 1);
  intAtLeast('learnerInflightMsgsMax', c.learnerInflightMsgsMax, 1);
  intAtLeast('observersMax', c.observersMax, 0);
  intAtLeast('inflightBytesMax', c.inflightBytesMax, 1);
  intAtLeast('learnerInflightBytesMax', c.learnerInflightBytesMax, 1);
  intAtLeast('msgBytesMax', c.msgBytesMax, 1);
  intAtLeast('proposalBytesMax', c.proposalBytesMax, 1);
  intAtLeast('uncommittedBytesMax', c.uncommittedBytesMax, 1);
  if (c.proposalBytesMax > c.uncommittedBytesMax) {
    throw invalid('proposalBytesMax', `at most uncommittedBytesMax (${c.uncommittedBytesMax})`, c.proposalBytesMax);
  }
  intAtLeast('reorderBufferMsgsMax', c.reorderBufferMsgsMax, 0);
  intAtLeast('reorderBufferBytesMax', c.reorderBufferBytesMax, 0);
  intAtLeast('reorderTimeoutTicks', c.reorderTimeoutTicks, 1);
  if (c.reorderTimeoutTicks >= c.electionTicks) {
    throw invalid('reorderTimeoutTicks', `less than electionTicks (${c.electionTicks})`, c.reorderTimeoutTicks);
  }
  intAtLeast('pendingReadsMax', c.pendingReadsMax, 1);
  intAtLeast('readRoundsInFlightMax', c.readRoundsInFlightMax, 1);
  for (const flag of ['preVote', 'checkQuorum', 'leaseReads', 'relayObservers', 'debugChecks'] as const) {
    if (typeof c[flag] !== 'boolean') throw invalid(flag, 'a boolean', c[flag]);
  }
  if (!Number.isFinite(c.leaseDriftPercent) || c.leaseDriftPercent < 0 || c.leaseDriftPercent >= 100) {
    throw invalid('leaseDriftPercent', 'a number in [0, 100)', c.leaseDriftPercent);
  }
  if (c.mode !== 'raft' && c.mode !== 'parallel') throw invalid('mode', "'raft' or 'parallel'", c.mode);
  intAtLeast('lookBehindEntries', c.lookBehindEntries, 1);
  if (c.lookBehindEntries > lookBehindEntriesMax) throw invalid('lookBehindEntries', `at most ${lookBehindEntriesMax}`, c.lookBehindEntries);
  intAtLeast('lookBehindBatches', c.lookBehindBatches, 1);
  if (c.lookBehindBatches > lookBehindBatchesMax) throw invalid('lookBehindBatches', `at most ${lookBehindBatchesMax}`, c.lookBehindBatches);
  intAtLeast('mergeBytesMax', c.mergeBytesMax, 1);
  if (c.keysOf !== null && typeof c.keysOf !== 'function') throw invalid('keysOf', 'a function or null', c.keysOf);
  if (c.leaseReads && !c.checkQuorum) {
    throw invalid('leaseReads', 'false unless checkQuorum is on (a lease is only safe with CheckQuorum)', c.leaseReads);
  }
  if (c.leaseReads && c.clock === null) {
    throw invalid('clock', 'given when leaseReads is on (a lease is measured in real time); or set leaseReads: false', null);
  }
  return c;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [k, v] of Object.entries(o)) {
    if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  }
  return out;
}
