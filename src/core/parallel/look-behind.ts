// ParallelRaft, leader side: the look-behind a batch's head carries. It covers the entries of the
// leader's previous few batches (lookBehindBatches, at most lookBehindEntries entries), the unit
// that travels in one message, so a follower can acknowledge and apply a batch that overtook them.

import type { Entry, EntryType, Index } from '../types.ts';
import { encodeParallelData, SummaryBuilder, type KeySet, type ParallelHeader, type Run, type LookBehind } from './header.ts';
import type { ParallelContext } from './state.ts';

/**
 * The look-behind of a batch headed at `head`: identities and a key summary of the indexes since the
 * start of this leader's lookBehindBatches-th previous batch (none before its first batch: a new
 * leader's first batches apply in order), read from `pending` (decided, not yet in the log) or the log.
 */
export function lookBehindFor(c: ParallelContext, head: Index, pending: readonly Entry[] = []): LookBehind {
  const { raft: r, log, state } = c;
  const from = Math.max(1, head - r.cfg.lookBehindEntries, state.lookBehindStart(head, r.cfg.lookBehindBatches));
  const runs: Run[] = [];
  const summary = new SummaryBuilder();
  const firstPending = pending[0]?.index ?? Number.MAX_SAFE_INTEGER;
  let run: { count: number; kind: EntryType; originTerm: number } | null = null;
  for (let k = from; k < head; k++) {
    const e = k >= firstPending ? pending[k - firstPending] : k > log.snapIndex && k <= log.lastIndex() && !log.isHole(k) ? log.entry(k) : undefined;
    let kind: EntryType = 'noop';
    let originTerm = 0;
    if (e === undefined) {
      summary.addEverything();
    } else {
      const h = state.decoded(e).header;
      kind = e.type;
      originTerm = h.originTerm;
      summary.add(h.keys);
    }
    if (run !== null && run.kind === kind && run.originTerm === originTerm) run.count++;
    else {
      run = { count: 1, kind, originTerm };
      runs.push(run);
    }
  }
  return { length: head - from, runs, summary: summary.finish() };
}

/** The data of one entry of a batch [head, head + batchLen) of this leader's term; primes the decode cache. */
export function batchEntry(c: ParallelContext, e: Omit<Entry, 'data'>, keys: KeySet, payload: Uint8Array, head: Index, batchLen: number, lookBehind: LookBehind | null): Entry {
  const header: ParallelHeader = { originTerm: c.raft.term, kind: e.type, keys, headOffset: e.index - head, batchLen, lookBehind };
  const entry: Entry = { ...e, data: encodeParallelData(header, payload) };
  c.state.prime(entry, { header, payload });
  return entry;
}
