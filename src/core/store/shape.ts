// Shape checks for what a store is asked to write or finds on load: one entry, a hard state, a
// snapshot. They look at one value at a time; where it may go in the log is LogMeta's business.
import { StoreError } from '../storage.ts';
import type { ConfChange, ConfState, Entry, HardState, Snapshot } from '../types.ts';

/** Largest entry payload a store accepts (the WAL frames records with a 32-bit length). */
export const storeEntryDataBytesMax = 256 * 1024 * 1024;
/** Longest node id (in UTF-16 code units) a store accepts in a vote or a membership list. */
export const storeNodeIdLengthMax = 1024;

const confTypes = new Set(['addVoter', 'addLearner', 'promoteLearner', 'removeNode']);

export function invalid(message: string): StoreError {
  return new StoreError('ERR_STORE_INVALID', message);
}

export function isCount(n: unknown): n is number {
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

