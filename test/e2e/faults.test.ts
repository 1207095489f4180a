// The bounded fault suite (`npm test`): real peers on loopback, concurrent SDK clients recording a
// history, and a seeded nemesis (kill -9, SIGSTOP, partitions through injectFault, WAL tail
// damage, membership changes, leadership transfer) for 45 s on 3 peers and 30 s on 5; then heal
// and check linearizability, equal replicas and that no acknowledged write is missing. The seed is
// printed first; FAULTS_SEED=N replays it (`npm run soak` runs the same thing for longer).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { checkHistory } from '../lincheck/checker.ts';
import { checkStaleReads, History } from './history.ts';
import { checkAckedWrites } from './nemesis-checks.ts';
import { FaultRun, modes, type Mode } from './nemesis-run.ts';

const test = suite('faults');

const clients = 5;

function seedFor(label: string): number {
  const env = process.env.FAULTS_SEED;
  const seed = env !== undefined && env !== '' ? Number(env) >>> 0 : (Date.now() ^ Math.floor(Math.random() * 2 ** 31)) >>> 0;
  console.log(`faults ${label}: seed ${seed} (replay: FAULTS_SEED=${seed} node --import tsx node_modules/uvu/bin.js test/e2e faults)`);
  return seed;
}

test('the end-of-run checks catch a lost acknowledged write, a stale read of a value never written, and a non-linearizable read', () => {
  const h = new History();
  const put = (client: string, key: string, value: string) => h.ok(h.call(client, 'put', key, { value }));
  put('a', 'k', 'v1');
  put('a', 'k', 'v2');
  put('b', 'j', 'w1');
  h.unknown(h.call('b', 'put', 'j', { value: 'w2' }));
  // v2 was acknowledged after v1 returned: a final v1 means v2 was lost; j may hold w1 or w2.
  assert.equal(checkAckedWrites(h, new Map([['k', 'v2'], ['j', 'w2']])), []);
  assert.equal(checkAckedWrites(h, new Map([['k', 'v2'], ['j', 'w1']])), []);
  const lost = checkAckedWrites(h, new Map([['k', 'v1'], ['j', 'w1']]));
  assert.is(lost.length, 1, lost.join('\n'));
  assert.match(lost[0]!, /^k: the cluster holds "v1"/);
  assert.equal(checkAckedWrites(h, new Map([['j', 'w1']])).length, 1, 'k deleted without a delete');

  h.stale('c', 'k', h.now(), 'v1', 'n2');
  h.stale('c', 'k', h.now(), null, 'n2');
  assert.equal(checkStaleReads(h), []);
  h.stale('c', 'k', h.now(), 'v9', 'n3');
  assert.match(checkStaleReads(h).join('\n'), /"v9", which no put or cas wrote/);

  // A linearizable read of v1 after v2 was acknowledged.
  h.ok(h.call('c', 'get', 'k'), 'v1');
  assert.not.ok(checkHistory(h.ops).ok, 'the checker must reject a read of an overwritten value');
});

const runs: ReadonlyArray<{ peers: number; seconds: number }> = [{ peers: 3, seconds: 45 }, { peers: 5, seconds: 30 }];

// Parallel mode gets the 3-peer run only, to keep `npm test` within its time budget.
const runsOf = (mode: Mode) => (mode === 'parallel' ? [{ peers: 3, seconds: 40 }] : runs);

for (const mode of modes) {
  for (const { peers, seconds } of runsOf(mode)) {
    test(`${peers} peers, ${mode}: ${seconds} s of seeded faults leave a linearizable history, equal replicas and every acknowledged write`, async () => {
      const seed = seedFor(`${peers} peers ${mode}`);
      const run = await FaultRun.start({
        name: `faults-${peers}-${mode}`, peers, mode: mode as Mode, clients,
        replay: (s) => `FAULTS_SEED=${s} node --import tsx node_modules/uvu/bin.js test/e2e faults   ` +
          `(or: npm run soak -- --seconds ${seconds} --seed ${s} --peers ${peers} --clients ${clients})`,
      });
      let ok = false;
      try {
        const r = await run.round(seed, seconds * 1000, '');
        assert.ok(r.ok, `\n${r.text}`);
        const done = r.schedule.filter((e) => e.outcome === 'done').length;
        assert.ok(done >= 5, `only ${done} faults were carried out (seed ${seed}):\n${r.schedule.map((e) => e.detail).join('\n')}`);
        assert.ok(r.ops.ok >= 200, `only ${r.ops.ok} operations succeeded (seed ${seed})`);
        console.log(`faults ${peers} peers ${mode}: ${r.ops.ok} ok, ${r.ops.unknown} unknown, ${r.ops.staleReads} stale reads; faults ${JSON.stringify(r.faultsByKind)}`);
        ok = true;
      } finally {
        await run.close(!ok);
      }
    });
  }
}

test.run();
