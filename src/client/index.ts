// The client SDK (edgeraft/client) for Node, Deno and browsers. Its protocol lands with the peer.
export { RaftError } from '../core/errors.ts';
export type { RaftErrorCode } from '../core/errors.ts';
