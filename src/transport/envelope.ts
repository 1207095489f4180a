// The wire format: what a frame holds and how each part is laid out as CBOR. Frames are
// positional CBOR arrays (no map keys on the wire), which cbor-x decodes several times faster
// than maps or records and which leave no room for unexpected keys.
//
// Every frame starts with [protocolVersion, kind, ...]:
//   data       [v, 0, cluster, from, to, msgs]
//   hello      [v, 1, cluster, serverId, challenge, timing?]     acceptor -> dialer, first frame
//   peerAuth   [v, 2, cluster, dialerId, serverId, slot, challenge, proof, timing?]
//   tokenAuth  [v, 3, cluster, token, slot, instance?]
//   rpc        [v, 5, cluster, from, to, payloads]                client requests and answers
//   welcome    [v, 4, proof]                                      acceptor -> dialer, last handshake frame
//
// A message is [typeCode, term, ...fields]; its from/to are the frame's (one sender and one
// receiver per frame), so they are not repeated. Fields marked ? are ParallelRaft's: they follow
// the others only when present, so raft-mode messages are byte for byte what they always were:
//   app            [0, term, prevIndex, prevTerm, commit, terms, kinds, lens, blob, confs, commitSet?]
//   appResp        [1, term, index, reject, hintIndex, hintTerm, acks?]   acks: when reject is false
//   hb             [2, term, commit, round, commitSet?]
//   hbResp         [3, term, round]
//   vote/preVote   [4|5, term, lastIndex, lastTerm, transfer, commit?]       commit: on vote only
//   voteResp/...   [6|7, term, reject, mergeCommit?, mergeEntries?]        both or neither; granted voteResp only
//   snap           [8, term, index, snapTerm, voters, learners, data]
//   timeoutNow     [9, term]
//   readIndex      [10, term, context]
//   readIndexResp  [11, term, context, index, reject]
// Entries of an app are columns: `terms[i]`, `kinds` (empty when every entry is 'normal'),
// `lens[i]` slicing one concatenated `blob`, and `confs` ([kind, node] for each config entry, in
// order). Entry i has index prevIndex + 1 + i, so contiguity holds by construction.
// timing is [tickMs, electionTicks, heartbeatTicks, leaseDriftPercent, checkQuorum 0|1,
// tokenTtlMaxMs?]: a peer announces it and refuses a peer whose settings differ (a lease is only
// safe if every voter's election timer is at least as long as the leader assumes; a revocation by
// subject is kept as long as its leader's longest token lifetime, which every member must share).
// An index list (commitSet above commit, acks above index) is an array of strictly increasing
// uints, at most indexListMax long. mergeEntries is [indexes, terms, kinds, lens, blob, confs]:
// the app columns plus each entry's own index (strictly increasing from 1, gaps allowed), terms
// in [1, term] in any order (a voter's log may hold re-stamped and stale entries side by side).

import type { Message, MessageType } from '../core/message.ts';
import type { ConfChange, EntryType, NodeId } from '../core/types.ts';

export const protocolVersion = 1;
/** Versions this build decodes. */
export const supportedVersions: readonly number[] = [protocolVersion];

export const challengeBytes = 32;
/** HMAC-SHA256 output. */
export const proofBytes = 32;

export type FrameKind = 'data' | 'hello' | 'peerAuth' | 'tokenAuth' | 'welcome' | 'rpc';

export const frameKindCodes: Readonly<Record<FrameKind, number>> = {
  data: 0, hello: 1, peerAuth: 2, tokenAuth: 3, welcome: 4, rpc: 5,
};
export const frameKindsByCode: readonly FrameKind[] = ['data', 'hello', 'peerAuth', 'tokenAuth', 'welcome', 'rpc'];

/** The versioned envelope every message travels in. */
export interface DataFrame {
  readonly kind: 'data';
  readonly v: number;
  readonly cluster: string;
  readonly from: NodeId;
  readonly to: NodeId;
  /** Each message's from/to equal the frame's. */
  readonly msgs: readonly Message[];
}

/**
 * The settings a leader lease depends on, which every member of a cluster must share: a voter
 * whose election timer is shorter than the leader assumes could elect another leader while the
 * old one still serves lease reads.
 */
export interface PeerTiming {
  readonly tickMs: number;
  readonly electionTicks: number;
  readonly heartbeatTicks: number;
  readonly leaseDriftPercent: number;
  readonly checkQuorum: boolean;
  /** The longest token lifetime the member accepts (--token-ttl-max-ms); absent: not announced. */
  readonly tokenTtlMaxMs?: number;
}

export function sameTiming(a: PeerTiming, b: PeerTiming): boolean {
  return a.tickMs === b.tickMs && a.electionTicks === b.electionTicks && a.heartbeatTicks === b.heartbeatTicks &&
    a.leaseDriftPercent === b.leaseDriftPercent && a.checkQuorum === b.checkQuorum;
}

/** Both announce the longest token lifetime, and it is the same (absent on either side: a test mesh). */
export function sameTokenTtl(a: PeerTiming, b: PeerTiming): boolean {
  return a.tokenTtlMaxMs === undefined || b.tokenTtlMaxMs === undefined || a.tokenTtlMaxMs === b.tokenTtlMaxMs;
}

export function describeTiming(t: PeerTiming): string {
  return `tick ${t.tickMs} ms, election ${t.electionTicks} ticks, heartbeat ${t.heartbeatTicks} ticks, ` +
    `lease drift ${t.leaseDriftPercent}%, checkQuorum ${t.checkQuorum ? 'on' : 'off'}`;
}

export interface HelloFrame {
  readonly kind: 'hello';
  readonly v: number;
  readonly cluster: string;
  readonly serverId: NodeId;
  readonly challenge: Uint8Array;
  /** The acceptor's timing settings; absent when it is not a peer (a client-only endpoint). */
  readonly timing?: PeerTiming;
}

export interface PeerAuthFrame {
  readonly kind: 'peerAuth';
  readonly v: number;
  readonly cluster: string;
  readonly dialerId: NodeId;
  readonly serverId: NodeId;
  /** Which of the `connectionsPerPeer` parallel connections this is. */
  readonly slot: number;
  /** The dialer's own challenge, which the acceptor's welcome proof must answer. */
  readonly challenge: Uint8Array;
  /** HMAC proof over the acceptor's challenge; empty in insecure mode. */
  readonly proof: Uint8Array;
  /** The dialer's timing settings (see PeerTiming). */
  readonly timing?: PeerTiming;
}

export interface TokenAuthFrame {
  readonly kind: 'tokenAuth';
  readonly v: number;
  readonly cluster: string;
  readonly token: string;
  readonly slot: number;
  /**
   * Distinguishes connections of clients and readers that share one token (each SDK instance picks
   * its own), so they never displace each other; empty for learners, whose id is the subject.
   */
  readonly instance: string;
}

export interface WelcomeFrame {
  readonly kind: 'welcome';
  readonly v: number;
  /** HMAC proof over the dialer's challenge; empty for token dialers and in insecure mode. */
  readonly proof: Uint8Array;
}

export type HandshakeFrame = HelloFrame | PeerAuthFrame | TokenAuthFrame | WelcomeFrame;

/**
 * Opaque application payloads (client requests and their answers), validated by the client
 * protocol, not here. Several go in one frame, like messages in a data frame.
 */
export interface RpcFrame {
  readonly kind: 'rpc';
  readonly v: number;
  readonly cluster: string;
  readonly from: NodeId;
  readonly to: NodeId;
  readonly payloads: readonly Uint8Array[];
}

export type Frame = DataFrame | HandshakeFrame | RpcFrame;
/** What may follow a handshake. */
export type SessionFrame = DataFrame | RpcFrame;

export const messageTypeCodes: Readonly<Record<MessageType, number>> = {
  app: 0, appResp: 1, hb: 2, hbResp: 3, vote: 4, preVote: 5, voteResp: 6, preVoteResp: 7,
  snap: 8, timeoutNow: 9, readIndex: 10, readIndexResp: 11,
};
export const messageTypesByCode: readonly MessageType[] = [
  'app', 'appResp', 'hb', 'hbResp', 'vote', 'preVote', 'voteResp', 'preVoteResp',
  'snap', 'timeoutNow', 'readIndex', 'readIndexResp',
];

export const entryTypeCodes: Readonly<Record<EntryType, number>> = { normal: 0, noop: 1, config: 2 };
export const entryTypesByCode: readonly EntryType[] = ['normal', 'noop', 'config'];

export type ConfChangeType = ConfChange['type'];
export const confTypeCodes: Readonly<Record<ConfChangeType, number>> = {
  addVoter: 0, addLearner: 1, promoteLearner: 2, removeNode: 3,
};
export const confTypesByCode: readonly ConfChangeType[] = ['addVoter', 'addLearner', 'promoteLearner', 'removeNode'];
