// The client SDK: one object that talks to a cluster through any of its members. It finds the
// leader (following NOT_LEADER hints), pipelines many requests over one connection per member,
// retries across leader changes with backoff, and gives every write a session sequence number so
// a retried write applies exactly once. Runtime-neutral: the dialer is injected.

import type { SessionRef, Value } from '../core/kv/command.ts';
import { RpcConnection } from '../transport/rpc-client.ts';
import type { Dialer } from '../transport/socket.ts';
import { readClaims, unsignedToken } from '../transport/token.ts';
import { ClientError } from './errors.ts';
import {
  decodeResponse, decodeResponseHead, encodeRequest, type Consistency, type ErrorReply, type FaultDelay, type MembersAction, type ReadPath,
  type Reply, type RequestBody, type RequestOp, type Response,
} from './protocol.ts';

export type { Consistency, ReadPath, Value };

export interface ConnectOptions {
  /** Member addresses (ws://host:port); any one that answers is enough to start. */
  readonly peers: readonly string[];
  /** A token from `edgeraft token`; omit only for clusters run with --insecure. */
  readonly token?: string;
  /** Cluster id; read from the token when there is one. */
  readonly cluster?: string;
  /** Give up on one operation after this long. */
  readonly timeoutMs?: number;
  /** Give up on one attempt (one member) after this long and try again. */
  readonly attemptTimeoutMs?: number;
  /** Requests in flight at once; more wait. */
  readonly inflightMax?: number;
  /** Opens sockets (ws in Node, the native WebSocket elsewhere). */
  readonly dial: Dialer;
}

export interface ReadMeta<T> {
  readonly value: T;
  /** The log index the read reflects (at least). */
  readonly index: number;
  /** How it was served: 'lease' or 'readIndex' by the leader, 'follower', or 'stale'. */
  readonly path: ReadPath;
  /** The member that answered. */
  readonly servedBy: string;
}

export interface ScanOptions {
  readonly prefix?: string;
  readonly start?: string;
  readonly end?: string;
  readonly limit?: number;
  readonly consistency?: Consistency;
}

interface Conn {
  readonly url: string;
  rpc: RpcConnection | null;
  opening: Promise<RpcConnection> | null;
  failures: number;
}

interface Pending {
  readonly op: RequestOp;
  readonly resolve: (r: Response) => void;
  readonly reject: (e: Error) => void;
  readonly conn: RpcConnection;
  /** performance.now() after which the attempt is given up (swept by one timer, not one each). */
  readonly deadline: number;
}

const transient = new Set(['ERR_NOT_LEADER', 'ERR_UNAVAILABLE', 'ERR_BUSY', 'ERR_PROPOSAL_DROPPED', 'ERR_TIMEOUT']);

/**
 * Answers that prove the request was not applied: the member refused it before proposing it.
 * Any other end of a sent attempt (no answer in time, a closed connection, ERR_UNAVAILABLE,
 * ERR_PROPOSAL_DROPPED after a snapshot) leaves open whether it was applied.
 */
const notApplied = new Set(['ERR_NOT_LEADER', 'ERR_BUSY', 'ERR_FORBIDDEN', 'ERR_BAD_REQUEST', 'ERR_TOO_LARGE', 'ERR_SESSION_EXPIRED', 'ERR_SESSION_STALE', 'ERR_OUTCOME_UNKNOWN']);

/** What a call learnt about its attempts (for writes: whether one may have been applied). */
interface CallTrace {
  /** An attempt was sent and its fate is unknown. */
  uncertain: boolean;
}

class Attempt extends Error {
  constructor(readonly error: ErrorReply) {
    super(error.message);
  }
}

export class KvClient {
  readonly #o: Required<Omit<ConnectOptions, 'token' | 'cluster'>> & { token: string; cluster: string };
  readonly #conns = new Map<string, Conn>();
  readonly #pending = new Map<number, Pending>();
  readonly #instance: string;
  #nextId = 1;
  #leaderUrl: string | null = null;
  #rotate = 0;
  #closed = false;
  #session: { client: number; nextSeq: number; outstanding: Set<number> } | null = null;
  #registering: Promise<void> | null = null;
  #inflight = 0;
  #waiting: Array<() => void> = [];

  constructor(o: ConnectOptions) {
    if (!Array.isArray(o.peers) || o.peers.length === 0) throw new ClientError('ERR_OPTIONS', 'connect() needs peers: at least one ws://host:port address');
    for (const p of o.peers) {
      if (typeof p !== 'string' || !/^wss?:\/\//.test(p)) throw new ClientError('ERR_OPTIONS', `peer address ${JSON.stringify(p)} must start with ws:// or wss://`);
    }
    let cluster = o.cluster ?? 'edgeraft';
    let token = o.token;
    if (token !== undefined) {
      try {
        cluster = readClaims(token).cluster;
      } catch (err) {
        throw new ClientError('ERR_OPTIONS', `the token is malformed: ${(err as Error).message}`);
      }
    } else {
      token = unsignedToken({ role: 'admin', sub: 'anonymous', cluster, expMs: 8.64e15 });
    }
    const timeoutMs = o.timeoutMs ?? 10_000;
    this.#o = {
      peers: o.peers, token, cluster, timeoutMs, attemptTimeoutMs: o.attemptTimeoutMs ?? Math.min(2000, timeoutMs / 2),
      inflightMax: o.inflightMax ?? 4096, dial: o.dial,
    };
    const r = new Uint8Array(6);
    crypto.getRandomValues(r);
    this.#instance = Array.from(r, (b) => b.toString(16).padStart(2, '0')).join('');
    for (const url of o.peers) this.#conns.set(url.replace(/\/$/, ''), { url: url.replace(/\/$/, ''), rpc: null, opening: null, failures: 0 });
  }

  /** Connects to the first member that answers (connect() awaits this). */
  async ready(): Promise<void> {
    await this.#call({ op: 'status' }, 'any');
  }

  // ---- the key-value API ------------------------------------------------------------------

  /** Writes `value`; resolves once it is applied, with the log index it got. */
  async put(key: string, value: Value): Promise<{ index: number }> {
    const r = await this.#write((session) => ({ op: 'put', key, value, lease: 0, session }));
    return { index: r.index };
  }

  /** The value, or undefined; linearizable unless another consistency is asked for. */
  async get(key: string, options: { consistency?: Consistency } = {}): Promise<Value | undefined> {
    return (await this.getWithMeta(key, options)).value;
  }

  async getWithMeta(key: string, options: { consistency?: Consistency } = {}): Promise<ReadMeta<Value | undefined>> {
    const consistency = options.consistency ?? 'linearizable';
    const { reply, servedBy } = await this.#call({ op: 'get', key, consistency }, target(consistency));
    if (reply.kind !== 'read') throw new ClientError('ERR_INTERNAL', 'a get was answered with something else');
    return { value: reply.value ?? undefined, index: reply.index, path: reply.path, servedBy };
  }

  /** Deletes `key`; resolves with whether it existed. */
  async delete(key: string): Promise<{ index: number; existed: boolean }> {
    const r = await this.#write((session) => ({ op: 'delete', key, session }));
    return { index: r.index, existed: r.flag === true };
  }

  /** Compare-and-set: writes `value` only if the key holds `expected` (undefined: absent). True if it swapped. */
  async cas(key: string, expected: Value | undefined, value: Value): Promise<boolean> {
    const r = await this.#write((session) => ({ op: 'cas', key, expected: expected ?? null, value, session }));
    return r.flag === true;
  }

  /** Key-value pairs in key order, by prefix or [start, end). */
  async scan(options: ScanOptions = {}): Promise<Array<[string, Value]>> {
    return (await this.scanWithMeta(options)).value;
  }

  async scanWithMeta(options: ScanOptions = {}): Promise<ReadMeta<Array<[string, Value]>>> {
    const consistency = options.consistency ?? 'linearizable';
    const { reply, servedBy } = await this.#call({
      op: 'scan', prefix: options.prefix ?? null, start: options.start ?? null, end: options.end ?? null,
      limit: options.limit ?? null, consistency,
    }, target(consistency));
    if (reply.kind !== 'scan') throw new ClientError('ERR_INTERNAL', 'a scan was answered with something else');
    return { value: reply.pairs.map(([k, v]) => [k, v]), index: reply.index, path: reply.path, servedBy };
  }

  /** One member's view: the leader's by default, 'any' member's, or the member at `url`. */
  async status(url?: string): Promise<Record<string, unknown>> {
    const { reply } = await this.#call({ op: 'status' }, url ?? 'leader');
    return (reply as { info: Record<string, unknown> }).info;
  }

  /** Membership: list, or change it (admin token). */
  async members(action: MembersAction = 'list', node?: string, url?: string): Promise<Record<string, unknown>> {
    const { reply } = await this.#call({ op: 'members', action, node: node ?? null, url: url ?? null }, 'leader');
    return (reply as { info: Record<string, unknown> }).info;
  }

  /**
   * Fault injection on the member at `url` (peers run with --faults, admin token): drop its Raft
   * traffic with the listed members, and hold back the Raft messages of the given types it sends
   * (say a leadership transfer's timeoutNow) by their delays. Empty lists heal it.
   */
  async injectFault(url: string, block: readonly string[], delays: readonly FaultDelay[] = []): Promise<void> {
    await this.#call({ op: 'fault', block, delays }, url);
  }

  /** Moves leadership to `to` (admin token). */
  async transferLeader(to: string): Promise<void> {
    await this.#call({ op: 'transfer', to }, 'leader');
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#sweep !== null) clearInterval(this.#sweep);
    this.#sweep = null;
    for (const c of this.#conns.values()) c.rpc?.close();
    for (const p of this.#pending.values()) p.reject(new ClientError('ERR_CLOSED', 'the client was closed'));
    this.#pending.clear();
  }

  // ---- writes and sessions ----------------------------------------------------------------

  async #write(build: (s: SessionRef) => RequestBody): Promise<{ index: number; flag: boolean | null }> {
    for (let round = 0; ; round++) {
      await this.#ensureSession();
      const s = this.#session!;
      const seq = s.nextSeq++;
      s.outstanding.add(seq);
      const trace: CallTrace = { uncertain: false };
      try {
        // Sequence numbers only grow and the Set keeps insertion order: its first is the smallest.
        const firstUnacked = s.outstanding.values().next().value ?? seq;
        const { reply } = await this.#call(build({ client: s.client, seq, firstUnacked }), 'leader', trace);
        if (reply.kind !== 'write') throw new ClientError('ERR_INTERNAL', 'a write was answered with something else');
        return { index: reply.index, flag: reply.flag };
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

  async #call(body: RequestBody, where: 'leader' | 'any' | string, trace?: CallTrace): Promise<{ reply: Reply; servedBy: string }> {
    if (this.#closed) throw new ClientError('ERR_CLOSED', 'the client was closed');
    await this.#admit();
    const deadline = Date.now() + this.#o.timeoutMs;
    let last = 'no member answered';
    try {
      for (let attempt = 0; Date.now() < deadline && !this.#closed; attempt++) {
        const url = this.#pick(where, attempt);
        let sent = false;
        try {
          const rpc = await this.#connection(url);
          sent = true;
          const res = await this.#send(rpc, body, Math.min(this.#o.attemptTimeoutMs, deadline - Date.now()));
          if (res.ok) return { reply: res.reply, servedBy: rpc.serverId };
          throw new Attempt(res.error);
        } catch (err) {
          if (trace !== undefined && sent && !(err instanceof Attempt && notApplied.has(err.error.code))) trace.uncertain = true;
          if (err instanceof Attempt) {
            const e = err.error;
            last = `${e.code}: ${e.message}`;
            if (e.code === 'ERR_NOT_LEADER' && e.leader?.url != null && where === 'leader') this.#leaderUrl = e.leader.url.replace(/\/$/, '');
            else if (where === 'leader' && this.#leaderUrl === url) this.#leaderUrl = null;
            if (!transient.has(e.code)) throw new ClientError(e.code as ClientError['code'], e.message);
            if (e.code === 'ERR_NOT_LEADER' && e.leader?.url != null) continue;
          } else if (err instanceof ClientError) {
            throw err;
          } else if (/\b(4001|4010)\b|ERR_TOKEN/.test((err as Error).message)) {
            // The member refused our credentials: retrying elsewhere will not change that.
            throw new ClientError('ERR_FORBIDDEN', `${url} refused the token (${(err as Error).message}): check the token, its cluster and its expiry`);
          } else if (where !== 'leader' && where !== 'any') {
            // A request for one named member does not wander elsewhere: report it unreachable.
            throw new ClientError('ERR_UNAVAILABLE', `${url} is unreachable: ${(err as Error).message}`);
          } else {
            last = `${url}: ${(err as Error).message}`;
            if (this.#leaderUrl === url) this.#leaderUrl = null;
          }
          await sleep(Math.min(1000, 20 * 2 ** Math.min(attempt, 6)) * (0.5 + Math.random() / 2));
        }
      }
    } finally {
      this.#release();
    }
    if (this.#closed) throw new ClientError('ERR_CLOSED', 'the client was closed');
    throw new ClientError('ERR_TIMEOUT', `no answer from the cluster within ${this.#o.timeoutMs} ms (last error: ${last})`);
  }

  #pick(where: 'leader' | 'any' | string, attempt: number): string {
    if (where !== 'leader' && where !== 'any') return where.replace(/\/$/, '');
    if (where === 'leader' && this.#leaderUrl !== null) return this.#leaderUrl;
    if (where === 'any' && attempt === 0) {
      for (const c of this.#conns.values()) if (c.rpc?.open === true) return c.url;
    }
    const urls = [...this.#conns.keys()];
    return urls[this.#rotate++ % urls.length]!;
  }

  #connection(url: string): Promise<RpcConnection> {
    let c = this.#conns.get(url);
    if (c === undefined) {
      c = { url, rpc: null, opening: null, failures: 0 };
      this.#conns.set(url, c);
    }
    if (c.rpc !== null && c.rpc.open) return Promise.resolve(c.rpc);
    const conn = c;
    conn.opening ??= RpcConnection.open({ url, cluster: this.#o.cluster, token: this.#o.token, instance: this.#instance, dial: this.#o.dial })
      .then((rpc) => {
        conn.rpc = rpc;
        conn.failures = 0;
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

  #sweep: ReturnType<typeof setInterval> | null = null;

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
    (this.#sweep as { unref?: () => void }).unref?.();
  }

  #onPayloads(payloads: readonly Uint8Array[]): void {
    for (const p of payloads) {
      let raw: readonly unknown[];
      try {
        raw = decodeResponseHead(p);
      } catch {
        continue;
      }
      const pending = this.#pending.get(raw[0] as number);
      if (pending === undefined) continue;
      this.#pending.delete(raw[0] as number);
      try {
        pending.resolve(decodeResponse(raw, pending.op));
      } catch (err) {
        pending.reject(err as Error);
      }
    }
  }

  #onClosed(rpc: RpcConnection): void {
    for (const [id, p] of this.#pending) {
      if (p.conn !== rpc) continue;
      this.#pending.delete(id);
      p.reject(new Error(`connection to ${rpc.serverId} closed`));
    }
  }

  async #admit(): Promise<void> {
    while (this.#inflight >= this.#o.inflightMax) await new Promise<void>((r) => this.#waiting.push(r));
    this.#inflight++;
  }

  #release(): void {
    this.#inflight--;
    this.#waiting.shift()?.();
  }
}


function target(c: Consistency): 'leader' | 'any' {
  return c === 'follower' || c === 'stale' ? 'any' : 'leader';
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Connects to a cluster; resolves once one member answered. */
export async function connectWith(options: ConnectOptions): Promise<KvClient> {
  const kv = new KvClient(options);
  try {
    await kv.ready();
  } catch (err) {
    await kv.close();
    throw err;
  }
  return kv;
}
