// The public surface of the consensus core: pure, synchronous, no I/O. Re-exports only.
export * from './assert.ts';
export * from './errors.ts';
export * from './prng.ts';
export * from './types.ts';
export * from './message.ts';
export * from './config.ts';
export * from './storage.ts';
export * from './node.ts';
export * from './confchange.ts';
export type { ProgressState } from './progress.ts';
export type { RaftStats } from './raft.ts';
export type { ReorderStats } from './reorder-buffer.ts';
export * from './memory-store.ts';
export * from './driver.ts';
export * from './kv/command.ts';
export * from './kv/machine.ts';
