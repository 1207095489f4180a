// The in-memory network: same interface as the mesh, seeded faults that replay exactly, a virtual
// clock, partitions that also swallow what was in flight, and codec round trips on every message.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { AssertionError } from '../../src/core/assert.ts';
import type { Message } from '../../src/core/message.ts';
import { MemoryNetwork, VirtualClock } from '../../src/transport/memory.ts';
import type { MemoryFaults } from '../../src/transport/memory.ts';
import { everyMessage } from './fixtures.ts';

const hb = (from: string, to: string, round: number): Message => ({ type: 'hb', from, to, term: 1, commit: 0, round });

function run(seed: number, faults: Partial<MemoryFaults>, count: number): number[] {
  const clock = new VirtualClock();
  const net = new MemoryNetwork({ seed, faults, scheduler: clock });
  const a = net.join('a');
  const b = net.join('b');
  const got: number[] = [];
  b.on('messages', (e) => { for (const m of e.msgs) if (m.type === 'hb') got.push(m.round); });
  for (let i = 0; i < count; i++) a.send([hb('a', 'b', i)]);
  clock.advance(10_000);
  assert.is(net.inFlight, 0);
  return got;
}

test('without faults every message arrives in order, through the codec, once the clock advances', () => {
  const clock = new VirtualClock();
  const net = new MemoryNetwork({ seed: 1, scheduler: clock });
  const a = net.join('a');
  const b = net.join('b');
  const msgs = everyMessage('a', 'b');
  const got: Message[] = [];
  b.on('messages', (e) => got.push(...e.msgs));
  a.send(msgs);
  assert.equal(got, [], 'nothing before the clock moves');
  clock.advance(0);
  assert.equal(got, msgs);
  assert.ok(got[0] !== msgs[0], 'a decoded copy, not the sent object');
});

test('seeded drops, delays and reordering replay exactly for the same seed', () => {
  const faults = { dropRate: 0.3, delayMsMin: 1, delayMsMax: 20, reorderRate: 0.2, reorderDelayMs: 50 };
  const first = run(42, faults, 1000);
  assert.equal(run(42, faults, 1000), first, 'same seed, same deliveries');
  assert.not.equal(run(43, faults, 1000), first, 'another seed differs');
  assert.ok(first.length > 600 && first.length < 800, `about 70% delivered: ${first.length}`);
  const sorted = [...first].sort((x, y) => x - y);
  assert.not.equal(first, sorted, 'some messages were overtaken');
  assert.is(new Set(first).size, first.length, 'no duplicates without duplicateRate');
});

test('duplication delivers twice', () => {
  const got = run(7, { duplicateRate: 1 }, 10);
  assert.is(got.length, 20);
});

test('partitions drop across groups (including what is in flight) and heal', () => {
  const clock = new VirtualClock();
  const net = new MemoryNetwork({ seed: 3, scheduler: clock, faults: { delayMsMin: 10, delayMsMax: 10 } });
  const [a, b, c] = ['a', 'b', 'c'].map((id) => net.join(id)) as [ReturnType<typeof net.join>, ReturnType<typeof net.join>, ReturnType<typeof net.join>];
  const atB: number[] = [];
  const atC: number[] = [];
  b.on('messages', (e) => { for (const m of e.msgs) if (m.type === 'hb') atB.push(m.round); });
  c.on('messages', (e) => { for (const m of e.msgs) if (m.type === 'hb') atC.push(m.round); });
  const drops: string[] = [];
  let unreachable = 0;
  a.on('send:dropped', (e) => drops.push(`${e.type}->${e.peer}:${e.reason}`));
  a.on('unreachable', () => { unreachable += 1; });
  a.send([hb('a', 'c', 1)]);
  net.partition(['a', 'b'], ['c']);
  assert.not.ok(a.isConnected('c'));
  assert.ok(a.isConnected('b'));
  a.send([hb('a', 'b', 2), hb('a', 'c', 3)]);
  a.send([{ type: 'app', from: 'a', to: 'c', term: 1, prevIndex: 0, prevTerm: 0, commit: 0, entries: [] }]);
  clock.advance(20);
  assert.equal(atB, [2]);
  assert.equal(atC, [], 'in-flight message to c was lost to the partition');
  assert.equal(drops, ['hb->c:partition', 'app->c:partition']);
  assert.is(unreachable, 1);
  net.heal();
  a.send([hb('a', 'c', 4)]);
  clock.advance(20);
  assert.equal(atC, [4]);
});

test('closing a member reports it down to the others and drops what is sent to it', async () => {
  const net = new MemoryNetwork({ seed: 5, scheduler: new VirtualClock() });
  const a = net.join('a');
  const ups: string[] = [];
  a.on('peer:up', (e) => ups.push(e.peer));
  const b = net.join('b');
  assert.equal(ups, ['b']);
  const downs: string[] = [];
  a.on('peer:down', (e) => downs.push(e.peer));
  await b.close();
  assert.equal(downs, ['b']);
  const reasons: string[] = [];
  a.on('send:dropped', (e) => reasons.push(e.reason));
  a.send([hb('a', 'b', 1)]);
  assert.equal(reasons, ['not-connected']);
});

test('a message the codec cannot carry fails loudly at send (a core bug, not a lost message)', () => {
  const net = new MemoryNetwork({ seed: 9, scheduler: new VirtualClock() });
  const a = net.join('a');
  net.join('b');
  const broken: Message = { type: 'app', from: 'a', to: 'b', term: 1, prevIndex: 0, prevTerm: 0, commit: 0, entries: [{ term: 1, index: 5, type: 'normal', data: new Uint8Array(0) }] };
  assert.throws(() => a.send([broken]), (e: unknown) => e instanceof AssertionError);
  assert.throws(() => new MemoryNetwork({ seed: 1, faults: { dropRate: 2 } }), /dropRate/);
});

test.run();
