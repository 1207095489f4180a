// Everything a peer can be told, with defaults and validation that names the option, the rule
// and the value. The CLI maps its flags onto these; tests build them directly.

import { CodedError } from '../core/coded-error.ts';
import { defaults as raftDefaults } from '../core/config.ts';
import type { RaftOptions } from '../core/config.ts';
import { meshDefaults } from '../transport/mesh-options.ts';
import type { LogLevel } from '../transport/transport.ts';

export interface PeerOptions {
  readonly id: string;
  /** Host and port to listen on; peers, clients, browser learners and /metrics share the port. */
  readonly host: string;
  readonly port: number;
  /** Every voting member at bootstrap (this one included): id -> ws://host:port. */
  readonly peers: Readonly<Record<string, string>>;
  readonly dataDir: string;
  readonly cluster: string;
  /** Shared secret (peers prove membership with it; tokens are signed with it). */
  readonly secret: string | null;
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
  const r: PeerOptions = { ...peerDefaults, secret: null, ...o };
  if (typeof r.id !== 'string' || !/^[A-Za-z0-9._-]{1,64}$/.test(r.id)) throw bad('id', 'letters, digits, . _ - (1..64 chars)', r.id);
  if (!Number.isInteger(r.port) || r.port < 0 || r.port > 65535) throw bad('port', 'an integer in [0, 65535]', r.port);
  if (typeof r.dataDir !== 'string' || r.dataDir.length === 0) throw bad('data', 'a directory path', r.dataDir);
  for (const [id, url] of Object.entries(r.peers)) {
    if (!/^[A-Za-z0-9._-]{1,64}$/.test(id)) throw bad('peers', 'ID=HOST:PORT entries with ids of letters, digits, . _ -', id);
    if (!/^wss?:\/\/[^\s/]+(:\d+)?\/?$/.test(url)) throw bad(`peers[${id}]`, 'a ws://host:port address', url);
  }
  if (!r.join && !(r.id in r.peers)) throw bad('peers', `a list that includes this member (${r.id}) when bootstrapping`, Object.keys(r.peers));
  if (r.secret === null && !r.insecure) throw bad('secret', 'given (--secret-file), or run with --insecure', null);
  if (r.secret !== null && r.secret.length < 16) throw bad('secret', 'at least 16 characters', `${r.secret.length} chars`);
  if (r.insecure && !loopback.has(r.host)) throw bad('listen', 'a loopback address when --insecure (no authentication)', r.host);
  if (r.mode !== 'raft' && r.mode !== 'parallel') throw bad('mode', 'raft or parallel', r.mode);
  if (!Number.isInteger(r.tickMs) || r.tickMs < 1 || r.tickMs > 10_000) throw bad('tick-ms', 'an integer in [1, 10000]', r.tickMs);
  if (!Number.isInteger(r.snapshotEntries) || r.snapshotEntries < 0) throw bad('snapshot-entries', 'an integer >= 0', r.snapshotEntries);
  if (!Number.isInteger(r.snapshotRetainEntries) || r.snapshotRetainEntries < 0) throw bad('snapshot-retain', 'an integer >= 0', r.snapshotRetainEntries);
  if (!Number.isInteger(r.connectionsPerPeer) || r.connectionsPerPeer < 1 || r.connectionsPerPeer > 16) throw bad('connections', 'an integer in [1, 16]', r.connectionsPerPeer);
  if (r.sync !== 'fdatasync' && r.sync !== 'none') throw bad('sync', 'fdatasync or none', r.sync);
  const window = r.raft.learnerInflightBytesMax ?? raftDefaults.learnerInflightBytesMax;
  const message = r.raft.msgBytesMax ?? raftDefaults.msgBytesMax;
  if (window + message > meshDefaults.highWaterBytes) {
    throw bad('learner-inflight-bytes', `at most ${meshDefaults.highWaterBytes - message} (the links' high-water mark, ${meshDefaults.highWaterBytes} bytes, less one message of msgBytesMax ${message})`, window);
  }
  return r;
}
