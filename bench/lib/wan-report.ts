// The figures of `npm run bench:wan` and everything computed from them, pure: where the leader
// should sit, the latency floor of each client region, whether the inflight window covers the
// bandwidth-delay product, medians over runs, and docs/wan-bench.md, its chart and the --json line.
// No I/O and no timers, so test/bench/wan-report.test.ts checks all of it with made-up figures.

import { fmt as fmtNumber, median, table } from '../machine.ts';
import type { ChartPanel, ChartSeries, ChartSpec } from './chart-svg.ts';
import { machineSection, type MachineInfo } from './machine-info.ts';
import { hashOf } from '../../src/runtime-browser/source-policy.ts';
import type { LinkStats, NetStats } from './net/emulator.ts';
import { quorumRttMs, suggestedPeerArgs, type NetProfile } from './net/profiles.ts';
import type { FailSignal, ReadMode, TimeoutSet } from './wan-options.ts';


/** A figure for the doc; one that was not measured (NaN) reads n/a. */
const fmt = (v: number, digits = 0): string => (Number.isFinite(v) ? fmtNumber(v, digits) : 'n/a');

// ---- what a run measured --------------------------------------------------------------------

/** One client region's share of a run. */
export interface RegionRun {
  /** Index into the profile's regions. */
  readonly region: number;
  readonly ops: number;
  readonly opsPerS: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly errors: number;
  readonly errorCodes: Readonly<Record<string, number>>;
  /** Reads: the path each was served by (getWithMeta's path) and the member that answered. */
  readonly paths: Readonly<Record<string, number>>;
  readonly servedBy: Readonly<Record<string, number>>;
}

/** A gauge sampled through the measured window. */
export interface GaugeStats {
  readonly mean: number;
  readonly max: number;
  readonly samples: number;
}

export const noGauge: GaugeStats = { mean: Number.NaN, max: Number.NaN, samples: 0 };

/** Counter increases over the measured window (the leader's unless said), and sampled gauges. */
export interface WindowCounters {
  /** The leader's commit index moved by this much. */
  readonly committed: number;
  readonly persistBatches: number;
  readonly persistEntries: number;
  readonly persistP50Ms: number;
  /** Entry payload bytes the leader made durable. */
  readonly entryBytes: number;
  /** Bytes of Raft data frames the leader sent to the other members. */
  readonly peerDataBytes: number;
  /** Entries the leader sent in AppendEntries, all followers (resends count again). */
  readonly peerEntriesSent: number;
  readonly stalledProbes: number;
  /** Messages not sent (high-water mark), every member. */
  readonly sendDropped: number;
  /** AppendEntries held by a reorder buffer, every member. */
  readonly reorderHeld: number;
  /** Elections started, every member (0 in a healthy window). */
  readonly elections: number;
  readonly readRounds: number;
  readonly leaseReads: number;
  /** The leader's AppendEntries and entry bytes in flight to its busiest follower, sampled. */
  readonly inflightMsgs: GaugeStats;
  readonly inflightBytes: GaugeStats;
  /** Proposals waiting to apply at the leader, sampled. */
  readonly pendingProposals: GaugeStats;
}

export interface LoadRun {
  readonly opsPerS: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly errors: number;
  readonly regions: readonly RegionRun[];
  readonly counters: WindowCounters;
  /** Percent of one core over the window. */
  readonly leaderCpuPct: number;
  readonly followerCpuPct: number;
  readonly generatorCpuPct: number;
  /** The emulator's relay processes together. */
  readonly relayCpuPct: number;
  /** Processes this benchmark did not start. */
  readonly otherCpuPct: number;
  readonly leaderChanged: boolean;
}

export interface CellSpec {
  /** writes_1, writes_16, writes_256, writes_high, reads_lease, ... */
  readonly key: string;
  readonly op: 'write' | 'read';
  readonly mode: ReadMode | null;
  /** Independent SDK clients per client region of the measured profile. */
  readonly clientsPerRegion: number;
  /** Request loops each client carries (1: one request at a time per client). */
  readonly loopsPerClient: number;
}

export interface CellResult {
  /** The profile it ran on (the measured one or the baseline). */
  readonly profile: string;
  readonly spec: CellSpec;
  /** Clients per region on this profile: the baseline's one region holds every region's clients. */
  readonly clientsPerRegion: number;
  readonly runs: readonly LoadRun[];
}

export interface RegionSummary {
  readonly region: number;
  readonly opsPerS: number;
  readonly p50Ms: number;
  readonly p50MinMs: number;
  readonly p50MaxMs: number;
  readonly p99Ms: number;
  readonly errors: number;
  readonly paths: Readonly<Record<string, number>>;
}

export interface CellSummary {
  readonly opsPerS: number;
  readonly opsMin: number;
  readonly opsMax: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly errors: number;
  readonly regions: readonly RegionSummary[];
  /** The counters of the run whose ops/s is the median (so they belong together). */
  readonly counters: WindowCounters;
  readonly leaderCpuPct: number;
  readonly generatorCpuPct: number;
  readonly relayCpuPct: number;
  readonly otherCpuPct: number;
  readonly leaderChanged: boolean;
  readonly runs: number;
}

/**
 * How long the leader held a write on average, from proposal to apply (Little's law on its
 * pending-proposals gauge): the rest of what the client saw is the client's path and queueing.
 */
export function leaderHoldMs(s: CellSummary): number {
  return s.opsPerS > 0 ? (s.counters.pendingProposals.mean / s.opsPerS) * 1000 : Number.NaN;
}

function sumInto(into: Record<string, number>, from: Readonly<Record<string, number>>): void {
  for (const [k, v] of Object.entries(from)) into[k] = (into[k] ?? 0) + v;
}

const finite = (xs: readonly number[]): number[] => xs.filter((x) => Number.isFinite(x));
const med = (xs: readonly number[]): number => (finite(xs).length === 0 ? Number.NaN : median(finite(xs)));

/** Medians over the runs (latencies per region too), the spread of ops/s, errors summed. */
export function summarizeCell(c: CellResult): CellSummary {
  const runs = c.runs;
  if (runs.length === 0) throw new Error(`cell ${c.profile} ${c.spec.key} has no runs`);
  const byOps = [...runs].sort((a, b) => a.opsPerS - b.opsPerS);
  const mid = byOps[(byOps.length - 1) >> 1]!;
  const regionIds = [...new Set(runs.flatMap((r) => r.regions.map((g) => g.region)))].sort((a, b) => a - b);
  const regions = regionIds.map((region): RegionSummary => {
    const rs = runs.flatMap((r) => r.regions.filter((g) => g.region === region));
    const paths: Record<string, number> = {};
    for (const g of rs) sumInto(paths, g.paths);
    const p50s = finite(rs.map((g) => g.p50Ms));
    return {
      region, opsPerS: med(rs.map((g) => g.opsPerS)), p50Ms: med(p50s), p50MinMs: p50s.length > 0 ? Math.min(...p50s) : Number.NaN,
      p50MaxMs: p50s.length > 0 ? Math.max(...p50s) : Number.NaN, p99Ms: med(rs.map((g) => g.p99Ms)), errors: rs.reduce((s, g) => s + g.errors, 0), paths,
    };
  });
  return {
    opsPerS: med(runs.map((r) => r.opsPerS)), opsMin: byOps[0]!.opsPerS, opsMax: byOps[byOps.length - 1]!.opsPerS,
    p50Ms: med(runs.map((r) => r.p50Ms)), p99Ms: med(runs.map((r) => r.p99Ms)), errors: runs.reduce((s, r) => s + r.errors, 0), regions,
    counters: mid.counters, leaderCpuPct: med(runs.map((r) => r.leaderCpuPct)), generatorCpuPct: med(runs.map((r) => r.generatorCpuPct)), relayCpuPct: med(runs.map((r) => r.relayCpuPct)),
    otherCpuPct: med(runs.map((r) => r.otherCpuPct)), leaderChanged: runs.some((r) => r.leaderChanged), runs: runs.length,
  };
}

// ---- geometry: where the leader sits, floors ------------------------------------------------

function rtt(p: NetProfile, a: number, b: number): number {
  const v = p.rttMs[a]?.[b];
  if (v === undefined) throw new RangeError(`profile ${p.name} has no regions ${a} and ${b}`);
  return v;
}

/** Region of member i. */
export function memberRegion(p: NetProfile, members: number, i: number): number {
  return p.memberRegion(i, members);
}

/**
 * The member that should lead: the least mean floor over the client regions (round trip from
 * the client to it plus its round trip to the nearest quorum); ties to the lowest index.
 */
export function preferredLeader(p: NetProfile, members: number): number {
  let best = 0;
  let bestCost = Infinity;
  for (let i = 0; i < members; i++) {
    const at = p.memberRegion(i, members);
    const cost = p.clientRegions.reduce((s, r) => s + rtt(p, r, at), 0) / p.clientRegions.length + quorumRttMs(p, members, i);
    if (cost < bestCost - 1e-9) {
      best = i;
      bestCost = cost;
    }
  }
  return best;
}

/** The member nearest to a client region (excluding `exclude`), ties to the lowest index. */
export function nearestMember(p: NetProfile, members: number, region: number, exclude: number | null = null): number {
  let best = -1;
  for (let i = 0; i < members; i++) {
    if (i === exclude) continue;
    if (best < 0 || rtt(p, region, p.memberRegion(i, members)) < rtt(p, region, p.memberRegion(best, members))) best = i;
  }
  if (best < 0) throw new RangeError('no member to pick');
  return best;
}

/** The mean of the extra delay the profile's jitter adds to one chunk on one one-way hop. */
export function meanJitterMs(p: NetProfile): number {
  if (p.jitter === 'none' || p.jitterMs === 0) return 0;
  // normal: max(0, X) for X ~ N(j, j): j * (Phi(1) + phi(1)); pareto: j (before its cap).
  return p.jitter === 'normal' ? p.jitterMs * (0.841345 + 0.241971) : p.jitterMs;
}

export interface Floor {
  readonly region: number;
  /** Client to leader and back. */
  readonly clientRttMs: number;
  /** Leader to its nearest quorum and back. */
  readonly quorumRttMs: number;
  readonly fsyncMs: number;
  /** The sum: what a write cannot beat from this region. */
  readonly floorMs: number;
  /** What the profile's jitter adds on average over the write's four one-way hops (not in the floor). */
  readonly jitterMs: number;
}

/** The floor of a write from `region` (issue 17): RTT to the leader + leader's RTT to its nearest quorum + one fsync. */
export function writeFloor(p: NetProfile, members: number, leader: number, region: number, fsyncMs: number): Floor {
  const clientRttMs = rtt(p, region, p.memberRegion(leader, members));
  const q = quorumRttMs(p, members, leader);
  return { region, clientRttMs, quorumRttMs: q, fsyncMs, floorMs: clientRttMs + q + fsyncMs, jitterMs: (members > 1 ? 4 : 2) * meanJitterMs(p) };
}

/** The network time a read cannot beat from `region` in `mode` (the leader's lease assumed valid where it serves). */
export function readFloorMs(p: NetProfile, members: number, leader: number, region: number, mode: ReadMode): number {
  const lr = p.memberRegion(leader, members);
  const toLeader = rtt(p, region, lr);
  switch (mode) {
    case 'lease':
    case 'linearizable':
      return toLeader;
    case 'readindex':
      return toLeader + quorumRttMs(p, members, leader);
    case 'follower': {
      const n = nearestMember(p, members, region);
      return rtt(p, region, p.memberRegion(n, members)) + (n === leader ? 0 : rtt(p, p.memberRegion(n, members), lr));
    }
    case 'stale':
      return rtt(p, region, p.memberRegion(nearestMember(p, members, region), members));
  }
}

/** A token subject whose hash makes a follower-reader pick `follower` among `followers` (sorted by id, as its source policy sorts them). */
export function subjectFor(prefix: string, followers: readonly string[], follower: string): string {
  const sorted = [...followers].sort();
  const want = sorted.indexOf(follower);
  if (want < 0) throw new RangeError(`${follower} is not among the followers ${followers.join(', ')}`);
  for (let k = 0; k < 10_000; k++) {
    const sub = `${prefix}-${k}`;
    if (hashOf(sub) % sorted.length === want) return sub;
  }
  throw new Error(`no subject found for ${follower}`);
}

/** A tab's read: its round trip to the follower it replicates from, plus that follower's to the leader (the read index). */
export function tabFloorMs(p: NetProfile, members: number, leader: number, region: number, sourceRegion: number | null): number {
  if (sourceRegion === null) return Number.NaN;
  const lr = p.memberRegion(leader, members);
  return rtt(p, region, sourceRegion) + rtt(p, sourceRegion, lr);
}

// ---- the inflight window against the bandwidth-delay product ------------------------------------

export interface WindowLimits {
  /** RaftOptions.inflightMsgsMax and inflightBytesMax (no peer flag sets them: the core's defaults). */
  readonly msgsMax: number;
  readonly bytesMax: number;
}

export interface WindowCheck {
  /** The follower's member index and its round trip from the leader. */
  readonly follower: number;
  readonly rttMs: number;
  readonly writesPerS: number;
  readonly bytesPerWrite: number;
  /** writes/s x bytes per write x RTT: the bytes that must be in flight to keep the pipe full. */
  readonly neededBytes: number;
  readonly bytesMax: number;
  readonly bytesCovered: boolean;
  /** Most AppendEntries seen in flight to the busiest follower, against inflightMsgsMax. */
  readonly observedMsgsMax: number;
  readonly msgsMax: number;
  /** The count window was full (>= 90%) in some sample: the leader waited for acknowledgements. */
  readonly msgsSaturated: boolean;
  readonly observedBytesMax: number;
}

/** Bytes each write puts on the wire to one follower: the leader's data frames per entry per follower, else the payload. */
export function bytesPerWrite(c: WindowCounters, members: number, valueBytes: number): number {
  const followers = Math.max(1, members - 1);
  // A write carries at least its value; less means the counters came from a member that stopped leading.
  if (c.committed > 0 && c.peerDataBytes > 0) return Math.max(valueBytes, c.peerDataBytes / followers / c.committed);
  if (c.persistEntries > 0 && c.entryBytes > 0) return Math.max(valueBytes, c.entryBytes / c.persistEntries);
  return valueBytes;
}

/** One check per follower of the leader. */
export function windowChecks(p: NetProfile, members: number, leader: number, writesPerS: number, c: WindowCounters, limits: WindowLimits, valueBytes: number): WindowCheck[] {
  const b = bytesPerWrite(c, members, valueBytes);
  const lr = p.memberRegion(leader, members);
  const out: WindowCheck[] = [];
  for (let i = 0; i < members; i++) {
    if (i === leader) continue;
    const rttMs = rtt(p, lr, p.memberRegion(i, members));
    const neededBytes = writesPerS * b * (rttMs / 1000);
    out.push({
      follower: i, rttMs, writesPerS, bytesPerWrite: b, neededBytes, bytesMax: limits.bytesMax, bytesCovered: neededBytes <= limits.bytesMax,
      observedMsgsMax: c.inflightMsgs.max, msgsMax: limits.msgsMax, msgsSaturated: c.inflightMsgs.max >= 0.9 * limits.msgsMax,
      observedBytesMax: c.inflightBytes.max,
    });
  }
  return out;
}

/**
 * What a closed loop of `inflight` requests can reach at `latencyMs` each (Little's law): a
 * measured rate near it means the offered load, not the cluster, set the throughput.
 */
export function closedLoopBound(inflight: number, latencyMs: number): number {
  return latencyMs > 0 ? (inflight * 1000) / latencyMs : Number.NaN;
}

// ---- browser tabs and failover -----------------------------------------------------------------

export interface TabRegion {
  readonly region: number;
  readonly tabs: number;
  /** The member the tabs replicated from, and its region. */
  readonly source: string | null;
  readonly sourceRegion: number | null;
  readonly joinMs: number;
  readonly reads: number;
  readonly readsPerS: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly errors: number;
  readonly staleP50Ms: number;
}

export type TabsResult =
  | { readonly status: 'measured'; readonly chromium: string; readonly tabsPerRegion: number; readonly loopsPerTab: number; readonly seconds: number; readonly regions: readonly TabRegion[] }
  | { readonly status: 'skipped'; readonly reason: string };

export interface FailoverRun {
  readonly timeouts: TimeoutSet;
  readonly peerArgs: readonly string[];
  readonly signal: FailSignal;
  readonly run: number;
  readonly victim: string;
  readonly newLeader: string | null;
  /** From the signal until the surviving members agreed on a new leader (NaN: never within the bound). */
  readonly leaderKnownMs: number;
  /** Per client region: from the signal until its first write after it was acknowledged (NaN: none). */
  readonly ackMs: Readonly<Record<number, number>>;
  /** Errors the region's client saw on the way. */
  readonly clientErrors: Readonly<Record<number, number>>;
}

export interface FailoverResult {
  readonly status: 'measured' | 'skipped';
  readonly reason: string | null;
  readonly runs: readonly FailoverRun[];
  /** The peer flags of each timeout set (default: none). */
  readonly args: Readonly<Partial<Record<TimeoutSet, readonly string[]>>>;
  /** Where derived came from: the emulator's suggestedPeerArgs, or this bench's fallback. */
  readonly derivedFrom: string;
  /** The SDK's attempt timeout the probes used (a frozen leader holds a request this long). */
  readonly attemptTimeoutMs: number;
}

export interface FailoverCell {
  readonly timeouts: TimeoutSet;
  readonly signal: FailSignal;
  readonly runs: number;
  readonly leaderKnownMs: number;
  readonly leaderKnownMinMs: number;
  readonly leaderKnownMaxMs: number;
  readonly ackMs: ReadonlyArray<{ readonly region: number; readonly ms: number; readonly minMs: number; readonly maxMs: number; readonly missing: number }>;
  /** Median over runs and regions of (first write acked − new leader known): what the client's retries added. */
  readonly afterLeaderMs: number;
}

export function summarizeFailover(f: FailoverResult, regions: readonly number[]): FailoverCell[] {
  const keys = [...new Set(f.runs.map((r) => `${r.timeouts}|${r.signal}`))];
  return keys.map((k) => {
    const rs = f.runs.filter((r) => `${r.timeouts}|${r.signal}` === k);
    const known = finite(rs.map((r) => r.leaderKnownMs));
    return {
      timeouts: rs[0]!.timeouts, signal: rs[0]!.signal, runs: rs.length,
      leaderKnownMs: med(known), leaderKnownMinMs: known.length > 0 ? Math.min(...known) : Number.NaN, leaderKnownMaxMs: known.length > 0 ? Math.max(...known) : Number.NaN,
      afterLeaderMs: med(rs.flatMap((r) => regions.map((region) => (r.ackMs[region] ?? Number.NaN) - r.leaderKnownMs))),
      ackMs: regions.map((region) => {
        const xs = rs.map((r) => r.ackMs[region] ?? Number.NaN);
        const ok = finite(xs);
        return { region, ms: med(ok), minMs: ok.length > 0 ? Math.min(...ok) : Number.NaN, maxMs: ok.length > 0 ? Math.max(...ok) : Number.NaN, missing: xs.length - ok.length };
      }),
    };
  });
}

/** The election timeout range of a set of peer flags: 10-20 ticks of --tick-ms (default 50). */
export function electionRangeMs(args: readonly string[]): readonly [number, number] {
  const i = args.indexOf('--tick-ms');
  const tick = i >= 0 ? Number(args[i + 1]) : 50;
  return [10 * tick, 20 * tick];
}

// ---- the whole report ----------------------------------------------------------------------------

/** The emulator's figures (bench/lib/net/emulator.ts), as the report reads them (connection counts aside). */
export type LinkFigures = Omit<LinkStats, 'connections'>;
export interface NetFigures extends Omit<NetStats, 'links'> {
  readonly links: readonly LinkFigures[];
}

export interface WanMethod {
  readonly members: number;
  /** The measured profile's member ids, in order (to read the member links out of the relay stats). */
  readonly memberIds: readonly string[];
  readonly valueBytes: number;
  readonly keyCount: number;
  readonly runs: number;
  readonly seconds: number;
  readonly warmupS: number;
  readonly sync: string;
  readonly quick: boolean;
  /** write + fdatasync p50 of one write's bytes, in as many processes as members, before the loads. */
  readonly fsyncP50Ms: number;
  readonly fsyncBytes: number;
  readonly generatorsPerRegion: Readonly<Record<string, number>>;
  readonly connectConcurrency: number;
  /** Leaders of the clusters, for the doc. */
  readonly leaders: readonly string[];
  readonly limits: WindowLimits & { readonly sdkInflightMax: number; readonly handshakesMax: number };
  /** The emulator's stats over the load phases, per profile (null: not read, with why). */
  readonly net: ReadonlyArray<{ readonly profile: string; readonly stats: NetFigures | null; readonly error: string | null }>;
  /** Extra flags of the measured peers (--peer-args). */
  readonly peerArgs?: readonly string[];
}

export interface WanReport {
  readonly machine: MachineInfo;
  readonly profile: NetProfile;
  readonly baseline: NetProfile | null;
  readonly method: WanMethod;
  /** The leader's member index on the measured profile (kept there by leadership transfer). */
  readonly leader: number;
  readonly writes: readonly CellResult[];
  readonly reads: readonly CellResult[];
  readonly tabs: TabsResult | null;
  readonly failover: FailoverResult | null;
  /** Phases not run and why, problems met. */
  readonly notes: readonly string[];
  readonly durationS: number;
}

const regionName = (p: NetProfile, r: number): string => p.regions[r] ?? `region ${r}`;
const keyOf = (text: string): string => text.replace(/[^A-Za-z0-9]+/g, '_').replace(/^_|_$/g, '').toLowerCase();
const ms = (v: number, digits = 1): string => (Number.isFinite(v) ? fmt(v, v >= 100 ? 0 : digits) : 'n/a');
const ratio = (v: number): string => (Number.isFinite(v) ? `${fmt(v, 2)}×` : 'n/a');
const mib = (b: number): string => `${fmt(b / 2 ** 20, b >= 2 ** 20 ? 1 : 3)} MiB`;

/** The in-flight requests of a cell per region on its profile. */
export function inflightPerRegion(c: CellResult): number {
  return c.clientsPerRegion * c.spec.loopsPerClient;
}

function cellLabel(s: CellSpec): string {
  if (s.op === 'read') return `reads ${s.mode ?? '?'}, ${s.clientsPerRegion} client${s.clientsPerRegion === 1 ? '' : 's'} per region`;
  return s.loopsPerClient > 1
    ? `writes, high load: ${s.clientsPerRegion} clients × ${s.loopsPerClient} in flight per region`
    : `writes, ${s.clientsPerRegion} client${s.clientsPerRegion === 1 ? '' : 's'} per region`;
}

function find(cells: readonly CellResult[], profile: string, key: string): CellResult | undefined {
  return cells.find((c) => c.profile === profile && c.spec.key === key);
}

/** The throughput target's cell: the measured profile's high-load writes against the baseline's. */
export interface ThroughputTarget {
  readonly net: CellSummary;
  readonly base: CellSummary;
  readonly ratio: number;
  readonly met: boolean;
}

export function throughputTarget(r: WanReport): ThroughputTarget | null {
  if (r.baseline === null) return null;
  const n = find(r.writes, r.profile.name, 'writes_high');
  const b = find(r.writes, r.baseline.name, 'writes_high');
  if (n === undefined || b === undefined) return null;
  const net = summarizeCell(n);
  const base = summarizeCell(b);
  const x = net.opsPerS / base.opsPerS;
  return { net, base, ratio: x, met: x >= 0.8 };
}

export interface LatencyTarget {
  readonly region: number;
  readonly cell: string;
  readonly p50Ms: number;
  readonly floor: Floor;
  readonly ratio: number;
  readonly met: boolean;
}

/** p50 within 1.2x of the floor, per region, in the single-client cell (no queueing of its own). */
export function latencyTargets(r: WanReport): LatencyTarget[] {
  const cells = r.writes.filter((c) => c.profile === r.profile.name && c.spec.loopsPerClient === 1).sort((a, b) => a.spec.clientsPerRegion - b.spec.clientsPerRegion);
  const c = cells[0];
  if (c === undefined) return [];
  const s = summarizeCell(c);
  return s.regions.map((g) => {
    const floor = writeFloor(r.profile, r.method.members, r.leader, g.region, r.method.fsyncP50Ms);
    const x = g.p50Ms / floor.floorMs;
    return { region: g.region, cell: c.spec.key, p50Ms: g.p50Ms, floor, ratio: x, met: x <= 1.2 };
  });
}

// ---- markdown ----------------------------------------------------------------------------------

function netLines(r: WanReport): string[] {
  const out: string[] = [];
  for (const n of r.method.net) {
    if (n.stats === null) {
      out.push(`- **${n.profile} relays**: no stats (${n.error ?? 'not read'}).`);
      continue;
    }
    const s = n.stats;
    out.push(`- **${n.profile} relays** over the load phases: timer lag p50 ${ms(s.timerLagP50Ms, 2)} ms, p99 ${ms(s.timerLagP99Ms, 2)} ms; ` +
      `event-loop lag p99 ${ms(s.eventLoopLagP99Ms, 2)} ms. Realized hold per link (what each chunk really waited, configured one-way delay and jitter included):`);
    out.push('');
    const links = [...s.links].filter((l) => l.chunks > 0).sort((a, b) => a.name.localeCompare(b.name));
    out.push(table(['link', 'chunks', 'MiB', 'held p50 ms', 'held p99 ms', 'lost'],
      links.map((l) => [l.name, fmt(l.chunks), fmt(l.bytes / 2 ** 20, 1), ms(l.heldP50Ms, 2), ms(l.heldP99Ms, 2), fmt(l.lost)])));
    out.push('');
  }
  return out;
}

function methodLines(r: WanReport): string[] {
  const m = r.method;
  const p = r.profile;
  const lr = p.memberRegion(r.leader, m.members);
  const others = finite([...r.writes, ...r.reads].flatMap((c) => c.runs.map((x) => Math.max(0, x.otherCpuPct))));
  const gens = Object.entries(m.generatorsPerRegion).map(([k, v]) => `${k} ${v}`).join(', ');
  return [
    `- **Network**: \`--net ${p.name}\`: ${p.description}. Every member reaches every other, and every client reaches every member, through the emulator's ` +
    'relays (`bench/lib/net/`: a userspace TCP relay per directed link, each connection FIFO, since this kernel has no netem); ' +
    `${r.baseline !== null ? `the baseline \`${r.baseline.name}\` (${r.baseline.description}) runs through the same relays, so the ratio shows distance, not the relays` : 'no baseline was measured'}.`,
    `- **Cluster**: ${m.members} raft-mode peers from the built CLI (\`edgeraft peer --sync ${m.sync}${(m.peerArgs ?? []).length > 0 ? ` ${m.peerArgs!.join(' ')}` : ''}\`${(m.peerArgs ?? []).length > 0 ? '' : ', default tick and windows'}), member i in region ` +
    `${Array.from({ length: m.members }, (_, i) => regionName(p, p.memberRegion(i, m.members))).join(', ')}. Leadership is moved (transfer-leader) to the member ` +
    `with the least mean floor over the client regions: member ${r.leader + 1} in ${regionName(p, lr)} (quorum round trip ${ms(quorumRttMs(p, m.members, r.leader))} ms). Leaders: ${m.leaders.join('; ')}.`,
    `- **Clients**: independent SDK clients (each its own \`connect()\`, connection and session), one client group per client region ` +
    `(${p.clientRegions.map((x) => regionName(p, x)).join(', ')}), in forked load processes (${gens}), each client dialing the relay from its region ` +
    `(member addresses the members hand out, in leader hints, are rewritten to that region's relay). ${fmt(m.valueBytes)}-byte values over ${fmt(m.keyCount)} keys written beforehand; ` +
    `writes go to the leader, follower and stale reads to the member nearest the client. Clients connect ${m.connectConcurrency} at a time per process ` +
    `(a member refuses handshakes past ${m.limits.handshakesMax} pending) and stay connected across the runs of a cell.`,
    `- **Runs**: ${m.warmupS} s warm-up then ${m.seconds} s measured; each figure is the median of ${m.runs} run(s), the runs of the measured profile and the ` +
    'baseline interleaved (run 1 of each, then run 2, ...) so a slow spell of the shared machine falls on both; "spread" is the lowest and highest run. ' +
    'Latency is what the client sees (1 % histogram buckets, merged per region).',
    `- **Floor** of a write from a region: the client's round trip to the leader + the leader's round trip to its nearest quorum + one fsync ` +
    `(${ms(m.fsyncP50Ms, 2)} ms: the p50 of \`write\` + \`fdatasync\` of ${fmt(m.fsyncBytes)} bytes through libuv, in ${m.members} processes at once, as bench/lib/raw-sync.ts measures it, before the loads). ` +
    `Jitter is not in the floor: the profile adds on average ${ms(meanJitterMs(p), 2)} ms to each chunk on each one-way hop, so about ${ms(4 * meanJitterMs(p))} ms over a write's four hops.`,
    `- **Inflight window**: the leader keeps at most ${fmt(m.limits.msgsMax)} AppendEntries and ${mib(m.limits.bytesMax)} of entries in flight per follower ` +
    '(RaftOptions inflightMsgsMax / inflightBytesMax; the peer has no flag for them); the SDK pipelines up to ' +
    `${fmt(m.limits.sdkInflightMax)} requests per client. The leader's /metrics are sampled through each window for the messages and bytes in flight to its busiest follower.`,
    `- **Machine load**: other processes used a median of ${fmt(others.length > 0 ? median(others) : 0)} % of one core during the measured windows ` +
    `(max ${fmt(others.length > 0 ? Math.max(...others) : 0)} %; CPU time from /proc, everything this benchmark started left out). The relays share the same ${r.machine.cores} cores as the peers and the clients.`,
    ...netLines(r),
  ];
}

function writeRows(r: WanReport): string[][] {
  const rows: string[][] = [];
  const p = r.profile;
  const keys = [...new Set(r.writes.map((c) => c.spec.key))];
  for (const key of keys) {
    for (const c of r.writes.filter((x) => x.spec.key === key)) {
      const s = summarizeCell(c);
      const prof = c.profile === p.name ? p : r.baseline ?? p;
      const leader = c.profile === p.name ? r.leader : preferredLeader(prof, r.method.members);
      for (const g of s.regions) {
        const f = writeFloor(prof, r.method.members, leader, g.region, r.method.fsyncP50Ms);
        rows.push([
          c.profile, cellLabel(c.spec), fmt(inflightPerRegion(c)), regionName(prof, g.region), fmt(g.opsPerS),
          g === s.regions[0] ? `${fmt(s.opsPerS)} (${fmt(s.opsMin)}–${fmt(s.opsMax)})` : '',
          ms(g.p50Ms), ms(g.p99Ms), ms(f.floorMs), ms(g.p50Ms - f.floorMs), ratio(g.p50Ms / f.floorMs),
          g === s.regions[0] ? `${s.errors}${s.leaderChanged ? ' (leader changed)' : ''}` : '',
        ]);
      }
    }
  }
  return rows;
}

function counterRows(r: WanReport): string[][] {
  return r.writes.map((c) => {
    const s = summarizeCell(c);
    const k = s.counters;
    return [
      c.profile, c.spec.key, fmt(s.opsPerS), fmt(k.persistBatches > 0 ? k.persistEntries / k.persistBatches : Number.NaN, 1), ms(k.persistP50Ms, 2),
      `${fmt(k.inflightMsgs.mean, 1)} / ${fmt(k.inflightMsgs.max)}`, `${fmt(k.inflightBytes.mean / 1024, 0)} / ${fmt(k.inflightBytes.max / 1024, 0)}`,
      `${fmt(k.pendingProposals.mean)} / ${fmt(k.pendingProposals.max)}`, ms(leaderHoldMs(s)), ms(s.p50Ms), fmt(k.stalledProbes), fmt(k.sendDropped), fmt(k.reorderHeld), fmt(k.elections),
      fmt(s.leaderCpuPct), fmt(s.generatorCpuPct), fmt(s.relayCpuPct), fmt(Math.max(0, s.otherCpuPct)),
    ];
  });
}

function windowLines(r: WanReport): string[] {
  const t = throughputTarget(r);
  const c = find(r.writes, r.profile.name, 'writes_high') ?? r.writes.filter((x) => x.profile === r.profile.name).at(-1);
  if (c === undefined) return ['No write cell was measured on the measured profile.'];
  const s = t?.net ?? summarizeCell(c);
  const checks = windowChecks(r.profile, r.method.members, r.leader, s.opsPerS, s.counters, r.method.limits, r.method.valueBytes);
  const lines = checks.map((w) => {
    const bytes = w.bytesCovered
      ? `covers it (${fmt((w.neededBytes / w.bytesMax) * 100, 3)} % of the ${mib(w.bytesMax)} byte window)`
      : `does NOT cover it: the byte window of ${mib(w.bytesMax)} is below what the pipe holds`;
    const count = w.msgsSaturated
      ? `the count window was full (${fmt(w.observedMsgsMax)} of ${fmt(w.msgsMax)} AppendEntries in flight): the leader waited for acknowledgements, so the count window bounds the throughput`
      : `at most ${fmt(w.observedMsgsMax)} of ${fmt(w.msgsMax)} AppendEntries (${fmt(w.observedBytesMax / 1024, 0)} KiB) were in flight in the samples: the count window was never the limit`;
    return `- Follower ${w.follower + 1} (${regionName(r.profile, r.profile.memberRegion(w.follower, r.method.members))}, RTT ${ms(w.rttMs)} ms): ` +
      `${fmt(w.writesPerS)} writes/s × ${fmt(w.bytesPerWrite)} bytes per write on the wire × ${ms(w.rttMs)} ms = ${fmt(w.neededBytes / 1024, 0)} KiB in flight needed; the window ${bytes}; ${count}.`;
  });
  return [`In the \`${c.spec.key}\` cell of \`${r.profile.name}\`:`, '', ...lines];
}

function readRows(r: WanReport): string[][] {
  const rows: string[][] = [];
  for (const c of r.reads) {
    const s = summarizeCell(c);
    const prof = c.profile === r.profile.name ? r.profile : r.baseline ?? r.profile;
    for (const g of s.regions) {
      const paths = Object.entries(g.paths).map(([k, v]) => `${k} ${fmt((v / Math.max(1, Object.values(g.paths).reduce((a, b) => a + b, 0))) * 100)}%`).join(', ');
      rows.push([
        c.spec.mode ?? '?', regionName(prof, g.region), fmt(c.clientsPerRegion), fmt(g.opsPerS), g === s.regions[0] ? `${fmt(s.opsPerS)} (${fmt(s.opsMin)}–${fmt(s.opsMax)})` : '',
        ms(g.p50Ms), ms(g.p99Ms), ms(readFloorMs(prof, r.method.members, r.leader, g.region, c.spec.mode ?? 'lease')), paths || 'n/a', String(g.errors),
      ]);
    }
  }
  return rows;
}

function tabLines(r: WanReport): string[] {
  const t = r.tabs;
  if (t === null) return ['Not measured in this run (`--only` left it out, or `--tabs 0`).'];
  if (t.status === 'skipped') return [`Skipped: ${t.reason}.`];
  const rows = t.regions.map((g) => [
    regionName(r.profile, g.region), String(g.tabs), g.source === null ? 'n/a' : `${g.source} (${g.sourceRegion === null ? '?' : regionName(r.profile, g.sourceRegion)})`,
    ms(g.joinMs, 0), fmt(g.readsPerS), ms(g.p50Ms), ms(g.p99Ms), ms(tabFloorMs(r.profile, r.method.members, r.leader, g.region, g.sourceRegion)), ms(g.staleP50Ms, 2), String(g.errors),
  ]);
  return [
    `${t.chromium}, headless: ${t.tabsPerRegion} tab(s) per client region, each a follower-reader (\`joinAsFollower({ serveFrom: 'follower' })\`) whose token subject ` +
    'is picked so that it replicates from the follower nearest its region, dialing through the relay from its region (a custom dialer rewrites member addresses). ' +
    `${t.loopsPerTab} linearizable read loop(s) per tab for ${t.seconds} s (a linearizable tab read asks its follower relay, which asks the leader for a read index); ` +
    'stale reads are answered from the tab\'s own copy. A small cell (one browser, few tabs): Chromium\'s renderers share the 2 cores with the cluster and the relays.',
    '',
    table(['tab region', 'tabs', 'replicates from', 'join ms', 'reads/s', 'p50 ms', 'p99 ms', 'network floor ms', 'stale p50 ms', 'errors'], rows),
  ];
}

function failoverLines(r: WanReport): string[] {
  const f = r.failover;
  if (f === null) return ['Not measured in this run (`--only` left it out).'];
  if (f.status === 'skipped') return [`Skipped: ${f.reason ?? 'no reason given'}.`];
  const cells = summarizeFailover(f, r.profile.clientRegions);
  const header = ['timeouts', 'peer flags', 'election timeout', 'signal', 'runs', 'new leader known ms (spread)',
    ...r.profile.clientRegions.map((x) => `first write acked, ${regionName(r.profile, x)} ms`)];
  const rows = cells.map((c) => {
    const args = f.args[c.timeouts] ?? [];
    const [lo, hi] = electionRangeMs(args);
    return [
      c.timeouts, args.length === 0 ? '(none)' : `\`${args.join(' ')}\``, `${fmt(lo)}–${fmt(hi)} ms`, c.signal === 'kill' ? 'SIGKILL' : 'SIGSTOP', String(c.runs),
      `${ms(c.leaderKnownMs, 0)} (${ms(c.leaderKnownMinMs, 0)}–${ms(c.leaderKnownMaxMs, 0)})`,
      ...c.ackMs.map((a) => `${ms(a.ms, 0)} (${ms(a.minMs, 0)}–${ms(a.maxMs, 0)})${a.missing > 0 ? `, ${a.missing} never` : ''}`),
    ];
  });
  return [
    `The leader (kept on member ${r.leader + 1}) is sent SIGKILL, or SIGSTOP (frozen with its sockets open: a VM stall or a long pause), while one client per region ` +
    `that knows it writes one key at a time from the moment of the signal. "New leader known": the surviving members' /healthz agree on another leader (polled every 20 ms, directly). ` +
    `"First write acked": the first of that client's writes is acknowledged (the SDK retries on its own; its attempt timeout is ${fmt(f.attemptTimeoutMs)} ms, so a client of a frozen ` +
    `leader waits that long before it tries another member). The victim is restarted (or continued) and leadership moved back between runs. Derived timeouts: ${f.derivedFrom}.`,
    '',
    table(header, rows),
  ];
}

export interface PairRtt {
  readonly a: string;
  readonly b: string;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

/**
 * Round trips between members as the relays really held them: the hold of a's data to b plus
 * that of b's replies on the same connections (a->b and a<-b), p50 and p99 (the p99s added: a
 * bound). Each unordered pair once, from the side that dialed first in the stats.
 */
export function memberRtts(stats: NetFigures, ids: readonly string[]): PairRtt[] {
  const link = new Map(stats.links.map((l) => [l.name, l]));
  const out: PairRtt[] = [];
  for (let i = 0; i < ids.length; i++) {
    for (let j = i + 1; j < ids.length; j++) {
      for (const [a, b] of [[ids[i]!, ids[j]!], [ids[j]!, ids[i]!]] as const) {
        const there = link.get(`${a}->${b}`);
        const back = link.get(`${a}<-${b}`);
        if (there === undefined || back === undefined || there.chunks === 0 || back.chunks === 0) continue;
        out.push({ a, b, p50Ms: there.heldP50Ms + back.heldP50Ms, p99Ms: there.heldP99Ms + back.heldP99Ms });
        break;
      }
    }
  }
  return out;
}

/** The paragraph for docs/operations.md: what to set at WAN round trips, from the figures. */
export function whatToSet(r: WanReport): string[] {
  const f = r.failover;
  const maxRtt = Math.max(...r.profile.rttMs.flat());
  const derived = f?.args.derived ?? suggestedPeerArgs(r.profile);
  const [dlo, dhi] = electionRangeMs(derived);
  const cells = f !== null && f.status === 'measured' ? summarizeFailover(f, r.profile.clientRegions) : [];
  const known = (t: TimeoutSet, s: FailSignal) => cells.find((c) => c.timeouts === t && c.signal === s)?.leaderKnownMs ?? Number.NaN;
  const elections = r.writes.filter((c) => c.profile === r.profile.name).reduce((s, c) => s + c.runs.reduce((a, x) => a + x.counters.elections, 0), 0);
  const tick = derived[derived.indexOf('--tick-ms') + 1] ?? '?';
  const stats = r.method.net.find((n) => n.profile === r.profile.name)?.stats ?? null;
  const rtts = stats === null ? [] : memberRtts(stats, r.method.memberIds);
  const far = rtts.reduce<PairRtt | null>((a, x) => (a === null || x.p50Ms > a.p50Ms ? x : a), null);
  const p99Max = rtts.reduce((m, x) => Math.max(m, x.p99Ms), 0);
  const measured = far === null ? '' : ` The relays held member round trips of ${rtts.map((x) => `${x.a}–${x.b} p50 ${ms(x.p50Ms)} / p99 ${ms(x.p99Ms)} ms`).join(', ')} ` +
    `(configured delay plus jitter): the shortest derived election timeout is ${fmt(dlo / p99Max, 1)}× the largest p99, the default one ${fmt(500 / p99Max, 1)}×.`;
  return [
    `**Timeouts across regions.** Every member must run the same \`--tick-ms\`; the election timeout is 10–20 ticks and the leader lease (10 − 1) × tick × 0.9. ` +
    `Set the tick to about the largest round trip between members (here ${ms(maxRtt, 0)} ms: \`--tick-ms ${tick}\`, elections after ${fmt(dlo)}–${fmt(dhi)} ms), so the ` +
    `election timeout stays at least ten round trips and a heartbeat goes out about once per round trip: jitter, a retransmitted segment (200 ms) or a slow turn then never looks like a dead leader.${measured} ` +
    `The default 50 ms tick (500–1,000 ms) ${elections === 0 ? `held in this run (no election started during ${r.writes.filter((c) => c.profile === r.profile.name).reduce((s, c) => s + c.runs.length, 0)} loaded windows)` : `started ${elections} election(s) during the loaded windows of this run`}` +
    `${Number.isFinite(known('default', 'kill')) ? ` and found a new leader ${ms(known('default', 'kill'), 0)} ms after a SIGKILL, against ${ms(known('derived', 'kill'), 0)} ms with the derived tick` : ''}` +
    `${known('derived', 'kill') > known('default', 'kill') ? ': the longer tick costs failover time, bought back in fewer needless elections when a link is slow' : ': an election\'s randomized timeout and its vote round trips weigh as much as the tick here, so the longer tick costs little failover time and buys fewer needless elections when a link is slow'}. ` +
    'Clients: lower the SDK\'s `attemptTimeoutMs` (default 2 s) towards the election timeout, ' +
    'or a client of a frozen (not crashed) leader waits it out before trying another member; put writers near the leader and read with `follower` or `stale` from the nearest member.',
  ];
}

function ratioSentence(x: number): string {
  return Number.isFinite(x) ? `${fmt(x, 2)}×` : 'n/a';
}

/** Sentences read from the figures: targets met or missed, and why, with counters. */
export function whatTheFiguresSay(r: WanReport): string[] {
  const out: string[] = [];
  const t = throughputTarget(r);
  const netHigh = find(r.writes, r.profile.name, 'writes_high');
  if (t !== null && netHigh !== undefined) {
    const inflight = inflightPerRegion(netHigh) * r.profile.clientRegions.length;
    const bound = closedLoopBound(inflight, t.net.p50Ms);
    const k = t.net.counters;
    const checks = windowChecks(r.profile, r.method.members, r.leader, t.net.opsPerS, k, r.method.limits, r.method.valueBytes);
    const saturated = checks.some((w) => w.msgsSaturated);
    const uncovered = checks.filter((w) => !w.bytesCovered);
    const why: string[] = [];
    if (Number.isFinite(bound) && t.net.opsPerS >= 0.85 * bound) {
      const baseInflight = inflightPerRegion(find(r.writes, r.baseline!.name, 'writes_high')!) * r.baseline!.clientRegions.length;
      const baseBound = closedLoopBound(baseInflight, t.base.p50Ms);
      const extra = median(r.profile.clientRegions.map((x) => { const f = writeFloor(r.profile, r.method.members, r.leader, x, 0); return f.floorMs + f.jitterMs; }));
      why.push(`the ${fmt(inflight)} requests in flight over a p50 of ${ms(t.net.p50Ms)} ms allow about ${fmt(bound)} writes/s (Little's law), and it reached ${fmt(t.net.opsPerS)}: ` +
        `the offered concurrency, not the cluster, set the rate${t.base.opsPerS >= 0.85 * baseBound ? ` (the baseline too: ${fmt(baseBound)} allowed, ${fmt(t.base.opsPerS)} reached)` : ''}. ` +
        `Both queue at the leader, and distance adds about ${ms(extra)} ms to each write (the median region's round trips plus jitter) on top of that queue, so a closed loop over \`${r.profile.name}\` ` +
        `gets closer to the baseline the more requests are in flight; the cluster's own pipeline is not what round trips bound`);
    }
    if (saturated) why.push(`the leader's count window was full (${fmt(k.inflightMsgs.max)} of ${fmt(r.method.limits.msgsMax)} AppendEntries in flight), so it waited for acknowledgements: round trips bound it`);
    if (uncovered.length > 0) why.push(`the byte window (${mib(r.method.limits.bytesMax)}) is below the bandwidth-delay product of ${uncovered.map((w) => `follower ${w.follower + 1}`).join(', ')}`);
    if (!saturated && uncovered.length === 0) {
      why.push(`the inflight window was never the limit (at most ${fmt(k.inflightMsgs.max)} of ${fmt(r.method.limits.msgsMax)} AppendEntries, ${fmt(k.inflightBytes.max / 1024, 0)} KiB of ${mib(r.method.limits.bytesMax)} in flight)`);
    }
    why.push(`the leader held a write ${ms(leaderHoldMs(t.net))} ms on average from proposal to apply (baseline ${ms(leaderHoldMs(t.base))} ms) of the ${ms(t.net.p50Ms)} ms p50 the clients saw ` +
      `(baseline ${ms(t.base.p50Ms)} ms)`);
    why.push(`the leader used ${fmt(t.net.leaderCpuPct)} % of a core (baseline ${fmt(t.base.leaderCpuPct)} %), the load processes ${fmt(t.net.generatorCpuPct)} % (baseline ${fmt(t.base.generatorCpuPct)} %), the relays ${fmt(t.net.relayCpuPct)} % (baseline ${fmt(t.base.relayCpuPct)} %), ` +
      `and the leader saved ${fmt(k.persistBatches > 0 ? k.persistEntries / k.persistBatches : Number.NaN, 1)} entries per fsync (baseline ${fmt(t.base.counters.persistBatches > 0 ? t.base.counters.persistEntries / t.base.counters.persistBatches : Number.NaN, 1)})`);
    out.push(`- **Throughput** (target: \`${r.profile.name}\` ≥ 0.8× \`${r.baseline?.name ?? '?'}\` through the same relays, with ${fmt(inflight)} writes in flight): ` +
      `${fmt(t.net.opsPerS)} writes/s (spread ${fmt(t.net.opsMin)}–${fmt(t.net.opsMax)}) against ${fmt(t.base.opsPerS)} (${fmt(t.base.opsMin)}–${fmt(t.base.opsMax)}): ` +
      `${ratioSentence(t.ratio)} — **${t.met ? 'met' : 'missed'}**. ${why.map((w) => `${w.replace(/^./, (ch) => ch.toUpperCase())}.`).join(' ')}`);
  } else {
    out.push('- **Throughput**: the high-load cell was not measured on both profiles, so the throughput target has no figure.');
  }
  const lat = latencyTargets(r);
  if (lat.length > 0) {
    const persist = summarizeCell(find(r.writes, r.profile.name, lat[0]!.cell)!).counters.persistP50Ms;
    const parts = lat.map((x) => `${regionName(r.profile, x.region)} p50 ${ms(x.p50Ms)} ms against a floor of ${ms(x.floor.floorMs)} ms ` +
      `(${ms(x.floor.clientRttMs)} + ${ms(x.floor.quorumRttMs)} + ${ms(x.floor.fsyncMs, 2)}): ${ratioSentence(x.ratio)}, ${x.met ? 'met' : 'missed'}` +
      `${x.floor.jitterMs > 0 ? ` (${ratioSentence(x.p50Ms / (x.floor.floorMs + x.floor.jitterMs))} of the floor plus the mean jitter, ${ms(x.floor.floorMs + x.floor.jitterMs)} ms)` : ''}`);
    const missed = lat.filter((x) => !x.met);
    const jitter = lat[0]!.floor.jitterMs;
    const explain = missed.length === 0 ? '' : ` Where missed, the excess (${missed.map((x) => `${ms(x.p50Ms - x.floor.floorMs)} ms in ${regionName(r.profile, x.region)}`).join(', ')}) ` +
      `is in line with the profile's jitter (about ${ms(jitter)} ms on average over the four one-way hops of a write, each chunk waiting for any slower one ahead of it on its connection) ` +
      `and the leader's own persist (p50 ${ms(persist, 2)} ms in that cell, against ${ms(r.method.fsyncP50Ms, 2)} ms for the bare fsync): the floor leaves both out. ` +
      `With one client per region nothing queues, so nothing else stands between the client and the floor.`;
    out.push(`- **Write latency** (target: p50 ≤ 1.2× the floor, one client per region): ${parts.join('; ')}.${explain}`);
  }
  const writeCells = r.writes.filter((c) => c.profile === r.profile.name && c.spec.loopsPerClient === 1).sort((a, b) => a.spec.clientsPerRegion - b.spec.clientsPerRegion);
  if (writeCells.length > 1) {
    const xs = writeCells.map((c) => {
      const s = summarizeCell(c);
      const inflight = inflightPerRegion(c) * r.profile.clientRegions.length;
      return `${c.spec.clientsPerRegion} per region: ${fmt(s.opsPerS)} writes/s, p50 ${ms(s.p50Ms)} ms (closed-loop bound ${fmt(closedLoopBound(inflight, s.p50Ms))})`;
    });
    out.push(`- **Closed-loop clients** are bounded by concurrency over latency: ${xs.join('; ')}. At WAN latency a client with one request at a time writes ` +
      'tens of times a second, so reaching the cluster\'s throughput takes thousands of requests in flight: pipelining in one client (the SDK sends many requests over one connection) or many clients.');
  }
  const stalls = (profile: string) => r.writes.filter((c) => c.profile === profile).reduce((s, c) => s + c.runs.reduce((a, x) => a + x.counters.stalledProbes, 0), 0);
  const windows = (profile: string) => r.writes.filter((c) => c.profile === profile).reduce((s, c) => s + c.runs.length, 0);
  if (windows(r.profile.name) > 0) {
    const farRtt = Math.max(...Array.from({ length: r.method.members }, (_, i) => i).filter((i) => i !== r.leader)
      .map((i) => r.profile.rttMs[r.profile.memberRegion(r.leader, r.method.members)]?.[r.profile.memberRegion(i, r.method.members)] ?? 0));
    out.push(`- **Stalled pipelines**: the leader re-probes a follower (and resends from its match) when 3 ticks pass without an acknowledgement while appends are in flight: ` +
      `150 ms at the default tick, whatever the round trip (here up to ${ms(farRtt, 0)} ms to a follower). It did so ${fmt(stalls(r.profile.name))} times in ${windows(r.profile.name)} \`${r.profile.name}\` write windows` +
      `${r.baseline !== null && windows(r.baseline.name) > 0 ? ` and ${fmt(stalls(r.baseline.name))} times in ${windows(r.baseline.name)} \`${r.baseline.name}\` ones` : ''}` +
      `${farRtt * 1.5 >= 150 ? ': a follower this far acknowledges close to that bound, so a slow spell makes the leader resend; a longer tick (below) moves the bound' : ''}.`);
  }
  const readCells = r.reads.filter((c) => c.profile === r.profile.name);
  if (readCells.length > 0) {
    const xs = readCells.map((c) => {
      const s = summarizeCell(c);
      const far = s.regions.reduce<RegionSummary | null>((a, g) => (a === null || g.p50Ms > a.p50Ms ? g : a), null);
      return `${c.spec.mode}: ${fmt(s.opsPerS)} reads/s, p50 ${ms(s.p50Ms)} ms overall${far !== null ? ` (slowest region ${regionName(r.profile, far.region)} ${ms(far.p50Ms)} ms)` : ''}`;
    });
    out.push(`- **Reads** (${readCells[0]!.clientsPerRegion} clients per region): ${xs.join('; ')}. Leader reads pay the client's round trip to the leader (ReadIndex a quorum round more); ` +
      'follower reads pay the round trip to the nearest member plus its round trip to the leader; stale reads only the nearest member.');
  }
  if (r.tabs !== null && r.tabs.status === 'measured') {
    out.push(`- **Browser tabs**: ${r.tabs.regions.map((g) => `${regionName(r.profile, g.region)} p50 ${ms(g.p50Ms)} ms via ${g.source ?? '?'}`).join('; ')}; stale reads from the tab's copy take ` +
      `${ms(median(finite(r.tabs.regions.map((g) => g.staleP50Ms))), 2)} ms.`);
  } else if (r.tabs !== null) {
    out.push(`- **Browser tabs**: skipped (${r.tabs.reason}).`);
  }
  if (r.failover !== null && r.failover.status === 'measured') {
    const cells = summarizeFailover(r.failover, r.profile.clientRegions);
    out.push(`- **Failover**: ${cells.map((c) => `${c.timeouts} timeouts, ${c.signal === 'kill' ? 'SIGKILL' : 'SIGSTOP'}: new leader after ${ms(c.leaderKnownMs, 0)} ms, ` +
      `writes acknowledged again after ${c.ackMs.map((a) => `${ms(a.ms, 0)} ms (${regionName(r.profile, a.region)})`).join(', ')}, ${ms(c.afterLeaderMs, 0)} ms after the new leader (median)`).join('; ')}. ` +
      `Between the two, the client retries: after a SIGKILL its connection closes at once and it backs off (20 ms doubling to the SDK's retryBackoffMaxMs, 250 ms, jittered) while no member leads, ` +
      `then follows a leader hint; after a SIGSTOP it first waits out its attempt timeout (${fmt(r.failover.attemptTimeoutMs)} ms) on the frozen leader, so writes resume no sooner than that whatever the election takes.`);
  }
  const others = finite([...r.writes, ...r.reads].flatMap((c) => c.runs.map((x) => Math.max(0, x.otherCpuPct))));
  if (others.length > 0) {
    out.push(`- Other processes used a median of ${fmt(median(others))} % of one core during the measured windows (max ${fmt(Math.max(...others))} %)` +
      `${median(others) > 25 ? ': the machine was busy, so read the ratios more than the absolute figures' : ''}.`);
  }
  for (const n of r.notes) out.push(`- ${n}`);
  return out;
}

/** docs/wan-bench.md, with its chart file named (stdout gets the same, without the image: null). */
export function wanMarkdown(r: WanReport, chart: string | null): string {
  const mc = r.machine;
  const t = throughputTarget(r);
  const lat = latencyTargets(r);
  const out = [
    `# Benchmark: raft mode at WAN latencies (\`--net ${r.profile.name}\`)`,
    '',
    `Generated by \`npm run bench:wan\` on ${mc.date.slice(0, 16).replace('T', ' ')} UTC in ${fmt(r.durationS / 60, 1)} minutes${r.method.quick ? ' (--quick: one short run per cell)' : ''}. Do not edit: run it again.`,
    '',
    ...machineSection(mc),
    '',
    '## Method',
    '',
    ...methodLines(r),
    '',
    '## Targets',
    '',
    t === null ? '- Throughput ≥ 0.8× the baseline: not measured.' : `- Throughput with ${fmt(inflightPerRegion(find(r.writes, r.profile.name, 'writes_high')!) * r.profile.clientRegions.length)} writes in flight ≥ 0.8× \`${r.baseline?.name}\`: ${ratioSentence(t.ratio)} — ${t.met ? 'met' : 'missed'}`,
    ...lat.map((x) => `- Write p50 ≤ 1.2× the floor, ${regionName(r.profile, x.region)}: ${ms(x.p50Ms)} ms / ${ms(x.floor.floorMs)} ms = ${ratioSentence(x.ratio)} — ${x.met ? 'met' : 'missed'}`),
    '',
    '## Writes',
    '',
    table(['net', 'load', 'in flight per region', 'client region', 'writes/s', 'total writes/s (spread)', 'p50 ms', 'p99 ms', 'floor ms', 'p50 above floor ms', 'p50 / floor', 'errors'], writeRows(r)),
    '',
    ...(chart !== null ? [`![Write latency against requests in flight, per client region](${chart})`, ''] : []),
    '### What the leader did (median run of each cell)',
    '',
    table(['net', 'cell', 'writes/s', 'entries/fsync', 'persist p50 ms', 'AppendEntries in flight mean / max', 'KiB in flight mean / max', 'pending proposals mean / max',
      'leader holds a write ms', 'client p50 ms', 'stalled probes', 'shed', 'reorder held', 'elections', 'leader CPU %', 'load gen CPU %', 'relays CPU %', 'other CPU %'], counterRows(r)),
    '',
    'In flight: the leader\'s AppendEntries and entry bytes in flight to its busiest follower, sampled every 250 ms. "Leader holds a write": pending proposals ÷ writes/s ' +
    '(Little\'s law), from proposal to apply at the leader: the quorum round trip, the fsync and the batching; the rest of the client\'s latency is its path to the leader and queueing ' +
    'in the client, the relays and the leader\'s event loop. CPU: percent of one core (load gen: all load processes together).',
    '',
    '### Does the inflight window cover the bandwidth-delay product?',
    '',
    ...windowLines(r),
    '',
    '## Reads',
    '',
    r.reads.length === 0 ? 'Not measured in this run.' : table(['mode', 'client region', 'clients', 'reads/s', 'total reads/s (spread)', 'p50 ms', 'p99 ms', 'network floor ms', 'served by path', 'errors'], readRows(r)),
    '',
    'Network floor: the round trips the read path needs with the leader\'s lease valid (lease and linearizable: client–leader; readindex: plus the leader\'s quorum round; follower: client–nearest member plus that member–leader; stale: client–nearest member), no fsync.',
    '',
    '## Browser tabs served by a follower relay',
    '',
    ...tabLines(r),
    '',
    '## Elections and failover',
    '',
    ...failoverLines(r),
    '',
    '## What to set',
    '',
    ...whatToSet(r),
    '',
    '## What the figures say',
    '',
    ...whatTheFiguresSay(r),
  ];
  return `${out.join('\n')}\n`;
}

// ---- chart -------------------------------------------------------------------------------------

const palette = ['#1f77b4'];

/** One panel per client region: p50 and p99 against requests in flight per region, the baseline dashed, the floor flat. */
export function wanChart(r: WanReport): ChartSpec {
  const p = r.profile;
  const regions = p.clientRegions;
  const net = r.writes.filter((c) => c.profile === p.name);
  const base = r.baseline === null ? [] : r.writes.filter((c) => c.profile === r.baseline!.name);
  const byInflight = (cs: readonly CellResult[]) => [...cs].sort((a, b) => inflightPerRegion(a) - inflightPerRegion(b));
  const xs = byInflight(net).map((c) => inflightPerRegion(c));
  const panels: ChartPanel[] = regions.map((region) => {
    const series: ChartSeries[] = [];
    // One color per series in every panel: the legend is shared.
    const color = palette[0]!;
    for (const q of ['p50', 'p99'] as const) {
      series.push({
        name: `${p.name} ${q}`, color: q === 'p50' ? color : '#555', dashed: false, marker: q === 'p50' ? 'circle' : 'square',
        points: byInflight(net).map((c) => {
          const g = summarizeCell(c).regions.find((x) => x.region === region);
          return { x: inflightPerRegion(c), y: g === undefined ? Number.NaN : q === 'p50' ? g.p50Ms : g.p99Ms, label: c.spec.loopsPerClient > 1 ? 'high' : String(c.spec.clientsPerRegion) };
        }),
      });
    }
    if (base.length > 0) {
      series.push({
        name: `${r.baseline!.name} p50 (same total in flight)`, color: '#999', dashed: true, marker: 'circle',
        points: byInflight(base).map((c) => ({ x: inflightPerRegion(c) / regions.length, y: summarizeCell(c).p50Ms })),
      });
    }
    const f = writeFloor(p, r.method.members, r.leader, region, r.method.fsyncP50Ms).floorMs;
    if (xs.length > 0) series.push({ name: 'floor (RTT to leader + quorum RTT + fsync)', color: '#000', dashed: true, marker: 'square', points: [{ x: Math.min(...xs), y: f }, { x: Math.max(...xs), y: f }] });
    return { title: `clients in ${regionName(p, region)}`, series };
  });
  return {
    title: `Write latency at WAN distances (${p.name}) against requests in flight per client region`,
    subtitle: `${r.machine.cpuModel} × ${r.machine.cores} cores, Node ${r.machine.node}, edgeraft ${r.machine.commit}; leader in ${regionName(p, p.memberRegion(r.leader, r.method.members))}; median of ${r.method.runs} run(s)`,
    xLabel: 'requests in flight per client region (log)', yLabel: 'latency seen by the client, ms (log)', panels, columns: Math.min(3, Math.max(1, panels.length)),
  };
}

// ---- --json --------------------------------------------------------------------------------------

/** One flat object, unit-suffixed keys (writes_per_s, p99_ms, ratio_to_lan, ...). */
export function wanJson(r: WanReport): Record<string, number | string | boolean | null> {
  const o: Record<string, number | string | boolean | null> = {};
  const n = (v: number, digits = 3): number | null => (Number.isFinite(v) ? Number(v.toFixed(digits)) : null);
  const mc = r.machine;
  o.machine = `${mc.cpuModel} × ${mc.cores} cores, ${mc.memGiB} GiB`;
  o.node = mc.node;
  o.edgeraft_commit = mc.commit;
  o.net = r.profile.name;
  o.baseline = r.baseline?.name ?? null;
  o.members = r.method.members;
  o.runs = r.method.runs;
  o.seconds = r.method.seconds;
  o.leader_region = regionName(r.profile, r.profile.memberRegion(r.leader, r.method.members));
  o.fsync_p50_ms = n(r.method.fsyncP50Ms);
  o.duration_s = Math.round(r.durationS);
  for (const c of [...r.writes, ...r.reads]) {
    const s = summarizeCell(c);
    const prof = c.profile === r.profile.name ? r.profile : r.baseline ?? r.profile;
    const unit = c.spec.op === 'write' ? 'writes_per_s' : 'reads_per_s';
    const base = `${keyOf(c.profile)}_${c.spec.key}`;
    o[`${base}_${unit}`] = n(s.opsPerS, 1);
    o[`${base}_min_${unit}`] = n(s.opsMin, 1);
    o[`${base}_max_${unit}`] = n(s.opsMax, 1);
    o[`${base}_p50_ms`] = n(s.p50Ms);
    o[`${base}_p99_ms`] = n(s.p99Ms);
    o[`${base}_errors`] = s.errors;
    o[`${base}_in_flight_per_region`] = inflightPerRegion(c);
    o[`${base}_other_cpu_pct`] = n(Math.max(0, s.otherCpuPct), 1);
    if (c.spec.op === 'write') {
      o[`${base}_max_inflight_msgs`] = n(s.counters.inflightMsgs.max, 0);
      o[`${base}_max_inflight_bytes`] = n(s.counters.inflightBytes.max, 0);
      o[`${base}_elections`] = s.counters.elections;
    }
    for (const g of s.regions) {
      const rk = `${base}_${keyOf(regionName(prof, g.region))}`;
      o[`${rk}_${unit}`] = n(g.opsPerS, 1);
      o[`${rk}_p50_ms`] = n(g.p50Ms);
      o[`${rk}_p99_ms`] = n(g.p99Ms);
      if (c.spec.op === 'write') {
        const leader = c.profile === r.profile.name ? r.leader : preferredLeader(prof, r.method.members);
        const f = writeFloor(prof, r.method.members, leader, g.region, r.method.fsyncP50Ms);
        o[`${rk}_floor_ms`] = n(f.floorMs);
        o[`${rk}_above_floor_ms`] = n(g.p50Ms - f.floorMs);
        o[`${rk}_ratio_to_floor`] = n(g.p50Ms / f.floorMs);
      }
    }
  }
  const t = throughputTarget(r);
  if (t !== null) {
    o[`writes_high_ratio_to_${keyOf(r.baseline!.name)}`] = n(t.ratio);
    o.target_throughput_met = t.met;
  }
  const lat = latencyTargets(r);
  if (lat.length > 0) o.target_p50_floor_met = lat.every((x) => x.met);
  if (r.tabs !== null && r.tabs.status === 'measured') {
    for (const g of r.tabs.regions) {
      const rk = `tabs_${keyOf(regionName(r.profile, g.region))}`;
      o[`${rk}_reads_per_s`] = n(g.readsPerS, 1);
      o[`${rk}_p50_ms`] = n(g.p50Ms);
      o[`${rk}_p99_ms`] = n(g.p99Ms);
    }
  } else if (r.tabs !== null) {
    o.tabs_skipped = r.tabs.reason;
  }
  if (r.failover !== null && r.failover.status === 'measured') {
    for (const c of summarizeFailover(r.failover, r.profile.clientRegions)) {
      const fk = `failover_${c.timeouts}_${c.signal}`;
      o[`${fk}_leader_known_ms`] = n(c.leaderKnownMs, 0);
      for (const a of c.ackMs) o[`${fk}_${keyOf(regionName(r.profile, a.region))}_ack_ms`] = n(a.ms, 0);
    }
  }
  return o;
}
