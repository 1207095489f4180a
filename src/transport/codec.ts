// Encodes frames to bytes and decodes untrusted bytes to validated frames. Decoding is size check
// -> cbor-x -> validate; any failure is a TransportError with a stable code, never a raw decoder
// exception. Data frames are written by frame-writer.ts (the hot path), with each batch of entries
// encoded once for all destinations (entry-runs.ts), handshake frames by cbor-x. Encoding asserts
// what the core promised (from/to match the frame, entries are contiguous), since a violation
// there is our bug, not the peer's.

import { Decoder, Encoder } from 'cbor-x';
import { assert, assertNever } from '../core/assert.ts';
import type { Message } from '../core/message.ts';
import type { LogRules } from '../core/store/log-rules.ts';
import type { NodeId } from '../core/types.ts';
import { SlabAllocator } from './cbor-writer.ts';
import { EntryRuns } from './entry-runs.ts';
import type { EntryRunStats } from './entry-runs.ts';
import { encodeDataFrame, encodeRpcFrame, messageBytes } from './frame-writer.ts';
import { describeValue, TransportError } from './errors.ts';
import { resolveFrameLimits } from './limits.ts';
import type { FrameLimits } from './limits.ts';
import { frameKindCodes, protocolVersion } from './envelope.ts';
import type { DataFrame, Frame, HandshakeFrame, PeerTiming, SessionFrame } from './envelope.ts';
import { validateFrame } from './validate.ts';

/** Handshake frames are tiny; anything bigger before authentication is refused undecoded. */
export const handshakeBytesMax = 8192;

/**
 * cbor-x reads `int64AsNumber` though its typings omit it: without it a uint64 (how integers of
 * 2^32 and more are written) decodes as a BigInt, which validation would refuse.
 */
const decoderOptions = { useRecords: false, mapsAsObjects: true, int64AsNumber: true };

export interface CodecOptions {
  readonly cluster: string;
  readonly limits?: Partial<FrameLimits>;
  /**
   * The cluster's log rules (core modes.ts logRulesFor()): under ParallelRaft's an append may carry
   * falling terms (re-stamped and stale copies side by side; docs/parallel-raft.md). Plain Raft's
   * when omitted.
   */
  readonly logRules?: LogRules;
}

/** What validation needs beyond the limits: the rules appended entries must keep. */
export type ValidationContext = FrameLimits & { readonly logRules?: LogRules };

export class FrameCodec {
  readonly cluster: string;
  readonly limits: FrameLimits;
  readonly #slab = new SlabAllocator();
  /** Appends' entry columns, encoded once however many destinations a batch goes to. */
  readonly #runs = new EntryRuns();
  // Handshake frames go through cbor-x; data frames through the frame writer (the hot path).
  // Plain arrays and byte strings only: no records, no tag for Uint8Array (it would decode as a
  // copy), so decoded byte strings are views into the frame.
  readonly #encoder = new Encoder({ useRecords: false, tagUint8Array: false });
  readonly #decoder = new Decoder(decoderOptions);
  readonly #validation: ValidationContext;

  constructor(options: CodecOptions) {
    this.limits = resolveFrameLimits(options.limits);
    this.#validation = options.logRules === undefined ? this.limits : { ...this.limits, logRules: options.logRules };
    assert(typeof options.cluster === 'string' && options.cluster.length > 0, 'cluster must be a non-empty string');
    assert(options.cluster.length <= this.limits.clusterLengthMax, () => `cluster id longer than clusterLengthMax: ${options.cluster.length}`);
    this.cluster = options.cluster;
  }

  /** One frame carrying `msgs`, all from `from` to `to`. */
  encodeData(from: NodeId, to: NodeId, msgs: readonly Message[]): Uint8Array {
    if (msgs.length > this.limits.msgsPerFrameMax) assert(false, `${msgs.length} messages exceed msgsPerFrameMax`);
    return encodeDataFrame(this.#slab, this.cluster, from, to, msgs, this.#runs);
  }

  /** Entries encoded (once per batch) and framed (once per destination) so far. */
  get entryStats(): EntryRunStats {
    return this.#runs.stats;
  }

  encode(frame: Frame): Uint8Array {
    assert(frame.v === protocolVersion, () => `cannot encode version ${frame.v}`);
    switch (frame.kind) {
      case 'data':
        assert(frame.cluster === this.cluster, 'frame cluster differs from the codec cluster');
        return this.encodeData(frame.from, frame.to, frame.msgs);
      case 'hello': {
        const head = [frame.v, frameKindCodes.hello, this.cluster, frame.serverId, frame.challenge];
        return this.#encode(frame.timing === undefined ? head : [...head, timingWire(frame.timing)]);
      }
      case 'peerAuth': {
        const head = [frame.v, frameKindCodes.peerAuth, this.cluster, frame.dialerId, frame.serverId, frame.slot, frame.challenge, frame.proof];
        return this.#encode(frame.timing === undefined ? head : [...head, timingWire(frame.timing)]);
      }
      case 'tokenAuth':
        return this.#encode(frame.instance === ''
          ? [frame.v, frameKindCodes.tokenAuth, this.cluster, frame.token, frame.slot]
          : [frame.v, frameKindCodes.tokenAuth, this.cluster, frame.token, frame.slot, frame.instance]);
      case 'rpc':
        return this.encodeRpc(frame.from, frame.to, frame.payloads);
      case 'welcome':
        return this.#encode([frame.v, frameKindCodes.welcome, frame.proof]);
      default:
        return assertNever(frame, 'frame kind');
    }
  }

  /** Decodes and validates any frame of at most frameBytesMax. */
  decode(bytes: Uint8Array): Frame {
    return this.#decode(bytes, this.limits.frameBytesMax);
  }

  /** One frame carrying opaque client-protocol payloads from `from` to `to`. */
  encodeRpc(from: NodeId, to: NodeId, payloads: readonly Uint8Array[]): Uint8Array {
    assert(payloads.length <= this.limits.msgsPerFrameMax, () => `${payloads.length} payloads exceed msgsPerFrameMax`);
    return encodeRpcFrame(this.#slab, this.cluster, from, to, payloads);
  }

  /** Decodes what may follow a handshake: a data or an rpc frame. */
  decodeSession(bytes: Uint8Array): SessionFrame {
    const frame = this.#decode(bytes, this.limits.frameBytesMax);
    if (frame.kind !== 'data' && frame.kind !== 'rpc') throw new TransportError('ERR_FRAME_UNEXPECTED', `expected a data or rpc frame, got ${frame.kind}`);
    return frame;
  }

  /** Decodes a data frame; any other kind is ERR_FRAME_UNEXPECTED. */
  decodeData(bytes: Uint8Array): DataFrame {
    const frame = this.#decode(bytes, this.limits.frameBytesMax);
    if (frame.kind !== 'data') throw new TransportError('ERR_FRAME_UNEXPECTED', `expected a data frame, got ${frame.kind}`);
    return frame;
  }

  /** Decodes a handshake frame (at most handshakeBytesMax: nothing big is decoded before auth). */
  decodeHandshake(bytes: Uint8Array): HandshakeFrame {
    const frame = this.#decode(bytes, handshakeBytesMax);
    if (frame.kind === 'data' || frame.kind === 'rpc') throw new TransportError('ERR_FRAME_UNEXPECTED', `expected a handshake frame, got ${frame.kind}`);
    return frame;
  }

  /** The exact encoded size of a message inside a data frame (for packing and byte accounting). */
  estimateBytes(m: Message): number {
    return messageBytes(m, this.#runs);
  }

  #encode(value: unknown[]): Uint8Array {
    const out: Uint8Array = this.#encoder.encode(value);
    return out;
  }

  #decode(bytes: Uint8Array, bytesMax: number): Frame {
    if (!(bytes instanceof Uint8Array)) {
      throw new TransportError('ERR_FRAME_MALFORMED', `frame must be binary, got ${describeValue(bytes)}`);
    }
    if (bytes.byteLength > bytesMax) {
      throw new TransportError('ERR_FRAME_TOO_LARGE', `frame of ${bytes.byteLength} bytes exceeds ${bytesMax}`);
    }
    // A plain view: cbor-x then returns byte strings as Uint8Array views, not Buffers.
    const view = bytes.constructor === Uint8Array ? bytes : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let raw: unknown;
    try {
      raw = this.#decoder.decode(view);
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      throw new TransportError('ERR_FRAME_MALFORMED', `frame of ${bytes.byteLength} bytes is not valid CBOR: ${describeValue(why, 80)}`);
    }
    return validateFrame(raw, this.#validation, this.cluster);
  }
}

function timingWire(t: PeerTiming): unknown[] {
  const wire: unknown[] = [t.tickMs, t.electionTicks, t.heartbeatTicks, t.leaseDriftPercent, t.checkQuorum ? 1 : 0];
  if (t.tokenTtlMaxMs !== undefined) wire.push(t.tokenTtlMaxMs);
  return wire;
}
