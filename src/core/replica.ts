// A replica built from its store: the state machine restored from the stored snapshot, the node
// from the stored log, and the driver that runs them. The Node peer and the browser's
// follower-reader both start this way; they differ only in options and in how messages travel.

import { RaftDriver, type DriverOptions, type ReplicatedStateMachine } from './driver.ts';
import { RaftNode, type RaftNodeInit } from './node.ts';
import type { LoadedState, LogStore } from './storage.ts';
import type { Index } from './types.ts';

export interface ReplicaInit<R> {
  readonly store: LogStore;
  readonly machine: ReplicatedStateMachine<R>;
  /** What the store holds (LogStore.load(); a peer bootstraps a new log first). */
  readonly loaded: LoadedState;
  readonly node: Omit<RaftNodeInit, 'restore'>;
  readonly driver: Omit<DriverOptions<R>, 'node' | 'store' | 'machine'>;
}

export interface Replica<R> {
  readonly node: RaftNode;
  readonly driver: RaftDriver<R>;
  readonly loaded: LoadedState;
  /**
   * Where the state machine stands before anything new arrives: the snapshot, then the entries
   * the store holds as committed, which apply without a fetch (a reload resumes there).
   */
  readonly resumedFrom: Index;
}

/**
 * Synchronous on purpose: the driver starts its first Ready in a microtask, so a caller that wires
 * the driver's hooks to an object it builds right after (the peer) must not await in between.
 */
export function createReplica<R>(init: ReplicaInit<R>): Replica<R> {
  const loaded = init.loaded;
  if (loaded.snapshot !== null) init.machine.restore(loaded.snapshot.data);
  const node = new RaftNode({ ...init.node, restore: loaded });
  const driver = new RaftDriver<R>({ ...init.driver, node, store: init.store, machine: init.machine });
  const last = loaded.entries.at(-1)?.index ?? loaded.snapshot?.meta.index ?? 0;
  const resumedFrom = Math.max(loaded.snapshot?.meta.index ?? 0, Math.min(loaded.hardState.commit, last));
  return { node, driver, loaded, resumedFrom };
}
