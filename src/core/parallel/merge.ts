// ParallelRaft: the Merge stage. Granted votes carry each voter's entries above the candidate's
// commit cursor; the winner decides every index in that range from the claims about it (the
// entry held there, ranked by its stamp; what the creator of a batch had there, ranked by the
// creator's term: its own batch, and its head's lookBehind), re-stamps the range with its own term,
// and closes it with a no-op: the barrier below which nothing commits out of order. See
// docs/parallel-raft.md for why.

import { assert } from '../assert.ts';
import type { MergeReply, VoteMsg } from '../message.ts';
import type { Entry, Index } from '../types.ts';
import { entryBytes } from '../types.ts';
import { entryId, lookBehindIdAt } from './header.ts';
import type { ParallelContext } from './state.ts';
import { batchEntry, lookBehindFor } from './look-behind.ts';

/** A voter's Merge reply for `m` (a granted vote), or null when it would exceed mergeBytesMax. */
export function mergeReply(c: ParallelContext, m: VoteMsg): MergeReply | null {
  const { raft: r, log } = c;
  const from = m.commit ?? 0;
  // Entries compacted away here are committed: a candidate that lacks them cannot lead yet.
  if (from < log.snapIndex) return null;
  const entries: Entry[] = [];
  let bytes = 0;
  for (let i = from + 1; i <= log.lastIndex(); i++) {
    if (log.isHole(i)) continue;
    const e = log.entry(i);
    bytes += entryBytes(e);
    if (bytes > r.cfg.mergeBytesMax) return null;
    entries.push(e);
  }
  return { commit: log.committed, entries };
}

interface Source {
  readonly commit: Index;
  readonly at: Map<Index, Entry>;
}

interface Claim {
  readonly authority: number;
  readonly id: string;
}

function sourceOf(reply: MergeReply): Source {
  const at = new Map<Index, Entry>();
  for (const e of reply.entries) at.set(e.index, e);
  return { commit: reply.commit, at };
}

/**
 * Decides indexes committed+1 .. end from this node's log and the replies that came with its
 * votes, and writes the result into its log re-stamped with its term. Returns the range's end.
 */
export function merge(c: ParallelContext): Index {
  const { raft: r, log, state } = c;
  const base = log.committed;
  const own: Entry[] = [];
  for (let i = base + 1; i <= log.lastIndex(); i++) if (!log.isHole(i)) own.push(log.entry(i));
  const sources: Source[] = [sourceOf({ commit: base, entries: own })];
  for (const reply of state.mergeReplies()) sources.push(sourceOf(reply));
  // Its own log may end in holes (a torn write kept placeholders but not the entry after them):
  // those indexes are decided too, so the leader's log has no hole.
  let end = Math.max(base, log.lastIndex());
  for (const s of sources) for (const i of s.at.keys()) if (i > end) end = i;
  const claims = claimsAbout(c, sources, base, end);
  const decided: Entry[] = [];
  for (let i = base + 1; i <= end; i++) {
    const chosen = choose(c, sources, i, claims.get(i) ?? null);
    const e: Entry = chosen === null
      ? filler(c, i, decided)
      : chosen.type === 'config' && chosen.conf !== undefined
        ? { term: r.term, index: i, type: 'config', data: chosen.data, conf: chosen.conf }
        : { term: r.term, index: i, type: chosen.type, data: chosen.data };
    if (chosen === null) state.stats.mergeNoops++;
    decided.push(e);
  }
  for (const e of decided) log.placeAt(e);
  state.stats.merges++;
  state.clearMergeReplies();
  return end;
}

/**
 * The strongest claim about each index in (base, end]: the entry a voter holds there (authority:
 * its stamp), and what the creator of a held entry's batch had there (authority: the creator's
 * term) — over the batch itself, and over the head's lookBehind. Claims of one authority were made by
 * one leader about its own log, so they agree.
 */
function claimsAbout(c: ParallelContext, sources: readonly Source[], base: Index, end: Index): Map<Index, Claim> {
  const best = new Map<Index, Claim>();
  const consider = (i: Index, cl: Claim) => {
    if (i <= base || i > end) return;
    const b = best.get(i);
    if (b === undefined || cl.authority > b.authority) best.set(i, cl);
    else if (cl.authority === b.authority) {
      assert(cl.id === b.id, () => `merge at ${i}: two claims of authority ${cl.authority} disagree (${cl.id} vs ${b.id})`);
    }
  };
  const batchesSeen = new Set<string>();
  for (const s of sources) {
    for (const [i, e] of s.at) {
      const h = c.state.decoded(e).header;
      consider(i, { authority: e.term, id: entryId(e.type, h.originTerm) });
      const head = i - h.headOffset;
      const batch = `${h.originTerm}:${head}`;
      if (!batchesSeen.has(batch)) {
        batchesSeen.add(batch);
        const own = entryId(e.type, h.originTerm);
        for (let k = Math.max(head, base + 1); k < head + h.batchLen && k <= end; k++) consider(k, { authority: h.originTerm, id: own });
      }
      if (h.lookBehind !== null) {
        for (let k = Math.max(head - h.lookBehind.length, base + 1); k < head; k++) {
          const id = lookBehindIdAt(h.lookBehind, head, k);
          if (id !== null) consider(k, { authority: h.originTerm, id });
        }
      }
    }
  }
  return best;
}

function choose(c: ParallelContext, sources: readonly Source[], i: Index, winner: Claim | null): Entry | null {
  // An entry some voter knows to be committed is final.
  for (const s of sources) {
    const e = s.at.get(i);
    if (e !== undefined && s.commit >= i) return e;
  }
  if (winner === null) return null;
  for (const s of sources) {
    const e = s.at.get(i);
    if (e !== undefined && idOf(c, e) === winner.id) return e;
  }
  return null;
}

function idOf(c: ParallelContext, e: Entry): string {
  return entryId(e.type, c.state.decoded(e).header.originTerm);
}

/** A no-op of this term (a batch of its own) for an index nobody in the quorum holds as its winning claim names it. */
function filler(c: ParallelContext, index: Index, decided: readonly Entry[]): Entry {
  return batchEntry(c, { term: c.raft.term, index, type: 'noop' }, [], new Uint8Array(0), index, 1, lookBehindFor(c, index, decided));
}
