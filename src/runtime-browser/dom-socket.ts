// The native WebSocket (browsers, Deno) seen as a SocketLike, and a Dialer that opens one.
// Browsers only dial. Messages arrive as ArrayBuffers (binaryType 'arraybuffer'); there is no
// maxPayload in the DOM API, so the codec's size check is what refuses an oversized frame.

import { SocketEvents } from '../transport/socket.ts';
import type { DialOptions, SocketHandlers, SocketLike } from '../transport/socket.ts';


export class DomSocket implements SocketLike {
  readonly remote: string;
  readonly #ws: WebSocket;
  readonly #events = new SocketEvents(() => this.close(1008, 'policy violation'));

  constructor(ws: WebSocket, remote: string) {
    this.#ws = ws;
    this.remote = remote;
    ws.binaryType = 'arraybuffer';
    ws.onmessage = (ev: MessageEvent<unknown>) => {
      const d = ev.data;
      this.#events.deliver({ kind: 'message', data: d instanceof ArrayBuffer ? new Uint8Array(d) : String(d) });
    };
    ws.onclose = (ev: CloseEvent) => this.#events.deliver({ kind: 'close', code: ev.code, reason: ev.reason });
    ws.onerror = () => {};
  }

  get bufferedAmount(): number {
    return this.#ws.bufferedAmount;
  }

  send(data: Uint8Array): void {
    if (this.#ws.readyState !== WebSocket.OPEN) return;
    // A view on a larger (shared encoder) buffer: send exactly its bytes.
    this.#ws.send(data as Uint8Array<ArrayBuffer>);
  }

  close(code: number, reason: string): void {
    if (this.#ws.readyState === WebSocket.CLOSING || this.#ws.readyState === WebSocket.CLOSED) return;
    // The DOM API accepts only 1000 and 3000-4999 from scripts: protocol codes such as 1001 or
    // 1002 go out as 1000, keeping their (generic) reason.
    this.#ws.close(code === 1000 || (code >= 3000 && code <= 4999) ? code : 1000, reason);
  }

  listen(handlers: SocketHandlers): void {
    this.#events.listen(handlers);
  }
}

/**
 * A Dialer over the native WebSocket: resolves once open, rejects on error or timeout. `create`
 * opens the socket (Deno passes one that carries its TLS client settings).
 */
export function dialDom(url: string, options: DialOptions, create: (url: string) => WebSocket = (u) => new WebSocket(u)): Promise<SocketLike> {
  return new Promise((resolve, reject) => {
    const ws = create(url);
    const timer = setTimeout(() => fail(new Error(`opening ${url} timed out after ${options.timeoutMs} ms`)), options.timeoutMs);
    function fail(err: Error): void {
      clearTimeout(timer);
      ws.onopen = null;
      ws.onerror = null;
      ws.onclose = null;
      try { ws.close(); } catch { /* already closing */ }
      reject(err);
    }
    // Deno's error event says why (an ErrorEvent); a browser's says nothing.
    ws.onerror = (ev) => fail(new Error(`could not open ${url}${ev instanceof ErrorEvent && ev.message !== '' ? `: ${ev.message}${trustHint(ev.message)}` : ''}`));
    ws.onclose = (ev) => fail(new Error(`${url} closed before opening (${ev.code})`));
    ws.onopen = () => {
      clearTimeout(timer);
      ws.onopen = null;
      resolve(new DomSocket(ws, url));
    };
  });
}

/**
 * Deno refuses a certificate it does not trust, then retries the handshake and reports the
 * member's answer to that retry (no_application_protocol), which hides the cause: name it.
 */
function trustHint(message: string): string {
  return /NoApplicationProtocol|UnknownIssuer|invalid peer certificate/i.test(message)
    ? ' (Deno says this when it does not trust the member\'s TLS certificate: give it the CA with --cert FILE or DENO_CERT=FILE)'
    : '';
}
