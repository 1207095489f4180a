// What edgeraft/client exports in every runtime (the connect() function comes per runtime).
export { KvClient, connectWith } from './kv.ts';
export type {
  ConnectOptions, ReadMeta, ScanOptions, RangeOptions, RangeResult, LeaseInfoResult, GrantOptions, Consistency, ReadPath, Value,
  TokenRevocation,
} from './kv.ts';
export type { Key, KeyValue, RangeSpec } from './keys.ts';
export type { BackupChunk, BackupOptions } from './backup.ts';
export type { Compare, CompareOp, CompareTarget, LeaseRef, TxnOp, TxnOpResult, TxnRequest, TxnResponse } from './txn.ts';
export { Lease, systemClock } from './lease.ts';
export type { LeaseClock, LeaseState } from './lease.ts';
export { Watcher, WatchCursor, watchDefaults } from './watch.ts';
export type { WatchBatch, WatchEvent, WatchOptions } from './watch.ts';
export { Election, recipeDefaults } from './recipes.ts';
export type { ElectionOptions, LeaderInfo, Leadership, Lock, LockOptions } from './recipes.ts';
export { CodedError } from '../core/coded-error.ts';
export { ClientError } from './errors.ts';
export type { ClientErrorCode } from './errors.ts';
