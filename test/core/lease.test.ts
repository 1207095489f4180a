// The leader lease at the core's API, on a hand-pumped three-voter cluster with one ManualClock:
// its length is (electionTicks - 1) x tickMs x (1 - drift) after the send of the newest confirmed
// round; it is measured on the clock read at the check (acknowledgements that arrive late cannot
// revive it), on whichever of the monotonic and wall clocks says more time passed, and it is gone
// for the rest of the term once a timeoutNow has left.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ManualClock } from '../../src/core/clock.ts';
import { validate } from '../../src/core/config.ts';
import type { Message } from '../../src/core/message.ts';
import { RaftNode } from '../../src/core/node.ts';
import { SeededPrng } from '../../src/core/prng.ts';
import { leaseMs } from '../../src/core/reads.ts';

const test = suite('lease');

const ids = ['a', 'b', 'c'];
const tickMs = 10;

class Cluster {
  readonly clock = new ManualClock();
  readonly nodes = new Map<string, RaftNode>();
  /** Messages sent and not delivered yet (the test decides what arrives). */
  wire: Message[] = [];
  /** Every read answered, by context. */
  readonly answers = new Map<number | string, { index: number; path: string }>();

  constructor() {
    for (const id of ids) {
      this.nodes.set(id, new RaftNode({
        options: { id, prng: new SeededPrng(id.charCodeAt(0)), clock: this.clock, tickMs },
        bootstrap: { voters: ids, learners: [] },
      }));
    }
  }

  n(id: string): RaftNode {
    return this.nodes.get(id)!;
  }

  /** Runs every node's Ready (writes durable at once); their messages go on the wire. */
  cycle(): void {
    for (const n of this.nodes.values()) {
      while (n.hasReady()) {
        const rd = n.ready();
        this.wire.push(...rd.messages, ...rd.messagesAfterPersist);
        for (const rs of rd.readStates) this.answers.set(rs.context, { index: rs.index, path: rs.path });
        n.advance(rd);
      }
    }
  }

  /** Delivers what is on the wire (those `keep` says to hold stay there), until it is quiet. */
  deliver(keep: (m: Message) => boolean = () => false): void {
    for (let i = 0; i < 50; i++) {
      this.cycle();
      const now = this.wire.filter((m) => !keep(m));
      this.wire = this.wire.filter(keep);
      if (now.length === 0) return;
      for (const m of now) this.n(m.to).step(m);
    }
  }

  /** One tick of time for everybody, then delivery. */
  tick(keep?: (m: Message) => boolean): void {
    this.clock.advance(tickMs);
    for (const n of this.nodes.values()) n.tick();
    this.deliver(keep);
  }

  /** Elects `a` and lets its no-op commit; a then holds a lease. */
  static led(): Cluster {
    const c = new Cluster();
    // Voters refuse votes for their first election timeout after a start.
    for (let i = 0; i < 10; i++) c.tick();
    c.n('a').campaign();
    c.deliver();
    for (let i = 0; i < 3; i++) c.tick();
    assert.is(c.n('a').status().role, 'leader');
    assert.ok(c.n('a').status().leaseValid, 'a confirmed heartbeat round gives a lease');
    return c;
  }

  /** A lease read at `id`: its ReadState, or null when it was not answered at once. */
  leaseRead(id: string, ctx: number): { index: number; path: string } | null {
    this.n(id).readIndex(ctx, { allowLease: true });
    this.cycle();
    return this.answers.get(ctx) ?? null;
  }
}

test('the lease length is the formula: (electionTicks - 1) x tickMs x (1 - drift)', () => {
  const cfg = validate({ id: 'a', prng: new SeededPrng(1), clock: new ManualClock(), tickMs: 50, electionTicks: 10, leaseDriftPercent: 10 });
  assert.is(leaseMs(cfg), 9 * 50 * 0.9);
  const tight = validate({ id: 'a', prng: new SeededPrng(1), clock: new ManualClock(), tickMs: 20, electionTicks: 4, leaseDriftPercent: 0 });
  assert.is(leaseMs(tight), 60);
});

test('a lease read is answered at once while the lease holds, and not once it ran out', () => {
  const c = Cluster.led();
  const r = c.leaseRead('a', 1);
  assert.equal(r?.path, 'lease');
  // Nothing reaches a any more: no round is confirmed after this one.
  const cutOff = (m: Message) => m.to === 'a';
  const len = leaseMs(c.n('a').cfg);
  c.clock.advance(len - tickMs);
  assert.ok(c.n('a').status().leaseValid, 'still inside the lease');
  c.clock.advance(tickMs);
  assert.not.ok(c.n('a').status().leaseValid, 'the lease ended on the clock, without a single tick');
  assert.is(c.leaseRead('a', 2), null, 'served by ReadIndex instead, which needs a quorum');
  c.deliver(cutOff);
});

test('acknowledgements of a round sent before a stall do not bring the lease back', () => {
  const c = Cluster.led();
  // a sends a round; its acknowledgements are held (the leader is stopped, they wait in its buffer).
  c.clock.advance(tickMs);
  c.n('a').tick();
  c.cycle();
  const held = (m: Message) => m.to === 'a';
  c.deliver(held);
  assert.ok(c.wire.some((m) => m.type === 'hbResp'), 'the acknowledgements are waiting for a');
  // The stall: far longer than the lease. (The runtime skips the stalled ticks: a gets one.)
  c.clock.advance(20 * tickMs);
  c.n('a').tick();
  // a resumes and steps the old acknowledgements first.
  for (const m of c.wire.filter(held)) c.n('a').step(m);
  c.wire = c.wire.filter((m) => !held(m));
  assert.not.ok(c.n('a').status().leaseValid, 'a round sent before the stall dates the lease from its own send');
  assert.is(c.leaseRead('a', 1), null, 'no lease read after the stall');
});

test('a suspended machine: the wall clock ends the lease while the monotonic clock stood still', () => {
  const c = Cluster.led();
  c.clock.suspend(10 * tickMs);
  assert.not.ok(c.n('a').status().leaseValid);
  assert.is(c.leaseRead('a', 1), null);
});

test('a wall clock stepped backwards does not stretch the lease: the monotonic clock still counts', () => {
  const c = Cluster.led();
  c.clock.stepWall(-60_000);
  assert.ok(c.n('a').status().leaseValid);
  c.clock.advance(leaseMs(c.n('a').cfg));
  assert.not.ok(c.n('a').status().leaseValid);
});

test('once a timeoutNow has left, no lease for the rest of the term: lease reads go by ReadIndex and say so', () => {
  const c = Cluster.led();
  const before = c.n('a').status().stats.leaseForfeitedTerms;
  c.n('a').transferLeadership('b');
  // The timeoutNow leaves and is lost; the transfer is abandoned after an election timeout.
  c.deliver((m) => m.type === 'timeoutNow');
  c.wire = c.wire.filter((m) => m.type !== 'timeoutNow');
  assert.is(c.n('a').status().stats.leaseForfeitedTerms, before + 1, 'the forfeit is counted');
  for (let i = 0; i < 12; i++) c.tick();
  assert.is(c.n('a').status().role, 'leader', 'still the leader: the transfer failed');
  assert.not.ok(c.n('a').status().leaseValid, 'heartbeat rounds confirmed since do not restore it');
  // A read that asked for the lease is served by ReadIndex: its path says so.
  assert.is(c.leaseRead('a', 7), null, 'not answered at once: a heartbeat round confirms it');
  c.deliver();
  assert.equal(c.answers.get(7), { index: c.n('a').status().commit, path: 'readIndex' });
  assert.is(c.n('a').status().stats.leaseForfeitedTerms, before + 1, 'counted once per term');
});

test('a new term brings the lease back to a leader that forfeited it', () => {
  const c = Cluster.led();
  c.n('a').transferLeadership('b');
  c.deliver();
  for (let i = 0; i < 3; i++) c.tick();
  assert.is(c.n('b').status().role, 'leader', 'the transfer completed');
  assert.ok(c.n('b').status().leaseValid, 'the new leader has its own lease');
  c.n('b').transferLeadership('a');
  c.deliver();
  for (let i = 0; i < 3; i++) c.tick();
  assert.is(c.n('a').status().role, 'leader');
  assert.ok(c.n('a').status().leaseValid, 'a leads a new term, with a lease');
});

test('without a clock there is no lease: validate() asks for one, or for leaseReads off', () => {
  assert.throws(() => validate({ id: 'a', prng: new SeededPrng(1) }), /invalid option clock: must be given when leaseReads is on/);
});

test.run();
