// The watch history: the events of every revision since the compaction revision, in revision
// order, so a watcher can resume from any revision it saw. An event depends on the state it was
// applied to (which branch of a txn ran, which keys a range delete or an expiry removed, the
// previous value), so it is kept as it happened, not rebuilt from log entries. Bounded by count
// and bytes: past either, the oldest revisions are compacted away.

import { assert } from '../assert.ts';
import type { KeyValue } from './records.ts';

export interface KvEvent {
  readonly type: 'put' | 'delete';
  /** The key after the event; for a delete, its value is empty and modRevision the deletion's. */
  readonly kv: KeyValue;
  /** The key before the event (null: it did not exist). */
  readonly prev: KeyValue | null;
}

/** The events of one revision. */
export interface RevisionEvents {
  readonly revision: number;
  readonly events: readonly KvEvent[];
}

export interface HistoryLimits {
  /** Events kept at most. */
  readonly eventsMax: number;
  /** Bytes of keys and values (current and previous) kept at most. */
  readonly bytesMax: number;
}

/**
 * The history rides in every snapshot (a follower or a browser tab that installs one downloads
 * it), so it is kept modest: a watcher away for longer reloads (ERR_COMPACTED) and resumes.
 */
export const historyDefaults: HistoryLimits = { eventsMax: 10_000, bytesMax: 8 * 1024 * 1024 };

function valueBytes(kv: KeyValue | null): number {
  if (kv === null) return 0;
  const v = kv.value;
  return kv.key.length + (typeof v === 'string' ? v.length * 2 : v.length) + 48;
}

export function eventBytes(e: KvEvent): number {
  return valueBytes(e.kv) + valueBytes(e.prev);
}

export class EventHistory {
  readonly limits: HistoryLimits;
  /** Events at or below this revision are gone. */
  #compactRevision = 0;
  /** Revisions in order; #head is the first live one (dropped ones are sliced off in bulk). */
  #batches: RevisionEvents[] = [];
  #head = 0;
  #events = 0;
  #bytes = 0;

  constructor(limits: Partial<HistoryLimits> = {}) {
    this.limits = { ...historyDefaults, ...limits };
    assert(this.limits.eventsMax > 0 && this.limits.bytesMax > 0, 'history limits must be positive');
  }

  get compactRevision(): number {
    return this.#compactRevision;
  }

  get events(): number {
    return this.#events;
  }

  get bytes(): number {
    return this.#bytes;
  }

  /** The newest revision held (the compaction revision when empty). */
  get lastRevision(): number {
    const last = this.#batches[this.#batches.length - 1];
    return this.#head < this.#batches.length && last !== undefined ? last.revision : this.#compactRevision;
  }

  append(revision: number, events: readonly KvEvent[]): void {
    assert(revision > this.lastRevision, () => `history: revision ${revision} after ${this.lastRevision}`);
    this.#batches.push({ revision, events });
    this.#events += events.length;
    for (const e of events) this.#bytes += eventBytes(e);
    while (this.#head < this.#batches.length - 1 && (this.#events > this.limits.eventsMax || this.#bytes > this.limits.bytesMax)) this.#dropOldest();
    this.#pack();
  }

  /** Forgets every revision at or below `revision`. */
  compact(revision: number): void {
    while (this.#head < this.#batches.length && this.#batches[this.#head]!.revision <= revision) this.#dropOldest();
    if (revision > this.#compactRevision) this.#compactRevision = revision;
    this.#pack();
  }

  #dropOldest(): void {
    const b = this.#batches[this.#head++]!;
    this.#events -= b.events.length;
    for (const e of b.events) this.#bytes -= eventBytes(e);
    this.#compactRevision = b.revision;
  }

  #pack(): void {
    if (this.#head > 1024 && this.#head * 2 > this.#batches.length) {
      this.#batches = this.#batches.slice(this.#head);
      this.#head = 0;
    }
  }

  /**
   * The revisions from `from` on (at most `max` events, whole revisions, at least one), or
   * 'compacted' when events at `from` are gone.
   */
  since(from: number, max = Infinity): RevisionEvents[] | 'compacted' {
    if (from <= this.#compactRevision) return 'compacted';
    let lo = this.#head;
    let hi = this.#batches.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.#batches[mid]!.revision < from) lo = mid + 1;
      else hi = mid;
    }
    const out: RevisionEvents[] = [];
    let n = 0;
    for (let i = lo; i < this.#batches.length; i++) {
      const b = this.#batches[i]!;
      if (out.length > 0 && n + b.events.length > max) break;
      out.push(b);
      n += b.events.length;
    }
    return out;
  }

  /** Every revision held, oldest first (for snapshots). */
  all(): RevisionEvents[] {
    return this.#batches.slice(this.#head);
  }

  /** Replaces the history with a snapshotted one. */
  load(compactRevision: number, batches: readonly RevisionEvents[]): void {
    this.#batches = [];
    this.#head = 0;
    this.#events = 0;
    this.#bytes = 0;
    this.#compactRevision = compactRevision;
    for (const b of batches) this.append(b.revision, b.events);
  }
}
