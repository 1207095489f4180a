// The simulated disk behind one node: a LogStore whose writes become durable only after a
// simulated fsync, in call order, and whose in-flight write is lost or torn (a prefix of its
// entries reached the disk) when the node crashes. The durable state outlives the store object,
// as a disk outlives the process: a restarted node loads it.

import type { Entry, HardState, Index, Snapshot } from '../../src/core/types.ts';
import type { LoadedState, LogStore, StoreBatch } from '../../src/core/storage.ts';

export interface Durable {
  hardState: HardState;
  snapshot: Snapshot | null;
  entries: Entry[];
}

export function emptyDurable(): Durable {
  return { hardState: { term: 0, vote: null, commit: 0 }, snapshot: null, entries: [] };
}

/** What the store needs from the simulator (all on the virtual clock, for one node's life). */
export interface StoreHost {
  /** Virtual now. */
  now(): number;
  /** Runs `fn` after `ms` of virtual time unless the node crashed meanwhile. */
  after(ms: number, fn: () => void): void;
  /** Hands a completion to the process: at once, or when it resumes if it is paused. */
  deliver(fn: () => void): void;
  /** How long one synced write takes. */
  syncDelayMs(): number;
}

interface Pending {
  readonly batch: StoreBatch | null;
  readonly snapshot: Snapshot | null;
}

export class SimStore implements LogStore {
  readonly durable: Durable;
  readonly #host: StoreHost;
  /** Writes called and not yet durable, oldest first. */
  readonly #pending: Pending[] = [];
  /** Virtual time the newest pending write completes at (writes complete in call order). */
  #lastDueMs = 0;

  constructor(durable: Durable, host: StoreHost) {
    this.durable = durable;
    this.#host = host;
  }

  async load(): Promise<LoadedState> {
    const d = this.durable;
    return { hardState: d.hardState, snapshot: d.snapshot, entries: [...d.entries] };
  }

  save(batch: StoreBatch): Promise<void> {
    return this.#enqueue({ batch, snapshot: null });
  }

  saveSnapshot(snapshot: Snapshot): Promise<void> {
    return this.#enqueue({ batch: null, snapshot });
  }

  async entries(lo: Index, hi: Index): Promise<Entry[]> {
    const base = this.durable.snapshot?.meta.index ?? 0;
    return this.durable.entries.slice(Math.max(0, lo - base - 1), Math.max(0, hi - base - 1));
  }

  async close(): Promise<void> {}

  #enqueue(p: Pending): Promise<void> {
    const h = this.#host;
    const due = Math.max(h.now() + h.syncDelayMs(), this.#lastDueMs);
    this.#lastDueMs = due;
    this.#pending.push(p);
    return new Promise<void>((resolve) => {
      h.after(due - h.now(), () => {
        const done = this.#pending.shift();
        if (done !== p) throw new Error('simulated store: writes completed out of call order');
        this.#apply(p);
        h.deliver(resolve);
      });
    });
  }

  #apply(p: Pending): void {
    const d = this.durable;
    if (p.snapshot !== null) {
      // saveSnapshot: the snapshot is kept and the entries it covers dropped.
      const base = d.snapshot?.meta.index ?? 0;
      d.entries = d.entries.slice(Math.max(0, p.snapshot.meta.index - base));
      d.snapshot = p.snapshot;
      return;
    }
    const b = p.batch!;
    if (b.snapshot !== null) {
      // A received snapshot replaces the whole log; in parallel mode the core writes the entries
      // it keeps after it again, in the same batch.
      d.snapshot = b.snapshot;
      d.entries = [];
    }
    writeEntries(d, b.entries);
    writeFills(d, b.fills ?? []);
    if (b.hardState !== null) d.hardState = b.hardState;
  }

  /**
   * The process died: the oldest write in flight may be torn (`keep` of its entries reached the
   * disk, never its hard state); every later one is lost.
   */
  crash(tear: ((entries: number) => number) | null): void {
    const first = this.#pending[0];
    if (tear !== null && first?.batch != null && first.batch.snapshot === null && first.batch.entries.length > 0) {
      writeEntries(this.durable, first.batch.entries.slice(0, tear(first.batch.entries.length)));
    }
    this.#pending.length = 0;
  }
}

export function writeEntries(d: Durable, entries: readonly Entry[]): void {
  if (entries.length === 0) return;
  const first = entries[0]!.index;
  const base = d.snapshot?.meta.index ?? 0;
  const keep = first - base - 1;
  if (keep < 0) throw new Error(`write at ${first} below snapshot ${base}`);
  if (keep > d.entries.length) throw new Error(`write at ${first} leaves a gap after ${base + d.entries.length}`);
  d.entries.length = keep;
  for (const e of entries) d.entries.push(e);
}

/** Parallel mode: entries written in place over holes or stale entries. */
function writeFills(d: Durable, fills: readonly Entry[]): void {
  const base = d.snapshot?.meta.index ?? 0;
  for (const e of fills) {
    const k = e.index - base - 1;
    if (k < 0) continue;
    if (k >= d.entries.length) throw new Error(`fill at ${e.index} beyond the durable log (last ${base + d.entries.length})`);
    d.entries[k] = e;
  }
}
