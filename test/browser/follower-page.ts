// The page side of test/browser/follower-chromium.test.ts: a follower-reader in a real tab, with
// the native WebSocket and IndexedDB, exposed as `globalThis.followerPage` for the Node test.
import { joinAsFollower, type FollowerReplica, type ReplicaStatus } from '../../src/runtime-browser/follower.ts';

let replica: FollowerReplica | null = null;
const events: string[] = [];

const api = {
  async join(peers: string[], token: string): Promise<ReplicaStatus> {
    replica = await joinAsFollower({ peers, token, tickMs: 20, leaderCheckMs: 200 });
    replica.subscribe('t/', (key, value) => events.push(`${key}=${String(value)}`));
    return replica.status();
  },
  async get(key: string, consistency: 'linearizable' | 'stale'): Promise<{ value: string | null; index: number; path: string }> {
    const r = await replica!.getWithMeta(key, { consistency });
    return { value: typeof r.value === 'string' ? r.value : null, index: r.index, path: r.path };
  },
  status(): ReplicaStatus {
    return replica!.status();
  },
  events(): string[] {
    return [...events];
  },
  async close(): Promise<void> {
    await replica?.close();
    replica = null;
  },
};

(globalThis as unknown as { followerPage: typeof api }).followerPage = api;
