// Requests and answers of etcd's v3 HTTP/JSON gateway (grpc-gateway in front of the KV and
// Maintenance services), for the etcd side of `npm run bench`: no gRPC library is installed, so
// the load generators speak JSON with base64 keys and values. Pure: no sockets here.

export type EtcdConsistency = 'linearizable' | 'serializable';

export const gatewayPaths = {
  put: '/v3/kv/put',
  range: '/v3/kv/range',
  status: '/v3/maintenance/status',
} as const;

export class GatewayError extends Error {
  override readonly name = 'GatewayError';
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

function b64(bytes: Uint8Array | string): string {
  return (typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)).toString('base64');
}

/** The body of a put (PutRequest): key and value as base64, nothing else. */
export function putBody(key: string, value: Uint8Array): string {
  return JSON.stringify({ key: b64(key), value: b64(value) });
}

/**
 * The body of a single-key range (RangeRequest). etcd's default read is linearizable (a ReadIndex
 * round through the leader); `serializable` reads whatever the member that answers has applied.
 */
export function rangeBody(key: string, consistency: EtcdConsistency): string {
  return JSON.stringify(consistency === 'serializable' ? { key: b64(key), serializable: true } : { key: b64(key) });
}

function parseObject(text: string, what: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new GatewayError('ERR_ETCD_BAD_JSON', `etcd ${what} answered with something that is not JSON: ${JSON.stringify(text.slice(0, 120))}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new GatewayError('ERR_ETCD_BAD_JSON', `etcd ${what} answered ${JSON.stringify(text.slice(0, 120))}, not an object`);
  return v as Record<string, unknown>;
}

/** Throws the gateway's own error for a non-200 answer (grpc-gateway sends {error, code, message}). */
export function checkStatus(status: number, text: string, what: string): void {
  if (status === 200) return;
  let detail = text.slice(0, 200);
  try {
    const o = parseObject(text, what);
    detail = String(o.message ?? o.error ?? detail);
  } catch {
    // Not JSON: keep the raw text.
  }
  throw new GatewayError(status === 503 || /leader|timed out|timeout/i.test(detail) ? 'ERR_ETCD_UNAVAILABLE' : 'ERR_ETCD_REQUEST', `etcd ${what}: HTTP ${status}: ${detail}`);
}

/** The revision a put or range answered at (etcd sends int64 as decimal strings). */
export function headerRevision(o: Record<string, unknown>): number {
  const header = o.header as { revision?: unknown } | undefined;
  const rev = Number(header?.revision ?? Number.NaN);
  if (!Number.isSafeInteger(rev)) throw new GatewayError('ERR_ETCD_BAD_JSON', `etcd answered without a header revision: ${JSON.stringify(o).slice(0, 120)}`);
  return rev;
}

export function parsePut(text: string): { revision: number } {
  return { revision: headerRevision(parseObject(text, 'put')) };
}

/** The value of the one key a range asked for, or null when it does not exist. */
export function parseRange(text: string): { revision: number; value: Uint8Array | null } {
  const o = parseObject(text, 'range');
  const revision = headerRevision(o);
  const kvs = o.kvs;
  if (kvs === undefined) return { revision, value: null };
  if (!Array.isArray(kvs) || kvs.length !== 1) throw new GatewayError('ERR_ETCD_BAD_JSON', `etcd range answered ${Array.isArray(kvs) ? kvs.length : typeof kvs} kvs for one key`);
  const kv = kvs[0] as { value?: unknown };
  // An empty value is left out of the JSON altogether.
  return { revision, value: typeof kv.value === 'string' ? new Uint8Array(Buffer.from(kv.value, 'base64')) : new Uint8Array(0) };
}

/** A member's own id and the leader it knows (ids are uint64, kept as strings). */
export function parseStatus(text: string): { memberId: string; leaderId: string; version: string; dbBytes: number } {
  const o = parseObject(text, 'status');
  const header = o.header as { member_id?: unknown } | undefined;
  const memberId = String(header?.member_id ?? '');
  const leaderId = String(o.leader ?? '');
  if (memberId === '' || leaderId === '') throw new GatewayError('ERR_ETCD_BAD_JSON', `etcd status answered without member_id or leader: ${text.slice(0, 160)}`);
  return { memberId, leaderId, version: String(o.version ?? ''), dbBytes: Number(o.dbSize ?? 0) };
}
