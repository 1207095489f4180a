// Every size a frame may reach, named and bounded. The decoder checks untrusted input against
// these before anything else sees it; the encoder refuses to produce frames the far side would
// reject. Relations between the defaults are asserted when the module loads.

import { assert } from '../core/assert.ts';
import { TransportError } from './errors.ts';

export interface FrameLimits {
  /** Bytes of one encoded frame, both ways (also the ws `maxPayload`). A snapshot must fit. */
  readonly frameBytesMax: number;
  /** Messages coalesced into one frame. */
  readonly msgsPerFrameMax: number;
  /** Entries in one AppendEntries. */
  readonly entriesPerMsgMax: number;
  /** Payload bytes of one entry. */
  readonly entryBytesMax: number;
  /** Length (UTF-16 code units) of a node id or subject id. */
  readonly idLengthMax: number;
  /** Length of the cluster id. */
  readonly clusterLengthMax: number;
  /** Voters plus learners in a snapshot's membership. */
  readonly confMembersMax: number;
  /** Length of a string ReadIndex context. */
  readonly contextLengthMax: number;
  /** Length of a client token. */
  readonly tokenLengthMax: number;
  /** Indexes in one index list (ParallelRaft's commit sets and out-of-order acks). */
  readonly indexListMax: number;
}

export const defaultFrameLimits: FrameLimits = {
  frameBytesMax: 64 * 1024 * 1024,
  msgsPerFrameMax: 4096,
  entriesPerMsgMax: 65536,
  entryBytesMax: 8 * 1024 * 1024,
  idLengthMax: 128,
  clusterLengthMax: 128,
  confMembersMax: 1024,
  contextLengthMax: 256,
  tokenLengthMax: 4096,
  indexListMax: 4096,
};

assert(defaultFrameLimits.entryBytesMax < defaultFrameLimits.frameBytesMax, 'an entry must fit a frame');
assert(defaultFrameLimits.tokenLengthMax < defaultFrameLimits.frameBytesMax, 'a token must fit a frame');

/** Fills defaults and checks each limit; throws ERR_CONFIG_INVALID naming the first bad one. */
export function resolveFrameLimits(partial: Partial<FrameLimits> = {}): FrameLimits {
  const limits: FrameLimits = { ...defaultFrameLimits, ...definedOnly(partial) };
  for (const key of Object.keys(defaultFrameLimits) as (keyof FrameLimits)[]) {
    const value = limits[key];
    if (!Number.isSafeInteger(value) || value < 1) {
      throw invalidOption(`limits.${key}`, 'an integer >= 1', value);
    }
  }
  for (const key of Object.keys(partial)) {
    if (!(key in defaultFrameLimits)) throw invalidOption(`limits.${key}`, 'a known limit', 'unknown');
  }
  if (limits.entryBytesMax >= limits.frameBytesMax) {
    throw invalidOption('limits.entryBytesMax', `less than frameBytesMax (${limits.frameBytesMax})`, limits.entryBytesMax);
  }
  if (limits.frameBytesMax < 1024) {
    throw invalidOption('limits.frameBytesMax', 'at least 1024 (handshake frames must fit)', limits.frameBytesMax);
  }
  return limits;
}

export function invalidOption(option: string, rule: string, value: unknown): TransportError {
  return new TransportError('ERR_CONFIG_INVALID', `invalid option ${option}: must be ${rule} (got ${String(value)})`);
}

export function definedOnly<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [k, v] of Object.entries(o)) {
    if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  }
  return out;
}
