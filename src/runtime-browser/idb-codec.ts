// The records IdbStore keeps in IndexedDB. What goes in was validated by the shared LogState
// (ERR_STORE_INVALID); what comes back out is checked here as possibly damaged data
// (ERR_STORE_CORRUPT, naming the database and record), since any script of the origin can edit it.

import { StoreError } from '../core/index.ts';
import type { ConfChange, ConfState, Entry, EntryType, HardState, Snapshot, SnapshotMeta } from '../core/index.ts';

/**
 * Written when the database is created. Version 2 stores entries in runs (idb-records.ts);
 * version 1 stored one entry per record, which version 2 still reads, so a version 1 database
 * opens and is marked version 2 (an older edgeraft then refuses it rather than misread a run).
 * Any other version is refused on open.
 */
export const formatName = 'edgeraft-idb';
export const formatVersion = 2;
export const readableFormatVersions: readonly number[] = [1, 2];

/**
 * Record keys. Entry records are keyed by the index of their first entry (numbers sort before
 * strings in IndexedDB).
 */
export const keyMeta = 'meta';
export const keyHardState = 'hardState';
export const keySnapshotMeta = 'snapshotMeta';
export const keySnapshotData = 'snapshotData';

export interface MetaRecord {
  readonly format: string;
  readonly version: number;
  readonly cluster: string;
  readonly member: string;
}

/** Structured-clone form of an entry: a plain object whose data is a compact Uint8Array. */
export interface EntryRecord {
  readonly term: number;
  readonly index: number;
  readonly type: EntryType;
  readonly data: Uint8Array;
  readonly conf?: ConfChange;
}

const entryTypes: ReadonlySet<string> = new Set(['normal', 'noop', 'config']);
const confTypes: ReadonlySet<string> = new Set(['addVoter', 'addLearner', 'promoteLearner', 'removeNode']);

/** Where a check failed: names the database and the record so a report points at it. */
export type Fail = (detail: string) => never;

export function invalidInput(dbName: string): Fail {
  return (detail) => {
    throw new StoreError('ERR_STORE_INVALID', `IdbStore "${dbName}": ${detail}`);
  };
}

export function corruptRecord(dbName: string, key: IDBValidKey): Fail {
  return (detail) => {
    throw new StoreError('ERR_STORE_CORRUPT', `IndexedDB database "${dbName}", record ${JSON.stringify(key)}: ${detail}`);
  };
}

/**
 * A copy that owns exactly its bytes, taken when save() is called: the write lands a few
 * microtasks later, and the caller may reuse its buffer. (Structured clone would also copy a
 * view's whole underlying buffer: a 256-byte subarray of a 1 MiB frame would store 1 MiB.)
 */
export function copyBytes(data: Uint8Array): Uint8Array {
  return new Uint8Array(data);
}

/** The stored form of a validated entry: the same fields, with its own copy of the data. */
export function copyEntry(e: Entry): EntryRecord {
  const base = { term: e.term, index: e.index, type: e.type, data: copyBytes(e.data) };
  return e.conf === undefined ? base : { ...base, conf: { type: e.conf.type, node: e.conf.node } };
}

export function copySnapshot(s: Snapshot): Snapshot {
  const conf = { voters: [...s.meta.conf.voters], learners: [...s.meta.conf.learners] };
  return { meta: { index: s.meta.index, term: s.meta.term, conf }, data: copyBytes(s.data) };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null;
}

function checkCount(v: unknown, what: string, fail: Fail, min = 0): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) {
    fail(`${what} must be a safe integer >= ${min}, got ${String(v)}`);
  }
  return v;
}

function checkConf(v: unknown, fail: Fail): ConfChange {
  if (!isRecord(v) || typeof v['type'] !== 'string' || !confTypes.has(v['type'])) {
    fail(`conf change has an unknown type: ${JSON.stringify(v)}`);
  }
  if (typeof v['node'] !== 'string' || v['node'] === '') fail(`conf change needs a node id, got ${String(v['node'])}`);
  return { type: v['type'] as ConfChange['type'], node: v['node'] };
}

function checkEntry(v: unknown, fail: Fail): EntryRecord {
  if (!isRecord(v)) fail(`entry must be an object, got ${typeof v}`);
  const index = checkCount(v['index'], 'entry index', fail, 1);
  const term = checkCount(v['term'], `entry ${index} term`, fail);
  const type = v['type'];
  if (typeof type !== 'string' || !entryTypes.has(type)) fail(`entry ${index} has an unknown type ${String(type)}`);
  const data = v['data'];
  if (!(data instanceof Uint8Array)) fail(`entry ${index} data must be a Uint8Array`);
  const hasConf = v['conf'] !== undefined;
  if (hasConf !== (type === 'config')) fail(`entry ${index} of type ${type} ${hasConf ? 'has' : 'lacks'} a conf change`);
  const base = { term, index, type: type as EntryType, data };
  return hasConf ? { ...base, conf: checkConf(v['conf'], fail) } : base;
}

/**
 * Validates an entry record read back under `key`: a run (an array of entries with indexes key,
 * key + 1, ...) or, as format version 1 wrote, one entry whose index is the key.
 */
export function decodeEntryRecord(key: IDBValidKey, value: unknown, dbName: string): Entry[] {
  const fail: Fail = corruptRecord(dbName, key);
  if (!Array.isArray(value)) {
    const e = checkEntry(value, fail);
    if (e.index !== key) fail(`entry stored under key ${String(key)} says index ${e.index}`);
    return [e];
  }
  if (value.length === 0) fail('an entry run holds no entry');
  const out = new Array<Entry>(value.length);
  for (let k = 0; k < value.length; k++) {
    const e = checkEntry(value[k], fail);
    if (e.index !== (key as number) + k) fail(`entry ${k} of the run stored under key ${String(key)} says index ${e.index}, expected ${(key as number) + k}`);
    out[k] = e;
  }
  return out;
}

export function checkHardState(v: unknown, fail: Fail): HardState {
  if (!isRecord(v)) fail(`hard state must be an object, got ${typeof v}`);
  const term = checkCount(v['term'], 'hard state term', fail);
  const commit = checkCount(v['commit'], 'hard state commit', fail);
  const vote = v['vote'];
  if (vote !== null && (typeof vote !== 'string' || vote === '')) fail(`hard state vote must be null or a node id, got ${String(vote)}`);
  return { term, vote, commit };
}

function checkIds(v: unknown, what: string, fail: Fail): string[] {
  if (!Array.isArray(v) || !v.every((id) => typeof id === 'string' && id !== '')) fail(`${what} must be an array of node ids`);
  return [...(v as string[])];
}

export function checkSnapshotMeta(v: unknown, fail: Fail): SnapshotMeta {
  if (!isRecord(v)) fail(`snapshot meta must be an object, got ${typeof v}`);
  const index = checkCount(v['index'], 'snapshot index', fail, 1);
  const term = checkCount(v['term'], 'snapshot term', fail);
  const conf = v['conf'];
  if (!isRecord(conf)) fail('snapshot conf must be an object');
  const state: ConfState = { voters: checkIds(conf['voters'], 'snapshot voters', fail), learners: checkIds(conf['learners'], 'snapshot learners', fail) };
  return { index, term, conf: state };
}

export function checkMeta(v: unknown, fail: Fail): MetaRecord {
  if (!isRecord(v) || typeof v['format'] !== 'string' || typeof v['version'] !== 'number') {
    fail('meta record must be {format, version, cluster, member}');
  }
  if (typeof v['cluster'] !== 'string' || typeof v['member'] !== 'string') fail('meta record lacks cluster or member');
  return { format: v['format'], version: v['version'], cluster: v['cluster'], member: v['member'] };
}
