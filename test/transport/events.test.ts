// Small pieces of the mesh: the typed emitter (on() returns its unsubscribe; payload types are
// checked at compile time) and the seeded reconnect backoff.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SeededPrng } from '../../src/core/prng.ts';
import { Backoff, resolveBackoff } from '../../src/transport/backoff.ts';
import { Emitter } from '../../src/transport/events.ts';
import type { TransportEventMap } from '../../src/transport/transport.ts';

test('on() returns an unsubscribe; listeners removed during an emit still see that emit', () => {
  const e = new Emitter<TransportEventMap>();
  const seen: string[] = [];
  const offA = e.on('peer:up', (p) => { seen.push(`a:${p.peer}`); offB(); });
  const offB = e.on('peer:up', (p) => seen.push(`b:${p.peer}`));
  e.emit('peer:up', { peer: 'x', role: 'peer', claims: null });
  e.emit('peer:up', { peer: 'y', role: 'peer', claims: null });
  offA();
  e.emit('peer:up', { peer: 'z', role: 'peer', claims: null });
  assert.equal(seen, ['a:x', 'b:x', 'a:y']);
  assert.is(e.listenerCount('peer:up'), 0);
  // @ts-expect-error a payload of the wrong shape does not compile
  e.emit('peer:up', { peer: 'x' });
  // @ts-expect-error an unknown event does not compile
  e.on('peer:sideways', () => {});
});

test('backoff grows exponentially to its cap, with seeded jitter inside [d * (1 - ratio), d]', () => {
  const options = resolveBackoff({ initialMs: 100, maxMs: 1000, factor: 2, jitterRatio: 0.5 });
  const b = new Backoff(options, new SeededPrng(7));
  const delays = Array.from({ length: 8 }, () => b.next());
  const bases = [100, 200, 400, 800, 1000, 1000, 1000, 1000];
  delays.forEach((d, i) => assert.ok(d >= bases[i]! * 0.5 && d <= bases[i]!, `delay ${i} = ${d}`));
  const again = new Backoff(options, new SeededPrng(7));
  assert.equal(Array.from({ length: 8 }, () => again.next()), delays, 'same seed, same delays');
  b.reset();
  assert.ok(b.next() <= 100);
  assert.throws(() => resolveBackoff({ maxMs: 10, initialMs: 100 }), /maxMs/);
  assert.throws(() => resolveBackoff({ jitterRatio: 2 }), /jitterRatio/);
});

test.run();
