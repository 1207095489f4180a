// The `ws` adapter: a ws WebSocket seen as a SocketLike, and a Dialer that opens one (ws:// or
// wss://, with a CA and a client certificate when given). Binary messages arrive as Uint8Array
// views (no copy), compression is off (frames are already dense and it would cost CPU on every
// frame), and maxPayload enforces frameBytesMax before decoding.

import WebSocket from 'ws';
import type { RawData } from 'ws';
import { DialTrustError, SocketEvents } from '../transport/socket.ts';
import type { DialOptions, SocketHandlers, SocketLike } from '../transport/socket.ts';

/** TLS options of a wss:// dial: the CAs to trust (PEM; default the system store) and a client certificate. */
export interface WsTlsOptions {
  readonly ca?: string | Uint8Array;
  readonly cert?: string;
  readonly key?: string;
}

/** OpenSSL's verification failures (and Node's host-name check): the other side's certificate is not trusted. */
const untrustedCodes = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'CERT_SIGNATURE_FAILURE', 'CERT_UNTRUSTED', 'CERT_REJECTED', 'INVALID_CA',
  'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'ERR_TLS_CERT_ALTNAME_INVALID',
]);


function toBytes(data: RawData): Uint8Array {
  if (Buffer.isBuffer(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (Array.isArray(data)) return new Uint8Array(Buffer.concat(data));
  return new Uint8Array(data);
}

export class WsSocket implements SocketLike {
  readonly remote: string;
  readonly #ws: WebSocket;
  readonly #events = new SocketEvents(() => this.close(1008, 'policy violation'));

  readonly tlsClientAuthorized?: boolean;

  constructor(ws: WebSocket, remote: string, tlsClientAuthorized?: boolean) {
    this.#ws = ws;
    this.remote = remote;
    if (tlsClientAuthorized !== undefined) this.tlsClientAuthorized = tlsClientAuthorized;
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

/**
 * A Dialer over `ws`: resolves with an open socket, rejects on error, refusal or timeout; a
 * certificate the dial does not trust rejects with a DialTrustError that says why.
 */
export function dialWs(url: string, options: DialOptions, tls: WsTlsOptions = {}): Promise<SocketLike> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, {
      maxPayload: options.frameBytesMax,
      perMessageDeflate: false,
      handshakeTimeout: options.timeoutMs,
      ...(tls.ca !== undefined ? { ca: typeof tls.ca === 'string' ? tls.ca : Buffer.from(tls.ca) } : {}),
      ...(tls.cert !== undefined && tls.key !== undefined ? { cert: tls.cert, key: tls.key } : {}),
    });
    const fail = (err: Error): void => {
      ws.removeAllListeners();
      ws.on('error', () => {});
      ws.terminate();
      reject(err);
    };
    ws.once('error', (err) => fail(dialError(url, err, tls)));
    ws.once('unexpected-response', (_req, res) => fail(res.statusCode === 426 && url.startsWith('ws:')
      ? new Error(`${url} serves TLS: dial ${url.replace(/^ws:/, 'wss:')} (the CLI: --ca FILE or wss:// addresses; the SDK: wss:// peers and the ca option)`)
      : new Error(`${url} answered HTTP ${res.statusCode}`)));
    ws.once('open', () => {
      ws.removeAllListeners();
      resolve(new WsSocket(ws, url));
    });
  });
}

/** A dial's error as the user should read it: an untrusted certificate says whose and why. */
function dialError(url: string, err: Error, tls: WsTlsOptions): Error {
  const code = (err as NodeJS.ErrnoException).code ?? '';
  if (untrustedCodes.has(code)) {
    const trust = tls.ca !== undefined ? 'the given CA (--tls-ca, --ca or the ca option)' : 'the system\'s CA store (give the CA with --tls-ca, --ca or the ca option)';
    return new DialTrustError(`the TLS certificate of ${url} is not trusted: ${err.message} (${code}); it must be signed by ${trust} and name this host`, { cause: err });
  }
  if (url.startsWith('wss:') && /wrong version number|packet length too long/.test(err.message)) {
    return new Error(`${url} does not speak TLS (a plain ws:// listener? its answer was not a TLS record): dial ${url.replace(/^wss:/, 'ws:')}`, { cause: err });
  }
  if (url.startsWith('ws:') && /socket hang up|ECONNRESET/.test(err.message)) {
    return new Error(`${url} closed the connection without answering (${err.message}); if it serves TLS, dial wss:// (the CLI: --ca FILE)`, { cause: err });
  }
  return err;
}
