// The bounded fault suite (`npm test`): real peers on loopback, concurrent SDK clients recording a
// history, and a seeded nemesis (kill -9, SIGSTOP, partitions through injectFault, WAL tail
// damage, membership changes, leadership transfer) for 45 s on 3 peers and 30 s on 5, plus 30 s
// on 3 peers across the WAN emulator's wan3 profile; then heal and check linearizability, equal
// replicas and that no acknowledged write is missing. The seed is printed first; FAULTS_SEED=N
// replays it (`npm run soak` runs the same thing for longer). FAULTS_NET=wan3|wan5|lossy|lan runs
// the loopback runs through that profile's relays too (bench/lib/net/profiles.ts).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { parseNet, profiles, type NetProfile } from '../../bench/lib/net/profiles.ts';
import { checkHistory } from '../lincheck/checker.ts';
import { checkStaleReads, History } from './history.ts';
import { checkAckedWrites } from './nemesis-checks.ts';
import { FaultRun, modes, type Mode } from './nemesis-run.ts';

const test = suite('faults');

const clients = 5;
/** The profile of the loopback runs (FAULTS_NET; unset or empty: direct loopback). */
const envNet = parseNet(process.env.FAULTS_NET || undefined);
const replayEnv = (seed: number): string => `${envNet !== null ? `FAULTS_NET=${envNet.name} ` : ''}FAULTS_SEED=${seed}`;

function seedFor(label: string): number {
  const env = process.env.FAULTS_SEED;
  const seed = env !== undefined && env !== '' ? Number(env) >>> 0 : (Date.now() ^ Math.floor(Math.random() * 2 ** 31)) >>> 0;
  console.log(`faults ${label}: seed ${seed} (replay: ${replayEnv(seed)} node --import tsx node_modules/uvu/bin.js test/e2e faults)`);
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

/** One seeded run of `seconds` of faults, and the end-of-run checks. */
async function faultRun(peers: number, mode: Mode, seconds: number, net: NetProfile | null): Promise<void> {
  const label = `${peers} peers ${mode}${net !== null ? ` on ${net.name}` : ''}`;
  const seed = seedFor(label);
  const run = await FaultRun.start({
    name: `faults-${peers}-${mode}${net !== null ? `-${net.name}` : ''}`, peers, mode, clients, net, netSeed: seed,
    replay: (s) => `${replayEnv(s)} node --import tsx node_modules/uvu/bin.js test/e2e faults` +
      `${net === null ? `   (or: npm run soak -- --seconds ${seconds} --seed ${s} --peers ${peers} --clients ${clients})` : ''}`,
  });
  let ok = false;
  try {
    const r = await run.round(seed, seconds * 1000, '');
    assert.ok(r.ok, `\n${r.text}`);
    const done = r.schedule.filter((e) => e.outcome === 'done').length;
    assert.ok(done >= 5, `only ${done} faults were carried out (seed ${seed}):\n${r.schedule.map((e) => e.detail).join('\n')}`);
    assert.ok(r.ops.ok >= 200, `only ${r.ops.ok} operations succeeded (seed ${seed})`);
    let relayed = '';
    const stats = await run.netStats();
    if (stats !== null) {
      // Every member pair's links carried Raft traffic, so the run really crossed the WAN.
      const idle = stats.links.filter((l) => /^n\d+->n\d+$/.test(l.name) && l.chunks === 0).map((l) => l.name);
      assert.equal(idle, [], `peer links that carried nothing (seed ${seed})`);
      const chunks = stats.links.reduce((n, l) => n + l.chunks, 0);
      relayed = `; relays: ${chunks} chunks, ${stats.links.reduce((n, l) => n + l.lost, 0)} lost, timer lag p99 ${stats.timerLagP99Ms.toFixed(1)} ms`;
    }
    console.log(`faults ${label}: ${r.ops.ok} ok, ${r.ops.unknown} unknown, ${r.ops.staleReads} stale reads; faults ${JSON.stringify(r.faultsByKind)}${relayed}`);
    ok = true;
  } finally {
    await run.close(!ok);
  }
}

for (const mode of modes) {
  for (const { peers, seconds } of runsOf(mode)) {
    test(`${peers} peers, ${mode}${envNet !== null ? ` on ${envNet.name}` : ''}: ${seconds} s of seeded faults leave a linearizable history, equal replicas and every acknowledged write`, () =>
      faultRun(peers, mode, seconds, envNet));
  }
}

// Across regions 20-90 ms apart with jitter, on the ticks suggestedPeerArgs derives from them.
test('3 peers, raft, --net wan3: 30 s of seeded faults leave a linearizable history, equal replicas and every acknowledged write', () =>
  faultRun(3, 'raft', 30, profiles.wan3!));

test.run();
