// edgeraft for Deno, natively (edgeraft/deno): the core plus the Deno runtime pieces, with no
// Node compatibility layer: the peer, its WAL, its listener and dialer.
export * from '../core/index.ts';
export { DenoPeer, type DenoTls } from './peer.ts';
export { DenoWal, type DenoWalOptions } from './deno-wal.ts';
export { DenoListener, type DenoListenerOptions } from './deno-listener.ts';
export { denoDialer, type DenoDialTls } from './deno-dial.ts';
export { resolvePeerOptions, type PeerOptions } from '../server/peer-options.ts';
