// The demo tab's replica store: its IndexedDB store, watched on the way through. The replica's
// change events only cover entries applied after the page subscribed, so the panel learns the keys
// it resumed with (and those of a snapshot the leader installs) from what the store loads and saves.

import type { Index, LoadedState, LogStore, Snapshot, StoreBatch } from '../../core/index.ts';
import { KvMachine } from '../../core/index.ts';
import type { Value } from '../../core/index.ts';

export interface StoreTap {
  /** The keys and values a state machine holds after a load (snapshot plus committed entries), and at which index. */
  onLoad(keys: ReadonlyArray<[string, Value]>, appliedIndex: Index): void;
  /** The leader installed a snapshot: these are now all the keys (entries after it come as change events). */
  onSnapshot(keys: ReadonlyArray<[string, Value]>, index: Index): void;
}

export class TappedStore implements LogStore {
  readonly #inner: LogStore;
  readonly #tap: StoreTap;

  constructor(inner: LogStore, tap: StoreTap) {
    this.#inner = inner;
    this.#tap = tap;
  }

  async load(): Promise<LoadedState> {
    const loaded = await this.#inner.load();
    const machine = new KvMachine();
    if (loaded.snapshot !== null) machine.restore(loaded.snapshot.data);
    // What the replica applies while it joins: the entries its saved commit index covers.
    for (const e of loaded.entries) {
      if (e.index <= machine.appliedIndex) continue;
      if (e.index > loaded.hardState.commit) break;
      machine.apply(e);
    }
    this.#tap.onLoad(machine.scan(), machine.appliedIndex);
    return loaded;
  }

  async save(batch: StoreBatch): Promise<void> {
    await this.#inner.save(batch);
    if (batch.snapshot !== null) this.#tap.onSnapshot(keysOf(batch.snapshot), batch.snapshot.meta.index);
  }

  saveSnapshot(snapshot: Snapshot): Promise<void> {
    return this.#inner.saveSnapshot(snapshot);
  }

  entries(lo: Index, hi: Index): ReturnType<LogStore['entries']> {
    return this.#inner.entries(lo, hi);
  }

  close(): Promise<void> {
    return this.#inner.close();
  }
}

function keysOf(snapshot: Snapshot): Array<[string, Value]> {
  const machine = new KvMachine();
  machine.restore(snapshot.data);
  return machine.scan();
}
