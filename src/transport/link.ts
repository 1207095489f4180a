// Everything the mesh keeps about one remote id: its open connections by slot, the dial state of
// each slot (for peers it knows an address of), and the outbox that coalesces the messages of one
// event-loop turn into one frame.

import type { Message } from '../core/message.ts';
import type { NodeId } from '../core/types.ts';
import type { Backoff } from './backoff.ts';
import type { Connection } from './connection.ts';
import type { PeerRole } from './transport.ts';

export interface DialSlot {
  readonly backoff: Backoff;
  timer: ReturnType<typeof setTimeout> | null;
  inFlight: boolean;
}

export class Link {
  readonly id: NodeId;
  /** Where to dial it; null for remotes that only dial in (clients, browser learners). */
  url: string | null;
  /** Open connections by slot. Invariant: every non-null one is in state 'open'. */
  readonly conns: (Connection | null)[];
  readonly dials: readonly DialSlot[];
  // Invariant: outboxBytes is the sum of estimateBytes over outbox.
  outbox: Message[] = [];
  outboxBytes = 0;
  /** Client-protocol payloads waiting for the same flush. Invariant: rpcBytes is their total size. */
  rpcOutbox: Uint8Array[] = [];
  rpcBytes = 0;
  flushQueued = false;
  unreachableQueued = false;
  /** An empty data frame, sent as a keepalive on idle connections. */
  keepalive: Uint8Array | null = null;
  #next = 0;

  constructor(id: NodeId, url: string | null, slots: number, makeDialSlot: () => DialSlot) {
    this.id = id;
    this.url = url;
    this.conns = new Array<Connection | null>(slots).fill(null);
    this.dials = Array.from({ length: slots }, makeDialSlot);
  }

  get openCount(): number {
    let n = 0;
    for (const c of this.conns) if (c !== null) n += 1;
    return n;
  }

  /** The role of the remote, from any open connection (they all agree). */
  get role(): PeerRole | null {
    for (const c of this.conns) if (c !== null) return c.auth.role;
    return null;
  }

  /** Bytes queued towards this remote: our outbox plus every socket's buffer. */
  pendingBytes(): number {
    let total = this.outboxBytes + this.rpcBytes;
    for (const c of this.conns) if (c !== null) total += c.bufferedAmount;
    return total;
  }

  /** The next open connection, round-robin over the slots. */
  nextConn(): Connection | null {
    const n = this.conns.length;
    for (let i = 0; i < n; i++) {
      const at = (this.#next + i) % n;
      const c = this.conns[at];
      if (c !== null && c !== undefined) {
        this.#next = (at + 1) % n;
        return c;
      }
    }
    return null;
  }

  takeRpc(): Uint8Array[] {
    const payloads = this.rpcOutbox;
    this.rpcOutbox = [];
    this.rpcBytes = 0;
    return payloads;
  }

  takeOutbox(): Message[] {
    const msgs = this.outbox;
    this.outbox = [];
    this.outboxBytes = 0;
    return msgs;
  }
}
