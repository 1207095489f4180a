// Deterministic payloads for the WAL crash tests: the child writes them, the parent checks every
// byte after each kill. Sizes vary (mostly small, some 20 KB, a few 300 KB) so that group writes
// cross pages and segment boundaries.
import type { Entry, Snapshot } from '../../src/core/types.ts';

/** Entry data is a function of its index, so a verifier can check every byte. */
export function crashEntryBytes(index: number): number {
  if (index % 997 === 0) return 300_000 + (index % 7) * 1000;
  if (index % 61 === 0) return 20_000;
  return 16 + ((index * 2654435761) >>> 0) % 1200;
}

export function crashEntry(index: number): Entry {
  const data = new Uint8Array(crashEntryBytes(index));
  let x = index >>> 0;
  for (let k = 0; k < data.length; k++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    data[k] = x >>> 24;
  }
  return { index, term: 1, type: 'normal', data };
}

export function crashSnapshot(index: number): Snapshot {
  const data = new Uint8Array(64);
  for (let k = 0; k < data.length; k++) data[k] = (index + k) & 0xff;
  return { meta: { index, term: 1, conf: { voters: ['a'], learners: [] } }, data };
}

