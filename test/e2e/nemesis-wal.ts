// WAL tail damage for the nemesis: on a STOPPED peer, truncate (a torn write, possibly mid-record)
// or corrupt (flip bytes in) the last few records of the last segment. This models a torn write,
// not a lost disk: only trailing entry records and hard-state records that keep the same term and
// vote are touched (so no vote is ever forgotten), and the caller damages one member at a time and
// only once a quorum of the others holds every entry it removes (see safeIndex in nemesis.ts).

import { openSync, closeSync, ftruncateSync, readFileSync, readdirSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { SeededPrng } from '../../src/core/prng.ts';
import { checkRecord, decodeEntryHead, decodeHardState, RecordType } from '../../src/runtime-node/wal-format.ts';

export type WalDamageKind = 'truncate' | 'corrupt';

interface Rec {
  readonly off: number;
  readonly end: number;
  readonly type: number;
  /** Entry index (entries) or -1. */
  readonly index: number;
  /** term/vote of a hard state, as text, or null. */
  readonly vote: string | null;
}

/** What can be damaged: the last segment and its records that may be removed (oldest first). */
export interface DamagePlan {
  readonly path: string;
  readonly removable: readonly Rec[];
}

export interface DamageDone {
  readonly kind: WalDamageKind;
  readonly path: string;
  readonly records: number;
  /** Highest entry index among the removed records (0 if only hard states were removed). */
  readonly maxIndex: number;
  /** Byte offset where the damage starts. */
  readonly offset: number;
  readonly detail: string;
  /** Recovery must find a torn tail (a clean cut at a record boundary looks like a shorter log). */
  readonly torn: boolean;
}

/** The WAL directory of a peer's data dir (Peer.start opens DATA/wal). */
export function walDir(dataDir: string): string {
  return join(dataDir, 'wal');
}

function lastSegment(dir: string): string | null {
  const names = readdirSync(dir).filter((n) => /^\d{16}\.wal$/.test(n)).sort();
  const last = names.at(-1);
  return last === undefined ? null : join(dir, last);
}

function parse(b: Uint8Array): Rec[] {
  const recs: Rec[] = [];
  for (let off = 0; ;) {
    const r = checkRecord(b, off, b.length);
    if (r.kind !== 'ok') return recs;
    let index = -1;
    let vote: string | null = null;
    if (r.type === RecordType.entry) index = decodeEntryHead(b, r.start, r.end).index;
    if (r.type === RecordType.hardState) {
      const hs = decodeHardState(b, r.start, r.end);
      vote = `${hs.term}/${hs.vote ?? '-'}`;
    }
    recs.push({ off, end: r.end, type: r.type, index, vote });
    off = r.end;
  }
}

/**
 * The trailing records of the last segment that may go: entries, and hard states with the same
 * term and vote as the last hard state that stays (losing one only moves commit back, which Raft
 * allows). Never the segment header, a snapshot reference, or a record before the last of those.
 */
export function planDamage(dataDir: string): DamagePlan | null {
  const path = lastSegment(walDir(dataDir));
  if (path === null) return null;
  const recs = parse(readFileSync(path));
  let keep = 0;
  for (let k = 0; k < recs.length; k++) {
    const t = recs[k]!.type;
    if (t !== RecordType.entry && t !== RecordType.hardState) keep = k + 1;
  }
  // The last hard state that stays must exist (each segment's checkpoint writes one).
  let cut = recs.length;
  let anchor: string | null = null;
  for (let k = keep; k < recs.length; k++) if (recs[k]!.vote !== null) anchor = recs[k]!.vote;
  for (let k = recs.length - 1; k >= keep; k--) {
    const r = recs[k]!;
    if (r.vote !== null) {
      // Is there an earlier hard state (kept if we cut here) with the same term and vote?
      const earlier = recs.slice(keep, k).filter((x) => x.vote !== null).at(-1);
      if (earlier === undefined || earlier.vote !== r.vote || r.vote !== anchor) break;
    }
    cut = k;
  }
  const removable = recs.slice(cut);
  // At least one hard state must remain before the cut.
  if (!recs.slice(keep, cut).some((x) => x.vote !== null)) return null;
  return removable.length === 0 ? null : { path, removable };
}

/** The highest entry index among the last `n` removable records. */
export function maxIndexOf(plan: DamagePlan, n: number): number {
  return Math.max(0, ...plan.removable.slice(-n).map((r) => r.index));
}

/** Damages the last `n` removable records of the plan (the peer must be stopped). */
export function applyDamage(plan: DamagePlan, n: number, kind: WalDamageKind, prng: SeededPrng): DamageDone {
  const gone = plan.removable.slice(-n);
  const first = gone[0]!;
  const maxIndex = Math.max(0, ...gone.map((r) => r.index));
  if (kind === 'truncate') {
    // A torn write: the file ends somewhere inside the first removed record (or at its start).
    const tear = prng.nextInt(first.end - first.off);
    const size = first.off + tear;
    const fd = openSync(plan.path, 'r+');
    try {
      ftruncateSync(fd, size);
    } finally {
      closeSync(fd);
    }
    return { kind, path: plan.path, records: gone.length, maxIndex, offset: first.off, torn: tear > 0,
      detail: `truncated to ${size} bytes (${tear} bytes into the first removed record)` };
  }
  // Garbage: flip one to three bytes in every removed record, so none of them stays intact (an
  // intact record after a bad one is corruption, which recovery rightly refuses).
  const b = readFileSync(plan.path);
  const flips: number[] = [];
  for (const r of gone) {
    const count = 1 + prng.nextInt(3);
    for (let k = 0; k < count; k++) {
      const at = r.off + prng.nextInt(r.end - r.off);
      b[at] = (b[at]! ^ (1 + prng.nextInt(255))) & 0xff;
      flips.push(at);
    }
  }
  const fd = openSync(plan.path, 'r+');
  try {
    writeSync(fd, b, first.off, gone.at(-1)!.end - first.off, first.off);
  } finally {
    closeSync(fd);
  }
  return { kind, path: plan.path, records: gone.length, maxIndex, offset: first.off, torn: true, detail: `flipped bytes at offsets ${flips.slice(0, 6).join(', ')}${flips.length > 6 ? ', ...' : ''}` };
}
