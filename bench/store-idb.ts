// `npm run bench:store:idb`: IdbStore write throughput in real headless Chromium, in entries/s
// for awaited saves of batches of 256-byte entries (1 to 1024 per save), with strict and relaxed
// durability, beside bare IndexedDB doing the same puts (ratio_to_raw), and the same entries as
// overlapping one-entry saves that the store groups. Median of --runs (3), runs of >= --min-ms.
// `--json` prints one JSON object as the last line; progress goes to stderr.
import { cpus, loadavg } from 'node:os';
import { chromiumVersion, evaluate, findChromium, launchBrowser, servePage } from '../test/browser/chromium.ts';
import type { BenchOptions, BenchRun } from './store-idb-page.ts';

const args = process.argv.slice(2);
const json = args.includes('--json');
const runs = Number(argValue('--runs') ?? 3);
const minMs = Number(argValue('--min-ms') ?? 400);
const batches = [1, 16, 64, 256, 1024];
const durabilities = ['strict', 'relaxed'] as const;
const entryBytes = 256;

function argValue(name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function fmt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

async function main(): Promise<void> {
  if (!(runs >= 1) || !(minMs > 0)) throw new Error(`--runs must be >= 1 and --min-ms > 0, got ${runs} and ${minMs}`);
  const executablePath = findChromium();
  if (executablePath === null) {
    console.log('skipped: no Chromium (apt-get install chromium)');
    if (json) console.log(JSON.stringify({ skipped: 'no Chromium' }));
    return;
  }
  const loadBefore = loadavg()[0] ?? 0;
  const served = await servePage({ bundleEntry: new URL('./store-idb-page.ts', import.meta.url).pathname, title: 'IdbStore bench' });
  const browser = await launchBrowser({ executablePath });
  const results: Record<string, number> = {};
  const rows: string[][] = [];
  try {
    const page = await browser.newPage();
    await page.goto(served.url);
    await page.waitForFunction('globalThis.idbBench !== undefined');
    const measure = async (kind: 'store' | 'overlap' | 'raw', options: BenchOptions): Promise<number> => {
      const rates: number[] = [];
      for (let r = 0; r < runs; r += 1) {
        const run = await evaluate<BenchRun>(page, `idbBench.${kind}(${JSON.stringify(options)})`);
        rates.push(run.entries / (run.ms / 1000));
      }
      return median(rates);
    };
    for (const batch of batches) {
      const row = [String(batch)];
      for (const durability of durabilities) {
        process.stderr.write(`batch ${batch}, ${durability}: IdbStore and bare IndexedDB, ${runs} runs each\n`);
        const options: BenchOptions = { batch, durability, minMs, minBatches: 8, entryBytes };
        const store = await measure('store', options);
        const raw = await measure('raw', options);
        results[`batch_${batch}_${durability}_entries_per_s`] = Math.round(store);
        results[`batch_${batch}_${durability}_raw_entries_per_s`] = Math.round(raw);
        results[`batch_${batch}_${durability}_ratio_to_raw`] = Number((store / raw).toFixed(3));
        row.push(fmt(store), fmt(raw), (store / raw).toFixed(2));
      }
      const strict = results[`batch_${batch}_strict_entries_per_s`]!;
      const relaxed = results[`batch_${batch}_relaxed_entries_per_s`]!;
      results[`batch_${batch}_strict_ratio_to_relaxed`] = Number((strict / relaxed).toFixed(3));
      process.stderr.write(`batch ${batch}, strict: ${batch} overlapping one-entry saves, ${runs} runs\n`);
      const overlapped = await measure('overlap', { batch, durability: 'strict', minMs, minBatches: 8, entryBytes });
      results[`batch_${batch}_strict_overlap_entries_per_s`] = Math.round(overlapped);
      row.push((strict / relaxed).toFixed(2), fmt(overlapped));
      rows.push(row);
    }
  } finally {
    await browser.close();
    await served.close();
  }

  const cpu = cpus()[0]?.model.trim() ?? 'unknown cpu';
  const chromium = chromiumVersion(executablePath);
  console.log(`IdbStore writes: ${entryBytes}-byte entries, one awaited save() (one transaction) per batch, median of ${runs} runs of >= ${minMs} ms`);
  const load = `load average ${loadBefore.toFixed(1)} before, ${(loadavg()[0] ?? 0).toFixed(1)} after`;
  console.log(`machine: ${cpu}, ${cpus().length} cores (${load}); Node ${process.version}; ${chromium} headless`);
  console.log('"raw" = bare IndexedDB, same records and hard state in one transaction per batch; ratio = IdbStore / raw');
  console.log('"overlapped" = the batch as that many one-entry saves issued at once (strict); the store groups them into shared transactions\n');
  const header = ['batch', 'strict entries/s', 'strict raw', 'ratio', 'relaxed entries/s', 'relaxed raw', 'ratio', 'strict/relaxed', 'overlapped entries/s'];
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c]!.length)));
  const line = (cells: string[]): string => `| ${cells.map((cell, c) => cell.padStart(widths[c]!)).join(' | ')} |`;
  console.log(line(header));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const r of rows) console.log(line(r));
  if (json) {
    console.log(JSON.stringify({ cpu, cores: cpus().length, load_avg_1m: Number(loadBefore.toFixed(2)), node: process.version, chromium, entry_bytes: entryBytes, runs, ...results }));
  }
}

await main();
