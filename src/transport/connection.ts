// One socket's life: a handshake phase, in which received messages feed the handshake channel
// (a bounded few, decoded with the small handshake size cap), then an open phase, in which they
// go straight to the mesh. The socket's close is reported exactly once, to whichever phase is on.

import { assert } from '../core/assert.ts';
import type { FrameCodec } from './codec.ts';
import { TransportError } from './errors.ts';
import type { HandshakeFrame } from './envelope.ts';
import type { Authenticated, HandshakeChannel } from './handshake.ts';
import type { SocketLike } from './socket.ts';

export type ConnectionState = 'handshake' | 'open' | 'closing' | 'closed';

export interface ConnectionHooks {
  data(conn: Connection, data: Uint8Array | string): void;
  closed(conn: Connection, code: number, reason: string): void;
}

/** Handshake frames held while nobody is waiting: more means the other side is not following the protocol. */
const handshakeInboxMax = 2;

export class Connection {
  readonly socket: SocketLike;
  readonly side: 'dialer' | 'acceptor';
  readonly #codec: FrameCodec;
  #state: ConnectionState = 'handshake';
  #auth: Authenticated | null = null;
  #hooks: ConnectionHooks | null = null;
  // Invariant: #inbox is non-empty only while #state is 'handshake' and #waiter is null.
  readonly #inbox: (Uint8Array | string)[] = [];
  #waiter: { resolve(frame: HandshakeFrame): void; reject(err: TransportError): void } | null = null;
  #failure: TransportError | null = null;
  /** Keepalive ticks since the last received message (the mesh closes idle connections). */
  idleTicks = 0;
  /** Whether anything was sent since the last keepalive tick. */
  sentSinceTick = false;

  constructor(socket: SocketLike, side: 'dialer' | 'acceptor', codec: FrameCodec) {
    this.socket = socket;
    this.side = side;
    this.#codec = codec;
    socket.listen({ message: (d) => this.#onMessage(d), close: (c, r) => this.#onClose(c, r) });
  }

  get state(): ConnectionState {
    return this.#state;
  }

  /** Who is on the other side; set once the handshake succeeded. */
  get auth(): Authenticated {
    assert(this.#auth !== null, 'connection is not authenticated yet');
    return this.#auth;
  }

  get bufferedAmount(): number {
    return this.socket.bufferedAmount;
  }

  channel(): HandshakeChannel {
    return {
      send: (frame) => this.socket.send(this.#codec.encode(frame)),
      next: () => this.#next(),
    };
  }

  /** Ends the handshake phase: from now on messages go to `hooks`. */
  open(auth: Authenticated, hooks: ConnectionHooks): void {
    assert(this.#state === 'handshake', () => `cannot open a connection in state ${this.#state}`);
    this.#state = 'open';
    this.#auth = auth;
    this.#hooks = hooks;
    for (const data of this.#inbox.splice(0)) hooks.data(this, data);
  }

  /** Fails a pending handshake (timeout, shutdown) and closes the socket. */
  fail(err: TransportError, code: number, reason: string): void {
    if (this.#state === 'handshake') this.#reject(err);
    this.close(code, reason);
  }

  send(bytes: Uint8Array): void {
    if (this.#state !== 'open') return;
    this.sentSinceTick = true;
    this.socket.send(bytes);
  }

  /** Starts closing: from now on nothing is sent or delivered; `closed` still follows once. */
  close(code: number, reason: string): void {
    if (this.#state === 'closed' || this.#state === 'closing') return;
    if (this.#state === 'open') this.#state = 'closing';
    this.socket.close(code, reason);
  }

  #next(): Promise<HandshakeFrame> {
    assert(this.#waiter === null, 'one handshake read at a time');
    if (this.#failure !== null) return Promise.reject(this.#failure);
    const data = this.#inbox.shift();
    if (data !== undefined) return Promise.resolve().then(() => this.#decode(data));
    return new Promise((resolve, reject) => { this.#waiter = { resolve, reject }; });
  }

  #decode(data: Uint8Array | string): HandshakeFrame {
    if (typeof data === 'string') throw new TransportError('ERR_FRAME_MALFORMED', 'text message during the handshake');
    return this.#codec.decodeHandshake(data);
  }

  #onMessage(data: Uint8Array | string): void {
    if (this.#state === 'open') {
      this.idleTicks = 0;
      this.#hooks!.data(this, data);
      return;
    }
    if (this.#state !== 'handshake') return;
    const waiter = this.#waiter;
    if (waiter === null) {
      if (this.#inbox.length >= handshakeInboxMax) {
        this.fail(new TransportError('ERR_FRAME_UNEXPECTED', 'too many frames during the handshake'), 4001, 'unauthorized');
        return;
      }
      this.#inbox.push(data);
      return;
    }
    this.#waiter = null;
    try {
      waiter.resolve(this.#decode(data));
    } catch (err) {
      waiter.reject(err as TransportError);
    }
  }

  #onClose(code: number, reason: string): void {
    const was = this.#state;
    if (was === 'closed') return;
    this.#state = 'closed';
    this.#inbox.length = 0;
    if (was === 'handshake') {
      this.#reject(new TransportError('ERR_AUTH_FAILED', `connection closed during the handshake (${code} ${reason})`));
    } else {
      this.#hooks!.closed(this, code, reason);
    }
  }

  #reject(err: TransportError): void {
    this.#failure ??= err;
    const waiter = this.#waiter;
    this.#waiter = null;
    waiter?.reject(err);
  }
}
