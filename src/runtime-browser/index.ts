// edgeraft for browsers and Deno: the core plus the browser runtime pieces (IndexedDB store,
// native WebSocket transport, follower-reader).
export * from '../core/index.ts';
export { IdbStore } from './idb-store.ts';
export type { IdbStoreOptions } from './idb-store.ts';
export { FollowerReplica, joinAsFollower } from './follower.ts';
export { FollowerError, type FollowerErrorCode } from './follower-error.ts';
export type { JoinOptions, ReplicaConsistency, ReplicaStatus } from './follower.ts';
