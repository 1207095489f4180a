// edgeraft/client for Node.js: the SDK with the `ws` dialer.
import { dialWs } from '../runtime-node/ws-socket.ts';
import { connectWith, type ConnectOptions, type KvClient } from './kv.ts';

export * from './exports.ts';

export function connect(options: Omit<ConnectOptions, 'dial'> & { dial?: ConnectOptions['dial'] }): Promise<KvClient> {
  return connectWith({ dial: dialWs, ...options });
}
