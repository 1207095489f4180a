// What cluster.json says and how it is checked, with the runtime's file I/O passed in, so the Node
// peer (runtime-node/cluster-meta.ts) and the native Deno peer (runtime-deno/deno-meta.ts) read it
// the same way.

import { CodedError } from '../core/coded-error.ts';
import type { ConfState } from '../core/types.ts';
import type { Logger } from '../transport/transport.ts';

export const metaFileName = 'cluster.json';

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

/** The file's text as a ClusterMeta, or a MetaError naming `path`. */
export function parseMeta(text: string, path: string): ClusterMeta {
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

export function formatMeta(meta: ClusterMeta): string {
  return `${JSON.stringify(meta, null, 2)}\n`;
}

/** What a starting peer was told, to compare with (or write as) its data directory's file. */
export interface MetaWanted {
  readonly id: string;
  readonly cluster: string;
  readonly mode: 'raft' | 'parallel';
  /** A new member of an existing cluster: bootstraps no membership. */
  readonly join: boolean;
  readonly peers: Readonly<Record<string, string>>;
  readonly dataDir: string;
}

/** The file a first start writes. */
export function newMeta(w: MetaWanted): ClusterMeta {
  const voters = w.join ? [] : Object.keys(w.peers).sort();
  return { format: 1, cluster: w.cluster, id: w.id, bootstrap: { voters, learners: [] }, peers: w.peers, mode: w.mode };
}

/**
 * Refuses (MetaError) a directory of another member, cluster or mode; returns whether the --peers
 * given differ from the stored ones (they are ignored then: membership lives in the log).
 */
export function checkMeta(found: ClusterMeta, w: MetaWanted): { readonly peersIgnored: boolean } {
  if (found.id !== w.id) throw new MetaError(`${w.dataDir} belongs to member '${found.id}', not '${w.id}'`);
  if (found.cluster !== w.cluster) throw new MetaError(`${w.dataDir} belongs to cluster '${found.cluster}', not '${w.cluster}'`);
  if (found.mode !== w.mode) throw new MetaError(`${w.dataDir} was created in --mode ${found.mode}, not ${w.mode}`);
  const given = JSON.stringify(Object.entries(w.peers).sort());
  return { peersIgnored: Object.keys(w.peers).length > 0 && given !== JSON.stringify(Object.entries(found.peers).sort()) };
}

/** The runtime's reading and atomic writing of cluster.json in a data directory. */
export interface MetaFiles {
  /** The file's contents, or null when the directory has none yet. */
  readMeta(dir: string): Promise<ClusterMeta | null>;
  writeMeta(dir: string, meta: ClusterMeta): Promise<void>;
}

/** Bootstraps the data directory's identity on first start; checks it on later ones. */
export async function openMeta(w: MetaWanted, log: Logger, files: MetaFiles): Promise<ClusterMeta> {
  const found = await files.readMeta(w.dataDir);
  if (found === null) {
    const meta = newMeta(w);
    await files.writeMeta(w.dataDir, meta);
    log('info', w.join ? 'new data directory: joining an existing cluster' : 'new data directory: bootstrapping the cluster', { voters: meta.bootstrap.voters });
    return meta;
  }
  if (checkMeta(found, w).peersIgnored) {
    log('warn', 'ignoring --peers: this data directory already belongs to a cluster, whose membership lives in its log', { stored: found.peers, given: w.peers });
  }
  return found;
}
