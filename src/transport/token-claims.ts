// What a token says, without the cryptography: the claims, their JWT payload, the unverified
// reading a token holder does of its own token, and the unsigned tokens of --insecure clusters.
// No jose here: the SDK and browser bundles import this file, and verifiers live in token.ts.

import type { NodeId } from '../core/types.ts';
import { describeValue, TransportError } from './errors.ts';
import { defaultFrameLimits } from './limits.ts';
import { isNodeId } from './validate.ts';

/** client: reads and writes; reader: reads only; learner: a non-voting replica (reads); admin: a client that may also change membership and move leadership. */
export type TokenRole = 'client' | 'reader' | 'learner' | 'admin';
export const tokenRoles: readonly TokenRole[] = ['client', 'reader', 'learner', 'admin'];

export interface TokenClaims {
  readonly role: TokenRole;
  /** The subject: the id the holder connects as. */
  readonly sub: NodeId;
  /** The cluster id (the JWT's `aud`). */
  readonly cluster: string;
  /** Expiry, in milliseconds since the epoch (the JWT's `exp` is in seconds). */
  readonly expMs: number;
  /**
   * Key prefixes the holder may touch (private claim `scopes`); null: the whole keyspace.
   * Invariant: null or a non-empty list of non-empty prefixes, none starting with "\u0000".
   */
  readonly scopes: readonly string[] | null;
  /** The token id (`jti`), by which one token can be revoked; null when the minter set none. */
  readonly jti: string | null;
  /** When it was issued (`iat`, seconds, as ms); null when the minter did not say. */
  readonly iatMs: number | null;
}

/** What minting takes: scopes and jti may be left out (the whole keyspace, no id); iat is the minting time. */
export type TokenClaimsInput = Omit<TokenClaims, 'scopes' | 'jti' | 'iatMs'> & {
  readonly scopes?: readonly string[] | null;
  readonly jti?: string | null;
};

/**
 * Checks a token: returns its claims when it is valid at `nowMs`, or throws a TransportError
 * (ERR_TOKEN_*) whose message names the problem. Implementations: the JWT verifier of token.ts
 * (signatures), and `unverifiedTokens` below (insecure peers).
 */
export interface TokenVerifier {
  verify(token: string, nowMs: number): Promise<TokenClaims>;
}

/** Key prefixes one token may name, and the longest prefix (UTF-16 code units). */
export const scopesMax = 64;
export const scopeLengthMax = 1024;
/** The longest token id. */
export const jtiLengthMax = 256;
/** How far a token's `nbf` may lie ahead of this clock (the minter's clock may run ahead). */
export const notBeforeSkewMs = 30_000;

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** The JWT payload of `claims` (exp and iat in whole seconds, rounded down: never later than asked). */
export function jwtPayload(claims: TokenClaimsInput, nowMs: number): Record<string, unknown> {
  const c = normalized(claims, nowMs);
  checkClaims(c);
  return {
    role: c.role, sub: c.sub, aud: c.cluster, exp: Math.floor(c.expMs / 1000), iat: Math.floor(nowMs / 1000),
    ...(c.jti !== null ? { jti: c.jti } : {}), ...(c.scopes !== null ? { scopes: c.scopes } : {}),
  };
}

/**
 * A JWT with `alg: none`, for clusters run with --insecure (which have no key to sign or verify
 * with). Peers that verify tokens refuse it, saying it is unsigned.
 */
export function unsignedToken(claims: TokenClaimsInput, nowMs: number = Date.now()): string {
  const header = base64url(encoder.encode(JSON.stringify({ alg: 'none', typ: 'JWT' })));
  return `${header}.${base64url(encoder.encode(JSON.stringify(jwtPayload(claims, nowMs))))}.`;
}

/** A token split into its parts, the header decoded. Throws ERR_TOKEN_MALFORMED. */
export interface JwtParts {
  readonly header: Readonly<Record<string, unknown>>;
  readonly payload: string;
}

export function splitJwt(token: unknown): JwtParts {
  if (typeof token !== 'string' || token.length === 0 || token.length > defaultFrameLimits.tokenLengthMax) {
    throw malformed(`a token must be a string of 1 to ${defaultFrameLimits.tokenLengthMax} characters (got ${typeof token === 'string' ? `${token.length}` : typeof token})`);
  }
  const parts = token.split('.');
  if (parts.length === 2 && isOldFormat(parts[0]!)) {
    throw malformed('the token is in edgeraft\'s format from before JWTs, which is no longer accepted: mint a new one (edgeraft token, or a JWT from your app backend; see docs/operations.md)');
  }
  if (parts.length !== 3) throw malformed(`a token is a JWT of three dot-separated parts, this one has ${parts.length}`);
  const header = jsonObject(parts[0]!, 'header');
  return { header, payload: parts[1]! };
}

/**
 * The claims a token states, NOT verified and whatever their times: for a holder to learn its own
 * subject, cluster and scopes. Throws ERR_TOKEN_MALFORMED.
 */
export function readClaims(token: string): TokenClaims {
  return claimsOfPayload(jsonObject(splitJwt(token).payload, 'payload'));
}

/**
 * The claims of a verified payload, checked at `nowMs`: expired (exp) and not-yet-valid (nbf)
 * tokens are refused here, so every verifier refuses them the same way.
 */
export function checkedClaims(payload: Uint8Array | string, nowMs: number): TokenClaims {
  const body = typeof payload === 'string' ? jsonObject(payload, 'payload') : parseObject(payload, 'payload');
  const claims = claimsOfPayload(body);
  if (!(nowMs < claims.expMs)) {
    throw new TransportError('ERR_TOKEN_EXPIRED', `the token of ${claims.sub} expired at ${new Date(claims.expMs).toISOString()} (now ${new Date(nowMs).toISOString()}): mint a new one`);
  }
  const nbf = body.nbf;
  if (nbf !== undefined) {
    if (typeof nbf !== 'number' || !Number.isFinite(nbf)) throw malformed(`the token's nbf ${describeValue(nbf)} is not a time in seconds`);
    if (nbf * 1000 > nowMs + notBeforeSkewMs) {
      throw new TransportError('ERR_TOKEN_NOT_YET_VALID', `the token of ${claims.sub} is not valid before ${new Date(nbf * 1000).toISOString()} (now ${new Date(nowMs).toISOString()}): is the minter's clock ahead?`);
    }
  }
  // A token issued "in the future" would also outlive a revocation of its subject (which
  // refuses tokens issued at or before it): refuse it like one not yet valid.
  if (claims.iatMs !== null && claims.iatMs > nowMs + notBeforeSkewMs) {
    throw new TransportError('ERR_TOKEN_NOT_YET_VALID', `the token of ${claims.sub} was issued at ${new Date(claims.iatMs).toISOString()}, ahead of this member's clock (now ${new Date(nowMs).toISOString()}): is the minter's clock ahead?`);
  }
  return claims;
}

/**
 * The verifier of an --insecure peer, which has no key: it takes a token's word for its claims
 * (any alg, signed or not) but still refuses a malformed or expired one.
 */
export const unverifiedTokens: TokenVerifier = {
  verify(token: string, nowMs: number): Promise<TokenClaims> {
    return Promise.resolve(checkedClaims(splitJwt(token).payload, nowMs));
  },
};

function claimsOfPayload(b: Readonly<Record<string, unknown>>): TokenClaims {
  if (b.exp === undefined) throw malformed('the token has no exp claim: edgeraft accepts only tokens that expire');
  if (typeof b.exp !== 'number' || !Number.isFinite(b.exp) || b.exp < 0) throw malformed(`the token's exp ${describeValue(b.exp)} is not a time in seconds`);
  const claims: TokenClaims = {
    role: b.role as TokenRole, sub: b.sub as string, cluster: audience(b.aud), expMs: Math.floor(b.exp * 1000),
    scopes: b.scopes === undefined ? null : b.scopes as readonly string[],
    jti: b.jti === undefined ? null : b.jti as string,
    iatMs: issuedAtMs(b.iat),
  };
  checkClaims(claims);
  return claims;
}

/** `aud` is a string, or (RFC 7519 allows it) an array of exactly one string. */
function audience(aud: unknown): string {
  if (Array.isArray(aud) && aud.length === 1) return audience(aud[0]);
  if (typeof aud !== 'string' || aud.length === 0 || aud.length > defaultFrameLimits.clusterLengthMax) {
    throw malformed(`the token's aud ${describeValue(aud)} must name one cluster id (1 to ${defaultFrameLimits.clusterLengthMax} characters)`);
  }
  return aud;
}

function issuedAtMs(iat: unknown): number | null {
  if (iat === undefined) return null;
  if (typeof iat !== 'number' || !Number.isFinite(iat) || iat < 0 || !Number.isSafeInteger(Math.floor(iat * 1000))) {
    throw malformed(`the token's iat ${describeValue(iat)} is not a time in seconds`);
  }
  return Math.floor(iat * 1000);
}

function normalized(c: TokenClaimsInput, nowMs: number): TokenClaims {
  return { role: c.role, sub: c.sub, cluster: c.cluster, expMs: c.expMs, scopes: c.scopes ?? null, jti: c.jti ?? null, iatMs: nowMs };
}

function checkClaims(c: TokenClaims): void {
  if (!tokenRoles.includes(c.role)) throw malformed(`the token's role ${describeValue(c.role)} is not one of ${tokenRoles.join(', ')}`);
  if (!isNodeId(c.sub, defaultFrameLimits.idLengthMax)) throw malformed(`the token's sub ${describeValue(c.sub)} is not a subject id (1 to ${defaultFrameLimits.idLengthMax} characters, no whitespace)`);
  if (typeof c.cluster !== 'string' || c.cluster.length === 0 || c.cluster.length > defaultFrameLimits.clusterLengthMax) {
    throw malformed(`the token's cluster ${describeValue(c.cluster)} is not a cluster id`);
  }
  if (typeof c.expMs !== 'number' || !Number.isSafeInteger(c.expMs) || c.expMs < 0) throw malformed(`the token's expiry ${describeValue(c.expMs)} is not a time in ms`);
  if (c.jti !== null && (typeof c.jti !== 'string' || c.jti.length === 0 || c.jti.length > jtiLengthMax)) {
    throw malformed(`the token's jti ${describeValue(c.jti)} must be a string of 1 to ${jtiLengthMax} characters`);
  }
  if (c.scopes !== null) checkScopes(c.scopes);
}

function checkScopes(scopes: unknown): void {
  if (!Array.isArray(scopes) || scopes.length === 0 || scopes.length > scopesMax) {
    throw malformed(`the token's scopes ${describeValue(scopes)} must be a list of 1 to ${scopesMax} key prefixes (leave the claim out for the whole keyspace)`);
  }
  for (const p of scopes) {
    if (typeof p !== 'string' || p.length === 0 || p.length > scopeLengthMax || p.startsWith('\u0000')) {
      throw malformed(`the token's scope ${describeValue(p)} must be a key prefix of 1 to ${scopeLengthMax} characters, not starting with \\u0000`);
    }
  }
}

/** Tokens of edgeraft before JWTs: base64url(JSON with v: 1) "." base64url(HMAC). */
function isOldFormat(payload: string): boolean {
  try {
    return parseObject(fromBase64url(payload) ?? new Uint8Array(0), 'payload').v === 1;
  } catch {
    return false;
  }
}

function jsonObject(part: string, what: string): Record<string, unknown> {
  const raw = fromBase64url(part);
  if (raw === null) throw malformed(`the token's ${what} is not base64url`);
  return parseObject(raw, what);
}

function parseObject(raw: Uint8Array, what: string): Record<string, unknown> {
  let body: unknown;
  try {
    body = JSON.parse(decoder.decode(raw));
  } catch {
    body = undefined;
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw malformed(`the token's ${what} is not a JSON object`);
  return body as Record<string, unknown>;
}

function malformed(message: string): TransportError {
  return new TransportError('ERR_TOKEN_MALFORMED', message);
}

const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const reverse = new Map<string, number>(Array.from(alphabet, (ch, i) => [ch, i]));

export function base64url(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | ((bytes[i + 1] ?? 0) << 8) | (bytes[i + 2] ?? 0);
    out += alphabet[(n >> 18) & 63]! + alphabet[(n >> 12) & 63]!;
    if (i + 1 < bytes.length) out += alphabet[(n >> 6) & 63]!;
    if (i + 2 < bytes.length) out += alphabet[n & 63]!;
  }
  return out;
}

/** Decodes unpadded base64url; null for any other input. */
export function fromBase64url(text: string): Uint8Array | null {
  if (text.length % 4 === 1) return null;
  const out = new Uint8Array(Math.floor((text.length * 3) / 4));
  let bits = 0;
  let value = 0;
  let at = 0;
  for (const ch of text) {
    const v = reverse.get(ch);
    if (v === undefined) return null;
    value = ((value << 6) | v) & 0xffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[at++] = (value >> bits) & 0xff;
    }
  }
  // Non-canonical encodings (stray low bits) would give one token many spellings.
  if ((value & ((1 << bits) - 1)) !== 0) return null;
  return out;
}
