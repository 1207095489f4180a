// The browser's durable Raft log: a LogStore on IndexedDB through idb-keyval's store protocol.
// One database per cluster and member, one readwrite transaction per group of saves (a Ready's
// snapshot, entries and hard state commit together), strict durability by default. Entries are
// stored in runs, many to a record (idb-records.ts), so a catch-up costs few records.
// A save is checked and applied to an in-memory LogState when called, so overlapping saves take
// effect in call order; a failed transaction fails the store, and reopening reloads what landed.
// A second opener of the same member in the origin is refused (Web Locks, see idb-lock.ts).
// Opened with ParallelRaft's log rules (a follower-reader of a parallel cluster), it also keeps
// holes and falling terms, and writes fills in place: each rewrites the record holding it, in the
// same transaction as the rest of its save, so a crash leaves the fill wholly there or not at all.
//
// Why not idb-keyval's createStore(): it opens transactions with the browser's default durability,
// which is 'relaxed' since Chrome 121 (the complete event fires before the OS flushes), and it
// cannot close its connection. A vote must be on disk before it is sent, so this file opens the
// database itself and hands idb-keyval a UseStore whose readwrite transactions are 'strict'.

import { promisifyRequest } from 'idb-keyval';
import type { UseStore } from 'idb-keyval';
import { StoreError, assert, entryBytes, raftLogRules } from '../core/index.ts';
import type { Entry, Index, LoadedState, LogRules, LogStore, Snapshot, StoreBatch } from '../core/index.ts';
// LogState is the log model every store validates through, so all stores refuse the same batches.
// TODO(lead): re-export it from src/core/index.ts; imports across folders should go through it.
import type { LogState } from '../core/store/log-state.ts';
import { copyEntry, copySnapshot, formatName, formatVersion, invalidInput, keyHardState, keySnapshotData, keySnapshotMeta } from './idb-codec.ts';
import type { EntryRecord, Fail } from './idb-codec.ts';
import { checkMetaRecord, describe, logStateFrom, openDatabase, readAll, storeOf, transactionDone, upgradeMetaRecord, writeError } from './idb-database.ts';
import type { IdbDurability } from './idb-database.ts';
import { defaultLockManager, tryLock } from './idb-lock.ts';
import type { LockRelease } from './idb-lock.ts';
import { EntryRecords } from './idb-records.ts';
import type { WriteOp } from './idb-records.ts';

export type { IdbDurability } from './idb-database.ts';

export interface IdbStoreOptions {
  readonly cluster: string;
  readonly member: string;
  /** Default 'strict'. Only use 'relaxed' when a crash of the whole machine may lose votes. */
  readonly durability?: IdbDurability;
  /** The IndexedDB factory; default globalThis.indexedDB (tests pass fake-indexeddb's). */
  readonly indexedDB?: IDBFactory;
  /**
   * Web Locks used to refuse a second opener in another tab; default navigator.locks. With null
   * (or where Web Locks are missing) an in-process registry refuses only openers of this page.
   */
  readonly locks?: LockManager | null;
  /** Saves queued while a transaction runs are grouped into the next one, up to this many bytes. */
  readonly transactionBytesMax?: number;
  /**
   * Bytes of entries (entryBytes) stored in one IndexedDB record: a save's entries go into runs of
   * up to this size, so many entries cost one record (a record costs about as much to write as
   * its bytes). A truncation or compaction rewrites at most one record's worth.
   */
  readonly recordBytesMax?: number;
  /** Bytes accepted by save() but not yet durable; a save beyond it is refused (ERR_STORE_INVALID). */
  readonly pendingBytesMax?: number;
  /**
   * The rules the log keeps: plain Raft's by default; `logRulesFor('parallel')` for a replica of a
   * ParallelRaft cluster (holes, falling terms, in-place fills). Not stored: give the same each open.
   */
  readonly logRules?: LogRules;
}

export const idbStoreDefaults = {
  durability: 'strict',
  transactionBytesMax: 8 * 1024 * 1024,
  pendingBytesMax: 64 * 1024 * 1024,
  // Under the ~64 KiB above which Chromium writes a value to a blob file of its own.
  recordBytesMax: 60 * 1024,
} as const;
assert(idbStoreDefaults.transactionBytesMax <= idbStoreDefaults.pendingBytesMax, 'a transaction must fit in the pending bytes');

/** Bytes counted for a hard state or snapshot meta record in limits and error messages. */
const recordBytes = 64;

type StoreState = 'open' | 'closing' | 'closed' | 'failed';

/** One save() or saveSnapshot(), validated and turned into IndexedDB requests. */
interface WritePlan {
  readonly ops: readonly WriteOp[];
  readonly bytes: number;
  readonly entryCount: number;
}

interface PendingWrite extends WritePlan {
  readonly resolve: () => void;
  readonly reject: (err: StoreError) => void;
}

interface Limits {
  readonly logRules: LogRules;
  readonly durability: IdbDurability;
  readonly transactionBytesMax: number;
  readonly pendingBytesMax: number;
  readonly recordBytesMax: number;
}

/** How a planned write changes the entry records' index, applied once the write is accepted. */
interface RecordChange {
  readonly clear: boolean;
  readonly truncateFrom: Index | null;
  /** Records a fill's rewrite split off (inside the log, below every appended record). */
  readonly inserted: readonly number[];
  readonly starts: readonly number[];
}

export class IdbStore implements LogStore {
  readonly databaseName: string;
  readonly #db: IDBDatabase;
  readonly #useStore: UseStore;
  readonly #release: LockRelease;
  readonly #limits: Limits;
  #state: StoreState = 'open';
  #failure: StoreError | null = null;
  /**
   * The accepted view: the log once every save() called so far is durable. New saves are checked
   * against it, so overlapping calls validate in call order; entries() and load() read it.
   * Like the core's own log it holds the entries after the snapshot, so compaction bounds it.
   */
  readonly #log: LogState;
  /** The entry records of the accepted view (which keys hold which entries). */
  readonly #records: EntryRecords;
  // Invariant: at most one readwrite transaction in flight; queued writes wait for it, in call order.
  #queue: PendingWrite[] = [];
  #inflight: readonly PendingWrite[] | null = null;
  #flushScheduled = false;
  /** Bytes in #queue and #inflight. Invariant: <= pendingBytesMax unless one write alone exceeds it. */
  #pendingBytes = 0;
  #idleWaiters: Array<() => void> = [];
  #closed: Promise<void> | null = null;

  private constructor(name: string, db: IDBDatabase, release: LockRelease, limits: Limits, log: LogState, recordStarts: readonly number[]) {
    this.databaseName = name;
    this.#db = db;
    this.#release = release;
    this.#limits = limits;
    this.#log = log;
    this.#records = new EntryRecords(recordStarts, limits.recordBytesMax);
    this.#useStore = storeOf(db, limits.durability);
    db.onversionchange = () => {
      // Another connection deletes or upgrades the database: let it, and stop writing.
      this.#fail(new StoreError('ERR_STORE_CLOSED', `IndexedDB database "${name}" was deleted or upgraded by another connection`));
      db.close();
    };
    db.onclose = () => {
      this.#fail(new StoreError('ERR_STORE_IO', `the browser closed IndexedDB database "${name}" (site data cleared?); reopen the store`));
    };
  }

  /** `edgeraft:<cluster>:<member>`, each part URI-encoded so a ':' in an id cannot collide. */
  static databaseName(cluster: string, member: string): string {
    const fail: Fail = invalidInput(`edgeraft:${cluster}:${member}`);
    if (typeof cluster !== 'string' || cluster === '') fail(`cluster must be a non-empty string, got ${JSON.stringify(cluster)}`);
    if (typeof member !== 'string' || member === '') fail(`member must be a non-empty string, got ${JSON.stringify(member)}`);
    return `edgeraft:${encodeURIComponent(cluster)}:${encodeURIComponent(member)}`;
  }

  /**
   * Takes the member's lock, opens (or creates) its database and reads it whole. Refuses a member
   * open elsewhere (ERR_STORE_LOCKED), a database of another format version (ERR_STORE_VERSION)
   * and damaged records (ERR_STORE_CORRUPT).
   */
  static async open(options: IdbStoreOptions): Promise<IdbStore> {
    const name = IdbStore.databaseName(options.cluster, options.member);
    const limits = resolveLimits(options, name);
    const factory = factoryOf(options, name);
    const release = await lockOrRefuse(name, options, factory);
    try {
      const db = await openDatabase(factory, name, { format: formatName, version: formatVersion, cluster: options.cluster, member: options.member });
      try {
        const store = storeOf(db, 'default');
        const meta = await checkMetaRecord(db, store, name, options);
        const { loaded, recordStarts } = await readAll(store, name);
        const log = logStateFrom(loaded, name, limits.logRules);
        await upgradeMetaRecord(storeOf(db, limits.durability), name, meta);
        return new IdbStore(name, db, release, limits, log, recordStarts);
      } catch (err) {
        db.close();
        throw err;
      }
    } catch (err) {
      release();
      throw err;
    }
  }

  /** Deletes a member's database. Refused while a store holds it (ERR_STORE_LOCKED). */
  static async destroy(options: Pick<IdbStoreOptions, 'cluster' | 'member' | 'indexedDB' | 'locks'>): Promise<void> {
    const name = IdbStore.databaseName(options.cluster, options.member);
    const factory = factoryOf(options, name);
    const release = await lockOrRefuse(name, options, factory);
    try {
      await promisifyRequest(factory.deleteDatabase(name)).catch((err: unknown) => {
        throw new StoreError('ERR_STORE_IO', `deleting IndexedDB database "${name}" failed: ${describe(err)}`);
      });
    } finally {
      release();
    }
  }

  /** Everything saved, once every earlier save is durable. */
  async load(): Promise<LoadedState> {
    this.#checkUsable();
    await this.#whenIdle();
    this.#checkUsable();
    return this.#log.loaded();
  }

  save(batch: StoreBatch): Promise<void> {
    try {
      this.#checkWritable();
      this.#log.checkBatch(batch);
      const { plan, applied, records } = this.#planBatch(batch);
      this.#checkPending(plan.bytes);
      this.#applyRecords(records);
      this.#log.applyBatch(applied);
      return this.#enqueue(plan);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  saveSnapshot(snapshot: Snapshot): Promise<void> {
    try {
      this.#checkWritable();
      this.#log.checkCompaction(snapshot);
      const s = copySnapshot(snapshot);
      const index = s.meta.index;
      const ops: WriteOp[] = [
        { kind: 'put', key: keySnapshotMeta, value: s.meta },
        { kind: 'put', key: keySnapshotData, value: s.data },
        // Compaction: the entries the snapshot covers go in the same transaction as the snapshot.
        ...this.#records.planCompact(index, this.#log),
      ];
      const plan: WritePlan = { ops, bytes: s.data.byteLength + recordBytes, entryCount: 0 };
      this.#checkPending(plan.bytes);
      this.#records.compact(index, this.#log.lastIndex());
      this.#log.applyCompaction(s);
      return this.#enqueue(plan);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Entries in [lo, hi) of the accepted view (served from memory, in call order with saves). */
  async entries(lo: Index, hi: Index): Promise<Entry[]> {
    this.#checkUsable();
    return this.#log.range(lo, hi);
  }

  close(): Promise<void> {
    if (this.#closed !== null) return this.#closed;
    if (this.#state === 'open') this.#state = 'closing';
    this.#closed = this.#whenIdle().then(() => {
      this.#state = 'closed';
      this.#failure = new StoreError('ERR_STORE_CLOSED', `IdbStore "${this.databaseName}" is closed`);
      this.#db.close();
      this.#release();
    });
    return this.#closed;
  }

  /**
   * Turns a batch LogState accepted into requests, over copies the caller cannot change, and the
   * change to the entry records it makes (applied only once the batch is accepted).
   */
  #planBatch(batch: StoreBatch): { plan: WritePlan; applied: StoreBatch; records: RecordChange } {
    const ops: WriteOp[] = [];
    let bytes = 0;
    let last = this.#log.lastIndex();
    const snapshot = batch.snapshot === null ? null : copySnapshot(batch.snapshot);
    if (snapshot !== null) {
      // A snapshot from the leader replaces the whole log.
      ops.push(
        { kind: 'delete', lo: -Infinity, hi: Infinity },
        { kind: 'put', key: keySnapshotMeta, value: snapshot.meta },
        { kind: 'put', key: keySnapshotData, value: snapshot.data },
      );
      last = snapshot.meta.index;
      bytes += snapshot.data.byteLength + recordBytes;
    }
    const entries = batch.entries.map(copyEntry);
    const first = entries[0];
    // Fills apply after the entries: one at an index this batch also writes goes into its run;
    // the others rewrite the records already holding their index (LogState checked they exist).
    const fills = new Map<Index, EntryRecord>();
    for (const f of batch.fills ?? []) {
      const e = copyEntry(f);
      if (first !== undefined && e.index >= first.index) entries[e.index - first.index] = e;
      else fills.set(e.index, e);
    }
    // Overwriting a conflicting suffix: the stale entries after the new ones must go too.
    const truncateFrom = first !== undefined && first.index <= last ? first.index : null;
    if (truncateFrom !== null) ops.push(...this.#records.planTruncate(truncateFrom, this.#log));
    const appended = this.#records.planAppend(entries);
    ops.push(...appended.ops);
    for (const e of entries) bytes += entryBytes(e);
    let inserted: number[] = [];
    if (fills.size > 0) {
      const rewritten = this.#records.planFills(fills, (truncateFrom ?? last + 1) - 1, this.#log);
      ops.push(...rewritten.ops);
      bytes += rewritten.bytes;
      inserted = rewritten.starts;
    }
    const hardState = batch.hardState === null ? null : { ...batch.hardState };
    if (hardState !== null) {
      ops.push({ kind: 'put', key: keyHardState, value: hardState });
      bytes += recordBytes;
    }
    return {
      plan: { ops, bytes, entryCount: entries.length + fills.size },
      applied: fills.size > 0 ? { snapshot, entries, fills: [...fills.values()], hardState } : { snapshot, entries, hardState },
      records: { clear: snapshot !== null, truncateFrom, inserted, starts: appended.starts },
    };
  }

  #applyRecords(change: RecordChange): void {
    if (change.clear) this.#records.clear();
    if (change.truncateFrom !== null) this.#records.truncate(change.truncateFrom);
    this.#records.insert(change.inserted);
    this.#records.push(change.starts);
  }

  #checkPending(bytes: number): void {
    const pendingMax = this.#limits.pendingBytesMax;
    if (this.#pendingBytes > 0 && this.#pendingBytes + bytes > pendingMax) {
      invalidInput(this.databaseName)(`${this.#pendingBytes} bytes are not yet durable and ${bytes} more would exceed pendingBytesMax ${pendingMax}: await earlier saves first`);
    }
  }

  /** Queues an accepted write behind the earlier ones. */
  #enqueue(plan: WritePlan): Promise<void> {
    this.#pendingBytes += plan.bytes;
    return new Promise((resolve, reject) => {
      this.#queue.push({ ...plan, resolve, reject });
      if (this.#inflight === null && !this.#flushScheduled) {
        // Saves called in the same turn share the first transaction.
        this.#flushScheduled = true;
        queueMicrotask(() => this.#flush());
      }
    });
  }

  #flush(): void {
    this.#flushScheduled = false;
    if (this.#inflight !== null || this.#queue.length === 0) return;
    const group = this.#takeGroup();
    this.#inflight = group;
    this.#useStore('readwrite', (store) => {
      const done = transactionDone(store.transaction);
      try {
        applyOps(store, group.flatMap((w) => w.ops));
      } catch (err) {
        // A request that throws leaves the transaction active: abort it, or the rest would commit.
        done.catch(() => undefined);
        store.transaction.abort();
        throw err;
      }
      return done;
    }).then(() => this.#groupDone(group), (err: unknown) => this.#groupFailed(group, err));
  }

  #takeGroup(): PendingWrite[] {
    let bytes = 0;
    let n = 0;
    for (const w of this.#queue) {
      if (n > 0 && bytes + w.bytes > this.#limits.transactionBytesMax) break;
      bytes += w.bytes;
      n += 1;
    }
    assert(n >= 1, 'a flush takes at least one queued write');
    return this.#queue.splice(0, n);
  }

  #groupDone(group: readonly PendingWrite[]): void {
    assert(this.#inflight === group, 'the completed transaction is the one in flight');
    this.#inflight = null;
    for (const w of group) {
      this.#pendingBytes -= w.bytes;
      w.resolve();
    }
    if (this.#queue.length > 0) this.#flush();
    else this.#notifyIdle();
  }

  #groupFailed(group: readonly PendingWrite[], err: unknown): void {
    this.#inflight = null;
    const bytes = group.reduce((sum, w) => sum + w.bytes, 0);
    const entryCount = group.reduce((sum, w) => sum + w.entryCount, 0);
    const error = writeError(err, this.databaseName, `${bytes} bytes (${entryCount} entries in ${group.length} saves)`);
    for (const w of group) {
      this.#pendingBytes -= w.bytes;
      w.reject(error);
    }
    this.#fail(error);
  }

  /**
   * Stops the store after a failed write: later saves were accepted assuming it would land, so
   * they are refused too (writing them would leave a gap). Reopening reloads the durable state.
   */
  #fail(error: StoreError): void {
    if (this.#state === 'failed' || this.#state === 'closed') return;
    this.#state = 'failed';
    this.#failure = error;
    const queued = this.#queue.splice(0);
    for (const w of queued) {
      this.#pendingBytes -= w.bytes;
      w.reject(new StoreError(error.code, `not written because an earlier write failed: ${error.message}`));
    }
    if (this.#inflight === null) this.#notifyIdle();
  }

  #whenIdle(): Promise<void> {
    if (this.#inflight === null && this.#queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  #notifyIdle(): void {
    for (const resolve of this.#idleWaiters.splice(0)) resolve();
  }

  #checkWritable(): void {
    this.#checkUsable();
    if (this.#state === 'closing') throw new StoreError('ERR_STORE_CLOSED', `IdbStore "${this.databaseName}" is closing`);
  }

  #checkUsable(): void {
    if (this.#state === 'failed' || this.#state === 'closed') {
      throw this.#failure ?? new StoreError('ERR_STORE_CLOSED', `IdbStore "${this.databaseName}" is closed`);
    }
  }
}

/**
 * Issues a group's requests in call order. A record put several times in one group (the hard
 * state of every grouped Ready) is written once, with its last value: the transaction commits
 * all or nothing, so the earlier values would never be seen.
 */
function applyOps(store: IDBObjectStore, ops: readonly WriteOp[]): void {
  const lastPut = new Map<string, number>();
  ops.forEach((op, i) => {
    if (op.kind === 'put' && typeof op.key === 'string') lastPut.set(op.key, i);
  });
  ops.forEach((op, i) => {
    if (op.kind === 'delete') store.delete(IDBKeyRange.bound(op.lo, op.hi));
    else if (typeof op.key !== 'string' || lastPut.get(op.key) === i) store.put(op.value, op.key);
  });
}

function resolveLimits(options: IdbStoreOptions, name: string): Limits {
  const fail: Fail = invalidInput(name);
  const rules = options.logRules;
  if (rules !== undefined && (typeof rules !== 'object' || rules === null || typeof rules.name !== 'string'
    || typeof rules.termsMayFall !== 'boolean' || typeof rules.fillsAllowed !== 'boolean')) {
    fail('logRules must be a LogRules object (from logRulesFor(mode))');
  }
  const limits: Limits = {
    logRules: rules ?? raftLogRules,
    durability: options.durability ?? idbStoreDefaults.durability,
    transactionBytesMax: options.transactionBytesMax ?? idbStoreDefaults.transactionBytesMax,
    pendingBytesMax: options.pendingBytesMax ?? idbStoreDefaults.pendingBytesMax,
    recordBytesMax: options.recordBytesMax ?? idbStoreDefaults.recordBytesMax,
  };
  if (!['strict', 'relaxed', 'default'].includes(limits.durability)) fail(`durability must be 'strict', 'relaxed' or 'default', got ${String(limits.durability)}`);
  if (!Number.isSafeInteger(limits.transactionBytesMax) || limits.transactionBytesMax < 1) fail(`transactionBytesMax must be a positive integer, got ${limits.transactionBytesMax}`);
  if (!Number.isSafeInteger(limits.recordBytesMax) || limits.recordBytesMax < 1) fail(`recordBytesMax must be a positive integer, got ${limits.recordBytesMax}`);
  if (!Number.isSafeInteger(limits.pendingBytesMax) || limits.pendingBytesMax < limits.transactionBytesMax) {
    fail(`pendingBytesMax must be an integer >= transactionBytesMax (${limits.transactionBytesMax}), got ${limits.pendingBytesMax}`);
  }
  return limits;
}

function factoryOf(options: Pick<IdbStoreOptions, 'indexedDB'>, name: string): IDBFactory {
  const factory = options.indexedDB ?? (globalThis as { indexedDB?: IDBFactory }).indexedDB;
  if (factory === undefined) throw new StoreError('ERR_STORE_IO', `IdbStore "${name}": IndexedDB is not available in this runtime`);
  return factory;
}

async function lockOrRefuse(name: string, options: Pick<IdbStoreOptions, 'locks'>, factory: IDBFactory): Promise<LockRelease> {
  const locks = options.locks === undefined ? defaultLockManager() : options.locks;
  const release = await tryLock(name, locks, factory).catch((err: unknown) => {
    throw new StoreError('ERR_STORE_IO', `IdbStore "${name}": taking the Web Lock failed: ${describe(err)}`);
  });
  if (release === null) {
    const where = locks === null ? 'by another IdbStore in this page or process' : 'by another tab, worker or IdbStore of this origin';
    throw new StoreError('ERR_STORE_LOCKED', `IndexedDB database "${name}" is already open ${where}: one member runs in one place at a time; close the other first`);
  }
  return release;
}

