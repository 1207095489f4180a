// Transactions as the SDK's users write them: plain objects (no builder), checked here and turned
// into the protocol's compares and operations. A transaction is one log entry: its compares are
// evaluated and one branch runs, atomically, at one revision (etcd's Txn).

import {
  compareOps, compareTargets, type Compare as WireCompare, type CompareOp, type CompareTarget, type TxnOp as WireTxnOp, type Value,
} from '../core/kv/command.ts';
import type { TxnOpResult as WireTxnResult } from '../core/kv/machine.ts';
import { ClientError } from './errors.ts';
import { fromWire, requestKey, requestRange, type Key, type KeyValue, type RangeSpec } from './keys.ts';
import { protocolDefaults } from './protocol.ts';

export type { CompareOp, CompareTarget };

/** Something that names a lease: a granted Lease, or its id. */
export type LeaseRef = number | { readonly id: number };

/**
 * One condition, on one key. A missing key has version, createRevision, modRevision and lease 0,
 * and no value: a value compare on it holds only for '!='. So `{ key, target: 'createRevision',
 * op: '=', value: 0 }` means "the key does not exist", and `{ target: 'version', op: '>', value:
 * 0 }` that it does.
 */
export type Compare = WireCompare<Key>;

/** One operation of a branch. `range` and `deleteRange` take a RangeSpec's fields. */
export type TxnOp =
  | { readonly op: 'put'; readonly key: Key; readonly value: Value; readonly lease?: LeaseRef }
  | { readonly op: 'delete'; readonly key: Key }
  | ({ readonly op: 'deleteRange' } & RangeSpec)
  | { readonly op: 'get'; readonly key: Key }
  | ({ readonly op: 'range'; readonly limit?: number } & RangeSpec);

export interface TxnRequest {
  readonly compare?: readonly Compare[];
  /** Runs when every compare holds (all of them: an empty list holds). */
  readonly success?: readonly TxnOp[];
  /** Runs otherwise. */
  readonly failure?: readonly TxnOp[];
}

/** What one operation gave, in the order of the branch that ran. */
export type TxnOpResult = WireTxnResult<KeyValue>;

export interface TxnResponse {
  /** Whether the compares held (the success branch ran). */
  readonly succeeded: boolean;
  /** The transaction's revision (its log index). */
  readonly revision: number;
  readonly results: readonly TxnOpResult[];
}

function bad(message: string): ClientError {
  return new ClientError('ERR_BAD_REQUEST', message);
}

/** The id of a lease reference, checked. */
export function leaseIdOf(l: LeaseRef | undefined, what = 'lease'): number {
  if (l === undefined) return 0;
  const id = typeof l === 'number' ? l : typeof l === 'object' && l !== null ? l.id : Number.NaN;
  if (!Number.isSafeInteger(id) || id < 0) throw bad(`${what} must be a lease (or its id, a non-negative integer), got ${String(id)}`);
  return id;
}

function isValue(v: unknown): v is Value {
  return typeof v === 'string' || v instanceof Uint8Array;
}

export function toWireCompare(c: Compare, i: number): WireCompare {
  const what = `compare ${i}`;
  if (typeof c !== 'object' || c === null) throw bad(`${what} must be { key, target, op, value }`);
  const key = requestKey(c.key, `${what}'s key`);
  if (!compareTargets.includes(c.target)) throw bad(`${what}'s target must be one of ${compareTargets.join(', ')} (got ${JSON.stringify(c.target)})`);
  if (!compareOps.includes(c.op)) throw bad(`${what}'s op must be one of ${compareOps.join(' ')} (got ${JSON.stringify(c.op)})`);
  if (c.target === 'value') {
    if (!isValue(c.value)) throw bad(`${what} compares a value: its value must be a string or a Uint8Array`);
    return { key, target: 'value', op: c.op, value: c.value };
  }
  if (!Number.isSafeInteger(c.value) || c.value < 0) throw bad(`${what} compares ${c.target}: its value must be a non-negative integer (got ${String(c.value)})`);
  return { key, target: c.target, op: c.op, value: c.value };
}

export function toWireOp(o: TxnOp, what: string): WireTxnOp {
  if (typeof o !== 'object' || o === null) throw bad(`${what} must be an operation object`);
  switch (o.op) {
    case 'put': {
      if (!isValue(o.value)) throw bad(`${what} (put)'s value must be a string or a Uint8Array`);
      const lease = leaseIdOf(o.lease, `${what} (put)'s lease`);
      return lease === 0 ? { op: 'put', key: requestKey(o.key, `${what}'s key`), value: o.value } : { op: 'put', key: requestKey(o.key, `${what}'s key`), value: o.value, lease };
    }
    case 'delete': return { op: 'delete', key: requestKey(o.key, `${what}'s key`) };
    case 'get': return { op: 'get', key: requestKey(o.key, `${what}'s key`) };
    case 'deleteRange': {
      const r = requestRange(o, what);
      return { op: 'deleteRange', start: r.start, end: r.end };
    }
    case 'range': {
      const r = requestRange(o, what);
      // Always sent: the protocol has no "no limit" for a range inside a transaction.
      const limit = o.limit ?? protocolDefaults.scanLimitMax;
      if (!Number.isSafeInteger(limit) || limit < 1) throw bad(`${what} (range)'s limit must be a positive integer (got ${String(o.limit)})`);
      return { op: 'range', start: r.start, end: r.end, limit };
    }
    default:
      throw bad(`${what}'s op must be put, delete, deleteRange, get or range (got ${JSON.stringify((o as { op: unknown }).op)})`);
  }
}

/** The protocol's form of a transaction, checked (every problem names the item). */
export function toWireTxn(t: TxnRequest): { compare: WireCompare[]; success: WireTxnOp[]; failure: WireTxnOp[] } {
  if (typeof t !== 'object' || t === null) throw bad('a transaction must be { compare, success, failure }');
  const list = <T>(x: readonly T[] | undefined, name: string): readonly T[] => {
    if (x === undefined) return [];
    if (!Array.isArray(x)) throw bad(`the transaction's ${name} must be a list`);
    return x;
  };
  return {
    compare: list(t.compare, 'compare').map((c, i) => toWireCompare(c, i)),
    success: list(t.success, 'success').map((o, i) => toWireOp(o, `success ${i}`)),
    failure: list(t.failure, 'failure').map((o, i) => toWireOp(o, `failure ${i}`)),
  };
}

export function fromWireResult(r: WireTxnResult): TxnOpResult {
  switch (r.op) {
    case 'put': return { op: 'put' };
    case 'delete': return { op: 'delete', deleted: r.deleted };
    case 'deleteRange': return { op: 'deleteRange', deleted: r.deleted };
    case 'get': return { op: 'get', kv: r.kv === null ? null : fromWire(r.kv) };
    case 'range': return { op: 'range', kvs: r.kvs.map(fromWire), more: r.more };
  }
}
