// A peer's credentials from its files, for every runtime: the cluster secret file (one secret per
// line: the first proves membership and signs HS256 tokens, all are accepted, a rotation's
// overlap) and the public keys that verify app-minted tokens. The runtime passes its file reader
// (Node fs, Deno.readTextFile); every error names the file and the problem.

import { secretBytesMin, secretsMax } from './auth.ts';
import { TransportError } from './errors.ts';
import { JwtVerifier } from './token.ts';
import { parsePublicKeys, tokenAlgs } from './token-keys.ts';
import type { PublicTokenKey, TokenAlg } from './token-keys.ts';

/** Where a peer's credentials come from (the token fields of PeerOptions). */
export interface CredentialSources {
  readonly insecure: boolean;
  /** The secrets already read (the first proves); null: insecure. */
  readonly secret: string | readonly string[] | null;
  /** The file they came from: read again when `reread`. */
  readonly secretFile: string | null;
  readonly tokenPublicKeyFiles: readonly string[];
  readonly tokenJwksFiles: readonly string[];
  readonly tokenAlgs: readonly TokenAlg[];
}

/** Reads a whole text file; rejects when it cannot (the message is put after the file's name). */
export type ReadText = (path: string) => Promise<string>;

function bad(message: string): TransportError {
  return new TransportError('ERR_CONFIG_INVALID', message);
}

/**
 * The secrets of a secret file: one per line (surrounding blanks and empty lines ignored), so a
 * file of one line reads as it always did.
 */
export function parseSecretFile(text: string, path: string): string[] {
  const secrets = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l.length > 0);
  if (secrets.length === 0) throw bad(`--secret-file ${path} is empty: it needs a secret of at least ${secretBytesMin} characters`);
  if (secrets.length > secretsMax) {
    throw bad(`--secret-file ${path} holds ${secrets.length} secrets; at most ${secretsMax} (a rotation needs two: the new one first, then the old one)`);
  }
  for (const [i, s] of secrets.entries()) {
    if (s.length < secretBytesMin) throw bad(`--secret-file ${path}: line ${i + 1} holds ${s.length} characters; a secret needs at least ${secretBytesMin}`);
  }
  return secrets;
}

/** Parses --token-algs: a comma-separated list of EdDSA, ES256, HS256. */
export function parseTokenAlgs(text: string): TokenAlg[] {
  const algs = text.split(',').map((a) => a.trim()).filter((a) => a.length > 0);
  if (algs.length === 0) throw bad(`--token-algs must list at least one of ${tokenAlgs.join(', ')}`);
  for (const a of algs) {
    if (!tokenAlgs.includes(a as TokenAlg)) throw bad(`--token-algs: '${a}' is not one of ${tokenAlgs.join(', ')}`);
  }
  return algs as TokenAlg[];
}

async function readFile(read: ReadText, flag: string, path: string): Promise<string> {
  try {
    return await read(path);
  } catch (err) {
    throw bad(`cannot read ${flag} ${path}: ${(err as { code?: string }).code ?? (err as Error).message}`);
  }
}

/** The secrets of --secret-file `path`, read with `read`; an unreadable or bad file says which and why. */
export async function secretsOf(read: ReadText, path: string): Promise<string[]> {
  return parseSecretFile(await readFile(read, '--secret-file', path), path);
}

/** Reads every key file; the first unusable one fails the whole load (naming it). */
export async function readTokenKeys(o: CredentialSources, read: ReadText): Promise<PublicTokenKey[]> {
  const keys: PublicTokenKey[] = [];
  const files = [
    ...o.tokenPublicKeyFiles.map((f) => ['--token-public-key', f, 'key'] as const),
    ...o.tokenJwksFiles.map((f) => ['--token-jwks', f, 'jwks'] as const),
  ];
  for (const [flag, path, kind] of files) keys.push(...await parsePublicKeys(await readFile(read, flag, path), `${flag} ${path}`, kind));
  return keys;
}

/**
 * What Mesh.start and Mesh.rekey take: the secrets and the token verifier (HS256 with the secrets
 * when --token-algs lists it, EdDSA/ES256 with the key files); an insecure peer has neither.
 * `reread` reads --secret-file again (a reload). A list of algs no key can serve is an error, so a
 * typo in a flag does not silently refuse every token.
 */
export async function loadCredentials(o: CredentialSources, read: ReadText, reread: boolean): Promise<{
  readonly secret?: readonly string[]; readonly tokenVerifier?: JwtVerifier;
}> {
  if (o.insecure || o.secret === null) return {};
  const secrets = reread && o.secretFile !== null ? await secretsOf(read, o.secretFile)
    : typeof o.secret === 'string' ? [o.secret] : o.secret;
  const keys = await readTokenKeys(o, read);
  if (keys.length > 0 && !keys.some((k) => o.tokenAlgs.includes(k.alg))) {
    throw bad(`the token key files hold only ${[...new Set(keys.map((k) => k.alg))].join(', ')} keys, which --token-algs ${o.tokenAlgs.join(',')} leaves out`);
  }
  if (!o.tokenAlgs.includes('HS256') && keys.length === 0) {
    throw bad(`--token-algs ${o.tokenAlgs.join(',')} leaves out HS256, so tokens need public keys: give --token-public-key or --token-jwks`);
  }
  return { secret: secrets, tokenVerifier: new JwtVerifier({ algs: o.tokenAlgs, secrets, publicKeys: keys }) };
}
