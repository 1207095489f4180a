// The `ws` adapter: a ws WebSocket seen as a SocketLike, and a Dialer that opens one. Binary
// messages arrive as Uint8Array views (no copy), compression is off (frames are already dense
// and it would cost CPU on every frame), and maxPayload enforces frameBytesMax before decoding.

import WebSocket from 'ws';
import type { RawData } from 'ws';
import { SocketEvents } from '../transport/socket.ts';
import type { DialOptions, SocketHandlers, SocketLike } from '../transport/socket.ts';


function toBytes(data: RawData): Uint8Array {
  if (Buffer.isBuffer(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (Array.isArray(data)) return new Uint8Array(Buffer.concat(data));
  return new Uint8Array(data);
}

export class WsSocket implements SocketLike {
  readonly remote: string;
  readonly #ws: WebSocket;
  readonly #events = new SocketEvents(() => this.close(1008, 'policy violation'));

  constructor(ws: WebSocket, remote: string) {
    this.#ws = ws;
    this.remote = remote;
    ws.binaryType = 'nodebuffer';
    ws.on('message', (data, isBinary) => {
      this.#events.deliver({ kind: 'message', data: isBinary ? toBytes(data) : Buffer.from(toBytes(data)).toString('utf8') });
    });
    ws.on('close', (code, reason) => this.#events.deliver({ kind: 'close', code, reason: reason.toString() }));
    // ws emits 'error' and then 'close'; the close carries what the mesh needs.
    ws.on('error', () => {});
  }

  get bufferedAmount(): number {
    return this.#ws.bufferedAmount;
  }

  send(data: Uint8Array): void {
    if (this.#ws.readyState !== WebSocket.OPEN) return;
    this.#ws.send(data, { binary: true });
  }

  close(code: number, reason: string): void {
    if (this.#ws.readyState === WebSocket.CLOSED || this.#ws.readyState === WebSocket.CLOSING) return;
    this.#ws.close(code, reason);
  }

  listen(handlers: SocketHandlers): void {
    this.#events.listen(handlers);
  }

  pause(): void {
    this.#ws.pause();
  }

  resume(): void {
    this.#ws.resume();
  }
}

/** A Dialer over `ws`: resolves with an open socket, rejects on error, refusal or timeout. */
export function dialWs(url: string, options: DialOptions): Promise<SocketLike> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, {
      maxPayload: options.frameBytesMax,
      perMessageDeflate: false,
      handshakeTimeout: options.timeoutMs,
    });
    const fail = (err: Error): void => {
      ws.removeAllListeners();
      ws.on('error', () => {});
      ws.terminate();
      reject(err);
    };
    ws.once('error', fail);
    ws.once('unexpected-response', (_req, res) => fail(new Error(`${url} answered HTTP ${res.statusCode}`)));
    ws.once('open', () => {
      ws.removeAllListeners();
      resolve(new WsSocket(ws, url));
    });
  });
}
