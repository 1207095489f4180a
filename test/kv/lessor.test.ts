// The leader's lease clocks: promotion gives every lease its TTL plus the extension, a renewal
// counts from when it was received, expiries come out oldest deadline first, a few per call,
// again after expiryRetryMs, and never for a lease that was renewed or for one already expiring.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Lessor, type LessorOptions } from '../../src/core/kv/lessor.ts';

const t = suite('kv lessor');
const opts: LessorOptions = { promoteExtensionMs: 500, driftPercent: 10, expiriesPerCall: 2, expiryRetryMs: 1000 };

t('the options are checked', () => {
  assert.throws(() => new Lessor({ ...opts, expiriesPerCall: 0 }), /lessor options/);
  assert.throws(() => new Lessor({ ...opts, expiryRetryMs: 0 }), /lessor options/);
  assert.throws(() => new Lessor({ ...opts, promoteExtensionMs: -1 }), /lessor options/);
  assert.throws(() => new Lessor({ ...opts, driftPercent: -1 }), /lessor options/);
});

t('not leading: no clocks, nothing due, nothing renewable', () => {
  const l = new Lessor(opts);
  assert.is(l.term, 0);
  l.granted(1, 1000, 0, true);
  assert.is(l.leases, 0, 'a grant applied on a follower starts no clock');
  assert.equal(l.due(1e9), []);
  assert.is(l.renew(1, 1000, 0), null);
  assert.is(l.remainingMs(1, 0), null);
});

t('promote gives every lease its TTL (with drift) plus the extension', () => {
  const l = new Lessor(opts);
  l.promote(3, 10_000, [{ id: 1, ttlMs: 1000 }, { id: 2, ttlMs: 2000 }]);
  assert.is(l.term, 3);
  assert.is(l.leases, 2);
  assert.is(l.remainingMs(1, 10_000), 1100 + 500);
  assert.is(l.remainingMs(2, 10_000), 2200 + 500);
  assert.equal(l.due(10_000 + 1599), [], 'not before');
  assert.equal(l.due(10_000 + 1600), [1], 'at the deadline');
  assert.is(l.remainingMs(1, 20_000), 0, 'never negative');
  assert.is(l.remainingMs(9, 10_000), null);
  // A second promotion (a later term) starts over: the expiry in flight is forgotten.
  l.promote(4, 20_000, [{ id: 1, ttlMs: 1000 }]);
  assert.is(l.leases, 1);
  assert.is(l.remainingMs(1, 20_000), 1600);
  assert.is(l.renew(1, 1000, 20_000), 1000, 'renewable again under the new term');
});

t('granted: TTL from now, with the extension only when the grant came from an earlier term', () => {
  const l = new Lessor(opts);
  l.promote(2, 0, []);
  l.granted(1, 1000, 100, true);
  l.granted(2, 1000, 100, false);
  assert.is(l.remainingMs(1, 100), 1100);
  assert.is(l.remainingMs(2, 100), 1600);
  l.gone(1);
  assert.is(l.remainingMs(1, 100), null);
  assert.is(l.leases, 1);
});

t('renew extends from the receive time, never shortens', () => {
  const l = new Lessor(opts);
  l.promote(1, 0, [{ id: 1, ttlMs: 1000 }]); // deadline 1600
  assert.is(l.renew(1, 1000, 1000), 1000);
  assert.is(l.remainingMs(1, 1000), 1100, 'deadline 1000 + 1100');
  assert.is(l.renew(1, 1000, 200), 1000, 'an older receive time (a slow read) keeps the later deadline');
  assert.is(l.remainingMs(1, 1000), 1100);
  assert.equal(l.due(2099), []);
  assert.equal(l.due(2100), [1]);
  assert.is(l.renew(42, 1000, 0), null, 'unknown lease');
});

t('due(): oldest deadline first (ties by id), at most expiriesPerCall, again after expiryRetryMs', () => {
  const l = new Lessor(opts);
  l.promote(1, 0, []);
  l.granted(5, 1000, 0, true); // 1100
  l.granted(3, 1000, 0, true); // 1100
  l.granted(4, 500, 0, true); // 550
  l.granted(9, 3000, 0, true); // 3300
  assert.equal(l.due(549), []);
  assert.equal(l.due(2000), [4, 3], 'deadline 550 first, then the 1100 tie by id, capped at 2');
  assert.equal(l.due(2000), [5], 'the rest next call; those handed out are not again yet');
  assert.equal(l.due(2999), [], '4 and 3 were proposed at 2000: no retry before 3000');
  assert.equal(l.due(3000), [4, 3], 'retried after expiryRetryMs');
  assert.equal(l.due(3400), [5, 9], '5 (proposed at 2000) retried, 9 due at 3300; 4 and 3 wait until 4000');
  assert.equal(l.due(4000), [4, 3]);
});

t('a lease whose renewal came in is not due; one whose expiry was handed out is not renewable', () => {
  const l = new Lessor(opts);
  l.promote(1, 0, [{ id: 1, ttlMs: 1000 }, { id: 2, ttlMs: 1000 }]); // both 1600
  assert.is(l.renew(1, 1000, 1500), 1000); // 2600
  assert.equal(l.due(1600), [2]);
  assert.is(l.renew(2, 1000, 1600), null, 'expiry under way');
  assert.is(l.remainingMs(2, 1600), 0);
  assert.equal(l.due(2599), []);
  assert.equal(l.due(2600), [2, 1], '2 again (its expiry was not applied within expiryRetryMs), 1 now due');
  // Applied: gone from every map; a new grant with the same id starts clean.
  l.gone(2);
  l.granted(2, 1000, 3000, true);
  assert.is(l.renew(2, 1000, 3000), 1000);
  l.gone(1);
  assert.equal(l.due(4099), []);
  assert.equal(l.due(4100), [2]);
});

t('demote clears every clock and expiry; a later promote starts fresh', () => {
  const l = new Lessor(opts);
  l.promote(1, 0, [{ id: 1, ttlMs: 100 }]);
  assert.equal(l.due(1000), [1]);
  l.demote();
  assert.is(l.term, 0);
  assert.is(l.leases, 0);
  assert.equal(l.due(1e9), []);
  assert.is(l.renew(1, 100, 0), null);
  l.promote(2, 5000, [{ id: 1, ttlMs: 100 }]);
  assert.is(l.remainingMs(1, 5000), 610);
  assert.is(l.renew(1, 100, 5000), 100, 'no longer expiring');
});

t.run();
