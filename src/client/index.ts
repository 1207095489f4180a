// edgeraft/client: the types and the runtime-neutral SDK. Import 'edgeraft/client' and your
// bundler picks the Node (ws) or browser (native WebSocket) entry through export conditions.
export * from './exports.ts';
