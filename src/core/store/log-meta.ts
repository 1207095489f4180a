// The log as a store sees it: hard state, latest snapshot, the term of every entry after it, and
// the rules every write must keep. Every store validates through it, so all stores refuse exactly
// the same batches with the same words.
import { StoreError } from '../storage.ts';
import type { StoreBatch } from '../storage.ts';
import { emptyHardState } from '../types.ts';
import type { Entry, HardState, Index, Snapshot, Term } from '../types.ts';
import { raftLogRules, type LogRules } from './log-rules.ts';
import { NumberLog } from './number-log.ts';
import { checkEntryShape, checkHardStateShape, checkSnapshotShape, invalid, isCount } from './shape.ts';

/**
 * The log's metadata as a store exposes it: hard state, latest snapshot, and the terms of the
 * contiguous entries after it, which is all that validation needs. Stores validate a write with
 * check*() at call time, then apply it, so writes take effect in call order and a refused write
 * changes nothing. The file WAL uses this directly (its entries stay on disk); LogState below
 * also keeps the entries.
 */
export class LogMeta {
  readonly #rules: LogRules;
  #hardState: HardState = emptyHardState;
  #snapshot: Snapshot | null = null;
  // Invariant: #terms.at(k) is the term of entry firstIndex() + k; terms never decrease unless the
  // rules let them fall.
  readonly #terms = new NumberLog();

  constructor(rules: LogRules = raftLogRules) {
    this.#rules = rules;
  }

  get rules(): LogRules {
    return this.#rules;
  }

  /**
   * Rebuilds a state from replayed data (hard state, snapshot, the terms of the entries after
   * it) and checks the invariants a save keeps; a violation is ERR_STORE_CORRUPT.
   */
  static restore<T extends LogMeta>(this: new (rules: LogRules) => T, hardState: HardState, snapshot: Snapshot | null, terms: NumberLog, rules: LogRules = raftLogRules): T {
    const s = new this(rules);
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
      if (t < prev && !rules.termsMayFall) throw new StoreError('ERR_STORE_CORRUPT', `entry ${s.firstIndex() + k} has term ${t}, below the term ${prev} before it`);
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
    if (fills.length > 0 && !this.#rules.fillsAllowed) {
      throw invalid(`batch.fills: a log kept by the ${this.#rules.name} rules takes no in-place writes (only a store opened in parallel mode does)`);
    }
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
        if (e.term < prevTerm && !this.#rules.termsMayFall) {
          throw invalid(`${where}entries[0].term ${e.term} is below the term ${prevTerm} of the entry before it (index ${e.index - 1})`);
        }
      } else {
        if (e.index !== prev.index + 1) {
          throw invalid(`${where}entries are not contiguous: entries[${k}].index is ${e.index} after entries[${k - 1}].index ${prev.index}`);
        }
        if (e.term < prev.term && !this.#rules.termsMayFall) {
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
