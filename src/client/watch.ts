// Watch on the client side: an async iterator of the changes to a key or a range, one batch per
// revision, that resumes by itself. The member it streams from (any member: followers and
// learners serve watches) sends the history from the revision asked for, then every new
// revision's events, with progress notices while nothing changes. When the stream ends for a
// reason that retrying can fix (the connection or the member died, ERR_WATCH_SLOW, a member at
// its watcher limit), the watcher opens it again on a member that did not just fail, from the
// revision after the last one it received: no event is lost, and one a lagging member sends
// again is dropped (the cursor below). ERR_COMPACTED (the history it needs is gone) goes to
// the consumer, after the events it already has.
//
// Buffering is bounded: when the consumer does not pull, received events wait in the watcher,
// up to bufferEventsMax (plus the one message that crossed it). Past that the watcher drops its
// stream and opens it again once the consumer has taken half, from where it stopped.

import type { RevisionEvents } from '../core/kv/history.ts';
import type { Caller, StreamHandle } from './caller.ts';
import { clientErrorOf } from './caller.ts';
import { ClientError } from './errors.ts';
import { fromWire, type ByteRange, type KeyValue } from './keys.ts';
import type { Response } from './protocol.ts';

export interface WatchOptions {
  /**
   * Deliver events from this revision on (its history must not be compacted: else the iterator
   * throws ERR_COMPACTED). Omitted: what happens from when the watch is created.
   */
  readonly fromRevision?: number;
  /** Include each event's previous key-value (`prev`). */
  readonly prevValue?: boolean;
  /**
   * Also yield progress notices: batches with no events whose revision says how fresh the
   * watcher is. Off by default; `watcher.revision` moves with them either way.
   */
  readonly progressNotify?: boolean;
  /** Events held for a consumer that does not pull, at most (see the module comment). */
  readonly bufferEventsMax?: number;
  /**
   * A stream that sends nothing for this long (not even a progress notice, which a member sends
   * at least every 10 progress intervals, 10 s by default) is taken for a paused or cut-off
   * member: the watcher resumes on another one. 0: never.
   */
  readonly streamIdleMs?: number;
  /** Stops the watcher (the iterator then ends). */
  readonly signal?: AbortSignal;
}

export const watchDefaults = {
  bufferEventsMax: 10_000,
  streamIdleMs: 30_000,
  /** Reconnection backoff: the first retry after this, doubling up to retryMsMax. */
  retryMsMin: 20,
  retryMsMax: 1000,
} as const;

/**
 * A change: the key as it is after it (for a delete: an empty value, version 0, and modRevision
 * the deletion's revision, which is the event's).
 */
export interface WatchEvent extends KeyValue {
  readonly type: 'put' | 'delete';
  /** The key before the event, when prevValue was asked for and the key existed. */
  readonly prev?: KeyValue;
}

/** The events of one revision (all of one transaction), or a progress notice (no events). */
export interface WatchBatch {
  readonly revision: number;
  readonly events: readonly WatchEvent[];
}

/**
 * Which revisions a watcher has, so that a resumed stream neither skips nor repeats one. Pure.
 * Invariant: every event of the watched range at a revision <= `received` was accepted once.
 */
export class WatchCursor {
  /** The last revision whose events were all received (null: not known yet, a watch "from now"). */
  #received: number | null;

  constructor(fromRevision: number | undefined) {
    this.#received = fromRevision === undefined || fromRevision === 0 ? null : fromRevision - 1;
  }

  get received(): number | null {
    return this.#received;
  }

  /** The fromRevision of the next watch request (0: from now, when nothing is known yet). */
  get resumeFrom(): number {
    return this.#received === null ? 0 : this.#received + 1;
  }

  /**
   * One watch message: events through `revision`. Returns the batches not received before (a
   * member that lags may send again what another sent) and moves the cursor to `revision`.
   */
  accept(revision: number, batches: readonly RevisionEvents[]): RevisionEvents[] {
    const fresh: RevisionEvents[] = [];
    let at = this.#received ?? 0;
    for (const b of batches) {
      if (this.#received !== null && b.revision <= at) continue;
      if (b.events.length > 0) fresh.push(b);
      at = b.revision;
      this.#received = at;
    }
    if (this.#received === null || revision > this.#received) this.#received = revision;
    return fresh;
  }
}

type State = 'connecting' | 'streaming' | 'paused' | 'done';

export class Watcher implements AsyncIterableIterator<WatchBatch> {
  readonly #caller: Caller;
  readonly #range: ByteRange;
  readonly #prevValue: boolean;
  readonly #progressNotify: boolean;
  readonly #bufferEventsMax: number;
  readonly #cursor: WatchCursor;
  /** Batches received and not yet yielded: #queue[#head...]. */
  readonly #queue: WatchBatch[] = [];
  #head = 0;
  #queuedEvents = 0;
  #state: State = 'connecting';
  #handle: StreamHandle | null = null;
  #failure: ClientError | null = null;
  #wake: (() => void) | null = null;
  /** Members that failed this watcher lately: the next stream goes elsewhere. */
  readonly #avoid = new Set<string>();
  #retries = 0;
  #yielded = 0;
  #reconnects = 0;
  readonly #offAbort: () => void;
  #timer: ReturnType<typeof setTimeout> | null = null;
  readonly #streamIdleMs: number;
  /** When the current stream last sent anything (performance.now()). */
  #heardAt = 0;
  #idleCheck: ReturnType<typeof setInterval> | null = null;

  readonly #onDone: () => void;

  /** @internal Made by KvClient.watch(); `onDone` runs once when it closes. */
  constructor(caller: Caller, range: ByteRange, o: WatchOptions, onDone: () => void = () => {}) {
    this.#onDone = onDone;
    const bufferEventsMax = o.bufferEventsMax ?? watchDefaults.bufferEventsMax;
    if (!Number.isSafeInteger(bufferEventsMax) || bufferEventsMax < 1) throw new ClientError('ERR_OPTIONS', `bufferEventsMax must be a positive integer (got ${String(o.bufferEventsMax)})`);
    const from = o.fromRevision;
    if (from !== undefined && (!Number.isSafeInteger(from) || from < 0)) throw new ClientError('ERR_BAD_REQUEST', `fromRevision must be a revision, a non-negative integer (got ${String(from)})`);
    this.#caller = caller;
    this.#range = range;
    this.#prevValue = o.prevValue === true;
    this.#progressNotify = o.progressNotify === true;
    this.#bufferEventsMax = bufferEventsMax;
    const idle = o.streamIdleMs ?? watchDefaults.streamIdleMs;
    if (!Number.isFinite(idle) || idle < 0) throw new ClientError('ERR_OPTIONS', `streamIdleMs must be a non-negative number of ms (got ${String(o.streamIdleMs)})`);
    this.#streamIdleMs = idle;
    this.#cursor = new WatchCursor(from);
    this.#yielded = this.#cursor.received ?? 0;
    const signal = o.signal;
    if (signal !== undefined) {
      const onAbort = () => this.close();
      signal.addEventListener('abort', onAbort, { once: true });
      this.#offAbort = () => signal.removeEventListener('abort', onAbort);
      if (signal.aborted) {
        // Closed once the caller holds it (close() reports to onDone).
        queueMicrotask(() => this.close());
        return;
      }
    } else {
      this.#offAbort = () => {};
    }
    void this.#open();
  }

  /**
   * Every event up to this revision has been yielded (0 before anything is known): a new watch
   * from revision + 1 would continue exactly where this one is.
   */
  get revision(): number {
    return this.#yielded;
  }

  /** The member streaming to this watcher now (null between streams). */
  get servedBy(): string | null {
    return this.#state === 'streaming' ? this.#handle?.servedBy ?? null : null;
  }

  /** How many times the stream was opened again (after a failure or a full buffer). */
  get reconnects(): number {
    return this.#reconnects;
  }

  /** Events received and not yet yielded. */
  get buffered(): number {
    return this.#queuedEvents;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  async next(): Promise<IteratorResult<WatchBatch, undefined>> {
    for (;;) {
      const b = this.#shift();
      if (b !== undefined) {
        this.#queuedEvents -= b.events.length;
        this.#yielded = Math.max(this.#yielded, b.revision);
        if (this.#state === 'paused' && this.#queuedEvents <= this.#bufferEventsMax / 2) {
          this.#reconnects++;
          void this.#open();
        }
        return { value: b, done: false };
      }
      // Nothing waits: what the cursor has is all yielded (progress included).
      if (this.#cursor.received !== null) this.#yielded = Math.max(this.#yielded, this.#cursor.received);
      if (this.#failure !== null) {
        const err = this.#failure;
        this.#failure = null;
        this.close();
        throw err;
      }
      if (this.#state === 'done') return { value: undefined, done: true };
      await new Promise<void>((r) => { this.#wake = r; });
    }
  }

  /** The oldest waiting batch (a moving head: shift() on a 10,000-batch array costs too much). */
  #shift(): WatchBatch | undefined {
    const b = this.#queue[this.#head];
    if (b === undefined) return undefined;
    this.#head++;
    if (this.#head === this.#queue.length) {
      this.#queue.length = 0;
      this.#head = 0;
    } else if (this.#head >= 1024 && this.#head * 2 >= this.#queue.length) {
      this.#queue.splice(0, this.#head);
      this.#head = 0;
    }
    return b;
  }

  async return(): Promise<IteratorResult<WatchBatch, undefined>> {
    this.close();
    return { value: undefined, done: true };
  }

  /** Stops the watcher: the stream is cancelled, and the iterator ends once its queue is read. */
  close(): void {
    if (this.#state === 'done') return;
    this.#state = 'done';
    this.#handle?.cancel();
    this.#handle = null;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    if (this.#idleCheck !== null) clearInterval(this.#idleCheck);
    this.#idleCheck = null;
    this.#offAbort();
    this.#onDone();
    this.#notify();
  }

  #notify(): void {
    const w = this.#wake;
    this.#wake = null;
    w?.();
  }

  #fail(err: ClientError): void {
    if (this.#state === 'done') return;
    this.#failure = err;
    this.close();
  }

  async #open(): Promise<void> {
    if (this.#state === 'done') return;
    this.#state = 'connecting';
    if (this.#caller.closed) {
      this.close();
      return;
    }
    if (this.#avoid.size >= this.#caller.urls.length) this.#avoid.clear();
    const url = this.#caller.streamTarget(this.#avoid);
    let handle: StreamHandle;
    try {
      handle = await this.#caller.openStream(url, {
        op: 'watch', start: this.#range.start, end: this.#range.end, fromRevision: this.#cursor.resumeFrom, prevValue: this.#prevValue,
      }, {
        message: (res) => this.#message(handle, res),
        closed: (why) => this.#lost(handle, url, why),
      }, (id) => ({ op: 'watchCancel', watch: id }));
    } catch (err) {
      const e = err instanceof ClientError ? err : new ClientError('ERR_UNAVAILABLE', (err as Error).message);
      if (e.code === 'ERR_CLOSED') this.close();
      else if (e.code === 'ERR_FORBIDDEN') this.#fail(e);
      else this.#retry(url);
      return;
    }
    if (this.#state !== 'connecting') {
      handle.cancel();
      return;
    }
    this.#handle = handle;
    this.#state = 'streaming';
    this.#heardAt = performance.now();
    this.#watchIdle();
  }

  /** Checks now and then that the stream still talks (a SIGSTOPped member keeps its socket open). */
  #watchIdle(): void {
    if (this.#streamIdleMs === 0 || this.#idleCheck !== null) return;
    this.#idleCheck = setInterval(() => {
      const h = this.#handle;
      if (this.#state !== 'streaming' || h === null || performance.now() - this.#heardAt < this.#streamIdleMs) return;
      this.#handle = null;
      h.cancel();
      this.#retry(h.url);
    }, Math.max(10, this.#streamIdleMs / 4));
    (this.#idleCheck as { unref?: () => void }).unref?.();
  }

  #message(handle: StreamHandle, res: Response): void {
    if (this.#handle !== handle || this.#state !== 'streaming') return;
    this.#heardAt = performance.now();
    if (!res.ok) {
      this.#handle = null;
      const e = res.error;
      switch (e.code) {
        case 'ERR_COMPACTED': case 'ERR_FORBIDDEN': case 'ERR_BAD_REQUEST': case 'ERR_TOO_LARGE':
          this.#fail(clientErrorOf(e));
          return;
        case 'ERR_WATCH_SLOW':
          // The member's queue for us was full: the same member can take us again.
          this.#retry(null);
          return;
        default:
          this.#retry(handle.url);
          return;
      }
    }
    if (res.reply.kind !== 'watch') {
      this.#handle = null;
      handle.cancel();
      this.#retry(handle.url);
      return;
    }
    this.#retries = 0;
    for (const b of this.#cursor.accept(res.reply.revision, res.reply.batches)) {
      const events = b.events.map(toEvent);
      this.#queue.push({ revision: b.revision, events });
      this.#queuedEvents += events.length;
    }
    const after = this.#cursor.received;
    if (this.#progressNotify && res.reply.batches.length === 0 && after !== null) {
      // A progress notice replaces one still waiting: only the freshest matters.
      const last = this.#queue.length > this.#head ? this.#queue[this.#queue.length - 1] : undefined;
      if (last !== undefined && last.events.length === 0) this.#queue.pop();
      this.#queue.push({ revision: after, events: [] });
    }
    if (this.#queuedEvents > this.#bufferEventsMax) {
      // The consumer is behind: stop the stream rather than hold more; resume from the cursor.
      this.#handle = null;
      handle.cancel();
      this.#state = 'paused';
    }
    this.#notify();
  }

  #lost(handle: StreamHandle | undefined, url: string, _why: string): void {
    if (handle !== undefined && this.#handle !== handle) return;
    if (this.#state === 'done' || this.#state === 'paused') return;
    this.#handle = null;
    if (this.#caller.closed) {
      this.close();
      return;
    }
    this.#retry(url);
  }

  /** Opens the stream again after a backoff, avoiding `url` (null: any member will do). */
  #retry(url: string | null): void {
    if (this.#state === 'done') return;
    if (url !== null) this.#avoid.add(url);
    this.#state = 'connecting';
    this.#reconnects++;
    const n = this.#retries++;
    const delay = n === 0 ? 0 : Math.min(watchDefaults.retryMsMax, watchDefaults.retryMsMin * 2 ** Math.min(n, 6)) * (0.5 + Math.random() / 2);
    // Not unref'd: a watcher being read keeps a Node process alive between two streams, as its
    // stream does; close() clears it.
    this.#timer = setTimeout(() => {
      this.#timer = null;
      void this.#open();
    }, delay);
  }
}

function toEvent(e: RevisionEvents['events'][number]): WatchEvent {
  const kv = fromWire(e.kv);
  return e.prev === null ? { type: e.type, ...kv } : { type: e.type, ...kv, prev: fromWire(e.prev) };
}
