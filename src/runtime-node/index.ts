// edgeraft for Node.js: the core plus the Node runtime pieces (file WAL, ws transport, peer).
export * from '../core/index.ts';
