// `npm run bench:store [-- --json --runs 3 --seconds 1 --writers 1,16,64,256,512]`: FileWal group
// commit with many concurrent writers of 256-byte entries, against the ceiling of raw
// write + fdatasync of the same bytes per batch into a preallocated file with plain fs.
import fs from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { Buffer } from 'node:buffer';
import { performance } from 'node:perf_hooks';
import { FileWal } from '../src/runtime-node/wal.ts';
import { crc32cNative } from '../src/runtime-node/crc32c.ts';
import { fdatasync, fsync, writeAll } from '../src/runtime-node/wal-files.ts';
import type { Entry } from '../src/core/types.ts';

const entryBytes = 256;
const rawFileBytes = 64 * 1024 * 1024;
const latencySamplesMax = 4_000_000;

interface Args {
  json: boolean;
  runs: number;
  seconds: number;
  writers: number[];
  /** Entries per save: 1 is one writer per entry; a peer saves a whole Ready (many) at once. */
  perSave: number;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { json: false, runs: 3, seconds: 1, writers: [1, 16, 64, 256, 512], perSave: 1 };
  for (let k = 0; k < argv.length; k++) {
    const a = argv[k];
    const v = argv[k + 1] ?? '';
    if (a === '--json') args.json = true;
    else if (a === '--runs') (args.runs = Number(v)), k++;
    else if (a === '--seconds') (args.seconds = Number(v)), k++;
    else if (a === '--writers') (args.writers = v.split(',').map(Number)), k++;
    else if (a === '--per-save') (args.perSave = Number(v)), k++;
    else throw new Error(`unknown argument ${a} (use --json, --runs N, --seconds S, --writers 1,16,..., --per-save N)`);
  }
  if (!(args.runs >= 1) || !(args.seconds > 0) || args.writers.some((w) => !(w >= 1)) || !(Number.isInteger(args.perSave) && args.perSave >= 1)) {
    throw new Error('bad --runs/--seconds/--writers/--per-save');
  }
  return args;
}

/** Latency samples in a preallocated array (no allocation per sample). */
class Latencies {
  readonly #ms = new Float64Array(latencySamplesMax);
  #n = 0;

  add(ms: number): void {
    if (this.#n < latencySamplesMax) this.#ms[this.#n++] = ms;
  }

  quantile(q: number): number {
    const s = this.#ms.subarray(0, this.#n).sort();
    return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN;
  }
}

interface RunResult {
  entriesPerS: number;
  p50Ms: number;
  p99Ms: number;
}

/** The ceiling: one write + fdatasync per batch of `writers` entries, cycling in a preallocated file. */
async function rawRun(dir: string, writers: number, seconds: number): Promise<RunResult> {
  const path = join(dir, 'raw.dat');
  const fd = fs.openSync(path, 'w+');
  const zeros = Buffer.alloc(1 << 20);
  for (let pos = 0; pos < rawFileBytes; pos += zeros.length) fs.writeSync(fd, zeros, 0, zeros.length, pos);
  fs.fsyncSync(fd);
  const buf = Buffer.alloc(writers * entryBytes, 0x5a);
  const lat = new Latencies();
  let pos = 0;
  let entries = 0;
  const start = performance.now();
  const end = start + seconds * 1000;
  let now = start;
  while (now < end) {
    const t0 = now;
    if (pos + buf.length > rawFileBytes) pos = 0;
    await writeAll(fd, buf, 0, buf.length, pos);
    await fdatasync(fd);
    pos += buf.length;
    entries += writers;
    now = performance.now();
    lat.add(now - t0);
  }
  await fsync(fd);
  fs.closeSync(fd);
  fs.rmSync(path);
  return { entriesPerS: (entries / (now - start)) * 1000, p50Ms: lat.quantile(0.5), p99Ms: lat.quantile(0.99) };
}

/**
 * `writers` concurrent loops, each saving one entry and awaiting it, for `seconds`. The segment
 * is sized so the run stays inside it: like the raw ceiling, this measures appends into
 * preallocated space; the cost of preallocating the next segment is measured apart (rollMs).
 */
async function walRun(dir: string, writers: number, seconds: number, segmentBytes: number, perSave: number): Promise<RunResult> {
  const walDir = join(dir, 'wal');
  const wal = await FileWal.open(walDir, { segmentBytes });
  const data = new Uint8Array(entryBytes).fill(0x5a);
  const lat = new Latencies();
  let next = 1;
  let done = 0;
  let stop = false;
  const writer = async (): Promise<void> => {
    while (!stop) {
      const entries: Entry[] = new Array<Entry>(perSave);
      for (let i = 0; i < perSave; i++) entries[i] = { index: next++, term: 1, type: 'normal', data };
      const t0 = performance.now();
      await wal.save({ snapshot: null, entries, hardState: null });
      lat.add(performance.now() - t0);
      done += perSave;
    }
  };
  const start = performance.now();
  const timer = setTimeout(() => void (stop = true), seconds * 1000);
  await Promise.all(Array.from({ length: writers }, writer));
  const elapsed = performance.now() - start;
  clearTimeout(timer);
  await wal.close();
  fs.rmSync(walDir, { recursive: true, force: true });
  return { entriesPerS: (done / elapsed) * 1000, p50Ms: lat.quantile(0.5), p99Ms: lat.quantile(0.99) };
}

/** A segment big enough that a run at up to twice the raw rate stays in its first half (no background preallocation) (16 bytes of framing a record). */
function segmentBytesFor(rawEntriesPerS: number, seconds: number): number {
  const need = rawEntriesPerS * 4 * seconds * (entryBytes + 32);
  return Math.min(2 ** 31, Math.max(64 * 1024 * 1024, Math.ceil(need / (1 << 20)) * (1 << 20)));
}

/** Time to open a WAL whose first segment is preallocated: the cost a segment roll moves off the write path. */
async function rollMs(dir: string, segmentBytes: number): Promise<number> {
  const t0 = performance.now();
  const wal = await FileWal.open(join(dir, 'roll'), { segmentBytes });
  const ms = performance.now() - t0;
  await wal.close();
  fs.rmSync(join(dir, 'roll'), { recursive: true, force: true });
  return ms;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function fmt(n: number, digits = 0): string {
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const dir = fs.mkdtempSync(join(os.tmpdir(), 'edgeraft-bench-store-'));
  const cpu = os.cpus()[0]?.model ?? 'unknown';
  const results: Record<string, number>[] = [];
  let segmentPreallocMs = NaN;
  try {
    segmentPreallocMs = median([await rollMs(dir, 64 << 20), await rollMs(dir, 64 << 20), await rollMs(dir, 64 << 20)]);
    for (const writers of args.writers) {
      const raw: RunResult[] = [];
      const wal: RunResult[] = [];
      for (let r = 0; r < args.runs; r++) {
        process.stderr.write(`writers ${writers}: run ${r + 1}/${args.runs}\n`);
        raw.push(await rawRun(dir, writers * args.perSave, args.seconds));
        const segmentBytes = segmentBytesFor(raw[raw.length - 1]!.entriesPerS, args.seconds);
        // Warm-up (JIT, page cache of the temp dir), not measured.
        if (r === 0) await walRun(dir, writers, Math.min(0.3, args.seconds), segmentBytes, args.perSave);
        wal.push(await walRun(dir, writers, args.seconds, segmentBytes, args.perSave));
      }
      const m = (xs: RunResult[], k: keyof RunResult): number => median(xs.map((x) => x[k]));
      results.push({
        writers,
        raw_entries_per_s: m(raw, 'entriesPerS'),
        raw_p50_ms: m(raw, 'p50Ms'),
        raw_p99_ms: m(raw, 'p99Ms'),
        wal_entries_per_s: m(wal, 'entriesPerS'),
        wal_p50_ms: m(wal, 'p50Ms'),
        wal_p99_ms: m(wal, 'p99Ms'),
        ratio_to_raw: m(wal, 'entriesPerS') / m(raw, 'entriesPerS'),
        p50_ratio_to_raw: m(wal, 'p50Ms') / m(raw, 'p50Ms'),
      });
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  console.log(`edgeraft store benchmark: FileWal group commit vs raw write+fdatasync per batch`);
  console.log(`machine: ${cpu}, ${os.cpus().length} cores, node ${process.version}, crc32c ${crc32cNative ? 'native' : 'js'}`);
  console.log(`${entryBytes}-byte entries, ${args.perSave === 1 ? "one entry per save" : `${args.perSave} entries per save (as a peer saves a Ready)`}, median of ${args.runs} runs x ${args.seconds} s, temp dir in ${os.tmpdir()}`);
  console.log(`preallocating a 64 MiB segment (done in the background before a roll): ${fmt(segmentPreallocMs, 1)} ms\n`);
  const head = ['writers', 'raw entries/s', 'raw p50 ms', 'raw p99 ms', 'wal entries/s', 'wal p50 ms', 'wal p99 ms', 'ratio_to_raw', 'p50 ratio'];
  const rows = results.map((r) => [
    String(r['writers']), fmt(r['raw_entries_per_s']!), fmt(r['raw_p50_ms']!, 3), fmt(r['raw_p99_ms']!, 3),
    fmt(r['wal_entries_per_s']!), fmt(r['wal_p50_ms']!, 3), fmt(r['wal_p99_ms']!, 3), fmt(r['ratio_to_raw']!, 2), fmt(r['p50_ratio_to_raw']!, 2),
  ]);
  const widths = head.map((h, c) => Math.max(h.length, ...rows.map((row) => row[c]!.length)));
  for (const row of [head, ...rows]) console.log(row.map((cell, c) => cell.padStart(widths[c]!)).join('  '));
  if (args.json) {
    console.log(JSON.stringify({ cpu, cores: os.cpus().length, node: process.version, entry_bytes: entryBytes, runs: args.runs, run_seconds: args.seconds, crc32c_native: crc32cNative, segment_prealloc_ms: segmentPreallocMs, results }));
  }
}

await main();
