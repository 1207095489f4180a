// Everything a peer can be told, with defaults and validation that names the option, the rule
// and the value. The CLI maps its flags onto these; tests build them directly.

import { CodedError } from '../core/coded-error.ts';
import { defaults as raftDefaults } from '../core/config.ts';
import type { RaftOptions } from '../core/config.ts';
import { historyDefaults } from '../core/kv/history.ts';
import { watchDefaults } from '../core/kv/watch-hub.ts';
import { meshDefaults } from '../transport/mesh-options.ts';
import type { LogLevel } from '../transport/transport.ts';
import { secretBytesMin, secretsMax } from '../transport/auth.ts';
import { tokenAlgs } from '../transport/token-keys.ts';
import type { TokenAlg } from '../transport/token-keys.ts';

/** A TLS peer's files (--tls-cert, --tls-key, --tls-ca; the CA is optional: the system store then), read by runtime-node/tls.ts or the Deno peer's main.ts. */
export interface TlsFiles {
  readonly certFile: string;
  readonly keyFile: string;
  readonly caFile: string | null;
}

export interface PeerOptions {
  readonly id: string;
  /** Host and port to listen on; peers, clients, browser learners and /metrics share the port. */
  readonly host: string;
  readonly port: number;
  /** Every voting member at bootstrap (this one included): id -> ws://host:port. */
  readonly peers: Readonly<Record<string, string>>;
  readonly dataDir: string;
  readonly cluster: string;
  /**
   * Shared secret (peers prove membership with it; HS256 tokens are signed with it). A list is a
   * rotation's overlap: the first proves and signs, all are accepted.
   */
  readonly secret: string | readonly string[] | null;
  /** Run without a secret: loopback only, no authentication. */
  readonly insecure: boolean;
  /** Start as a new member of an existing cluster (no bootstrap; the leader adds it). */
  readonly join: boolean;
  readonly mode: 'raft' | 'parallel';
  /** Milliseconds per Raft tick. */
  readonly tickMs: number;
  /** Core options; the clock and tickMs come from the peer itself. */
  readonly raft: Partial<Omit<RaftOptions, 'id' | 'prng' | 'clock' | 'tickMs'>>;
  /** Snapshot after this many applied entries (0: never). */
  readonly snapshotEntries: number;
  readonly snapshotRetainEntries: number;
  /** Parallel connections per peer pair. */
  readonly connectionsPerPeer: number;
  /** fdatasync each write ('none' is for benchmarks only: it loses acknowledged writes on power loss). */
  readonly sync: 'fdatasync' | 'none';
  readonly logLevel: LogLevel;
  /** Serve the demo web page and its bundles from this directory at / (npm start). */
  readonly webRoot: string | null;
  /** Accept fault-injection requests (tests only: partitions through the admin API). */
  readonly faults: boolean;
  /**
   * Shortest lease TTL a grant may ask for. Default: 1.5 election timeouts (etcd's minTTL), so a
   * client renewing on time keeps its lease through an election (nobody answers keep-alives then).
   */
  readonly leaseTtlMinMs: number;
  /** Longest lease TTL a grant may ask for (default 7 days). */
  readonly leaseTtlMaxMs: number;
  /** Leases that may exist at once; a grant past it is refused with ERR_LEASE_LIMIT. */
  readonly leasesMax: number;
  /** Watchers this member serves at once (all connections); more: ERR_WATCH_LIMIT. */
  readonly watchersMax: number;
  /** Watchers one connection may hold at once; more: ERR_WATCH_LIMIT. */
  readonly watchersPerConnectionMax: number;
  /** A watcher that was sent nothing for this long gets a progress notice with the current revision. */
  readonly watchProgressMs: number;
  /** Watch history kept, in events: older revisions are compacted (watches from them: ERR_COMPACTED). */
  readonly historyEventsMax: number;
  /** Watch history kept, in bytes of keys and values. */
  readonly historyBytesMax: number;
  // ---- Tokens: JWT verification keys and secret rotation (token-files.ts; docs/operations.md) ----
  /** The file `secret` came from: Peer.reload() reads it again (a rotation). Null: no file. */
  readonly secretFile: string | null;
  /** PEM (SPKI) or JWK files of public keys that verify EdDSA / ES256 tokens (re-read on reload). */
  readonly tokenPublicKeyFiles: readonly string[];
  /** JWKS files (keys picked by kid) that verify EdDSA / ES256 tokens (re-read on reload). */
  readonly tokenJwksFiles: readonly string[];
  /** Algorithms a token may be signed with; HS256 is verified with the cluster secrets. */
  readonly tokenAlgs: readonly TokenAlg[];
  // ---- Scoped tokens and revocation (authorize.ts) ----
  /**
   * The longest token lifetime (expiry less issue time) accepted; a longer-lived token is refused.
   * A revocation by subject is kept this long, so every token it covers has expired when it goes.
   */
  readonly tokenTtlMaxMs: number;
  // ---- Online backups (backup-service.ts) ----
  /** Backups this member holds at once, each a copy of the state; more: ERR_BUSY. */
  readonly backupsMax: number;
  /** A backup no request touched for this long is dropped (its client went away or stalled). */
  readonly backupIdleMs: number;
  // ---- TLS (--tls-cert, --tls-key, --tls-ca, --peer-mtls; runtime-node/tls.ts) ----
  /** Serve wss:// and https:// with these files, and dial peers over wss://; null: plain ws://. */
  readonly tls: TlsFiles | null;
  /** Ask connecting clients for certificates and refuse a peer handshake without a trusted one. */
  readonly peerMtls: boolean;
}

/** The longest token lifetime by default: 30 days. */
export const tokenTtlMaxDefaultMs = 30 * 24 * 3600 * 1000;

/** The longest lease TTL by default: a week. */
export const leaseTtlMaxDefaultMs = 7 * 24 * 3600 * 1000;

/** etcd's minTTL rule: 1.5 election timeouts (electionTicks x tickMs), rounded up to a whole ms. */
export function leaseTtlMinDefaultMs(tickMs: number, electionTicks: number = raftDefaults.electionTicks): number {
  return Math.ceil(1.5 * electionTicks * tickMs);
}

export const peerDefaults = {
  host: '127.0.0.1',
  cluster: 'edgeraft',
  insecure: false,
  join: false,
  mode: 'raft',
  tickMs: 50,
  raft: {},
  snapshotEntries: 50_000,
  snapshotRetainEntries: 5_000,
  connectionsPerPeer: 1,
  sync: 'fdatasync',
  logLevel: 'info',
  webRoot: null,
  faults: false,
  leaseTtlMaxMs: leaseTtlMaxDefaultMs,
  leasesMax: 100_000,
  watchersMax: watchDefaults.watchersMax,
  watchersPerConnectionMax: 1000,
  watchProgressMs: 1000,
  historyEventsMax: historyDefaults.eventsMax,
  historyBytesMax: historyDefaults.bytesMax,
  secretFile: null,
  tokenPublicKeyFiles: [],
  tokenJwksFiles: [],
  tokenAlgs,
  tokenTtlMaxMs: tokenTtlMaxDefaultMs,
  backupsMax: 2,
  backupIdleMs: 30_000,
  tls: null,
  peerMtls: false,
} as const;

/** An option that breaks its rule; the CLI exits 2 for it, as for a usage error. */
export class PeerOptionError extends CodedError<'ERR_CONFIG_INVALID'> {
  override readonly name = 'PeerOptionError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_CONFIG_INVALID', message, options);
  }
}

function bad(option: string, rule: string, value: unknown): PeerOptionError {
  return new PeerOptionError(`invalid option ${option}: must be ${rule} (got ${JSON.stringify(value)})`);
}

const loopback = new Set(['127.0.0.1', 'localhost', '::1']);

/**
 * The largest learner window (RaftOptions.learnerInflightBytesMax) a peer with default message
 * size accepts: with one more message in flight it stays under the mesh's high-water mark, so
 * appends to a slow learner are never shed (and sent again).
 */
export const learnerWindowMax = meshDefaults.highWaterBytes - raftDefaults.msgBytesMax;

export function resolvePeerOptions(o: Partial<PeerOptions> & Pick<PeerOptions, 'id' | 'port' | 'peers' | 'dataDir'>): PeerOptions {
  const tickMs = o.tickMs ?? peerDefaults.tickMs;
  const leaseTtlMinMs = leaseTtlMinDefaultMs(tickMs, o.raft?.electionTicks);
  const r: PeerOptions = { ...peerDefaults, secret: null, leaseTtlMinMs, ...o };
  if (typeof r.id !== 'string' || !/^[A-Za-z0-9._-]{1,64}$/.test(r.id)) throw bad('id', 'letters, digits, . _ - (1..64 chars)', r.id);
  if (!Number.isInteger(r.port) || r.port < 0 || r.port > 65535) throw bad('port', 'an integer in [0, 65535]', r.port);
  if (typeof r.dataDir !== 'string' || r.dataDir.length === 0) throw bad('data', 'a directory path', r.dataDir);
  for (const [id, url] of Object.entries(r.peers)) {
    if (!/^[A-Za-z0-9._-]{1,64}$/.test(id)) throw bad('peers', 'ID=HOST:PORT entries with ids of letters, digits, . _ -', id);
    if (!/^wss?:\/\/[^\s/]+(:\d+)?\/?$/.test(url)) throw bad(`peers[${id}]`, 'a ws://host:port address', url);
  }
  if (!r.join && !(r.id in r.peers)) throw bad('peers', `a list that includes this member (${r.id}) when bootstrapping`, Object.keys(r.peers));
  if (r.secret === null && !r.insecure) throw bad('secret', 'given (--secret-file), or run with --insecure', null);
  checkTokenOptions(r);
  if (r.insecure && !loopback.has(r.host)) throw bad('listen', 'a loopback address when --insecure (no authentication)', r.host);
  if (r.mode !== 'raft' && r.mode !== 'parallel') throw bad('mode', 'raft or parallel', r.mode);
  if (!Number.isInteger(r.tickMs) || r.tickMs < 1 || r.tickMs > 10_000) throw bad('tick-ms', 'an integer in [1, 10000]', r.tickMs);
  if (!Number.isInteger(r.snapshotEntries) || r.snapshotEntries < 0) throw bad('snapshot-entries', 'an integer >= 0', r.snapshotEntries);
  if (!Number.isInteger(r.snapshotRetainEntries) || r.snapshotRetainEntries < 0) throw bad('snapshot-retain', 'an integer >= 0', r.snapshotRetainEntries);
  if (!Number.isInteger(r.connectionsPerPeer) || r.connectionsPerPeer < 1 || r.connectionsPerPeer > 16) throw bad('connections', 'an integer in [1, 16]', r.connectionsPerPeer);
  if (r.sync !== 'fdatasync' && r.sync !== 'none') throw bad('sync', 'fdatasync or none', r.sync);
  if (r.peerMtls && r.tls === null) throw bad('peer-mtls', 'given with --tls-cert and --tls-key (client certificates need TLS)', true);
  checkKvLimits(r);
  const window = r.raft.learnerInflightBytesMax ?? raftDefaults.learnerInflightBytesMax;
  const message = r.raft.msgBytesMax ?? raftDefaults.msgBytesMax;
  if (window + message > meshDefaults.highWaterBytes) {
    throw bad('learner-inflight-bytes', `at most ${meshDefaults.highWaterBytes - message} (the links' high-water mark, ${meshDefaults.highWaterBytes} bytes, less one message of msgBytesMax ${message})`, window);
  }
  return r;
}

/** Secrets (each long enough, at most a few) and the token flags of a secure peer. */
function checkTokenOptions(r: PeerOptions): void {
  const secrets = r.secret === null ? [] : typeof r.secret === 'string' ? [r.secret] : r.secret;
  if (r.secret !== null && (secrets.length === 0 || secrets.length > secretsMax)) throw bad('secret', `1 to ${secretsMax} secrets (a rotation needs two)`, `${secrets.length} secrets`);
  for (const s of secrets) if (s.length < secretBytesMin) throw bad('secret', `at least ${secretBytesMin} characters`, `${s.length} chars`);
  if (r.insecure && r.tokenPublicKeyFiles.length + r.tokenJwksFiles.length > 0) {
    throw bad('token-public-key', 'absent with --insecure (an insecure peer verifies no token)', [...r.tokenPublicKeyFiles, ...r.tokenJwksFiles]);
  }
  if (r.tokenAlgs.length === 0 || r.tokenAlgs.some((a) => !tokenAlgs.includes(a))) throw bad('token-algs', `a list of ${tokenAlgs.join(', ')}`, r.tokenAlgs);
}

const isInt = (v: unknown, min: number, max: number): boolean => Number.isInteger(v) && (v as number) >= min && (v as number) <= max;

/** Leases, watchers and the watch history: each limit in its range, and the ranges consistent. */
function checkKvLimits(r: PeerOptions): void {
  const election = (r.raft.electionTicks ?? raftDefaults.electionTicks) * r.tickMs;
  if (!isInt(r.leaseTtlMaxMs, 1, Number.MAX_SAFE_INTEGER)) throw bad('lease-ttl-max-ms', 'a positive integer', r.leaseTtlMaxMs);
  if (!isInt(r.leaseTtlMinMs, r.tickMs, r.leaseTtlMaxMs)) {
    throw bad('lease-ttl-min-ms', `an integer in [${r.tickMs}, ${r.leaseTtlMaxMs}] (at least one tick, at most --lease-ttl-max-ms; default 1.5 election timeouts = ${leaseTtlMinDefaultMs(r.tickMs, r.raft.electionTicks)} ms for an election timeout of ${election} ms)`, r.leaseTtlMinMs);
  }
  if (!isInt(r.leasesMax, 1, 10_000_000)) throw bad('leases-max', 'an integer in [1, 10000000]', r.leasesMax);
  if (!isInt(r.watchersMax, 1, 1_000_000)) throw bad('watchers-max', 'an integer in [1, 1000000]', r.watchersMax);
  if (!isInt(r.watchersPerConnectionMax, 1, r.watchersMax)) {
    throw bad('watchers-per-connection', `an integer in [1, ${r.watchersMax}] (at most --watchers-max)`, r.watchersPerConnectionMax);
  }
  if (!isInt(r.watchProgressMs, 10, 3_600_000)) throw bad('watch-progress-ms', 'an integer in [10, 3600000]', r.watchProgressMs);
  if (!isInt(r.historyEventsMax, 1, 100_000_000)) throw bad('history-events-max', 'an integer in [1, 100000000]', r.historyEventsMax);
  if (!isInt(r.historyBytesMax, 1024, Number.MAX_SAFE_INTEGER)) throw bad('history-bytes-max', 'an integer of at least 1024', r.historyBytesMax);
  if (!isInt(r.tokenTtlMaxMs, 1000, Number.MAX_SAFE_INTEGER)) throw bad('token-ttl-max-ms', 'an integer of at least 1000', r.tokenTtlMaxMs);
  if (!isInt(r.backupsMax, 1, 64)) throw bad('backups-max', 'an integer in [1, 64]', r.backupsMax);
  if (!isInt(r.backupIdleMs, 1000, 3_600_000)) throw bad('backup-idle-ms', 'an integer in [1000, 3600000]', r.backupIdleMs);
}
