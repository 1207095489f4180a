// `npm run bench:wan`'s flags as a pure parse: argv in, options out, or a UsageError naming the
// flag, its rule and what it got (bench/wan.ts prints it and exits 2). Defaults keep a full run
// near 10 minutes on a 2-core machine; --quick is one short run of each cell, for a smoke test.

import { parseArgs } from 'node:util';

export const phases = ['writes', 'reads', 'tabs', 'failover'] as const;
export type Phase = (typeof phases)[number];
/** The read consistencies the SDK offers (src/client/protocol.ts); 'linearizable' is the server's choice of lease or ReadIndex. */
export const readModes = ['readindex', 'lease', 'follower', 'stale', 'linearizable'] as const;
export type ReadMode = (typeof readModes)[number];
export const defaultReadModes: readonly ReadMode[] = ['readindex', 'lease', 'follower', 'stale'];
export const signals = ['kill', 'stop'] as const;
export type FailSignal = (typeof signals)[number];
export const timeoutSets = ['default', 'derived'] as const;
export type TimeoutSet = (typeof timeoutSets)[number];

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export interface WanOptions {
  readonly help: boolean;
  readonly json: boolean;
  readonly quick: boolean;
  /** The profile measured (--net), and the baseline through the same relays (null: none). */
  readonly net: string;
  readonly baseline: string | null;
  readonly members: number;
  readonly runs: number;
  readonly seconds: number;
  readonly warmupS: number;
  /** Independent clients per client region, one cell each. */
  readonly clients: readonly number[];
  /** The high-offered-load cell: clients per region, each carrying this many request loops. */
  readonly highClients: number;
  readonly highLoops: number;
  /** Readers per client region, per consistency mode. */
  readonly readers: number;
  readonly modes: readonly ReadMode[];
  /** Browser tabs per client region (0: no tab cell). */
  readonly tabs: number;
  readonly failoverRuns: number;
  readonly signals: readonly FailSignal[];
  readonly timeouts: readonly TimeoutSet[];
  readonly only: ReadonlySet<Phase>;
  readonly sync: 'fdatasync' | 'none';
  readonly docs: boolean;
  readonly quietBudgetS: number;
  readonly seed: number;
  /** Relay processes per emulator (NetEmulatorOptions.processes). */
  readonly relays: number;
  /** Extra `edgeraft peer` flags of the measured clusters (the profile's and the baseline's). */
  readonly peerArgs: readonly string[];
  /** The generated doc: docs/<doc>.md and docs/<doc>.svg. */
  readonly doc: string;
}

const flagSpec = {
  help: { type: 'boolean', short: 'h' }, json: { type: 'boolean' }, quick: { type: 'boolean' }, net: { type: 'string' }, baseline: { type: 'string' },
  members: { type: 'string' }, runs: { type: 'string' }, seconds: { type: 'string' }, warmup: { type: 'string' }, clients: { type: 'string' },
  high: { type: 'string' }, readers: { type: 'string' }, modes: { type: 'string' }, tabs: { type: 'string' }, 'failover-runs': { type: 'string' },
  signals: { type: 'string' }, timeouts: { type: 'string' }, only: { type: 'string' }, sync: { type: 'string' }, 'no-docs': { type: 'boolean' },
  'quiet-budget': { type: 'string' }, seed: { type: 'string' }, relays: { type: 'string' }, 'peer-args': { type: 'string' }, doc: { type: 'string' },
} as const;

function num(name: string, text: string | undefined, fallback: number, min: number, max: number, integer: boolean): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n))) {
    throw new UsageError(`--${name} must be ${integer ? 'an integer' : 'a number'} in [${min}, ${max}] (got '${text}')`);
  }
  return n;
}

function intList(name: string, text: string | undefined, fallback: readonly number[], min: number, max: number): number[] {
  if (text === undefined) return [...fallback];
  if (text === 'none') return [];
  const xs = text.split(',').map((t) => Number(t));
  if (text === '' || xs.some((v) => !Number.isInteger(v) || v < min || v > max)) {
    throw new UsageError(`--${name} must be a comma-separated list of integers in [${min}, ${max}], or none (got '${text}')`);
  }
  return [...new Set(xs)].sort((a, b) => a - b);
}

function names<T extends string>(name: string, text: string | undefined, fallback: readonly T[], known: readonly T[]): T[] {
  if (text === undefined) return [...fallback];
  const xs = text.split(',').map((t) => t.trim());
  for (const x of xs) if (!(known as readonly string[]).includes(x)) throw new UsageError(`--${name} must list some of ${known.join(', ')} (got '${x}')`);
  return [...new Set(xs)] as T[];
}

function readFlags(argv: readonly string[]) {
  try {
    return parseArgs({ args: [...argv], options: flagSpec, strict: true, allowPositionals: false }).values;
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/** Parses argv (without node and the script); throws UsageError on a bad flag. */
export function parseWanFlags(argv: readonly string[]): WanOptions {
  const values = readFlags(argv);
  const quick = values.quick === true;
  const high = values.high ?? (quick ? '32x32' : '64x32');
  const hm = /^(\d+)x(\d+)$/.exec(high);
  if (hm === null) throw new UsageError(`--high must be CLIENTSxLOOPS, clients per region each carrying that many request loops, e.g. 32x32 (got '${high}')`);
  const highClients = num('high', hm[1], 0, 1, 4096, true);
  const highLoops = num('high', hm[2], 0, 1, 4096, true);
  const sync = values.sync ?? 'fdatasync';
  if (sync !== 'fdatasync' && sync !== 'none') throw new UsageError(`--sync must be fdatasync or none (got '${sync}')`);
  const net = values.net ?? 'wan3';
  const baseline = values.baseline === undefined ? 'lan' : values.baseline === 'none' ? null : values.baseline;
  if (baseline !== null && baseline === net) throw new UsageError(`--baseline must differ from --net (both '${net}'); --baseline none measures no baseline`);
  const onlyList = names('only', values.only, phases, phases);
  const runs = num('runs', values.runs, quick ? 1 : 3, 1, 99, true);
  return {
    help: values.help === true,
    json: values.json === true,
    quick,
    net,
    baseline,
    members: num('members', values.members, 3, 1, 9, true),
    runs,
    seconds: num('seconds', values.seconds, quick ? 1.5 : 3, 0.5, 600, false),
    warmupS: num('warmup', values.warmup, quick ? 0.5 : 1, 0, 600, false),
    clients: intList('clients', values.clients, [1, 16, 256], 1, 4096),
    highClients,
    highLoops,
    readers: num('readers', values.readers, quick ? 8 : 16, 1, 4096, true),
    modes: names('modes', values.modes, defaultReadModes, readModes),
    tabs: num('tabs', values.tabs, 1, 0, 16, true),
    failoverRuns: num('failover-runs', values['failover-runs'], runs, 1, 99, true),
    signals: names('signals', values.signals, signals, signals),
    timeouts: names('timeouts', values.timeouts, timeoutSets, timeoutSets),
    only: new Set(onlyList),
    sync,
    docs: values['no-docs'] !== true && !quick,
    quietBudgetS: num('quiet-budget', values['quiet-budget'], quick ? 10 : 120, 0, 3600, false),
    seed: num('seed', values.seed, 17, 0, 2 ** 31, true),
    relays: num('relays', values.relays, 1, 1, 4, true),
    peerArgs: peerArgsOf(values['peer-args']),
    doc: docOf(values.doc),
  };
}

/** `--peer-args="--read-rounds 8"` (with '=': the value starts with a dash): flags only, each a --name (with its value after it). */
function peerArgsOf(text: string | undefined): string[] {
  if (text === undefined) return [];
  const args = text.trim().split(/\s+/).filter((a) => a !== '');
  if (args.length === 0 || !args[0]!.startsWith('--')) throw new UsageError(`--peer-args must be edgeraft peer flags, starting with -- (got '${text}')`);
  const owned = args.find((a) => /^--(id|peers|data|listen|secret|sync|mode|cluster)(=|$)/.test(a));
  if (owned !== undefined) throw new UsageError(`--peer-args may not set ${owned}: the benchmark sets it for every peer`);
  return args;
}

/** `--doc NAME`: the stem of the generated files in docs/ (letters, digits, '-' and '_'). */
function docOf(text: string | undefined): string {
  if (text === undefined) return 'wan-bench';
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(text)) throw new UsageError(`--doc must be a file stem of letters, digits, '-' or '_' (got '${text}')`);
  return text;
}
