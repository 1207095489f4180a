// Token revocations in the machine: which tokens a revocation covers (a subject's issued until
// then, or one id), forgetting by the revoking entry's own time, the bound and its error, merging
// a second revocation of the same name, snapshots, and the revocation listener.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { encodeCommand, type KvCommand } from '../../src/core/kv/command.ts';
import { KvMachine, type KvResult } from '../../src/core/kv/machine.ts';
import { RevocationLimitError, Revocations, type Revocation } from '../../src/core/kv/revocations.ts';

const t = suite('token revocations');

const day = 86_400_000;
const sub = (name: string, revokedAtMs: number, untilMs: number): Revocation => ({ by: 'sub', name, revokedAtMs, untilMs });
const jti = (name: string, revokedAtMs: number, untilMs: number): Revocation => ({ by: 'jti', name, revokedAtMs, untilMs });

t('by subject: tokens issued at or before the revocation, not after; unknown issue time counts as before', () => {
  const r = new Revocations();
  r.add(sub('alice', 1000, 1000 + day), 1000);
  assert.is(r.find({ sub: 'alice', jti: null, issuedAtMs: 999 })?.name, 'alice');
  assert.is(r.find({ sub: 'alice', jti: 'x', issuedAtMs: 1000 })?.name, 'alice', 'issued in the same millisecond');
  assert.is(r.find({ sub: 'alice', jti: null, issuedAtMs: 1001 }), undefined, 'a token minted after it is good');
  assert.is(r.find({ sub: 'alice', jti: null, issuedAtMs: null })?.by, 'sub', 'no issue time: covered');
  assert.is(r.find({ sub: 'bob', jti: null, issuedAtMs: 0 }), undefined);
});

t('by id: that token only, whatever its subject or issue time', () => {
  const r = new Revocations();
  r.add(jti('t-1', 5000, 9000), 5000);
  assert.is(r.find({ sub: 'alice', jti: 't-1', issuedAtMs: 6000 })?.by, 'jti');
  assert.is(r.find({ sub: 'alice', jti: 't-2', issuedAtMs: 1 }), undefined);
  assert.is(r.find({ sub: 't-1', jti: null, issuedAtMs: 1 }), undefined, 'an id is not a subject');
});

t('forgotten once untilMs passed, by the time of a later revocation (never a local clock)', () => {
  const r = new Revocations();
  r.add(jti('a', 0, 100), 0);
  r.add(sub('s', 0, 300), 0);
  assert.is(r.size, 2);
  r.add(jti('b', 100, 500), 100);
  assert.equal(r.all().map((x) => x.name), ['s', 'b'], 'a (until 100) is forgotten at 100');
  r.forget(299);
  assert.is(r.size, 2);
  r.forget(300);
  assert.equal(r.all().map((x) => x.name), ['b']);
});

t('a second revocation of the same name keeps the later time and the later forget time', () => {
  const r = new Revocations();
  r.add(sub('alice', 2000, 10_000), 2000);
  r.add(sub('alice', 1000, 50_000), 2000);
  assert.equal(r.all(), [sub('alice', 2000, 50_000)]);
  assert.is(r.size, 1);
});

t('bounded: one more than max in force is refused with an error that says what to do; forgotten ones make room', () => {
  const r = new Revocations(2);
  r.add(jti('a', 0, 100), 0);
  r.add(jti('b', 0, 200), 0);
  assert.throws(() => r.add(jti('c', 50, 300), 50), (e: unknown) => e instanceof RevocationLimitError && /2 token revocations are in force \(revocationsMax\)/.test((e as Error).message));
  r.add(jti('a', 60, 400), 60);
  assert.is(r.size, 2, 'a revocation of a name already kept needs no room');
  r.add(jti('c', 200, 300), 200);
  assert.equal(r.all().map((x) => x.name).sort(), ['a', 'c'], 'b (until 200) made room');
  assert.throws(() => new Revocations(0), /revocationsMax/);
});

class Log {
  readonly m: KvMachine;
  index = 0;
  constructor(revocationsMax?: number) {
    this.m = new KvMachine(revocationsMax !== undefined ? { revocationsMax } : {});
  }
  run(cmd: KvCommand, timeMs = 1000): KvResult {
    return this.m.apply({ index: ++this.index, term: 1, type: 'normal', data: encodeCommand({ timeMs, session: null, cmd }) })!;
  }
}

const revoke = (by: 'sub' | 'jti', name: string, revokedAtMs: number, untilMs: number): KvCommand => ({ op: 'tokenRevoke', by, name, revokedAtMs, untilMs });

t('the machine applies revocations, tells its listeners, refuses past its bound, and snapshots them', () => {
  const l = new Log(2);
  const told: Revocation[] = [];
  l.m.onRevoke((r) => told.push(r));
  assert.equal(l.run(revoke('sub', 'alice', 1000, 1000 + day)), { op: 'tokenRevoke', index: 1, revocations: 1 });
  assert.equal(l.run(revoke('jti', 'tok-9', 1000, 5000)), { op: 'tokenRevoke', index: 2, revocations: 2 });
  const full = l.run(revoke('jti', 'tok-10', 2000, 6000));
  assert.is(full.op === 'error' ? full.code : full.op, 'ERR_REVOCATION_LIMIT');
  assert.equal(told.map((r) => r.name), ['alice', 'tok-9'], 'a refused revocation is not told');
  assert.is(l.m.revocation({ sub: 'alice', jti: null, issuedAtMs: 500 })?.revokedAtMs, 1000);

  const copy = new KvMachine();
  copy.restore(l.m.snapshot());
  assert.equal(copy.revocations(), l.m.revocations());
  assert.is(copy.revocation({ sub: 'x', jti: 'tok-9', issuedAtMs: 1 })?.by, 'jti');
  // The entry's own time forgets: tok-9 (until 5000) goes when a revocation at 5000 applies.
  assert.equal(l.run(revoke('jti', 'tok-10', 5000, 9000)), { op: 'tokenRevoke', index: 4, revocations: 2 });
  assert.is(l.m.revocation({ sub: 'x', jti: 'tok-9', issuedAtMs: 1 }), undefined);
});

t('revocations apply the same in ParallelRaft order (they conflict with everything, so they apply in log order)', () => {
  const m = new KvMachine({ outOfOrder: true });
  m.apply({ index: 1, term: 1, type: 'normal', data: encodeCommand({ timeMs: 1, session: null, cmd: revoke('sub', 's', 1, 10) }) });
  assert.is(m.revocations().length, 1);
});

t.run();
