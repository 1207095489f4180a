// cluster.json for the native Deno peer: the same file and checks as the Node peer's
// (server/cluster-meta-format.ts), read and written with Deno's file API (atomically: tmp, fsync,
// rename, directory fsync).

import { formatMeta, metaFileName, parseMeta, type ClusterMeta, type MetaFiles } from '../server/cluster-meta-format.ts';

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

export const denoMetaFiles: MetaFiles = { readMeta, writeMeta };
