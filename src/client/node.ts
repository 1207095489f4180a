// edgeraft/client for Node.js: the SDK with the `ws` dialer (wss:// verified against `ca` when given).
import { dialWs } from '../runtime-node/ws-socket.ts';
import { ClientError } from './errors.ts';
import { connectWith, type ConnectOptions, type KvClient } from './kv.ts';

export * from './exports.ts';

export function connect(options: Omit<ConnectOptions, 'dial'> & { dial?: ConnectOptions['dial'] }): Promise<KvClient> {
  const { ca } = options;
  if (ca !== undefined && typeof ca !== 'string' && !(ca instanceof Uint8Array)) {
    return Promise.reject(new ClientError('ERR_OPTIONS', `connect(): ca must be PEM text or bytes (got ${typeof ca})`));
  }
  const dial: ConnectOptions['dial'] = ca !== undefined ? (url, o) => dialWs(url, o, { ca }) : dialWs;
  return connectWith({ dial, ...options });
}
