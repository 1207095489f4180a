// The IPC messages between bench/cluster.ts and its load-generator children (bench/cluster-load.ts
// for edgeraft, bench/etcd-load.ts for etcd): the parent prepares a load (clients connected,
// sessions open), starts every child at once, and each child answers with its counts and a
// mergeable latency histogram. Both generators speak this protocol, so both loads have one shape.

import type { Consistency } from '../../src/client/protocol.ts';
import type { EtcdConsistency } from './etcd-gateway.ts';

/** edgeraft's read modes, and etcd's two ('linearizable' is common to both). */
export type LoadConsistency = Consistency | EtcdConsistency;
/**
 * 'txn' (issue 16): a transaction comparing one key's version and writing two keys, per loop its
 * own pair of keys; 'keepalive': one lease per loop, renewed by one keep-alive after another.
 */
export type LoadOp = 'write' | 'read' | 'mixed' | 'txn' | 'keepalive';

export interface PrepareLoad {
  readonly type: 'prepare';
  /** 'mixed': each operation is a write with probability writeShare, else a read. */
  readonly op: LoadOp;
  readonly writeShare: number;
  /** Async loops in this child, spread round-robin over its clients. */
  readonly loops: number;
  /**
   * Each client's member list: one edgeraft SDK client (ws:// URLs) or one etcd keep-alive agent
   * (the http:// client URL of the member it talks to) per entry.
   */
  readonly clientPeers: readonly (readonly string[])[];
  /** edgeraft only (etcd runs without authentication). */
  readonly token: string;
  /** Of reads (and the reads of a mixed load). */
  readonly consistency: LoadConsistency;
  readonly valueBytes: number;
  /** Keys are `${keyPrefix}${n}` for n in [0, keyCount). */
  readonly keyPrefix: string;
  readonly keyCount: number;
  /** Writes only: every put creates a key no one wrote before (instead of overwriting one). */
  readonly newKeys: boolean;
  /** Seeds this child's key choice, so runs are repeatable. */
  readonly seed: number;
  /**
   * Clients connected at once (default 1: one after another). Over emulated WAN links a connect
   * takes several round trips, and a member refuses handshakes past its handshakesMax (16).
   */
  readonly connectConcurrency?: number;
  /**
   * Addresses to dial instead of others (bench:wan): a member's address as the members advertise
   * it (leader hints, their --peers) -> the relay that reaches it from this client's region.
   */
  readonly dialMap?: Readonly<Record<string, string>>;
  /** bench:tls: the CA (PEM) of wss:// members, given to every SDK client as its `ca`. */
  readonly ca?: string;
}

export interface GoLoad {
  readonly type: 'go';
  readonly warmupMs: number;
  readonly measureMs: number;
  /** Leave the clients connected for another 'go' (bench:wan's interleaved runs); 'release' closes them. */
  readonly keepClients?: boolean;
}

/** Closes the prepared clients without running a load (after holding them idle to measure memory). */
export interface ReleaseLoad {
  readonly type: 'release';
}

// ---- watch delivery (bench/lib/coordination.ts) ------------------------------------------------
// One generator writes at a fixed rate; the others hold the watchers. Every time is taken with
// nowMs() (lib/watch-samples.ts: CLOCK_MONOTONIC, one clock for every process of the machine).

/** Connects one client (the writer's) for the next messages. */
export interface PrepareWriter {
  readonly type: 'prepareWriter';
  /** The writer's member list (edgeraft: every member, the leader first; etcd: the leader's client URL). */
  readonly peers: readonly string[];
  readonly token: string;
}

/** One put of `key` (the marker watchers start from); answered by 'marked' with its revision. */
export interface MarkWrite {
  readonly type: 'mark';
  readonly key: string;
}

/** Puts at a fixed rate (open loop: a slow put does not delay the next) for warmupMs + measureMs. */
export interface WriteAtRate {
  readonly type: 'writeAtRate';
  readonly ratePerS: number;
  readonly warmupMs: number;
  readonly measureMs: number;
  /** Keys are `${keyPrefix}${n % keyCount}`. */
  readonly keyPrefix: string;
  readonly keyCount: number;
  readonly valueBytes: number;
}

/** One write of the measured window: [revision, send time, resolve time] (nowMs()). */
export type TimedWrite = readonly [revision: number, sentMs: number, resolvedMs: number];

export interface WatchClientSpec {
  /** Its member list, the member it should watch on first. */
  readonly peers: readonly string[];
  /** That member's id (edgeraft) or name (etcd). */
  readonly member: string;
}

/** Connects the watcher clients and watches `prefix` from `fromRevision` (the marker's revision). */
export interface PrepareWatchers {
  readonly type: 'prepareWatchers';
  readonly clients: readonly WatchClientSpec[];
  readonly watchersPerClient: number;
  readonly token: string;
  /** The leader's id (edgeraft) or name (etcd): watchers streaming from it count as on the leader. */
  readonly leader: string;
  readonly prefix: string;
  readonly fromRevision: number;
  /** Fail if some watcher has not received the marker's event within this. */
  readonly readyTimeoutMs: number;
}

/** The measured window's writes; answered with 'watchResult' once every watcher has them or graceMs passed. */
export interface CollectWatch {
  readonly type: 'collectWatch';
  readonly writes: readonly TimedWrite[];
  readonly graceMs: number;
}

export type ToLoad = PrepareLoad | GoLoad | ReleaseLoad | PrepareWriter | MarkWrite | WriteAtRate | PrepareWatchers | CollectWatch | { readonly type: 'exit' };

export interface WrittenAtRate {
  readonly type: 'written';
  /** The writes sent inside the measured window that resolved. */
  readonly writes: TimedWrite[];
  readonly errors: number;
  readonly errorCodes: Record<string, number>;
  /** How late the writer sent its puts against the schedule, at most (a busy generator lags). */
  readonly lagMsMax: number;
}

export interface WatchResult {
  readonly type: 'watchResult';
  /**
   * Latency histograms (lib/histogram.ts) of (receive − put resolve), watchers on the leader and
   * on followers (where each streams from at the end: edgeraft's watcher.servedBy, etcd's
   * member): the samples >= 0, and the magnitudes of those < 0 (received before the put resolved).
   */
  readonly fromResolveLeader: number[];
  readonly fromResolveFollowers: number[];
  readonly earlyLeader: number[];
  readonly earlyFollowers: number[];
  /** (receive − put send), all watchers: an upper bound of commit-to-watcher. */
  readonly fromSend: number[];
  /** Events received of the writes asked about, and how many were expected (writes × watchers). */
  readonly received: number;
  readonly expected: number;
  /** Received before the writer's put resolved (in the early histograms). */
  readonly beforeResolve: number;
  readonly watchers: number;
  /** Watchers by the member streaming to them at the end (edgeraft: watcher.servedBy), and how many were not on the member listed first. */
  readonly servedBy: Record<string, number>;
  readonly misplaced: number;
  /** Streams opened again (edgeraft: watcher.reconnects; etcd: streams that ended). */
  readonly reconnects: number;
  /** (performance.timeOrigin + performance.now()) − nowMs() in this process: the same in every process if both clocks agree. */
  readonly clockOffsetMs: number;
}

export interface LoadResult {
  readonly type: 'result';
  /** Operations completed inside the measured window. */
  readonly ops: number;
  readonly measuredMs: number;
  /** Latency histogram counts (see lib/histogram.ts) of the measured operations. */
  readonly histogram: number[];
  readonly errors: number;
  readonly errorCodes: Record<string, number>;
  /** Reads only: how many each path (getWithMeta's `path`, etcd's consistency) and each member served. */
  readonly paths: Record<string, number>;
  readonly servedBy: Record<string, number>;
}

export type FromLoad =
  | { readonly type: 'ready' }
  | { readonly type: 'prepared' }
  | { readonly type: 'released' }
  | LoadResult
  | { readonly type: 'writerReady' }
  | { readonly type: 'marked'; readonly revision: number }
  | WrittenAtRate
  | { readonly type: 'watching'; readonly servedBy: Record<string, number> }
  | WatchResult
  | { readonly type: 'failed'; readonly message: string };
