// LogMeta plus the entries themselves, kept in memory: the memory store and the IndexedDB store.
import { StoreError } from '../storage.ts';
import type { LoadedState, StoreBatch } from '../storage.ts';
import type { Entry, Index, Snapshot } from '../types.ts';
import { LogMeta } from './log-meta.ts';
import { raftLogRules, type LogRules } from './log-rules.ts';
import { NumberLog } from './number-log.ts';
import { checkEntryShape } from './shape.ts';

/** LogMeta plus the entries themselves, in memory (MemoryStore, IdbStore). */
export class LogState extends LogMeta {
  // Invariant: #entries[k].index === firstIndex() + k and #entries.length === lastIndex() - snapshotIndex().
  #entries: Entry[] = [];

  /** Rebuilds a state from loaded data; a log that breaks a save's invariants is ERR_STORE_CORRUPT. */
  static from(loaded: LoadedState, rules: LogRules = raftLogRules): LogState {
    const terms = new NumberLog(Math.max(16, loaded.entries.length));
    const first = (loaded.snapshot?.meta.index ?? 0) + 1;
    loaded.entries.forEach((e, k) => {
      try {
        checkEntryShape(e, `loaded entries[${k}]`);
      } catch (err) {
        throw new StoreError('ERR_STORE_CORRUPT', (err as Error).message);
      }
      if (e.index !== first + k) {
        throw new StoreError('ERR_STORE_CORRUPT', `loaded entries[${k}] has index ${e.index}, expected ${first + k} (right after the snapshot, contiguous)`);
      }
      terms.push(e.term);
    });
    const s = LogState.restore(loaded.hardState, loaded.snapshot, terms, rules);
    s.#entries = [...loaded.entries];
    return s;
  }

  loaded(): LoadedState {
    return { hardState: this.hardState, snapshot: this.snapshot, entries: [...this.#entries] };
  }

  override applyBatch(batch: StoreBatch): void {
    super.applyBatch(batch);
    if (batch.snapshot !== null) this.#entries = [];
    const n = batch.entries.length;
    if (n > 0) {
      this.#entries.length = batch.entries[0]!.index - this.firstIndex();
      for (let k = 0; k < n; k++) this.#entries.push(batch.entries[k]!);
    }
    for (const e of batch.fills ?? []) this.#entries[e.index - this.firstIndex()] = e;
  }

  override applyCompaction(snap: Snapshot): void {
    this.#entries.splice(0, snap.meta.index - this.snapshotIndex());
    super.applyCompaction(snap);
  }

  /** Entries in [lo, hi). */
  range(lo: Index, hi: Index): Entry[] {
    this.checkRange(lo, hi);
    return this.#entries.slice(lo - this.firstIndex(), hi - this.firstIndex());
  }
}
