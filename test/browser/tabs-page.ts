// The page side of test/browser/tabs-chromium.test.ts and bench/tabs.ts: one follower-reader per
// tab, exposed as `globalThis.tabPage`. Errors come back as values ({ code, message }) so the Node
// side can assert on what the page would show a user. Visibility is emulated by overriding
// document.visibilityState and dispatching the event the replica listens to.
import { joinAsFollower, type FollowerReplica, type ReplicaStatus } from '../../src/runtime-browser/follower.ts';

export interface PageError {
  readonly code: string;
  readonly message: string;
}

export interface JoinResult {
  readonly status?: ReplicaStatus;
  readonly error?: PageError;
}

export interface TimedRead {
  readonly value: string | null;
  readonly index: number;
  readonly path: string;
  readonly ms: number;
}

let replica: FollowerReplica | null = null;
let hidden = false;

Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => (hidden ? 'hidden' : 'visible') });
Object.defineProperty(document, 'hidden', { configurable: true, get: () => hidden });

function asError(err: unknown): PageError {
  const e = err as { code?: unknown; message?: unknown };
  return { code: typeof e.code === 'string' ? e.code : 'ERR_UNKNOWN', message: typeof e.message === 'string' ? e.message : String(err) };
}

function text(v: unknown): string | null {
  return typeof v === 'string' ? v : v === undefined ? null : String(v);
}

function live(): FollowerReplica {
  if (replica === null) throw new Error('tabPage.join() first');
  return replica;
}

const api = {
  async join(peers: string[], token: string, options: { cluster?: string; notFollowedMs?: number; tickMs?: number } = {}): Promise<JoinResult> {
    try {
      replica = await joinAsFollower({ peers, token, tickMs: options.tickMs ?? 20, leaderCheckMs: 200, readTimeoutMs: 10_000, ...options });
      return { status: replica.status() };
    } catch (err) {
      return { error: asError(err) };
    }
  },
  async get(key: string, consistency: 'linearizable' | 'stale' = 'linearizable'): Promise<TimedRead | { error: PageError }> {
    const started = performance.now();
    try {
      const r = await live().getWithMeta(key, { consistency });
      return { value: text(r.value), index: r.index, path: r.path, ms: performance.now() - started };
    } catch (err) {
      return { error: asError(err) };
    }
  },
  /** `n` linearizable reads one after another; their latencies in ms. */
  async readLatencies(key: string, n: number): Promise<number[]> {
    const out: number[] = [];
    for (let i = 0; i < n; i += 1) {
      const started = performance.now();
      await live().getWithMeta(key);
      out.push(performance.now() - started);
    }
    return out;
  },
  async put(key: string, value: string): Promise<{ index: number } | { error: PageError }> {
    try {
      return await live().put(key, value);
    } catch (err) {
      return { error: asError(err) };
    }
  },
  status(): ReplicaStatus {
    return live().status();
  },
  pause(): ReplicaStatus {
    live().pause();
    return live().status();
  },
  resume(): ReplicaStatus {
    live().resume();
    return live().status();
  },
  /** Emulates the page going to the background (true) or coming back (false). */
  setHidden(value: boolean): ReplicaStatus {
    hidden = value;
    document.dispatchEvent(new Event('visibilitychange'));
    return live().status();
  },
  async close(): Promise<void> {
    await replica?.close();
    replica = null;
  },
};

export type TabPage = typeof api;
(globalThis as unknown as { tabPage: TabPage }).tabPage = api;
