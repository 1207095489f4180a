// `npm run sim`: the chaos simulator from the command line.
//   npm run sim -- --seed N            replay one seed, printing its schedule
//   npm run sim -- --seeds N [--from S] run N seeds (S, S+1, ...), with progress and a summary
//   --duration-ms D                    virtual ms of faults per seed before healing (default 2500)
//   --steps K                          events per seed at most before healing (default 40000)
import { addParallelStats, addPrimitiveStats, describePrimitives, emptyParallelStats, emptyPrimitiveStats, runChaos, type ChaosResult } from './chaos.ts';

const usage = `usage: npm run sim -- (--seed N | --seeds N [--from S]) [--duration-ms D] [--steps K] [--mode raft|parallel] [--quiet]

  --seed N    run seed N alone, printing its fault schedule (the replay command)
  --seeds N   run N seeds starting at --from (default 1)
  --duration-ms D  virtual milliseconds of faults per seed before the final heal (default 2500)
  --steps K   events per seed at most before the final heal (default 40000)
  --mode M    raft (default) or parallel (ParallelRaft: out-of-order ack, commit and apply)
  --json      print one JSON summary object last
`;

interface Args { seed?: number; seeds?: number; from: number; steps: number; durationMs: number; json: boolean; quiet: boolean; mode: 'raft' | 'parallel' }

function parse(argv: string[]): Args {
  const args: Args = { from: 1, steps: 40_000, durationMs: 2500, json: false, quiet: false, mode: 'raft' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const num = (): number => {
      const v = Number(argv[++i]);
      if (!Number.isSafeInteger(v) || v < 0) throw new Error(`${a} needs a non-negative integer, got '${argv[i] ?? ''}'`);
      return v;
    };
    switch (a) {
      case '--seed': args.seed = num(); break;
      case '--seeds': args.seeds = num(); break;
      case '--from': args.from = num(); break;
      case '--steps': args.steps = num(); break;
      case '--duration-ms': args.durationMs = num(); break;
      case '--json': args.json = true; break;
      case '--quiet': args.quiet = true; break;
      case '--mode': {
        const m = argv[++i];
        if (m !== 'raft' && m !== 'parallel') throw new Error(`--mode must be raft or parallel, got '${m ?? ''}'`);
        args.mode = m;
        break;
      }
      case '-h': case '--help': process.stdout.write(usage); process.exit(0);
      default: throw new Error(`unknown option '${a}'`);
    }
  }
  if (args.seed === undefined && args.seeds === undefined) throw new Error('give --seed N or --seeds N');
  return args;
}

function describe(r: ChaosResult): string {
  return `seed ${r.seed}: ${r.ok ? 'ok' : 'FAILED'} — ${r.profile}; ${r.steps} steps, ${(r.virtualMs / 1000).toFixed(1)} s virtual, ` +
    `${r.committed} committed, ${r.crashes} crashes, ${r.partitions} partitions, ${r.pauses} pauses, ${r.transfers} transfers, ${r.reorderAccepted} resends saved by the reorder buffer` +
    (r.kvOps > 0 ? `, ${r.kvOps} key-value operations linearizable (${r.txns} txns)` : '') +
    (r.leasesGranted > 0 ? `, ${r.leasesGranted} leases (${r.keepAlives} keep-alives acknowledged, ${r.leasesExpired} expired, ${r.leasesRevoked} revoked)` : '') +
    (r.watchRevisions > 0 ? `, ${r.watchEvents} watch events in ${r.watchRevisions} revisions checked (${r.watchResumes} resumptions, ${r.watchCompacted} ERR_COMPACTED reloads)` : '');
}

async function main(): Promise<number> {
  let args: Args;
  try {
    args = parse(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`sim: ${(err as Error).message}\n\n${usage}`);
    return 2;
  }
  if (args.seed !== undefined) {
    const r = await runChaos(args.seed, { steps: args.steps, durationMs: args.durationMs, verbose: !args.quiet, mode: args.mode });
    console.log(describe(r));
    if (!r.ok) console.log(`${r.error}\nreplay: ${r.replay}`);
    if (args.json) console.log(JSON.stringify({ seeds: 1, failed: r.ok ? 0 : 1 }));
    return r.ok ? 0 : 1;
  }
  const count = args.seeds!;
  const started = Date.now();
  const failures: ChaosResult[] = [];
  let committed = 0;
  let steps = 0;
  let saved = 0;
  let kvOps = 0;
  let kvRuns = 0;
  const faults = { pauses: 0, transfers: 0, crashes: 0, partitions: 0 };
  const reads = { lease: 0, readIndex: 0, forfeited: 0, outcomeUnknown: 0, expired: 0 };
  const prim = emptyPrimitiveStats();
  const par = emptyParallelStats();
  for (let i = 0; i < count; i++) {
    const r = await runChaos(args.from + i, { steps: args.steps, durationMs: args.durationMs, mode: args.mode });
    committed += r.committed;
    steps += r.steps;
    saved += r.reorderAccepted;
    kvOps += r.kvOps;
    addParallelStats(par, r.parallel);
    faults.pauses += r.pauses;
    faults.transfers += r.transfers;
    faults.crashes += r.crashes;
    faults.partitions += r.partitions;
    reads.lease += r.leaseReads;
    reads.readIndex += r.readIndexReads;
    reads.forfeited += r.leaseForfeitedTerms;
    reads.outcomeUnknown += r.outcomeUnknown;
    reads.expired += r.expired;
    addPrimitiveStats(prim, r);
    if (r.profile.includes('kv clients')) kvRuns++;
    if (!r.ok) {
      failures.push(r);
      console.log(`${describe(r)}\n  ${r.error}\n  replay: ${r.replay}`);
    }
    if (!args.quiet && (i + 1) % 100 === 0) {
      process.stderr.write(`  ${i + 1}/${count} seeds, ${failures.length} failed, ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
    }
  }
  const seconds = (Date.now() - started) / 1000;
  console.log(`${count} seeds (${args.from}..${args.from + count - 1}), ${steps} steps, ${committed} entries committed, ` +
    `${saved} resends saved by reorder buffers, ${kvRuns} key-value histories (${kvOps} operations) linearizable, ` +
    `${failures.length} failed, ${seconds.toFixed(1)} s`);
  console.log(`faults: ${faults.crashes} crashes, ${faults.partitions} partitions, ${faults.pauses} pauses, ${faults.transfers} transfers; ` +
    `reads: ${reads.lease} by lease, ${reads.readIndex} by ReadIndex at the leader, ${reads.forfeited} leader terms without a lease after a timeoutNow; ` +
    `writes: ${reads.outcomeUnknown} answered ERR_OUTCOME_UNKNOWN, ${reads.expired} on an expired session`);
  console.log(describePrimitives(prim));
  if (args.mode === 'parallel') {
    console.log(`parallel mode: ${par.outOfOrderAccepted} entries acknowledged past a hole, ${par.outOfOrderCommitted} committed ` +
      `and ${par.outOfOrderApplied} applied out of order, ${par.applyHeldByConflict} apply waits on a conflict, ` +
      `${par.merges} Merge stages filling ${par.mergeNoops} indexes with a no-op (counters of the nodes alive at each run's end)`);
  }
  if (args.json) {
    console.log(JSON.stringify({
      seeds: count, failed: failures.length, steps, committed_entries: committed, kv_ops: kvOps, pauses: faults.pauses, transfers: faults.transfers,
      txns: prim.txns, leases_granted: prim.leases, keep_alives: prim.keepAlives, leases_expired: prim.leasesExpired,
      watch_events_checked: prim.watchEvents, watch_revisions_checked: prim.watchRevisions,
      lease_reads: reads.lease, read_index_reads: reads.readIndex, duration_s: seconds,
    }));
  }
  return failures.length === 0 ? 0 : 1;
}

process.exitCode = await main();
