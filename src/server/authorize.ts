// What a token may ask, decided before a request is served: not revoked and not living longer
// than the cluster accepts; a role that allows the operation; every key, range and prefix it
// names inside the token's scopes; and only leases of its own subject. Each refusal is
// ERR_FORBIDDEN with a sentence naming the key, operation, lease or token, and what is allowed.

import { CodedError } from '../core/coded-error.ts';
import { prefixEnd, type ByteKey } from '../core/kv/keys.ts';
import type { RevocableToken, Revocation } from '../core/kv/revocations.ts';
import { allowed, type Request, type RequestOp } from '../client/protocol.ts';
import { describeToken, type ClientAuth } from './client-auth.ts';
import { keyOutside, rangeOutside, showScopes } from './scopes.ts';

export class ForbiddenError extends CodedError<'ERR_FORBIDDEN'> {
  override readonly name = 'ForbiddenError';
  constructor(message: string) {
    super('ERR_FORBIDDEN', message);
  }
}

/** What the checks read of the member. */
export interface AuthContext {
  /** The owner of lease `id` here ('' for none); undefined when no such lease exists here. */
  leaseOwner(id: number): string | undefined;
  /** The revocation in force for a token, if any. */
  revocation(t: RevocableToken): Revocation | undefined;
  /** The longest token lifetime (expiry less issue time) this member accepts; null: not checked. */
  readonly tokenTtlMaxMs: number | null;
}

/** Throws ForbiddenError unless `auth` may make `req`. Peers may make any. */
export function authorize(auth: ClientAuth, req: Request, ctx: AuthContext): void {
  if (auth.role === 'peer') return;
  checkToken(auth, ctx);
  checkRole(auth, req.op);
  const why = outsideScopes(auth, req);
  if (why !== null) throw new ForbiddenError(`${req.op}: ${why}`);
  for (const id of leasesUsed(req)) checkLeaseOwner(auth, id, ctx.leaseOwner(id), req.op);
  // Ownership is checked here, when a request arrives, not when its entry applies: a tenant's put
  // checked against its own lease must not find, by apply time, another tenant's new lease under
  // that id. The cluster picks ids from the grant's log index, past every id granted before, so a
  // scoped token may not pick one.
  if (auth.scopes !== null && req.op === 'leaseGrant' && req.lease !== 0) {
    throw new ForbiddenError(`leaseGrant: a token scoped to ${showScopes(auth.scopes)} cannot choose a lease id (${req.lease}): leave it out and the cluster picks one`);
  }
}

/** Refuses a revoked token, and one that lives longer than the member accepts. */
export function checkToken(auth: ClientAuth, ctx: AuthContext): void {
  if (auth.sub === null) return;
  const r = ctx.revocation({ sub: auth.sub, jti: auth.jti, issuedAtMs: auth.issuedAtMs });
  if (r !== undefined) {
    const what = r.by === 'sub' ? `with every token of subject ${JSON.stringify(r.name)} issued until then` : 'by its id';
    throw new ForbiddenError(`${describeToken(auth)} was revoked at ${new Date(r.revokedAtMs).toISOString()} (${what}): use a token minted after the revocation`);
  }
  // Without an issue time neither the lifetime nor "issued before a revocation" can be known, and
  // a revocation of its subject could be forgotten while the token is still good.
  if (ctx.tokenTtlMaxMs !== null && auth.issuedAtMs === null) {
    throw new ForbiddenError(`${describeToken(auth)} has no iat (issue time): this cluster needs one to bound a token's lifetime and to revoke it by subject; mint it with iat (edgeraft token does; jose: .setIssuedAt())`);
  }
  if (ctx.tokenTtlMaxMs !== null && auth.issuedAtMs !== null && auth.expMs !== null && auth.expMs - auth.issuedAtMs > ctx.tokenTtlMaxMs) {
    throw new ForbiddenError(`${describeToken(auth)} lives ${showMs(auth.expMs - auth.issuedAtMs)} (issued ${new Date(auth.issuedAtMs).toISOString()}, expiring ${new Date(auth.expMs).toISOString()}), longer than this cluster accepts (--token-ttl-max-ms ${ctx.tokenTtlMaxMs} = ${showMs(ctx.tokenTtlMaxMs)}): mint one with a shorter --ttl`);
  }
}

/** What each operation a role may lack does, as the refusal says it. */
const denied: Partial<Record<RequestOp, string>> = {
  put: 'write keys', delete: 'delete keys', cas: 'write keys', deleteRange: 'delete keys', txn: 'run transactions',
  leaseGrant: 'grant leases', leaseRevoke: 'revoke leases', leaseKeepAlive: 'keep leases alive',
  members: 'see or change membership', transfer: 'move leadership', fault: 'inject faults',
  compact: 'compact the watch history', backup: 'take backups', tokenRevoke: 'revoke tokens',
};

/** Operations on the whole cluster: a token scoped to some keys never makes them. */
const clusterOps: ReadonlySet<RequestOp> = new Set(['members', 'transfer', 'fault', 'compact', 'backup', 'tokenRevoke']);

function checkRole(auth: ClientAuth, op: RequestOp): void {
  if (!allowed(auth.role, op)) {
    const needs = allowed('client', op) ? 'a client or admin token' : 'an admin token';
    // The SDK opens a write session (register) before its first write, transaction or lease.
    if (op === 'register') throw new ForbiddenError(`a ${auth.role} token cannot write: writes, transactions and leases need ${needs}`);
    throw new ForbiddenError(`a ${auth.role} token cannot ${denied[op] ?? op}: ${op} needs ${needs}`);
  }
  if (auth.scopes !== null && clusterOps.has(op)) {
    throw new ForbiddenError(`a token scoped to ${showScopes(auth.scopes)} cannot ${denied[op] ?? op}: ${op} needs an admin token for the whole keyspace (no --prefix)`);
  }
}

/** Why a key or range of `req` is outside the token's scopes, or null. */
function outsideScopes(auth: ClientAuth, req: Request): string | null {
  const scopes = auth.scopes;
  if (scopes === null) return null;
  switch (req.op) {
    case 'put': case 'delete': case 'cas': case 'get': return keyOutside(req.key, scopes);
    case 'range': case 'deleteRange': case 'watch': return rangeOutside(req.start, req.end, scopes);
    case 'scan': {
      const [start, end] = scanRange(req.prefix, req.start, req.end);
      return rangeOutside(start, end, scopes);
    }
    case 'txn': {
      for (const [i, c] of req.compare.entries()) {
        const why = keyOutside(c.key, scopes);
        if (why !== null) return `compare ${i}: ${why}`;
      }
      for (const [branch, ops] of [['success', req.success], ['failure', req.failure]] as const) {
        for (const [i, o] of ops.entries()) {
          const why = o.op === 'range' || o.op === 'deleteRange' ? rangeOutside(o.start, o.end, scopes) : keyOutside(o.key, scopes);
          if (why !== null) return `${branch} operation ${i} (${o.op}): ${why}`;
        }
      }
      return null;
    }
    default: return null;
  }
}

/** The [start, end) a scan reads: its prefix's range, narrowed by its start and end. */
function scanRange(prefix: ByteKey | null, start: ByteKey | null, end: ByteKey | null): [ByteKey, ByteKey | null] {
  let lo = start ?? '';
  let hi = end;
  if (prefix !== null) {
    if (prefix > lo) lo = prefix;
    const pe = prefixEnd(prefix);
    if (pe !== null && (hi === null || pe < hi)) hi = pe;
  }
  return [lo, hi];
}

/** Leases a request uses whose owner must be its subject (a grant makes a new one: none). */
function leasesUsed(req: Request): number[] {
  switch (req.op) {
    case 'put': return req.lease !== 0 ? [req.lease] : [];
    case 'leaseRevoke': case 'leaseKeepAlive': return [req.lease];
    case 'txn': return [...req.success, ...req.failure].flatMap((o) => (o.op === 'put' && o.lease !== undefined && o.lease !== 0 ? [o.lease] : []));
    default: return [];
  }
}

/**
 * A lease granted with a scoped token belongs to that token's subject: only that subject uses it
 * (attaches keys, keeps it alive, revokes it, reads its info). A lease of no owner (granted for the
 * whole keyspace, by a peer, or before owners were kept) serves any token for the whole keyspace
 * (which may touch every key anyway), never a scoped one; an admin for the whole keyspace may use
 * any lease. An unknown lease passes: the machine answers ERR_LEASE_NOT_FOUND.
 */
export function checkLeaseOwner(auth: ClientAuth, id: number, owner: string | undefined, op: string): void {
  if (owner === undefined || auth.role === 'peer' || owner === auth.sub) return;
  if (auth.scopes === null && (owner === '' || auth.role === 'admin')) return;
  const whose = owner === '' ? 'no token subject (it was granted with a token for the whole keyspace)' : `token subject ${JSON.stringify(owner)}`;
  throw new ForbiddenError(`${op}: lease ${id} belongs to ${whose}, not to ${JSON.stringify(auth.sub)}: only the subject that granted a lease may use it`);
}

function showMs(ms: number): string {
  const units: ReadonlyArray<readonly [number, string]> = [[86_400_000, 'd'], [3_600_000, 'h'], [60_000, 'min'], [1000, 's']];
  for (const [size, unit] of units) if (ms >= size && ms % size === 0) return `${ms / size}${unit === 'd' ? ' days' : ` ${unit}`}`;
  return `${ms} ms`;
}
