// The small file that tells a data directory whose it is: cluster id, member id, the membership
// it was bootstrapped with and the peer addresses first given. Written once, atomically, on the
// first start; later starts check it and never silently adopt a different cluster or id.

import { mkdir, readFile, rename, writeFile, open } from 'node:fs/promises';
import { join } from 'node:path';
import { CodedError } from '../core/coded-error.ts';
import type { ConfState } from '../core/types.ts';

export interface ClusterMeta {
  readonly format: 1;
  readonly cluster: string;
  readonly id: string;
  /** Membership at bootstrap; empty voters for a member that joined an existing cluster. */
  readonly bootstrap: ConfState;
  /** Peer addresses as first given (later changes travel through the log). */
  readonly peers: Readonly<Record<string, string>>;
  readonly mode: 'raft' | 'parallel';
}

/**
 * cluster.json is damaged, foreign, or names another member, cluster or mode: the same refusal as
 * IdbStore's for a database that is not this member's, hence the same code.
 */
export class MetaError extends CodedError<'ERR_STORE_CORRUPT'> {
  override readonly name = 'MetaError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_STORE_CORRUPT', message, options);
  }
}

export async function readMeta(dir: string): Promise<ClusterMeta | null> {
  const path = join(dir, 'cluster.json');
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  let m: unknown;
  try {
    m = JSON.parse(text);
  } catch {
    throw new MetaError(`${path} is not valid JSON: the data directory is damaged`);
  }
  const meta = m as Partial<ClusterMeta>;
  if (meta.format !== 1 || typeof meta.cluster !== 'string' || typeof meta.id !== 'string' || typeof meta.bootstrap !== 'object' ||
    meta.bootstrap === null || !Array.isArray(meta.bootstrap.voters) || typeof meta.peers !== 'object' || meta.peers === null) {
    throw new MetaError(`${path} does not look like an edgeraft cluster file (format ${String(meta.format)})`);
  }
  return { ...meta, mode: meta.mode ?? 'raft' } as ClusterMeta;
}

export async function writeMeta(dir: string, meta: ClusterMeta): Promise<void> {
  await mkdir(dir, { recursive: true });
  const path = join(dir, 'cluster.json');
  const tmp = `${path}.tmp`;
  await writeFile(tmp, `${JSON.stringify(meta, null, 2)}\n`);
  const fh = await open(tmp, 'r');
  await fh.sync();
  await fh.close();
  await rename(tmp, path);
  const d = await open(dir, 'r');
  await d.sync();
  await d.close();
}
