// Benchmark of the linearizability checker (test/lincheck): how long it takes to check valid
// histories of a simulated KV store, from many keys with little contention to a few hot keys with
// many clients. `--json` prints one JSON object as the last line. Single-threaded by design.
import { cpus } from 'node:os';
import { checkHistory } from '../test/lincheck/checker.ts';
import { generateHistory } from '../test/lincheck/generate.ts';
import type { GenerateOptions } from '../test/lincheck/generate.ts';
import { parseJsonl, toJsonl } from '../test/lincheck/history.ts';
import type { HistoryOp } from '../test/lincheck/history.ts';

const RUNS = 3;
const json = process.argv.includes('--json');

interface Case {
  readonly name: string;
  readonly what: string;
  readonly options: GenerateOptions;
}

const CASES: readonly Case[] = [
  {
    name: 'uniform_100k', what: '100k ops, 1000 keys, 20 clients, 1% unknown',
    options: { seed: 1, ops: 100_000, keys: 1000, clients: 20, unknownRatio: 0.01, failRatio: 0.01 },
  },
  {
    name: 'uniform_100k_repeated', what: '100k ops, 1000 keys, 50 clients, 5% unknown, 4 values/key',
    options: { seed: 2, ops: 100_000, keys: 1000, clients: 50, unknownRatio: 0.05, failRatio: 0.01, valuesDistinct: false },
  },
  {
    name: 'hot_10k', what: '10k ops, 10 hot keys, 100 clients, 2% unknown',
    options: { seed: 3, ops: 10_000, keys: 10, clients: 100, unknownRatio: 0.02, failRatio: 0.01 },
  },
  {
    name: 'hot_10k_repeated', what: '10k ops, 10 hot keys, 100 clients, 2% unknown, 4 values/key',
    options: { seed: 4, ops: 10_000, keys: 10, clients: 100, unknownRatio: 0.02, failRatio: 0.01, valuesDistinct: false },
  },
  {
    name: 'hot_10k_200c', what: '10k ops, 10 hot keys, 200 clients, 2% unknown',
    options: { seed: 5, ops: 10_000, keys: 10, clients: 200, unknownRatio: 0.02, failRatio: 0.01 },
  },
  {
    name: 'hot_10k_200c_repeated', what: 'same, 4 values/key (the slowest case here)',
    options: { seed: 5, ops: 10_000, keys: 10, clients: 200, unknownRatio: 0.02, failRatio: 0.01, valuesDistinct: false },
  },
];

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

/** Mean and max number of same-key ops in flight when an op is called (unknown ops never end). */
function concurrency(ops: readonly HistoryOp[]): { mean: number; max: number } {
  const byKey = new Map<string, HistoryOp[]>();
  for (const op of ops) {
    if (op.outcome === 'fail') continue;
    const list = byKey.get(op.key) ?? [];
    list.push(op);
    byKey.set(op.key, list);
  }
  let total = 0;
  let count = 0;
  let max = 0;
  for (const list of byKey.values()) {
    const events: Array<[number, number]> = [];
    for (const op of list) {
      events.push([op.callMs, 1]);
      if (op.outcome !== 'unknown') events.push([op.returnMs as number, -1]);
    }
    // Returns before calls at equal times, so touching ops do not count as overlapping here.
    events.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    let inFlight = 0;
    for (const [, delta] of events) {
      inFlight += delta;
      if (delta === 1) {
        total += inFlight;
        count++;
        max = Math.max(max, inFlight);
      }
    }
  }
  return { mean: count === 0 ? 0 : total / count, max };
}

interface Row {
  readonly name: string;
  readonly what: string;
  readonly ops: number;
  readonly concurrencyMean: number;
  readonly concurrencyMax: number;
  readonly checkMs: number;
  readonly steps: number;
}

function runCase(c: Case): Row {
  process.stderr.write(`${c.name}: generating...`);
  const ops = generateHistory(c.options);
  const inFlight = concurrency(ops);
  const times: number[] = [];
  let steps = 0;
  for (let run = 0; run < RUNS; run++) {
    process.stderr.write(` run ${run + 1}/${RUNS}...`);
    const startedMs = performance.now();
    const result = checkHistory(ops);
    times.push(performance.now() - startedMs);
    if (!result.ok) {
      process.stderr.write(`\n${c.name}: a valid history was not accepted:\n${result.explanation}\n`);
      process.exit(1);
    }
    steps = result.stats.steps;
  }
  process.stderr.write(' done\n');
  return {
    name: c.name, what: c.what, ops: ops.length, concurrencyMean: inFlight.mean, concurrencyMax: inFlight.max,
    checkMs: median(times), steps,
  };
}

function roundTripMs(): number {
  const ops = generateHistory(CASES[0]?.options as GenerateOptions);
  const times: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    const startedMs = performance.now();
    parseJsonl(toJsonl(ops));
    times.push(performance.now() - startedMs);
  }
  return median(times);
}

const rows = CASES.map(runCase);
process.stderr.write('jsonl round trip...\n');
const jsonlMs = roundTripMs();
const base = rows[0] as Row;
const perOpUs = (r: Row): number => (r.checkMs * 1000) / r.ops;

console.log(`lincheck benchmark: ${cpus()[0]?.model ?? 'unknown cpu'}, ${cpus().length} cores, Node ${process.version}, median of ${RUNS} runs, single-threaded`);
console.log('');
console.log(`${'case'.padEnd(24)}${'ops'.padStart(8)}${'in flight'.padStart(12)}${'check ms'.padStart(11)}${'ops/s'.padStart(12)}${'steps/op'.padStart(10)}${'us/op vs uniform'.padStart(18)}  description`);
for (const r of rows) {
  const flight = `${r.concurrencyMean.toFixed(1)}/${r.concurrencyMax}`;
  console.log(
    `${r.name.padEnd(24)}${String(r.ops).padStart(8)}${flight.padStart(12)}${r.checkMs.toFixed(0).padStart(11)}` +
    `${Math.round(r.ops / (r.checkMs / 1000)).toString().padStart(12)}${(r.steps / r.ops).toFixed(1).padStart(10)}` +
    `${(perOpUs(r) / perOpUs(base)).toFixed(2).padStart(18)}  ${r.what}`,
  );
}
console.log(`\nin flight: mean/max same-key ops in flight when an op is called. JSON lines round trip of ${base.ops} ops: ${jsonlMs.toFixed(0)} ms`);

if (json) {
  const out: Record<string, number | string> = {
    cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, node: process.version, runs: RUNS,
  };
  for (const r of rows) {
    out[`${r.name}_check_ms`] = Number(r.checkMs.toFixed(1));
    out[`${r.name}_ops_per_s`] = Math.round(r.ops / (r.checkMs / 1000));
    out[`${r.name}_steps`] = r.steps;
    out[`${r.name}_concurrency_mean`] = Number(r.concurrencyMean.toFixed(2));
    out[`${r.name}_ratio_to_uniform_per_op`] = Number((perOpUs(r) / perOpUs(base)).toFixed(3));
  }
  out['jsonl_round_trip_100k_ms'] = Number(jsonlMs.toFixed(1));
  console.log(JSON.stringify(out));
}
