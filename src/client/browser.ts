// edgeraft/client for browsers and Deno: the SDK with the native WebSocket dialer.
import { dialDom } from '../runtime-browser/dom-socket.ts';
import { ClientError } from './errors.ts';
import { connectWith, type ConnectOptions, type KvClient } from './kv.ts';

export * from './exports.ts';

export function connect(options: Omit<ConnectOptions, 'dial'> & { dial?: ConnectOptions['dial'] }): Promise<KvClient> {
  // A page or Deno cannot hand the WebSocket a CA: it trusts its own store (Deno: --cert FILE or DENO_CERT).
  if (options.ca !== undefined) return Promise.reject(new ClientError('ERR_OPTIONS', 'connect(): the ca option works in Node only; browsers and Deno trust their own certificate store (Deno: --cert FILE or DENO_CERT)'));
  return connectWith({ dial: dialDom, ...options });
}
