// What sending costs this peer, at /metrics: entries encoded (once per batch) and framed (once per
// destination), bytes and entries sent to peers and to token holders (tabs), sends shed, stalled
// pipelines re-probed, CPU time; a benchmark divides their growth by the entries committed.

import type { Mesh } from '../transport/mesh.ts';
import { sendClassOf, type SendClass } from '../transport/send-stats.ts';
import type { Registry } from './metrics.ts';

/** What the metrics read from the peer at each scrape (and the mesh's drops as they happen). */
export interface SendMetricsSource {
  readonly mesh: Mesh;
  /** The core's counter of pipelines re-probed after no acknowledgement (replication.ts). */
  stalledProbes(): number;
  /** The process's CPU time so far, in microseconds (the runtime's process.cpuUsage()). */
  cpuUsage(): { readonly user: number; readonly system: number };
}

const classes: readonly SendClass[] = ['peers', 'token_holders'];

export function registerSendMetrics(r: Registry, source: SendMetricsSource): void {
  const { mesh } = source;
  const g = (name: string, help: string, read: (set: (v: number, labels?: Record<string, string>) => void) => void): void => {
    const gauge = r.gauge(name, help);
    gauge.collect(() => read((v, labels) => gauge.set(v, labels ?? {})));
  };
  g('edgeraft_entries_encoded_total', 'Log entries encoded into AppendEntries columns: once per batch, however many destinations it goes to.',
    (set) => set(mesh.codec.entryStats.entriesEncoded));
  g('edgeraft_entries_framed_total', 'Log entries put into AppendEntries frames, once per destination (copied from the encoded batch).',
    (set) => set(mesh.codec.entryStats.entriesFramed));
  g('edgeraft_sent_bytes_total', 'Bytes of frames sent, by destination (peers: members; token_holders: browser tabs and SDK clients) and kind (data: Raft messages; rpc: client answers and snapshot chunks).', (set) => {
    const sent = mesh.sent.read();
    for (const to of classes) {
      set(sent[to].dataBytes, { to, kind: 'data' });
      set(sent[to].rpcBytes, { to, kind: 'rpc' });
    }
  });
  g('edgeraft_sent_entries_total', 'Log entries sent in AppendEntries, by destination (resent entries count again).', (set) => {
    const sent = mesh.sent.read();
    for (const to of classes) set(sent[to].appEntries, { to });
  });
  g('edgeraft_stalled_probes_total', 'Replication pipelines that made no progress for a while and were probed again from the follower\'s match (their entries are sent again).',
    (set) => set(source.stalledProbes()));
  g('edgeraft_process_cpu_microseconds_total', 'CPU time of this process, in microseconds, by mode.', (set) => {
    const cpu = source.cpuUsage();
    set(cpu.user, { mode: 'user' });
    set(cpu.system, { mode: 'system' });
  });
  const dropped = r.counter('edgeraft_send_dropped_total', 'Messages the mesh did not send, by reason (high-water: replication shed above the link\'s high-water mark) and destination.');
  mesh.on('send:dropped', (e) => {
    const role = mesh.connections(e.peer)[0]?.role ?? null;
    dropped.inc(1, { reason: e.reason, to: role === null ? 'unknown' : sendClassOf(role) });
  });
}
