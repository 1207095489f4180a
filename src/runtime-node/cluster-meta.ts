// The small file that tells a data directory whose it is: cluster id, member id, the membership
// it was bootstrapped with and the peer addresses first given. Written once, atomically, on the
// first start; later starts check it and never silently adopt a different cluster or id.

import { mkdir, readFile, rename, writeFile, open } from 'node:fs/promises';
import { join } from 'node:path';
import { formatMeta, metaFileName, MetaError, parseMeta, type ClusterMeta } from '../server/cluster-meta-format.ts';

export { MetaError, type ClusterMeta };

export async function readMeta(dir: string): Promise<ClusterMeta | null> {
  const path = join(dir, metaFileName);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  return parseMeta(text, path);
}

export async function writeMeta(dir: string, meta: ClusterMeta): Promise<void> {
  await mkdir(dir, { recursive: true });
  const path = join(dir, metaFileName);
  const tmp = `${path}.tmp`;
  await writeFile(tmp, formatMeta(meta));
  const fh = await open(tmp, 'r');
  await fh.sync();
  await fh.close();
  await rename(tmp, path);
  const d = await open(dir, 'r');
  await d.sync();
  await d.close();
}
