// A lease on the client side, on a fake clock: keep-alives go out every third of the TTL; the
// lease is lost exactly at (send time of the last acknowledged keep-alive + TTL - margin), not
// at the receipt of the answer and not later; an answer that comes after that time does not bring
// it back; the cluster's ERR_LEASE_NOT_FOUND loses it at once; revoke and close end it without the
// 'lost' event; `alive` reads the clock, so it is false past the deadline even before any timer ran.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ClientError } from '../../src/client/errors.ts';
import { defaultMarginMs, Lease, LeaseKeeper, type LeaseClock } from '../../src/client/lease.ts';

const t = suite('client lease timing');

/** A clock whose time moves only when the test says; timers fire in time order as it passes. */
class FakeClock implements LeaseClock {
  t = 1_000_000;
  #timers: Array<{ at: number; fn: () => void; live: boolean }> = [];
  now(): number {
    return this.t;
  }
  setTimer(fn: () => void, ms: number): () => void {
    const timer = { at: this.t + Math.max(0, ms), fn, live: true };
    this.#timers.push(timer);
    return () => { timer.live = false; };
  }
  /** Moves time to `to`, running every timer due on the way (and their promise continuations). */
  async advance(ms: number): Promise<void> {
    const to = this.t + ms;
    for (;;) {
      const due = this.#timers.filter((x) => x.live && x.at <= to).sort((a, b) => a.at - b.at)[0];
      if (due === undefined) break;
      due.live = false;
      this.t = Math.max(this.t, due.at);
      due.fn();
      await flush();
    }
    this.t = to;
    await flush();
  }
  /** Moves time without running any timer (a paused process). */
  jump(ms: number): void {
    this.t += ms;
  }
}

async function flush(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

interface Sent { at: number; timeoutMs: number; answer(ttlMs: number): void; fail(err: Error): void }

function keeper(ttlMs: number, marginMs: number) {
  const clock = new FakeClock();
  const sent: Sent[] = [];
  const grantSentAt = clock.now();
  const lease = new Lease(7, ttlMs, marginMs, grantSentAt, clock);
  const k = new LeaseKeeper(lease, grantSentAt, clock, (timeoutMs) => new Promise<number>((resolve, reject) => {
    sent.push({ at: clock.now(), timeoutMs, answer: resolve, fail: reject });
  }));
  const lost: ClientError[] = [];
  lease.on('lost', (e) => lost.push(e));
  return { clock, sent, lease, k, lost, grantSentAt };
}

t('the default margin is a tenth of the TTL, at most 2 s', () => {
  assert.is(defaultMarginMs(1000), 100);
  assert.is(defaultMarginMs(60_000), 2000);
});

t('keep-alives every ttl/3; the deadline is the last acknowledged send + TTL - margin', async () => {
  const { clock, sent, lease, k, lost, grantSentAt } = keeper(3000, 300);
  assert.is(lease.deadline, grantSentAt + 2700, 'counted from the grant before any keep-alive');
  k.start();
  await clock.advance(999);
  assert.is(sent.length, 0);
  await clock.advance(1);
  assert.is(sent.length, 1, 'the first keep-alive at ttl/3');
  assert.is(sent[0]!.timeoutMs, 1700, 'given until the deadline to be answered');
  await clock.advance(250);
  sent[0]!.answer(3000);
  await flush();
  assert.is(lease.deadline, grantSentAt + 1000 + 2700, 'from the send time, not the answer time');
  await clock.advance(750);
  assert.is(sent.length, 2, 'the next one ttl/3 after the last send');
  // No answer ever comes: lost exactly at the deadline.
  await clock.advance(lease.deadline - clock.now() - 1);
  assert.ok(lease.alive);
  assert.is(lost.length, 0);
  assert.is(sent.length, 2, 'one keep-alive in flight at a time (it is given until the deadline)');
  await clock.advance(1);
  assert.not.ok(lease.alive);
  assert.is(lease.state, 'lost');
  assert.is(lost.length, 1);
  assert.is(lost[0]!.code, 'ERR_LEASE_LOST');
  assert.ok(lease.signal.aborted);
  assert.is((lease.signal.reason as ClientError).code, 'ERR_LEASE_LOST');
  assert.match(lost[0]!.message, /no keep-alive was acknowledged in time/);
  const n = sent.length;
  await clock.advance(10_000);
  assert.is(sent.length, n, 'nothing more is sent for a lost lease');
  assert.is(lost.length, 1, 'lost is reported once');
});

t('an answer that arrives after the deadline does not bring the lease back', async () => {
  const { clock, sent, lease, k, lost } = keeper(3000, 300);
  k.start();
  await clock.advance(1000);
  assert.is(sent.length, 1);
  clock.jump(5000); // the process was paused: no timer ran
  assert.not.ok(lease.alive, 'alive reads the clock, before any timer fires');
  assert.is(lease.state, 'active');
  sent[0]!.answer(3000);
  await flush();
  assert.is(lease.state, 'lost');
  assert.is(lost.length, 1);
});

t('the cluster saying the lease is gone loses it at once', async () => {
  const { clock, sent, lease, k, lost } = keeper(3000, 300);
  k.start();
  await clock.advance(1000);
  sent[0]!.fail(new ClientError('ERR_LEASE_NOT_FOUND', 'lease 7 does not exist'));
  await flush();
  assert.is(lease.state, 'lost');
  assert.match(lost[0]!.message, /gone on the cluster/);
  assert.ok(lease.deadline > clock.now(), 'well before its deadline');
});

t('a failed keep-alive is retried after a short pause, and a later answer keeps the lease', async () => {
  const { clock, sent, lease, k, lost } = keeper(3000, 300);
  k.start();
  await clock.advance(1000);
  sent[0]!.fail(new ClientError('ERR_TIMEOUT', 'no answer'));
  await flush();
  await clock.advance(150);
  assert.is(sent.length, 2, 'again after max(50, ttl/20) = 150 ms');
  sent[1]!.answer(3000);
  await flush();
  assert.is(lease.deadline, sent[1]!.at + 2700);
  assert.is(lost.length, 0);
  assert.ok(lease.alive);
});

t('revoke and close end the lease without the lost event; the signal says why', async () => {
  const a = keeper(3000, 300);
  a.k.start();
  a.k.stop('revoked', new ClientError('ERR_LEASE_LOST', 'revoked by this client'));
  assert.is(a.lease.state, 'revoked');
  assert.ok(a.lease.signal.aborted);
  await a.clock.advance(10_000);
  assert.is(a.lost.length, 0);
  assert.is(a.sent.length, 0);
  const b = keeper(3000, 300);
  b.k.stop('closed', new ClientError('ERR_CLOSED', 'closed'));
  assert.is(b.lease.state, 'closed');
  assert.is((b.lease.signal.reason as ClientError).code, 'ERR_CLOSED');
  assert.is(b.lease.remainingMs, 0);
});

t.run();
