// Flag parsing of the Node CLI commands: node:util parseArgs, strict (an unknown flag or a missing
// value is a usage error that names it). Reading the values (durations, HOST:PORT, peer lists) is
// runtime-neutral and lives in server/flag-values.ts, re-exported here for the commands.

import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError, type FlagSpec } from '../server/flag-values.ts';

export { duration, hostPort, integer, onOff, opt, peerMap, peerUrls, required, toUrl, UsageError } from '../server/flag-values.ts';
export type { FlagValues, Scheme } from '../server/flag-values.ts';

export type Flags = NonNullable<ParseArgsConfig['options']>;

export function parse(argv: readonly string[], options: Flags, positionals = 0): { values: Record<string, string | boolean | undefined>; positionals: string[] } {
  try {
    const r = parseArgs({ args: [...argv], options, strict: true, allowPositionals: positionals > 0 });
    if (r.positionals.length > positionals) throw new UsageError(`unexpected argument '${r.positionals[positionals]}'`);
    return { values: r.values as Record<string, string | boolean | undefined>, positionals: r.positionals };
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError((err as Error).message.replace(/\. To specify a positional argument.*$/s, ''));
  }
}

/** A runtime-neutral flag table (server/peer-flags.ts) as parseArgs options; --help is also -h. */
export function nodeFlags(spec: FlagSpec): Flags {
  return Object.fromEntries(Object.entries(spec).map(([name, type]) => [name, {
    type: type === 'boolean' ? 'boolean' as const : 'string' as const,
    ...(type === 'list' ? { multiple: true } : {}),
    ...(name === 'help' ? { short: 'h' } : {}),
  }]));
}
