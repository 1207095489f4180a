// The durable-log contract that runtimes implement (file WAL in Node, IndexedDB in browsers,
// memory in tests) and that the core's Ready/advance cycle drives. Every write resolves only
// once it is durable: that is the point at which the core may send what depends on it.

import { CodedError } from './coded-error.ts';
import type { Entry, HardState, Index, Snapshot } from './types.ts';

/** Everything a store holds, as loaded on start. */
export interface LoadedState {
  readonly hardState: HardState;
  /** The latest snapshot, or null when the log starts at index 1. */
  readonly snapshot: Snapshot | null;
  /** Contiguous entries after the snapshot (or from index 1). */
  readonly entries: readonly Entry[];
}

/** The writes of one Ready, applied in this order: snapshot, entries, fills, hard state. */
export interface StoreBatch {
  /** A snapshot received from the leader: it replaces the whole log (entries <= its index are gone). */
  readonly snapshot: Snapshot | null;
  /**
   * Contiguous entries. If entries[0].index <= lastIndex, the stored suffix from that index is
   * replaced (a conflicting suffix is overwritten); entries[0].index must be <= lastIndex + 1.
   */
  readonly entries: readonly Entry[];
  /**
   * Parallel mode (stores opened with `parallel`): entries that replace the entry or hole stored
   * at their index, in place, leaving every other entry as it is. Applied after `entries`.
   */
  readonly fills?: readonly Entry[];
  readonly hardState: HardState | null;
}

export interface LogStore {
  /** Loads everything on start. Refuses (StoreError) a locked, corrupt or incompatible store. */
  load(): Promise<LoadedState>;
  /**
   * Makes a batch durable. Calls may overlap (a store may group them into one sync); they take
   * effect in call order, and each resolves only once it and every earlier call are durable.
   */
  save(batch: StoreBatch): Promise<void>;
  /**
   * Stores a snapshot the local state machine took, then compacts: entries up to its index may be
   * deleted, entries after it are kept. Durable on resolve.
   */
  saveSnapshot(snapshot: Snapshot): Promise<void>;
  /** Entries in [lo, hi), for replication to a lagging follower. Throws ERR_STORE_COMPACTED below the snapshot. */
  entries(lo: Index, hi: Index): Promise<Entry[]>;
  /** Flushes what is pending and releases the store (and its lock). */
  close(): Promise<void>;
}

export type StoreErrorCode =
  | 'ERR_STORE_LOCKED'
  | 'ERR_STORE_VERSION'
  | 'ERR_STORE_CORRUPT'
  | 'ERR_STORE_QUOTA'
  | 'ERR_STORE_CLOSED'
  | 'ERR_STORE_COMPACTED'
  | 'ERR_STORE_INVALID'
  | 'ERR_STORE_IO';

export class StoreError extends CodedError<StoreErrorCode> {
  override readonly name = 'StoreError';
}
