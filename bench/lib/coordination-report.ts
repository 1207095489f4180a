// How the coordination phase (lib/coordination.ts) shows what it measured: its method, a table
// beside etcd (ratios read > 1 when edgeraft is better), the details per load, and its `--json`
// keys. When the phase did not run, the same section with every figure marked "not measured yet".

import { fmt, table } from '../machine.ts';
import { keyPrefix } from './compare.ts';
import type { CoordinationOptions, CoordinationReport, CoordinationSize, LoopFigures, WatchFigures } from './coordination.ts';

function ms(v: number | undefined | null): string {
  return v === undefined || v === null || !Number.isFinite(v) ? '' : fmt(v, v < 10 ? 2 : 1);
}

function x(r: number): string {
  return Number.isFinite(r) ? `${fmt(r, r < 10 ? 2 : 1)}×` : '';
}

/** etcd/edgeraft of two latencies, when both are > 0 (a commit → watcher figure can be 0 or less). */
function latencyRatio(etcd: number, edgeraft: number): number {
  return etcd > 0 && edgeraft > 0 ? etcd / edgeraft : Number.NaN;
}

function spread(lo: number, hi: number, digits = 2): string {
  return Number.isFinite(lo) && Number.isFinite(hi) ? `${fmt(lo, digits)}–${fmt(hi, digits)}` : '';
}

export function methodLines(o: CoordinationOptions, etcdMeasured: boolean): string[] {
  return [
    `- **Watch delivery**: ${fmt(o.watchers)} watchers on one prefix, each its own SDK client (its own \`connect()\` and connection, one \`watch()\`), as services and ` +
    `browser tabs watching a key have, spread evenly over the members (a third on the leader with 3 members: the SDK watches on the member it is connected to), ` +
    `in ${o.watchProcs} load processes; a writer in a process of its own puts ${fmt(o.valueBytes)}-byte values at ${fmt(o.watchRatePerS)} puts/s, open loop (each put on its schedule, ` +
    `whether or not the one before resolved), over ${o.warmupS} s of warm-up then ${o.seconds} s measured. For every put of the window and every watcher: ` +
    '**commit → watcher** = the time the event reached the consumer of the async iterator − the time the writer\'s put resolved (the SDK resolves a put once ' +
    'the entry applied on the leader), and **send → watcher** = the same − the time the put was sent, an upper bound (the writer\'s own put latency is in the details). A watcher can hear of a write before ' +
    'its writer does (the put\'s reply has its own way to go: through the gateway\'s JSON for etcd), so commit → watcher is signed, below 0 for those (their share ' +
    'is in the details), and its ratio to etcd is given only when both figures are above 0; send → watcher, the same span for both systems, is the like-for-like one. Events still missing ' +
    `${fmt(o.graceMs / 1000, 1)} s after the last put count as missed. p50/p99 over all events of all watchers, then split by where the watcher streams from at the end ` +
    '(leader, followers; the SDK may have connected elsewhere than the member listed first, counted in the details). ' +
    `${fmt(o.watchers)} watchers × ${fmt(o.watchRatePerS)} puts/s = ${fmt(o.watchers * o.watchRatePerS)} events/s (etcd's \`benchmark watch-latency\` delivers 10,000/s with its defaults, ` +
    '100 watchers and 100 puts/s; its latency is the same event − put-resolve span, with events ahead of the resolve counted as 0).',
    '- **One clock**: the writer and the watchers are different processes; every time is read from the machine\'s CLOCK_MONOTONIC (`process.hrtime.bigint()`), one clock ' +
    'for every process of a Linux machine. Each process also reports how far `performance.timeOrigin + performance.now()` is from it; the largest difference between ' +
    'processes (the clock spread in the details) says how far apart two processes\' `performance` clocks could be, had they been used.',
    `- **Lease keep-alives**: ${fmt(o.keepaliveClients)} independent clients, each with a lease of its own (30 s TTL), each sending one keep-alive after another ` +
    '(`keepAliveOnce(id)`: one `leaseKeepAlive` request to the leader, the request `keepAlive()` sends every third of the TTL in the background); ' +
    'keep-alives/s and their p50/p99.',
    `- **Transactions**: ${o.txnClients.join(', ')} independent clients, each with two keys of its own, in a loop: \`txn({ compare: [a's version = the one last seen], ` +
    `success: [put a, put b], failure: [get a] })\` with ${fmt(o.valueBytes)}-byte values; txns/s (each one log entry, one revision, writing two keys; a failed compare counts as an error) and p50/p99.`,
    `- **Runs**: each load ${o.runs} time${o.runs === 1 ? '' : 's'}, interleaved with etcd's (run 1 of each, then run 2, ...), medians, with the lowest and highest of the runs beside them; ` +
    'keep-alives and txns go through the same generator processes, warm-up, window and histogram as the key-value loads above.',
    etcdMeasured
      ? '- **etcd** (the same clusters as above, through the JSON gateway): watchers are `POST /v3/watch` streams (`create_request` on the prefix from the marker\'s revision), one ' +
        'HTTP connection each, on the member each is given (no failover), read as the stream of JSON lines the gateway sends; the writer `POST /v3/kv/put` to the leader. ' +
        'Keep-alives: `POST /v3/lease/keepalive` to the leader, one request per keep-alive: the gateway cannot carry the gRPC keep-alive stream over HTTP/1.1 ' +
        '(etcd 3.4 is built with Go 1.19, whose HTTP/1.1 server stops reading a request body once it answers), so each keep-alive opens a gRPC stream inside etcd, ' +
        'which its own clients do not pay. Each etcd watcher is a gRPC stream of its own inside the gateway (etcd\'s Go client would carry a client\'s watchers on one). ' +
        'Txns: `POST /v3/kv/txn` to the leader with the same compare and branches. Leases from `/v3/lease/grant` (30 s), revoked after each run.'
      : '- **etcd** was not measured in this phase: no ratios.',
    `- **Running it**: a phase of \`npm run bench\` after the key-value loads, on the smallest cluster size (\`--coordination-peers\`); \`--no-coordination\` skips it, ` +
    '`npm run bench:coordination` (`--only-coordination`) runs it alone, prints this section and leaves this file as it is. Sizes: `--watchers`, `--watch-rate`, ' +
    '`--watch-procs`, `--txn-clients`, `--keepalive-clients`. `--json` keys (the metric and its unit, then the load; etcd\'s with an `etcd_` prefix, a 5-member cluster\'s with `p5_` and `etcd5_`): ' +
    `\`watch_p50_ms_${o.watchers}_watchers\`, \`watch_p99_ms_${o.watchers}_watchers\` (commit → watcher), \`watch_{leader,followers,from_send}_p{50,99}_ms_${o.watchers}_watchers\`, ` +
    `\`watch_events_per_s_…\`, \`watch_missed_events_…\`, \`keepalives_per_s\`, \`keepalive_p{50,99}_ms\`, ${o.txnClients.map((n) => `\`txn_writes_per_s_${n}_independent\``).join(', ')}, ` +
    '`txn_p{50,99}_ms_N_independent`, each with a `_range` [lowest, highest of the runs]; ratios `ratio_to_etcd_txn_N_independent`, `ratio_to_etcd_keepalives`, ' +
    `\`ratio_to_etcd_watch_p{50,99}_${o.watchers}_watchers\`, \`ratio_to_etcd_watch_from_send_p{50,99}_${o.watchers}_watchers\`, and the latency ratios in \`ratio_to_etcd\`.`,
  ];
}

const header = ['peers', 'load', 'edgeraft', 'p50 ms', 'p99 ms', 'etcd', 'p50 ms', 'p99 ms', 'rate ratio', 'p50 ratio', 'p99 ratio', 'runs min–max (edgeraft; etcd)'];

function watchRows(members: number, e: WatchFigures, c: WatchFigures | null): string[][] {
  const label = `watch, ${fmt(e.watchers)} watchers, ${fmt(e.ratePerS)} puts/s`;
  const row = (what: string, p50: (f: WatchFigures) => number, p99: (f: WatchFigures) => number, rate: boolean, runs: string): string[] => [
    String(members), `${label}: ${what}`, rate ? `${fmt(e.eventsPerS)} events/s` : '', ms(p50(e)), ms(p99(e)),
    c === null ? '—' : rate ? `${fmt(c.eventsPerS)} events/s` : '', ms(c === null ? null : p50(c)), ms(c === null ? null : p99(c)),
    '', c === null ? '' : x(latencyRatio(p50(c), p50(e))), c === null ? '' : x(latencyRatio(p99(c), p99(e))), runs,
  ];
  const runs = (f: WatchFigures) => `p50 ${spread(f.p50MinMs, f.p50MaxMs)}, p99 ${spread(f.p99MinMs, f.p99MaxMs)}`;
  return [
    row('commit → watcher', (f) => f.p50Ms, (f) => f.p99Ms, true, `${runs(e)}${c === null ? '' : `; ${runs(c)}`}`),
    row('commit → watcher on the leader', (f) => f.leaderP50Ms, (f) => f.leaderP99Ms, false, ''),
    row('commit → watcher on a follower', (f) => f.followersP50Ms, (f) => f.followersP99Ms, false, ''),
    row('send → watcher (upper bound)', (f) => f.fromSendP50Ms, (f) => f.fromSendP99Ms, false, ''),
  ];
}

function loopRow(members: number, label: string, unit: string, e: LoopFigures, c: LoopFigures | null): string[] {
  const runs = (f: LoopFigures) => `${fmt(f.opsMin)}–${fmt(f.opsMax)}/s`;
  return [
    String(members), label, `${fmt(e.opsPerS)} ${unit}`, ms(e.p50Ms), ms(e.p99Ms),
    c === null ? '—' : `${fmt(c.opsPerS)} ${unit}`, ms(c?.p50Ms), ms(c?.p99Ms),
    c === null ? '' : x(e.opsPerS / c.opsPerS), c === null ? '' : x(c.p50Ms / e.p50Ms), c === null ? '' : x(c.p99Ms / e.p99Ms),
    `${runs(e)}${c === null ? '' : `; ${runs(c)}`}`,
  ];
}

function resultRows(s: CoordinationSize): string[][] {
  return [
    ...watchRows(s.members, s.watch.edgeraft, s.watch.etcd),
    ...s.txn.map((t) => loopRow(s.members, `txn, ${t.clients} independent client${t.clients === 1 ? '' : 's'}`, 'txns/s', t.edgeraft, t.etcd)),
    loopRow(s.members, `lease keep-alives, ${s.keepalive.clients} independent clients`, '/s', s.keepalive.edgeraft, s.keepalive.etcd),
  ];
}

const detailHeader = ['system', 'size', 'load', 'CPU % gen/leader/follower/other', 'CPU µs/op leader, follower, gen', 'errors / missed', 'notes'];

function watchDetail(system: string, members: number, f: WatchFigures): string[] {
  const missed = f.expected - f.received;
  return [
    system, String(members), `watch, ${fmt(f.watchers)} watchers`,
    `${fmt(f.generatorCpuPct)} / ${fmt(f.leaderCpuPct)} / ${fmt(f.followerCpuPct)} / ${fmt(Math.max(0, f.otherCpuPct))}`, '',
    `${fmt(f.writeErrors)} put errors; ${fmt(missed)} of ${fmt(f.expected)} events missed`,
    [
      `${fmt(f.putsPerS)} puts/s resolved in the window, put p50 ${ms(f.putP50Ms)} ms p99 ${ms(f.putP99Ms)} ms`, `writer late by ≤ ${ms(f.writerLagMsMax)} ms`,
      `before the put resolved: ${fmt(f.beforeResolveShare * 100, 1)}%`, `watchers by member ${JSON.stringify(f.servedBy)}`,
      ...(f.misplaced > 0 ? [`${fmt(f.misplaced)} not on their member`] : []), ...(f.reconnects > 0 ? [`${fmt(f.reconnects)} streams reopened or lost`] : []),
      `clock spread ${fmt(f.clockSpreadMs, 3)} ms`, ...(f.leaderChanged ? ['LEADER CHANGED'] : []),
    ].join('; '),
  ];
}

function loopDetail(system: string, members: number, label: string, f: LoopFigures): string[] {
  return [
    system, String(members), label,
    `${fmt(f.generatorCpuPct)} / ${fmt(f.leaderCpuPct)} / ${fmt(f.followerCpuPct)} / ${fmt(Math.max(0, f.otherCpuPct))}`,
    `${fmt(f.leaderUsPerOp, 1)}, ${fmt(f.followerUsPerOp, 1)}, ${fmt(f.generatorUsPerOp, 1)}`,
    f.errors > 0 ? `${fmt(f.errors)} ${JSON.stringify(f.errorCodes)}` : '0',
    [`p50 ${spread(f.p50MinMs, f.p50MaxMs)} ms, p99 ${spread(f.p99MinMs, f.p99MaxMs)} ms over the runs`, `${f.procs} × ${f.clientsPerProc}`, ...(f.leaderChanged ? ['LEADER CHANGED'] : [])].join('; '),
  ];
}

function detailRows(s: CoordinationSize): string[][] {
  const rows: string[][] = [watchDetail('edgeraft', s.members, s.watch.edgeraft)];
  if (s.watch.etcd !== null) rows.push(watchDetail('etcd', s.members, s.watch.etcd));
  for (const t of s.txn) {
    rows.push(loopDetail('edgeraft', s.members, `txn, ${t.clients} clients`, t.edgeraft));
    if (t.etcd !== null) rows.push(loopDetail('etcd', s.members, `txn, ${t.clients} clients`, t.etcd));
  }
  rows.push(loopDetail('edgeraft', s.members, `keep-alives, ${s.keepalive.clients} clients`, s.keepalive.edgeraft));
  if (s.keepalive.etcd !== null) rows.push(loopDetail('etcd', s.members, `keep-alives, ${s.keepalive.clients} clients`, s.keepalive.etcd));
  return rows;
}

/** The rows of the results table with every figure "not measured yet". */
function placeholderRows(o: CoordinationOptions): string[][] {
  const none = 'not measured yet';
  const row = (load: string): string[] => ['3', load, none, '', '', none, '', '', '', '', '', ''];
  const w = `watch, ${fmt(o.watchers)} watchers, ${fmt(o.watchRatePerS)} puts/s`;
  return [
    row(`${w}: commit → watcher`), row(`${w}: commit → watcher on the leader`), row(`${w}: commit → watcher on a follower`), row(`${w}: send → watcher (upper bound)`),
    ...o.txnClients.map((n) => row(`txn, ${n} independent client${n === 1 ? '' : 's'}`)), row(`lease keep-alives, ${o.keepaliveClients} independent clients`),
  ];
}

/** The section of docs/benchmarks.md (and stdout): method, results beside etcd, details. */
export function coordinationMarkdown(r: CoordinationReport): string[] {
  const etcdMeasured = r.etcdNotMeasured === null && r.sizes.some((s) => s.watch.etcd !== null);
  const out = [
    '## Coordination: watches, leases, transactions',
    '',
    ...methodLines(r.options, etcdMeasured || r.notMeasured !== null),
    '',
  ];
  if (r.notMeasured !== null) {
    out.push(`**Not measured yet** (${r.notMeasured}): every figure below is a placeholder until \`npm run bench\` runs this phase.`, '', table(header, placeholderRows(r.options)), '');
    return out;
  }
  if (r.etcdNotMeasured !== null) out.push(`etcd was not measured in this phase: ${r.etcdNotMeasured}.`, '');
  out.push(
    table(header, r.sizes.flatMap(resultRows)),
    '',
    'Ratios: edgeraft/etcd for rates, etcd/edgeraft for latency, so > 1 means edgeraft is better. Figures are medians of the runs; the last column gives the lowest and highest ' +
    'of the runs. The watch rows\' rate is events delivered per second to all watchers together.',
    '',
    '### Details of the coordination loads',
    '',
    table(detailHeader, r.sizes.flatMap(detailRows)),
    '',
  );
  return out;
}

/** The phase's `--json` keys, and its entries for the `ratio_to_etcd` object. */
export function coordinationJson(r: CoordinationReport): { keys: Record<string, unknown>; ratioToEtcd: Record<string, number | null> } {
  const rd = (v: number, d = 3) => (Number.isFinite(v) ? Number(v.toFixed(d)) : null);
  const range = (lo: number, hi: number, d = 3) => [rd(lo, d), rd(hi, d)];
  const keys: Record<string, unknown> = {
    coordination_measured: r.notMeasured === null, coordination_not_measured: r.notMeasured, coordination_etcd_measured: r.etcdNotMeasured === null && r.notMeasured === null,
    coordination_peers: r.sizes.map((s) => s.members), watch_watchers: r.options.watchers, watch_put_rate_per_s: r.options.watchRatePerS,
    txn_clients: r.options.txnClients, keepalive_clients: r.options.keepaliveClients,
  };
  const ratioToEtcd: Record<string, number | null> = {};
  for (const s of r.sizes) {
    const n = s.watch.edgeraft.watchers;
    const watch = (pre: string, f: WatchFigures) => {
      const k = (name: string) => `${pre}watch_${name}_${n}_watchers`;
      Object.assign(keys, {
        [k('p50_ms')]: rd(f.p50Ms), [k('p99_ms')]: rd(f.p99Ms), [`${k('p50_ms')}_range`]: range(f.p50MinMs, f.p50MaxMs), [`${k('p99_ms')}_range`]: range(f.p99MinMs, f.p99MaxMs),
        [k('leader_p50_ms')]: rd(f.leaderP50Ms), [k('leader_p99_ms')]: rd(f.leaderP99Ms),
        [k('followers_p50_ms')]: rd(f.followersP50Ms), [k('followers_p99_ms')]: rd(f.followersP99Ms),
        [k('from_send_p50_ms')]: rd(f.fromSendP50Ms), [k('from_send_p99_ms')]: rd(f.fromSendP99Ms),
        [k('put_p50_ms')]: rd(f.putP50Ms), [k('put_p99_ms')]: rd(f.putP99Ms), [k('events_per_s')]: Math.round(f.eventsPerS), [k('puts_per_s')]: rd(f.putsPerS, 1), [k('missed_events')]: f.expected - f.received,
        [k('expected_events')]: f.expected, [k('before_resolve_share')]: rd(f.beforeResolveShare), [k('put_errors')]: f.writeErrors,
        [k('leader_cpu_pct')]: rd(f.leaderCpuPct, 0), [k('follower_cpu_pct')]: rd(f.followerCpuPct, 0), [k('generator_cpu_pct')]: rd(f.generatorCpuPct, 0),
        [k('other_cpu_pct')]: rd(Math.max(0, f.otherCpuPct), 0), [k('clock_spread_ms')]: rd(f.clockSpreadMs), [k('reconnects')]: f.reconnects,
      });
    };
    const loop = (key: string, unitKey: string, f: LoopFigures) => {
      Object.assign(keys, {
        [unitKey]: Math.round(f.opsPerS), [`${unitKey}_range`]: [Math.round(f.opsMin), Math.round(f.opsMax)],
        [key.replace('{}', 'p50_ms')]: rd(f.p50Ms), [key.replace('{}', 'p99_ms')]: rd(f.p99Ms),
        [`${key.replace('{}', 'p50_ms')}_range`]: range(f.p50MinMs, f.p50MaxMs), [`${key.replace('{}', 'p99_ms')}_range`]: range(f.p99MinMs, f.p99MaxMs),
        [key.replace('{}', 'errors')]: f.errors, [key.replace('{}', 'leader_cpu_us_per_op')]: rd(f.leaderUsPerOp, 2),
        [key.replace('{}', 'leader_cpu_pct')]: rd(f.leaderCpuPct, 0), [key.replace('{}', 'other_cpu_pct')]: rd(Math.max(0, f.otherCpuPct), 0),
      });
    };
    const pe = keyPrefix('edgeraft', s.members);
    const pc = keyPrefix('etcd', s.members);
    watch(pe, s.watch.edgeraft);
    const we = s.watch.edgeraft;
    const wc = s.watch.etcd;
    if (wc !== null) {
      watch(pc, wc);
      // Commit → watcher (null when a figure is 0 or less: see latencyRatio), and send → watcher.
      keys[`ratio_to_etcd_${pe}watch_p50_${n}_watchers`] = rd(latencyRatio(wc.p50Ms, we.p50Ms));
      keys[`ratio_to_etcd_${pe}watch_p99_${n}_watchers`] = rd(latencyRatio(wc.p99Ms, we.p99Ms));
      keys[`ratio_to_etcd_${pe}watch_from_send_p50_${n}_watchers`] = rd(latencyRatio(wc.fromSendP50Ms, we.fromSendP50Ms));
      keys[`ratio_to_etcd_${pe}watch_from_send_p99_${n}_watchers`] = rd(latencyRatio(wc.fromSendP99Ms, we.fromSendP99Ms));
      for (const [name, f] of [['p50_ms', (v: WatchFigures) => v.p50Ms], ['p99_ms', (v: WatchFigures) => v.p99Ms], ['leader_p50_ms', (v: WatchFigures) => v.leaderP50Ms],
        ['leader_p99_ms', (v: WatchFigures) => v.leaderP99Ms], ['followers_p50_ms', (v: WatchFigures) => v.followersP50Ms], ['followers_p99_ms', (v: WatchFigures) => v.followersP99Ms],
        ['from_send_p50_ms', (v: WatchFigures) => v.fromSendP50Ms], ['from_send_p99_ms', (v: WatchFigures) => v.fromSendP99Ms]] as const) {
        ratioToEtcd[`${pe}watch_${name}_${n}_watchers`] = rd(latencyRatio(f(wc), f(we)));
      }
    }
    for (const t of s.txn) {
      const body = `${t.clients}_independent`;
      loop(`${pe}txn_{}_${body}`, `${pe}txn_writes_per_s_${body}`, t.edgeraft);
      if (t.etcd !== null) {
        loop(`${pc}txn_{}_${body}`, `${pc}txn_writes_per_s_${body}`, t.etcd);
        keys[`ratio_to_etcd_${pe}txn_${body}`] = rd(t.edgeraft.opsPerS / t.etcd.opsPerS);
        ratioToEtcd[`${pe}txn_writes_per_s_${body}`] = rd(t.edgeraft.opsPerS / t.etcd.opsPerS);
        ratioToEtcd[`${pe}txn_p50_ms_${body}`] = rd(t.etcd.p50Ms / t.edgeraft.p50Ms);
        ratioToEtcd[`${pe}txn_p99_ms_${body}`] = rd(t.etcd.p99Ms / t.edgeraft.p99Ms);
      }
    }
    const ka = s.keepalive;
    loop(`${pe}keepalive_{}`, `${pe}keepalives_per_s`, ka.edgeraft);
    if (ka.etcd !== null) {
      loop(`${pc}keepalive_{}`, `${pc}keepalives_per_s`, ka.etcd);
      keys[`ratio_to_etcd_${pe}keepalives`] = rd(ka.edgeraft.opsPerS / ka.etcd.opsPerS);
      ratioToEtcd[`${pe}keepalives_per_s`] = rd(ka.edgeraft.opsPerS / ka.etcd.opsPerS);
      ratioToEtcd[`${pe}keepalive_p50_ms`] = rd(ka.etcd.p50Ms / ka.edgeraft.p50Ms);
      ratioToEtcd[`${pe}keepalive_p99_ms`] = rd(ka.etcd.p99Ms / ka.edgeraft.p99Ms);
    }
  }
  return { keys, ratioToEtcd };
}
