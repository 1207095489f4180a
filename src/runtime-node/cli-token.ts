// `edgeraft token`: mint a JWT for a client, reader, learner or admin (signed with an app
// backend's private key, or HS256 with the cluster secret for local use), `token keygen` for a
// signing key pair, and `token revoke`. Claims as token-claims.ts maps them (docs/operations.md).

import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { base64url, mintToken, parseSigningKey, readClaims, signToken, tokenRoles, generateTokenKey } from '../transport/token.ts';
import type { KeyAlg, SigningKey, TokenClaimsInput, TokenRole } from '../transport/token.ts';
import { duration, opt, parse, required, UsageError } from './cli-args.ts';
import type { ConnectFn } from './cli-kv.ts';
import { CredentialFileError, readSecretFile } from './token-files.ts';

export const tokenHelp = {
  mint: `usage: edgeraft token --role ROLE [--sub NAME] [--ttl 1h] [--cluster NAME] [--prefix P]...
                      (--key PRIVATE_KEY_FILE [--kid ID] | --secret-file FILE)
       edgeraft token keygen --alg EdDSA|ES256 [--kid ID] --out DIR
       edgeraft token revoke ...        (edgeraft token revoke --help)

Prints a JWT (docs/operations.md "Tokens: JWTs, keys and rotation").

  --role ROLE          client: reads and writes; reader: reads only; learner: a browser
                       follower-reader; admin: a client that may also change membership and
                       move leadership
  --sub NAME           the subject: the id the holder connects as (default: the role)
  --ttl DURATION       how long it is valid: 30s, 15m, 1h (default), 7d
  --cluster NAME       the cluster it is for, its audience (aud; default edgeraft)
  --prefix P           limit it to keys that start with P (repeatable: any of them); without
                       it the token covers every key. A scoped token cannot hold a
                       follower-reader link (a replica receives every key): use the SDK
  --key FILE           sign with this private key (JWK or PEM PKCS#8, EdDSA or ES256, as
                       \`edgeraft token keygen\` writes): peers verify it with the public key
                       (edgeraft peer --token-jwks or --token-public-key)
  --kid ID             the key id put in the header (default: the key file's kid)
  --secret-file FILE   sign with the cluster secret instead (HS256, the file's first secret):
                       for local use, where peers accept HS256 (their --token-algs)

Each token carries a random id (jti), by which \`edgeraft token revoke\` can revoke it alone.
`,
  revoke: `usage: edgeraft token revoke (--sub NAME | --id JTI | --token T) --peers HOST:PORT,...
                             (--admin-token ADMIN_TOKEN | --secret-file FILE) [--ca FILE] [--json]

Revokes tokens through the cluster's log (docs/operations.md "Scoped tokens and revocation"):

  --sub NAME           every token of subject NAME issued until now (tokens minted later,
                       from the next second on, are good)
  --id JTI             the one token with this id (its jti)
  --token T            the one token T (its id and expiry are read from it)
  --admin-token T      the admin token to connect with (or EDGERAFT_TOKEN; or --secret-file)

When it returns the leader refuses the revoked tokens, and so does every member for writes and
linearizable reads; other requests at a follower are refused within its apply lag. Open
connections holding them are closed. The cluster forgets a revocation once every token it
covers has expired: a token's own expiry (--token), else the peers' --token-ttl-max-ms after it.
`,
  keygen: `usage: edgeraft token keygen --alg EdDSA|ES256 [--kid ID] --out DIR

Writes a new token signing key pair into DIR (created if missing):
  DIR/KID.private.jwk.json   the private key (mode 0600): for the app backend, or --key
  DIR/jwks.json              the public keys (a JWKS) for the peers' --token-jwks; when it
                             exists already, the new key is added to it (a rotation's overlap)

  --alg ALG            EdDSA (Ed25519) or ES256 (P-256)
  --kid ID             the key id (default: derived from the key, RFC 7638 thumbprint)
  --out DIR            where to write the files
`,
};

export async function tokenCommand(argv: readonly string[], connect: ConnectFn): Promise<number> {
  switch (argv[0]) {
    case 'keygen': return keygenCommand(argv.slice(1));
    case 'revoke': return revokeCommand(argv.slice(1), connect);
    default: return mintCommand(argv);
  }
}

async function mintCommand(argv: readonly string[]): Promise<number> {
  const { values } = parse(argv, {
    role: { type: 'string' }, sub: { type: 'string' }, ttl: { type: 'string' }, cluster: { type: 'string' },
    prefix: { type: 'string', multiple: true }, key: { type: 'string' }, kid: { type: 'string' }, 'secret-file': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help === true) return print(tokenHelp.mint);
  const role = required(values, 'role') as TokenRole;
  if (!tokenRoles.includes(role)) throw new UsageError(`--role must be one of ${tokenRoles.join(', ')} (got '${role}')`);
  const ttlMs = duration(opt(values, 'ttl') ?? '1h', 'ttl');
  const prefixes = (values.prefix as unknown as string[] | undefined) ?? [];
  if (prefixes.some((p) => p.length === 0)) throw new UsageError('--prefix must not be empty (leave it out for a token that covers every key)');
  const keyFile = opt(values, 'key');
  const secretFile = opt(values, 'secret-file');
  if ((keyFile === undefined) === (secretFile === undefined)) throw new UsageError('give one of --key PRIVATE_KEY_FILE (an app key) or --secret-file FILE (HS256 with the cluster secret)');
  if (opt(values, 'kid') !== undefined && keyFile === undefined) throw new UsageError('--kid goes with --key (HS256 tokens name no key)');
  const claims: TokenClaimsInput = {
    role, sub: opt(values, 'sub') ?? role, cluster: opt(values, 'cluster') ?? 'edgeraft', expMs: Date.now() + ttlMs,
    scopes: prefixes.length > 0 ? prefixes : null, jti: randomId(),
  };
  const token = keyFile !== undefined
    ? await signToken(await signingKey(keyFile), claims, Date.now(), opt(values, 'kid'))
    : await mintToken(await readSecret(secretFile!), claims);
  process.stdout.write(`${token}\n`);
  return 0;
}

async function keygenCommand(argv: readonly string[]): Promise<number> {
  const { values } = parse(argv, { alg: { type: 'string' }, kid: { type: 'string' }, out: { type: 'string' }, help: { type: 'boolean', short: 'h' } });
  if (values.help === true) return print(tokenHelp.keygen);
  const alg = required(values, 'alg');
  if (alg !== 'EdDSA' && alg !== 'ES256') throw new UsageError(`--alg must be EdDSA or ES256 (got '${alg}')`);
  const dir = required(values, 'out');
  const kidFlag = opt(values, 'kid');
  if (kidFlag !== undefined && !/^[A-Za-z0-9._-]{1,64}$/.test(kidFlag)) throw new UsageError(`--kid must be 1 to 64 letters, digits, . _ - (it names a file; got '${kidFlag}')`);
  const jwksPath = join(dir, 'jwks.json');
  const jwks = existsSync(jwksPath) ? readJwks(jwksPath) : { keys: [] };
  const { privateJwk, publicJwk, kid } = await generateTokenKey(alg as KeyAlg, kidFlag);
  if (jwks.keys.some((k) => k.kid === kid)) throw new UsageError(`${jwksPath} already holds a key with kid ${kid}: choose another --kid`);
  mkdirSync(dir, { recursive: true });
  const privatePath = join(dir, `${kid}.private.jwk.json`);
  writeFileSync(privatePath, `${JSON.stringify(privateJwk, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
  writeFileSync(jwksPath, `${JSON.stringify({ keys: [...jwks.keys, publicJwk] }, null, 2)}\n`);
  process.stdout.write(`${alg} key ${kid}\n  private key: ${privatePath} (mode 0600; keep it on the app backend)\n  public keys: ${jwksPath} (${jwks.keys.length + 1} key${jwks.keys.length === 0 ? '' : 's'}; give it to every peer: --token-jwks)\n`);
  return 0;
}

/**
 * `edgeraft token revoke`: revokes a subject's tokens, or one token by its id, through the log
 * (KvClient.revokeTokens); the admin token it connects with comes from --admin-token, or
 * EDGERAFT_TOKEN, or is minted from --secret-file.
 */
async function revokeCommand(argv: readonly string[], connect: ConnectFn): Promise<number> {
  const { values } = parse(argv, {
    sub: { type: 'string' }, id: { type: 'string' }, token: { type: 'string' }, 'admin-token': { type: 'string' },
    peers: { type: 'string' }, 'secret-file': { type: 'string' }, ca: { type: 'string' }, timeout: { type: 'string' },
    json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
  });
  if (values.help === true) return print(tokenHelp.revoke);
  const which = revokeTarget(opt(values, 'sub'), opt(values, 'id'), opt(values, 'token'));
  // The admin token connects; --token names the token revoked.
  const kv = await connect({ ...values, token: opt(values, 'admin-token') }, 'admin');
  try {
    const r = await kv.revokeTokens(which);
    const what = r.by === 'sub' ? `every token of subject ${JSON.stringify(r.name)} issued until ${new Date(r.revokedAtMs).toISOString()}` : `the token with id ${JSON.stringify(r.name)}`;
    process.stdout.write(values.json === true ? `${JSON.stringify(r)}\n`
      : `revoked ${what} (log index ${r.index}); the cluster forgets this revocation at ${new Date(r.untilMs).toISOString()}, when every token it covers has expired\n`);
    return 0;
  } finally {
    await kv.close();
  }
}

/** What `token revoke` names: exactly one of a subject, a token id, or a token (its id, read unverified). */
function revokeTarget(sub: string | undefined, id: string | undefined, token: string | undefined): { sub: string } | { jti: string; expMs?: number } {
  const given = [sub !== undefined ? '--sub' : null, id !== undefined ? '--id' : null, token !== undefined ? '--token' : null].filter((x) => x !== null);
  if (given.length !== 1) throw new UsageError(`token revoke needs exactly one of --sub NAME, --id JTI or --token T (got ${given.length === 0 ? 'none' : given.join(' and ')})`);
  if (sub !== undefined) return { sub };
  if (id !== undefined) return { jti: id };
  let claims;
  try {
    claims = readClaims(token!);
  } catch (err) {
    throw new UsageError(`--token is not a token this command can read: ${(err as Error).message}`);
  }
  if (claims.jti === null) throw new UsageError(`--token carries no id (jti) to revoke it by: revoke its subject instead (--sub ${claims.sub})`);
  return { jti: claims.jti, expMs: claims.expMs };
}

async function signingKey(path: string): Promise<SigningKey> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read --key ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  try {
    return await parseSigningKey(text, `--key ${path}`);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/** The first secret of a --secret-file (the one to sign with), as a usage error when it cannot be read. */
export async function readSecret(path: string): Promise<string> {
  try {
    const { secrets, warning } = await readSecretFile(path);
    if (warning !== null) process.stderr.write(`edgeraft: warning: ${warning}\n`);
    return secrets[0]!;
  } catch (err) {
    if (err instanceof CredentialFileError) throw new UsageError(err.message);
    throw err;
  }
}

function readJwks(path: string): { keys: Array<{ kid?: unknown }> } {
  try {
    const jwks = JSON.parse(readFileSync(path, 'utf8')) as { keys?: unknown };
    if (!Array.isArray(jwks.keys)) throw new Error('it has no "keys" list');
    return { keys: jwks.keys as Array<{ kid?: unknown }> };
  } catch (err) {
    throw new UsageError(`${path} exists but is not a JWKS to add the new key to: ${(err as Error).message}`);
  }
}

/** 128 random bits: a jti no two tokens share. */
function randomId(): string {
  return base64url(crypto.getRandomValues(new Uint8Array(16)));
}

function print(text: string): number {
  process.stdout.write(text);
  return 0;
}
