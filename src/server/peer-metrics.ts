// The metrics a peer exposes at /metrics: Raft state, proposals and elections, per-follower
// replication (match, inflight), storage sync latency and batch sizes, apply lag, snapshots,
// client traffic by op and error code, and the coordination primitives: watchers and what they
// were sent, leases and their expiries, the watch history. docs/operations.md "Alerting rules"
// reads them (a Node peer's /metrics adds the process's own, runtime-node/process-metrics.ts).

import type { Ready, Status } from '../core/node.ts';
import { Registry, type Counter, type Histogram } from './metrics.ts';
import type { PeerCore } from './peer-core.ts';

/** What the gauges read (the Node peer, or the native Deno peer of src/runtime-deno). */
export type PeerMetricsSource = Pick<PeerCore, 'driver' | 'machine' | 'snapshots' | 'mesh' | 'watches' | 'leases'>;

/** The leader's read lease is looked at most this often (the Readys of one tick share one look). */
const leaseSampleMs = 50;

export class PeerMetrics {
  readonly registry = new Registry();
  readonly clientRequests: Counter;
  readonly clientErrors: Counter;
  /** Watch events sent to clients (after filtering each watcher's range). */
  readonly watchEventsSent: Counter;
  /** Watchers ended, by reason: slow, compacted, client, disconnected, stopping. */
  readonly watchCancelled: Counter;
  readonly #persistMs: Histogram;
  readonly #persistBytes: Counter;
  readonly #batchEntries: Histogram;
  readonly #committed: Counter;
  readonly #snapshotsInstalled: Counter;
  readonly #leaseLost: Counter;
  readonly #status: () => Status;
  /** The last lease sample: this member led with a valid lease; and when it was taken. */
  #leaseHeld = false;
  #leaseSampledAt = 0;

  constructor(peer: PeerMetricsSource) {
    const r = this.registry;
    const status = () => peer.driver.node.status();
    this.#status = status;
    // Gauges read fresh values at each scrape.
    const g = (name: string, help: string, read: (set: (v: number, labels?: Record<string, string>) => void) => void) => {
      const gauge = r.gauge(name, help);
      gauge.collect(() => read((v, labels) => gauge.set(v, labels ?? {})));
    };
    g('edgeraft_term', 'Current Raft term.', (set) => set(status().term));
    g('edgeraft_is_leader', '1 if this peer is the leader.', (set) => set(status().role === 'leader' ? 1 : 0));
    g('edgeraft_has_leader', '1 if this peer knows a leader of its current term (itself included).', (set) => set(status().leader !== null ? 1 : 0));
    g('edgeraft_voters', 'Voters in the membership this peer applies.', (set) => set(status().conf.voters.length));
    g('edgeraft_commit_index', 'Highest committed log index known here.', (set) => set(status().commit));
    g('edgeraft_applied_index', 'Highest log index applied to the state machine.', (set) => set(peer.machine.appliedIndex));
    g('edgeraft_apply_lag_entries', 'Committed entries not yet applied.', (set) => set(Math.max(0, status().commit - peer.machine.appliedIndex)));
    g('edgeraft_log_entries', 'Entries in the in-memory log (after the last compaction).', (set) => { const s = status(); set(s.lastIndex - s.firstIndex + 1); });
    g('edgeraft_elections_total', 'Elections this peer started.', (set) => set(status().stats.elections));
    g('edgeraft_leader_changes_total', 'Times this peer gained or lost leadership.', (set) => set(status().stats.leaderChanges));
    g('edgeraft_snapshots_sent_total', 'Snapshots sent to lagging followers.', (set) => set(status().stats.snapshotsSent));
    g('edgeraft_reorder_accepted_total', 'AppendEntries held by the reorder buffer and accepted once their gap filled.', (set) => set(status().stats.reorder.accepted));
    g('edgeraft_reorder_held_total', 'AppendEntries that arrived ahead of a gap and were held by the reorder buffer.', (set) => set(status().stats.reorder.held));
    g('edgeraft_parallel_events_total', 'Parallel mode: entries acknowledged past a hole (the batch window at work), committed and applied out of order, apply waits on a key conflict, Merge stages and the no-ops they wrote.', (set) => {
      const p = status().stats.parallel;
      set(p.outOfOrderAccepted, { event: 'accepted_out_of_order' });
      set(p.outOfOrderCommitted, { event: 'committed_out_of_order' });
      set(p.outOfOrderApplied, { event: 'applied_out_of_order' });
      set(p.applyHeldByConflict, { event: 'apply_held_by_conflict' });
      set(p.merges, { event: 'merge' });
      set(p.mergeNoops, { event: 'merge_noop' });
    });
    g('edgeraft_lease_valid', '1 while the leader holds a valid read lease.', (set) => set(status().leaseValid ? 1 : 0));
    this.#leaseLost = r.counter('edgeraft_lease_lost_total', 'Times this leader\'s read lease lapsed while it stayed leader (sampled about once a tick): its lease reads went by ReadIndex until a heartbeat round renewed it.');
    // At 0 from the start, so increase() over it works before the first lapse.
    this.#leaseLost.inc(0);
    g('edgeraft_lease_reads_total', 'Reads this leader answered from its lease.', (set) => set(status().stats.leaseReads));
    g('edgeraft_lease_forfeited_terms_total', 'Terms this peer led without a lease after sending a timeoutNow (its reads then went by ReadIndex).', (set) => set(status().stats.leaseForfeitedTerms));
    g('edgeraft_read_rounds_total', 'ReadIndex heartbeat rounds this leader started.', (set) => set(status().stats.readRounds));
    g('edgeraft_pending_proposals', 'Proposals waiting to apply.', (set) => set(peer.driver.pendingProposals));
    g('edgeraft_pending_reads', 'Reads waiting for confirmation or apply.', (set) => set(peer.driver.pendingReads));
    g('edgeraft_follower_match_index', 'Leader only: highest index known replicated on each follower.', (set) => {
      for (const [id, p] of Object.entries(status().progress)) set(p.match, { follower: id });
    });
    g('edgeraft_follower_lag_entries', 'Leader only: entries each follower is behind the commit index (commit - match).', (set) => {
      const s = status();
      for (const [id, p] of Object.entries(s.progress)) set(Math.max(0, s.commit - p.match), { follower: id });
    });
    g('edgeraft_follower_inflight_messages', 'Leader only: AppendEntries in flight per follower.', (set) => {
      for (const [id, p] of Object.entries(status().progress)) set(p.inflightMsgs, { follower: id });
    });
    g('edgeraft_follower_inflight_bytes', 'Leader only: entry bytes in flight per follower.', (set) => {
      for (const [id, p] of Object.entries(status().progress)) set(p.inflightBytes, { follower: id });
    });
    g('edgeraft_snapshot_streams_total', 'Snapshot transfers by direction and outcome.', (set) => {
      set(peer.snapshots.sent, { direction: 'sent', outcome: 'ok' });
      set(peer.snapshots.failed, { direction: 'sent', outcome: 'cancelled' });
      set(peer.snapshots.received, { direction: 'received', outcome: 'ok' });
    });
    g('edgeraft_connected_peers', 'Members with an open connection.', (set) => set(peer.mesh.connected().length));
    this.#committed = r.counter('edgeraft_entries_applied_total', 'Log entries applied.');
    this.#snapshotsInstalled = r.counter('edgeraft_snapshots_installed_total', 'Snapshots received and installed.');
    // Fine buckets below 1 ms: the benchmark reads the persist p50 from them against a raw sync.
    this.#persistMs = r.histogram('edgeraft_persist_duration_ms', 'Time to make one Ready durable (the save, from call to resumption), in ms.',
      [0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 0.6, 0.75, 1, 1.5, 2, 3, 5, 10, 25, 50, 100, 250, 1000]);
    this.#persistBytes = r.counter('edgeraft_persist_entry_bytes_total', 'Bytes of entry data made durable (payloads, without record framing).');
    this.#batchEntries = r.histogram('edgeraft_persist_batch_entries', 'Entries made durable per sync (group commit size).',
      [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096]);
    this.clientRequests = r.counter('edgeraft_client_requests_total', 'Client requests by op.');
    this.clientErrors = r.counter('edgeraft_client_errors_total', 'Client requests answered with an error, by code.');
    g('edgeraft_watchers', 'Watchers this member serves.', (set) => set(peer.watches.size));
    this.watchEventsSent = r.counter('edgeraft_watch_events_sent_total', 'Watch events sent to clients.');
    this.watchCancelled = r.counter('edgeraft_watch_cancelled_total', 'Watchers ended, by reason (slow: its connection fell behind; compacted: a snapshot skipped its history; client: watchCancel; disconnected; stopping).');
    g('edgeraft_leases', 'Leases in the state machine.', (set) => set(peer.machine.leaseCount));
    g('edgeraft_lease_keepalives_total', 'Lease keep-alives this member answered as leader.', (set) => set(peer.leases.stats.keepAlives));
    g('edgeraft_lease_expiries_proposed_total', 'Lease expiries this member proposed as leader.', (set) => set(peer.leases.stats.expiriesProposed));
    g('edgeraft_history_events', 'Events held in the watch history.', (set) => set(peer.machine.history.events));
    g('edgeraft_compact_revision', 'Revision the watch history is compacted to (watches from it or below: ERR_COMPACTED).', (set) => set(peer.machine.history.compactRevision));
  }

  observeReady(rd: Ready, persistMs: number): void {
    if (rd.mustSync) {
      this.#persistMs.observe(persistMs);
      this.#batchEntries.observe(rd.entries.length);
      let bytes = 0;
      for (const e of rd.entries) bytes += e.data.byteLength;
      this.#persistBytes.inc(bytes);
    }
    if (rd.committedEntries.length > 0) this.#committed.inc(rd.committedEntries.length);
    if (rd.snapshot !== null) this.#snapshotsInstalled.inc();
    if (rd.softState.role === 'leader' || this.#leaseHeld) this.#sampleLease();
  }

  /** Counts a lease that lapsed under a leader that stayed leader (a lost leadership is not counted). */
  #sampleLease(): void {
    const now = performance.now();
    if (now - this.#leaseSampledAt < leaseSampleMs) return;
    this.#leaseSampledAt = now;
    const st = this.#status();
    const held = st.role === 'leader' && st.leaseValid;
    if (this.#leaseHeld && !held && st.role === 'leader') this.#leaseLost.inc();
    this.#leaseHeld = held;
  }

  render(): string {
    return this.registry.render();
  }
}
