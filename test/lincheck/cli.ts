// Re-checks a kept history file: `node --import tsx test/lincheck/cli.ts history.jsonl`.
// Exit status: 0 linearizable, 1 violation, 2 unknown (a budget ran out), 3 bad usage or bad file.
import { checkHistory, formatResult } from './checker.ts';
import type { CheckOptions } from './checker.ts';
import { HistoryError, loadHistory } from './history.ts';

const USAGE = `usage: node --import tsx test/lincheck/cli.ts HISTORY.jsonl [--json]
       [--steps-per-key-max N] [--visited-per-key-max N] [--timeout-ms N]`;

const FLAGS: Record<string, keyof CheckOptions> = {
  '--steps-per-key-max': 'stepsPerKeyMax',
  '--visited-per-key-max': 'visitedPerKeyMax',
  '--timeout-ms': 'timeoutMs',
};

function main(argv: readonly string[]): number {
  const options: { -readonly [K in keyof CheckOptions]: number } = {};
  let path: string | null = null;
  let json = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const name = FLAGS[arg];
    if (name !== undefined) {
      const value = Number(argv[++i]);
      if (!Number.isSafeInteger(value) || value <= 0) {
        console.error(`${arg} needs a positive integer, got ${String(argv[i])}\n${USAGE}`);
        return 3;
      }
      options[name] = value;
    } else if (arg === '--json') {
      json = true;
    } else if (arg.startsWith('-') || path !== null) {
      console.error(`unexpected argument ${JSON.stringify(arg)}\n${USAGE}`);
      return 3;
    } else {
      path = arg;
    }
  }
  if (path === null) {
    console.error(USAGE);
    return 3;
  }
  try {
    const result = checkHistory(loadHistory(path), options);
    console.log(formatResult(result));
    if (json) {
      const { verdict, stats } = result;
      console.log(JSON.stringify({ verdict, key: result.ok ? null : result.key, ...stats }));
    }
    return result.ok ? 0 : result.verdict === 'violation' ? 1 : 2;
  } catch (e) {
    if (e instanceof HistoryError || (e as NodeJS.ErrnoException).code === 'ENOENT') {
      console.error(`${(e as Error).message}`);
      return 3;
    }
    throw e;
  }
}

process.exitCode = main(process.argv.slice(2));
