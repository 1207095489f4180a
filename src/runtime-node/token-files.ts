// The Node peer's side of server/peer-credentials.ts: files read with node:fs, a warning for a
// secret file others can read, and errors as CredentialFileError (a PeerOptionError: the CLI
// exits 2 for it at start; Peer.reload() logs it and keeps the previous keys).

import { statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { CredentialSources } from '../transport/credentials.ts';
import { CredentialFileError, peerCredentials, readSecrets, type MeshCredentials } from '../server/peer-credentials.ts';

export { CredentialFileError };

/** A warning for a secret file group or others may read; null when only its owner can. */
export function secretFileModeWarning(path: string): string | null {
  return (statSync(path).mode & 0o077) !== 0 ? `${path} is readable by group or others (chmod 600 it)` : null;
}

/** Reads a secret file; `warning` says when group or others may read it. */
export async function readSecretFile(path: string): Promise<{ readonly secrets: string[]; readonly warning: string | null }> {
  return { secrets: await readSecrets(path, (p) => readFile(p, 'utf8')), warning: secretFileModeWarning(path) };
}

/**
 * The peer's secrets and token verifier (server/peer-credentials.ts) from Node files, as
 * Mesh.start and Mesh.rekey take them; `warnings` for the log (a reload's secret file).
 */
export function meshCredentials(o: CredentialSources, reread: boolean): Promise<{
  readonly credentials: MeshCredentials; readonly warnings: readonly string[];
}> {
  return peerCredentials(o, (path) => readFile(path, 'utf8'), reread, secretFileModeWarning);
}
