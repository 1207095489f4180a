// The entry columns of an append (and of a Merge reply): terms, kinds, lens, one blob of every
// payload, and the conf changes, as envelope.ts lays them out. Sized exactly, then written; the
// leader keeps what it wrote in EntryRuns (entry-runs.ts) to write each batch once.

import { assert } from '../core/assert.ts';
import type { Entry } from '../core/types.ts';
import { headBytes, textItem } from './cbor-writer.ts';
import type { CborWriter } from './cbor-writer.ts';
import { confTypeCodes, entryTypeCodes } from './envelope.ts';

/** Bytes of the entry columns terms, kinds, lens, blob, confs (each entry's index is elsewhere). */
export function columnsBytes(es: readonly Entry[]): number {
  const n = es.length;
  let size = 0;
  let total = 0;
  let allNormal = true;
  let confs = 0;
  for (let i = 0; i < n; i++) {
    const e = es[i]!;
    const len = e.data.byteLength;
    size += headBytes(e.term) + headBytes(len);
    total += len;
    if (e.type !== 'normal') allNormal = false;
    if (e.type === 'config') {
      if (e.conf === undefined) assert(false, `config entry ${e.index} has no conf`);
      confs += 1;
      size += 2 + textItem(e.conf.node).byteLength;
    }
  }
  // Array heads of terms and lens; kinds is empty when every entry is normal, else one code each.
  size += 2 * headBytes(n) + (allNormal ? 1 : headBytes(n) + n);
  size += headBytes(total) + total + headBytes(confs);
  return size;
}

/** terms, kinds (empty when every entry is normal), lens, blob, confs. */
export function writeColumns(w: CborWriter, es: readonly Entry[]): void {
  const n = es.length;
  w.array(n);
  let total = 0;
  let allNormal = true;
  let confs = 0;
  for (let i = 0; i < n; i++) {
    const e = es[i]!;
    w.uint(e.term);
    total += e.data.byteLength;
    if (e.type !== 'normal') allNormal = false;
    if (e.type === 'config') confs += 1;
  }
  if (allNormal) {
    w.array(0);
  } else {
    w.array(n);
    for (let i = 0; i < n; i++) w.uint(entryTypeCodes[es[i]!.type]);
  }
  w.array(n);
  for (let i = 0; i < n; i++) w.uint(es[i]!.data.byteLength);
  w.head(2, total);
  for (let i = 0; i < n; i++) w.raw(es[i]!.data);
  w.array(confs);
  for (let i = 0; i < n; i++) {
    const conf = es[i]!.conf;
    if (es[i]!.type !== 'config' || conf === undefined) continue;
    w.array(2);
    w.uint(confTypeCodes[conf.type]);
    w.raw(textItem(conf.node));
  }
}
