// MemoryStore: a LogStore in memory for tests and the simulator, validating through LogState like
// every other store.
import { StoreError } from '../storage.ts';
import type { LoadedState, LogStore, StoreBatch } from '../storage.ts';
import type { Entry, Index, Snapshot } from '../types.ts';
import { raftLogRules, type LogRules } from './log-rules.ts';
import { LogState } from './log-state.ts';

function copyEntry(e: Entry): Entry {
  const data = new Uint8Array(e.data);
  return e.conf === undefined
    ? { term: e.term, index: e.index, type: e.type, data }
    : { term: e.term, index: e.index, type: e.type, data, conf: e.conf };
}

function copySnapshot(s: Snapshot): Snapshot {
  return {
    meta: { index: s.meta.index, term: s.meta.term, conf: { voters: [...s.meta.conf.voters], learners: [...s.meta.conf.learners] } },
    data: new Uint8Array(s.data),
  };
}

/**
 * What a MemoryStore persists into. Keep it to "reopen" a store (a new MemoryStore over the same
 * backing sees everything earlier instances saved); only one open store may use it at a time.
 */
export class MemoryBacking {
  readonly state: LogState;
  holder: MemoryStore | null = null;

  /** `rules`: the shape the log may take (plain Raft's unless given; modes.ts logRulesFor()). */
  constructor(options: { readonly rules?: LogRules } = {}) {
    this.state = new LogState(options.rules ?? raftLogRules);
  }

  /** Simulates the death of the holder: it is closed without flushing and the backing is free. */
  crash(): void {
    this.holder?.markClosed();
    this.holder = null;
  }
}

/**
 * A LogStore in memory: every write is "durable" as soon as it is applied. Data is copied on
 * save, so a caller that reuses its buffers sees what a real store would have persisted.
 */
export class MemoryStore implements LogStore {
  readonly #backing: MemoryBacking;
  #closed = false;

  constructor(backing: MemoryBacking = new MemoryBacking()) {
    if (backing.holder !== null) {
      throw new StoreError('ERR_STORE_LOCKED', 'memory backing is already held by an open MemoryStore');
    }
    backing.holder = this;
    this.#backing = backing;
  }

  /** Used by MemoryBacking.crash(). */
  markClosed(): void {
    this.#closed = true;
  }

  #checkOpen(op: string): void {
    if (this.#closed) throw new StoreError('ERR_STORE_CLOSED', `${op}: the store is closed`);
  }

  async load(): Promise<LoadedState> {
    this.#checkOpen('load');
    return this.#backing.state.loaded();
  }

  async save(batch: StoreBatch): Promise<void> {
    this.#checkOpen('save');
    const state = this.#backing.state;
    state.checkBatch(batch);
    state.applyBatch({
      snapshot: batch.snapshot === null ? null : copySnapshot(batch.snapshot),
      entries: batch.entries.map(copyEntry),
      ...(batch.fills !== undefined ? { fills: batch.fills.map(copyEntry) } : {}),
      hardState: batch.hardState === null ? null : { ...batch.hardState },
    });
  }

  async saveSnapshot(snapshot: Snapshot): Promise<void> {
    this.#checkOpen('saveSnapshot');
    const state = this.#backing.state;
    state.checkCompaction(snapshot);
    state.applyCompaction(copySnapshot(snapshot));
  }

  async entries(lo: Index, hi: Index): Promise<Entry[]> {
    this.#checkOpen('entries');
    return this.#backing.state.range(lo, hi);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#backing.holder === this) this.#backing.holder = null;
  }
}
