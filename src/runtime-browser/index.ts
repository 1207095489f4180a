// edgeraft for browsers and Deno: the core plus the browser runtime pieces (IndexedDB store,
// native WebSocket transport, follower-reader).
export * from '../core/index.ts';
