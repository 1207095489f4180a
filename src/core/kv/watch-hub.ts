// Watchers on one replica (a voter, a learner, a browser follower-reader): each asks for a key or
// a range from a revision; it gets the history from there, then every new revision's events as
// they apply, in revision order, with no gap and no repeat, and a progress notice with the
// current revision while nothing matches. A watcher that cannot keep up is cancelled with its
// revision, so it resumes from there instead of growing an unbounded queue. Pure: the runtime
// hands each watcher a sink and calls progress() on a timer.

import { assert } from '../assert.ts';
import { CodedError } from '../coded-error.ts';
import type { KvEvent, RevisionEvents } from './history.ts';
import { inRange, isReserved, type ByteKey } from './keys.ts';
import type { KvMachine } from './machine.ts';

export type WatchErrorCode = 'ERR_COMPACTED' | 'ERR_WATCH_SLOW' | 'ERR_WATCH_LIMIT' | 'ERR_BAD_REQUEST';

export class WatchError extends CodedError<WatchErrorCode> {
  override readonly name = 'WatchError';
  /** ERR_COMPACTED: the compaction revision (reload at or above it, resume after). */
  readonly compactRevision: number;
  /** ERR_WATCH_SLOW: the last revision delivered (resume after it). */
  readonly revision: number;
  constructor(code: WatchErrorCode, message: string, at: { compactRevision?: number; revision?: number } = {}) {
    super(code, message);
    this.compactRevision = at.compactRevision ?? 0;
    this.revision = at.revision ?? 0;
  }
}

export interface WatchSpec {
  /** [start, end): one key is [k, k + '\0'); end null: every key from start on. */
  readonly start: ByteKey;
  readonly end: ByteKey | null;
  /** Deliver events from this revision on; 0: from the next revision (what happens from now). */
  readonly fromRevision: number;
  /** Include each event's previous key-value. */
  readonly prevValue: boolean;
}

/** Where a watcher's output goes. Each call returns false when the receiver's queue is full. */
export interface WatchSink {
  events(batches: readonly RevisionEvents[], revision: number): boolean;
  progress(revision: number): boolean;
  /** The watch ended (slow, or the hub closed); no call follows. */
  cancelled(err: WatchError): void;
}

export interface WatchLimits {
  /** Watchers on this replica at once. */
  readonly watchersMax: number;
  /** Events sent in one message when catching up from history (a revision is never split). */
  readonly batchEventsMax: number;
  /** A watcher whose revision did not move hears the current one every this many progress rounds. */
  readonly idleRounds: number;
}

export const watchDefaults: WatchLimits = { watchersMax: 10_000, batchEventsMax: 1000, idleRounds: 10 };

interface Watcher {
  readonly id: number;
  readonly spec: WatchSpec;
  readonly sink: WatchSink;
  /** The last revision this watcher was told about (events or progress). */
  delivered: number;
  /** Events were sent since the last progress round. */
  busy: boolean;
  /** Progress rounds since this watcher was last told anything. */
  quiet: number;
}

export class WatchHub {
  readonly limits: WatchLimits;
  readonly #m: Pick<KvMachine, 'revision' | 'history' | 'onEvents' | 'onRestore'>;
  readonly #watchers = new Map<number, Watcher>();
  /** One-key watchers by key, so an event finds them without a scan of every watcher. */
  readonly #byKey = new Map<ByteKey, Set<Watcher>>();
  readonly #ranges = new Set<Watcher>();
  #nextId = 1;
  readonly #unlisten: () => void;
  /** Counters for metrics. */
  readonly stats = { eventsSent: 0, cancelledSlow: 0, compactedRefused: 0 };

  constructor(machine: Pick<KvMachine, 'revision' | 'history' | 'onEvents' | 'onRestore'>, limits: Partial<WatchLimits> = {}) {
    this.limits = { ...watchDefaults, ...limits };
    assert(this.limits.watchersMax > 0 && this.limits.batchEventsMax > 0 && this.limits.idleRounds > 0, 'watch limits must be positive');
    this.#m = machine;
    const offEvents = machine.onEvents((rev, events) => this.#dispatch(rev, events));
    const offRestore = machine.onRestore(() => this.#restored());
    this.#unlisten = () => { offEvents(); offRestore(); };
  }

  /**
   * A snapshot moved the replica ahead: each watcher gets the revisions it missed from the
   * snapshot's history, or ERR_COMPACTED when they are not in it.
   */
  #restored(): void {
    const now = this.#m.revision;
    const compactRevision = this.#m.history.compactRevision;
    for (const w of [...this.#watchers.values()]) {
      if (w.delivered >= now) continue;
      if (w.delivered < compactRevision) {
        this.remove(w.id);
        this.stats.compactedRefused++;
        w.sink.cancelled(new WatchError('ERR_COMPACTED', `this member installed a snapshot whose history starts after ${compactRevision}; the watcher was at ${w.delivered}: read the current state and watch from the revision after it`, { compactRevision, revision: w.delivered }));
        continue;
      }
      if (!this.#catchUp(w, now)) this.#slow(w);
    }
  }

  get size(): number {
    return this.#watchers.size;
  }

  /**
   * Starts a watcher; returns its id. Throws WatchError: ERR_COMPACTED when events at
   * fromRevision are gone, ERR_WATCH_LIMIT when the replica has watchersMax already. History
   * from fromRevision is sent before this returns.
   */
  add(spec: WatchSpec, sink: WatchSink): number {
    if (this.#watchers.size >= this.limits.watchersMax) {
      throw new WatchError('ERR_WATCH_LIMIT', `this member serves ${this.limits.watchersMax} watchers already (watchersMax): watch through another member or raise the limit`);
    }
    const from = spec.fromRevision;
    if (!(Number.isSafeInteger(from) && from >= 0)) throw new WatchError('ERR_BAD_REQUEST', `fromRevision must be a revision (a non-negative integer), not ${from}`);
    const now = this.#m.revision;
    // A revision ahead of this replica (it lags, or is replaying its log after a restart): the
    // events come as it applies them, none below fromRevision.
    const w: Watcher = { id: this.#nextId++, spec, sink, delivered: from === 0 ? now : from - 1, busy: false, quiet: 0 };
    if (from !== 0 && from <= now) {
      const compactRevision = this.#m.history.compactRevision;
      if (from <= compactRevision) {
        this.stats.compactedRefused++;
        throw new WatchError('ERR_COMPACTED', `revision ${from} was compacted (history starts after ${compactRevision}): read the current state and watch from the revision after it`, { compactRevision });
      }
      if (!this.#catchUp(w, now)) {
        throw new WatchError('ERR_WATCH_SLOW', `the watcher's connection could not take the history from revision ${from}`, { revision: w.delivered });
      }
    }
    this.#watchers.set(w.id, w);
    if (spec.end === spec.start + '\u0000') {
      let set = this.#byKey.get(spec.start);
      if (set === undefined) this.#byKey.set(spec.start, (set = new Set()));
      set.add(w);
    } else {
      this.#ranges.add(w);
    }
    return w.id;
  }

  /** Sends the history (delivered, to] in batches; false when the sink refused one. */
  #catchUp(w: Watcher, to: number): boolean {
    while (w.delivered < to) {
      const since = this.#m.history.since(w.delivered + 1, this.limits.batchEventsMax);
      assert(since !== 'compacted', 'history compacted under a watcher catching up');
      const batches: RevisionEvents[] = [];
      let last = w.delivered;
      let past = false;
      for (const b of since) {
        if (b.revision > to) {
          past = true;
          break;
        }
        last = b.revision;
        const events = this.#match(w, b.events);
        if (events.length > 0) batches.push({ revision: b.revision, events });
      }
      // Nothing more in the history up to `to` (the rest of those revisions had no events): the
      // watcher is at `to` with this message, not with an empty one after it.
      if (past || this.#m.history.lastRevision <= last) last = to;
      if (!w.sink.events(batches, last)) return false;
      this.stats.eventsSent += batches.reduce((n, b) => n + b.events.length, 0);
      w.delivered = last;
    }
    return true;
  }

  #match(w: Watcher, events: readonly KvEvent[]): KvEvent[] {
    const out: KvEvent[] = [];
    for (const e of events) {
      if (!inRange(e.kv.key, w.spec.start, w.spec.end) || isReserved(e.kv.key)) continue;
      out.push(w.spec.prevValue || e.prev === null ? e : { type: e.type, kv: e.kv, prev: null });
    }
    return out;
  }

  remove(id: number): boolean {
    const w = this.#watchers.get(id);
    if (w === undefined) return false;
    this.#watchers.delete(id);
    this.#ranges.delete(w);
    const set = this.#byKey.get(w.spec.start);
    if (set !== undefined && set.delete(w) && set.size === 0) this.#byKey.delete(w.spec.start);
    return true;
  }

  #dispatch(revision: number, events: readonly KvEvent[]): void {
    const hit = new Set<Watcher>();
    for (const e of events) {
      const set = this.#byKey.get(e.kv.key);
      if (set !== undefined) for (const w of set) hit.add(w);
    }
    for (const w of this.#ranges) hit.add(w);
    for (const w of hit) {
      if (w.delivered >= revision) continue;
      const mine = this.#match(w, events);
      if (mine.length === 0) continue;
      w.busy = true;
      if (!w.sink.events([{ revision, events: mine }], revision)) {
        this.#slow(w);
        continue;
      }
      this.stats.eventsSent += mine.length;
      w.delivered = revision;
    }
  }

  #slow(w: Watcher): void {
    this.remove(w.id);
    this.stats.cancelledSlow++;
    w.sink.cancelled(new WatchError('ERR_WATCH_SLOW', `the watcher fell behind (its connection's queue is full) after revision ${w.delivered}: resume from revision ${w.delivered + 1}`, { revision: w.delivered }));
  }

  /**
   * Tells each watcher that got no events since the last round the current revision (progress
   * notify), so it knows how fresh it is and where to resume: at once when the revision moved
   * past what it was told, else every `idleRounds` rounds (an idle cluster costs little).
   */
  progress(): void {
    const rev = this.#m.revision;
    for (const w of [...this.#watchers.values()]) {
      if (w.busy) {
        w.busy = false;
        w.quiet = 0;
        continue;
      }
      if (rev <= w.delivered && ++w.quiet < this.limits.idleRounds) continue;
      w.quiet = 0;
      if (!w.sink.progress(rev)) {
        this.#slow(w);
        continue;
      }
      if (rev > w.delivered) w.delivered = rev;
    }
  }

  /** Ends every watcher (the replica is stopping or restoring). */
  close(reason: string): void {
    this.#unlisten();
    for (const w of [...this.#watchers.values()]) {
      this.remove(w.id);
      w.sink.cancelled(new WatchError('ERR_WATCH_SLOW', `${reason}: resume from revision ${w.delivered + 1}`, { revision: w.delivered }));
    }
  }
}
