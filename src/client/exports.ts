// What edgeraft/client exports in every runtime (the connect() function comes per runtime).
export { KvClient, connectWith } from './kv.ts';
export type { ConnectOptions, ReadMeta, ScanOptions, Consistency, ReadPath, Value } from './kv.ts';
export { CodedError } from '../core/coded-error.ts';
export { ClientError } from './errors.ts';
export type { ClientErrorCode } from './errors.ts';
