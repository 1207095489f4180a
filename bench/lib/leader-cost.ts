// What one member (the leader) spent in a benchmark window per entry it committed meanwhile: CPU
// microseconds from /proc (measured the same way on builds without the counters), and what its
// /metrics count (src/server/send-metrics.ts): encodes, bytes and entries sent, stalls.

import { readdirSync, readFileSync } from 'node:fs';
import { cpuMs } from './procs.ts';

export interface CostSample {
  readonly cpuMs: number;
  readonly commit: number;
  readonly metrics: ReadonlyMap<string, number>;
}

/** Per committed entry over a window; a counter the member does not export is null. */
export interface LeaderCost {
  readonly committed: number;
  readonly cpuUsPerEntry: number;
  readonly encodedPerEntry: number | null;
  readonly framedPerEntry: number | null;
  /** Bytes of every frame sent (data and rpc, to peers and token holders: client answers too). */
  readonly bytesPerEntry: number | null;
  /** Bytes of Raft messages (data frames) to peers, and to token holders: the tabs (SDK clients get none). */
  readonly peerBytesPerEntry: number | null;
  readonly tabBytesPerEntry: number | null;
  /** Entries sent in appends to token holders (tabs), per entry committed: tabs x 1 when none is sent twice or skipped. */
  readonly tabEntriesPerEntry: number | null;
  readonly stalledProbes: number | null;
  readonly highWaterDrops: number | null;
}

/** The pids whose command line is `edgeraft peer ... --id <id> ...` (the member and any wrapper). */
export function memberPids(id: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let args: string[];
    try {
      args = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0');
    } catch {
      continue;
    }
    const at = args.indexOf('--id');
    if (at >= 0 && args[at + 1] === id && args.includes('peer')) out.push(Number(name));
  }
  return out;
}

export async function sampleCost(pids: readonly number[], scrape: () => Promise<Map<string, number>>): Promise<CostSample> {
  const metrics = await scrape();
  let cpu = 0;
  for (const pid of pids) cpu += cpuMs(pid) ?? 0;
  return { cpuMs: cpu, commit: metrics.get('edgeraft_commit_index') ?? 0, metrics };
}

export function costBetween(a: CostSample, b: CostSample): LeaderCost {
  const committed = Math.max(1, b.commit - a.commit);
  const delta = (name: string): number | null => {
    const x = b.metrics.get(name);
    return x === undefined ? null : x - (a.metrics.get(name) ?? 0);
  };
  const sum = (names: readonly string[]): number | null => {
    const parts = names.map(delta);
    return parts.every((p) => p === null) ? null : parts.reduce<number>((s, p) => s + (p ?? 0), 0);
  };
  const per = (x: number | null): number | null => (x === null ? null : x / committed);
  const data = (to: string): string => `edgeraft_sent_bytes_total{to="${to}",kind="data"}`;
  const bytes = (to: string): string[] => [data(to), `edgeraft_sent_bytes_total{to="${to}",kind="rpc"}`];
  return {
    committed,
    cpuUsPerEntry: ((b.cpuMs - a.cpuMs) * 1000) / committed,
    encodedPerEntry: per(delta('edgeraft_entries_encoded_total')),
    framedPerEntry: per(delta('edgeraft_entries_framed_total')),
    bytesPerEntry: per(sum([...bytes('peers'), ...bytes('token_holders')])),
    peerBytesPerEntry: per(delta(data('peers'))),
    tabBytesPerEntry: per(delta(data('token_holders'))),
    tabEntriesPerEntry: per(delta('edgeraft_sent_entries_total{to="token_holders"}')),
    stalledProbes: delta('edgeraft_stalled_probes_total'),
    // A counter lists only the reasons that happened: with the send metrics present, none is 0.
    highWaterDrops: b.metrics.has('edgeraft_entries_encoded_total')
      ? sum(['edgeraft_send_dropped_total{reason="high-water",to="token_holders"}', 'edgeraft_send_dropped_total{reason="high-water",to="peers"}']) ?? 0
      : null,
  };
}
