// Both halves of the connection handshake, as plain async functions over a frame channel. The
// acceptor speaks first (hello with a fresh challenge); a peer dialer answers with an HMAC proof
// and its own challenge, which the acceptor's welcome must answer in turn, so both sides prove
// they hold the cluster secret (any of a rotation's secrets). Token holders (clients, readers,
// learners) present a JWT instead. Every failure throws a TransportError whose detail stays on
// this side.

import type { NodeId } from '../core/types.ts';
import { dialerProofInput, hmac, randomChallenge, serverProofInput, timingSafeEqual } from './auth.ts';
import type { FrameCodec } from './codec.ts';
import { describeValue, TransportError } from './errors.ts';
import { describeTiming, protocolVersion, sameTiming, sameTokenTtl } from './envelope.ts';
import type { HandshakeFrame, PeerTiming } from './envelope.ts';
import type { TokenClaims, TokenRole, TokenVerifier } from './token-claims.ts';
import type { PeerRole } from './transport.ts';

export interface HandshakeConfig {
  readonly id: NodeId;
  readonly cluster: string;
  readonly codec: FrameCodec;
  /**
   * The cluster secrets' keys: this side proves with the first, and accepts a proof made with any
   * (the overlap of a secret rotation). Null only in insecure mode. Invariant: never empty.
   */
  readonly peerKeys: readonly CryptoKey[] | null;
  /** Verifies tokens of clients, readers and learners; null refuses every token. */
  readonly tokens: TokenVerifier | null;
  /** Refuses a verified token by this member's state (a revocation): the reason, or null. */
  readonly tokenRefusal?: ((claims: TokenClaims) => string | null) | null;
  /** When set, this node dials as a token holder instead of as a peer. */
  readonly token: string | null;
  /** A token holder's connection tag (see TokenAuthFrame.instance); '' for none. */
  readonly instance?: string;
  /** Roles a token may carry to be let in. */
  readonly acceptRoles: ReadonlySet<TokenRole>;
  /** Connections per peer pair; slots are numbered below it. */
  readonly slotsMax: number;
  readonly now: () => number;
  /** This peer's lease-related timing settings; a peer with others is refused. Null: no check. */
  readonly timing?: PeerTiming | null;
}

/** The frame channel of one socket during its handshake. */
export interface HandshakeChannel {
  send(frame: HandshakeFrame): void;
  /** The next handshake frame; rejects when the socket closes or the deadline passes. */
  next(): Promise<HandshakeFrame>;
}

export interface Authenticated {
  readonly remoteId: NodeId;
  /** What the other side is, from this side's point of view. */
  readonly role: PeerRole;
  readonly slot: number;
  /** The id of the side that opened the connection (settles duplicates). */
  readonly dialedBy: NodeId;
  /** When the remote's credentials lapse (tokens), or null. */
  readonly expiresAtMs: number | null;
  /** A token holder's verified claims (read unverified by an insecure node); null for peers. */
  readonly claims: TokenClaims | null;
}

function refuse(message: string): TransportError {
  return new TransportError('ERR_AUTH_FAILED', message);
}

const noProof = new Uint8Array(0);

/**
 * Refuses a peer whose timing differs from ours: the leader lease assumes every voter waits as
 * long as the leader's settings say before it votes for another.
 */
function checkTiming(cfg: HandshakeConfig, peer: NodeId, theirs: PeerTiming | undefined): void {
  const ours = cfg.timing ?? null;
  if (ours === null) return;
  if (theirs === undefined) {
    throw new TransportError('ERR_TIMING_MISMATCH', `peer ${peer} did not announce its timing settings (an older edgeraft?): every member must run the same version and settings`);
  }
  if (!sameTiming(ours, theirs)) {
    throw new TransportError('ERR_TIMING_MISMATCH', `peer ${peer} runs with ${describeTiming(theirs)}; this member with ${describeTiming(ours)}: ` +
      'every member must use the same --tick-ms and election settings, or a leader lease could outlast a voter\'s promise not to vote');
  }
  if (!sameTokenTtl(ours, theirs)) {
    throw new TransportError('ERR_TIMING_MISMATCH', `peer ${peer} accepts tokens living up to ${theirs.tokenTtlMaxMs} ms, this member up to ${ours.tokenTtlMaxMs} ms (--token-ttl-max-ms): ` +
      'every member must use the same, or a revocation by subject could be forgotten while a token it covers is still accepted');
  }
}

export async function acceptHandshake(ch: HandshakeChannel, cfg: HandshakeConfig): Promise<Authenticated> {
  const challenge = randomChallenge();
  const timing = cfg.timing ?? null;
  ch.send(timing === null
    ? { kind: 'hello', v: protocolVersion, cluster: cfg.cluster, serverId: cfg.id, challenge }
    : { kind: 'hello', v: protocolVersion, cluster: cfg.cluster, serverId: cfg.id, challenge, timing });
  const frame = await ch.next();
  if (frame.kind === 'peerAuth') {
    if (frame.serverId !== cfg.id) throw refuse(`peer ${describeValue(frame.dialerId)} dialed ${describeValue(frame.serverId)}, this is ${cfg.id}`);
    checkTiming(cfg, frame.dialerId, frame.timing);
    if (frame.dialerId === cfg.id) throw refuse('peer claims this node\'s own id');
    if (frame.slot >= cfg.slotsMax) throw refuse(`peer ${frame.dialerId} asked for slot ${frame.slot}, connectionsPerPeer is ${cfg.slotsMax}`);
    let proof: Uint8Array = noProof;
    if (cfg.peerKeys !== null) {
      const input = dialerProofInput(challenge, cfg.cluster, frame.dialerId, cfg.id, frame.slot);
      const key = await matchingKey(cfg.peerKeys, input, frame.proof);
      if (key === null) throw refuse(`peer ${frame.dialerId} failed the secret proof (it holds none of this member's ${cfg.peerKeys.length} cluster secret${cfg.peerKeys.length === 1 ? '' : 's'})`);
      // Answered with the secret the dialer proved with, which the dialer surely accepts: during a
      // rotation the two sides may prove with different secrets.
      proof = await hmac(key, serverProofInput(frame.challenge, cfg.cluster, cfg.id, frame.dialerId, frame.slot));
    }
    ch.send({ kind: 'welcome', v: protocolVersion, proof });
    return { remoteId: frame.dialerId, role: 'peer', slot: frame.slot, dialedBy: frame.dialerId, expiresAtMs: null, claims: null };
  }
  if (frame.kind === 'tokenAuth') {
    if (cfg.tokens === null) throw refuse('a token was presented, but this node verifies no tokens');
    const claims = await cfg.tokens.verify(frame.token, cfg.now());
    if (claims.cluster !== cfg.cluster) {
      throw new TransportError('ERR_WRONG_CLUSTER', `the token of ${claims.sub} is for cluster ${describeValue(claims.cluster)}, but this member belongs to cluster ${describeValue(cfg.cluster)}`);
    }
    const refused = cfg.tokenRefusal?.(claims) ?? null;
    if (refused !== null) throw new TransportError('ERR_TOKEN_REVOKED', refused);
    if (!cfg.acceptRoles.has(claims.role)) throw refuse(`token of ${claims.sub} has role ${claims.role}, which this node does not accept`);
    if (claims.sub === cfg.id) throw refuse('token subject is this node\'s own id');
    if (frame.slot >= cfg.slotsMax) throw refuse(`token holder ${claims.sub} asked for slot ${frame.slot}`);
    // SDK connections sharing one token are distinct remotes (sub~instance); a connection without an
    // instance is the token subject's follower-reader link (replicationLink), one per subject.
    const remoteId = tokenRemoteId(claims.sub, frame.instance);
    if (remoteId.length > cfg.codec.limits.idLengthMax) throw refuse(`token holder id ${describeValue(remoteId)} is longer than idLengthMax`);
    if (claims.scopes !== null && isReplicationLink(remoteId)) throw refuse(scopedReplicaRefusal(claims));
    ch.send({ kind: 'welcome', v: protocolVersion, proof: noProof });
    return { remoteId, role: claims.role, slot: frame.slot, dialedBy: remoteId, expiresAtMs: claims.expMs, claims };
  }
  throw refuse(`expected peerAuth or tokenAuth, got ${frame.kind}`);
}

/**
 * The dialer's side. `expectedServerId` null (a client that knows only a URL) accepts whichever
 * member answers and reports its id as remoteId.
 */
export async function dialHandshake(ch: HandshakeChannel, cfg: HandshakeConfig, expectedServerId: NodeId | null, slot: number): Promise<Authenticated> {
  const hello = await ch.next();
  if (hello.kind !== 'hello') throw refuse(`expected hello, got ${hello.kind}`);
  if (expectedServerId !== null && hello.serverId !== expectedServerId) {
    throw refuse(`dialed ${expectedServerId}, but the server is ${describeValue(hello.serverId)}`);
  }
  const serverId = hello.serverId;
  if (cfg.token !== null) {
    ch.send({ kind: 'tokenAuth', v: protocolVersion, cluster: cfg.cluster, token: cfg.token, slot, instance: cfg.instance ?? '' });
    const welcome = await ch.next();
    if (welcome.kind !== 'welcome') throw refuse(`expected welcome, got ${welcome.kind}`);
    return { remoteId: serverId, role: 'peer', slot, dialedBy: cfg.id, expiresAtMs: null, claims: null };
  }
  checkTiming(cfg, serverId, hello.timing);
  const challenge = randomChallenge();
  const proof = cfg.peerKeys === null ? noProof
    : await hmac(cfg.peerKeys[0]!, dialerProofInput(hello.challenge, cfg.cluster, cfg.id, serverId, slot));
  const timing = cfg.timing ?? null;
  ch.send(timing === null
    ? { kind: 'peerAuth', v: protocolVersion, cluster: cfg.cluster, dialerId: cfg.id, serverId, slot, challenge, proof }
    : { kind: 'peerAuth', v: protocolVersion, cluster: cfg.cluster, dialerId: cfg.id, serverId, slot, challenge, proof, timing });
  const welcome = await ch.next();
  if (welcome.kind !== 'welcome') throw refuse(`expected welcome, got ${welcome.kind}`);
  if (cfg.peerKeys !== null) {
    const key = await matchingKey(cfg.peerKeys, serverProofInput(challenge, cfg.cluster, serverId, cfg.id, slot), welcome.proof);
    if (key === null) throw refuse(`server ${serverId} failed the secret proof (it holds none of this member's cluster secrets)`);
  }
  return { remoteId: serverId, role: 'peer', slot, dialedBy: cfg.id, expiresAtMs: null, claims: null };
}

/** The key (of a rotation's few) whose proof of `input` is `proof`, or null. */
async function matchingKey(keys: readonly CryptoKey[], input: Uint8Array, proof: Uint8Array): Promise<CryptoKey | null> {
  for (const key of keys) if (timingSafeEqual(await hmac(key, input), proof)) return key;
  return null;
}

/**
 * Why a scoped token may not hold a follower-reader link: the replica would receive every key of
 * the log, not only its scopes. The browser follower says the same before it dials.
 */
export function scopedReplicaRefusal(claims: Pick<TokenClaims, 'sub' | 'scopes'>): string {
  return `the token of ${claims.sub} is scoped to key prefixes ${(claims.scopes ?? []).map((p) => JSON.stringify(p)).join(', ')}, ` +
    'but a follower-reader replica receives the whole log (every key): a scoped token cannot hold one; use the SDK (edgeraft/client) with it instead';
}

/** The id a token holder's connection gets: its subject, plus `~instance` for SDK connections. */
export function tokenRemoteId(sub: string, instance: string): string {
  return instance === '' ? sub : `${sub}~${instance}`;
}

/**
 * Whether a token holder's connection is a follower-reader link (a browser tab or other replica
 * that receives the log as an observer) rather than an SDK connection: it presented no instance.
 */
export function isReplicationLink(remoteId: string): boolean {
  return !remoteId.includes('~');
}
