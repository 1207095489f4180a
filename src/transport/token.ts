// Tokens for clients, readers and browser learners, which must not hold the cluster secret:
// standard JWTs through jose. An app backend signs them with its own EdDSA or ES256 key (peers
// hold only the public keys); HS256 with the cluster secret stays for local use. One verifier,
// built once from the configured keys, decides every token the same way.

import { compactVerify, SignJWT } from 'jose';
import { secretBytes } from './auth.ts';
import type { Secret } from './auth.ts';
import { TransportError } from './errors.ts';
import { checkedClaims, jwtPayload, splitJwt } from './token-claims.ts';
import type { TokenClaims, TokenClaimsInput, TokenVerifier } from './token-claims.ts';
import { tokenAlgs } from './token-keys.ts';
import type { KeyAlg, PublicTokenKey, SigningKey, TokenAlg } from './token-keys.ts';

export * from './token-claims.ts';
export * from './token-keys.ts';

/**
 * An HS256 JWT signed with the cluster secret (the first of a rotation's secrets). Its signing
 * input ("eyJ..." text) can never equal a handshake proof's (which starts with a length prefix).
 */
export function mintToken(secret: Secret, claims: TokenClaimsInput, nowMs: number = Date.now()): Promise<string> {
  return sign(secretBytes(secret), 'HS256', null, claims, nowMs);
}

/** A JWT signed with an app backend's private key (what `edgeraft token --key` does); `kid` defaults to the key's. */
export function signToken(key: SigningKey, claims: TokenClaimsInput, nowMs: number = Date.now(), kid: string | null = key.kid): Promise<string> {
  return sign(key.key, key.alg, kid, claims, nowMs);
}

function sign(key: CryptoKey | Uint8Array, alg: TokenAlg, kid: string | null, claims: TokenClaimsInput, nowMs: number): Promise<string> {
  return new SignJWT(jwtPayload(claims, nowMs))
    .setProtectedHeader({ alg, typ: 'JWT', ...(kid !== null ? { kid } : {}) })
    .sign(key);
}

export interface VerifierKeys {
  /** Algorithms a token may be signed with (default: EdDSA, ES256 and HS256). */
  readonly algs?: readonly TokenAlg[];
  /** Cluster secrets that verify HS256 tokens: all of a rotation's secrets. */
  readonly secrets?: readonly Secret[];
  /** Public keys that verify EdDSA and ES256 tokens (several per alg while a key is rotated). */
  readonly publicKeys?: readonly PublicTokenKey[];
}

/** Header algs of each accepted family: RFC 9864's "Ed25519" is the fully specified EdDSA. */
const familyOf: Readonly<Record<string, TokenAlg>> = { EdDSA: 'EdDSA', Ed25519: 'EdDSA', ES256: 'ES256', HS256: 'HS256' };

function signatureError(message: string): TransportError {
  return new TransportError('ERR_TOKEN_SIGNATURE', message);
}

/** The verifier of a peer with keys: signatures through jose, then the claims of token-claims.ts. */
export class JwtVerifier implements TokenVerifier {
  readonly #algs: readonly TokenAlg[];
  readonly #secrets: readonly Uint8Array[];
  readonly #keys: readonly PublicTokenKey[];

  constructor(k: VerifierKeys) {
    this.#algs = k.algs ?? tokenAlgs;
    this.#secrets = (k.secrets ?? []).map(secretBytes);
    this.#keys = k.publicKeys ?? [];
    for (const a of this.#algs) if (!tokenAlgs.includes(a)) throw new TransportError('ERR_CONFIG_INVALID', `token alg ${a} is not one of ${tokenAlgs.join(', ')}`);
  }

  /** What this verifier accepts, for a log line: "EdDSA (kids k1, k2), HS256 (2 secrets)". */
  describe(): string {
    return this.#algs.map((a) => {
      if (a === 'HS256') return `HS256 (${this.#secrets.length} secret${this.#secrets.length === 1 ? '' : 's'})`;
      const keys = this.#keys.filter((k) => k.alg === a);
      return `${a} (${keys.length === 0 ? 'no keys' : `kid${keys.length === 1 ? '' : 's'} ${keys.map((k) => k.kid ?? '(none)').join(', ')}`})`;
    }).join(', ');
  }

  async verify(token: string, nowMs: number): Promise<TokenClaims> {
    const { header } = splitJwt(token);
    const alg = this.#familyOf(header.alg);
    const kid = typeof header.kid === 'string' ? header.kid : null;
    const candidates = this.#candidates(alg, kid);
    for (const key of candidates) {
      let payload: Uint8Array;
      try {
        payload = (await compactVerify(token, key, { algorithms: [header.alg as string] })).payload;
      } catch (err) {
        // Another key of a rotation may be the one: only a mismatch moves on to it.
        if ((err as { code?: unknown }).code === 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED') continue;
        throw new TransportError('ERR_TOKEN_MALFORMED', `the token is not a valid JWS: ${(err as Error).message}`);
      }
      return checkedClaims(payload, nowMs);
    }
    const tried = alg === 'HS256' ? `the cluster secret${candidates.length > 1 ? `s (${candidates.length})` : ''}` : `the ${alg} key${candidates.length > 1 ? 's' : ''}${kid !== null ? ` for kid ${kid}` : ''}`;
    throw signatureError(`the token's signature does not match ${tried}: it was signed with another key, or altered`);
  }

  #familyOf(alg: unknown): TokenAlg {
    if (alg === 'none') {
      throw signatureError(`the token is unsigned (alg none): this member accepts only tokens signed with ${this.#algs.join(', ')} (unsigned tokens are for --insecure clusters)`);
    }
    const family = typeof alg === 'string' ? familyOf[alg] : undefined;
    if (family === undefined || !this.#algs.includes(family)) {
      throw signatureError(`the token is signed with ${typeof alg === 'string' ? alg : 'no alg'}, which this member does not accept (it accepts ${this.#algs.join(', ')}: --token-algs)`);
    }
    return family;
  }

  #candidates(alg: TokenAlg, kid: string | null): readonly (CryptoKey | Uint8Array)[] {
    if (alg === 'HS256') {
      if (this.#secrets.length === 0) throw signatureError('the token is signed with HS256, but this member has no cluster secret to verify it');
      return this.#secrets;
    }
    const ofAlg = this.#keys.filter((k) => k.alg === (alg as KeyAlg));
    if (ofAlg.length === 0) throw signatureError(`the token is signed with ${alg}, but this member has no ${alg} public key (--token-public-key, --token-jwks)`);
    // A key without a kid (from a PEM file) is tried for any token; a kid picks among the others.
    const keys = ofAlg.filter((k) => kid === null || k.kid === null || k.kid === kid);
    if (keys.length === 0) {
      throw signatureError(`the token names kid ${kid}, but this member's ${alg} keys are ${ofAlg.map((k) => k.kid).join(', ')}: is the new key in the JWKS of every peer, and were they reloaded (SIGHUP)?`);
    }
    return keys.map((k) => k.key);
  }
}
