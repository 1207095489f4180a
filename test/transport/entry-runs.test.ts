// Encoding a batch of entries once for every destination (entry-runs.ts): each destination's frame
// has exactly the bytes a frame encoded on its own would have, a batch sent to many destinations
// is encoded once, and an entry run that changed since it was encoded (other entry objects at the
// same indexes, or an entry altered in place) is encoded afresh, never served stale.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { AppendMsg, Message } from '../../src/core/message.ts';
import type { Entry } from '../../src/core/types.ts';
import { CborWriter, SlabAllocator } from '../../src/transport/cbor-writer.ts';
import { FrameCodec } from '../../src/transport/codec.ts';
import { columnsBytes, writeColumns } from '../../src/transport/entry-columns.ts';
import { EntryRuns } from '../../src/transport/entry-runs.ts';
import { encodeDataFrame } from '../../src/transport/frame-writer.ts';
import { bytesOf, everyMessage, normalEntries } from './fixtures.ts';

const t = suite('entry runs');

function app(to: string, entries: readonly Entry[], prevIndex = entries[0]!.index - 1, commit = 3): AppendMsg {
  return { type: 'app', from: 'n1', to, term: 7, prevIndex, prevTerm: prevIndex === 0 ? 0 : 1, entries, commit };
}

/** The columns of `es` written through `runs` (a copy of a kept run, or entry by entry). */
function through(runs: EntryRuns, es: readonly Entry[]): number[] {
  const w = new CborWriter(new Uint8Array(runs.size(es)));
  runs.write(w, es);
  assert.is(w.pos, w.buf.byteLength, 'size() is what write() wrote');
  return Array.from(w.buf);
}

/** The columns of `es` written entry by entry, with no cache. */
function plain(es: readonly Entry[]): number[] {
  const w = new CborWriter(new Uint8Array(columnsBytes(es)));
  writeColumns(w, es);
  return Array.from(w.buf);
}

/** The frame as written with no cache at all: every entry encoded for this frame alone. */
function uncached(to: string, msgs: readonly Message[]): number[] {
  return Array.from(encodeDataFrame(new SlabAllocator(), 'c1', 'n1', to, msgs));
}

t('frames to every destination have the bytes of frames encoded one by one; the batch is encoded once', () => {
  const codec = new FrameCodec({ cluster: 'c1' });
  const batch = normalEntries(41, 200, 7, 256);
  const destinations = ['n2', 'n3', 'tab-1', 'tab-2', 'tab-3'];
  for (const to of destinations) {
    // As the core does: a fresh array per destination (log.slice), the same entry objects.
    const msgs: Message[] = [app(to, batch.slice(), 40, 30 + to.length), { type: 'hb', from: 'n1', to, term: 7, commit: 40, round: 0 }];
    const size = msgs.reduce((n, m) => n + codec.estimateBytes(m), 0);
    const frame = codec.encodeData('n1', to, msgs);
    assert.equal(Array.from(frame), uncached(to, msgs), `frame to ${to}`);
    assert.is(frame.byteLength - codec.encodeData('n1', to, []).byteLength, size, `estimate for ${to}`);
    assert.equal(codec.decodeData(frame).msgs, msgs);
  }
  assert.equal(codec.entryStats, { entriesEncoded: 200, entriesFramed: 200 * destinations.length });
});

t('every message type still frames to the same bytes through the cache', () => {
  const codec = new FrameCodec({ cluster: 'c1' });
  const msgs = everyMessage('n1', 'n2');
  for (let round = 0; round < 2; round++) {
    assert.equal(Array.from(codec.encodeData('n1', 'n2', msgs)), uncached('n2', msgs), `round ${round}`);
  }
});

t('a run that changed since it was encoded is encoded afresh', () => {
  const codec = new FrameCodec({ cluster: 'c1' });
  const run = normalEntries(1, 8, 2, 16);
  const first = codec.encodeData('n1', 'n2', [app('n2', run, 0)]);
  assert.equal(codec.decodeData(first).msgs, [app('n2', run, 0)]);

  // A new leader's entries at the same indexes: other objects from the second one on.
  const rewritten = [run[0]!, ...normalEntries(2, 7, 3, 16).map((e) => ({ ...e, data: bytesOf(16, 99) }))];
  const second = codec.encodeData('n1', 'n3', [app('n3', rewritten, 0)]);
  assert.equal(codec.decodeData(second).msgs, [app('n3', rewritten, 0)]);
  assert.equal(Array.from(second), uncached('n3', [app('n3', rewritten, 0)]));

  // The same entry objects altered in place (which the core never does): their term, their data.
  const mutable = normalEntries(20, 4, 2, 16) as Array<{ term: number; index: number; type: 'normal'; data: Uint8Array }>;
  codec.encodeData('n1', 'n2', [app('n2', mutable)]);
  mutable[2]!.term = 5;
  mutable[3]!.term = 5;
  mutable[1]!.data = bytesOf(40, 7);
  const altered = codec.encodeData('n1', 'n2', [app('n2', mutable)]);
  assert.equal(codec.decodeData(altered).msgs, [app('n2', mutable)]);

  // A shorter and a longer run from one first entry are different runs.
  const long = normalEntries(30, 6, 2, 16);
  for (const n of [6, 3, 5, 6]) {
    const msg = app('n2', long.slice(0, n));
    assert.equal(codec.decodeData(codec.encodeData('n1', 'n2', [msg])).msgs, [msg], `${n} entries`);
  }
});

t('the cache keeps at most runsMax runs and bytesMax bytes, and stays right after evicting', () => {
  const runs = new EntryRuns({ runsMax: 3, bytesMax: 4096 });
  const batches = Array.from({ length: 10 }, (_, k) => normalEntries(1 + 10 * k, 10, 1, 100));
  for (const b of batches) assert.equal(through(runs, b), plain(b));
  assert.is(runs.stats.entriesEncoded, 100);
  // The last three (3 x ~1 KiB) are kept: asking again encodes nothing.
  for (const b of batches.slice(-3)) assert.equal(through(runs, b.slice()), plain(b));
  assert.is(runs.stats.entriesEncoded, 100);
  // Earlier ones were evicted: encoded again, to the same bytes.
  assert.equal(through(runs, batches[0]!), plain(batches[0]!));
  assert.is(runs.stats.entriesEncoded, 110);
  // A run bigger than bytesMax is encoded each time and not kept.
  const big = normalEntries(500, 10, 1, 1000);
  assert.equal(through(runs, big), plain(big));
  assert.equal(through(runs, big), plain(big));
  assert.is(runs.stats.entriesEncoded, 130);
  assert.is(runs.stats.entriesFramed, 10 * 10 + 3 * 10 + 10 + 2 * 10);
});

t('an append without entries costs nothing to the counters', () => {
  const codec = new FrameCodec({ cluster: 'c1' });
  const empty: AppendMsg = { type: 'app', from: 'n1', to: 'n2', term: 1, prevIndex: 0, prevTerm: 0, entries: [], commit: 0 };
  assert.equal(Array.from(codec.encodeData('n1', 'n2', [empty])), uncached('n2', [empty]));
  assert.equal(codec.entryStats, { entriesEncoded: 0, entriesFramed: 0 });
});

t.run();
