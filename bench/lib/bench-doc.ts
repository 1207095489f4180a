// docs/benchmarks.md and docs/benchmarks-latency.svg from one `npm run bench`: the machine and
// versions, the method (including what the JSON gateway costs etcd), the side-by-side table, the
// targets, etcdctl check perf, the chart, and the details. The same text is printed to stdout.

import { machineSection } from './machine-info.ts';
import { fmt, median, table } from '../machine.ts';
import type { ChartPanel, ChartSeries, ChartSpec } from './chart-svg.ts';
import {
  checkPerfLines, comparisonHeader, comparisonRows, detailHeader, detailRows, selfTargetLines, targetLines, type Done, type Report,
} from './cluster-report.ts';
import { mixedWriteShare, type Point } from './compare.ts';
import { coordinationMarkdown } from './coordination-report.ts';

export const chartFile = 'benchmarks-latency.svg';

const shapeColors: Readonly<Record<string, string>> = {
  writes: '#1f77b4', readindex: '#2ca02c', linearizable: '#2ca02c', lease: '#9467bd', follower: '#8c564b',
  stale: '#ff7f0e', serializable: '#ff7f0e', mixed: '#d62728',
};

function shapeOf(p: Point): string {
  return p.op === 'write' ? 'writes' : p.op === 'mixed' ? 'mixed' : p.consistency;
}

function shapeName(p: Point): string {
  const s = shapeOf(p);
  return p.op === 'read' ? `reads ${s}` : p.op === 'mixed' ? `mixed ${100 - mixedWriteShare * 100}/${mixedWriteShare * 100}` : s;
}

/** Panels per cluster size and client shape (p50, p99); one series per system and load, points by client count. */
export function latencyChart(done: Done, subtitle: string): ChartSpec {
  const sizes = [...new Set(done.map(([p]) => p.members))].sort((a, b) => a - b);
  const clientShapes = [...new Set(done.map(([p]) => p.shape))];
  const panels: ChartPanel[] = [];
  for (const members of sizes) for (const shape of clientShapes) {
    for (const q of ['p50', 'p99'] as const) {
      const groups = new Map<string, Array<readonly [Point, Done[number][1]]>>();
      for (const [p, f] of done) {
        if (p.members !== members || p.shape !== shape || p.newKeys) continue;
        const name = `${p.system} ${shapeName(p)}`;
        groups.set(name, [...(groups.get(name) ?? []), [p, f]]);
      }
      const series: ChartSeries[] = [...groups.entries()].map(([name, pts]) => ({
        name, color: shapeColors[shapeOf(pts[0]![0])] ?? '#333', dashed: pts[0]![0].system === 'etcd', marker: pts[0]![0].system === 'etcd' ? 'square' : 'circle',
        points: [...pts].sort((a, b) => a[0].concurrency - b[0].concurrency)
          // Reads at 256 clients crowd together: only writes and mixed loads name their client counts.
          .map(([p, f]) => ({ x: f.opsPerS, y: q === 'p50' ? f.p50Ms : f.p99Ms, ...(p.op !== 'read' ? { label: String(p.concurrency) } : {}) })),
      }));
      if (series.length > 0) panels.push({ title: `${members} members, ${shape} clients: ${q} latency`, series });
    }
  }
  return {
    title: 'Latency against throughput: edgeraft (solid, circles) and etcd (dashed, squares)', subtitle,
    xLabel: 'operations per second (log)', yLabel: 'latency, ms (log)', panels, columns: 2,
  };
}

function methodLines(r: Report): string[] {
  const m = r.method;
  const e = r.etcd;
  const lines = [
    `- **edgeraft**: ${m.edgeraftPeers.join(' and ')} peers from the built CLI (\`node dist/node/cli.js peer --sync ${m.sync}\`, default tick) on 127.0.0.1, ` +
    'each with its own temp data dir and free port; load through the client SDK (WebSocket + CBOR).',
    `- **Client shapes** (${m.shapes.join(' and ')}): *independent* clients are one SDK instance each (its own \`connect()\`, connection and session), ` +
    'as browser tabs, edge function instances and services are, spread over up to 4 load processes; *multiplexed* clients are request loops ' +
    'sharing up to 4 SDK instances per load process (up to 2 processes). etcd gets the same processes and loops, with one keep-alive HTTP connection per client loop.',
    '- **CPU per operation**: the CPU time (user + system, from /proc) of the leader, the mean follower and the load generators over the measured window, ' +
    'divided by the operations: what each costs, whatever else the machine was doing.',
    '- **Persist against the disk**: the leader\'s persist p50 (from its `edgeraft_persist_duration_ms` histogram, the save from call to resumption) beside a raw ' +
    '`write` + `fdatasync` through libuv of the same bytes per save, in as many processes at once as there are peers, run right after each write run.',
    '- **Memory per idle client**: the leader\'s RSS with N independent clients connected and idle (each did one lease read) against none, after 3 s of settling each.',
  ];
  if (e.notMeasured === null) {
    lines.push(
      `- **etcd**: Debian's etcd ${e.version ?? '?'} (\`etcd-server\`), ${e.members.join(' and ')} members on 127.0.0.1 with default settings (fsync on, ` +
      'heartbeat 100 ms), their own temp data dirs and free client and peer ports, started by the benchmark and stopped by PID at the end. ' +
      'Load through etcd\'s v3 HTTP/JSON gateway (`POST /v3/kv/put`, `/v3/kv/range`, base64 keys and values) over keep-alive HTTP/1.1 connections, ' +
      'one per concurrent client loop, since no gRPC library is installed here. That costs etcd some overhead its own gRPC clients do not pay ' +
      '(JSON and base64 in the generator, grpc-gateway translating each request inside etcd, a connection per request in flight instead of HTTP/2 streams); ' +
      '`etcdctl check perf` below measures etcd with its own gRPC client, and the same shape through the gateway beside it, to show how much.',
    );
  } else {
    lines.push(`- **etcd was not measured**: ${e.notMeasured}. The etcd columns are empty and no ratios are given.`);
  }
  if (e.notMeasured !== null) {
    lines.push(
      `- **Load**: forked Node load-generator processes, ${m.valueBytes}-byte values, ${fmt(m.keyCount)} keys written beforehand` +
      `${m.newKeys ? ' (each put creates a new key)' : ' that writers overwrite and readers read'}, keys picked by a seeded PRNG, ${m.warmupS} s warm-up then ` +
      `${m.seconds} s measured, median of ${m.runs} runs, p50 and p99 from a histogram with 1 % buckets. Writes, readindex and lease reads and mixed loads ` +
      `go to the leader; follower and stale reads to the followers. Mixed: each operation is a write with probability ${mixedWriteShare}, else a readindex read.`,
      `- **Leaders** (at the end of each phase): ${m.leaders.join('; ')}.`,
    );
    return lines;
  }
  lines.push(
    `- **The same load shape for both**: forked Node load-generator processes (the same number of processes, clients per process and concurrent loops), ` +
    `${m.valueBytes}-byte values, ${fmt(m.keyCount)} keys written beforehand${m.newKeys ? ' (each put creates a new key)' : ' that writers overwrite and readers read'}, ` +
    `keys picked by the same seeded PRNG, ${m.warmupS} s warm-up then ${m.seconds} s measured, median of ${m.runs} runs, p50 and p99 from the same histogram (1 % buckets).`,
    '- **Where requests go**: writes, leader reads and mixed loads to the leader (edgeraft\'s SDK follows the leader; the etcd generator targets it, like etcd\'s `benchmark --target-leader`); ' +
    'edgeraft\'s follower and stale reads and etcd\'s serializable reads to the followers, spread evenly.',
    `- **Reads compared**: etcd's linearizable read is a ReadIndex round, so it stands beside edgeraft's readindex, lease and follower reads; its serializable read (local, maybe stale) beside stale. ` +
    `Mixed: each operation is a write with probability ${mixedWriteShare}, else a read (edgeraft readindex, etcd linearizable).`,
    '- **Interleaved**: the runs of each load alternate between the systems (run 1 of each, then run 2, ...), so a slow spell of this shared machine falls on both.',
    '- **Ratios**: edgeraft/etcd for ops/s, etcd/edgeraft for latency, so > 1 means edgeraft is better. Everything (clusters and generators) shares the machine\'s cores; ' +
    'both clusters of a size run for the whole phase, the idle one exchanging only heartbeats.',
    `- **Leaders** (at the end of each phase): ${m.leaders.join('; ')}.`,
  );
  return lines;
}

/** The whole report as Markdown (stdout gets the same, without the image). */
export function reportMarkdown(r: Report, withChart: boolean): string {
  const mc = r.machine;
  const others = r.done.map(([, f]) => Math.max(0, f.otherCpuPct));
  const out = [
    r.etcd.notMeasured === null ? '# Benchmarks: edgeraft beside etcd' : '# Benchmarks: edgeraft (etcd not measured)',
    '',
    `Generated by \`npm run bench\` on ${mc.date.slice(0, 16).replace('T', ' ')} UTC in ${fmt(r.durationS / 60, 1)} minutes. Do not edit: run it again.`,
    '',
    ...machineSection(mc, `; etcd ${r.etcd.version ?? 'not measured'}`),
    `- Other processes on the machine used a median of ${fmt(median(others))} % of one core during the measured windows (max ${fmt(others.length > 0 ? Math.max(...others) : 0)} %): the machine is shared, so read the ratios more than the absolute figures.`,
    '',
    '## Method',
    '',
    ...methodLines(r),
    '',
    '## Results',
    '',
    table(comparisonHeader, comparisonRows(r.done)),
    '',
    ...(withChart ? [`![Latency against throughput](${chartFile})`, ''] : []),
    '### Targets against etcd (in the same run)',
    '',
    ...targetLines(r.done),
    '',
    '### Targets of edgeraft against itself and the disk',
    '',
    ...selfTargetLines(r.done, r.memory),
    '',
    ...(r.memory === null ? [] : [
      `Memory: ${fmt(r.memory.clients)} idle independent clients took the leader from ${fmt(r.memory.leaderRssBefore / 2 ** 20, 1)} MiB to ` +
      `${fmt(r.memory.leaderRssAfter / 2 ** 20, 1)} MiB RSS (${fmt(r.memory.leaderBytesPerClient / 1024, 1)} KiB each); a follower's grew by at most ` +
      `${fmt(r.memory.followerBytesPerClient / 1024, 1)} KiB per client (clients connect to the leader).`, '']),
    '### etcdctl check perf',
    '',
    ...checkPerfLines(r.etcd, r.done),
    '',
    '### Details per load',
    '',
    table(detailHeader, detailRows(r.done)),
    '',
    'CPU: percent of one core over the measured window (all cores = 100 % × cores); gen = the load generators together, follower = the mean of the',
    'followers, other = processes this benchmark did not start (figures measured while it is high are not trustworthy). CPU µs/op: CPU time per',
    'operation, which does not depend on how busy the machine was. runs min–max: the lowest and highest ops/s of the runs (the figures are medians).',
    'entries/save and persist p50: from the leader\'s metrics (etcd: committed proposals per WAL fsync, and its fsync p50); in brackets, the raw',
    'write + fdatasync p50 of the same bytes. served: the path edgeraft reported, or the etcd read kind.',
    ...(r.coordination === undefined ? [] : ['', ...coordinationMarkdown(r.coordination)]),
  ];
  return `${out.join('\n')}\n`;
}

function readerCounts(done: Done): string {
  const counts = [...new Set(done.filter(([p]) => p.op === 'read').map(([p]) => p.concurrency))].sort((a, b) => a - b);
  return counts.length === 0 ? 'none' : counts.join(', ');
}

export function chartSubtitle(r: Report): string {
  return `${r.machine.cpuModel} × ${r.machine.cores} cores, Node ${r.machine.node}, etcd ${r.etcd.version ?? 'not measured'}, edgeraft ${r.machine.commit}; ` +
    `${r.method.valueBytes}-byte values, fsync on, median of ${r.method.runs} runs; numbers: clients (reads: ${readerCounts(r.done)})`;
}
