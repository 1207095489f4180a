// The options of a WebSocket mesh, their defaults, and their validation (every option named in
// the error with the rule it broke and the value it got).

import type { Prng } from '../core/prng.ts';
import type { LogRules } from '../core/store/log-rules.ts';
import { SeededPrng } from '../core/prng.ts';
import type { NodeId } from '../core/types.ts';
import { secretBytes, secretsMax } from './auth.ts';
import type { Secret } from './auth.ts';
import { resolveBackoff } from './backoff.ts';
import type { BackoffOptions } from './backoff.ts';
import { definedOnly, invalidOption, resolveFrameLimits } from './limits.ts';
import type { FrameLimits } from './limits.ts';
import type { PeerTiming } from './envelope.ts';
import type { Dialer, SocketListener } from './socket.ts';
import { tokenRoles, unverifiedTokens } from './token-claims.ts';
import type { TokenClaims, TokenRole, TokenVerifier } from './token-claims.ts';
import { consoleLogger } from './transport.ts';
import type { Logger } from './transport.ts';
import { isNodeId, slotMax } from './validate.ts';

export interface MeshOptions {
  /** This node's id. */
  readonly id: NodeId;
  /** The cluster id: frames and tokens of another cluster are refused. */
  readonly cluster: string;
  /**
   * Shared cluster secret (at least 16 bytes): peers prove they hold it. A list is a rotation's
   * overlap: this node proves with the first and accepts proofs made with any.
   */
  readonly secret?: Secret | readonly Secret[];
  /**
   * Decides the tokens of clients, readers and browser learners (token.ts JwtVerifier). Absent:
   * an insecure node reads claims unverified; a node with a secret refuses every token.
   */
  readonly tokenVerifier?: TokenVerifier;
  /**
   * Refuses a verified token by what the member's state says of it (a revocation applied here):
   * the reason goes to this side's log, the holder gets close code 4007 (token revoked).
   */
  readonly tokenRefusal?: (claims: TokenClaims) => string | null;
  /** Dial as a token holder (client, reader, browser learner) instead of as a peer. */
  readonly token?: string;
  /** Required to run peers without a secret (no authentication at all: tests and local demos). */
  readonly insecure?: boolean;
  /** The peers to dial, by id. Either side of a pair may dial; duplicates are settled. */
  readonly peers?: ReadonlyMap<NodeId, string> | Readonly<Record<NodeId, string>>;
  /** Accepts inbound connections (the mesh owns it and closes it on close()). */
  readonly listener?: SocketListener;
  /** Opens outbound sockets (required when there are peers to dial). */
  readonly dial?: Dialer;
  /** Parallel connections per peer pair; frames are spread over them round-robin. */
  readonly connectionsPerPeer?: number;
  /** Token roles let in by this node's listener. */
  readonly acceptRoles?: readonly TokenRole[];
  readonly limits?: Partial<FrameLimits>;
  /** The cluster's log rules, which appended entries must keep (see CodecOptions.logRules). */
  readonly logRules?: LogRules;
  /**
   * The timing settings a leader lease depends on (envelope.ts PeerTiming): announced in the
   * handshake, and a peer whose settings differ is refused. Null skips the check (tests of the
   * mesh alone; clients).
   */
  readonly timing?: PeerTiming | null;
  /** Bytes of one frame from a token holder (client, reader, learner): they never send snapshots. */
  readonly tokenFrameBytesMax?: number;
  /** Bytes queued towards one peer above which replication ('app', 'snap') is shed. */
  readonly highWaterBytes?: number;
  /** Bytes queued towards one peer above which every message is dropped. */
  readonly hardCapBytes?: number;
  /** Bytes the outbox of one peer gathers before it is flushed within the same turn. */
  readonly frameTargetBytes?: number;
  readonly handshakeTimeoutMs?: number;
  readonly dialTimeoutMs?: number;
  /**
   * Unauthenticated inbound sockets at once; more are closed on arrival. ws buffers up to
   * frameBytesMax per socket before a message reaches the handshake, so this times frameBytesMax
   * bounds what unauthenticated parties can make this node hold.
   */
  readonly handshakesMax?: number;
  /** Remote ids with open connections (peers, clients, learners) at once. */
  readonly linksMax?: number;
  /** An empty frame goes out on a connection idle this long; 0 disables keepalives. */
  readonly keepaliveMs?: number;
  /** A connection that received nothing this long is closed (half-open sockets). */
  readonly idleTimeoutMs?: number;
  readonly backoff?: Partial<BackoffOptions>;
  /** Randomness for reconnect jitter (a SeededPrng in tests). */
  readonly prng?: Prng;
  /** Wall clock in ms, for token expiry. */
  readonly now?: () => number;
  /** Runs the outbox flush after the current turn; default queueMicrotask. */
  readonly scheduleFlush?: (flush: () => void) => void;
  readonly logger?: Logger;
}

export interface ResolvedMeshOptions {
  readonly id: NodeId;
  readonly cluster: string;
  /** Invariant: null or non-empty; the first is the one this node proves with. */
  readonly secrets: readonly Secret[] | null;
  readonly tokens: TokenVerifier | null;
  readonly tokenRefusal: ((claims: TokenClaims) => string | null) | null;
  readonly token: string | null;
  readonly peers: ReadonlyMap<NodeId, string>;
  readonly listener: SocketListener | null;
  readonly dial: Dialer | null;
  readonly connectionsPerPeer: number;
  readonly acceptRoles: ReadonlySet<TokenRole>;
  readonly limits: FrameLimits;
  readonly logRules: LogRules | undefined;
  readonly timing: PeerTiming | null;
  readonly tokenFrameBytesMax: number;
  readonly highWaterBytes: number;
  readonly hardCapBytes: number;
  readonly frameTargetBytes: number;
  readonly handshakeTimeoutMs: number;
  readonly dialTimeoutMs: number;
  readonly handshakesMax: number;
  readonly linksMax: number;
  readonly keepaliveMs: number;
  readonly idleTimeoutMs: number;
  readonly backoff: BackoffOptions;
  readonly prng: Prng;
  readonly now: () => number;
  readonly scheduleFlush: (flush: () => void) => void;
  readonly logger: Logger;
}

export const meshDefaults = {
  connectionsPerPeer: 1,
  tokenFrameBytesMax: 8 * 1024 * 1024,
  highWaterBytes: 8 * 1024 * 1024,
  hardCapBytes: 16 * 1024 * 1024,
  frameTargetBytes: 1024 * 1024,
  handshakeTimeoutMs: 5000,
  dialTimeoutMs: 5000,
  handshakesMax: 16,
  linksMax: 4096,
  keepaliveMs: 5000,
  idleTimeoutMs: 20000,
} as const;

export const connectionsPerPeerMax = 16;

function intIn(name: string, value: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw invalidOption(name, `an integer in [${min}, ${max}]`, value);
  }
  return value;
}

function randomSeed(): number {
  const b = new Uint32Array(1);
  globalThis.crypto.getRandomValues(b);
  return b[0]!;
}

export function resolveMeshOptions(options: MeshOptions): ResolvedMeshOptions {
  const o = { ...meshDefaults, ...definedOnly(options) };
  const limits = resolveFrameLimits(options.limits);
  if (!isNodeId(o.id, limits.idLengthMax)) throw invalidOption('id', 'a non-empty string without whitespace', o.id);
  if (typeof o.cluster !== 'string' || o.cluster.length === 0 || o.cluster.length > limits.clusterLengthMax) {
    throw invalidOption('cluster', `a string of 1..${limits.clusterLengthMax} chars`, o.cluster);
  }
  checkAuthMode(options);
  const peers = new Map<NodeId, string>(options.peers instanceof Map ? options.peers : Object.entries(options.peers ?? {}));
  for (const [id, url] of peers) {
    if (!isNodeId(id, limits.idLengthMax) || id === o.id) throw invalidOption(`peers[${id}]`, 'another node\'s id', id);
    if (typeof url !== 'string' || url.length === 0) throw invalidOption(`peers[${id}]`, 'a URL', url);
  }
  if (peers.size > 0 && options.dial === undefined) throw invalidOption('dial', 'a Dialer when peers are given', 'undefined');
  const acceptRoles = new Set(options.acceptRoles ?? tokenRoles);
  for (const r of acceptRoles) if (!tokenRoles.includes(r)) throw invalidOption('acceptRoles', tokenRoles.join('|'), r);
  intIn('connectionsPerPeer', o.connectionsPerPeer, 1, Math.min(connectionsPerPeerMax, slotMax + 1));
  const tokenFrameBytesMax = options.tokenFrameBytesMax ?? Math.min(meshDefaults.tokenFrameBytesMax, limits.frameBytesMax);
  intIn('tokenFrameBytesMax', tokenFrameBytesMax, 1, limits.frameBytesMax);
  intIn('highWaterBytes', o.highWaterBytes, 1);
  intIn('hardCapBytes', o.hardCapBytes, o.highWaterBytes);
  const frameTargetBytes = options.frameTargetBytes ?? Math.min(meshDefaults.frameTargetBytes, Math.floor(limits.frameBytesMax / 2));
  intIn('frameTargetBytes', frameTargetBytes, 1, limits.frameBytesMax);
  intIn('handshakeTimeoutMs', o.handshakeTimeoutMs, 1);
  intIn('dialTimeoutMs', o.dialTimeoutMs, 1);
  intIn('handshakesMax', o.handshakesMax, 1);
  intIn('linksMax', o.linksMax, 1);
  intIn('keepaliveMs', o.keepaliveMs, 0);
  intIn('idleTimeoutMs', o.idleTimeoutMs, o.keepaliveMs === 0 ? 0 : 2 * o.keepaliveMs);
  return {
    id: o.id, cluster: o.cluster,
    secrets: options.secret === undefined ? null : resolveSecrets(options.secret),
    tokens: options.tokenVerifier ?? (options.insecure === true ? unverifiedTokens : null),
    tokenRefusal: options.tokenRefusal ?? null,
    token: options.token ?? null,
    peers, listener: options.listener ?? null, dial: options.dial ?? null,
    connectionsPerPeer: o.connectionsPerPeer, acceptRoles, limits, logRules: options.logRules, timing: options.timing ?? null, tokenFrameBytesMax,
    highWaterBytes: o.highWaterBytes, hardCapBytes: o.hardCapBytes, frameTargetBytes,
    handshakeTimeoutMs: o.handshakeTimeoutMs, dialTimeoutMs: o.dialTimeoutMs,
    handshakesMax: o.handshakesMax, linksMax: o.linksMax,
    keepaliveMs: o.keepaliveMs, idleTimeoutMs: o.idleTimeoutMs,
    backoff: resolveBackoff(options.backoff),
    prng: options.prng ?? new SeededPrng(randomSeed()),
    now: options.now ?? (() => Date.now()),
    scheduleFlush: options.scheduleFlush ?? ((f) => queueMicrotask(f)),
    logger: options.logger ?? consoleLogger,
  };
}

/** The secrets of option `secret` as a list (first: the one to prove with), each checked. */
export function resolveSecrets(secret: Secret | readonly Secret[]): readonly Secret[] {
  const list = typeof secret === 'string' || secret instanceof Uint8Array ? [secret] : secret;
  if (!Array.isArray(list) || list.length === 0 || list.length > secretsMax) {
    throw invalidOption('secret', `a secret or a list of 1 to ${secretsMax} secrets`, Array.isArray(list) ? `${list.length} secrets` : typeof list);
  }
  for (const s of list) secretBytes(s);
  return list;
}

function checkAuthMode(options: MeshOptions): void {
  const insecure = options.insecure === true;
  if (options.secret !== undefined) resolveSecrets(options.secret);
  if (options.token !== undefined) {
    if (typeof options.token !== 'string' || options.token.length === 0) throw invalidOption('token', 'a token string', options.token);
    if (options.listener !== undefined) throw invalidOption('listener', 'absent when dialing with a token (token holders only dial)', 'a listener');
    return;
  }
  if (options.secret === undefined && !insecure) {
    throw invalidOption('secret', 'given (or set insecure: true to run peers without authentication)', 'undefined');
  }
  if (options.secret !== undefined && insecure) throw invalidOption('insecure', 'absent when a secret is given', true);
}
