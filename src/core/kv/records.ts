// The keyspace: every live key with its value and the revisions etcd keeps for it (created at,
// last modified at, writes since creation, attached lease), and ordered range queries over the
// keys' bytes. It knows nothing of commands, sessions or watches; the machine drives it.

import type { Value } from './command.ts';
import type { ByteKey } from './keys.ts';

/** A key as stored and as answered (K: the machine's byte string; the SDK gives users their Key). */
export interface KeyValue<K = ByteKey> {
  readonly key: K;
  readonly value: Value;
  /** The revision (log index) of the write that created the key since it last did not exist. */
  readonly createRevision: number;
  /** The revision of its latest write. */
  readonly modRevision: number;
  /** Writes since creation (1 after the creating one). */
  readonly version: number;
  /** The lease it is attached to, 0 for none. */
  readonly lease: number;
}

export class Records {
  readonly #data = new Map<ByteKey, KeyValue>();
  /** The keys in byte order, rebuilt on demand after a key was added or removed. */
  #sorted: ByteKey[] | null = null;

  get size(): number {
    return this.#data.size;
  }

  get(key: ByteKey): KeyValue | undefined {
    return this.#data.get(key);
  }

  /** Writes `value` at `revision`; returns the new record and the one it replaced. */
  put(key: ByteKey, value: Value, revision: number, lease: number): { kv: KeyValue; prev: KeyValue | undefined } {
    const prev = this.#data.get(key);
    const kv: KeyValue = prev === undefined
      ? { key, value, createRevision: revision, modRevision: revision, version: 1, lease }
      : { key, value, createRevision: prev.createRevision, modRevision: revision, version: prev.version + 1, lease };
    this.#data.set(key, kv);
    if (prev === undefined) this.#sorted = null;
    return { kv, prev };
  }

  /** Removes a key; returns what it held. */
  delete(key: ByteKey): KeyValue | undefined {
    const prev = this.#data.get(key);
    if (prev === undefined) return undefined;
    this.#data.delete(key);
    this.#sorted = null;
    return prev;
  }

  /** Loads a record as it was snapshotted. */
  load(kv: KeyValue): void {
    this.#data.set(kv.key, kv);
    this.#sorted = null;
  }

  clear(): void {
    this.#data.clear();
    this.#sorted = null;
  }

  values(): IterableIterator<KeyValue> {
    return this.#data.values();
  }

  /** The keys in [start, end) in byte order (end null: no upper bound), at most `limit`. */
  keysInRange(start: ByteKey, end: ByteKey | null, limit = Infinity): ByteKey[] {
    if (end !== null && end <= start) return [];
    // A one-key range (etcd's [k, k\0)) needs no sorted keyspace.
    if (end === start + '\u0000') return this.#data.has(start) ? [start] : [];
    if (this.#sorted === null) this.#sorted = [...this.#data.keys()].sort();
    const keys = this.#sorted;
    const out: ByteKey[] = [];
    for (let i = lowerBound(keys, start); i < keys.length && out.length < limit; i++) {
      const k = keys[i]!;
      if (end !== null && k >= end) break;
      out.push(k);
    }
    return out;
  }
}

function lowerBound(keys: readonly string[], target: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (keys[mid]! < target) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
