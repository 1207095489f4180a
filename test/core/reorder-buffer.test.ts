// ReorderBuffer: appends that arrive ahead of a gap are held within count and byte caps,
// released in prevIndex order for the current term only, expired after a timeout, and counted.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { AppendMsg } from '../../src/core/message.ts';
import { ReorderBuffer } from '../../src/core/reorder-buffer.ts';
import type { Entry } from '../../src/core/types.ts';

const test = suite('ReorderBuffer');

/** An append after `prevIndex` carrying `count` entries of `dataBytes` each (entryBytes = data + 24). */
function app(prevIndex: number, count = 1, term = 2, dataBytes = 0): AppendMsg {
  const entries: Entry[] = [];
  for (let i = 1; i <= count; i++) entries.push({ term, index: prevIndex + i, type: 'normal', data: new Uint8Array(dataBytes) });
  return { type: 'app', from: 'leader', to: 'f', term, prevIndex, prevTerm: term, entries, commit: 0 };
}

test('holds up to msgsMax messages, then refuses', () => {
  const rb = new ReorderBuffer(2, 1_000_000);
  assert.is(rb.hold(app(10), 0), true);
  assert.is(rb.hold(app(20), 0), true);
  assert.is(rb.hold(app(30), 0), false);
  assert.is(rb.size, 2);
  assert.is(rb.stats.held, 2, 'a refused message is not counted as held');
});

test('refuses a message that would take the held bytes past bytesMax', () => {
  const rb = new ReorderBuffer(10, 100);
  assert.is(rb.hold(app(10, 1, 2, 26), 0), true, '50 bytes');
  assert.is(rb.hold(app(20, 1, 2, 27), 0), false, '51 more would be 101');
  assert.is(rb.hold(app(20, 1, 2, 26), 0), true, '50 more is exactly 100');
  assert.is(rb.size, 2);
});

test('a zero count or zero byte size disables holding', () => {
  assert.is(new ReorderBuffer(0, 1_000_000).hold(app(5), 0), false);
  assert.is(new ReorderBuffer(8, 0).hold(app(5), 0), false);
});

test('empty appends (probes, heartbeat-like) are never held', () => {
  const rb = new ReorderBuffer(8, 1_000_000);
  assert.is(rb.hold(app(5, 0), 0), false);
  assert.is(rb.size, 0);
  assert.is(rb.stats.held, 0);
});

test('takeReady releases held messages in prevIndex order as the gap fills', () => {
  const rb = new ReorderBuffer(8, 1_000_000);
  rb.hold(app(10), 0);
  rb.hold(app(5), 0);
  rb.hold(app(7), 0);
  assert.is(rb.takeReady(4, 2), null, 'the lowest prev (5) is still ahead of the log');
  assert.is(rb.takeReady(5, 2)?.prevIndex, 5);
  assert.is(rb.takeReady(6, 2), null, 'prev 7 still waits for entry 7');
  assert.is(rb.takeReady(20, 2)?.prevIndex, 7);
  assert.is(rb.takeReady(20, 2)?.prevIndex, 10);
  assert.is(rb.takeReady(20, 2), null);
  assert.is(rb.size, 0);
});

test('takeReady only releases messages of the current term', () => {
  const rb = new ReorderBuffer(8, 1_000_000);
  rb.hold(app(3, 1, 1), 0);
  rb.hold(app(6, 1, 2), 0);
  assert.is(rb.takeReady(10, 3), null, 'nothing of term 3 is held');
  const m = rb.takeReady(10, 2);
  assert.is(m?.prevIndex, 6);
  assert.is(m?.term, 2);
  assert.is(rb.takeReady(10, 2), null);
  assert.is(rb.size, 1, 'the term-1 message stays until it expires or is cleared');
});

test('taking a message frees its count and bytes for the next hold', () => {
  const rb = new ReorderBuffer(1, 60);
  assert.is(rb.hold(app(5, 1, 2, 26), 0), true);
  assert.is(rb.hold(app(9, 1, 2, 26), 0), false);
  assert.ok(rb.takeReady(5, 2));
  assert.is(rb.hold(app(9, 1, 2, 26), 0), true);
});

test('expire removes messages held for timeoutTicks and returns the lowest one removed', () => {
  const rb = new ReorderBuffer(8, 1_000_000);
  rb.hold(app(9), 0);
  rb.hold(app(4), 1);
  rb.hold(app(6), 3);
  assert.is(rb.expire(1, 2), null, 'nothing is two ticks old yet');
  const first = rb.expire(3, 2);
  assert.is(first?.prevIndex, 4, 'held at 0 and 1 both expire; prev 4 is the lowest');
  assert.is(rb.size, 1);
  assert.is(rb.stats.expired, 2);
  assert.is(rb.expire(4, 2), null);
  assert.is(rb.expire(5, 2)?.prevIndex, 6);
  assert.is(rb.size, 0);
});

test('expired bytes are released', () => {
  const rb = new ReorderBuffer(8, 60);
  rb.hold(app(5, 1, 2, 26), 0);
  assert.is(rb.hold(app(9, 1, 2, 26), 0), false);
  rb.expire(2, 2);
  assert.is(rb.hold(app(9, 1, 2, 26), 2), true);
});

test('stats count held, accepted and expired (including clear)', () => {
  const rb = new ReorderBuffer(8, 1_000_000);
  rb.hold(app(1), 0);
  rb.hold(app(2), 0);
  rb.hold(app(3), 0);
  rb.takeReady(1, 2);
  rb.markAccepted();
  rb.clear();
  assert.equal({ ...rb.stats }, { held: 3, accepted: 1, expired: 2 });
  assert.is(rb.size, 0);
  assert.is(rb.hold(app(4), 0), true, 'clear releases the bytes too');
});

test.run();
