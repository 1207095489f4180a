// What a mesh sent, split by who it went to: peers (voters and learner members) or token holders
// (browser tabs replicating, SDK clients answered). A leader's metrics read it to show what serving
// follower-readers costs it per committed entry, next to what its voters cost.

import type { Message } from '../core/message.ts';
import type { PeerRole } from './transport.ts';

/** Destinations by what they are: members dialed as peers, or token holders. */
export type SendClass = 'peers' | 'token_holders';

export interface SendCounts {
  /** Bytes of data frames (Raft messages, keepalives included). */
  readonly dataBytes: number;
  /** Bytes of rpc frames (client answers, snapshot stream chunks). */
  readonly rpcBytes: number;
  readonly frames: number;
  /** Entries carried by AppendEntries. */
  readonly appEntries: number;
}

interface Counts {
  dataBytes: number;
  rpcBytes: number;
  frames: number;
  appEntries: number;
}

export function sendClassOf(role: PeerRole | null): SendClass {
  return role === 'peer' ? 'peers' : 'token_holders';
}

export class SendStats {
  readonly #by: Record<SendClass, Counts> = {
    peers: { dataBytes: 0, rpcBytes: 0, frames: 0, appEntries: 0 },
    token_holders: { dataBytes: 0, rpcBytes: 0, frames: 0, appEntries: 0 },
  };

  data(to: SendClass, frameBytes: number, msgs: readonly Message[]): void {
    const c = this.#by[to];
    c.dataBytes += frameBytes;
    c.frames += 1;
    for (const m of msgs) if (m.type === 'app') c.appEntries += m.entries.length;
  }

  rpc(to: SendClass, frameBytes: number): void {
    const c = this.#by[to];
    c.rpcBytes += frameBytes;
    c.frames += 1;
  }

  /** A copy: callers diff two readings. */
  read(): Readonly<Record<SendClass, SendCounts>> {
    return { peers: { ...this.#by.peers }, token_holders: { ...this.#by.token_holders } };
  }
}
