// The WAN profiles of the link emulator (`--net PROFILE` of the benchmarks and the fault suite):
// regions with a round-trip matrix, jitter, loss and bandwidth, where members and clients sit,
// and the pure delay arithmetic the relay process applies to each chunk. No I/O here.

import type { SeededPrng } from '../../../src/core/prng.ts';

export type JitterShape = 'none' | 'normal' | 'pareto';
const jitterShapes: readonly JitterShape[] = ['none', 'normal', 'pareto'];

export interface NetProfile {
  readonly name: string;                 // 'lan' | 'wan3' | 'wan5' | 'lossy' | custom
  readonly description: string;          // one line for tables/docs
  readonly regions: readonly string[];   // e.g. ['us-east', 'us-west', 'eu-west']
  /** Round-trip ms between regions (symmetric, square, diagonal = within a region). One way = rtt/2. */
  readonly rttMs: readonly (readonly number[])[];
  readonly jitterMs: number;             // spread of the extra per-chunk delay (0: none)
  readonly jitter: JitterShape;
  /**
   * How long one connection keeps a jitter draw before the next (absent or 0: a new draw per
   * chunk). Delay varies with queues that last milliseconds, not per packet; and with a draw per
   * chunk, FIFO makes each chunk wait for the largest recent draw, so a busy connection's delay
   * creeps up to the tail of the shape (2-3 jitterMs more than its mean).
   */
  readonly jitterPeriodMs?: number;
  /** Chance (0..1) a chunk is "lost": TCP retransmits it, so it (and everything behind it on its connection) waits an extra rtoMs. */
  readonly loss: number;
  readonly rtoMs: number;                // e.g. 200 (Linux min RTO)
  /** Per directed member pair (and per client-region->member), shared by every connection of that pair; null: unlimited. */
  readonly bandwidthMbps: number | null;
  /** Region index of member i of an n-member cluster (i 0-based). */
  readonly memberRegion: (i: number, members: number) => number;
  /** Regions the load processes sit in (a benchmark runs one client group per listed region). */
  readonly clientRegions: readonly number[];
}

/** Linux's minimum retransmission timeout: a lost segment on a short path waits about this long. */
const linuxRtoMinMs = 200;
/** Pareto jitter: shape 2 gives a mean of jitterMs (scale) and a heavy tail; draws are capped at this many jitterMs. */
const paretoCapJitters = 50;
/** validateProfile checks memberRegion for every cluster of 1..this many members. */
const membersChecked = 9;
/** Ticks per election timeout at the least (RaftOptions.electionTicks default; the peer randomizes 1-2x). */
const electionTicks = 10;
/**
 * Never under the peer's default tick: bench:parallel --net lan at 10 ms (elections after
 * 100-200 ms) saw elections whenever a peer paused for a snapshot on this shared machine.
 */
const tickMsMin = 50;

const wan3Regions = ['us-east', 'us-central', 'eu-west'] as const;
const wan3Rtt = [
  [1, 20, 70],
  [20, 1, 90],
  [70, 90, 1],
] as const;

/** The named profiles' jitterPeriodMs: a queue's state lasts about this long. */
const jitterPeriodMs = 10;

const byRegion = (regions: number) => (i: number): number => i % regions;
const everyRegion = (regions: number): number[] => Array.from({ length: regions }, (_, i) => i);

const lan: NetProfile = {
  name: 'lan', description: 'one region, RTT 0.2 ms, no jitter or loss, unlimited: the same relays without distance',
  regions: ['local'], rttMs: [[0.2]], jitterMs: 0, jitter: 'none', loss: 0, rtoMs: linuxRtoMinMs, bandwidthMbps: null,
  memberRegion: () => 0, clientRegions: [0],
};

const wan3: NetProfile = {
  name: 'wan3', description: 'us-east, us-central, eu-west (RTT 20/70/90 ms, 1 ms within), normal jitter 4 ms, one member per region',
  regions: wan3Regions, rttMs: wan3Rtt, jitterMs: 4, jitter: 'normal', jitterPeriodMs, loss: 0, rtoMs: linuxRtoMinMs, bandwidthMbps: null,
  memberRegion: byRegion(3), clientRegions: everyRegion(3),
};

const wan5: NetProfile = {
  name: 'wan5', description: 'wan3 plus ap-northeast and sa-east, 150 ms from every other region; member i in region i % 5',
  regions: [...wan3Regions, 'ap-northeast', 'sa-east'],
  rttMs: [
    [1, 20, 70, 150, 150],
    [20, 1, 90, 150, 150],
    [70, 90, 1, 150, 150],
    [150, 150, 150, 1, 150],
    [150, 150, 150, 150, 1],
  ],
  jitterMs: 4, jitter: 'normal', jitterPeriodMs, loss: 0, rtoMs: linuxRtoMinMs, bandwidthMbps: null,
  memberRegion: byRegion(5), clientRegions: everyRegion(5),
};

const lossy: NetProfile = {
  ...wan3, name: 'lossy', description: 'wan3 with 1% loss (200 ms RTO), normal jitter 8 ms, 100 Mbps per member pair',
  jitterMs: 8, loss: 0.01, rtoMs: linuxRtoMinMs, bandwidthMbps: 100,
};

/** Throws an Error naming the field and its bad value; returns the profile when it is sound. */
export function validateProfile(p: NetProfile): NetProfile {
  const bad = (field: string, rule: string, value: unknown): Error =>
    new Error(`net profile '${p.name}': ${field} must be ${rule} (got ${JSON.stringify(value)})`);
  const n = p.regions.length;
  if (p.name.length === 0) throw bad('name', 'a non-empty string', p.name);
  if (n === 0) throw bad('regions', 'a non-empty list', p.regions);
  if (p.rttMs.length !== n) throw bad('rttMs', `a square ${n}x${n} matrix (one row per region)`, p.rttMs);
  p.rttMs.forEach((row, i) => {
    if (row.length !== n) throw bad(`rttMs[${i}]`, `a row of ${n} numbers (the matrix must be square)`, row);
    row.forEach((v, j) => {
      if (!(Number.isFinite(v) && v >= 0)) throw bad(`rttMs[${i}][${j}]`, 'a finite number of ms >= 0', v);
      if (p.rttMs[j]![i] !== v) throw bad(`rttMs[${i}][${j}]`, `equal to rttMs[${j}][${i}] (${p.rttMs[j]![i]}): the matrix is symmetric`, v);
    });
  });
  if (!(Number.isFinite(p.jitterMs) && p.jitterMs >= 0)) throw bad('jitterMs', 'a finite number of ms >= 0', p.jitterMs);
  const period = p.jitterPeriodMs ?? 0;
  if (!(Number.isFinite(period) && period >= 0)) throw bad('jitterPeriodMs', 'a finite number of ms >= 0', p.jitterPeriodMs);
  if (!jitterShapes.includes(p.jitter)) throw bad('jitter', jitterShapes.join(' | '), p.jitter);
  if (!(Number.isFinite(p.loss) && p.loss >= 0 && p.loss < 1)) throw bad('loss', 'a chance in [0, 1)', p.loss);
  if (!(Number.isFinite(p.rtoMs) && p.rtoMs >= 0)) throw bad('rtoMs', 'a finite number of ms >= 0', p.rtoMs);
  if (p.bandwidthMbps !== null && !(Number.isFinite(p.bandwidthMbps) && p.bandwidthMbps > 0)) throw bad('bandwidthMbps', 'null or a finite number > 0', p.bandwidthMbps);
  if (p.clientRegions.length === 0) throw bad('clientRegions', 'a non-empty list of region indexes', p.clientRegions);
  for (const r of p.clientRegions) if (!(Number.isInteger(r) && r >= 0 && r < n)) throw bad('clientRegions', `region indexes in [0, ${n})`, p.clientRegions);
  for (let members = 1; members <= membersChecked; members++) {
    for (let i = 0; i < members; i++) {
      const r = p.memberRegion(i, members);
      if (!(Number.isInteger(r) && r >= 0 && r < n)) throw bad(`memberRegion(${i}, ${members})`, `a region index in [0, ${n})`, r);
    }
  }
  return p;
}

export const profiles: Readonly<Record<string, NetProfile>> = Object.freeze(
  Object.fromEntries([lan, wan3, wan5, lossy].map((p) => [p.name, validateProfile(p)])),
);

/** The profile `--net NAME` names; undefined: null (direct loopback, no relays). */
export function parseNet(text: string | undefined): NetProfile | null {
  if (text === undefined) return null;
  const p = profiles[text];
  if (p === undefined) throw new Error(`unknown --net profile '${text}' (known: ${Object.keys(profiles).join(', ')})`);
  return p;
}

function rtt(p: NetProfile, a: number, b: number): number {
  const v = p.rttMs[a]?.[b];
  if (v === undefined) throw new RangeError(`net profile '${p.name}' has no regions ${a} and ${b} (it has ${p.regions.length})`);
  return v;
}

export function oneWayMs(p: NetProfile, fromRegion: number, toRegion: number): number {
  return rtt(p, fromRegion, toRegion) / 2;
}

/** RTT from leader to the nearest quorum (leader counts itself): the floor of a commit's network time. */
export function quorumRttMs(p: NetProfile, members: number, leader: number): number {
  if (!(Number.isInteger(leader) && leader >= 0 && leader < members)) throw new RangeError(`leader must be a member index in [0, ${members}) (got ${leader})`);
  const from = p.memberRegion(leader, members);
  const others = Array.from({ length: members }, (_, i) => i).filter((i) => i !== leader).map((i) => rtt(p, from, p.memberRegion(i, members))).sort((a, b) => a - b);
  const needed = Math.floor(members / 2);
  return needed === 0 ? 0 : others[needed - 1]!;
}

/** The largest round trip between any two regions of the profile (within a region counts). */
export function maxRttMs(p: NetProfile): number {
  return Math.max(...p.rttMs.flat());
}

/**
 * The peers' tick on this profile. The election timeout is 10-20 ticks (electionTicks, randomized
 * by the peer), and it must dwarf a heartbeat's round trip so that jitter, a lost chunk (rtoMs) or
 * a slow relay turn never looks like a dead leader: ticks of the largest RTT give an election
 * timeout of at least 10x that RTT, and a heartbeat (one per tick) once per round trip. Never under
 * the peer's default 50 ms. wan3 and lossy: 90 ms (elections after 0.9-1.8 s); wan5: 150 ms.
 */
export function suggestedTickMs(p: NetProfile): number {
  const electionMsMin = 10 * maxRttMs(p);
  return Math.max(tickMsMin, Math.ceil(electionMsMin / electionTicks));
}

/** Round trips past this (ms) make a read that waits for the next ReadIndex round pay for it. */
const readRoundsRttMs = 5;

/**
 * Peer flags for a cluster on this profile: `--tick-ms` of suggestedTickMs (the lease and the
 * lease TTL floor follow it), and across regions several ReadIndex rounds in flight, so a read does
 * not wait out a round trip for the round before it to confirm.
 */
export function suggestedPeerArgs(p: NetProfile): string[] {
  return ['--tick-ms', String(suggestedTickMs(p)), ...(maxRttMs(p) > readRoundsRttMs ? ['--read-rounds', '8'] : [])];
}

/** A delay drawn from a normal distribution of mean and spread `jitterMs`; negative draws are 0. */
export function jitterDelayMs(prng: SeededPrng, jitterMs: number): number {
  if (!(Number.isFinite(jitterMs) && jitterMs >= 0)) throw new RangeError(`jitter must be a finite number of ms >= 0 (got ${jitterMs})`);
  if (jitterMs === 0) return 0;
  // Box-Muller; 1 - u keeps the logarithm finite.
  const u = 1 - prng.nextFloat();
  const v = prng.nextFloat();
  const z = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  return Math.max(0, jitterMs + jitterMs * z);
}

/**
 * The extra delay of one chunk on top of the one-way latency, >= 0: 'normal' as jitterDelayMs
 * (mean about jitterMs); 'pareto' of shape 2 and scale jitterMs, shifted to start at 0 (mean
 * jitterMs too, but a heavy tail: p99 9x, p99.9 30x), capped at 50x.
 */
export function extraDelayMs(prng: SeededPrng, shape: JitterShape, jitterMs: number): number {
  switch (shape) {
    case 'none': return 0;
    case 'normal': return jitterDelayMs(prng, jitterMs);
    case 'pareto': return Math.min(paretoCapJitters * jitterMs, jitterMs * (1 / Math.sqrt(1 - prng.nextFloat()) - 1));
  }
}

/**
 * The mean extra delay per direction (the floor of a round trip is rtt, its mean about rtt plus
 * twice this): normal E[max(0, J + J Z)] = J (Phi(1) + phi(1)); pareto J, less what the cap cuts.
 */
export function jitterMeanMs(p: NetProfile): number {
  switch (p.jitter) {
    case 'none': return 0;
    case 'normal': return 1.0833 * p.jitterMs;
    case 'pareto': return (1 - 1 / (paretoCapJitters + 1)) * p.jitterMs;
  }
}

/**
 * When a chunk that arrived at `nowMs` with `delayMs` may go out on a connection whose previous
 * chunk goes out at `lastMs`: never before it (FIFO per connection and direction).
 */
export function releaseAtMs(lastMs: number, nowMs: number, delayMs: number): number {
  return Math.max(lastMs, nowMs + delayMs);
}
