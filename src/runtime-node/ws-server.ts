// The `ws` listener: one port (or an existing HTTP or HTTPS server) that peers, clients and
// browser learners all connect to; the mesh tells them apart by their handshake. maxPayload is
// the frame size cap, enforced by ws before a single byte is decoded (close code 1009).

import type { Server as HttpServer } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { WebSocketServer } from 'ws';
import { defaultFrameLimits } from '../transport/limits.ts';
import type { SocketLike, SocketListener } from '../transport/socket.ts';
import { WsSocket } from './ws-socket.ts';

export interface WsListenerOptions {
  /** Interface to bind; default 127.0.0.1 (pass '0.0.0.0' or '::' to serve other hosts). */
  readonly host?: string;
  /** Port; 0 picks a free one (see `port` on the listener). */
  readonly port?: number;
  /** Share an existing HTTP server (or HTTPS: the listener then serves wss://) instead of opening a port. */
  readonly server?: HttpServer | HttpsServer;
  /**
   * The HTTPS server asks clients for certificates (--peer-mtls): each socket then reports whether
   * its client presented a trusted one (SocketLike.tlsClientAuthorized).
   */
  readonly clientCertificates?: boolean;
  /** Only upgrade requests for this path. */
  readonly path?: string;
  /** Largest inbound message; must equal the mesh's limits.frameBytesMax. */
  readonly frameBytesMax?: number;
}

export class WsListener implements SocketListener {
  readonly #wss: WebSocketServer;
  readonly port: number;
  readonly host: string;
  /** wss:// (behind an HTTPS server) or ws://. */
  readonly scheme: 'ws' | 'wss';
  #onSocket: ((socket: SocketLike) => void) | null = null;

  private constructor(wss: WebSocketServer, host: string, port: number, scheme: 'ws' | 'wss', clientCertificates: boolean) {
    this.#wss = wss;
    this.host = host;
    this.port = port;
    this.scheme = scheme;
    wss.on('connection', (ws, req) => {
      const remote = `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? '?'}`;
      const socket = new WsSocket(ws, remote, clientCertificates ? (req.socket as TLSSocket).authorized === true : undefined);
      if (this.#onSocket === null) socket.close(1013, 'try again later');
      else this.#onSocket(socket);
    });
    wss.on('error', () => {});
  }

  static async open(options: WsListenerOptions = {}): Promise<WsListener> {
    const common = {
      maxPayload: options.frameBytesMax ?? defaultFrameLimits.frameBytesMax,
      perMessageDeflate: false,
      ...(options.path !== undefined ? { path: options.path } : {}),
    };
    if (options.server !== undefined) {
      const wss = new WebSocketServer({ ...common, server: options.server });
      const address = options.server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      // An https.Server is a tls.Server: it has setSecureContext, a plain one has not.
      const scheme = 'setSecureContext' in options.server ? 'wss' : 'ws';
      return new WsListener(wss, options.host ?? '127.0.0.1', port, scheme, scheme === 'wss' && options.clientCertificates === true);
    }
    const host = options.host ?? '127.0.0.1';
    const wss = await new Promise<WebSocketServer>((resolve, reject) => {
      const s: WebSocketServer = new WebSocketServer({ ...common, host, port: options.port ?? 0 }, () => resolve(s));
      s.once('error', reject);
    });
    const address = wss.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    return new WsListener(wss, host, port, 'ws', false);
  }

  /** ws://host:port (or wss://) for dialers on this machine. */
  get url(): string {
    const host = this.host.includes(':') ? `[${this.host}]` : this.host;
    return `${this.scheme}://${host}:${this.port}`;
  }

  listen(onSocket: (socket: SocketLike) => void): void {
    this.#onSocket = onSocket;
  }

  async close(): Promise<void> {
    this.#onSocket = null;
    // wss.close() leaves accepted sockets open and waits for them; end them first.
    for (const ws of this.#wss.clients) ws.terminate();
    await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
  }
}
