// The WAN link emulator (bench/lib/net/) checked at the receiver: plain TCP servers in this process
// stand for members, and timestamped lines sent through the relays show the delay, order, loss and
// bandwidth they claim (one clock: this process's). Bands are generous: the machine is shared.
import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { SeededPrng } from '../../src/core/prng.ts';
import { NetEmulator } from '../../bench/lib/net/emulator.ts';
import {
  extraDelayMs, oneWayMs, parseNet, profiles, quorumRttMs, suggestedPeerArgs, validateProfile, type NetProfile,
} from '../../bench/lib/net/profiles.ts';
import { ProcessGroup, sleep } from '../../bench/lib/procs.ts';

const test = suite('net emulator');

/** Two regions 40 ms apart (2 ms within); tests vary the rest. */
function twoRegions(more: Partial<NetProfile>): NetProfile {
  return validateProfile({
    name: 'test2', description: 'two regions for the self-tests', regions: ['a', 'b'], rttMs: [[2, 40], [40, 2]], jitterMs: 0, jitter: 'none',
    loss: 0, rtoMs: 200, bandwidthMbps: null, memberRegion: (i) => i % 2, clientRegions: [0, 1], ...more,
  });
}

interface Arrival {
  readonly conn: number;
  readonly seq: number;
  readonly delayMs: number;
}

/** A member stand-in: records each line `SEQ SENT_MS` it receives (with its delay), and may answer each connection. */
class Member {
  readonly arrivals: Arrival[] = [];
  bytes = 0;
  lastByteMs = 0;
  /** Connections whose sender closed (FIN) after its data. */
  ends = 0;
  #conns = 0;
  readonly #sockets = new Set<Socket>();

  private constructor(readonly server: Server, readonly echo: boolean, readonly greeting: Buffer | null) {}

  static async listen(o: { echo?: boolean; greeting?: Buffer } = {}): Promise<Member> {
    let m: Member | null = null;
    const server = createServer((s) => m!.#accept(s));
    m = new Member(server, o.echo ?? false, o.greeting ?? null);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return m;
  }

  get port(): number {
    const a = this.server.address();
    if (a === null || typeof a === 'string') throw new Error('not listening');
    return a.port;
  }

  #accept(s: Socket): void {
    const conn = this.#conns++;
    this.#sockets.add(s);
    s.setNoDelay(true);
    if (this.greeting !== null) s.write(this.greeting);
    let rest = '';
    s.on('data', (chunk: Buffer) => {
      const nowMs = performance.now();
      this.bytes += chunk.length;
      this.lastByteMs = nowMs;
      if (this.echo) s.write(chunk);
      const lines = (rest + chunk.toString('latin1')).split('\n');
      rest = lines.pop()!;
      for (const line of lines) {
        const [seq, sentMs] = line.split(' ').map(Number);
        if (seq !== undefined && sentMs !== undefined && Number.isFinite(sentMs)) this.arrivals.push({ conn, seq, delayMs: nowMs - sentMs });
      }
    });
    s.on('end', () => {
      this.ends++;
      s.end();
    });
    s.on('error', () => {});
    s.on('close', () => this.#sockets.delete(s));
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await new Promise((r) => this.server.close(r));
  }
}

/** A client connection that also records the lines echoed back to it (their round trip). */
async function dial(port: number): Promise<{ socket: Socket; echoed: Arrival[]; received: () => number }> {
  const socket = connect({ host: '127.0.0.1', port });
  socket.setNoDelay(true);
  await once(socket, 'connect');
  const echoed: Arrival[] = [];
  let bytes = 0;
  let rest = '';
  socket.on('data', (chunk: Buffer) => {
    const nowMs = performance.now();
    bytes += chunk.length;
    const lines = (rest + chunk.toString('latin1')).split('\n');
    rest = lines.pop()!;
    for (const line of lines) {
      const [seq, sentMs] = line.split(' ').map(Number);
      if (seq !== undefined && sentMs !== undefined) echoed.push({ conn: 0, seq, delayMs: nowMs - sentMs });
    }
  });
  socket.on('error', () => {});
  return { socket, echoed, received: () => bytes };
}

/** The relay port member `viewer` dials to reach `target`, from its --peers value. */
function portIn(peers: string, target: string): number {
  const entry = peers.split(',').find((e) => e.startsWith(`${target}=`));
  assert.ok(entry !== undefined, `${target} is not in ${peers}`);
  return Number(entry.split(':').pop());
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function rejects(p: Promise<unknown>, pattern: RegExp): Promise<void> {
  const err = await p.then(() => null, (e: Error) => e);
  assert.ok(err !== null, `resolved; expected an error matching ${pattern}`);
  assert.match(err.message, pattern);
}

const line = (seq: number): string => `${seq} ${performance.now()}\n`;

/** Lines 0..count-1 on `socket`, `gapMs` apart. */
async function sendSpaced(socket: Socket, count: number, gapMs: number): Promise<void> {
  for (let seq = 0; seq < count; seq++) {
    socket.write(line(seq));
    await sleep(gapMs);
  }
}

/** Starts an emulator on `profile` over two stand-in members m0 (region a) and m1 (region b). */
async function withNet(profile: NetProfile, o: { echo?: boolean; greeting?: Buffer }, fn: (net: NetEmulator, m: Member[], peersOf: (id: string) => string) => Promise<void>): Promise<void> {
  const group = new ProcessGroup();
  const members = [await Member.listen(o), await Member.listen(o)];
  const net = await NetEmulator.start(profile, group, 7);
  try {
    const peersOf = await net.routePeers(['m0', 'm1'], members.map((m) => m.port));
    await fn(net, members, peersOf);
  } finally {
    await net.stop();
    await group.stopAll();
    await Promise.all(members.map((m) => m.close()));
  }
}

test('profiles: the named ones are sound, and bad ones are refused naming the field and the value', () => {
  assert.equal(Object.keys(profiles).sort(), ['lan', 'lossy', 'wan3', 'wan5']);
  assert.is(parseNet(undefined), null);
  assert.is(parseNet('wan3'), profiles.wan3);
  assert.throws(() => parseNet('wan9'), (e: Error) => /'wan9'/.test(e.message) && /lan, wan3, wan5, lossy/.test(e.message));
  const base = twoRegions({});
  assert.throws(() => validateProfile({ ...base, rttMs: [[2, 40], [40]] }), /rttMs\[1\].*square.*\[40\]/);
  assert.throws(() => validateProfile({ ...base, rttMs: [[2, 40]] }), /rttMs must be a square 2x2/);
  assert.throws(() => validateProfile({ ...base, rttMs: [[2, -40], [-40, 2]] }), /rttMs\[0\]\[1\].*>= 0.*-40/);
  assert.throws(() => validateProfile({ ...base, loss: 1 }), /loss must be a chance in \[0, 1\) \(got 1\)/);
  assert.throws(() => validateProfile({ ...base, loss: -0.1 }), /loss .*-0.1/);
  assert.throws(() => validateProfile({ ...base, bandwidthMbps: 0 }), /bandwidthMbps .*got 0/);
  assert.throws(() => validateProfile({ ...base, memberRegion: () => 2 }), /memberRegion\(0, 1\).*got 2/);
  assert.throws(() => validateProfile({ ...base, clientRegions: [0, 5] }), /clientRegions/);
});

test('profiles: one-way latency, the nearest quorum, and the peer flags derived from the largest RTT', () => {
  const wan3 = profiles.wan3!;
  assert.is(oneWayMs(wan3, 0, 2), 35);
  assert.is(quorumRttMs(wan3, 3, 0), 20);
  assert.is(quorumRttMs(wan3, 3, 2), 70);
  assert.is(quorumRttMs(profiles.wan5!, 5, 0), 70);
  assert.is(quorumRttMs(wan3, 1, 0), 0);
  assert.equal(suggestedPeerArgs(wan3), ['--tick-ms', '90', '--read-rounds', '8']);
  assert.equal(suggestedPeerArgs(profiles.wan5!), ['--tick-ms', '150', '--read-rounds', '8']);
  assert.equal(suggestedPeerArgs(profiles.lan!), ['--tick-ms', '50']);
  // Both jitter shapes have a mean of about jitterMs and never go negative.
  for (const shape of ['normal', 'pareto'] as const) {
    const prng = new SeededPrng(3);
    const draws = Array.from({ length: 20_000 }, () => extraDelayMs(prng, shape, 4));
    const mean = draws.reduce((a, b) => a + b, 0) / draws.length;
    assert.ok(Math.min(...draws) >= 0, shape);
    assert.ok(mean > 3 && mean < 5.5, `${shape}: mean ${mean}`);
  }
});

test('one-way delay at the receiver lies in a band around the configured latency, both ways and for clients', async () => {
  await withNet(twoRegions({}), { echo: true }, async (net, members, peersOf) => {
    const viaPeer = await dial(portIn(peersOf('m0'), 'm1'));
    const nearClient = await dial(Number((await net.clientUrl(1, 'm1')).split(':').pop()));
    for (let seq = 0; seq < 60; seq++) {
      viaPeer.socket.write(line(seq));
      nearClient.socket.write(line(1000 + seq));
      await sleep(3);
    }
    await sleep(150);
    const far = members[1]!.arrivals.filter((a) => a.seq < 1000).map((a) => a.delayMs);
    const near = members[1]!.arrivals.filter((a) => a.seq >= 1000).map((a) => a.delayMs);
    assert.is(far.length, 60);
    assert.is(near.length, 60);
    assert.ok(Math.min(...far) >= 19, `m0 -> m1 one way: min ${Math.min(...far)} ms, configured 20`);
    assert.ok(median(far) <= 25, `m0 -> m1 one way: median ${median(far)} ms, configured 20`);
    assert.ok(median(near) <= 6, `client in b -> m1: median ${median(near)} ms, configured 1`);
    // The echo comes back through the same link: a round trip of 40 ms.
    const rtt = viaPeer.echoed.map((a) => a.delayMs);
    assert.is(rtt.length, 60);
    assert.ok(Math.min(...rtt) >= 38 && median(rtt) <= 50, `m0 <-> m1 round trip: min ${Math.min(...rtt)}, median ${median(rtt)} ms, configured 40`);
    const stats = await net.stats();
    const out = stats.links.find((l) => l.name === 'm0->m1');
    assert.ok(out !== undefined && out.chunks >= 1 && out.heldP50Ms >= 19, JSON.stringify(stats.links));
    assert.ok(stats.links.some((l) => l.name === 'b->m1'), JSON.stringify(stats.links.map((l) => l.name)));
    assert.ok(Number.isFinite(stats.timerLagP99Ms) && Number.isFinite(stats.eventLoopLagP99Ms), JSON.stringify(stats));
    viaPeer.socket.destroy();
    nearClient.socket.destroy();
  });
});

test('jitter: one connection stays in order, two connections of a pair reorder', async () => {
  await withNet(twoRegions({ jitter: 'normal', jitterMs: 8 }), {}, async (_net, members, peersOf) => {
    const port = portIn(peersOf('m0'), 'm1');
    const a = await dial(port);
    const b = await dial(port);
    for (let seq = 0; seq < 300; seq++) {
      (seq % 2 === 0 ? a : b).socket.write(line(seq));
      if (seq % 4 === 3) await sleep(1);
    }
    await sleep(250);
    const got = members[1]!.arrivals;
    assert.is(got.length, 300, 'every line arrives whole');
    for (const conn of [0, 1]) {
      const seqs = got.filter((x) => x.conn === conn).map((x) => x.seq);
      assert.ok(seqs.every((s, i) => i === 0 || s > seqs[i - 1]!), `connection ${conn} went backwards: ${seqs.join(' ')}`);
    }
    let inversions = 0;
    for (let i = 1; i < got.length; i++) if (got[i]!.seq < got[i - 1]!.seq) inversions++;
    assert.ok(inversions > 0, 'lines sent alternately on two connections never arrived reordered');
    assert.ok(Math.min(...got.map((x) => x.delayMs)) >= 19, 'jitter only adds to the latency');
    a.socket.destroy();
    b.socket.destroy();
  });
});

test('jitterPeriodMs: a connection keeps one jitter draw for the period', async () => {
  await withNet(twoRegions({ jitter: 'normal', jitterMs: 20, jitterPeriodMs: 2000 }), {}, async (_net, members, peersOf) => {
    const c = await dial(portIn(peersOf('m0'), 'm1'));
    await sendSpaced(c.socket, 40, 10);
    await sleep(250);
    const delays = members[1]!.arrivals.map((x) => x.delayMs);
    assert.is(delays.length, 40);
    // A draw per chunk (spread 20 ms, 10 ms apart) spreads the middle half over 11 ms or more (200
    // seeds of the same arithmetic); one draw leaves the timers' grain, and the odd stall of a busy
    // machine touches too few lines to move the quartiles.
    const sorted = [...delays].sort((a, b) => a - b);
    const iqrMs = sorted[30]! - sorted[10]!;
    assert.ok(iqrMs < 8, `middle half spread over ${iqrMs.toFixed(1)} ms: ${delays.map((d) => d.toFixed(1)).join(' ')}`);
    c.socket.destroy();
  });
});

test('loss: some chunks arrive an RTO late (and the relay counts them lost)', async () => {
  await withNet(twoRegions({ loss: 0.2, rtoMs: 100, rttMs: [[2, 10], [10, 2]] }), {}, async (net, members, peersOf) => {
    const c = await dial(portIn(peersOf('m0'), 'm1'));
    await sendSpaced(c.socket, 80, 2);
    await sleep(400);
    const delays = members[1]!.arrivals.map((x) => x.delayMs);
    assert.is(delays.length, 80);
    assert.ok(delays.filter((d) => d >= 100).length > 0, `no line was ${100} ms late: ${delays.map(Math.round).join(' ')}`);
    const out = (await net.stats()).links.find((l) => l.name === 'm0->m1');
    assert.ok(out !== undefined && out.lost > 0, JSON.stringify(out));
    c.socket.destroy();
  });
});

test('bandwidth: 2 MB from m0 to m1 over 8 Mbps takes ~2 s, one bucket for both dial directions', async () => {
  const mb = Buffer.alloc(1_000_000, 'x');
  // m0 greets every connection with 1 MB: on m1's dial to m0 that is data from m0 to m1 too.
  await withNet(twoRegions({ bandwidthMbps: 8, rttMs: [[2, 4], [4, 2]] }), { greeting: mb }, async (_net, members, peersOf) => {
    const started = performance.now();
    const up = await dial(portIn(peersOf('m0'), 'm1'));
    const down = await dial(portIn(peersOf('m1'), 'm0'));
    up.socket.write(mb);
    const deadline = started + 10_000;
    while ((members[1]!.bytes < mb.length || down.received() < mb.length) && performance.now() < deadline) await sleep(20);
    const tookMs = performance.now() - started;
    assert.is(members[1]!.bytes, mb.length);
    assert.is(down.received(), mb.length);
    assert.ok(tookMs >= 1800, `2 MB at 8 Mbps took only ${Math.round(tookMs)} ms`);
    up.socket.destroy();
    down.socket.destroy();
  });
});

test('two relay processes: every link of three members and their clients carries its lines, and stats gather both', async () => {
  const group = new ProcessGroup();
  const members = [await Member.listen(), await Member.listen(), await Member.listen()];
  const ids = ['m0', 'm1', 'm2'];
  const net = await NetEmulator.start(profiles.lan!, group, 1, { processes: 2 });
  try {
    const peersOf = await net.routePeers(ids, members.map((m) => m.port));
    const ports = [...ids.flatMap((from) => ids.filter((to) => to !== from).map((to) => portIn(peersOf(from), to))),
      ...await Promise.all(ids.map(async (id) => Number((await net.clientUrl(0, id)).split(':').pop())))];
    assert.is(new Set(ports).size, 9, 'one relay port per ordered member pair and per client region and member');
    assert.ok(peersOf('m1').includes(`m1=127.0.0.1:${members[1]!.port}`), 'a member lists itself directly');
    await Promise.all(ports.map(async (port, i) => {
      const c = await dial(port);
      c.socket.end(line(i));
    }));
    await sleep(100);
    assert.is(members.reduce((n, m) => n + m.arrivals.length, 0), 9);
    const stats = await net.stats();
    assert.is(stats.links.length, 18, stats.links.map((l) => l.name).join(' '));
    assert.is(stats.links.filter((l) => l.name.includes('->') && l.chunks === 1).length, 9, JSON.stringify(stats.links));
    await net.resetStats();
    assert.is((await net.stats()).links.reduce((n, l) => n + l.chunks, 0), 0);
    assert.is(net.regionOf('m2'), 0);
    await rejects(net.clientUrl(0, 'm9'), /no member 'm9' was routed \(routed: m0, m1, m2\)/);
    await rejects(net.clientUrl(3, 'm0'), /no region 3/);
  } finally {
    await net.stop();
    await group.stopAll();
    await Promise.all(members.map((m) => m.close()));
  }
});

test('a held chunk still arrives after its sender closes, and the FIN follows it', async () => {
  await withNet(twoRegions({}), {}, async (_net, members, peersOf) => {
    const c = await dial(portIn(peersOf('m0'), 'm1'));
    c.socket.end(line(1));
    await sleep(5);
    assert.is(members[1]!.arrivals.length, 0, 'held for the one-way latency');
    assert.is(members[1]!.ends, 0, 'the FIN does not overtake the data');
    await sleep(100);
    assert.is(members[1]!.arrivals.length, 1);
    assert.is(members[1]!.ends, 1);
  });
});

test.run();
