// The log model every store shares (LogState: validation and the effect of save/saveSnapshot)
// and MemoryStore, a pure in-memory LogStore for tests and the simulator. The file WAL and the
// IndexedDB store validate through LogState too, so all stores refuse exactly the same batches.
import { StoreError } from './storage.ts';
import type { LoadedState, LogStore, StoreBatch } from './storage.ts';
import { emptyHardState } from './types.ts';
import type { ConfChange, ConfState, Entry, HardState, Index, Snapshot, Term } from './types.ts';

/** Largest entry payload a store accepts (the WAL frames records with a 32-bit length). */
export const storeEntryDataBytesMax = 256 * 1024 * 1024;
/** Longest node id (in UTF-16 code units) a store accepts in a vote or a membership list. */
export const storeNodeIdLengthMax = 1024;

const confTypes = new Set(['addVoter', 'addLearner', 'promoteLearner', 'removeNode']);

function invalid(message: string): StoreError {
  return new StoreError('ERR_STORE_INVALID', message);
}

function isCount(n: unknown): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
}

function checkNodeId(id: unknown, where: string): void {
  if (typeof id !== 'string' || id.length === 0 || id.length > storeNodeIdLengthMax) {
    throw invalid(`${where} must be a non-empty string of at most ${storeNodeIdLengthMax} characters, got ${JSON.stringify(id)}`);
  }
}

function checkConf(conf: ConfChange | undefined, where: string): void {
  if (typeof conf !== 'object' || conf === null || !confTypes.has(conf.type)) {
    throw invalid(`${where}.conf must be a ConfChange, got ${JSON.stringify(conf)}`);
  }
  checkNodeId(conf.node, `${where}.conf.node`);
}

/** Checks one entry's shape (not its place in the log). */
export function checkEntryShape(e: Entry, where: string): void {
  if (typeof e !== 'object' || e === null) throw invalid(`${where} must be an Entry, got ${String(e)}`);
  if (!isCount(e.index) || e.index < 1) throw invalid(`${where}.index must be a safe integer >= 1, got ${String(e.index)}`);
  if (!isCount(e.term)) throw invalid(`${where}.term must be a safe integer >= 0, got ${String(e.term)}`);
  const type = e.type;
  if (type !== 'normal' && type !== 'noop' && type !== 'config') throw invalid(`${where}.type must be normal, noop or config, got ${String(e.type)}`);
  if (!(e.data instanceof Uint8Array)) throw invalid(`${where}.data must be a Uint8Array`);
  if (e.data.byteLength > storeEntryDataBytesMax) {
    throw invalid(`${where}.data is ${e.data.byteLength} bytes, over the limit of ${storeEntryDataBytesMax}`);
  }
  if (e.type === 'config') checkConf(e.conf, where);
  else if (e.conf !== undefined) throw invalid(`${where} has conf but its type is ${e.type} (only config entries carry conf)`);
}

export function checkHardStateShape(hs: HardState, where: string): void {
  if (typeof hs !== 'object' || hs === null) throw invalid(`${where} must be a HardState, got ${String(hs)}`);
  if (!isCount(hs.term)) throw invalid(`${where}.term must be a safe integer >= 0, got ${String(hs.term)}`);
  if (!isCount(hs.commit)) throw invalid(`${where}.commit must be a safe integer >= 0, got ${String(hs.commit)}`);
  if (hs.vote !== null) checkNodeId(hs.vote, `${where}.vote`);
}

function checkConfState(conf: ConfState, where: string): void {
  if (typeof conf !== 'object' || conf === null || !Array.isArray(conf.voters) || !Array.isArray(conf.learners)) {
    throw invalid(`${where} must be a ConfState with voters and learners arrays`);
  }
  conf.voters.forEach((v, i) => checkNodeId(v, `${where}.voters[${i}]`));
  conf.learners.forEach((v, i) => checkNodeId(v, `${where}.learners[${i}]`));
}

export function checkSnapshotShape(s: Snapshot, where: string): void {
  if (typeof s !== 'object' || s === null || typeof s.meta !== 'object' || s.meta === null) {
    throw invalid(`${where} must be a Snapshot with meta and data`);
  }
  if (!isCount(s.meta.index) || s.meta.index < 1) {
    throw invalid(`${where}.meta.index must be a safe integer >= 1, got ${String(s.meta.index)}`);
  }
  if (!isCount(s.meta.term)) throw invalid(`${where}.meta.term must be a safe integer >= 0, got ${String(s.meta.term)}`);
  checkConfState(s.meta.conf, `${where}.meta.conf`);
  if (!(s.data instanceof Uint8Array)) throw invalid(`${where}.data must be a Uint8Array`);
}

/**
 * A growable column of numbers indexed from a moving head: append, truncate the tail, drop from
 * the front. Stores keep per-entry metadata (terms, file positions) in these instead of one object
 * per entry, so a long log costs 8 bytes a column per entry and no garbage-collector work.
 */
export class NumberLog {
  #a: Float64Array;
  #head = 0;
  #len = 0;

  constructor(capacity = 1024) {
    this.#a = new Float64Array(capacity);
  }

  get length(): number {
    return this.#len;
  }

  /** The k-th number, 0 <= k < length. */
  at(k: number): number {
    return this.#a[this.#head + k]!;
  }

  push(v: number): void {
    if (this.#head + this.#len === this.#a.length) this.#makeRoom();
    this.#a[this.#head + this.#len++] = v;
  }

  truncate(length: number): void {
    if (length < this.#len) this.#len = Math.max(0, length);
  }

  dropFront(n: number): void {
    const k = Math.min(n, this.#len);
    this.#head += k;
    this.#len -= k;
    if (this.#len === 0) this.#head = 0;
  }

  clear(): void {
    this.#head = 0;
    this.#len = 0;
  }

  /** Replaces the k-th number, 0 <= k < length. */
  set(k: number, v: number): void {
    this.#a[this.#head + k] = v;
  }

  #makeRoom(): void {
    if (this.#head >= this.#a.length / 2) {
      this.#a.copyWithin(0, this.#head, this.#head + this.#len);
    } else {
      const grown = new Float64Array(this.#a.length * 2);
      grown.set(this.#a.subarray(this.#head, this.#head + this.#len));
      this.#a = grown;
    }
    this.#head = 0;
  }
}

/**
 * The log's metadata as a store exposes it: hard state, latest snapshot, and the terms of the
 * contiguous entries after it, which is all that validation needs. Stores validate a write with
 * check*() at call time, then apply it, so writes take effect in call order and a refused write
 * changes nothing. The file WAL uses this directly (its entries stay on disk); LogState below
 * also keeps the entries.
 */
export class LogMeta {
  /**
   * Parallel mode (ParallelRaft): the log may hold holes (term 0) and stale entries, so terms need
   * not grow along it, and batches may carry in-place fills. Set before the first write.
   */
  parallel = false;
  #hardState: HardState = emptyHardState;
  #snapshot: Snapshot | null = null;
  // Invariant: #terms.at(k) is the term of entry firstIndex() + k; terms never decrease.
  readonly #terms = new NumberLog();

  /**
   * Rebuilds a state from replayed data (hard state, snapshot, the terms of the entries after
   * it) and checks the invariants a save keeps; a violation is ERR_STORE_CORRUPT.
   */
  static restore<T extends LogMeta>(this: new () => T, hardState: HardState, snapshot: Snapshot | null, terms: NumberLog, parallel = false): T {
    const s = new this();
    s.parallel = parallel;
    try {
      if (snapshot !== null) checkSnapshotShape(snapshot, 'loaded snapshot');
      checkHardStateShape(hardState, 'loaded hardState');
    } catch (err) {
      throw new StoreError('ERR_STORE_CORRUPT', (err as Error).message);
    }
    s.#snapshot = snapshot;
    s.#hardState = hardState;
    let prev = snapshot?.meta.term ?? 0;
    for (let k = 0; k < terms.length; k++) {
      const t = terms.at(k);
      if (t < prev && !parallel) throw new StoreError('ERR_STORE_CORRUPT', `entry ${s.firstIndex() + k} has term ${t}, below the term ${prev} before it`);
      s.#terms.push(t);
      prev = t;
    }
    return s;
  }

  get hardState(): HardState {
    return this.#hardState;
  }

  get snapshot(): Snapshot | null {
    return this.#snapshot;
  }

  snapshotIndex(): Index {
    return this.#snapshot?.meta.index ?? 0;
  }

  firstIndex(): Index {
    return this.snapshotIndex() + 1;
  }

  lastIndex(): Index {
    return this.snapshotIndex() + this.#terms.length;
  }

  /** The term of entry `i`, of the snapshot when i is its index, 0 for index 0; undefined if absent. */
  termAt(i: Index): Term | undefined {
    const snap = this.snapshotIndex();
    if (i === snap) return this.#snapshot?.meta.term ?? 0;
    if (i < snap || i > this.lastIndex()) return undefined;
    return this.#terms.at(i - snap - 1);
  }

  /** Throws ERR_STORE_INVALID naming what is wrong unless `batch` may be applied now. */
  checkBatch(batch: StoreBatch): void {
    let snapIndex = this.snapshotIndex();
    let snapTerm = this.#snapshot?.meta.term ?? 0;
    let last = this.lastIndex();
    const commit = this.#hardState.commit;
    if (batch.snapshot !== null) {
      checkSnapshotShape(batch.snapshot, 'batch.snapshot');
      const i = batch.snapshot.meta.index;
      if (this.#snapshot !== null && i <= snapIndex) {
        throw invalid(`batch.snapshot.meta.index ${i} is not newer than the stored snapshot (index ${snapIndex})`);
      }
      if (i < commit) {
        throw invalid(`batch.snapshot.meta.index ${i} is below the stored commit index ${commit}: installing it would drop committed entries`);
      }
      snapIndex = i;
      snapTerm = batch.snapshot.meta.term;
      last = i;
    }
    if (batch.entries.length > 0) {
      checkEntryShape(batch.entries[0]!, 'batch.entries[0]');
      const first = batch.entries[0]!.index;
      if (first <= snapIndex) {
        throw invalid(`batch.entries[0].index ${first} is at or below the snapshot index ${snapIndex}`);
      }
      if (first <= commit) {
        throw invalid(`batch.entries[0].index ${first} would overwrite committed entries (stored commit index ${commit})`);
      }
      const prevTerm = first - 1 === snapIndex ? snapTerm : (this.termAt(first - 1) ?? 0);
      this.#checkAppend(batch.entries, last, prevTerm, 'batch.', 1);
      last = batch.entries[batch.entries.length - 1]!.index;
    }
    const fills = batch.fills ?? [];
    if (fills.length > 0 && !this.parallel) throw invalid('batch.fills are only for stores opened in parallel mode');
    fills.forEach((e, k) => {
      checkEntryShape(e, `batch.fills[${k}]`);
      if (e.term === 0) throw invalid(`batch.fills[${k}] (index ${e.index}) is a hole: fills replace holes, they are never one`);
      if (e.index <= snapIndex || e.index > last) {
        throw invalid(`batch.fills[${k}].index ${e.index} is outside the stored log (${snapIndex + 1}..${last})`);
      }
      if (e.index <= commit) throw invalid(`batch.fills[${k}].index ${e.index} would overwrite a committed entry (stored commit index ${commit})`);
    });
    if (batch.hardState !== null) this.#checkHardState(batch.hardState, last);
  }

  /** Shape, contiguity and term order of entries appended after index `last` (or overwriting). */
  #checkAppend(entries: readonly Entry[], last: Index, prevTerm: Term, where: string, shapeCheckedBelow = 0): void {
    let prev: Entry | undefined;
    for (let k = 0; k < entries.length; k++) {
      const e = entries[k]!;
      if (k >= shapeCheckedBelow) checkEntryShape(e, `${where}entries[${k}]`);
      if (prev === undefined) {
        if (e.index > last + 1) {
          throw invalid(`gap: ${where}entries[0].index is ${e.index} but the last stored index is ${last} (expected at most ${last + 1})`);
        }
        if (e.term < prevTerm && !this.parallel) {
          throw invalid(`${where}entries[0].term ${e.term} is below the term ${prevTerm} of the entry before it (index ${e.index - 1})`);
        }
      } else {
        if (e.index !== prev.index + 1) {
          throw invalid(`${where}entries are not contiguous: entries[${k}].index is ${e.index} after entries[${k - 1}].index ${prev.index}`);
        }
        if (e.term < prev.term && !this.parallel) {
          throw invalid(`${where}entries[${k}].term ${e.term} is below entries[${k - 1}].term ${prev.term}`);
        }
      }
      prev = e;
    }
  }

  #checkHardState(hs: HardState, last: Index): void {
    checkHardStateShape(hs, 'batch.hardState');
    const cur = this.#hardState;
    if (hs.term < cur.term) throw invalid(`batch.hardState.term ${hs.term} is below the stored term ${cur.term}`);
    if (hs.term === cur.term && cur.vote !== null && hs.vote !== cur.vote) {
      throw invalid(`batch.hardState.vote changes from '${cur.vote}' to '${String(hs.vote)}' within term ${hs.term}`);
    }
    if (hs.commit > last) throw invalid(`batch.hardState.commit ${hs.commit} is beyond the last index ${last}`);
  }

  /** Applies a batch that checkBatch() accepted: snapshot, then entries, then hard state. */
  applyBatch(batch: StoreBatch): void {
    this.#applyMeta(batch);
  }

  #applyMeta(batch: StoreBatch): void {
    if (batch.snapshot !== null) {
      this.#snapshot = batch.snapshot;
      this.#terms.clear();
    }
    const n = batch.entries.length;
    if (n > 0) {
      this.#terms.truncate(batch.entries[0]!.index - this.firstIndex());
      for (let k = 0; k < n; k++) this.#terms.push(batch.entries[k]!.term);
    }
    for (const e of batch.fills ?? []) this.#terms.set(e.index - this.firstIndex(), e.term);
    if (batch.hardState !== null) this.#hardState = batch.hardState;
  }

  /** Throws ERR_STORE_INVALID unless `snap` (taken locally) may compact the log now. */
  checkCompaction(snap: Snapshot): void {
    checkSnapshotShape(snap, 'snapshot');
    const i = snap.meta.index;
    const cur = this.snapshotIndex();
    if (this.#snapshot !== null && i <= cur) {
      throw invalid(`snapshot index ${i} is not newer than the stored snapshot (index ${cur})`);
    }
    if (i > this.lastIndex()) throw invalid(`snapshot index ${i} is beyond the last index ${this.lastIndex()}`);
    const term = this.termAt(i);
    if (term !== snap.meta.term) {
      throw invalid(`snapshot term ${snap.meta.term} does not match the term ${String(term)} of entry ${i}`);
    }
  }

  /** Stores a local snapshot that checkCompaction() accepted and drops the entries it covers. */
  applyCompaction(snap: Snapshot): void {
    this.#terms.dropFront(snap.meta.index - this.snapshotIndex());
    this.#snapshot = snap;
  }

  /** Throws unless entries [lo, hi) can be read now: ERR_STORE_COMPACTED below the snapshot. */
  checkRange(lo: Index, hi: Index): void {
    if (!isCount(lo) || !isCount(hi) || lo > hi) {
      throw invalid(`entries(lo, hi) needs safe integers with lo <= hi, got lo=${String(lo)} hi=${String(hi)}`);
    }
    const first = this.firstIndex();
    if (lo < first) {
      throw new StoreError('ERR_STORE_COMPACTED', `entries(${lo}, ${hi}): index ${lo} is compacted (first index is ${first})`);
    }
    if (hi > this.lastIndex() + 1) {
      throw invalid(`entries(${lo}, ${hi}): hi is beyond the last index ${this.lastIndex()} + 1`);
    }
  }
}

/** LogMeta plus the entries themselves, in memory (MemoryStore, IdbStore). */
export class LogState extends LogMeta {
  // Invariant: #entries[k].index === firstIndex() + k and #entries.length === lastIndex() - snapshotIndex().
  #entries: Entry[] = [];

  /** Rebuilds a state from loaded data; a log that breaks a save's invariants is ERR_STORE_CORRUPT. */
  static from(loaded: LoadedState, parallel = false): LogState {
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
    const s = LogState.restore(loaded.hardState, loaded.snapshot, terms, parallel);
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
  state = new LogState();
  holder: MemoryStore | null = null;

  /** `parallel`: a ParallelRaft log (holes, stale entries, in-place fills; see LogMeta.parallel). */
  constructor(options: { readonly parallel?: boolean } = {}) {
    this.state.parallel = options.parallel === true;
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
