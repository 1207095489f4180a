// The public surface of the consensus core: pure, synchronous, no I/O. Re-exports only.
export * from './assert.ts';
export * from './errors.ts';
export * from './prng.ts';
export * from './types.ts';
export * from './message.ts';
export * from './config.ts';
export * from './storage.ts';
