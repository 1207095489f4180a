// Who handles an rpc payload. Every payload names its channel in its first CBOR element: a client
// request starts with its id (never negative), the snapshot stream's chunks and acknowledgements
// with -1, and a removal notice is [-1, 3] (transport/snapshot-stream.ts). The sender's role
// decides what it may use: the rules live in this one table, not in the peer's wiring.

import { isRemovalNotice, isStreamAck, isStreamPayload } from '../transport/snapshot-stream.ts';
import type { PeerRole } from '../transport/transport.ts';

export type RpcRoute = 'client' | 'stream' | 'removal' | 'drop';

export interface RpcSender {
  readonly role: PeerRole;
  /** A follower-reader's replication link (a browser tab following the log). */
  readonly replicationLink: boolean;
  /** Fault injection cut this member off: its stream traffic is dropped. */
  readonly blocked: boolean;
}

export function routeRpc(p: Uint8Array, from: RpcSender): RpcRoute {
  if (!isStreamPayload(p)) return 'client';
  if (from.role === 'peer') {
    if (from.blocked) return 'drop';
    return isRemovalNotice(p) ? 'removal' : 'stream';
  }
  // A follower-reader acknowledges the snapshot chunks it is sent. Anything else a token holder
  // puts on the stream channel goes to the client service, which answers it ERR_BAD_REQUEST.
  return from.replicationLink && isStreamAck(p) ? 'stream' : 'client';
}
