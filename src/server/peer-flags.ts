// The flags of `edgeraft peer`, for every runtime: one table of the flags and how each is given,
// and their mapping onto PeerOptions. The Node CLI (runtime-node/cli.ts) and the native Deno peer
// (runtime-deno/flags.ts) parse with their own parser and map with peerFlagOptions(); what a
// runtime reads from files (the secrets, the TLS certificate) it reads itself.

import { defaults as raftDefaults } from '../core/config.ts';
import { parseTokenAlgs } from '../transport/credentials.ts';
import { tokenAlgs } from '../transport/token-keys.ts';
import type { LogLevel } from '../transport/transport.ts';
import { hostPort, integer, list, onOff, opt, peerMap, required, UsageError, type FlagSpec, type FlagValues } from './flag-values.ts';
import { logLevels } from './logger.ts';
import { credentialFileError } from './peer-credentials.ts';
import { learnerWindowMax, type PeerOptions, type TlsFiles } from './peer-options.ts';

export type PeerKvLimits = Pick<PeerOptions,
  'leaseTtlMinMs' | 'leaseTtlMaxMs' | 'leasesMax' | 'watchersMax' | 'watchersPerConnectionMax' | 'watchProgressMs' | 'historyEventsMax' | 'historyBytesMax'
  | 'tokenTtlMaxMs' | 'backupsMax' | 'backupIdleMs'>;

/** Each flag: the option it sets, and the range the flag itself accepts (peer-options.ts checks how they relate). */
const kvLimitFlags: ReadonlyArray<readonly [string, keyof PeerKvLimits, number, number]> = [
  ['lease-ttl-min-ms', 'leaseTtlMinMs', 1, Number.MAX_SAFE_INTEGER],
  ['lease-ttl-max-ms', 'leaseTtlMaxMs', 1, Number.MAX_SAFE_INTEGER],
  ['leases-max', 'leasesMax', 1, 10_000_000],
  ['watchers-max', 'watchersMax', 1, 1_000_000],
  ['watchers-per-connection', 'watchersPerConnectionMax', 1, 1_000_000],
  ['watch-progress-ms', 'watchProgressMs', 10, 3_600_000],
  ['history-events-max', 'historyEventsMax', 1, 100_000_000],
  ['history-bytes-max', 'historyBytesMax', 1024, Number.MAX_SAFE_INTEGER],
  // Scoped tokens and revocation.
  ['token-ttl-max-ms', 'tokenTtlMaxMs', 1000, Number.MAX_SAFE_INTEGER],
  // Online backups.
  ['backups-max', 'backupsMax', 1, 64],
  ['backup-idle-ms', 'backupIdleMs', 1000, 3_600_000],
];

/** The lease, watch, history and token lifetime limits: every one takes a value. */
export const peerKvFlagSpec: FlagSpec = Object.fromEntries(kvLimitFlags.map(([flag]) => [flag, 'string']));

/** Every flag of `edgeraft peer`. */
export const peerFlagSpec: FlagSpec = {
  id: 'string', listen: 'string', peers: 'string', data: 'string', 'secret-file': 'string', insecure: 'boolean', cluster: 'string',
  join: 'boolean', mode: 'string', 'tick-ms': 'string', connections: 'string', 'snapshot-entries': 'string', 'snapshot-retain': 'string',
  'learners-max': 'string', 'read-rounds': 'string', 'learner-inflight': 'string', 'relay-learners': 'string', 'learner-inflight-bytes': 'string',
  sync: 'string', 'log-level': 'string', faults: 'boolean', 'web-root': 'string', 'exit-with-parent': 'boolean', help: 'boolean',
  ...peerKvFlagSpec,
  // Tokens: JWT verification keys (server/peer-credentials.ts)
  'token-public-key': 'list', 'token-jwks': 'list', 'token-algs': 'string',
  // TLS (runtime-node/tls.ts; the Deno peer's main.ts)
  'tls-cert': 'string', 'tls-key': 'string', 'tls-ca': 'string', 'peer-mtls': 'boolean',
};

export const peerKvHelp = `leases and watches (every member should use the same lease limits):
  --lease-ttl-min-ms N shortest lease TTL a grant may ask for, at least one tick (default 1.5
                       election timeouts, rounded up: 1.5 x 10 ticks x --tick-ms = 750 ms)
  --lease-ttl-max-ms N longest lease TTL a grant may ask for (default 604800000 = 7 days)
  --leases-max N       leases that may exist at once; more grants: ERR_LEASE_LIMIT (default 100000)
  --watchers-max N     watchers this member serves at once; more: ERR_WATCH_LIMIT (default 10000)
  --watchers-per-connection N  watchers one client connection may hold; more: ERR_WATCH_LIMIT
                       (default 1000, at most --watchers-max)
  --watch-progress-ms N  an idle watcher is sent the current revision this often (default 1000)
  --history-events-max N  watch history kept, in events; a watch from an older revision gets
                       ERR_COMPACTED with where to resume (default 10000)
  --history-bytes-max N  watch history kept, in bytes of keys and values (default 8388608 = 8 MiB)

tokens:
  --token-ttl-max-ms N  the longest token lifetime (expiry less issue time) accepted; longer-lived
                       tokens, and tokens without an issue time, are refused, and a revocation
                       by subject is kept this long. Every member must use the same value: a
                       peer with another is refused at the handshake (default 2592000000 = 30 days)

backups (edgeraft backup):
  --backups-max N      backups this member serves at once, each holding a copy of the state;
                       more: ERR_BUSY (default 2)
  --backup-idle-ms N   a backup whose client asked for nothing this long is dropped (default 30000)
`;

/**
 * The limits given on the command line; absent ones keep their defaults, which peer-options.ts
 * derives. A value out of the flag's range is a UsageError naming it.
 */
export function peerKvLimits(values: FlagValues): Partial<PeerKvLimits> {
  const out: { -readonly [K in keyof PeerKvLimits]?: number } = {};
  for (const [flag, key, min, max] of kvLimitFlags) {
    const text = opt(values, flag);
    if (text !== undefined) out[key] = integer(text, flag, 0, min, max);
  }
  return out;
}

/** --tls-cert, --tls-key, --tls-ca and --peer-mtls: a key and a certificate go together, and the rest need them. */
export function tlsFlags(values: FlagValues): { tls: TlsFiles | null; peerMtls: boolean } {
  const certFile = opt(values, 'tls-cert');
  const keyFile = opt(values, 'tls-key');
  const caFile = opt(values, 'tls-ca');
  const peerMtls = values['peer-mtls'] === true;
  if (certFile === undefined) {
    if (keyFile !== undefined) throw new UsageError('--tls-key needs --tls-cert (the certificate of that key)');
    if (caFile !== undefined) throw new UsageError('--tls-ca needs --tls-cert and --tls-key (a peer verifies others over TLS only when it serves TLS itself)');
    if (peerMtls) throw new UsageError('--peer-mtls needs --tls-cert and --tls-key (client certificates are checked over TLS)');
    return { tls: null, peerMtls: false };
  }
  if (keyFile === undefined) throw new UsageError('--tls-cert needs --tls-key (the private key of that certificate)');
  return { tls: { certFile, keyFile, caFile: caFile ?? null }, peerMtls };
}

/** What the flags say, but for what the runtime reads from files (the secrets, the TLS files' text). */
export interface PeerFlags {
  /** For resolvePeerOptions(), which fills in the defaults of what is absent; no secret yet. */
  readonly options: Partial<PeerOptions> & Pick<PeerOptions, 'id' | 'port' | 'peers' | 'dataDir'>;
  readonly secretFile: string | null;
  readonly tls: TlsFiles | null;
  readonly peerMtls: boolean;
  readonly webRoot: string | null;
  readonly exitWithParent: boolean;
}

/**
 * Maps the parsed flags onto options. A wrong flag is a UsageError naming it; an unknown
 * --token-algs entry a CredentialFileError (as a key file's problem: exit 2 too).
 */
export function peerFlagOptions(values: FlagValues): PeerFlags {
  const kvLimits = peerKvLimits(values);
  const listen = hostPort(required(values, 'listen'), 'listen');
  const insecure = values.insecure === true;
  const secretFile = opt(values, 'secret-file') ?? null;
  if (insecure && secretFile !== null) throw new UsageError('give either --secret-file or --insecure, not both');
  if (!insecure && secretFile === null) throw new UsageError('--secret-file is required (or --insecure for a loopback-only test cluster)');
  const logLevel = (opt(values, 'log-level') ?? 'info') as LogLevel;
  if (!logLevels.includes(logLevel)) throw new UsageError(`--log-level must be one of ${logLevels.join(', ')} (got '${logLevel}')`);
  const mode = opt(values, 'mode') ?? 'raft';
  if (mode !== 'raft' && mode !== 'parallel') throw new UsageError(`--mode must be raft or parallel (got '${mode}')`);
  const sync = opt(values, 'sync') ?? 'fdatasync';
  if (sync !== 'fdatasync' && sync !== 'none') throw new UsageError(`--sync must be fdatasync or none (got '${sync}')`);
  const { tls, peerMtls } = tlsFlags(values);
  return {
    options: {
      id: required(values, 'id'), host: listen.host, port: listen.port, peers: peerMap(required(values, 'peers'), tls !== null ? 'wss' : 'ws'),
      dataDir: required(values, 'data'), secretFile, ...tokenFlags(values), insecure,
      cluster: opt(values, 'cluster') ?? 'edgeraft', join: values.join === true, mode,
      tickMs: integer(opt(values, 'tick-ms'), 'tick-ms', 50, 1, 10_000),
      connectionsPerPeer: integer(opt(values, 'connections'), 'connections', 1, 1, 16),
      snapshotEntries: integer(opt(values, 'snapshot-entries'), 'snapshot-entries', 50_000),
      snapshotRetainEntries: integer(opt(values, 'snapshot-retain'), 'snapshot-retain', 5_000),
      raft: {
        observersMax: integer(opt(values, 'learners-max'), 'learners-max', 256, 0, 100_000),
        learnerInflightMsgsMax: integer(opt(values, 'learner-inflight'), 'learner-inflight', 32, 1, 4096),
        learnerInflightBytesMax: integer(opt(values, 'learner-inflight-bytes'), 'learner-inflight-bytes', raftDefaults.learnerInflightBytesMax, 1, learnerWindowMax),
        relayObservers: onOff(opt(values, 'relay-learners'), 'relay-learners', true),
        readRoundsInFlightMax: integer(opt(values, 'read-rounds'), 'read-rounds', 1, 1, 64),
      },
      sync, logLevel, faults: values.faults === true, ...kvLimits,
    },
    secretFile, tls, peerMtls, webRoot: opt(values, 'web-root') ?? null, exitWithParent: values['exit-with-parent'] === true,
  };
}

/** --token-public-key, --token-jwks (both repeatable) and --token-algs. */
function tokenFlags(values: FlagValues): Pick<PeerOptions, 'tokenPublicKeyFiles' | 'tokenJwksFiles' | 'tokenAlgs'> {
  const algs = opt(values, 'token-algs');
  let parsed = [...tokenAlgs];
  try {
    if (algs !== undefined) parsed = parseTokenAlgs(algs);
  } catch (err) {
    throw credentialFileError(err);
  }
  return { tokenPublicKeyFiles: list(values, 'token-public-key'), tokenJwksFiles: list(values, 'token-jwks'), tokenAlgs: parsed };
}
