// How the SDK talks to a cluster: one connection per member (opened on first use), requests
// pipelined over it, the leader found by following NOT_LEADER hints, retries with backoff across
// leader changes, exactly-once writes through a client session, and streams (a watch: many
// answers under one request id). The public API (kv.ts, lease.ts, watch.ts) sits on this.

import type { SessionRef } from '../core/kv/command.ts';
import { RpcConnection } from '../transport/rpc-client.ts';
import type { Dialer } from '../transport/socket.ts';
import { tokenRefusalText } from '../transport/errors.ts';
import { ClientError, type ClientErrorCode } from './errors.ts';
import {
  decodeResponse, decodeResponseHead, encodeRequest, type ErrorReply, type Reply, type RequestBody, type RequestOp, type Response,
} from './protocol.ts';

export interface CallerOptions {
  readonly peers: readonly string[];
  readonly token: string;
  readonly cluster: string;
  readonly timeoutMs: number;
  readonly attemptTimeoutMs: number;
  /** The longest pause between attempts (they back off from 20 ms, doubling, jittered). */
  readonly retryBackoffMaxMs: number;
  readonly inflightMax: number;
  readonly dial: Dialer;
}

/** Where a request goes: the leader, any member, or the member at this URL. */
export type Target = 'leader' | 'any' | string;

export interface CallOptions {
  /** Give up on the whole call after this long (default: the client's timeoutMs). */
  readonly timeoutMs?: number;
  /** Give up on one attempt after this long (default: the client's attemptTimeoutMs). */
  readonly attemptTimeoutMs?: number;
}

/** What a call learnt about its attempts (for writes: whether one may have been applied). */
interface CallTrace {
  /** An attempt was sent and its fate is unknown. */
  uncertain: boolean;
}

interface Conn {
  readonly url: string;
  rpc: RpcConnection | null;
  opening: Promise<RpcConnection> | null;
}

interface Pending {
  readonly op: RequestOp;
  readonly resolve: (r: Response) => void;
  readonly reject: (e: Error) => void;
  readonly conn: RpcConnection;
  /** performance.now() after which the attempt is given up (swept by one timer, not one each). */
  readonly deadline: number;
}

/** Receives a stream's answers (watch.ts). After `failed` or `closed`, nothing more comes. */
export interface StreamSink {
  /** One answer; an error answer ends the stream. */
  message(res: Response): void;
  /** The connection carrying the stream closed. */
  closed(why: string): void;
}

export interface StreamHandle {
  /** The member serving the stream (its id) and its URL. */
  readonly servedBy: string;
  readonly url: string;
  /** Stops the stream: its answers are dropped from now on, and the member is told. */
  cancel(): void;
}

interface Stream {
  readonly op: RequestOp;
  readonly conn: RpcConnection;
  readonly sink: StreamSink;
}

const transient = new Set(['ERR_NOT_LEADER', 'ERR_UNAVAILABLE', 'ERR_BUSY', 'ERR_PROPOSAL_DROPPED', 'ERR_TIMEOUT']);

/**
 * Answers that prove the request was not applied: the member refused it before proposing it.
 * Any other end of a sent attempt (no answer in time, a closed connection, ERR_UNAVAILABLE,
 * ERR_PROPOSAL_DROPPED after a snapshot) leaves open whether it was applied.
 */
const notApplied = new Set([
  'ERR_NOT_LEADER', 'ERR_BUSY', 'ERR_FORBIDDEN', 'ERR_BAD_REQUEST', 'ERR_TOO_LARGE', 'ERR_SESSION_EXPIRED', 'ERR_SESSION_STALE',
  'ERR_OUTCOME_UNKNOWN', 'ERR_LEASE_NOT_FOUND', 'ERR_LEASE_EXISTS', 'ERR_LEASE_LIMIT', 'ERR_REVOCATION_LIMIT',
]);

class Attempt extends Error {
  constructor(readonly error: ErrorReply) {
    super(error.message);
  }
}

/** A member's error answer as the SDK throws it (with the watch details when it has them). */
export function clientErrorOf(e: ErrorReply): ClientError {
  return new ClientError(e.code as ClientErrorCode, e.message, {
    ...(e.detail?.compactRevision !== undefined ? { compactRevision: e.detail.compactRevision } : {}),
    ...(e.detail?.revision !== undefined ? { revision: e.detail.revision } : {}),
  });
}

/**
 * A connection failure that no retry can fix, as the error to throw at once: the member answered
 * for another cluster than this client's token names (ERR_WRONG_CLUSTER, naming both), refused
 * the token (ERR_FORBIDDEN), or speaks TLS where ws:// was dialed or the reverse (ERR_OPTIONS).
 * Null for anything another attempt or member may get past.
 */
function refusal(url: string, err: unknown): ClientError | null {
  const message = (err as Error).message ?? String(err);
  const code = (err as { code?: unknown }).code;
  const other = /frame is for cluster (.+), this is (.+)$/.exec(message);
  if (code === 'ERR_FRAME_CLUSTER' || other !== null || /\b4003\b/.test(message)) {
    const [theirs, ours] = other !== null ? [other[1]!, other[2]!] : ['another cluster', 'the token\'s'];
    return new ClientError('ERR_WRONG_CLUSTER',
      `${url} belongs to cluster ${theirs}, but this client's token is for cluster ${ours}: use a token minted for ${theirs} (edgeraft token --cluster), or the addresses of ${ours}'s members`);
  }
  // A scheme that does not match the member's listener is a wrong address, not an outage.
  if (/ serves TLS: dial wss:\/\/| does not speak TLS /.test(message)) return new ClientError('ERR_OPTIONS', message);
  const told = tokenRefusalText(message);
  if (told !== null) return new ClientError('ERR_FORBIDDEN', `${url} refused the token: ${told}`);
  const closed = /during the handshake \((\d{4})\b/.exec(message)?.[1];
  if (closed === '4001' || /ERR_TOKEN/.test(message)) {
    return new ClientError('ERR_FORBIDDEN', `${url} refused the token (${message}): check the token's role and subject, and the member's log for the reason`);
  }
  return null;
}

export class Caller {
  readonly o: CallerOptions;
  readonly #conns = new Map<string, Conn>();
  readonly #pending = new Map<number, Pending>();
  readonly #streams = new Map<number, Stream>();
  readonly #instance: string;
  #nextId = 1;
  #leaderUrl: string | null = null;
  /**
   * Members' ids by the URL this client was given for them: a leader hint names the member's own
   * view of the leader's address, and a client behind a proxy, a NAT or a relay of its region
   * should keep using its own address for that member when it has one.
   */
  readonly #configuredUrlOf = new Map<string, string>();
  readonly #configured: ReadonlySet<string>;
  #rotate = 0;
  #closed = false;
  #session: { client: number; nextSeq: number; outstanding: Set<number> } | null = null;
  #registering: Promise<void> | null = null;
  #inflight = 0;
  #waiting: Array<() => void> = [];
  #sweep: ReturnType<typeof setInterval> | null = null;

  constructor(o: CallerOptions) {
    this.o = o;
    const r = new Uint8Array(6);
    crypto.getRandomValues(r);
    this.#instance = Array.from(r, (b) => b.toString(16).padStart(2, '0')).join('');
    for (const url of o.peers) this.#conns.set(trim(url), { url: trim(url), rpc: null, opening: null });
    this.#configured = new Set(o.peers.map(trim));
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Every member URL this client knows, in the order given. */
  get urls(): string[] {
    return [...this.#conns.keys()];
  }

  close(): void {
    this.#closed = true;
    if (this.#sweep !== null) clearInterval(this.#sweep);
    this.#sweep = null;
    for (const c of this.#conns.values()) c.rpc?.close();
    for (const p of this.#pending.values()) p.reject(new ClientError('ERR_CLOSED', 'the client was closed'));
    this.#pending.clear();
    const streams = [...this.#streams.values()];
    this.#streams.clear();
    for (const s of streams) s.sink.closed('the client was closed');
  }

  // ---- writes and sessions ----------------------------------------------------------------

  /** Sends a write under this client's session, so a retried attempt applies at most once. */
  async write(build: (s: SessionRef) => RequestBody, options: CallOptions = {}): Promise<Reply> {
    for (let round = 0; ; round++) {
      await this.#ensureSession();
      const s = this.#session!;
      const seq = s.nextSeq++;
      s.outstanding.add(seq);
      const trace: CallTrace = { uncertain: false };
      try {
        // Sequence numbers only grow and the Set keeps insertion order: its first is the smallest.
        const firstUnacked = s.outstanding.values().next().value ?? seq;
        return (await this.#call(build({ client: s.client, seq, firstUnacked }), 'leader', options, trace)).reply;
      } catch (err) {
        if (err instanceof ClientError && err.code === 'ERR_SESSION_EXPIRED') {
          // The expiry proves that the attempt it answers applied nothing. If an earlier attempt
          // may have applied (its answer was lost), the session that would have recognised a
          // retry is gone: writing again under a new one could apply the request twice. This
          // relies on members never proposing a client's request on their own: only the SDK
          // sends a request again, so every application of it went through an attempt here.
          if (trace.uncertain) {
            throw new ClientError('ERR_OUTCOME_UNKNOWN', `the write may have been applied: an earlier attempt went unanswered, and its session expired before a retry could find out (${err.message})`);
          }
          // Nothing was applied: open a new session and write again (once).
          if (round === 0) {
            if (this.#session === s) this.#session = null;
            continue;
          }
        }
        throw err;
      } finally {
        s.outstanding.delete(seq);
      }
    }
  }

  #ensureSession(): Promise<void> {
    if (this.#session !== null) return Promise.resolve();
    this.#registering ??= this.#call({ op: 'register' }, 'leader').then(({ reply }) => {
      if (reply.kind !== 'register') throw new ClientError('ERR_INTERNAL', 'register was answered with something else');
      this.#session = { client: reply.client, nextSeq: 1, outstanding: new Set() };
    }).finally(() => { this.#registering = null; });
    return this.#registering;
  }

  // ---- calls, retries, leader discovery ---------------------------------------------------

  call(body: RequestBody, where: Target, options: CallOptions = {}): Promise<{ reply: Reply; servedBy: string }> {
    return this.#call(body, where, options);
  }

  async #call(body: RequestBody, where: Target, options: CallOptions = {}, trace?: CallTrace): Promise<{ reply: Reply; servedBy: string }> {
    if (this.#closed) throw new ClientError('ERR_CLOSED', 'the client was closed');
    await this.#admit();
    const timeoutMs = options.timeoutMs ?? this.o.timeoutMs;
    const deadline = Date.now() + timeoutMs;
    let last = 'no member answered';
    try {
      for (let attempt = 0; Date.now() < deadline && !this.#closed; attempt++) {
        const url = this.#pick(where, attempt);
        let sent = false;
        try {
          const rpc = await this.#connection(url);
          sent = true;
          const res = await this.#send(rpc, body, Math.min(options.attemptTimeoutMs ?? this.o.attemptTimeoutMs, deadline - Date.now()));
          if (res.ok) return { reply: res.reply, servedBy: rpc.serverId };
          throw new Attempt(res.error);
        } catch (err) {
          if (trace !== undefined && sent && !(err instanceof Attempt && notApplied.has(err.error.code))) trace.uncertain = true;
          if (err instanceof Attempt) {
            const e = err.error;
            last = `${e.code}: ${e.message}`;
            if (e.code === 'ERR_NOT_LEADER' && e.leader?.url != null && where === 'leader') {
              this.#leaderUrl = this.#configuredUrlOf.get(e.leader.id) ?? trim(e.leader.url);
            }
            else if (where === 'leader' && this.#leaderUrl === url) this.#leaderUrl = null;
            if (!transient.has(e.code)) throw clientErrorOf(e);
            if (e.code === 'ERR_NOT_LEADER' && e.leader?.url != null) continue;
          } else if (err instanceof ClientError) {
            throw err;
          } else {
            // The member refused our credentials, or is another cluster's: retrying will not change that.
            const refused = refusal(url, err);
            if (refused !== null) throw refused;
            // A request for one named member does not wander elsewhere: report it unreachable.
            if (where !== 'leader' && where !== 'any') throw new ClientError('ERR_UNAVAILABLE', `${url} is unreachable: ${(err as Error).message}`);
            last = `${url}: ${(err as Error).message}`;
            if (this.#leaderUrl === url) this.#leaderUrl = null;
          }
          await sleep(Math.min(this.o.retryBackoffMaxMs, 20 * 2 ** Math.min(attempt, 6)) * (0.5 + Math.random() / 2));
        }
      }
    } finally {
      this.#release();
    }
    if (this.#closed) throw new ClientError('ERR_CLOSED', 'the client was closed');
    throw new ClientError('ERR_TIMEOUT', `no answer from the cluster within ${timeoutMs} ms (last error: ${last})`);
  }

  #pick(where: Target, attempt: number): string {
    if (where !== 'leader' && where !== 'any') return trim(where);
    if (where === 'leader' && this.#leaderUrl !== null) return this.#leaderUrl;
    if (where === 'any' && attempt === 0) {
      for (const c of this.#conns.values()) if (c.rpc?.open === true) return c.url;
    }
    const urls = [...this.#conns.keys()];
    return urls[this.#rotate++ % urls.length]!;
  }

  /**
   * A member to stream from: one this client is connected to already (not in `avoid`), else the
   * next one in turn that is not in `avoid` (else the next one in turn).
   */
  streamTarget(avoid: ReadonlySet<string>): string {
    for (const c of this.#conns.values()) if (c.rpc?.open === true && !avoid.has(c.url)) return c.url;
    const urls = [...this.#conns.keys()];
    for (let i = 0; i < urls.length; i++) {
      const url = urls[this.#rotate++ % urls.length]!;
      if (!avoid.has(url)) return url;
    }
    return urls[this.#rotate++ % urls.length]!;
  }

  #connection(url: string): Promise<RpcConnection> {
    let c = this.#conns.get(url);
    if (c === undefined) {
      c = { url, rpc: null, opening: null };
      this.#conns.set(url, c);
    }
    if (c.rpc !== null && c.rpc.open) return Promise.resolve(c.rpc);
    const conn = c;
    conn.opening ??= RpcConnection.open({ url, cluster: this.o.cluster, token: this.o.token, instance: this.#instance, dial: this.o.dial })
      .then((rpc) => {
        if (this.#closed) {
          rpc.close();
          throw new ClientError('ERR_CLOSED', 'the client was closed');
        }
        conn.rpc = rpc;
        if (this.#configured.has(url)) this.#configuredUrlOf.set(rpc.serverId, url);
        rpc.listen({
          payloads: (ps) => this.#onPayloads(ps),
          closed: () => this.#onClosed(rpc),
        });
        return rpc;
      })
      .finally(() => { conn.opening = null; });
    return conn.opening;
  }

  #send(rpc: RpcConnection, body: RequestBody, timeoutMs: number): Promise<Response> {
    const id = this.#nextId++;
    this.#startSweep();
    return new Promise<Response>((resolve, reject) => {
      this.#pending.set(id, { op: body.op, conn: rpc, resolve, reject, deadline: performance.now() + Math.max(1, timeoutMs) });
      rpc.send(encodeRequest(id, body));
    });
  }

  // ---- streams ----------------------------------------------------------------------------

  /**
   * Opens a stream on the member at `url`: `body` goes out, and every answer under its id goes to
   * `sink` until an error answer, cancel() or the connection's end. Rejects if the member cannot
   * be reached (a ClientError ERR_UNAVAILABLE, or ERR_FORBIDDEN for a refused token).
   */
  async openStream(url: string, body: RequestBody, sink: StreamSink, cancelBody: (id: number) => RequestBody): Promise<StreamHandle> {
    if (this.#closed) throw new ClientError('ERR_CLOSED', 'the client was closed');
    let rpc: RpcConnection;
    try {
      rpc = await this.#connection(trim(url));
    } catch (err) {
      if (err instanceof ClientError) throw err;
      throw refusal(url, err) ?? new ClientError('ERR_UNAVAILABLE', `${url} is unreachable: ${(err as Error).message}`);
    }
    if (!rpc.open) throw new ClientError('ERR_UNAVAILABLE', `${url} closed the connection`);
    const id = this.#nextId++;
    this.#streams.set(id, { op: body.op, conn: rpc, sink });
    rpc.send(encodeRequest(id, body));
    return {
      servedBy: rpc.serverId, url: trim(url),
      cancel: () => {
        if (!this.#streams.delete(id)) return;
        // Fire and forget: its answer finds no pending request and is dropped.
        if (rpc.open) rpc.send(encodeRequest(this.#nextId++, cancelBody(id)));
      },
    };
  }

  /** One timer gives up on attempts past their deadline (a timer per request costs too much). */
  #startSweep(): void {
    if (this.#sweep !== null) return;
    this.#sweep = setInterval(() => {
      const now = performance.now();
      for (const [id, p] of this.#pending) {
        if (p.deadline > now) continue;
        this.#pending.delete(id);
        p.reject(new Attempt({ code: 'ERR_TIMEOUT', message: `${p.conn.serverId} did not answer in time`, leader: null }));
      }
      if (this.#pending.size === 0 && this.#sweep !== null) {
        clearInterval(this.#sweep);
        this.#sweep = null;
      }
    }, 50);
    unref(this.#sweep);
  }

  #onPayloads(payloads: readonly Uint8Array[]): void {
    for (const p of payloads) {
      let raw: readonly unknown[];
      try {
        raw = decodeResponseHead(p);
      } catch {
        continue;
      }
      const id = raw[0] as number;
      const pending = this.#pending.get(id);
      if (pending !== undefined) {
        this.#pending.delete(id);
        try {
          pending.resolve(decodeResponse(raw, pending.op));
        } catch (err) {
          pending.reject(err as Error);
        }
        continue;
      }
      const stream = this.#streams.get(id);
      if (stream === undefined) continue;
      let res: Response;
      try {
        res = decodeResponse(raw, stream.op);
      } catch (err) {
        // A member that answers nonsense: end the stream as if its connection had closed.
        this.#streams.delete(id);
        stream.sink.closed(`a malformed answer: ${(err as Error).message}`);
        continue;
      }
      if (!res.ok) this.#streams.delete(id);
      stream.sink.message(res);
    }
  }

  #onClosed(rpc: RpcConnection): void {
    for (const [id, p] of this.#pending) {
      if (p.conn !== rpc) continue;
      this.#pending.delete(id);
      p.reject(new Error(`connection to ${rpc.serverId} closed`));
    }
    for (const [id, s] of this.#streams) {
      if (s.conn !== rpc) continue;
      this.#streams.delete(id);
      s.sink.closed(`the connection to ${rpc.serverId} closed`);
    }
  }

  async #admit(): Promise<void> {
    while (this.#inflight >= this.o.inflightMax) await new Promise<void>((r) => this.#waiting.push(r));
    this.#inflight++;
  }

  #release(): void {
    this.#inflight--;
    this.#waiting.shift()?.();
  }
}

function trim(url: string): string {
  return url.replace(/\/$/, '');
}

/** In Node, a timer of the SDK's must not keep the process alive. */
export function unref(timer: unknown): void {
  (timer as { unref?: () => void }).unref?.();
}

/** A pause a caller awaits (it keeps a Node process alive, as the awaited call does). */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
