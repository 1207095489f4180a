// edgeraft for Node.js: the core plus the Node runtime pieces (file WAL, ws transport, peer).
export * from '../core/index.ts';
export { FileWal } from './wal.ts';
export type { FileWalOptions, WalLogger } from './wal.ts';
