// A token holder's single connection to one member, for the client protocol: dial a URL (the
// member's id is learned from its hello), present the token, then exchange rpc frames. The
// client SDK keeps one of these per member it talks to; retries and leader discovery live there.

import type { NodeId } from '../core/types.ts';
import { FrameCodec } from './codec.ts';
import { closeCodes, closeReasons, TransportError } from './errors.ts';
import { dialHandshake, tokenRemoteId } from './handshake.ts';
import type { HandshakeConfig } from './handshake.ts';
import type { FrameLimits } from './limits.ts';
import { Connection } from './connection.ts';
import type { Dialer } from './socket.ts';
import { readClaims } from './token-claims.ts';

export interface RpcConnectOptions {
  readonly url: string;
  readonly cluster: string;
  readonly token: string;
  /** Tells this connection apart from others holding the same token (clients and readers). */
  readonly instance: string;
  readonly dial: Dialer;
  readonly limits?: Partial<FrameLimits>;
  readonly dialTimeoutMs?: number;
  readonly handshakeTimeoutMs?: number;
  /** An empty frame goes out after this long without traffic, so the member keeps the connection. */
  readonly keepaliveMs?: number;
}

export interface RpcHandlers {
  payloads(payloads: readonly Uint8Array[]): void;
  closed(code: number, reason: string): void;
}

export class RpcConnection {
  /** The member at the other end, as its hello named it. */
  readonly serverId: NodeId;
  /** This connection's id as the member sees it. */
  readonly selfId: NodeId;
  readonly #conn: Connection;
  readonly #codec: FrameCodec;
  #outbox: Uint8Array[] = [];
  #handlers: RpcHandlers | null = null;
  #closed = false;
  #sentSinceTick = false;
  #keepalive: ReturnType<typeof setInterval> | null = null;

  private constructor(conn: Connection, codec: FrameCodec, serverId: NodeId, selfId: NodeId) {
    this.#conn = conn;
    this.#codec = codec;
    this.serverId = serverId;
    this.selfId = selfId;
  }

  static async open(o: RpcConnectOptions): Promise<RpcConnection> {
    const claims = readClaims(o.token);
    const selfId = tokenRemoteId(claims.sub, o.instance);
    const codec = new FrameCodec({ cluster: o.cluster, ...(o.limits !== undefined ? { limits: o.limits } : {}) });
    const socket = await o.dial(o.url, { frameBytesMax: codec.limits.frameBytesMax, timeoutMs: o.dialTimeoutMs ?? 5000 });
    const conn = new Connection(socket, 'dialer', codec);
    const cfg: HandshakeConfig = {
      id: selfId, cluster: o.cluster, codec, peerKeys: null, tokens: null, token: o.token, instance: o.instance,
      acceptRoles: new Set(), slotsMax: 1, now: () => Date.now(),
    };
    const timeoutMs = o.handshakeTimeoutMs ?? 5000;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const err = new TransportError('ERR_HANDSHAKE_TIMEOUT', `no handshake with ${o.url} within ${timeoutMs} ms`);
        conn.fail(err, closeCodes.handshakeTimeout, closeReasons[closeCodes.handshakeTimeout]);
        reject(err);
      }, timeoutMs);
    });
    try {
      const auth = await Promise.race([dialHandshake(conn.channel(), cfg, null, 0), deadline]);
      const rpc = new RpcConnection(conn, codec, auth.remoteId, selfId);
      rpc.#startKeepalive(o.keepaliveMs ?? 5000);
      conn.open(auth, {
        data: (_c, data) => rpc.#onData(data),
        closed: (_c, code, reason) => rpc.#onClosed(code, reason),
      });
      return rpc;
    } catch (err) {
      conn.close(closeCodes.normal, closeReasons[closeCodes.normal]);
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  get open(): boolean {
    return !this.#closed && this.#conn.state === 'open';
  }

  get bufferedAmount(): number {
    return this.#conn.bufferedAmount;
  }

  /** Installs the handlers: call it right after open(), before sending anything. */
  listen(handlers: RpcHandlers): void {
    this.#handlers = handlers;
  }

  /** Queues one payload; everything queued in this turn leaves in one frame. */
  send(payload: Uint8Array): void {
    if (this.#closed) return;
    if (this.#outbox.length === 0) queueMicrotask(() => this.#flush());
    this.#outbox.push(payload);
    if (this.#outbox.length >= this.#codec.limits.msgsPerFrameMax) this.#flush();
  }

  #flush(): void {
    if (this.#outbox.length === 0) return;
    const payloads = this.#outbox;
    this.#outbox = [];
    this.#sentSinceTick = true;
    this.#conn.send(this.#codec.encodeRpc(this.selfId, this.serverId, payloads));
  }

  #startKeepalive(everyMs: number): void {
    if (everyMs <= 0) return;
    const keepalive = this.#codec.encodeData(this.selfId, this.serverId, []);
    this.#keepalive = setInterval(() => {
      if (!this.#sentSinceTick) this.#conn.send(keepalive);
      this.#sentSinceTick = false;
    }, everyMs);
    // In Node, an idle client must not keep the process alive just for its keepalive.
    (this.#keepalive as { unref?: () => void }).unref?.();
  }

  close(): void {
    if (this.#closed) return;
    this.#flush();
    this.#closed = true;
    if (this.#keepalive !== null) clearInterval(this.#keepalive);
    this.#conn.close(closeCodes.normal, closeReasons[closeCodes.normal]);
  }

  #onData(data: Uint8Array | string): void {
    try {
      if (typeof data === 'string') throw new TransportError('ERR_FRAME_MALFORMED', 'text message (frames are binary)');
      const frame = this.#codec.decodeSession(data);
      if (frame.kind !== 'rpc') return; // keepalives are empty data frames
      if (frame.from !== this.serverId || frame.to !== this.selfId) {
        throw new TransportError('ERR_FRAME_ADDRESS', `rpc frame from ${frame.from} to ${frame.to} on the connection of ${this.selfId} to ${this.serverId}`);
      }
      this.#handlers?.payloads(frame.payloads);
    } catch (err) {
      if (!(err instanceof TransportError)) throw err;
      this.#conn.close(closeCodes.protocolError, closeReasons[closeCodes.protocolError]);
    }
  }

  #onClosed(code: number, reason: string): void {
    this.#closed = true;
    if (this.#keepalive !== null) clearInterval(this.#keepalive);
    this.#handlers?.closed(code, reason);
  }
}
