// The page side of bench/tabs.ts: a follower-reader in a real tab, timed from inside the page
// (performance.now), exposed as `globalThis.tabsBench`: a fresh tab's catch-up (join, first
// linearizable read, applied >= target), follower read latencies, pause/resume and status.
import { joinAsFollower, type FollowerReplica, type ReplicaStatus } from '../src/runtime-browser/follower.ts';

export interface CatchUp {
  /** From the call to joinAsFollower until it resolved (leader found, store opened, link dialed). */
  readonly joinMs: number;
  /** From the call until a linearizable read issued right after join answered. */
  readonly firstReadMs: number;
  /** From the call until the replica applied `target`. */
  readonly caughtUpMs: number;
  readonly status: ReplicaStatus;
}

let replica: FollowerReplica | null = null;
/** IndexedDB durability of the tabs' stores (the bench's --durability). */
let durability: 'strict' | 'relaxed' = 'relaxed';

function live(): FollowerReplica {
  if (replica === null) throw new Error('tabsBench.join() or catchUp() first');
  return replica;
}

/** Polls until `target` is applied; fails when the applied index stops moving for `stallMs`. */
function caughtUp(r: FollowerReplica, target: number, stallMs: number): Promise<void> {
  let last = -1;
  let movedAt = performance.now();
  return new Promise((resolve, reject) => {
    const poll = (): void => {
      const st = r.status();
      if (st.applied >= target) return resolve();
      if (st.applied !== last) {
        last = st.applied;
        movedAt = performance.now();
      }
      if (performance.now() - movedAt > stallMs) return reject(new Error(`no progress for ${stallMs} ms at ${st.applied} of ${target}: ${JSON.stringify(st)}`));
      setTimeout(poll, 5);
    };
    poll();
  });
}

const api = {
  setDurability(d: 'strict' | 'relaxed'): void {
    durability = d;
  },
  async join(peers: string[], token: string, serveFrom: 'leader' | 'follower' = 'leader'): Promise<ReplicaStatus> {
    replica = await joinAsFollower({ peers, token, durability, serveFrom, pauseWhenHidden: false, readTimeoutMs: 600_000 });
    return replica.status();
  },
  /** A fresh tab joins and catches up to `target` (the leader's commit index when asked). */
  async catchUp(peers: string[], token: string, target: number, stallMs: number): Promise<CatchUp> {
    const started = performance.now();
    // A read waits for the whole catch-up: let it wait as long as that may take.
    replica = await joinAsFollower({ peers, token, durability, pauseWhenHidden: false, readTimeoutMs: 600_000 });
    const joinMs = performance.now() - started;
    const r = replica;
    let firstReadMs = Number.NaN;
    const read = r.get('bench/probe').then(() => { firstReadMs = performance.now() - started; });
    await caughtUp(r, target, stallMs);
    const caughtUpMs = performance.now() - started;
    await read;
    return { joinMs, firstReadMs, caughtUpMs, status: r.status() };
  },
  /** `n` linearizable reads one after another; their latencies in ms. */
  async readLatencies(key: string, n: number): Promise<number[]> {
    const out: number[] = [];
    for (let i = 0; i < n; i += 1) {
      const started = performance.now();
      await live().get(key);
      out.push(performance.now() - started);
    }
    return out;
  },
  status(): ReplicaStatus {
    return live().status();
  },
  pause(): void {
    live().pause();
  },
  resume(): void {
    live().resume();
  },
  async close(): Promise<void> {
    await replica?.close();
    replica = null;
  },
};

export type TabsBenchPage = typeof api;
(globalThis as unknown as { tabsBench: TabsBenchPage }).tabsBench = api;
