// bench:wan's failover cell: the leader is sent SIGKILL or SIGSTOP while one SDK client per
// client region (connected through its region's relays, the leader known) writes from that
// moment; the parent polls the surviving members' /healthz directly for a new agreed leader.
// Between runs the victim is restarted (or continued) and leadership moved back.

import type { KvClient } from '../../src/client/kv.ts';
import { sleep } from './procs.ts';
import type { WanCluster } from './wan-cluster.ts';
import type { FailSignal, TimeoutSet } from './wan-options.ts';
import type { FailoverRun } from './wan-report.ts';

/** Longest wait for a new leader or a client's write after the signal. */
const boundMs = 30_000;
const pollMs = 20;
/** After leadership moved back: let heartbeats, the lease and the clients' connections settle. */
const settleMs = 1500;

export interface FailoverSpec {
  readonly timeouts: TimeoutSet;
  readonly signal: FailSignal;
  readonly runs: number;
  /** The member index leadership is kept on. */
  readonly preferred: number;
  readonly regions: readonly number[];
}

/** The probes' attempt timeout: the SDK's default, min(2 s, timeoutMs / 2) (src/client/kv.ts). */
export const probeAttemptTimeoutMs = Math.min(2000, boundMs / 2);

async function firstNewLeader(cluster: WanCluster, victim: string, t0: number): Promise<{ id: string | null; ms: number }> {
  while (performance.now() - t0 < boundMs) {
    let id: string | null = null;
    try {
      id = await cluster.agreedNow();
    } catch {
      id = null;
    }
    if (id !== null && id !== victim) return { id, ms: performance.now() - t0 };
    await sleep(pollMs);
  }
  return { id: null, ms: Number.NaN };
}

export async function measureFailover(cluster: WanCluster, spec: FailoverSpec, progress: (t: string) => void, label: (run: number) => string): Promise<FailoverRun[]> {
  const out: FailoverRun[] = [];
  const value = new Uint8Array(256).fill(0x46);
  for (let run = 1; run <= spec.runs; run++) {
    await cluster.placeLeader(spec.preferred);
    await sleep(settleMs);
    const victim = cluster.leaderId;
    const probes: KvClient[] = [];
    try {
      for (const region of spec.regions) {
        const kv = await cluster.client(region, spec.preferred, { timeoutMs: boundMs });
        probes.push(kv);
        await kv.put(`failover/${region}`, value);
      }
      const errors: Record<number, number> = {};
      const ackMs: Record<number, number> = {};
      const t0 = performance.now();
      const signalled = cluster.signal(victim, spec.signal);
      const writes = Promise.all(spec.regions.map(async (region, i) => {
        const kv = probes[i]!;
        while (performance.now() - t0 < boundMs) {
          try {
            await kv.put(`failover/${region}`, value);
            ackMs[region] = performance.now() - t0;
            return;
          } catch {
            errors[region] = (errors[region] ?? 0) + 1;
            await sleep(10);
          }
        }
        ackMs[region] = Number.NaN;
      }));
      const known = await firstNewLeader(cluster, victim, t0);
      await writes;
      await signalled;
      out.push({ timeouts: spec.timeouts, peerArgs: cluster.peerArgs, signal: spec.signal, run, victim, newLeader: known.id, leaderKnownMs: known.ms, ackMs, clientErrors: errors });
      progress(`  ${label(run)}: ${spec.signal === 'kill' ? 'SIGKILL' : 'SIGSTOP'} ${victim}: new leader ${known.id ?? 'none'} after ${Number.isFinite(known.ms) ? Math.round(known.ms) : 'n/a'} ms; ` +
        `first write acked after ${spec.regions.map((r) => `${Number.isFinite(ackMs[r] ?? Number.NaN) ? Math.round(ackMs[r]!) : 'never'} ms`).join(', ')}`);
    } finally {
      await Promise.all(probes.map((kv) => kv.close()));
    }
    await cluster.recover(victim, spec.signal);
    await cluster.recheckLeader(boundMs);
  }
  return out;
}
