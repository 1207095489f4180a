// The watch streams of client connections: each watch request becomes a watcher on this member's
// hub whose events, progress notices and end go back as answers under the request's id, to the
// connection that asked, until it cancels, the connection goes, or the stream cannot keep up.
// Per connection at most --watchers-per-connection; the hub bounds them all (--watchers-max).

import { CodedError } from '../core/coded-error.ts';
import { isReserved } from '../core/kv/keys.ts';
import type { KvMachine, RevisionEvents } from '../core/kv/machine.ts';
import type { WatchError, WatchHub, WatchSink } from '../core/kv/watch-hub.ts';
import { encodeResponse, type ErrorCode, type ErrorReply, type Request } from '../client/protocol.ts';
import type { PeerMetrics } from './peer-metrics.ts';
import { showKey } from './scopes.ts';

/** A watch request refused, with the client protocol's code (the client service answers it as is). */
export class WatchRequestError extends CodedError<ErrorCode> {
  override readonly name = 'WatchRequestError';
}

/** What the streams use of their member. */
export interface WatchStreamsHost {
  readonly watches: Pick<WatchHub, 'add' | 'remove'>;
  readonly machine: Pick<KvMachine, 'revision'>;
  readonly metrics: Pick<PeerMetrics, 'clientErrors' | 'watchEventsSent' | 'watchCancelled'>;
  readonly limits: { readonly watchersPerConnectionMax: number };
  /** Sends an answer on the rpc channel; false when it was dropped (gone, or over its queue limit). */
  reply(to: string, payload: Uint8Array): boolean;
}

export class WatchStreams {
  readonly #host: WatchStreamsHost;
  /** Each connection's watchers: the watch request's id (what watchCancel names) to the hub's id. */
  readonly #watchers = new Map<string, Map<number, number>>();
  /** The member is stopping: watchers it ends are told so (and counted as such). */
  #stopping = false;

  constructor(host: WatchStreamsHost) {
    this.#host = host;
  }

  /**
   * Starts a watch for connection `from`: its history from fromRevision goes out before this
   * returns, then every new revision's events, and a progress notice when idle. When nothing was
   * sent (a watch from now), an empty message at the current revision confirms it. Throws (for the
   * caller to answer) ERR_WATCH_LIMIT, ERR_COMPACTED (with compactRevision), ERR_BAD_REQUEST.
   */
  start(from: string, req: Extract<Request, { op: 'watch' }>): void {
    const id = req.id;
    const host = this.#host;
    const mine = this.#watchers.get(from);
    if (mine?.has(id) === true) throw new WatchRequestError('ERR_BAD_REQUEST', `request id ${id} already names a live watch on this connection: give each watch its own id`);
    const max = host.limits.watchersPerConnectionMax;
    if (mine !== undefined && mine.size >= max) {
      throw new WatchRequestError('ERR_WATCH_LIMIT', `this connection holds ${max} watchers already (the peer's --watchers-per-connection): cancel some or open another connection`);
    }
    if (req.end !== null && req.end <= req.start) throw new WatchRequestError('ERR_BAD_REQUEST', `watch range [${showKey(req.start)}, ${showKey(req.end)}) is empty: its end must be above its start`);
    let sent = false;
    const sink: WatchSink = {
      events: (batches, revision) => {
        sent = true;
        return this.#stream(from, id, revision, userEvents(batches));
      },
      progress: (revision) => {
        sent = true;
        return this.#stream(from, id, revision, []);
      },
      cancelled: (err) => {
        this.#forget(from, id);
        host.metrics.watchCancelled.inc(1, { reason: this.#stopping ? 'stopping' : err.code === 'ERR_COMPACTED' ? 'compacted' : 'slow' });
        host.metrics.clientErrors.inc(1, { code: err.code });
        host.reply(from, encodeResponse({ id, ok: false, error: { code: err.code, message: err.message, leader: null, ...watchDetail(err) } }));
      },
    };
    const hubId = host.watches.add({ start: req.start, end: req.end, fromRevision: req.fromRevision, prevValue: req.prevValue }, sink);
    let map = mine;
    if (map === undefined) this.#watchers.set(from, (map = new Map()));
    map.set(id, hubId);
    if (!sent && !this.#stream(from, id, host.machine.revision, [])) {
      host.watches.remove(hubId);
      this.#forget(from, id);
      host.metrics.watchCancelled.inc(1, { reason: 'slow' });
    }
  }

  /** Ends a watch of this connection (another connection's ids are not seen); false when none. */
  cancel(from: string, watch: number): boolean {
    const hubId = this.#watchers.get(from)?.get(watch);
    if (hubId === undefined) return false;
    this.#forget(from, watch);
    this.#host.watches.remove(hubId);
    this.#host.metrics.watchCancelled.inc(1, { reason: 'client' });
    return true;
  }

  /** A connection closed: its watchers end with it. */
  disconnected(from: string): void {
    const mine = this.#watchers.get(from);
    if (mine === undefined) return;
    this.#watchers.delete(from);
    for (const hubId of mine.values()) this.#host.watches.remove(hubId);
    this.#host.metrics.watchCancelled.inc(mine.size, { reason: 'disconnected' });
  }

  /** The member is stopping: the watchers it ends from now on are counted (and told) as such. */
  stopping(): void {
    this.#stopping = true;
  }

  /** One message of watch `id`'s stream; false when the connection could not take it. */
  #stream(to: string, id: number, revision: number, batches: readonly RevisionEvents[]): boolean {
    const ok = this.#host.reply(to, encodeResponse({ id, ok: true, reply: { kind: 'watch', revision, batches } }));
    if (ok && batches.length > 0) this.#host.metrics.watchEventsSent.inc(batches.reduce((n, b) => n + b.events.length, 0));
    return ok;
  }

  #forget(from: string, id: number): void {
    const mine = this.#watchers.get(from);
    if (mine === undefined) return;
    mine.delete(id);
    if (mine.size === 0) this.#watchers.delete(from);
  }
}

/** ERR_COMPACTED and ERR_WATCH_SLOW say where to resume. */
export function watchDetail(err: WatchError): Pick<ErrorReply, 'detail'> {
  return err.code === 'ERR_COMPACTED' || err.code === 'ERR_WATCH_SLOW' ? { detail: { compactRevision: err.compactRevision, revision: err.revision } } : {};
}

/** A watch sees user keys only: events on the cluster's reserved keys (0x00...) are left out. */
function userEvents(batches: readonly RevisionEvents[]): RevisionEvents[] {
  const out: RevisionEvents[] = [];
  for (const b of batches) {
    if (!b.events.some((e) => isReserved(e.kv.key))) {
      out.push(b);
      continue;
    }
    const events = b.events.filter((e) => !isReserved(e.kv.key));
    if (events.length > 0) out.push({ revision: b.revision, events });
  }
  return out;
}
