// Reading parsed command-line flags, for every runtime: usage errors that name the flag, integers
// in a range, on/off, durations like 30s/15m/1h/7d, HOST:PORT and peer lists in both spellings.
// The parsing itself is the runtime's (runtime-node/cli-args.ts: node:util; runtime-deno/flags.ts).

import { CodedError } from '../core/coded-error.ts';

/** A command line that cannot be run as given: the CLI prints it with a --help hint and exits 2. */
export class UsageError extends CodedError<'ERR_USAGE'> {
  override readonly name = 'UsageError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_USAGE', message, options);
  }
}

/** Parsed flags by name: a string, a boolean switch, or the values of a repeatable flag. */
export type FlagValues = Readonly<Record<string, string | boolean | readonly string[] | undefined>>;

/** How each flag of a command is given: 'list' may repeat (its values collect in order). */
export type FlagSpec = Readonly<Record<string, 'string' | 'boolean' | 'list'>>;

export function required(values: FlagValues, name: string): string {
  const v = values[name];
  if (typeof v !== 'string' || v.length === 0) throw new UsageError(`--${name} is required`);
  return v;
}

/** A string flag's value, or undefined. */
export function opt(values: FlagValues, name: string): string | undefined {
  const v = values[name];
  return typeof v === 'string' ? v : undefined;
}

/** A repeatable flag's values (none: empty). */
export function list(values: FlagValues, name: string): string[] {
  const v = values[name];
  return Array.isArray(v) ? [...v as readonly string[]] : [];
}

export function duration(text: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(text);
  if (m === null) throw new UsageError(`--${flag} must be a duration like 30s, 15m, 1h or 7d (got '${text}')`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 'ms' | 's' | 'm' | 'h' | 'd'];
  return Math.round(Number(m[1]) * unit);
}

export function integer(text: string | undefined, flag: string, fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`--${flag} must be an integer in [${min}, ${max}] (got '${text}')`);
  return n;
}

export function onOff(text: string | undefined, flag: string, fallback: boolean): boolean {
  if (text === undefined) return fallback;
  if (text === 'on') return true;
  if (text === 'off') return false;
  throw new UsageError(`--${flag} must be on or off (got '${text}')`);
}

/** ws:// or, with TLS (a peer's --tls-cert, a client's --ca), wss://: what a bare HOST:PORT means. */
export type Scheme = 'ws' | 'wss';

/** "ID=HOST:PORT,..." (peer) -> { id: ws://host:port } (wss:// with `scheme` wss). */
export function peerMap(text: string, scheme: Scheme = 'ws'): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new UsageError(`--peers entries must be ID=HOST:PORT (got '${part}')`);
    const id = part.slice(0, eq);
    out[id] = toUrl(part.slice(eq + 1), '--peers', scheme);
  }
  if (Object.keys(out).length === 0) throw new UsageError('--peers needs at least one ID=HOST:PORT');
  return out;
}

/** "host:port,ws://host:port,..." or "ID=HOST:PORT,..." (clients) -> URLs (bare HOST:PORT as `scheme`://). */
export function peerUrls(text: string, scheme: Scheme = 'ws'): string[] {
  const urls = text.split(',').map((s) => s.trim()).filter(Boolean).map((p) => toUrl(p.includes('=') ? p.slice(p.indexOf('=') + 1) : p, '--peers', scheme));
  if (urls.length === 0) throw new UsageError('--peers needs at least one HOST:PORT');
  return urls;
}

export function toUrl(hostPort: string, flag: string, scheme: Scheme = 'ws'): string {
  if (/^wss?:\/\//.test(hostPort)) return hostPort.replace(/\/$/, '');
  const m = /^(\[[^\]]+\]|[^:\s]+):(\d{1,5})$/.exec(hostPort);
  if (m === null || Number(m[2]) > 65535) throw new UsageError(`${flag}: '${hostPort}' is not HOST:PORT`);
  return `${scheme}://${m[1]}:${m[2]}`;
}

export function hostPort(text: string, flag: string): { host: string; port: number } {
  const m = /^(\[[^\]]+\]|[^:\s]+):(\d{1,5})$/.exec(text);
  if (m === null || Number(m[2]) > 65535) throw new UsageError(`--${flag} must be HOST:PORT (got '${text}')`);
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port: Number(m[2]) };
}
