// A follower's small buffer for AppendEntries that arrive ahead of a gap (reordering across
// connections, or a delayed message): held until the gap fills, instead of being rejected and
// forcing the leader to resend everything after the gap (the first seed note's point).

import type { AppendMsg } from './message.ts';
import { entryBytes } from './types.ts';

interface Held {
  readonly msg: AppendMsg;
  readonly bytes: number;
  readonly heldAtTick: number;
}

export interface ReorderStats {
  /** Messages held because they arrived ahead of a gap. */
  held: number;
  /** Held messages accepted once the gap filled: each one a resend saved. */
  accepted: number;
  /** Held messages given up on (timeout, overflow, term change) and rejected or dropped. */
  expired: number;
}

export class ReorderBuffer {
  readonly msgsMax: number;
  readonly bytesMax: number;
  readonly #held: Held[] = [];
  #bytes = 0;
  readonly stats: ReorderStats = { held: 0, accepted: 0, expired: 0 };

  constructor(msgsMax: number, bytesMax: number) {
    this.msgsMax = msgsMax;
    this.bytesMax = bytesMax;
  }

  get size(): number {
    return this.#held.length;
  }

  /** Holds `msg` if there is room; returns false when it must be rejected instead. */
  hold(msg: AppendMsg, tick: number): boolean {
    if (this.msgsMax === 0 || msg.entries.length === 0) return false;
    let bytes = 0;
    for (const e of msg.entries) bytes += entryBytes(e);
    if (this.#held.length >= this.msgsMax || this.#bytes + bytes > this.bytesMax) return false;
    // Keep sorted by prevIndex so draining is in log order.
    let i = this.#held.length;
    while (i > 0 && this.#held[i - 1]!.msg.prevIndex > msg.prevIndex) i--;
    this.#held.splice(i, 0, { msg, bytes, heldAtTick: tick });
    this.#bytes += bytes;
    this.stats.held++;
    return true;
  }

  /** Removes and returns the first held message whose prev is at or below `lastIndex`. */
  takeReady(lastIndex: number, term: number): AppendMsg | null {
    for (let i = 0; i < this.#held.length; i++) {
      const h = this.#held[i]!;
      if (h.msg.term !== term) continue;
      if (h.msg.prevIndex <= lastIndex) {
        this.#held.splice(i, 1);
        this.#bytes -= h.bytes;
        return h.msg;
      }
      break;
    }
    return null;
  }

  markAccepted(): void {
    this.stats.accepted++;
  }

  /**
   * Hands back, in log order, every held message of `term` whose gap has closed: its prev is at or
   * below `upTo()`, asked again after each one since handling a message moves the log.
   */
  drain(upTo: () => number, term: number, handle: (msg: AppendMsg) => void): void {
    for (;;) {
      const held = this.takeReady(upTo(), term);
      if (held === null) return;
      this.markAccepted();
      handle(held);
    }
  }

  /** Removes messages held for `timeoutTicks` or more; returns the removed one with the lowest prevIndex. */
  expire(tick: number, timeoutTicks: number): AppendMsg | null {
    let first: AppendMsg | null = null;
    for (let i = 0; i < this.#held.length;) {
      const h = this.#held[i]!;
      if (tick - h.heldAtTick >= timeoutTicks) {
        this.#held.splice(i, 1);
        this.#bytes -= h.bytes;
        this.stats.expired++;
        if (first === null || h.msg.prevIndex < first.prevIndex) first = h.msg;
      } else {
        i++;
      }
    }
    return first;
  }

  clear(): void {
    this.stats.expired += this.#held.length;
    this.#held.length = 0;
    this.#bytes = 0;
  }
}
