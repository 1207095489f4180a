// The Node peer's side of transport/credentials.ts: files read with node:fs, a warning for a
// secret file others can read, and errors as CredentialFileError (a PeerOptionError: the CLI
// exits 2 for it at start; Peer.reload() logs it and keeps the previous keys).

import { readFileSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { loadCredentials, parseSecretFile, parseTokenAlgs } from '../transport/credentials.ts';
import type { CredentialSources } from '../transport/credentials.ts';
import { TransportError } from '../transport/errors.ts';
import type { JwtVerifier, TokenAlg } from '../transport/token.ts';
import { PeerOptionError } from './peer-options.ts';

/** A credentials file that cannot be used: the message names the file and the problem. */
export class CredentialFileError extends PeerOptionError {}

function wrapped(err: unknown): unknown {
  return err instanceof TransportError ? new CredentialFileError(err.message) : err;
}

function modeWarning(path: string): string | null {
  return (statSync(path).mode & 0o077) !== 0 ? `${path} is readable by group or others (chmod 600 it)` : null;
}

/** Reads a secret file; `warning` says when group or others may read it. */
export function readSecretFile(path: string): { readonly secrets: string[]; readonly warning: string | null } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new CredentialFileError(`cannot read --secret-file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  try {
    return { secrets: parseSecretFile(text, path), warning: modeWarning(path) };
  } catch (err) {
    throw wrapped(err);
  }
}

/** --token-algs, as a CredentialFileError when it names an unknown alg. */
export function tokenAlgsFlag(text: string): TokenAlg[] {
  try {
    return parseTokenAlgs(text);
  } catch (err) {
    throw wrapped(err);
  }
}

/**
 * The peer's secrets and token verifier (transport/credentials.ts loadCredentials) from Node
 * files, as Mesh.start and Mesh.rekey take them; `warnings` for the log (a reload's secret file).
 */
export async function meshCredentials(o: CredentialSources, reread: boolean): Promise<{
  readonly credentials: { readonly secret?: readonly string[]; readonly tokenVerifier?: JwtVerifier }; readonly warnings: readonly string[];
}> {
  try {
    const credentials = await loadCredentials(o, (path) => readFile(path, 'utf8'), reread);
    const warning = reread && o.secretFile !== null && credentials.secret !== undefined ? modeWarning(o.secretFile) : null;
    return { credentials, warnings: warning !== null ? [warning] : [] };
  } catch (err) {
    throw wrapped(err);
  }
}
