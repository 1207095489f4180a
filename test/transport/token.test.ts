// The token format: JWTs minted with jose directly, as an app backend would (EdDSA, ES256, HS256),
// verified by the peers' JwtVerifier; key rotation by kid; key files (PEM, JWK, JWKS) and their
// errors; every refusal (alg none, an alg not accepted, forged, expired, not yet valid, malformed,
// the old format) with the code and sentence it gets; unverified reading for holders.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { build } from 'esbuild';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT } from 'jose';
import type { CryptoKey as JoseKey, JWK } from 'jose';
import { TransportError } from '../../src/transport/errors.ts';
import {
  base64url, generateTokenKey, JwtVerifier, mintToken, parsePublicKeys, parseSigningKey, readClaims, signToken, unsignedToken, unverifiedTokens,
} from '../../src/transport/token.ts';
import type { PublicTokenKey, TokenClaims } from '../../src/transport/token.ts';
import { cluster, rejects, secret } from './net.ts';

const now = 1_800_000_000_000;
const inAnHour = now / 1000 + 3600;

/** What an app backend signs: the claims edgeraft reads (docs/operations.md). */
const backendClaims = { role: 'reader', scopes: ['tenants/acme/'] };

function backendJwt(key: JoseKey | Uint8Array, alg: string, kid?: string, over: Record<string, unknown> = {}): Promise<string> {
  const claims = { ...backendClaims, sub: 'tab-7', aud: cluster, iat: now / 1000, exp: inAnHour, jti: 't-1', ...over };
  return new SignJWT(claims).setProtectedHeader({ alg, typ: 'JWT', ...(kid !== undefined ? { kid } : {}) }).sign(key);
}

async function keyPair(alg: 'EdDSA' | 'ES256', kid: string): Promise<{ privateKey: JoseKey; jwk: JWK }> {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  return { privateKey, jwk: { ...await exportJWK(publicKey), kid, use: 'sig' } };
}

async function jwks(...jwks: JWK[]): Promise<PublicTokenKey[]> {
  return parsePublicKeys(JSON.stringify({ keys: jwks }), 'jwks.json', 'jwks');
}

const codeOf = (code: string, text?: RegExp) => (e: unknown): boolean => e instanceof TransportError && e.code === code && (text === undefined || text.test(e.message));

const expected: TokenClaims = { role: 'reader', sub: 'tab-7', cluster, expMs: inAnHour * 1000, scopes: ['tenants/acme/'], jti: 't-1', iatMs: now };

for (const alg of ['EdDSA', 'ES256'] as const) {
  test(`an ${alg} token minted with jose by an app backend is verified with the public key alone`, async () => {
    const { privateKey, jwk } = await keyPair(alg, 'k1');
    const verifier = new JwtVerifier({ publicKeys: await jwks(jwk) });
    assert.equal(await verifier.verify(await backendJwt(privateKey, alg, 'k1'), now), expected);
    // Without a kid the key is found by its alg.
    assert.equal(await verifier.verify(await backendJwt(privateKey, alg), now), expected);
    // RFC 9864 names EdDSA over Ed25519 "Ed25519": the same key verifies it.
    if (alg === 'EdDSA') assert.equal(await verifier.verify(await backendJwt(privateKey, 'Ed25519', 'k1'), now), expected);
  });
}

test('an HS256 token minted with jose and the cluster secret is verified with any of the secrets', async () => {
  const bytes = new TextEncoder().encode(secret);
  const token = await backendJwt(bytes, 'HS256');
  assert.equal(await new JwtVerifier({ secrets: [secret] }).verify(token, now), expected);
  assert.equal(await new JwtVerifier({ secrets: ['the next secret, long enough', secret] }).verify(token, now), expected);
  await rejects(async () => new JwtVerifier({ secrets: ['the next secret, long enough'] }).verify(token, now), codeOf('ERR_TOKEN_SIGNATURE', /does not match the cluster secret/));
});

test('mintToken and signToken write the claims the verifier reads back', async () => {
  const input = { role: 'client' as const, sub: 'app', cluster, expMs: now + 60_500, scopes: ['a/', 'b/'], jti: 'j' };
  const back = { ...input, expMs: now + 60_000, iatMs: now };
  assert.equal(await new JwtVerifier({ secrets: [secret] }).verify(await mintToken(secret, input, now), now), back);
  const { privateJwk, publicJwk, kid } = await generateTokenKey('EdDSA', 'k9');
  const key = await parseSigningKey(JSON.stringify(privateJwk), 'k9.private.jwk.json');
  const token = await signToken(key, input, now);
  assert.is(JSON.parse(new TextDecoder().decode(Uint8Array.from(atob(token.split('.')[0]!), (c) => c.charCodeAt(0)))).kid, kid);
  assert.equal(await new JwtVerifier({ publicKeys: await jwks(publicJwk) }).verify(token, now), back);
  // Whole keyspace and no id when left out.
  const plain = await new JwtVerifier({ secrets: [secret] }).verify(await mintToken(secret, { role: 'admin', sub: 'ops', cluster, expMs: now + 1000 }, now), now);
  assert.equal([plain.scopes, plain.jti], [null, null]);
});

test('rotation: during the overlap a JWKS with both keys accepts tokens of either kid; after it, only the new', async () => {
  const old = await keyPair('EdDSA', 'k1');
  const next = await keyPair('ES256', 'k2');
  const oldToken = await backendJwt(old.privateKey, 'EdDSA', 'k1');
  const newToken = await backendJwt(next.privateKey, 'ES256', 'k2');
  const overlap = new JwtVerifier({ publicKeys: await jwks(old.jwk, next.jwk) });
  assert.is((await overlap.verify(oldToken, now)).sub, 'tab-7');
  assert.is((await overlap.verify(newToken, now)).sub, 'tab-7');
  assert.is(overlap.describe(), 'EdDSA (kid k1), ES256 (kid k2), HS256 (0 secrets)');
  const after = new JwtVerifier({ publicKeys: await jwks(next.jwk) });
  await rejects(async () => after.verify(oldToken, now), codeOf('ERR_TOKEN_SIGNATURE', /signed with EdDSA, but this member has no EdDSA public key/));
  // Two keys of one alg: the kid picks; a kid nobody knows is named.
  const third = await keyPair('ES256', 'k3');
  const two = new JwtVerifier({ publicKeys: await jwks(next.jwk, third.jwk) });
  assert.is((await two.verify(await backendJwt(third.privateKey, 'ES256', 'k3'), now)).jti, 't-1');
  await rejects(async () => two.verify(await backendJwt(third.privateKey, 'ES256', 'k4'), now), codeOf('ERR_TOKEN_SIGNATURE', /names kid k4, but this member's ES256 keys are k2, k3/));
  // A token claiming kid k2 but signed by k3's key fails the signature.
  await rejects(async () => two.verify(await backendJwt(third.privateKey, 'ES256', 'k2'), now), codeOf('ERR_TOKEN_SIGNATURE', /does not match the ES256 key for kid k2/));
});

test('refusals: alg none, an alg not accepted, forged, expired, not yet valid, malformed, the old format', async () => {
  const { privateKey, jwk } = await keyPair('EdDSA', 'k1');
  const v = new JwtVerifier({ algs: ['EdDSA'], secrets: [secret], publicKeys: await jwks(jwk) });
  const good = await backendJwt(privateKey, 'EdDSA', 'k1');
  const [h, p, s] = good.split('.') as [string, string, string];
  const unsigned = unsignedToken({ role: 'admin', sub: 'x', cluster, expMs: now + 1000 }, now);
  await rejects(async () => v.verify(unsigned, now), codeOf('ERR_TOKEN_SIGNATURE', /unsigned \(alg none\).*--insecure/));
  await rejects(async () => v.verify(await backendJwt(new TextEncoder().encode(secret), 'HS256'), now), codeOf('ERR_TOKEN_SIGNATURE', /signed with HS256, which this member does not accept \(it accepts EdDSA: --token-algs\)/));
  await rejects(async () => v.verify(await backendJwt(new TextEncoder().encode(secret), 'HS512'), now), codeOf('ERR_TOKEN_SIGNATURE', /signed with HS512/));
  const forgedPayload = base64url(new TextEncoder().encode(JSON.stringify({ role: 'admin', sub: 'tab-7', aud: cluster, exp: inAnHour })));
  await rejects(async () => v.verify(`${h}.${forgedPayload}.${s}`, now), codeOf('ERR_TOKEN_SIGNATURE', /signed with another key, or altered/));
  const other = await keyPair('EdDSA', 'k1');
  await rejects(async () => v.verify(await backendJwt(other.privateKey, 'EdDSA', 'k1'), now), codeOf('ERR_TOKEN_SIGNATURE'));
  await rejects(async () => v.verify(good, inAnHour * 1000), codeOf('ERR_TOKEN_EXPIRED', /expired at .*mint a new one/));
  assert.is((await v.verify(good, inAnHour * 1000 - 1)).sub, 'tab-7', 'valid until the last ms before exp');
  const early = await backendJwt(privateKey, 'EdDSA', 'k1', { nbf: now / 1000 + 60 });
  await rejects(async () => v.verify(early, now), codeOf('ERR_TOKEN_NOT_YET_VALID', /not valid before .*clock ahead/));
  assert.is((await v.verify(early, now + 31_000)).sub, 'tab-7', 'nbf allows 30 s of clock skew');
  await rejects(async () => v.verify(`${h}.${p}`, now), codeOf('ERR_TOKEN_MALFORMED', /three dot-separated parts/));
  await rejects(async () => v.verify(`${h}!.${p}.${s}`, now), codeOf('ERR_TOKEN_MALFORMED', /header is not base64url/));
  await rejects(async () => v.verify('x'.repeat(5000), now), codeOf('ERR_TOKEN_MALFORMED', /1 to 4096 characters/));
  const old = `${base64url(new TextEncoder().encode(JSON.stringify({ v: 1, role: 'client', sub: 'a', cluster, exp: now + 1000 })))}.${base64url(new Uint8Array(32))}`;
  await rejects(async () => v.verify(old, now), codeOf('ERR_TOKEN_MALFORMED', /format from before JWTs.*mint a new one/));
  assert.throws(() => readClaims(old), /format from before JWTs/);
});

test('claims are checked after the signature: role, sub, aud, exp, scopes and jti', async () => {
  const v = new JwtVerifier({ secrets: [secret] });
  const bytes = new TextEncoder().encode(secret);
  const cases: Array<[Record<string, unknown>, RegExp]> = [
    [{ role: 'root' }, /role "root" is not one of client, reader, learner, admin/],
    [{ sub: 'has space' }, /sub "has space" is not a subject id/],
    [{ aud: ['c1', 'c2'] }, /aud array\(2\) must name one cluster id/],
    [{ scopes: [] }, /scopes array\(0\) must be a list of 1 to 64 key prefixes/],
    [{ scopes: [''] }, /scope "" must be a key prefix/],
    [{ scopes: ['\u0000x'] }, /not starting with \\u0000/],
    [{ scopes: 'tenants/' }, /scopes "tenants\/" must be a list/],
    [{ jti: 7 }, /jti 7 must be a string/],
    [{ iat: 'yesterday' }, /iat "yesterday" is not a time/],
  ];
  for (const [over, message] of cases) {
    await rejects(async () => v.verify(await backendJwt(bytes, 'HS256', undefined, over), now), codeOf('ERR_TOKEN_MALFORMED', message));
  }
  const noExp = await new SignJWT({ role: 'reader', sub: 'x', aud: cluster }).setProtectedHeader({ alg: 'HS256' }).sign(bytes);
  await rejects(async () => v.verify(noExp, now), codeOf('ERR_TOKEN_MALFORMED', /no exp claim/));
  // RFC 7519 allows aud as a one-element array.
  assert.is((await v.verify(await backendJwt(bytes, 'HS256', undefined, { aud: [cluster] }), now)).cluster, cluster);
});

test('holders read their own claims unverified; insecure peers check only shape and times', async () => {
  const token = await mintToken(secret, { role: 'learner', sub: 'tab', cluster, expMs: now + 5000, scopes: ['p/'] }, now);
  assert.equal(readClaims(token), { role: 'learner', sub: 'tab', cluster, expMs: now + 5000, scopes: ['p/'], jti: null, iatMs: now });
  const unsigned = unsignedToken({ role: 'admin', sub: 'dev', cluster, expMs: now + 5000 }, now);
  assert.ok(unsigned.endsWith('.'), 'an unsecured JWT has an empty signature');
  assert.is((await unverifiedTokens.verify(unsigned, now)).sub, 'dev');
  assert.is((await unverifiedTokens.verify(token, now)).sub, 'tab', 'an insecure peer takes any alg at its word');
  await rejects(async () => unverifiedTokens.verify(unsigned, now + 5000), codeOf('ERR_TOKEN_EXPIRED'));
});

test('key files: PEM, JWK and JWKS are read; every unusable one is named with its problem', async () => {
  const ed = await generateKeyPair('EdDSA', { extractable: true });
  const pem = await exportSPKI(ed.publicKey);
  const [fromPem] = await parsePublicKeys(pem, 'ed.pem', 'key');
  assert.equal([fromPem!.alg, fromPem!.kid], ['EdDSA', null]);
  const token = await backendJwt(ed.privateKey, 'EdDSA', 'any-kid');
  assert.is((await new JwtVerifier({ publicKeys: [fromPem!] }).verify(token, now)).sub, 'tab-7', 'a PEM key (no kid) is tried for any kid');
  const p256 = await keyPair('ES256', 'e1');
  assert.equal((await parsePublicKeys(JSON.stringify(p256.jwk), 'e1.jwk', 'key')).map((k) => [k.alg, k.kid]), [['ES256', 'e1']]);
  const bad = async (text: string, kind: 'key' | 'jwks', message: RegExp): Promise<void> =>
    rejects(async () => parsePublicKeys(text, 'keys/x', kind), (e) => codeOf('ERR_CONFIG_INVALID', message)(e) && String(e).includes('keys/x'));
  await bad('not a key', 'key', /neither a PEM key nor JSON/);
  await bad(pem, 'jwks', /holds a PEM key, not a JWKS/);
  await bad(JSON.stringify({ keys: [p256.jwk] }), 'key', /holds a JWKS.*--token-jwks/);
  await bad(JSON.stringify(p256.jwk), 'jwks', /holds no "keys" list/);
  await bad(JSON.stringify({ keys: [{ kty: 'RSA', n: 'x', e: 'AQAB' }] }), 'jwks', /holds no key edgeraft can use \(keys\[0\] is kty RSA\)/);
  await bad(JSON.stringify({ kty: 'RSA', n: 'x', e: 'AQAB' }), 'key', /kty RSA: edgeraft verifies EdDSA/);
  await bad('-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----', 'key', /PEM "PRIVATE KEY", not a "PUBLIC KEY".*only the public key/);
  const { privateJwk } = await generateTokenKey('ES256');
  await bad(JSON.stringify(privateJwk), 'key', /is a private key: give peers only the public key/);
  await bad(JSON.stringify({ ...p256.jwk, x: 'AAAA' }), 'key', /the ES256 key does not import/);
  // A JWKS shared with other services: keys edgeraft cannot use are skipped, not fatal.
  const mixed = await parsePublicKeys(JSON.stringify({ keys: [{ kty: 'RSA', n: 'x', e: 'AQAB', kid: 'r' }, p256.jwk] }), 'mixed', 'jwks');
  assert.equal(mixed.map((k) => k.kid), ['e1']);
  await rejects(async () => parseSigningKey(JSON.stringify(p256.jwk), 'pub.jwk'), /is a public key \(no "d"\): minting needs the private key/);
});

test('the SDK and browser bundles read claims without jose (only peers verify)', async () => {
  for (const entry of ['src/client/browser.ts', 'src/client/node.ts', 'src/runtime-browser/index.ts']) {
    const r = await build({
      entryPoints: [entry], bundle: true, write: false, metafile: true, format: 'esm', platform: entry.includes('node') ? 'node' : 'browser',
      external: ['ws', 'cbor-x', 'idb-keyval', '@node-rs/crc32', 'jose'], logLevel: 'silent',
    });
    const users = Object.entries(r.metafile.inputs).filter(([, input]) => input.imports.some((i) => i.path === 'jose')).map(([file]) => file);
    assert.equal(users, [], `${entry} pulls in jose through ${users.join(', ')}`);
  }
});

test.run();
