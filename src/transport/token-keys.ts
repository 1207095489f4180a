// The keys of JWT tokens, read from their text (PEM, a JWK, a JWKS) and made (keygen), through
// jose. The caller reads the files (Node fs, Deno.readTextFile) and passes their text and name,
// so every error names the file and the problem. Public keys verify; private keys sign.

import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, importPKCS8, importSPKI } from 'jose';
import type { JWK } from 'jose';
import { TransportError } from './errors.ts';

/** Algorithms a token may be signed with: EdDSA (Ed25519), ES256 (P-256), HS256 (the cluster secret). */
export type TokenAlg = 'EdDSA' | 'ES256' | 'HS256';
export const tokenAlgs: readonly TokenAlg[] = ['EdDSA', 'ES256', 'HS256'];
/** The asymmetric ones: an app backend signs with a private key, peers hold the public key. */
export type KeyAlg = Exclude<TokenAlg, 'HS256'>;
const keyAlgs: readonly KeyAlg[] = ['EdDSA', 'ES256'];

export interface PublicTokenKey {
  readonly alg: KeyAlg;
  /** The JWK's kid; null for a PEM key (it is tried for any kid). */
  readonly kid: string | null;
  readonly key: CryptoKey;
  /** The file it came from, for log lines. */
  readonly source: string;
}

export interface SigningKey {
  readonly alg: KeyAlg;
  readonly kid: string | null;
  readonly key: CryptoKey;
}

function bad(source: string, problem: string): TransportError {
  return new TransportError('ERR_CONFIG_INVALID', `${source}: ${problem}`);
}

/** The alg a JWK is for, from its key type and curve; null for keys edgeraft does not use. */
function algOfJwk(jwk: JWK): KeyAlg | null {
  if (jwk.kty === 'OKP' && jwk.crv === 'Ed25519') return 'EdDSA';
  if (jwk.kty === 'EC' && jwk.crv === 'P-256') return 'ES256';
  return null;
}

const supported = 'edgeraft verifies EdDSA (kty OKP, crv Ed25519) and ES256 (kty EC, crv P-256) keys';

/**
 * The public keys of a PEM (SPKI "PUBLIC KEY"), a JWK or a JWKS text. `kind` says which the flag
 * promised (--token-public-key: one key; --token-jwks: a set), so a mix-up is named.
 */
export async function parsePublicKeys(text: string, source: string, kind: 'key' | 'jwks'): Promise<PublicTokenKey[]> {
  const t = text.trim();
  if (t.startsWith('-----BEGIN')) {
    if (kind === 'jwks') throw bad(source, 'holds a PEM key, not a JWKS ({"keys": [...]}): pass it with --token-public-key');
    return [{ alg: await pemAlg(t, source, 'public'), kid: null, key: await importPem(t, source, 'public'), source }];
  }
  const json = parseJson(t, source);
  if (Array.isArray(json.keys)) {
    if (kind === 'key') throw bad(source, 'holds a JWKS (a set of keys): pass it with --token-jwks');
    return jwksKeys(json.keys, source);
  }
  if (kind === 'jwks') throw bad(source, 'holds no "keys" list: a JWKS is {"keys": [ ...JWKs ]} (one key alone goes with --token-public-key)');
  const alg = algOfJwk(json);
  if (alg === null) throw bad(source, `the key is kty ${String(json.kty)}${json.crv !== undefined ? ` crv ${String(json.crv)}` : ''}: ${supported}`);
  return [await publicJwk(json, alg, source)];
}

async function jwksKeys(keys: unknown[], source: string): Promise<PublicTokenKey[]> {
  const out: PublicTokenKey[] = [];
  const skipped: string[] = [];
  for (const [i, k] of keys.entries()) {
    if (typeof k !== 'object' || k === null) throw bad(source, `keys[${i}] is not a JWK object`);
    const jwk = k as JWK;
    const alg = algOfJwk(jwk);
    // A JWKS shared with other services may hold keys for other uses: those are skipped.
    if (alg === null || (jwk.use !== undefined && jwk.use !== 'sig')) {
      skipped.push(`keys[${i}]${jwk.kid !== undefined ? ` (kid ${jwk.kid})` : ''} is kty ${String(jwk.kty)}${jwk.use !== undefined ? ` use ${jwk.use}` : ''}`);
      continue;
    }
    out.push(await publicJwk(jwk, alg, `${source} keys[${i}]`, source));
  }
  if (out.length === 0) throw bad(source, `holds no key edgeraft can use (${skipped.length > 0 ? skipped.join('; ') : 'the list is empty'}): ${supported}`);
  return out;
}

async function publicJwk(jwk: JWK, alg: KeyAlg, where: string, source: string = where): Promise<PublicTokenKey> {
  if (jwk.d !== undefined) throw bad(where, 'is a private key: give peers only the public key (edgeraft token keygen writes it to jwks.json)');
  if (jwk.alg !== undefined && jwk.alg !== alg && !(alg === 'EdDSA' && jwk.alg === 'Ed25519')) {
    throw bad(where, `says alg ${jwk.alg}, but its key type is for ${alg}`);
  }
  try {
    const key = await importJWK(jwk, alg);
    if (!(key instanceof CryptoKey)) throw new Error('not an asymmetric key');
    return { alg, kid: typeof jwk.kid === 'string' ? jwk.kid : null, key, source };
  } catch (err) {
    throw bad(where, `the ${alg} key does not import: ${(err as Error).message}`);
  }
}

/** The private key of a PEM (PKCS#8 "PRIVATE KEY") or JWK text, for minting. */
export async function parseSigningKey(text: string, source: string): Promise<SigningKey> {
  const t = text.trim();
  if (t.startsWith('-----BEGIN')) return { alg: await pemAlg(t, source, 'private'), kid: null, key: await importPem(t, source, 'private') };
  const jwk = parseJson(t, source);
  if (Array.isArray(jwk.keys)) throw bad(source, 'holds a JWKS: minting needs one private key (a JWK with "d", or a PEM "PRIVATE KEY")');
  const alg = algOfJwk(jwk);
  if (alg === null) throw bad(source, `the key is kty ${String(jwk.kty)}: ${supported}`);
  if (jwk.d === undefined) throw bad(source, 'is a public key (no "d"): minting needs the private key');
  try {
    const key = await importJWK(jwk, alg);
    if (!(key instanceof CryptoKey)) throw new Error('not an asymmetric key');
    return { alg, kid: typeof jwk.kid === 'string' ? jwk.kid : null, key };
  } catch (err) {
    throw bad(source, `the ${alg} private key does not import: ${(err as Error).message}`);
  }
}

const pemLabel = /^-----BEGIN ([A-Z0-9 ]+)-----/;

async function pemAlg(pem: string, source: string, want: 'public' | 'private'): Promise<KeyAlg> {
  const label = pemLabel.exec(pem)?.[1] ?? '?';
  const expected = want === 'public' ? 'PUBLIC KEY' : 'PRIVATE KEY';
  if (label !== expected) {
    const hint = label.includes('PRIVATE') && want === 'public' ? ': give peers only the public key'
      : label === 'CERTIFICATE' ? ': give the key itself, not a certificate' : '';
    throw bad(source, `holds a PEM "${label}", not a "${expected}" (${want === 'public' ? 'SPKI' : 'PKCS#8'})${hint}`);
  }
  for (const alg of keyAlgs) {
    try {
      await (want === 'public' ? importSPKI(pem, alg) : importPKCS8(pem, alg));
      return alg;
    } catch {
      // Not this alg's key type: try the next.
    }
  }
  throw bad(source, `the PEM ${want} key is neither Ed25519 (EdDSA) nor P-256 (ES256), or it is damaged: ${supported}`);
}

async function importPem(pem: string, source: string, want: 'public' | 'private'): Promise<CryptoKey> {
  const alg = await pemAlg(pem, source, want);
  return want === 'public' ? importSPKI(pem, alg) : importPKCS8(pem, alg);
}

function parseJson(text: string, source: string): JWK & { keys?: unknown } {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    // Not the parser's message: it quotes the text, and a secret file given by mistake must not reach a log.
    throw bad(source, 'is neither a PEM key nor JSON (a JWK or a JWKS)');
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw bad(source, 'holds JSON that is not an object (a JWK or a JWKS)');
  return json as JWK & { keys?: unknown };
}

/** A new key pair as JWKs (with kid, alg and use), for `edgeraft token keygen`. */
export async function generateTokenKey(alg: KeyAlg, kid?: string): Promise<{ readonly privateJwk: JWK; readonly publicJwk: JWK; readonly kid: string }> {
  const pair = await generateKeyPair(alg, { extractable: true });
  const publicJwk = await exportJWK(pair.publicKey);
  // By default the kid is derived from the key itself (RFC 7638 thumbprint), so two keys never share one.
  const id = kid ?? (await calculateJwkThumbprint(publicJwk)).slice(0, 16);
  const meta = { kid: id, alg, use: 'sig' };
  return { privateJwk: { ...(await exportJWK(pair.privateKey)), ...meta }, publicJwk: { ...publicJwk, ...meta }, kid: id };
}
