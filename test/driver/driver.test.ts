// RaftDriver over MemoryStore and an in-process message bus: proposals resolve with their
// results once applied, reads wait for apply, snapshots compact the store, store failures stop
// the driver cleanly, and a restarted driver recovers what was acknowledged.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { RaftDriver } from '../../src/core/driver.ts';
import { encodeCommand } from '../../src/core/kv/command.ts';
import { KvMachine, type KvResult } from '../../src/core/kv/machine.ts';
import { ManualClock } from '../../src/core/clock.ts';
import { MemoryBacking, MemoryStore } from '../../src/core/store/memory-store.ts';
import type { Message } from '../../src/core/message.ts';
import { RaftNode } from '../../src/core/node.ts';
import { SeededPrng } from '../../src/core/prng.ts';
import type { LogStore, StoreBatch } from '../../src/core/storage.ts';

const t = suite('driver');
const ids = ['a', 'b', 'c'];

interface Member {
  driver: RaftDriver<KvResult>;
  machine: KvMachine;
  backing: MemoryBacking;
  store: LogStore;
}

class Bus {
  /** One clock for the whole bus: tickAll() moves it a tick and lets every driver catch up. */
  readonly clock = new ManualClock();
  readonly members = new Map<string, Member>();
  down = new Set<string>();
  deliver(msgs: readonly Message[]): void {
    for (const m of msgs) {
      if (this.down.has(m.to) || this.down.has(m.from)) continue;
      const target = this.members.get(m.to);
      // Deliver on a later turn, like a socket would.
      if (target !== undefined) setTimeout(() => target.driver.step(m), 0);
    }
  }
}

async function member(bus: Bus, id: string, backing = new MemoryBacking(), store?: LogStore, snapshotEntries = 0): Promise<Member> {
  const s = store ?? new MemoryStore(backing);
  const loaded = await s.load();
  const machine = new KvMachine();
  if (loaded.snapshot !== null) machine.restore(loaded.snapshot.data);
  const node = new RaftNode({ options: { id, prng: new SeededPrng(id.charCodeAt(0)), clock: bus.clock }, bootstrap: { voters: ids, learners: [] }, restore: loaded });
  const driver = new RaftDriver<KvResult>({ node, store: s, machine, send: (msgs) => bus.deliver(msgs), snapshotEntries, snapshotRetainEntries: 2 });
  const m = { driver, machine, backing, store: s };
  bus.members.set(id, m);
  return m;
}

async function until(cond: () => boolean, what: string, ticks = 500): Promise<void> {
  for (let i = 0; i < ticks; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 1));
  }
  assert.unreachable(`timed out waiting for ${what}`);
}

async function cluster(snapshotEntries = 0): Promise<Bus> {
  const bus = new Bus();
  for (const id of ids) await member(bus, id, undefined, undefined, snapshotEntries);
  return bus;
}

function tickAll(bus: Bus): void {
  bus.clock.advance(50);
  for (const [id, m] of bus.members) if (!bus.down.has(id)) m.driver.catchUp();
}

async function leader(bus: Bus): Promise<Member> {
  let found: Member | undefined;
  await until(() => {
    tickAll(bus);
    found = [...bus.members.entries()].find(([id, m]) => !bus.down.has(id) && m.driver.role === 'leader')?.[1];
    return found !== undefined;
  }, 'a leader');
  return found!;
}

const put = (key: string, value: string) => encodeCommand({ timeMs: 0, session: null, cmd: { op: 'put', key, value } });

t('a proposal resolves with its result after it is applied, on the leader', async () => {
  const bus = await cluster();
  const l = await leader(bus);
  const r = await l.driver.propose(put('k', 'v'));
  assert.equal(r.result, { op: 'put', index: r.index });
  assert.is(l.machine.get('k'), 'v', 'applied before the promise resolved');
  for (const m of bus.members.values()) await m.driver.close();
});

t('proposals made in one turn share one batch and all resolve', async () => {
  const bus = await cluster();
  const l = await leader(bus);
  const results = await Promise.all(Array.from({ length: 200 }, (_, i) => l.driver.propose(put(`k${i}`, String(i)))));
  const indexes = results.map((r) => r.index);
  assert.is(new Set(indexes).size, 200);
  assert.is(Math.max(...indexes) - Math.min(...indexes), 199, 'consecutive indexes');
  for (const m of bus.members.values()) await m.driver.close();
});

t('a follower refuses proposals with ERR_NOT_LEADER and names the leader', async () => {
  const bus = await cluster();
  const l = await leader(bus);
  await l.driver.propose(put('x', '1'));
  const follower = [...bus.members.values()].find((m) => m !== l)!;
  await until(() => follower.driver.leader !== null, 'the follower to learn the leader');
  const err = await follower.driver.propose(put('k', 'v')).catch((e: { code: string; leaderHint: string }) => e);
  assert.is((err as { code: string }).code, 'ERR_NOT_LEADER');
  assert.is((err as { leaderHint: string }).leaderHint, l.driver.node.cfg.id);
  for (const m of bus.members.values()) await m.driver.close();
});

t('reads on the leader and on a follower see every write that completed before them', async () => {
  const bus = await cluster();
  const l = await leader(bus);
  const w = await l.driver.propose(put('r', 'seen'));
  const lr = await l.driver.read();
  assert.ok(lr.index >= w.index);
  assert.ok(lr.path === 'readIndex' || lr.path === 'lease');
  assert.is(l.machine.get('r'), 'seen');
  const follower = [...bus.members.values()].find((m) => m !== l)!;
  const fr = await follower.driver.read();
  assert.is(fr.path, 'follower');
  assert.ok(fr.index >= w.index, 'the follower read index covers the write');
  assert.is(follower.machine.get('r'), 'seen', 'the follower applied it before answering');
  for (const m of bus.members.values()) await m.driver.close();
});

t('snapshots compact the store, and a restarted member recovers from snapshot plus tail', async () => {
  const bus = await cluster(10);
  const l = await leader(bus);
  for (let i = 0; i < 35; i++) await l.driver.propose(put(`s${i}`, String(i)));
  const follower = [...bus.members.entries()].find(([, m]) => m !== l)!;
  await until(() => follower[1].machine.appliedIndex >= l.machine.appliedIndex, 'the follower to catch up');
  await follower[1].driver.close();
  await follower[1].store.close();
  const peek = new MemoryStore(follower[1].backing);
  const reloaded = await peek.load();
  await peek.close();
  assert.ok(reloaded.snapshot !== null && reloaded.snapshot.meta.index >= 30, 'a snapshot was saved');
  assert.ok(reloaded.entries.length < 15, `the store keeps ${reloaded.entries.length} entries after compaction`);
  bus.members.delete(follower[0]);
  const again = await member(bus, follower[0], follower[1].backing, undefined, 10);
  await until(() => { tickAll(bus); return again.machine.appliedIndex >= l.machine.appliedIndex; }, 'the restarted member to catch up');
  assert.is(again.machine.get('s34'), '34');
  for (const m of bus.members.values()) await m.driver.close();
});

t('a store failure stops the driver and fails what is pending with a clear error', async () => {
  const bus = new Bus();
  let fail = false;
  const broken = new (class extends MemoryStore {
    override save(batch: StoreBatch): Promise<void> {
      return fail ? Promise.reject(new Error('disk on fire')) : super.save(batch);
    }
  })(new MemoryBacking());
  let fatal: Error | null = null;
  const machine = new KvMachine();
  const node = new RaftNode({ options: { id: 'solo', prng: new SeededPrng(1), clock: bus.clock }, bootstrap: { voters: ['solo'], learners: [] } });
  const driver = new RaftDriver<KvResult>({ node, store: broken, machine, send: () => {}, onFatal: (e) => { fatal = e; } });
  bus.members.set('solo', { driver, machine, backing: new MemoryBacking(), store: broken });
  for (let i = 0; i < 30 && driver.role !== 'leader'; i++) { tickAll(bus); await new Promise((r) => setTimeout(r, 1)); }
  driver.poke((n) => n.campaign());
  await until(() => driver.role === 'leader', 'the single node to lead');
  fail = true;
  const err = await driver.propose(put('k', 'v')).catch((e: Error) => e);
  assert.match(String((err as Error).message), /storage failure: disk on fire/);
  assert.is((fatal as Error | null)?.message, 'disk on fire');
  const after = await driver.propose(put('k', 'v')).catch((e: { code: string }) => e);
  assert.is((after as { code: string }).code, 'ERR_UNAVAILABLE', 'nothing is accepted after a storage failure');
});

t.run();
