// Signed tokens for clients, readers and browser learners, which must not hold the cluster
// secret: base64url(JSON claims) "." base64url(HMAC-SHA256). Time is passed in, so expiry is
// testable. Verification checks the MAC (in constant time) before it parses anything.

import type { NodeId } from '../core/types.ts';
import { hmac, importHmacKey, proofInput, timingSafeEqual } from './auth.ts';
import type { Secret } from './auth.ts';
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
  readonly cluster: string;
  /** Expiry, in milliseconds since the epoch. */
  readonly expMs: number;
}

const tokenVersion = 1;
const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

async function keyOf(secret: Secret | CryptoKey): Promise<CryptoKey> {
  return typeof secret === 'string' || secret instanceof Uint8Array ? importHmacKey(secret) : secret;
}

function macInput(payload: string): Uint8Array {
  return proofInput('edgeraft/token/v1', [payload]);
}

export async function mintToken(secret: Secret | CryptoKey, claims: TokenClaims): Promise<string> {
  checkClaims(claims);
  const body = { v: tokenVersion, role: claims.role, sub: claims.sub, cluster: claims.cluster, exp: claims.expMs };
  const payload = base64url(encoder.encode(JSON.stringify(body)));
  const mac = await hmac(await keyOf(secret), macInput(payload));
  return `${payload}.${base64url(mac)}`;
}

/**
 * A token with no signature, for clusters run with --insecure (which have no secret to sign or
 * verify with). Peers with a secret refuse it like any forged token.
 */
export function unsignedToken(claims: TokenClaims): string {
  checkClaims(claims);
  const body = { v: tokenVersion, role: claims.role, sub: claims.sub, cluster: claims.cluster, exp: claims.expMs };
  return `${base64url(encoder.encode(JSON.stringify(body)))}.`;
}

/**
 * The claims a token states, NOT verified: for a holder to learn its own subject, and for an
 * insecure peer, which has no key. Throws ERR_TOKEN_MALFORMED.
 */
export function readClaims(token: string): TokenClaims {
  if (typeof token !== 'string' || token.length > defaultFrameLimits.tokenLengthMax) {
    throw new TransportError('ERR_TOKEN_MALFORMED', `token must be a string of at most ${defaultFrameLimits.tokenLengthMax} chars`);
  }
  const dot = token.indexOf('.');
  if (dot <= 0) throw new TransportError('ERR_TOKEN_MALFORMED', 'token must be <payload>.<mac>');
  return parseClaims(token.slice(0, dot));
}

/** Returns the claims of a valid, unexpired token; throws ERR_TOKEN_* otherwise. */
export async function verifyToken(secret: Secret | CryptoKey, token: string, nowMs: number): Promise<TokenClaims> {
  if (typeof token !== 'string' || token.length > defaultFrameLimits.tokenLengthMax) {
    throw new TransportError('ERR_TOKEN_MALFORMED', `token must be a string of at most ${defaultFrameLimits.tokenLengthMax} chars`);
  }
  const parts = token.split('.');
  const payload = parts[0];
  const macText = parts[1];
  if (parts.length !== 2 || payload === undefined || macText === undefined) {
    throw new TransportError('ERR_TOKEN_MALFORMED', 'token must be <payload>.<mac>');
  }
  const mac = fromBase64url(macText);
  const expected = await hmac(await keyOf(secret), macInput(payload));
  if (mac === null || !timingSafeEqual(mac, expected)) {
    throw new TransportError('ERR_TOKEN_SIGNATURE', 'token signature does not match');
  }
  const claims = parseClaims(payload);
  if (!(nowMs < claims.expMs)) {
    throw new TransportError('ERR_TOKEN_EXPIRED', `token for ${claims.sub} expired at ${claims.expMs} (now ${nowMs})`);
  }
  return claims;
}

function parseClaims(payload: string): TokenClaims {
  const raw = fromBase64url(payload);
  let body: unknown;
  try {
    body = raw === null ? undefined : JSON.parse(decoder.decode(raw));
  } catch {
    body = undefined;
  }
  if (typeof body !== 'object' || body === null) throw new TransportError('ERR_TOKEN_MALFORMED', 'token payload is not a JSON object');
  const b = body as Record<string, unknown>;
  if (b.v !== tokenVersion) throw new TransportError('ERR_TOKEN_MALFORMED', `token version ${describeValue(b.v)} is not supported`);
  const claims = { role: b.role, sub: b.sub, cluster: b.cluster, expMs: b.exp };
  checkClaims(claims);
  return claims;
}

function checkClaims(c: { role: unknown; sub: unknown; cluster: unknown; expMs: unknown }): asserts c is TokenClaims {
  if (!tokenRoles.includes(c.role as TokenRole)) throw new TransportError('ERR_TOKEN_MALFORMED', `token role ${describeValue(c.role)} is not one of ${tokenRoles.join(', ')}`);
  if (!isNodeId(c.sub, defaultFrameLimits.idLengthMax)) throw new TransportError('ERR_TOKEN_MALFORMED', `token subject ${describeValue(c.sub)} is not a node id`);
  if (typeof c.cluster !== 'string' || c.cluster.length === 0 || c.cluster.length > defaultFrameLimits.clusterLengthMax) {
    throw new TransportError('ERR_TOKEN_MALFORMED', `token cluster ${describeValue(c.cluster)} is not a cluster id`);
  }
  if (typeof c.expMs !== 'number' || !Number.isSafeInteger(c.expMs) || c.expMs < 0) {
    throw new TransportError('ERR_TOKEN_MALFORMED', `token expiry ${describeValue(c.expMs)} is not a time in ms`);
  }
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
