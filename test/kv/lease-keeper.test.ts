// LeaseKeeper on a real RaftDriver (one-member cluster, memory store, manual clock): a lease not
// kept alive is expired through the log exactly when its time (TTL with drift) runs out on the
// leader's clock, keep-alives renew from their receive time, only the leader answers them, and a
// new leader (after a restart) gives every lease its TTL plus the promotion extension.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ManualClock } from '../../src/core/clock.ts';
import { RaftDriver } from '../../src/core/driver.ts';
import { RaftError } from '../../src/core/errors.ts';
import { decodeCommand, encodeCommand, type KvCommand } from '../../src/core/kv/command.ts';
import { LeaseError, LeaseKeeper } from '../../src/core/kv/lease-keeper.ts';
import { KvMachine, type KvResult } from '../../src/core/kv/machine.ts';
import { RaftNode } from '../../src/core/node.ts';
import { SeededPrng } from '../../src/core/prng.ts';
import type { Message } from '../../src/core/message.ts';
import type { Role } from '../../src/core/types.ts';
import { MemoryBacking, MemoryStore } from '../../src/core/store/memory-store.ts';

const t = suite('kv lease keeper');

/** Defaults: tickMs 50, electionTicks 10 (extension 500 ms), leaseDriftPercent 10 (TTL 1000 -> 1100). */
const TTL = 1000;
const SPAN = 1100;
const EXTENSION = 500;

interface Member {
  readonly clock: ManualClock;
  readonly backing: MemoryBacking;
  readonly store: MemoryStore;
  readonly machine: KvMachine;
  readonly driver: RaftDriver<KvResult>;
  readonly keeper: LeaseKeeper;
  /** Lease changes as applied, with the clock's time then. */
  readonly leaseLog: Array<{ id: number; ttlMs: number | null; atMs: number; term: number }>;
}

async function start(clock = new ManualClock(), backing = new MemoryBacking()): Promise<Member> {
  const store = new MemoryStore(backing);
  const loaded = await store.load();
  const machine = new KvMachine();
  if (loaded.snapshot !== null) machine.restore(loaded.snapshot.data);
  const node = new RaftNode({ options: { id: 'a', prng: new SeededPrng(3), clock }, bootstrap: { voters: ['a'], learners: [] }, restore: loaded });
  const driver = new RaftDriver<KvResult>({ node, store, machine, send: () => {} });
  const keeper = new LeaseKeeper({ driver, machine, clock });
  const leaseLog: Member['leaseLog'] = [];
  machine.onLease((id, ttlMs, e) => leaseLog.push({ id, ttlMs, atMs: clock.monoMs(), term: e.term }));
  return { clock, backing, store, machine, driver, keeper, leaseLog };
}

/** Lets the driver's loop and the store run (no clock moves). */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((r) => setTimeout(r, 0));
}

/** Moves the clock by `ms` (in tick-sized steps), ticking the driver and the keeper like a runtime. */
async function advance(m: Member, ms: number): Promise<void> {
  let left = ms;
  while (left > 0) {
    const step = Math.min(50, left);
    m.clock.advance(step);
    left -= step;
    m.driver.catchUp();
    m.keeper.tick();
    await settle();
  }
}

async function leader(m: Member): Promise<void> {
  for (let i = 0; i < 100 && m.driver.role !== 'leader'; i++) await advance(m, 50);
  assert.is(m.driver.role, 'leader');
  // The new term's first entry applies: every earlier entry is applied too.
  for (let i = 0; i < 20 && m.machine.appliedIndex < m.driver.node.commitIndex; i++) await settle();
}

async function run(m: Member, cmd: KvCommand): Promise<KvResult> {
  const r = await m.driver.propose(encodeCommand({ timeMs: m.clock.wallMs(), session: null, cmd }));
  return r.result!;
}

async function grant(m: Member, ttlMs = TTL): Promise<{ id: number; atMs: number }> {
  const r = await run(m, { op: 'leaseGrant', id: 0, ttlMs });
  assert.ok(r.op === 'leaseGrant');
  const applied = m.leaseLog.at(-1)!;
  assert.equal([applied.id, applied.ttlMs], [r.id, ttlMs]);
  return { id: r.id, atMs: applied.atMs };
}

async function stop(m: Member): Promise<void> {
  m.keeper.close();
  await m.driver.close();
  await m.store.close();
}

t('a lease not kept alive is expired through the log when TTL (with drift) ran out, not a tick before', async () => {
  const m = await start();
  await leader(m);
  const { id, atMs } = await grant(m);
  assert.is(await run(m, { op: 'put', key: 'k', value: 'v', lease: id }).then((r) => r.op), 'put');
  assert.is(await run(m, { op: 'put', key: 'free', value: 'v' }).then((r) => r.op), 'put');
  assert.is(m.keeper.tracked, 1);
  assert.is(m.keeper.remainingMs(id), atMs + SPAN - m.clock.monoMs());
  await advance(m, atMs + SPAN - 1 - m.clock.monoMs());
  assert.is(m.clock.monoMs(), atMs + SPAN - 1);
  assert.is(m.keeper.stats.expiriesProposed, 0, 'just before the deadline: nothing proposed');
  assert.is(m.machine.get('k'), 'v');
  assert.is(m.keeper.remainingMs(id), 1);
  await advance(m, 1);
  assert.is(m.keeper.stats.expiriesProposed, 1, 'at the deadline: the expiry is proposed');
  assert.is(m.machine.lease(id), undefined, 'and applied');
  assert.is(m.machine.get('k'), undefined);
  assert.is(m.machine.get('free'), 'v', 'keys not on the lease stay');
  assert.equal(m.leaseLog.at(-1), { id, ttlMs: null, atMs: atMs + SPAN, term: m.driver.node.term });
  assert.is(m.keeper.tracked, 0);
  const last = m.machine.history.since(m.machine.history.lastRevision);
  assert.ok(last !== 'compacted');
  assert.equal(last[0]!.events.map((e) => [e.type, e.kv.key]), [['delete', 'k']]);
  await advance(m, 5000);
  assert.is(m.keeper.stats.expiriesProposed, 1, 'proposed once');
  await stop(m);
});

t('keep-alives renew from their receive time; the keys go TTL after the last one, never before', async () => {
  const m = await start();
  await leader(m);
  const { id } = await grant(m);
  await run(m, { op: 'put', key: 'k', value: 'v', lease: id });
  let lastAck = 0;
  for (let i = 0; i < 8; i++) {
    await advance(m, 700 + 50 * (i % 3));
    const received = m.clock.monoMs();
    assert.equal(await m.keeper.keepAlive(id), { id, ttlMs: TTL });
    lastAck = received;
    assert.is(m.keeper.remainingMs(id), received + SPAN - m.clock.monoMs());
    assert.is(m.machine.get('k'), 'v', `kept alive through round ${i}`);
  }
  assert.is(m.keeper.stats.keepAlives, 8);
  assert.is(m.keeper.stats.expiriesProposed, 0);
  await advance(m, lastAck + SPAN - 1 - m.clock.monoMs());
  assert.is(m.machine.get('k'), 'v', 'one ms before the deadline');
  await advance(m, 1);
  assert.is(m.machine.get('k'), undefined);
  const deletedAt = m.leaseLog.at(-1)!;
  assert.equal([deletedAt.id, deletedAt.ttlMs], [id, null]);
  assert.ok(deletedAt.atMs >= lastAck + TTL, 'safety: not before the last acknowledged keep-alive + TTL');
  // Once expired, a keep-alive is refused.
  const err = await m.keeper.keepAlive(id).catch((e: unknown) => e);
  assert.instance(err, LeaseError);
  assert.is((err as LeaseError).code, 'ERR_LEASE_NOT_FOUND');
  await stop(m);
});

t('keep-alives: ERR_NOT_LEADER off the leader, ERR_LEASE_NOT_FOUND for an unknown or expiring lease', async () => {
  const m = await start();
  assert.is(m.driver.role, 'follower', 'not elected yet');
  const err = await m.keeper.keepAlive(1).catch((e: unknown) => e);
  assert.instance(err, RaftError);
  assert.is((err as RaftError).code, 'ERR_NOT_LEADER');
  assert.is(m.keeper.remainingMs(1), null);
  m.keeper.tick();
  assert.is(m.keeper.tracked, 0);
  await leader(m);
  const unknown = await m.keeper.keepAlive(999).catch((e: unknown) => e);
  assert.instance(unknown, LeaseError);
  assert.is((unknown as LeaseError).code, 'ERR_LEASE_NOT_FOUND');
  assert.match((unknown as Error).message, /lease 999 does not exist/);
  // A lease whose expiry was proposed but not applied yet cannot be renewed: tick at the deadline
  // without letting the driver run, then ask.
  const { id, atMs } = await grant(m);
  await advance(m, atMs + SPAN - 50 - m.clock.monoMs());
  m.clock.advance(50);
  m.keeper.tick(); // proposes the expiry; it is not applied before the driver runs
  assert.is(m.keeper.stats.expiriesProposed, 1);
  assert.ok(m.machine.lease(id) !== undefined, 'not applied yet');
  const late = await m.keeper.keepAlive(id).catch((e: unknown) => e);
  assert.instance(late, LeaseError);
  assert.is((late as LeaseError).code, 'ERR_LEASE_NOT_FOUND');
  assert.match((late as Error).message, new RegExp(`lease ${id} has expired`));
  await settle();
  assert.is(m.machine.lease(id), undefined, 'the expiry applied');
  await stop(m);
});

t('after a restart the new leader gives every lease its TTL plus the promotion extension', async () => {
  const first = await start();
  await leader(first);
  const termBefore = first.driver.node.term;
  const { id } = await grant(first);
  await run(first, { op: 'put', key: 'k', value: 'v', lease: id });
  await advance(first, 900);
  assert.equal(await first.keeper.keepAlive(id), { id, ttlMs: TTL });
  await stop(first);
  // The same data, a new process: it must not know when the lease was last renewed.
  const m = await start(first.clock, first.backing);
  assert.is(m.keeper.tracked, 0);
  await leader(m);
  assert.ok(m.driver.node.term > termBefore, 'a new term');
  assert.is(m.machine.get('k'), 'v');
  m.keeper.tick();
  const promotedAt = m.clock.monoMs();
  assert.is(m.keeper.remainingMs(id), SPAN + EXTENSION, 'TTL with drift plus the extension, from promotion');
  await advance(m, SPAN + EXTENSION - 1);
  assert.is(m.keeper.stats.expiriesProposed, 0);
  assert.is(m.machine.get('k'), 'v', 'one ms before');
  await advance(m, 1);
  assert.is(m.keeper.stats.expiriesProposed, 1);
  assert.is(m.machine.get('k'), undefined);
  assert.is(m.leaseLog.at(-1)!.atMs, promotedAt + SPAN + EXTENSION);
  await stop(m);
});

t('a grant replayed from the log before this member leads gets the extension at promotion', async () => {
  const m = await start();
  await leader(m);
  const fresh = await grant(m);
  assert.is(m.leaseLog.at(-1)!.term, m.driver.node.term);
  assert.is(m.keeper.remainingMs(fresh.id), fresh.atMs + SPAN - m.clock.monoMs());
  await stop(m);
  const again = await start(m.clock, m.backing);
  // The grant replays from the log before this member leads: no clock yet.
  await leader(again);
  again.keeper.tick();
  assert.is(again.keeper.remainingMs(fresh.id), SPAN + EXTENSION);
  await stop(again);
});

/** A driver stand-in whose role and term the test sets, recording what the keeper proposes. */
function fakeDriver(term: number): { driver: ConstructorParameters<typeof LeaseKeeper>[0]['driver'] & { role: Role; node: { term: number } }; proposed: KvCommand[] } {
  const proposed: KvCommand[] = [];
  const node = { cfg: { electionTicks: 10, tickMs: 50, leaseDriftPercent: 10 }, term };
  const driver = {
    role: 'leader' as Role,
    leader: 'a' as string | null,
    node: node as unknown as RaftNode & { term: number },
    propose: (data: Uint8Array) => {
      proposed.push(decodeCommand(data).cmd);
      return new Promise<never>(() => {});
    },
    read: () => Promise.resolve({ index: 0, path: 'lease' as const }),
  };
  return { driver, proposed };
}

t('grants applied while leading: TTL from then, plus the extension when proposed in an earlier term', () => {
  const clock = new ManualClock(1000);
  const machine = new KvMachine();
  const { driver, proposed } = fakeDriver(5);
  const keeper = new LeaseKeeper({ driver, machine, clock });
  const apply = (index: number, term: number, cmd: KvCommand) => machine.apply({ index, term, type: 'normal', data: encodeCommand({ timeMs: 0, session: null, cmd }) });
  apply(1, 5, { op: 'leaseGrant', id: 7, ttlMs: TTL });
  apply(2, 4, { op: 'leaseGrant', id: 8, ttlMs: TTL });
  // Nothing is renewed or expired before this term's lease epoch applies (it voids older expiries).
  keeper.tick();
  assert.equal(proposed, [{ op: 'leaseEpoch', term: 5 }]);
  apply(3, 5, { op: 'leaseEpoch', term: 5 });
  const expiries = () => proposed.filter((c) => c.op === 'leaseExpire');
  assert.is(keeper.remainingMs(7), SPAN);
  assert.is(keeper.remainingMs(8), SPAN + EXTENSION, 'an earlier leader may have renewed it');
  clock.advance(SPAN);
  keeper.tick();
  assert.equal(expiries(), [{ op: 'leaseExpire', id: 7, term: 5 }]);
  keeper.tick();
  assert.equal(expiries().length, 1, 'not again before expiryRetryMs (two elections: 1000 ms)');
  clock.advance(EXTENSION);
  keeper.tick();
  assert.equal(expiries().slice(1), [{ op: 'leaseExpire', id: 8, term: 5 }]);
  clock.advance(499);
  keeper.tick();
  assert.is(expiries().length, 2);
  clock.advance(1);
  keeper.tick();
  assert.equal(expiries().slice(2), [{ op: 'leaseExpire', id: 7, term: 5 }], '7 retried 1000 ms after it was proposed: its expiry never applied');
  // Applied: the clock stops.
  apply(4, 5, { op: 'leaseExpire', id: 7, term: 5 });
  assert.is(keeper.remainingMs(7), null);
  // Demoted: every clock is dropped; nothing more is proposed.
  driver.role = 'follower';
  clock.advance(10_000);
  keeper.tick();
  assert.is(keeper.tracked, 0);
  assert.is(expiries().length, 3);
  keeper.close();
});

t('at most 16 expiries are proposed per tick, oldest deadline first', () => {
  const clock = new ManualClock(0);
  const machine = new KvMachine();
  const { driver, proposed } = fakeDriver(2);
  const keeper = new LeaseKeeper({ driver, machine, clock });
  for (let i = 1; i <= 20; i++) {
    machine.apply({ index: i, term: 2, type: 'normal', data: encodeCommand({ timeMs: 0, session: null, cmd: { op: 'leaseGrant', id: 100 + i, ttlMs: 1000 - i } }) });
  }
  assert.is(keeper.tracked, 20);
  machine.apply({ index: 21, term: 2, type: 'normal', data: encodeCommand({ timeMs: 0, session: null, cmd: { op: 'leaseEpoch', term: 2 } }) });
  clock.advance(SPAN);
  keeper.tick();
  const ids = () => proposed.filter((c) => c.op === 'leaseExpire').map((c) => (c as { id: number }).id);
  assert.equal(ids(), Array.from({ length: 16 }, (_, i) => 120 - i), 'shortest TTL (earliest deadline) first');
  keeper.tick();
  assert.equal(ids().slice(16), [104, 103, 102, 101]);
  assert.is(keeper.stats.expiriesProposed, 20);
  keeper.close();
});

/** Three members over an in-process bus with one clock; a member in `down` is cut off (it still ticks). */
class Cluster {
  readonly clock = new ManualClock();
  readonly members = new Map<string, Member>();
  readonly down = new Set<string>();
  /** When each member applied each lease's end (revoke or expiry). */
  readonly ended = new Map<string, number>();

  async start(seed: number): Promise<void> {
    const ids = ['a', 'b', 'c'];
    for (const id of ids) {
      const backing = new MemoryBacking();
      const store = new MemoryStore(backing);
      const loaded = await store.load();
      const machine = new KvMachine();
      const node = new RaftNode({ options: { id, prng: new SeededPrng(seed * 31 + id.charCodeAt(0)), clock: this.clock }, bootstrap: { voters: ids, learners: [] }, restore: loaded });
      const driver = new RaftDriver<KvResult>({ node, store, machine, send: (msgs) => this.#deliver(msgs) });
      const keeper = new LeaseKeeper({ driver, machine, clock: this.clock });
      const leaseLog: Member['leaseLog'] = [];
      machine.onLease((lease, ttlMs, e) => {
        leaseLog.push({ id: lease, ttlMs, atMs: this.clock.monoMs(), term: e.term });
        if (ttlMs === null) this.ended.set(id, this.clock.monoMs());
      });
      this.members.set(id, { clock: this.clock, backing, store, machine, driver, keeper, leaseLog });
    }
  }

  #deliver(msgs: readonly Message[]): void {
    for (const m of msgs) {
      if (this.down.has(m.to) || this.down.has(m.from)) continue;
      const target = this.members.get(m.to);
      if (target !== undefined) setTimeout(() => target.driver.step(m), 0);
    }
  }

  async tick(): Promise<void> {
    this.clock.advance(50);
    for (const m of this.members.values()) {
      m.driver.catchUp();
      m.keeper.tick();
    }
    await settle();
  }

  leader(except?: string): [string, Member] | undefined {
    return [...this.members].find(([id, m]) => id !== except && !this.down.has(id) && m.driver.role === 'leader');
  }

  async stop(): Promise<void> {
    for (const m of this.members.values()) await stop(m);
  }
}

t('leader change: keys outlive the last acknowledged keep-alive (even one a cut-off leader answered on its lease) by TTL', async () => {
  for (const seed of [1, 2, 3]) {
    const c = new Cluster();
    await c.start(seed);
    let found: [string, Member] | undefined;
    for (let i = 0; i < 200 && (found = c.leader()) === undefined; i++) await c.tick();
    assert.ok(found !== undefined, `seed ${seed}: a leader`);
    const [oldId, old] = found;
    const { id } = await grant(old);
    await run(old, { op: 'put', key: 'k', value: 'v', lease: id });
    for (let i = 0; i < 12; i++) await c.tick();
    let lastAck = c.clock.monoMs();
    assert.equal(await old.keeper.keepAlive(id), { id, ttlMs: TTL });
    // Cut the leader off. It may still answer keep-alives while its leader lease lasts.
    c.down.add(oldId);
    // A read the leader cannot confirm waits (until readTimeoutTicks): the time goes on meanwhile.
    let acksAfterCut = 0;
    const pending: Array<Promise<void>> = [];
    let promoted: number | null = null;
    let next: [string, Member] | undefined;
    for (let i = 0; i < 30; i++) {
      await c.tick();
      next = c.leader(oldId);
      if (next !== undefined && promoted === null) promoted = c.clock.monoMs();
      const received = c.clock.monoMs();
      pending.push(old.keeper.keepAlive(id).then(() => {
        acksAfterCut++;
        lastAck = Math.max(lastAck, received);
      }, () => {}));
    }
    for (let i = 0; i < 200 && !c.ended.has('b') && !c.ended.has('c') && !c.ended.has('a'); i++) {
      await c.tick();
      next = c.leader(oldId);
      if (next !== undefined && promoted === null) promoted = c.clock.monoMs();
    }
    assert.ok(promoted !== null && next !== undefined, `seed ${seed}: a new leader`);
    assert.ok(acksAfterCut > 0, `seed ${seed}: the cut-off leader answered some keep-alives on its lease`);
    const [newId] = next;
    const deletedAt = c.ended.get(newId);
    assert.ok(deletedAt !== undefined, `seed ${seed}: the new leader expired the lease`);
    assert.ok(deletedAt >= lastAck + TTL, `seed ${seed}: deleted at ${deletedAt}, last keep-alive acknowledged at ${lastAck}`);
    assert.ok(deletedAt >= promoted + SPAN + EXTENSION - 50, `seed ${seed}: the new leader waited TTL + extension (promoted ${promoted}, deleted ${deletedAt})`);
    assert.ok(deletedAt <= promoted + SPAN + EXTENSION + 100, `seed ${seed}: and not much longer`);
    assert.is(c.members.get(newId)!.machine.get('k'), undefined);
    assert.not.ok(c.ended.has(oldId), `seed ${seed}: the cut-off leader could not expire it alone`);
    assert.is(old.machine.get('k'), 'v');
    await c.stop();
    await Promise.all(pending);
  }
});

t.run();
