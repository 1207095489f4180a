// A peer's secrets and token verifier from its files (transport/credentials.ts), as Mesh.start and
// Mesh.rekey take them, for every runtime: the runtime passes its file reader and, where it can
// tell, a warning for a secret file others may read. Errors are CredentialFileError, a
// PeerOptionError: the CLI exits 2 for it at start; a reload logs it and keeps the previous keys.

import { loadCredentials, secretsOf, type CredentialSources, type ReadText } from '../transport/credentials.ts';
import { TransportError } from '../transport/errors.ts';
import type { JwtVerifier } from '../transport/token.ts';
import { PeerOptionError } from './peer-options.ts';

/** A credentials file that cannot be used: the message names the file and the problem. */
export class CredentialFileError extends PeerOptionError {}

/** transport/credentials.ts's TransportError as a CredentialFileError; anything else unchanged. */
export function credentialFileError(err: unknown): unknown {
  return err instanceof TransportError ? new CredentialFileError(err.message) : err;
}

/** What Mesh.start and Mesh.rekey take. */
export interface MeshCredentials {
  readonly secret?: readonly string[];
  readonly tokenVerifier?: JwtVerifier;
}

/** Says whether a file is readable by others (Node: its mode bits); null when it is not, or the runtime cannot tell. */
export type FileWarning = (path: string) => string | null;

/**
 * The peer's secrets and token verifier from `read`'s files; `reread` reads --secret-file again
 * (a reload). `warnings` for the log: a reloaded secret file others may read.
 */
export async function peerCredentials(o: CredentialSources, read: ReadText, reread: boolean, fileWarning: FileWarning = () => null): Promise<{
  readonly credentials: MeshCredentials; readonly warnings: readonly string[];
}> {
  try {
    const credentials = await loadCredentials(o, read, reread);
    const warning = reread && o.secretFile !== null && credentials.secret !== undefined ? fileWarning(o.secretFile) : null;
    return { credentials, warnings: warning !== null ? [warning] : [] };
  } catch (err) {
    throw credentialFileError(err);
  }
}

/** The secrets of --secret-file (one per line), read with `read`. */
export async function readSecrets(path: string, read: ReadText): Promise<string[]> {
  try {
    return await secretsOf(read, path);
  } catch (err) {
    throw credentialFileError(err);
  }
}
