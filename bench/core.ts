// bench:core — a 3-node in-memory cluster (no I/O, no encoding) driven as fast as one core can:
// committed entries/s of 256-byte entries at several proposal batch sizes, and an estimate of
// the bytes allocated per entry. Usage: npm run bench:core [-- --json] [--runs N] [--seconds S]
import { RaftNode } from '../src/core/node.ts';
import type { Message } from '../src/core/message.ts';
import { SeededPrng } from '../src/core/prng.ts';
import { fmt, machineLine, median, table } from './machine.ts';

interface Args { json: boolean; runs: number; seconds: number }

function parse(argv: string[]): Args {
  const a: Args = { json: false, runs: 5, seconds: 1.5 };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]!;
    if (k === '--json') a.json = true;
    else if (k === '--runs') a.runs = Number(argv[++i]);
    else if (k === '--seconds') a.seconds = Number(argv[++i]);
    else if (k === '--help' || k === '-h') {
      process.stdout.write('usage: npm run bench:core -- [--json] [--runs N] [--seconds S]\n');
      process.exit(0);
    } else {
      process.stderr.write(`bench:core: unknown option '${k}'\n`);
      process.exit(2);
    }
  }
  if (!Number.isInteger(a.runs) || a.runs < 1) throw new Error(`--runs must be a positive integer, got ${a.runs}`);
  if (!(a.seconds > 0)) throw new Error(`--seconds must be positive, got ${a.seconds}`);
  return a;
}

class Cluster {
  readonly nodes: RaftNode[];
  readonly #byId = new Map<string, RaftNode>();
  #queue: Message[] = [];
  applied = 0;

  constructor() {
    const ids = ['a', 'b', 'c'];
    this.nodes = ids.map((id, i) => new RaftNode({
      // Reads are not measured here: no clock, no lease.
      options: { id, prng: new SeededPrng(i + 1), inflightMsgsMax: 1024, uncommittedBytesMax: 256 * 1024 * 1024, leaseReads: false },
      bootstrap: { voters: ids, learners: [] },
    }));
    for (const n of this.nodes) this.#byId.set(n.status().id, n);
    // Nodes refuse votes for their first election timeout (see Raft.voteGuardUntilTick).
    for (let t = 0; t < 10; t++) for (const n of this.nodes) n.tick();
    this.nodes[0]!.campaign();
    this.pump();
  }

  /** Runs Ready/advance on every node and delivers messages until nothing is left to do. */
  pump(): void {
    for (;;) {
      let busy = false;
      for (const n of this.nodes) {
        if (!n.hasReady()) continue;
        busy = true;
        const rd = n.ready();
        for (const m of rd.messages) this.#queue.push(m);
        for (const m of rd.messagesAfterPersist) this.#queue.push(m);
        if (n === this.nodes[0]) this.applied += rd.committedEntries.length;
        n.advance(rd);
      }
      if (this.#queue.length > 0) {
        busy = true;
        const q = this.#queue;
        this.#queue = [];
        for (const m of q) this.#byId.get(m.to)!.step(m);
      }
      if (!busy) return;
    }
  }
}

function heapUsed(): number {
  return process.memoryUsage().heapUsed;
}

function runOnce(batch: number, seconds: number): { entriesPerS: number; bytesPerEntry: number } {
  const c = new Cluster();
  const leader = c.nodes[0]!;
  const payload = new Uint8Array(256);
  const proposals: Uint8Array[] = new Array<Uint8Array>(batch).fill(payload);
  let compactAt = 100_000;
  const start = performance.now();
  const startApplied = c.applied;
  let allocated = 0;
  let lastHeap = heapUsed();
  const end = start + seconds * 1000;
  let cycles = 0;
  while (performance.now() < end) {
    leader.propose(proposals);
    c.pump();
    // Keep memory flat as a real peer would: snapshot and compact the log now and then.
    if (c.applied >= compactAt) {
      for (const n of c.nodes) n.compact(new Uint8Array(0));
      compactAt += 100_000;
    }
    if ((++cycles & 7) === 0) {
      const h = heapUsed();
      if (h > lastHeap) allocated += h - lastHeap;
      lastHeap = h;
    }
  }
  const elapsedS = (performance.now() - start) / 1000;
  const entries = c.applied - startApplied;
  return { entriesPerS: entries / elapsedS, bytesPerEntry: allocated / Math.max(1, entries) };
}

function main(): void {
  const args = parse(process.argv.slice(2));
  const batches = [64, 256, 1024, 4096];
  const rows: string[][] = [];
  const json: Record<string, number> = {};
  process.stderr.write(`bench:core: ${batches.length} batch sizes × ${args.runs} runs × ${args.seconds} s\n`);
  runOnce(256, 0.5); // warm up the JIT
  for (const batch of batches) {
    const rates: number[] = [];
    const allocs: number[] = [];
    for (let r = 0; r < args.runs; r++) {
      const res = runOnce(batch, args.seconds);
      rates.push(res.entriesPerS);
      allocs.push(res.bytesPerEntry);
      process.stderr.write(`  batch ${batch}: run ${r + 1}/${args.runs} ${fmt(res.entriesPerS)} entries/s\n`);
    }
    const rate = median(rates);
    const alloc = median(allocs);
    rows.push([String(batch), fmt(rate), fmt(Math.min(...rates)), fmt(Math.max(...rates)), fmt(rate / 1_000_000, 2), fmt(alloc)]);
    json[`batch_${batch}_entries_per_s`] = Math.round(rate);
    json[`batch_${batch}_ratio_to_target`] = Number((rate / 1_000_000).toFixed(3));
    json[`batch_${batch}_alloc_bytes_per_entry`] = Math.round(alloc);
  }
  console.log(`bench:core — 3 in-memory nodes, 256-byte entries, no I/O or encoding, one core\n${machineLine()}\nmedian of ${args.runs} runs of ${args.seconds} s\n`);
  console.log(table(['batch', 'committed entries/s (median)', 'min', 'max', 'ratio to 1M target', 'heap bytes allocated/entry (approx)'], rows));
  if (args.json) console.log(JSON.stringify(json));
}

main();
