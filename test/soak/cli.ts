// `npm run soak`: the fault suite of test/e2e run for longer. One cluster lives through the whole
// soak; it is broken and checked in rounds (each with its own seed and key prefix, checked before
// the next begins), with progress lines on stderr and a summary at the end.
//   npm run soak -- --minutes 30 [--seed N] [--peers 3|5] [--netns] [--round-minutes 5] [--clients 6]
//   npm run soak -- --seconds 45 --seed N      replays one round's schedule on a fresh cluster
import { formatEntry } from '../e2e/nemesis.ts';
import { FaultRun, modes, type Mode, type RoundReport } from '../e2e/nemesis-run.ts';
import { NetnsNet, netnsUnavailable } from '../e2e/netns.ts';

const usage = `usage: npm run soak -- (--minutes M | --seconds S) [--seed N] [--peers 3|5] [--netns]
                      [--round-minutes R] [--clients C] [--mode ${modes.join('|')}] [--quiet]

  --minutes M        how long to run (default 30)
  --seconds S        the same in seconds (a short replay of one round)
  --seed N           seed of the first round (default: random); round k uses a seed derived from it
  --peers 3|5        cluster size (default 3)
  --netns            one network namespace per peer, partitions by real link cuts (root + iproute2)
  --round-minutes R  check and start a new round every R minutes (default 5)
  --clients C        concurrent SDK clients (default 6)
  --quiet            no schedule lines, only progress and the summary
`;

interface Args {
  durationMs: number;
  seed: number;
  peers: number;
  netns: boolean;
  roundMs: number;
  clients: number;
  mode: Mode;
  quiet: boolean;
}

function parse(argv: readonly string[]): Args {
  const a: Args = {
    durationMs: 30 * 60_000, seed: (Date.now() ^ (process.pid << 16)) >>> 0, peers: 3, netns: false, roundMs: 5 * 60_000,
    clients: 6, mode: 'raft', quiet: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const num = (min: number): number => {
      const v = Number(argv[++i]);
      if (!Number.isFinite(v) || v < min) throw new Error(`${flag} needs a number >= ${min}, got '${argv[i] ?? ''}'`);
      return v;
    };
    switch (flag) {
      case '--minutes': a.durationMs = num(0.1) * 60_000; break;
      case '--seconds': a.durationMs = num(5) * 1000; break;
      case '--seed': a.seed = num(0) >>> 0; break;
      case '--peers': a.peers = num(3); break;
      case '--netns': a.netns = true; break;
      case '--round-minutes': a.roundMs = num(0.5) * 60_000; break;
      case '--clients': a.clients = Math.round(num(1)); break;
      case '--mode': {
        const m = argv[++i] as Mode;
        if (!modes.includes(m)) throw new Error(`--mode must be one of ${modes.join(', ')} (got '${m}')`);
        a.mode = m;
        break;
      }
      case '--quiet': a.quiet = true; break;
      case '-h': case '--help': process.stdout.write(usage); process.exit(0);
      default: throw new Error(`unknown option '${flag}'\n${usage}`);
    }
  }
  if (a.peers !== 3 && a.peers !== 5) throw new Error(`--peers must be 3 or 5 (got ${a.peers})`);
  return a;
}

/** Round k's seed: the given one for round 1, then a SplitMix-style derivation. */
function roundSeed(seed: number, k: number): number {
  if (k === 1) return seed;
  let z = (seed + Math.imul(k, 0x9e3779b9)) >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
  return (z ^ (z >>> 16)) >>> 0;
}

function minutes(ms: number): string {
  return (ms / 60_000).toFixed(1);
}

async function main(argv: readonly string[]): Promise<number> {
  const a = parse(argv);
  // Exit through process.exit so the exit hooks SIGKILL the peers (and remove namespaces).
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => process.exit(sig === 'SIGINT' ? 130 : 143));
  const err = (line: string): void => void process.stderr.write(`${line}\n`);
  let netns: NetnsNet | undefined;
  if (a.netns) {
    const why = netnsUnavailable();
    if (why !== null) throw new Error(`--netns needs root and iproute2: ${why}`);
    netns = await NetnsNet.create(Array.from({ length: a.peers }, (_, i) => `n${i + 1}`));
  }
  const replay = (seed: number): string =>
    `npm run soak -- --seconds ${Math.round(Math.min(a.roundMs, a.durationMs) / 1000)} --seed ${seed} --peers ${a.peers}${a.netns ? ' --netns' : ''} --clients ${a.clients}`;
  err(`[soak] ${a.peers} peers, mode ${a.mode}, ${a.netns ? `netns (subnet ${netns!.subnet}.0/24)` : 'loopback'}, ${a.clients} clients, ` +
    `${minutes(a.durationMs)} min in rounds of ${minutes(Math.min(a.roundMs, a.durationMs))} min, seed ${a.seed}`);
  const run = await FaultRun.start({
    name: `soak-${a.peers}`, peers: a.peers, mode: a.mode, clients: a.clients, replay,
    ...(netns !== undefined ? { netns } : {}),
    ...(a.quiet ? {} : { log: (line: string) => err(`[soak]   ${line}`) }),
  });
  const started = performance.now();
  const reports: RoundReport[] = [];
  const totals = { ok: 0, unknown: 0, stale: 0, faults: 0 };
  const timer = setInterval(() => {
    const p = run.progress();
    const ops = totals.ok + totals.unknown + (p === null ? 0 : p.ops.ok + p.ops.unknown);
    err(`[soak] ${minutes(performance.now() - started)}/${minutes(a.durationMs)} min  round ${reports.length + 1}  ` +
      `ops ${ops} (unknown ${totals.unknown + (p?.ops.unknown ?? 0)})  faults ${totals.faults + (p?.faults ?? 0)}`);
  }, 10_000);
  let failed = false;
  try {
    for (let k = 1; !failed; k++) {
      const left = a.durationMs - (performance.now() - started);
      if (left < 5000) break;
      const seed = roundSeed(a.seed, k);
      err(`[soak] round ${k}: seed ${seed}, ${Math.round(Math.min(a.roundMs, left) / 1000)} s`);
      const r = await run.round(seed, Math.min(a.roundMs, left), `r${k}/`);
      reports.push(r);
      totals.ok += r.ops.ok;
      totals.unknown += r.ops.unknown;
      totals.stale += r.ops.staleReads;
      totals.faults += Object.values(r.faultsByKind).reduce((x, y) => x + y, 0);
      err(`[soak] round ${k} ${r.ok ? 'passed' : 'FAILED'}: ${r.ops.ok} ok, ${r.ops.unknown} unknown, ${r.ops.staleReads} stale reads, ` +
        `faults ${JSON.stringify(r.faultsByKind)}; ${r.lincheck}`);
      if (!r.ok) {
        failed = true;
        err(r.text);
      }
    }
  } finally {
    clearInterval(timer);
    await run.close(failed);
  }
  const byKind: Record<string, number> = {};
  for (const r of reports) for (const [k, n] of Object.entries(r.faultsByKind)) byKind[k] = (byKind[k] ?? 0) + n;
  const skipped = reports.flatMap((r) => r.schedule.filter((e) => e.outcome === 'skipped'));
  const summary = {
    result: failed ? 'FAILED' : 'passed', minutes: Number(minutes(performance.now() - started)), rounds: reports.length,
    peers: a.peers, mode: a.mode, netns: a.netns, seed: a.seed,
    operations: totals.ok + totals.unknown, operations_ok: totals.ok, operations_unknown: totals.unknown, stale_reads: totals.stale,
    faults: totals.faults, faults_by_kind: byKind, faults_skipped: skipped.length,
  };
  process.stdout.write(`\nsoak ${summary.result}: ${summary.minutes} min, ${summary.rounds} round(s), ${summary.operations} operations ` +
    `(${summary.operations_ok} ok, ${summary.operations_unknown} unknown, ${summary.stale_reads} stale reads), ${summary.faults} faults\n`);
  for (const [k, n] of Object.entries(byKind).sort()) process.stdout.write(`  ${k.padEnd(16)} ${n}\n`);
  if (skipped.length > 0) process.stdout.write(`  skipped: ${skipped.slice(0, 5).map(formatEntry).join('; ')}${skipped.length > 5 ? '; ...' : ''}\n`);
  process.stdout.write(`${JSON.stringify(summary)}\n`);
  return failed ? 1 : 0;
}

main(process.argv.slice(2)).then((code) => { process.exitCode = code; }, (err: Error) => {
  process.stderr.write(`soak: ${err.stack ?? err.message}\n`);
  process.exitCode = 2;
});
