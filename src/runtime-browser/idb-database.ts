// IndexedDB plumbing for IdbStore: opening a member's database (schema, meta record, version
// refusal), reading it whole into checked records, idb-keyval's UseStore over our own connection
// (so readwrite transactions get an explicit durability), and mapping IndexedDB errors to StoreError.

import { getMany, promisifyRequest } from 'idb-keyval';
import type { UseStore } from 'idb-keyval';
import { StoreError, assert, emptyHardState } from '../core/index.ts';
import type { Entry, HardState, LoadedState, LogRules, Snapshot } from '../core/index.ts';
import { LogState } from '../core/store/log-state.ts';
import {
  checkHardState, checkMeta, checkSnapshotMeta, corruptRecord, decodeEntryRecord, formatName, formatVersion,
  keyHardState, keyMeta, keySnapshotData, keySnapshotMeta, readableFormatVersions,
} from './idb-codec.ts';
import type { Fail, MetaRecord } from './idb-codec.ts';

/** 'strict' waits for the OS flush; 'relaxed' is faster but a power loss can undo a resolved save. */
export type IdbDurability = 'strict' | 'relaxed' | 'default';

/** Bumped only with a migration in openDatabase(); a newer database is refused with ERR_STORE_VERSION. */
export const schemaVersion = 1;
/** The one object store: entries under their index (numbers), meta records under string keys. */
export const storeName = 'log';
/** Every entry key and no string key: numbers sort before strings in IndexedDB. */
export const allEntries = (): IDBKeyRange => IDBKeyRange.bound(-Infinity, Infinity);

/** Opens the database, creating its object store and meta record in the upgrade transaction. */
export function openDatabase(factory: IDBFactory, name: string, meta: MetaRecord): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    let request: IDBOpenDBRequest;
    try {
      request = factory.open(name, schemaVersion);
    } catch (err) {
      reject(new StoreError('ERR_STORE_IO', `opening IndexedDB database "${name}" failed: ${describe(err)}`));
      return;
    }
    request.onupgradeneeded = (event) => {
      // Schema 1 is the first, so only a brand-new database gets here.
      assert(event.oldVersion === 0, () => `no migration from schema ${event.oldVersion} to ${schemaVersion}`);
      request.result.createObjectStore(storeName).put(meta, keyMeta);
    };
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => {
      const err = request.error;
      if (err?.name === 'VersionError') {
        reject(new StoreError('ERR_STORE_VERSION', `IndexedDB database "${name}" has a schema newer than version ${schemaVersion}, which this edgeraft reads: upgrade edgeraft, or IdbStore.destroy() the member to rejoin empty`));
      } else if (err?.name === 'QuotaExceededError') {
        reject(new StoreError('ERR_STORE_QUOTA', `creating IndexedDB database "${name}" exceeded the origin's storage quota: free space for this origin`));
      } else {
        reject(new StoreError('ERR_STORE_IO', `opening IndexedDB database "${name}" failed: ${describe(err)}`));
      }
    };
  });
}

/**
 * Refuses a database that edgeraft did not write, or wrote in a format version this one cannot
 * read. Returns the meta record (its version may be an older readable one).
 */
export async function checkMetaRecord(db: IDBDatabase, store: UseStore, name: string, options: { cluster: string; member: string }): Promise<MetaRecord> {
  if (!db.objectStoreNames.contains(storeName)) {
    throw new StoreError('ERR_STORE_CORRUPT', `IndexedDB database "${name}" has no object store "${storeName}": it was not created by edgeraft`);
  }
  const [metaValue] = await getMany([keyMeta], store);
  const fail: Fail = corruptRecord(name, keyMeta);
  const meta = checkMeta(metaValue, fail);
  if (meta.format !== formatName) fail(`format is ${JSON.stringify(meta.format)}, not ${formatName}`);
  if (!readableFormatVersions.includes(meta.version)) {
    throw new StoreError('ERR_STORE_VERSION', `IndexedDB database "${name}" has format version ${meta.version}, but this edgeraft reads versions ${readableFormatVersions.join(' and ')}: use the edgeraft that wrote it, or IdbStore.destroy() the member to rejoin empty`);
  }
  if (meta.cluster !== options.cluster || meta.member !== options.member) {
    fail(`belongs to cluster ${JSON.stringify(meta.cluster)} member ${JSON.stringify(meta.member)}, not ${JSON.stringify(options.cluster)} ${JSON.stringify(options.member)}`);
  }
  return meta;
}

/** Marks a readable older database as the current format, before anything is written in it. */
export async function upgradeMetaRecord(store: UseStore, name: string, meta: MetaRecord): Promise<void> {
  if (meta.version === formatVersion) return;
  await store('readwrite', (s) => {
    s.put({ ...meta, version: formatVersion }, keyMeta);
    return transactionDone(s.transaction);
  }).catch((err: unknown) => {
    throw writeError(err, name, `the meta record (format version ${meta.version} to ${formatVersion})`);
  });
}

/**
 * Reads every record in one transaction and checks each one on its own. Also returns the keys of
 * the entry records (their first indexes), in order.
 */
export async function readAll(store: UseStore, name: string): Promise<{ loaded: LoadedState; recordStarts: number[] }> {
  const [hardValue, metaValue, dataValue, keys, values] = await store('readonly', (s) => Promise.all([
    promisifyRequest(s.get(keyHardState)),
    promisifyRequest(s.get(keySnapshotMeta)),
    promisifyRequest(s.get(keySnapshotData)),
    promisifyRequest(s.getAllKeys(allEntries())),
    promisifyRequest(s.getAll(allEntries())),
  ])).catch((err: unknown) => {
    throw new StoreError('ERR_STORE_IO', `reading IndexedDB database "${name}" failed: ${describe(err)}`);
  });
  const hardState: HardState = hardValue === undefined ? emptyHardState : checkHardState(hardValue, corruptRecord(name, keyHardState));
  const snapshot = decodeSnapshot(metaValue, dataValue, name);
  const entries: Entry[] = [];
  for (let k = 0; k < keys.length; k++) {
    for (const e of decodeEntryRecord(keys[k]!, values[k], name)) entries.push(e);
  }
  return { loaded: { hardState, snapshot, entries }, recordStarts: keys as number[] };
}

/** The records' relations (no gaps, terms in order, entries right after the snapshot). */
export function logStateFrom(loaded: LoadedState, name: string, rules: LogRules): LogState {
  try {
    return LogState.from(loaded, rules);
  } catch (err) {
    if (!(err instanceof StoreError)) throw err;
    throw new StoreError('ERR_STORE_CORRUPT', `IndexedDB database "${name}" holds an inconsistent log: ${err.message}`);
  }
}

/** idb-keyval's store protocol on our own connection, with the chosen durability for writes. */
export function storeOf(db: IDBDatabase, durability: IdbDurability): UseStore {
  return <T>(mode: IDBTransactionMode, callback: (store: IDBObjectStore) => T | PromiseLike<T>): Promise<T> => {
    try {
      const tx = mode === 'readwrite' ? db.transaction(storeName, mode, { durability }) : db.transaction(storeName, mode);
      return Promise.resolve(callback(tx.objectStore(storeName)));
    } catch (err) {
      return Promise.reject(err);
    }
  };
}

/** Resolves on commit; rejects with the transaction's error (QuotaExceededError arrives here). */
export function transactionDone(tx: IDBTransaction): Promise<void> {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onabort = () => reject(tx.error ?? new DOMException('the transaction was aborted', 'AbortError'));
  });
}

/** Maps a failed write transaction; `what` says what it was writing (bytes, entries, saves). */
export function writeError(err: unknown, name: string, what: string): StoreError {
  if (err instanceof StoreError) return err;
  if (errorName(err) === 'QuotaExceededError') {
    return new StoreError('ERR_STORE_QUOTA', `IndexedDB quota exceeded in database "${name}" while writing ${what} in one transaction. ` +
      'Free space for this origin: delete databases of clusters or members no longer used (IdbStore.destroy()), snapshot more often ' +
      'so saveSnapshot() compacts the log, or ask for persistent storage with navigator.storage.persist(); ' +
      'navigator.storage.estimate() shows usage and quota. The store is now failed: close and reopen it to go on.');
  }
  return new StoreError('ERR_STORE_IO', `IndexedDB transaction on database "${name}" failed while writing ${what}: ${describe(err)}. The store is now failed: close and reopen it.`);
}

function errorName(err: unknown): string {
  return typeof err === 'object' && err !== null && 'name' in err && typeof err.name === 'string' ? err.name : 'Error';
}

export function describe(err: unknown): string {
  if (err instanceof Error || (typeof err === 'object' && err !== null && 'message' in err)) {
    return `${errorName(err)}: ${String((err as { message: unknown }).message)}`;
  }
  return String(err);
}

function decodeSnapshot(metaValue: unknown, dataValue: unknown, name: string): Snapshot | null {
  if (metaValue === undefined && dataValue === undefined) return null;
  const meta = checkSnapshotMeta(metaValue, corruptRecord(name, keySnapshotMeta));
  const fail: Fail = corruptRecord(name, keySnapshotData);
  if (!(dataValue instanceof Uint8Array)) fail(`snapshot ${meta.index} data must be a Uint8Array`);
  return { meta, data: dataValue };
}
