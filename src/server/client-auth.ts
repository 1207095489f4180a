// Who is asking, as the client service sees each request: the role, subject, key scopes, id and
// issue time of the token its connection presented (verified by the mesh's handshake), or a peer.
// The service decides from this record alone; nothing here reads the request.

import { byteKey, type ByteKey } from '../core/kv/keys.ts';
import type { TokenClaims } from '../transport/token-claims.ts';
import type { PeerRole } from '../transport/transport.ts';

export interface ClientAuth {
  readonly role: PeerRole;
  /** The token's subject; null for a peer. */
  readonly sub: string | null;
  /** Key prefixes the holder may touch, as byte strings; null: the whole keyspace. */
  readonly scopes: readonly ByteKey[] | null;
  /** The token's id (jti), for revocation by id; null when it has none. */
  readonly jti: string | null;
  /** The token's issue time; null when it does not say. */
  readonly issuedAtMs: number | null;
  /** The token's expiry; null for a peer. */
  readonly expMs: number | null;
}

/** A peer of the cluster: every key, every operation, nothing to revoke. */
export const peerAuth: ClientAuth = { role: 'peer', sub: null, scopes: null, jti: null, issuedAtMs: null, expMs: null };

/** The part of verified token claims read here. */
export type AuthClaims = Pick<TokenClaims, 'sub' | 'expMs' | 'scopes' | 'jti' | 'iatMs'>;

/**
 * The record for a connection: a peer's, or its token's. The mesh passes the claims of every
 * token connection; were they missing, the subject comes from the connection's id (`sub` or
 * `sub~instance`), with the whole keyspace, and the role still limits what it may ask.
 */
export function clientAuth(role: PeerRole, claims: AuthClaims | null, from: string): ClientAuth {
  if (role === 'peer') return peerAuth;
  if (claims === null) {
    const tilde = from.indexOf('~');
    return { role, sub: tilde < 0 ? from : from.slice(0, tilde), scopes: null, jti: null, issuedAtMs: null, expMs: null };
  }
  return {
    role, sub: claims.sub, scopes: claims.scopes === null ? null : claims.scopes.map(byteKey),
    jti: claims.jti, issuedAtMs: claims.iatMs, expMs: claims.expMs,
  };
}

/** How the token is named in messages. */
export function describeToken(auth: ClientAuth): string {
  if (auth.sub === null) return 'this peer';
  return auth.jti !== null ? `the token ${JSON.stringify(auth.jti)} of subject ${JSON.stringify(auth.sub)}` : `the token of subject ${JSON.stringify(auth.sub)}`;
}
