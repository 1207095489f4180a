// The native Deno dialer: the runtime's WebSocket (DomSocket), for ws:// and wss://. For a TLS
// cluster it carries a Deno.HttpClient (WebSocket's `client` option, Deno 2.9) that trusts the
// given CA beside the system's roots and presents this peer's certificate as a client
// certificate, so Node peers that require peer mTLS accept a Deno peer's dials.

import { dialDom } from '../runtime-browser/dom-socket.ts';
import { DialTrustError, type DialOptions, type Dialer, type SocketLike } from '../transport/socket.ts';

export interface DenoDialTls {
  /** PEM CA certificates to trust beside the system's roots; null: the system's only. */
  readonly ca: string | null;
  /** PEM certificate chain and key presented as a client certificate; null: none. */
  readonly clientCert: { readonly cert: string; readonly key: string } | null;
}

/** Deno's WebSocket constructor with its (non-standard) options argument. */
type DenoWebSocketConstructor = new (url: string, options: { client: Deno.HttpClient }) => WebSocket;

/** A Dialer; with `tls`, wss:// dials trust its CA and present its client certificate. */
export function denoDialer(tls: DenoDialTls | null): Dialer {
  const client = tls === null ? null : Deno.createHttpClient({
    ...(tls.ca !== null ? { caCerts: [tls.ca] } : {}),
    ...(tls.clientCert !== null ? { cert: tls.clientCert.cert, key: tls.clientCert.key } : {}),
  });
  const NativeWebSocket = WebSocket as unknown as DenoWebSocketConstructor;
  const open = (u: string): WebSocket => (client !== null && u.startsWith('wss:') ? new NativeWebSocket(u, { client }) : new WebSocket(u));
  const trusted = tls?.ca != null ? 'the CA of --tls-ca' : 'a CA of the system\'s store (give the CA with --tls-ca)';
  return (url: string, options: DialOptions): Promise<SocketLike> => dialDom(url, options, open).catch((err: Error) => {
    throw untrusted.test(err.message) ? new DialTrustError(`the TLS certificate of ${url} is not trusted: ${err.message}; it must be signed by ${trusted} and name this host`, { cause: err }) : err;
  });
}

/** rustls's verification failures, as Deno's WebSocket error reports them. */
const untrusted = /invalid peer certificate|UnknownIssuer|NotValidForName|Expired|NotValidYet|BadSignature/;
