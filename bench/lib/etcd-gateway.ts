// Requests and answers of etcd's v3 HTTP/JSON gateway (grpc-gateway in front of the KV, Lease,
// Watch and Maintenance services), for the etcd side of `npm run bench`: no gRPC library is
// installed, so the load generators speak JSON with base64 keys and values. Pure: no sockets here.
//
// Streams through the gateway (etcd 3.4, Go 1.19's HTTP/1.1 server): a watch is one POST whose
// answer is a stream of JSON objects, one per line, for as long as the connection stays open. A
// lease keep-alive is a bidirectional stream in gRPC, but the HTTP/1.1 server does not read a
// request body once it started answering, so each keep-alive is its own POST (one request, one
// answer, a new gRPC stream inside etcd's gateway each time).

export type EtcdConsistency = 'linearizable' | 'serializable';

export const gatewayPaths = {
  put: '/v3/kv/put',
  range: '/v3/kv/range',
  status: '/v3/maintenance/status',
  txn: '/v3/kv/txn',
  leaseGrant: '/v3/lease/grant',
  leaseKeepAlive: '/v3/lease/keepalive',
  leaseRevoke: '/v3/lease/revoke',
  watch: '/v3/watch',
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

// ---- transactions, leases, watches (issue 16) ------------------------------------------------

/**
 * A txn that writes `a` and `b` if `a`'s version is `version` (else reads `a`): the bench's
 * optimistic-concurrency transaction, as edgeraft's generator sends it through the SDK.
 */
export function txnBody(a: string, b: string, version: number, value: Uint8Array): string {
  const v = b64(value);
  return JSON.stringify({
    compare: [{ key: b64(a), result: 'EQUAL', target: 'VERSION', version: String(version) }],
    success: [{ request_put: { key: b64(a), value: v } }, { request_put: { key: b64(b), value: v } }],
    failure: [{ request_range: { key: b64(a) } }],
  });
}

/** Whether the txn's compare held; when it did not, the version of the key its failure branch read (0: absent). */
export function parseTxn(text: string): { revision: number; succeeded: boolean; version: number } {
  const o = parseObject(text, 'txn');
  const revision = headerRevision(o);
  // proto3 JSON leaves false out.
  if (o.succeeded === true) return { revision, succeeded: true, version: Number.NaN };
  const responses = o.responses as Array<{ response_range?: { kvs?: Array<{ version?: unknown }> } }> | undefined;
  const version = Number(responses?.[0]?.response_range?.kvs?.[0]?.version ?? 0);
  return { revision, succeeded: false, version: Number.isSafeInteger(version) ? version : 0 };
}

/** A lease grant of `ttlS` seconds (etcd's TTLs are whole seconds). */
export function leaseGrantBody(ttlS: number): string {
  return JSON.stringify({ TTL: ttlS });
}

/** The granted lease's id, kept as the decimal string etcd sends (int64 does not fit a double). */
export function parseLeaseGrant(text: string): { id: string; ttlS: number } {
  const o = parseObject(text, 'lease grant');
  if (typeof o.error === 'string' && o.error !== '') throw new GatewayError('ERR_ETCD_REQUEST', `etcd lease grant: ${o.error}`);
  const id = String(o.ID ?? '');
  if (!/^\d+$/.test(id)) throw new GatewayError('ERR_ETCD_BAD_JSON', `etcd lease grant answered without an ID: ${text.slice(0, 160)}`);
  return { id, ttlS: Number(o.TTL ?? 0) };
}

/** A keep-alive or revoke of lease `id` (the decimal string from parseLeaseGrant). */
export function leaseIdBody(id: string): string {
  return JSON.stringify({ ID: id });
}

/**
 * A keep-alive's answer: a stream message `{"result": {..., "TTL"}}` (or `{"error": ...}`, sent
 * with HTTP 200 since the stream had started). TTL 0 or less: the lease is gone.
 */
export function parseKeepAlive(text: string): { ttlS: number } {
  const o = parseObject(text.trim().split('\n')[0] ?? '', 'lease keep-alive');
  if (o.error !== undefined) throw new GatewayError('ERR_ETCD_REQUEST', `etcd lease keep-alive: ${JSON.stringify(o.error).slice(0, 160)}`);
  const r = o.result as { TTL?: unknown } | undefined;
  const ttlS = Number(r?.TTL ?? 0);
  if (!(ttlS > 0)) throw new GatewayError('ERR_ETCD_LEASE_NOT_FOUND', `etcd lease keep-alive answered TTL ${String(r?.TTL)}: the lease is gone`);
  return { ttlS };
}

/** The smallest key after every key that starts with `prefix` (etcd's range_end for a prefix). */
export function prefixRangeEnd(prefix: string): Uint8Array {
  const bytes = new Uint8Array(Buffer.from(prefix, 'utf8'));
  for (let i = bytes.length - 1; i >= 0; i--) {
    if (bytes[i]! < 0xff) {
      const end = bytes.slice(0, i + 1);
      end[i]!++;
      return end;
    }
  }
  // Every byte is 0xff: to the end of the keyspace ("\0").
  return new Uint8Array([0]);
}

/** A watch of every key starting with `prefix`, from `startRevision` (its history must still be kept). */
export function watchCreateBody(prefix: string, startRevision: number): string {
  return JSON.stringify({ create_request: { key: b64(prefix), range_end: b64(prefixRangeEnd(prefix)), start_revision: String(startRevision) } });
}

/** One message of a watch stream: the mod revisions of its events (empty for created/progress), or why it ended. */
export function parseWatchMessage(line: string): { revisions: number[]; canceled: string | null } {
  const o = parseObject(line, 'watch');
  if (o.error !== undefined) return { revisions: [], canceled: JSON.stringify(o.error).slice(0, 160) };
  const r = o.result as { events?: Array<{ kv?: { mod_revision?: unknown } }>; canceled?: unknown; cancel_reason?: unknown } | undefined;
  if (r === undefined) throw new GatewayError('ERR_ETCD_BAD_JSON', `etcd watch sent ${line.slice(0, 120)}`);
  if (r.canceled === true) return { revisions: [], canceled: String(r.cancel_reason ?? 'canceled') };
  const revisions = (r.events ?? []).map((e) => Number(e.kv?.mod_revision ?? Number.NaN));
  if (revisions.some((v) => !Number.isSafeInteger(v))) throw new GatewayError('ERR_ETCD_BAD_JSON', `etcd watch event without a mod_revision: ${line.slice(0, 160)}`);
  return { revisions, canceled: null };
}
