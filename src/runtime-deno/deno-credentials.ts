// The native Deno peer's cluster secrets and token verifier, read with Deno's file API: the same
// rules as the Node peer's (runtime-node/token-files.ts): a secret file of one secret per line
// (the first proves membership and signs HS256 tokens; all are accepted: a rotation's overlap), and
// public keys (PEM or JWKS) that verify EdDSA / ES256 tokens. jose runs on Web Crypto here.

import { secretBytesMin, secretsMax } from '../transport/auth.ts';
import { JwtVerifier } from '../transport/token.ts';
import { parsePublicKeys, type PublicTokenKey } from '../transport/token-keys.ts';
import { PeerOptionError, type PeerOptions } from '../runtime-node/peer-options.ts';

async function readText(flag: string, path: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (err) {
    throw new PeerOptionError(`cannot read ${flag} ${path}: ${(err as Error).message}`);
  }
}

/** The secrets of --secret-file, one per line. */
export async function readSecrets(path: string): Promise<string[]> {
  const secrets = (await readText('--secret-file', path)).split(/\r?\n/).map((l) => l.trim()).filter((l) => l.length > 0);
  if (secrets.length === 0) throw new PeerOptionError(`--secret-file ${path} is empty: it needs a secret of at least ${secretBytesMin} characters`);
  if (secrets.length > secretsMax) throw new PeerOptionError(`--secret-file ${path} holds ${secrets.length} secrets; at most ${secretsMax} (a rotation needs two: the new one first, then the old one)`);
  secrets.forEach((s, i) => {
    if (s.length < secretBytesMin) throw new PeerOptionError(`--secret-file ${path}: line ${i + 1} holds ${s.length} characters; a secret needs at least ${secretBytesMin}`);
  });
  return secrets;
}

/** What Mesh.start takes: the secrets, and the verifier of client and learner tokens (none when insecure). */
export async function denoCredentials(o: PeerOptions): Promise<{ readonly secret?: readonly string[]; readonly tokenVerifier?: JwtVerifier }> {
  if (o.insecure || o.secret === null) return {};
  const secrets = typeof o.secret === 'string' ? [o.secret] : [...o.secret];
  const keys: PublicTokenKey[] = [];
  const files = [...o.tokenPublicKeyFiles.map((f) => ['--token-public-key', f, 'key'] as const), ...o.tokenJwksFiles.map((f) => ['--token-jwks', f, 'jwks'] as const)];
  for (const [flag, path, kind] of files) {
    const text = await readText(flag, path);
    try {
      keys.push(...await parsePublicKeys(text, `${flag} ${path}`, kind));
    } catch (err) {
      throw new PeerOptionError((err as Error).message);
    }
  }
  if (!o.tokenAlgs.includes('HS256') && keys.length === 0) {
    throw new PeerOptionError(`--token-algs ${o.tokenAlgs.join(',')} leaves out HS256, so tokens need public keys: give --token-public-key or --token-jwks`);
  }
  return { secret: secrets, tokenVerifier: new JwtVerifier({ algs: o.tokenAlgs, secrets, publicKeys: keys }) };
}
