// The IPC messages between bench/cluster.ts and its load-generator children (bench/cluster-load.ts):
// the parent prepares a load (clients connected, sessions open), starts every child at once, and
// each child answers with its counts and a mergeable latency histogram.

import type { Consistency } from '../../src/client/protocol.ts';

export interface PrepareLoad {
  readonly type: 'prepare';
  readonly op: 'write' | 'read';
  /** Async loops in this child, spread round-robin over its clients. */
  readonly loops: number;
  /** Each SDK client's member list (one KvClient per entry). */
  readonly clientPeers: readonly (readonly string[])[];
  readonly token: string;
  readonly consistency: Consistency;
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

export type ToLoad = PrepareLoad | GoLoad | { readonly type: 'exit' };

export interface LoadResult {
  readonly type: 'result';
  /** Operations completed inside the measured window. */
  readonly ops: number;
  readonly measuredMs: number;
  /** Latency histogram counts (see lib/histogram.ts) of the measured operations. */
  readonly histogram: number[];
  readonly errors: number;
  readonly errorCodes: Record<string, number>;
  /** Reads only: how many each path (getWithMeta's `path`) and each member served. */
  readonly paths: Record<string, number>;
  readonly servedBy: Record<string, number>;
}

export type FromLoad =
  | { readonly type: 'ready' }
  | { readonly type: 'prepared' }
  | LoadResult
  | { readonly type: 'failed'; readonly message: string };
