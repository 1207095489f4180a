// The transport's public surface: codec, mesh, tokens, the in-memory network. Re-exports only.
export * from './errors.ts';
export * from './limits.ts';
export * from './envelope.ts';
export * from './codec.ts';
export * from './socket.ts';
export * from './transport.ts';
export * from './events.ts';
export * from './backoff.ts';
export { importHmacKey, secretBytesMin, timingSafeEqual } from './auth.ts';
export type { Secret } from './auth.ts';
export * from './token.ts';
export * from './mesh-options.ts';
export * from './mesh.ts';
export * from './memory.ts';
export { validateFrame, isNodeId } from './validate.ts';
export * from './rpc-client.ts';
