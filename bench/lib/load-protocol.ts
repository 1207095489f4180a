// The IPC messages between bench/cluster.ts and its load-generator children (bench/cluster-load.ts
// for edgeraft, bench/etcd-load.ts for etcd): the parent prepares a load (clients connected,
// sessions open), starts every child at once, and each child answers with its counts and a
// mergeable latency histogram. Both generators speak this protocol, so both loads have one shape.

import type { Consistency } from '../../src/client/protocol.ts';
import type { EtcdConsistency } from './etcd-gateway.ts';

/** edgeraft's read modes, and etcd's two ('linearizable' is common to both). */
export type LoadConsistency = Consistency | EtcdConsistency;
export type LoadOp = 'write' | 'read' | 'mixed';

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
}

export interface GoLoad {
  readonly type: 'go';
  readonly warmupMs: number;
  readonly measureMs: number;
}

/** Closes the prepared clients without running a load (after holding them idle to measure memory). */
export interface ReleaseLoad {
  readonly type: 'release';
}

export type ToLoad = PrepareLoad | GoLoad | ReleaseLoad | { readonly type: 'exit' };

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
  | { readonly type: 'failed'; readonly message: string };
