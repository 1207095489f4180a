// The native Deno listener: Deno.serve on one port (TLS when given a certificate and key), where
// WebSocket upgrades go to the mesh (peers, clients, browser learners; the handshake tells them
// apart) and plain HTTP requests to the peer's routes (/healthz, /metrics, /status).
// Deno.serve cannot ask clients for certificates, so a Deno peer cannot require peer mTLS.

import type { SocketLike, SocketListener } from '../transport/socket.ts';
import { AcceptedSocket } from './deno-socket.ts';

export interface DenoListenerOptions {
  readonly host: string;
  /** 0 picks a free port (see `port`). */
  readonly port: number;
  /** PEM certificate chain and key: the port serves wss:// and https://. */
  readonly tls: { readonly cert: string; readonly key: string } | null;
  /** Every request that is not a WebSocket upgrade. */
  readonly onHttp: (request: Request) => Response | Promise<Response>;
  /** A server-side failure (a handler that threw, a TLS handshake that failed). */
  readonly onError?: (err: unknown) => void;
}

/** Seconds without a pong before Deno closes an accepted socket (its own keep-alive pings). */
const idleTimeoutSeconds = 30;
/** How long close() waits for connections to finish before it stops waiting. */
const shutdownWaitMs = 2000;

export class DenoListener implements SocketListener {
  readonly host: string;
  readonly port: number;
  readonly #server: Deno.HttpServer;
  readonly #open = new Set<WebSocket>();
  #onSocket: ((socket: SocketLike) => void) | null = null;

  private constructor(server: Deno.HttpServer, host: string, port: number) {
    this.#server = server;
    this.host = host;
    this.port = port;
  }

  /** Binds the port; rejects if it cannot (in use, no permission). */
  static async open(o: DenoListenerOptions): Promise<DenoListener> {
    let listener: DenoListener | null = null;
    const server = Deno.serve({
      hostname: o.host, port: o.port, ...(o.tls !== null ? { cert: o.tls.cert, key: o.tls.key } : {}),
      // Without it Deno prints "Listening on ..." to stdout.
      onListen: () => {},
      onError: (err) => {
        o.onError?.(err);
        return new Response('internal error\n', { status: 500 });
      },
    }, (req, info) => {
      if (req.headers.get('upgrade')?.toLowerCase() !== 'websocket') return o.onHttp(req);
      if (listener === null || listener.#onSocket === null) return new Response('not accepting connections yet\n', { status: 503 });
      return listener.#accept(req, `${info.remoteAddr.hostname}:${info.remoteAddr.port}`);
    });
    listener = new DenoListener(server, o.host, server.addr.port);
    return listener;
  }

  #accept(req: Request, remote: string): Response {
    const { socket, response } = Deno.upgradeWebSocket(req, { idleTimeout: idleTimeoutSeconds });
    this.#open.add(socket);
    socket.addEventListener('close', () => this.#open.delete(socket));
    this.#onSocket!(new AcceptedSocket(socket, remote));
    return response;
  }

  listen(onSocket: (socket: SocketLike) => void): void {
    this.#onSocket = onSocket;
  }

  async close(): Promise<void> {
    this.#onSocket = null;
    for (const ws of this.#open) {
      try { ws.close(1000, 'server stopping'); } catch { /* closing already */ }
    }
    this.#open.clear();
    // shutdown() waits for open connections: give them a moment, then stop waiting.
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([this.#server.shutdown(), new Promise((r) => { timer = setTimeout(r, shutdownWaitMs); })]);
    clearTimeout(timer);
  }
}
