// A WebSocket that Deno.upgradeWebSocket accepted, as a SocketLike. It is the native WebSocket
// (DomSocket does the translating), except that it opens only once the upgrade response has been
// sent, while the mesh's acceptor speaks first (the hello): sends before 'open' wait here.

import { DomSocket } from '../runtime-browser/dom-socket.ts';
import type { SocketHandlers, SocketLike } from '../transport/socket.ts';

/** Sends held before the socket opens: the handshake's hello, never more than a few. */
const earlySendsMax = 8;

export class AcceptedSocket implements SocketLike {
  readonly remote: string;
  readonly #inner: DomSocket;
  // Invariant: #early is null once the socket opened (or closed).
  #early: Uint8Array[] | null = [];
  #earlyBytes = 0;

  constructor(ws: WebSocket, remote: string) {
    this.remote = remote;
    this.#inner = new DomSocket(ws, remote);
    ws.addEventListener('open', () => {
      const early = this.#early ?? [];
      this.#early = null;
      this.#earlyBytes = 0;
      for (const b of early) this.#inner.send(b);
    });
    ws.addEventListener('close', () => { this.#early = null; });
  }

  get bufferedAmount(): number {
    return this.#earlyBytes + this.#inner.bufferedAmount;
  }

  send(data: Uint8Array): void {
    if (this.#early === null) return this.#inner.send(data);
    if (this.#early.length >= earlySendsMax) return this.close(1000, 'too much sent before the upgrade completed');
    // A copy: the caller may reuse its encoder's buffer before the socket opens.
    this.#early.push(data.slice());
    this.#earlyBytes += data.byteLength;
  }

  close(code: number, reason: string): void {
    this.#inner.close(code, reason);
  }

  listen(handlers: SocketHandlers): void {
    this.#inner.listen(handlers);
  }
}
