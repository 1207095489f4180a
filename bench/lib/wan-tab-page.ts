// The page side of bench:wan's tab cell: a follower-reader in a real Chromium tab that reaches the
// cluster through the relays of its region (a dialer rewrites the member addresses the cluster
// hands out), timed from inside the page, exposed as `globalThis.wanTab`.

import { dialDom } from '../../src/runtime-browser/dom-socket.ts';
import { joinAsFollower, type FollowerReplica, type ReplicaStatus } from '../../src/runtime-browser/follower.ts';
import type { DialOptions } from '../../src/transport/socket.ts';

let replica: FollowerReplica | null = null;

function live(): FollowerReplica {
  if (replica === null) throw new Error('wanTab.join() first');
  return replica;
}

export interface TabReads {
  /** Latencies of the linearizable reads that answered, in ms. */
  readonly latencies: number[];
  readonly errors: number;
  readonly ms: number;
}

const api = {
  /** Joins as a follower-reader served by a follower; resolves with the time join took. */
  async join(peers: string[], token: string, dialMap: Record<string, string>): Promise<number> {
    const started = performance.now();
    replica = await joinAsFollower({
      peers, token, serveFrom: 'follower', pauseWhenHidden: false, readTimeoutMs: 30_000,
      dial: (url: string, o: DialOptions) => dialDom(dialMap[url] ?? url, o),
    });
    return performance.now() - started;
  },
  /** Resolves once the replica follows a source and applied `target`; rejects after `timeoutMs`. */
  async following(target: number, timeoutMs: number): Promise<ReplicaStatus> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const st = live().status();
      if (st.state === 'following' && st.source !== null && st.applied >= target) return st;
      if (performance.now() > deadline) throw new Error(`not following after ${timeoutMs} ms: ${JSON.stringify(st)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  },
  /** `loops` loops of linearizable reads of `key` for `ms`. */
  async readFor(key: string, ms: number, loops: number): Promise<TabReads> {
    const r = live();
    const latencies: number[] = [];
    let errors = 0;
    const started = performance.now();
    const end = started + ms;
    await Promise.all(Array.from({ length: loops }, async () => {
      while (performance.now() < end) {
        const t = performance.now();
        try {
          await r.get(key);
          latencies.push(performance.now() - t);
        } catch {
          errors += 1;
          await new Promise((res) => setTimeout(res, 10));
        }
      }
    }));
    return { latencies, errors, ms: performance.now() - started };
  },
  /** `n` stale reads from the tab's own copy, one after another. */
  async staleReads(key: string, n: number): Promise<number[]> {
    const r = live();
    const out: number[] = [];
    for (let i = 0; i < n; i++) {
      const t = performance.now();
      await r.get(key, { consistency: 'stale' });
      out.push(performance.now() - t);
    }
    return out;
  },
  status(): ReplicaStatus {
    return live().status();
  },
  async close(): Promise<void> {
    await replica?.close();
    replica = null;
  },
};

export type WanTabPage = typeof api;
(globalThis as unknown as { wanTab: WanTabPage }).wanTab = api;
