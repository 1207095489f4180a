// edgeraft/client for browsers and Deno: the SDK with the native WebSocket dialer.
import { dialDom } from '../runtime-browser/dom-socket.ts';
import { connectWith, type ConnectOptions, type KvClient } from './kv.ts';

export * from './exports.ts';

export function connect(options: Omit<ConnectOptions, 'dial'> & { dial?: ConnectOptions['dial'] }): Promise<KvClient> {
  return connectWith({ dial: dialDom, ...options });
}
