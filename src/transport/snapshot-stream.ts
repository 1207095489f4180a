// Snapshots travel between peers as a stream of bounded chunks over the rpc channel, not as one
// giant message: each chunk is acknowledged with the next offset wanted (so a transfer resumes
// where it stopped), a chunk unanswered in time is resent, too many misses cancel the transfer
// and tell Raft to probe again, and a newer term or snapshot cancels an older one. Heartbeats
// keep flowing in between, since at most `windowChunks` chunks are ever queued.

import { Decoder, Encoder } from 'cbor-x';
import type { SnapshotMsg } from '../core/message.ts';
import type { NodeId } from '../core/types.ts';
import type { Logger } from './transport.ts';

export interface SnapshotStreamOptions {
  readonly id: NodeId;
  /** Sends a stream payload to a peer; false when it could not be queued. */
  readonly send: (to: NodeId, payload: Uint8Array) => boolean;
  /** Hands a fully received snapshot to Raft as if it had arrived whole. */
  readonly deliver: (m: SnapshotMsg) => void;
  /** Tells Raft how a transfer ended (false: probe the follower again later). */
  readonly report: (to: NodeId, ok: boolean) => void;
  readonly log: Logger;
  readonly chunkBytes?: number;
  readonly windowChunks?: number;
  readonly chunkTimeoutMs?: number;
  readonly retriesMax?: number;
  /** Largest snapshot a receiver accepts. */
  readonly snapshotBytesMax?: number;
}

interface Outgoing {
  readonly msg: SnapshotMsg;
  /** Everything before this offset is acknowledged. */
  acked: number;
  /** Everything before this offset has been sent at least once. */
  sent: number;
  misses: number;
  timer: ReturnType<typeof setTimeout> | null;
  readonly started: number;
}

interface Incoming {
  readonly term: number;
  readonly index: number;
  readonly snapTerm: number;
  readonly voters: string[];
  readonly learners: string[];
  readonly data: Uint8Array;
  received: number;
}

/** Stream payloads start with -1, which no client request id can be. */
const STREAM = -1;
const CHUNK = 1;
const ACK = 2;

const encoder = new Encoder({ useRecords: false, tagUint8Array: false });
const decoder = new Decoder({ useRecords: false, mapsAsObjects: true, int64AsNumber: true } as ConstructorParameters<typeof Decoder>[0]);

/** Peer-to-peer notice: "you were removed from the cluster" ([-1, 3]). */
export const removalNotice = new Uint8Array([0x82, 0x20, 0x03]);

export function isRemovalNotice(p: Uint8Array): boolean {
  return p.length === 3 && p[0] === 0x82 && p[1] === 0x20 && p[2] === 0x03;
}

export function isStreamPayload(p: Uint8Array): boolean {
  // A CBOR array whose first element is -1 (0x20): [0x8N 0x20 ...].
  return p.length > 2 && (p[0]! & 0xe0) === 0x80 && p[1] === 0x20;
}

/**
 * A receiver's acknowledgement of snapshot chunks ([-1, 2, ...]): the only stream payload a
 * follower-reader (a token holder) may send a peer.
 */
export function isStreamAck(p: Uint8Array): boolean {
  return isStreamPayload(p) && p[2] === ACK;
}

export class SnapshotStreams {
  readonly #o: Required<Omit<SnapshotStreamOptions, 'log'>> & { log: Logger };
  readonly #out = new Map<NodeId, Outgoing>();
  readonly #in = new Map<NodeId, Incoming>();
  /** Completed transfers, for metrics. */
  sent = 0;
  received = 0;
  failed = 0;

  constructor(o: SnapshotStreamOptions) {
    this.#o = {
      chunkBytes: 256 * 1024, windowChunks: 2, chunkTimeoutMs: 5000, retriesMax: 5, snapshotBytesMax: 1024 * 1024 * 1024, ...o,
    };
  }

  /** Starts streaming a snapshot Raft wants sent (replacing an older transfer to that peer). */
  send(msg: SnapshotMsg): void {
    const old = this.#out.get(msg.to);
    if (old !== undefined) {
      if (old.msg.term === msg.term && old.msg.snapshot.meta.index === msg.snapshot.meta.index) return;
      this.#clear(old);
    }
    const o: Outgoing = { msg, acked: 0, sent: 0, misses: 0, timer: null, started: Date.now() };
    this.#out.set(msg.to, o);
    this.#o.log('info', `streaming snapshot ${msg.snapshot.meta.index} (${msg.snapshot.data.byteLength} bytes) to ${msg.to}`);
    this.#pump(o);
  }

  cancelAll(): void {
    for (const o of this.#out.values()) this.#clear(o);
    this.#out.clear();
    this.#in.clear();
  }

  /** A stream payload from a peer (the caller checked isStreamPayload and that it is a peer). */
  onPayload(from: NodeId, payload: Uint8Array): void {
    let raw: unknown;
    try {
      raw = decoder.decode(payload);
    } catch {
      this.#o.log('warn', `malformed snapshot stream payload from ${from}`);
      return;
    }
    if (!Array.isArray(raw)) return;
    if (raw[1] === CHUNK) this.#onChunk(from, raw);
    else if (raw[1] === ACK) this.#onAck(from, raw);
  }

  // ---- sending -----------------------------------------------------------------------------

  #pump(o: Outgoing): void {
    const data = o.msg.snapshot.data;
    const meta = o.msg.snapshot.meta;
    const windowEnd = Math.min(data.byteLength, o.acked + this.#o.windowChunks * this.#o.chunkBytes);
    let from = Math.max(o.sent, o.acked);
    // An empty snapshot is still one (empty) chunk.
    if (data.byteLength === 0 && o.sent === 0) from = -1;
    while (from < windowEnd || from === -1) {
      const start = Math.max(from, 0);
      const end = Math.min(start + this.#o.chunkBytes, data.byteLength);
      const chunk = [STREAM, CHUNK, o.msg.term, meta.index, meta.term, start, data.byteLength, data.subarray(start, end),
        start === 0 ? [meta.conf.voters, meta.conf.learners] : null];
      if (!this.#o.send(o.msg.to, toBytes(encoder.encode(chunk)))) break;
      o.sent = end;
      from = end;
      if (data.byteLength === 0) break;
    }
    this.#arm(o);
  }

  #arm(o: Outgoing): void {
    if (o.timer !== null) clearTimeout(o.timer);
    o.timer = setTimeout(() => {
      o.timer = null;
      o.misses++;
      if (o.misses > this.#o.retriesMax) {
        this.#fail(o, `no acknowledgement for ${this.#o.retriesMax + 1} chunk timeouts of ${this.#o.chunkTimeoutMs} ms`);
        return;
      }
      // Resume from what was acknowledged.
      o.sent = o.acked;
      this.#pump(o);
    }, this.#o.chunkTimeoutMs);
  }

  #onAck(from: NodeId, raw: readonly unknown[]): void {
    const [, , term, index, next] = raw;
    const o = this.#out.get(from);
    if (o === undefined || term !== o.msg.term || index !== o.msg.snapshot.meta.index || typeof next !== 'number') return;
    const total = o.msg.snapshot.data.byteLength;
    if (next > total || next < 0) return;
    if (next > o.acked) {
      o.acked = next;
      o.misses = 0;
    } else if (next < o.sent) {
      o.sent = next; // the receiver lost something: resend from where it stands
    }
    if (o.acked >= total) {
      this.#clear(o);
      this.#out.delete(from);
      this.sent++;
      this.#o.log('info', `snapshot ${index} sent to ${from} in ${Date.now() - o.started} ms`);
      this.#o.report(from, true);
      return;
    }
    this.#pump(o);
  }

  #fail(o: Outgoing, why: string): void {
    this.#clear(o);
    this.#out.delete(o.msg.to);
    this.failed++;
    this.#o.log('warn', `snapshot ${o.msg.snapshot.meta.index} to ${o.msg.to} cancelled: ${why}`);
    this.#o.report(o.msg.to, false);
  }

  #clear(o: Outgoing): void {
    if (o.timer !== null) clearTimeout(o.timer);
    o.timer = null;
  }

  // ---- receiving ---------------------------------------------------------------------------

  #onChunk(from: NodeId, raw: readonly unknown[]): void {
    const [, , term, index, snapTerm, offset, total, bytes, conf] = raw;
    if (![term, index, snapTerm, offset, total].every((x) => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0) || !(bytes instanceof Uint8Array)) {
      this.#o.log('warn', `malformed snapshot chunk from ${from}`);
      return;
    }
    const t = term as number;
    const idx = index as number;
    const tot = total as number;
    const off = offset as number;
    if (tot > this.#o.snapshotBytesMax) {
      this.#o.log('warn', `refusing a ${tot}-byte snapshot from ${from}: over snapshotBytesMax (${this.#o.snapshotBytesMax})`);
      return;
    }
    let s = this.#in.get(from);
    if (s !== undefined && (s.term !== t || s.index !== idx)) s = undefined; // a newer transfer replaces an older one
    if (s === undefined) {
      if (off !== 0 || !Array.isArray(conf)) return this.#ack(from, t, idx, 0);
      const [voters, learners] = conf as [unknown, unknown];
      if (!isIdList(voters) || !isIdList(learners)) return;
      s = { term: t, index: idx, snapTerm: snapTerm as number, voters, learners, data: new Uint8Array(tot), received: 0 };
      this.#in.set(from, s);
    }
    if (off === s.received && off + bytes.byteLength <= tot) {
      s.data.set(bytes, off);
      s.received += bytes.byteLength;
    }
    this.#ack(from, t, idx, s.received);
    if (s.received === tot) {
      this.#in.delete(from);
      this.received++;
      this.#o.deliver({
        type: 'snap', from, to: this.#o.id, term: t,
        snapshot: { meta: { index: idx, term: s.snapTerm, conf: { voters: s.voters, learners: s.learners } }, data: s.data },
      });
    }
  }

  #ack(to: NodeId, term: number, index: number, next: number): void {
    this.#o.send(to, toBytes(encoder.encode([STREAM, ACK, term, index, next])));
  }
}

function isIdList(x: unknown): x is string[] {
  return Array.isArray(x) && x.length <= 1024 && x.every((v) => typeof v === 'string' && v.length > 0 && v.length <= 128);
}

function toBytes(b: Uint8Array): Uint8Array {
  return b.constructor === Uint8Array ? b : new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}
