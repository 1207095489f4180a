// cluster.json for the native Deno peer: the same file and checks as the Node peer's
// (cluster-meta-format.ts), read and written with Deno's file API (atomically: tmp, fsync, rename,
// directory fsync).

import { checkMeta, formatMeta, metaFileName, newMeta, parseMeta, type ClusterMeta, type MetaWanted } from '../runtime-node/cluster-meta-format.ts';
import type { Logger } from '../transport/transport.ts';

async function readMeta(dir: string): Promise<ClusterMeta | null> {
  const path = `${dir}/${metaFileName}`;
  try {
    return parseMeta(await Deno.readTextFile(path), path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return null;
    throw err;
  }
}

async function writeMeta(dir: string, meta: ClusterMeta): Promise<void> {
  const path = `${dir}/${metaFileName}`;
  const f = await Deno.open(`${path}.tmp`, { write: true, create: true, truncate: true });
  try {
    const bytes = new TextEncoder().encode(formatMeta(meta));
    for (let at = 0; at < bytes.byteLength;) at += await f.write(bytes.subarray(at));
    await f.sync();
  } finally {
    f.close();
  }
  await Deno.rename(`${path}.tmp`, path);
  const d = await Deno.open(dir, { read: true });
  try {
    await d.sync();
  } finally {
    d.close();
  }
}

/** Bootstraps the data directory's identity on first start; checks it on later ones. */
export async function openMeta(w: MetaWanted, log: Logger): Promise<ClusterMeta> {
  const found = await readMeta(w.dataDir);
  if (found === null) {
    const meta = newMeta(w);
    await writeMeta(w.dataDir, meta);
    log('info', w.join ? 'new data directory: joining an existing cluster' : 'new data directory: bootstrapping the cluster', { voters: meta.bootstrap.voters });
    return meta;
  }
  if (checkMeta(found, w).peersIgnored) {
    log('warn', 'ignoring --peers: this data directory already belongs to a cluster, whose membership lives in its log', { stored: found.peers, given: w.peers });
  }
  return found;
}
