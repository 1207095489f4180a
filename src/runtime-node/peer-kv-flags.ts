// The `edgeraft peer` flags for leases, watches and the watch history: their --help text, their
// parse options, and their mapping onto PeerOptions. Kept apart from cli.ts so they can be
// checked without loading the client SDK the other commands use.

import { integer, opt, type Flags } from './cli-args.ts';
import type { PeerOptions } from './peer-options.ts';

export type PeerKvLimits = Pick<PeerOptions,
  'leaseTtlMinMs' | 'leaseTtlMaxMs' | 'leasesMax' | 'watchersMax' | 'watchersPerConnectionMax' | 'watchProgressMs' | 'historyEventsMax' | 'historyBytesMax'
  | 'tokenTtlMaxMs'>;

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
];

/** For parse(): every flag takes a value. */
export const peerKvFlags: Flags = Object.fromEntries(kvLimitFlags.map(([flag]) => [flag, { type: 'string' }]));

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
                       tokens are refused, and a revocation by subject is kept this long
                       (default 2592000000 = 30 days)
`;

/**
 * The limits given on the command line; absent ones keep their defaults, which peer-options.ts
 * derives. A value out of the flag's range is a UsageError naming it.
 */
export function peerKvLimits(values: Record<string, string | boolean | undefined>): Partial<PeerKvLimits> {
  const out: { -readonly [K in keyof PeerKvLimits]?: number } = {};
  for (const [flag, key, min, max] of kvLimitFlags) {
    const text = opt(values, flag);
    if (text !== undefined) out[key] = integer(text, flag, 0, min, max);
  }
  return out;
}
