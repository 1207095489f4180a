// ParallelRaft: the Merge stage. Granted votes carry each voter's entries above the candidate's
// commit cursor; the winner decides every index in that range from the claims about it (the
// entry held there, ranked by its stamp, and the look-behinds of the entries after it, ranked by
// their creator's term), re-stamps the range with its own term, and closes it with a no-op: the
// barrier below which nothing commits out of order. See docs/parallel-raft.md for why.

import { assert } from '../assert.ts';
import type { MergeReply, VoteMsg } from '../message.ts';
import type { Entry, Index } from '../types.ts';
import { entryBytes } from '../types.ts';
import { encodeParallelData, entryId, type Behind, type KeySet } from './header.ts';
import type { ParallelContext } from './state.ts';

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
  const n = r.cfg.lookBehindEntries;
  const decided: Entry[] = [];
  for (let i = base + 1; i <= end; i++) {
    const chosen = choose(c, sources, i, n);
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

function choose(c: ParallelContext, sources: readonly Source[], i: Index, n: number): Entry | null {
  // An entry some voter knows to be committed is final.
  for (const s of sources) {
    const e = s.at.get(i);
    if (e !== undefined && s.commit >= i) return e;
  }
  const best: { claim: Claim | null } = { claim: null };
  const consider = (cl: Claim) => {
    const b = best.claim;
    if (b === null || cl.authority > b.authority) best.claim = cl;
    else if (cl.authority === b.authority) {
      assert(cl.id === b.id, () => `merge at ${i}: two claims of authority ${cl.authority} disagree (${cl.id} vs ${b.id})`);
    }
  };
  for (const s of sources) {
    const e = s.at.get(i);
    if (e !== undefined) consider({ authority: e.term, id: idOf(c, e) });
    for (let j = i + 1; j <= i + n; j++) {
      const later = s.at.get(j);
      if (later === undefined) continue;
      const h = c.state.decoded(later).header;
      const b = h.behind[j - i - 1];
      if (b !== undefined && b.originTerm > 0) consider({ authority: h.originTerm, id: entryId(b.kind, b.originTerm) });
    }
  }
  const winner = best.claim;
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

/** A no-op of this term for an index nobody in the quorum holds as its winning claim names it. */
function filler(c: ParallelContext, index: Index, decided: readonly Entry[]): Entry {
  const term = c.raft.term;
  const data = encodeParallelData({ originTerm: term, kind: 'noop', keys: [], behind: behindFor(c, index, decided) }, new Uint8Array(0));
  return { term, index, type: 'noop', data };
}

/**
 * What the leader knows of the entries before `index`: from `pending` (decided but not yet in the
 * log) or the log itself; nothing for compacted indexes.
 */
export function behindFor(c: ParallelContext, index: Index, pending: readonly Entry[] = []): Behind[] {
  const out: Behind[] = [];
  const log = c.log;
  for (let d = 1; d <= c.raft.cfg.lookBehindEntries; d++) {
    const k = index - d;
    if (k < 1) break;
    const fromPending = pending.length > 0 ? pending[k - (pending[0]!.index)] : undefined;
    const e = fromPending ?? (k > log.snapIndex && k <= log.lastIndex() && !log.isHole(k) ? log.entry(k) : undefined);
    if (e === undefined) {
      out.push({ originTerm: 0, kind: 'noop', keys: null });
      continue;
    }
    const h = c.state.decoded(e).header;
    out.push({ originTerm: h.originTerm, kind: e.type, keys: h.keys });
  }
  return out;
}

/** Wraps a payload into a ParallelRaft entry's data, with this leader's look-behind. */
export function wrap(c: ParallelContext, index: Index, kind: Entry['type'], keys: KeySet, payload: Uint8Array): Uint8Array {
  return encodeParallelData({ originTerm: c.raft.term, kind, keys, behind: behindFor(c, index) }, payload);
}
