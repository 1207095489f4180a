// The native Deno peer's command line: the flags of `edgeraft peer`, parsed without node:util
// (strict: an unknown flag or a missing value is a usage error naming it) and mapped onto the
// same PeerOptions. Flags a Deno peer cannot honour are refused here, with the reason.

import { CodedError } from '../core/coded-error.ts';
import { defaults as raftDefaults } from '../core/config.ts';
import { learnerWindowMax, type PeerOptions } from '../runtime-node/peer-options.ts';
import { logLevels } from '../runtime-node/logger.ts';
import { tokenAlgs, type TokenAlg } from '../transport/token-keys.ts';
import type { LogLevel } from '../transport/transport.ts';

/** A command line that cannot be run as given: exit 2 with a --help hint. */
export class UsageError extends CodedError<'ERR_USAGE'> {
  override readonly name = 'UsageError';
  constructor(message: string) {
    super('ERR_USAGE', message);
  }
}

/** 'list': a flag that may repeat (its values collect in order). */
type FlagSpec = Readonly<Record<string, 'string' | 'boolean' | 'list'>>;
export type FlagValues = Readonly<Record<string, string | boolean | readonly string[] | undefined>>;

/** `--name value`, `--name=value`, `--flag` and `-h`; anything else is a UsageError. A repeated flag keeps its last value (a 'list' flag, all). */
export function parseFlags(argv: readonly string[], spec: FlagSpec): FlagValues {
  const out: Record<string, string | boolean | string[]> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '-h') { out.help = true; continue; }
    if (!arg.startsWith('--')) throw new UsageError(`unexpected argument '${arg}'`);
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    const type = spec[name];
    if (type === undefined) throw new UsageError(`unknown option '--${name}'`);
    if (type === 'boolean') {
      if (eq >= 0) throw new UsageError(`option '--${name}' does not take a value`);
      out[name] = true;
      continue;
    }
    const value = eq >= 0 ? arg.slice(eq + 1) : argv[++i];
    if (value === undefined || (eq < 0 && value.startsWith('--'))) throw new UsageError(`option '--${name} <value>' argument missing`);
    if (type === 'list') out[name] = [...((out[name] as string[] | undefined) ?? []), value];
    else out[name] = value;
  }
  return out;
}

function opt(values: FlagValues, name: string): string | undefined {
  // (A 'list' flag is read with list().)
  const v = values[name];
  return typeof v === 'string' ? v : undefined;
}

function required(values: FlagValues, name: string): string {
  const v = opt(values, name);
  if (v === undefined || v.length === 0) throw new UsageError(`--${name} is required`);
  return v;
}

function integer(values: FlagValues, flag: string, fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const text = opt(values, flag);
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`--${flag} must be an integer in [${min}, ${max}] (got '${text}')`);
  return n;
}

function onOff(values: FlagValues, flag: string, fallback: boolean): boolean {
  const text = opt(values, flag);
  if (text === undefined) return fallback;
  if (text !== 'on' && text !== 'off') throw new UsageError(`--${flag} must be on or off (got '${text}')`);
  return text === 'on';
}

const hostPortRe = /^(\[[^\]]+\]|[^:\s]+):(\d{1,5})$/;

function hostPort(text: string, flag: string): { host: string; port: number } {
  const m = hostPortRe.exec(text);
  if (m === null || Number(m[2]) > 65535) throw new UsageError(`--${flag} must be HOST:PORT (got '${text}')`);
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port: Number(m[2]) };
}

/** "ID=HOST:PORT,..." -> { id: scheme://host:port } (a full ws:// or wss:// URL is kept). */
function peerMap(text: string, scheme: 'ws' | 'wss'): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new UsageError(`--peers entries must be ID=HOST:PORT (got '${part}')`);
    const addr = part.slice(eq + 1);
    if (/^wss?:\/\//.test(addr)) out[part.slice(0, eq)] = addr.replace(/\/$/, '');
    else if (hostPortRe.test(addr)) out[part.slice(0, eq)] = `${scheme}://${addr}`;
    else throw new UsageError(`--peers: '${addr}' is not HOST:PORT`);
  }
  if (Object.keys(out).length === 0) throw new UsageError('--peers needs at least one ID=HOST:PORT');
  return out;
}

/** The lease, watch and history limits: flag, option, and the range the flag accepts (as peer-kv-flags.ts). */
const kvLimitFlags = [
  ['lease-ttl-min-ms', 'leaseTtlMinMs', 1, Number.MAX_SAFE_INTEGER],
  ['lease-ttl-max-ms', 'leaseTtlMaxMs', 1, Number.MAX_SAFE_INTEGER],
  ['leases-max', 'leasesMax', 1, 10_000_000],
  ['watchers-max', 'watchersMax', 1, 1_000_000],
  ['watchers-per-connection', 'watchersPerConnectionMax', 1, 1_000_000],
  ['watch-progress-ms', 'watchProgressMs', 10, 3_600_000],
  ['history-events-max', 'historyEventsMax', 1, 100_000_000],
  ['history-bytes-max', 'historyBytesMax', 1024, Number.MAX_SAFE_INTEGER],
] as const;

export const denoPeerFlags: FlagSpec = {
  id: 'string', listen: 'string', peers: 'string', data: 'string', 'secret-file': 'string', insecure: 'boolean', cluster: 'string',
  join: 'boolean', mode: 'string', 'tick-ms': 'string', connections: 'string', 'snapshot-entries': 'string', 'snapshot-retain': 'string',
  'learners-max': 'string', 'read-rounds': 'string', 'learner-inflight': 'string', 'relay-learners': 'string', 'learner-inflight-bytes': 'string',
  sync: 'string', 'log-level': 'string', faults: 'boolean', 'web-root': 'string', 'exit-with-parent': 'boolean', help: 'boolean',
  'tls-cert': 'string', 'tls-key': 'string', 'tls-ca': 'string', 'peer-mtls': 'boolean',
  'token-public-key': 'list', 'token-jwks': 'list', 'token-algs': 'string', 'token-ttl-max-ms': 'string',
  ...Object.fromEntries(kvLimitFlags.map(([flag]) => [flag, 'string'])),
};

/** The options of a Deno peer, but for the secret and TLS files, which main.ts reads. */
export interface DenoPeerFlags {
  /** For resolvePeerOptions(), which fills in the defaults of what is absent. */
  readonly options: Partial<PeerOptions> & Pick<PeerOptions, 'id' | 'port' | 'peers' | 'dataDir'>;
  readonly secretFile: string | null;
  readonly tls: { readonly certFile: string; readonly keyFile: string; readonly caFile: string | null } | null;
  readonly exitWithParent: boolean;
}

/** Maps the parsed flags onto options; a flag a Deno peer cannot honour is a UsageError saying why. */
export function denoPeerOptions(values: FlagValues): DenoPeerFlags {
  if (opt(values, 'web-root') !== undefined) throw new UsageError('--web-root is not served by the native Deno peer (run the demo page with `edgeraft start` under Node)');
  if (values['peer-mtls'] === true) {
    throw new UsageError('--peer-mtls cannot be honoured by the native Deno peer: Deno.serve cannot ask connecting peers for client certificates (it still presents its own certificate when it dials a Node peer that requires them)');
  }
  const insecure = values.insecure === true;
  const secretFile = opt(values, 'secret-file') ?? null;
  if (insecure && secretFile !== null) throw new UsageError('give either --secret-file or --insecure, not both');
  if (!insecure && secretFile === null) throw new UsageError('--secret-file is required (or --insecure for a loopback-only test cluster)');
  const certFile = opt(values, 'tls-cert');
  const keyFile = opt(values, 'tls-key');
  if ((certFile === undefined) !== (keyFile === undefined)) throw new UsageError('give --tls-cert and --tls-key together');
  if (opt(values, 'tls-ca') !== undefined && certFile === undefined) throw new UsageError('--tls-ca needs --tls-cert and --tls-key (a TLS peer)');
  const logLevel = (opt(values, 'log-level') ?? 'info') as LogLevel;
  if (!logLevels.includes(logLevel)) throw new UsageError(`--log-level must be one of ${logLevels.join(', ')} (got '${logLevel}')`);
  const mode = opt(values, 'mode') ?? 'raft';
  if (mode !== 'raft' && mode !== 'parallel') throw new UsageError(`--mode must be raft or parallel (got '${mode}')`);
  const sync = opt(values, 'sync') ?? 'fdatasync';
  if (sync !== 'fdatasync' && sync !== 'none') throw new UsageError(`--sync must be fdatasync or none (got '${sync}')`);
  const listen = hostPort(required(values, 'listen'), 'listen');
  const algs = opt(values, 'token-algs')?.split(',').map((a) => a.trim()).filter((a) => a.length > 0);
  if (algs !== undefined && (algs.length === 0 || algs.some((a) => !tokenAlgs.includes(a as TokenAlg)))) {
    throw new UsageError(`--token-algs must list some of ${tokenAlgs.join(', ')} (got '${opt(values, 'token-algs')}')`);
  }
  const list = (name: string): readonly string[] => { const v = values[name]; return Array.isArray(v) ? v : []; };
  const kv: { -readonly [K in (typeof kvLimitFlags)[number][1]]?: number } = {};
  for (const [flag, key, min, max] of kvLimitFlags) if (opt(values, flag) !== undefined) kv[key] = integer(values, flag, 0, min, max);
  return {
    options: {
      id: required(values, 'id'), host: listen.host, port: listen.port, peers: peerMap(required(values, 'peers'), certFile !== undefined ? 'wss' : 'ws'),
      dataDir: required(values, 'data'), insecure, cluster: opt(values, 'cluster') ?? 'edgeraft', join: values.join === true, mode,
      tickMs: integer(values, 'tick-ms', 50, 1, 10_000),
      connectionsPerPeer: integer(values, 'connections', 1, 1, 16),
      snapshotEntries: integer(values, 'snapshot-entries', 50_000),
      snapshotRetainEntries: integer(values, 'snapshot-retain', 5_000),
      raft: {
        observersMax: integer(values, 'learners-max', 256, 0, 100_000),
        learnerInflightMsgsMax: integer(values, 'learner-inflight', 32, 1, 4096),
        learnerInflightBytesMax: integer(values, 'learner-inflight-bytes', raftDefaults.learnerInflightBytesMax, 1, learnerWindowMax),
        relayObservers: onOff(values, 'relay-learners', true),
        readRoundsInFlightMax: integer(values, 'read-rounds', 1, 1, 64),
      },
      sync, logLevel, faults: values.faults === true, webRoot: null, ...kv,
      tokenPublicKeyFiles: list('token-public-key'), tokenJwksFiles: list('token-jwks'),
      ...(algs !== undefined ? { tokenAlgs: algs as TokenAlg[] } : {}),
      ...(opt(values, 'token-ttl-max-ms') !== undefined ? { tokenTtlMaxMs: integer(values, 'token-ttl-max-ms', 0, 1000) } : {}),
    },
    secretFile,
    tls: certFile !== undefined && keyFile !== undefined ? { certFile, keyFile, caFile: opt(values, 'tls-ca') ?? null } : null,
    exitWithParent: values['exit-with-parent'] === true,
  };
}

export const denoPeerHelp = `usage: deno run --allow-net --allow-read --allow-write dist/deno/peer.js
         --id ID --listen HOST:PORT --peers ID=HOST:PORT,... --data DIR (--secret-file FILE | --insecure)

A voting member on Deno's own APIs (Deno.serve, Deno.open, Web Crypto): the flags of
\`edgeraft peer\` (see \`edgeraft peer --help\` for each), with these differences:
  --data DIR           holds the Deno WAL (its own format: a Node peer's directory is refused)
  --tls-cert/--tls-key serve wss:// and https://; peers are dialed over wss:// presenting this
                       certificate as a client certificate
  --tls-ca FILE        CA for dialing peers, trusted beside the system's roots
  --peer-mtls          refused: Deno.serve cannot ask for client certificates
  --web-root           refused: the Deno peer serves no demo page
  --token-public-key FILE, --token-jwks FILE, --token-algs LIST, --token-ttl-max-ms N
                       as for \`edgeraft peer\`
  SIGHUP               reloads --secret-file and the token key files, but not the certificate
                       (Deno.serve keeps its own): restart the peer after a certificate rotation
docs/operations.md "Deno peers" says more.
`;

