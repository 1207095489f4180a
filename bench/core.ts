// bench:core — a 3-node in-memory cluster (no I/O, no encoding) driven as fast as one core can:
// committed entries/s of 256-byte key-value puts at several proposal batch sizes, in raft mode and
// in ParallelRaft mode (the cost of its entry headers, windows and apply rule, side by side, runs
// interleaved), and an estimate of the bytes allocated per entry.
// Usage: npm run bench:core [-- --json] [--runs N] [--seconds S] [--modes raft,parallel]
import { encodeCommand, kvKeysOf } from '../src/core/kv/command.ts';
import { RaftNode } from '../src/core/node.ts';
import type { Message } from '../src/core/message.ts';
import { SeededPrng } from '../src/core/prng.ts';
import { fmt, machineLine, median, table } from './machine.ts';

type Mode = 'raft' | 'parallel';
interface Args { json: boolean; runs: number; seconds: number; modes: Mode[] }

function parse(argv: string[]): Args {
  const a: Args = { json: false, runs: 5, seconds: 1.5, modes: ['raft', 'parallel'] };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]!;
    if (k === '--json') a.json = true;
    else if (k === '--runs') a.runs = Number(argv[++i]);
    else if (k === '--seconds') a.seconds = Number(argv[++i]);
    else if (k === '--modes') {
      const ms = (argv[++i] ?? '').split(',');
      if (ms.length === 0 || ms.some((m) => m !== 'raft' && m !== 'parallel')) {
        process.stderr.write(`bench:core: --modes takes raft, parallel or raft,parallel (got '${ms.join(',')}')\n`);
        process.exit(2);
      }
      a.modes = ms as Mode[];
    } else if (k === '--help' || k === '-h') {
      process.stdout.write('usage: npm run bench:core -- [--json] [--runs N] [--seconds S] [--modes raft,parallel]\n');
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

  constructor(mode: Mode) {
    const ids = ['a', 'b', 'c'];
    this.nodes = ids.map((id, i) => new RaftNode({
      // Reads are not measured here: no clock, no lease.
      options: {
        id, prng: new SeededPrng(i + 1), inflightMsgsMax: 1024, uncommittedBytesMax: 256 * 1024 * 1024, leaseReads: false,
        ...(mode === 'parallel' ? { mode: 'parallel' as const, keysOf: kvKeysOf } : {}),
      },
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

/** Puts of 256-byte values to keys spread over 100,000 (encoded once: encoding is not measured). */
const puts: Uint8Array[] = Array.from({ length: 4096 }, (_, i) => encodeCommand({
  timeMs: 0, session: null, cmd: { op: 'put', key: `k/${(i * 7919) % 100_000}`, value: 'v'.repeat(256) },
}));

function runOnce(mode: Mode, batch: number, seconds: number): { entriesPerS: number; bytesPerEntry: number } {
  const c = new Cluster(mode);
  const leader = c.nodes[0]!;
  const proposals: Uint8Array[] = Array.from({ length: batch }, (_, i) => puts[i % puts.length]!);
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
  process.stderr.write(`bench:core: ${batches.length} batch sizes × ${args.modes.join(' and ')} × ${args.runs} runs × ${args.seconds} s\n`);
  for (const mode of args.modes) runOnce(mode, 256, 0.5); // warm up the JIT
  for (const batch of batches) {
    const rates = new Map<Mode, number[]>(args.modes.map((m) => [m, []]));
    const allocs = new Map<Mode, number[]>(args.modes.map((m) => [m, []]));
    // Runs alternate between the modes, so a slow spell of the machine falls on both.
    for (let r = 0; r < args.runs; r++) {
      for (const mode of r % 2 === 0 ? args.modes : [...args.modes].reverse()) {
        const res = runOnce(mode, batch, args.seconds);
        rates.get(mode)!.push(res.entriesPerS);
        allocs.get(mode)!.push(res.bytesPerEntry);
        process.stderr.write(`  batch ${batch} ${mode}: run ${r + 1}/${args.runs} ${fmt(res.entriesPerS)} entries/s\n`);
      }
    }
    const raftRate = rates.has('raft') ? median(rates.get('raft')!) : null;
    for (const mode of args.modes) {
      const rs = rates.get(mode)!;
      const rate = median(rs);
      const alloc = median(allocs.get(mode)!);
      const ratio = raftRate !== null && mode !== 'raft' ? `${fmt(rate / raftRate, 2)}×` : '';
      rows.push([String(batch), mode, fmt(rate), fmt(Math.min(...rs)), fmt(Math.max(...rs)), ratio, fmt(alloc)]);
      const prefix = mode === 'raft' ? `batch_${batch}` : `batch_${batch}_${mode}`;
      json[`${prefix}_entries_per_s`] = Math.round(rate);
      json[`${prefix}_alloc_bytes_per_entry`] = Math.round(alloc);
      if (mode === 'raft') json[`${prefix}_ratio_to_target`] = Number((rate / 1_000_000).toFixed(3));
      else if (raftRate !== null) json[`${prefix}_ratio_to_raft`] = Number((rate / raftRate).toFixed(3));
    }
  }
  console.log(`bench:core — 3 in-memory nodes, 256-byte key-value puts, no I/O or encoding, one core\n${machineLine()}\nmedian of ${args.runs} runs of ${args.seconds} s, modes interleaved\n`);
  console.log(table(['batch', 'mode', 'committed entries/s (median)', 'min', 'max', 'parallel/raft', 'heap bytes allocated/entry (approx)'], rows));
  if (args.json) console.log(JSON.stringify(json));
}

main();
