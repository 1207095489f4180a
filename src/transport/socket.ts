// The only view of a socket the transport has: SocketLike, a small facade that the Node `ws`
// adapter and the native WebSocket adapter (browsers, Deno) both fill. Listeners and dialers are
// injected the same way, so the mesh itself never touches a runtime's networking API.

export interface SocketHandlers {
  /** A received message: binary as a Uint8Array, text as a string (the mesh refuses text). */
  message(data: Uint8Array | string): void;
  /** Called exactly once, when the socket has closed for any reason. */
  close(code: number, reason: string): void;
}

export interface SocketLike {
  /** Bytes accepted by send() and not yet handed to the network (socket plus library queues). */
  readonly bufferedAmount: number;
  /** A label for logs: the remote address or URL. */
  readonly remote: string;
  /** Sends one binary message; a no-op once the socket is closing. */
  send(data: Uint8Array): void;
  /** Starts closing; the close handler runs once it is done. Idempotent. */
  close(code: number, reason: string): void;
  /** Installs the handlers (once). Events before this call are held, a bounded few. */
  listen(handlers: SocketHandlers): void;
  /**
   * On a listener that asks clients for a TLS certificate (a peer with --peer-mtls): whether this
   * connection presented one signed by a trusted CA. Absent when nobody asked (the mesh then
   * checks nothing); the mesh refuses a peer handshake where it is false.
   */
  readonly tlsClientAuthorized?: boolean;
  /** Inbound flow control where the runtime offers it (Node `ws`): stop and restart reading. */
  pause?(): void;
  resume?(): void;
}

export interface DialOptions {
  /** Largest message accepted from the other side. */
  readonly frameBytesMax: number;
  /** Give up opening after this long. */
  readonly timeoutMs: number;
}

/**
 * A dial refused because the other side's TLS certificate is not trusted (wrong CA, expired, wrong
 * host name): retrying cannot help until an operator acts, so the mesh logs it as a warning.
 */
export class DialTrustError extends Error {
  override readonly name = 'DialTrustError';
}

/** Opens a socket to `url`; resolves once it is open, rejects if it cannot be opened. */
export type Dialer = (url: string, options: DialOptions) => Promise<SocketLike>;

export interface SocketListener {
  /** Starts handing over accepted sockets (called once). */
  listen(onSocket: (socket: SocketLike) => void): void;
  /** Stops accepting and closes whatever it still holds. */
  close(): Promise<void>;
}

/** Events a socket adapter holds before listen() is called; more than this closes the socket. */
export const earlyEventsMax = 16;

export type SocketEvent =
  | { readonly kind: 'message'; readonly data: Uint8Array | string }
  | { readonly kind: 'close'; readonly code: number; readonly reason: string };

/**
 * What every socket adapter does with its runtime's events: holds a bounded few until listen()
 * installs the handlers (more call `overflow`, which closes the socket), then dispatches them,
 * reporting the close exactly once and nothing after it.
 */
export class SocketEvents {
  readonly #overflow: () => void;
  #handlers: SocketHandlers | null = null;
  // Invariant: #early is empty once #handlers is set.
  readonly #early: SocketEvent[] = [];
  #closed = false;

  constructor(overflow: () => void) {
    this.#overflow = overflow;
  }

  listen(handlers: SocketHandlers): void {
    this.#handlers = handlers;
    for (const e of this.#early.splice(0)) this.#dispatch(e);
  }

  deliver(e: SocketEvent): void {
    if (this.#handlers !== null) return this.#dispatch(e);
    if (e.kind === 'message' && this.#early.length >= earlyEventsMax) {
      this.#overflow();
      return;
    }
    this.#early.push(e);
  }

  #dispatch(e: SocketEvent): void {
    if (e.kind === 'close') {
      if (this.#closed) return;
      this.#closed = true;
      this.#handlers!.close(e.code, e.reason);
    } else if (!this.#closed) {
      this.#handlers!.message(e.data);
    }
  }
}
