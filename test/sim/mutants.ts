// Mutation checks for the simulator itself: copy the core and the simulator to a temporary
// directory, break one safety rule in the copy (one or more edits), and run chaos seeds against it
// until the checker reports a violation. Production code carries no fault flags; the breakage
// lives here.

import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ChaosResult } from './chaos.ts';

export interface Edit {
  readonly file: string;
  readonly from: string;
  readonly to: string;
}

export interface Mutant {
  readonly name: string;
  readonly edits: readonly Edit[];
  /** Which mode's protocol the mutant breaks (default raft). */
  readonly mode?: 'raft' | 'parallel';
  /**
   * Hunt with the chaos run alone (no scripted scenario first): the issue that added the mutant
   * asked for the chaos mix itself to find it. Scripted scenarios are still tried afterwards.
   */
  readonly chaosOnly?: boolean;
  /** A read-lease mutant: the scripted lease schedules (lease-scenarios.ts) must catch it too. */
  readonly leaseSchedules?: boolean;
  /** A lease-keeper mutant: the scripted stopped-leader schedule (keeper-scenarios.ts) is tried too. */
  readonly keeperSchedule?: boolean;
  /**
   * Not expected to be caught: the rule it breaks is safe in practice here (the note says why).
   * The hunt still runs it and reports what it found.
   */
  readonly safe?: string;
}

const one = (file: string, from: string, to: string): readonly Edit[] => [{ file, from, to }];

export const mutants: readonly Mutant[] = [
  {
    name: 'commit an older term\'s entry by counting replicas (Figure 8)',
    edits: one('src/core/replication.ts', '    if (log.term(idx) !== r.term) return false;\n', ''),
  },
  {
    name: 'grant two votes in one term',
    edits: one('src/core/raft.ts', 'const canVote = this.#vote === m.from ||', 'const canVote = true ||'),
  },
  {
    name: 'grant votes to candidates with stale logs',
    edits: one('src/core/raft.ts', 'if (canVote && this.log.isUpToDate(m.lastIndex, m.lastTerm) && extra !== null) {', 'if (canVote && extra !== null) {'),
  },
  {
    name: 'acknowledge appends before they are durable',
    edits: one('src/core/node.ts', 'else if (isResponse(m) || termVoteDirty) after.push(m);', 'else if (termVoteDirty && !isResponse(m)) after.push(m);'),
  },
  {
    name: 'accept an append without checking the previous entry (no Log Matching check)',
    edits: one('src/core/raft-mode/raft-mode.ts', '    if (log.matchTerm(prevIndex, prevTerm)) {\n      const lastNew', '    if (prevIndex <= log.lastIndex()) {\n      const lastNew'),
  },
  {
    name: 'answer ReadIndex reads without confirming leadership with a quorum',
    edits: one('src/core/reads.ts', '    this.#readOnly.enqueue({ context, from });', "    this.#answer(context, from, r.log.committed, 'readIndex');"),
  },
  {
    name: 'ignore the clock-drift margin and the tick of uncertainty in the lease',
    edits: one('src/core/reads.ts', '  return (cfg.electionTicks - 1) * cfg.tickMs * (1 - cfg.leaseDriftPercent / 100);', '  return cfg.electionTicks * 3 * cfg.tickMs;'),
  },
  {
    // Bug 1 of issue 13: the lease was off only while a transfer was in progress.
    name: 'serve lease reads again once an abandoned transfer\'s timeoutNow has left (transfer votes bypass the lease)',
    chaosOnly: true,
    leaseSchedules: true,
    edits: one('src/core/reads.ts', '    if (r.transferee !== null || this.#leaseForfeited) return false;', '    if (r.transferee !== null) return false;'),
  },
  {
    // Bug 2 of issue 13: the lease measured in ticks (which the runtime skips over a stall),
    // dropped on a stall and revived by acknowledgements of a round sent before it.
    name: 'measure the lease in ticks, dropped on a stall and revived by acknowledgements of a round sent before it',
    chaosOnly: true,
    leaseSchedules: true,
    edits: [
      { file: 'src/core/reads.ts', from: '    return this.#readOnly.startRound(r.mode.readIndex(), r.cfg.clock === null ? null : instant(r.cfg.clock));', to: '    return this.#readOnly.startRound(r.mode.readIndex(), { mono: r.tickCount, wall: r.tickCount });' },
      {
        file: 'src/core/reads.ts', from: '    return base !== null && elapsedMs(r.cfg.clock, base) < leaseMs(r.cfg);',
        to: '    return base !== null && r.tickCount < base.mono + Math.min(Math.floor((r.cfg.electionTicks * (100 - r.cfg.leaseDriftPercent)) / 100), r.cfg.electionTicks - 1) - 1;',
      },
      { file: 'src/core/read-only.ts', from: '  get leaseBase(): Instant | null {', to: '  dropLease(): void { this.#leaseBase = null; }\n\n  get leaseBase(): Instant | null {' },
      { file: 'src/core/node.ts', from: '  reportUnreachable(to: NodeId): void {', to: '  dropLease(): void { this.#r.reads.readOnly.dropLease(); }\n\n  reportUnreachable(to: NodeId): void {' },
      { file: 'src/core/driver.ts', from: '    if (due.stalledMs > 0) this.#opts.onStall?.(due.stalledMs);', to: '    if (due.stalledMs > 0) { this.#opts.onStall?.(due.stalledMs); this.node.dropLease(); }' },
    ],
  },
  {
    name: 'measure the lease on the monotonic clock alone (a suspended machine keeps its lease)',
    chaosOnly: true,
    leaseSchedules: true,
    edits: one('src/core/clock.ts', '  return Math.max(clock.monoMs() - since.mono, clock.wallMs() - since.wall);', '  return clock.monoMs() - since.mono;'),
  },
  {
    // Bug 3 of issue 13: a retry of a request whose answer was evicted ran again.
    name: 'run a retried request again when its cached answer was evicted (no outcome-unknown answer)',
    chaosOnly: true,
    edits: one('src/core/kv/machine.ts', '    if (s.seq <= session.evictedMax) {', '    if (false as boolean) {'),
  },
  // Issue 16: the coordination primitives. Hunted by the chaos run alone: its clients hold
  // leases, run transactions and watch, and the checks are the lease expiry property, the
  // linearizability of txns, and each watcher's stream against the applied history.
  {
    name: 'start a new leader\'s lease clocks without the TTL (only the promote extension)',
    chaosOnly: true,
    keeperSchedule: true,
    edits: one('src/core/kv/lessor.ts', 'nowMs + this.#span(l.ttlMs) + this.#o.promoteExtensionMs);', 'nowMs + this.#o.promoteExtensionMs);'),
  },
  {
    name: 'start a new leader\'s lease clocks without the promote extension',
    chaosOnly: true,
    keeperSchedule: true,
    safe: 'a keep-alive is renewed only after a linearizable read, so every acknowledged one was received before the next leader was elected, and that leader starts every clock at a full TTL (with the drift margin) after its election: the extension only adds slack',
    edits: one('src/core/kv/lessor.ts', 'nowMs + this.#span(l.ttlMs) + this.#o.promoteExtensionMs);', 'nowMs + this.#span(l.ttlMs));'),
  },
  {
    name: 'renew a lease on a keep-alive without the linearizable read (a deposed leader still renews)',
    chaosOnly: true,
    keeperSchedule: true,
    edits: one('src/core/kv/lease-keeper.ts', '    await this.#d.read({ allowLease: true });\n', ''),
  },
  {
    name: 'renew a lease from the time the keep-alive is answered instead of received',
    chaosOnly: true,
    keeperSchedule: true,
    safe: 'the answer comes after the receipt, so the lease is renewed from a later time and expires later: that only delays expiry, which the property (no expiry before the acknowledged send + TTL) allows; the receive time is the tighter bound an SDK can count on',
    edits: one('src/core/kv/lease-keeper.ts', 'this.#lessor.renew(id, lease.ttlMs, received);', 'this.#lessor.renew(id, lease.ttlMs, this.#clock.monoMs());'),
  },
  {
    name: 'send a watcher catching up from history its last revision again (off by one in #catchUp)',
    chaosOnly: true,
    edits: one('src/core/kv/watch-hub.ts', 'this.#m.history.since(w.delivered + 1, this.limits.batchEventsMax);', 'this.#m.history.since(Math.max(w.delivered, this.#m.history.compactRevision + 1), this.limits.batchEventsMax);'),
  },
  {
    name: 'skip a revision when a watcher catches up from history (off by one in #catchUp)',
    chaosOnly: true,
    edits: one('src/core/kv/watch-hub.ts', 'this.#m.history.since(w.delivered + 1, this.limits.batchEventsMax);', 'this.#m.history.since(w.delivered + 2, this.limits.batchEventsMax);'),
  },
  {
    // since() alone is not enough: the hub checks the boundary itself before it asks (both the
    // refusal in add() and the snapshot case in #restored), so the mutant moves all three by one.
    name: 'accept a watch from the compaction revision itself (history boundary off by one)',
    chaosOnly: true,
    edits: [
      { file: 'src/core/kv/history.ts', from: '    if (from <= this.#compactRevision) return \'compacted\';', to: '    if (from < this.#compactRevision) return \'compacted\';' },
      { file: 'src/core/kv/watch-hub.ts', from: '      if (from <= compactRevision) {', to: '      if (from < compactRevision) {' },
      { file: 'src/core/kv/watch-hub.ts', from: '      if (w.delivered < compactRevision) {', to: '      if (w.delivered + 1 < compactRevision) {' },
    ],
  },
  {
    name: 'apply a lease expiry proposed before the latest lease epoch (a deposed leader\'s, adopted by a later Merge)',
    mode: 'parallel',
    keeperSchedule: true,
    edits: one('src/core/kv/machine.ts', 'if ((cmd.term ?? 0) < this.#leaseEpoch) return', 'if ((false as boolean) && (cmd.term ?? 0) < this.#leaseEpoch) return'),
  },
  {
    name: 'leave a transaction\'s compared keys out of its ParallelRaft conflict set',
    mode: 'parallel',
    edits: one('src/core/kv/command.ts', '      for (const c of cmd.compare) keys.add(c.key);\n', ''),
  },
  {
    name: 'rank Merge claims by entry term alone, ignoring batch heads\' windows (the ghost entry of Gu et al.)',
    mode: 'parallel',
    edits: one('src/core/parallel/merge.ts', '          if (id !== null) consider(k, { authority: h.originTerm, id });', '          void id;'),
  },
  {
    name: 'ignore what a batch\'s creator had at the other indexes of the batch in the Merge stage',
    mode: 'parallel',
    edits: one('src/core/parallel/merge.ts', 'k < head + h.batchLen && k <= end; k++) consider(k, { authority: h.originTerm, id: own });', 'k < head + h.batchLen && k <= end; k++) void own;'),
  },
  {
    name: 'acknowledge an entry past a hole without its batch\'s head (a Merge may miss the window it was applied by)',
    mode: 'parallel',
    edits: one('src/core/parallel/follower.ts', 'if (log.term(i) === r.term && headHeld(c, i)) acks.push(i);', 'if (log.term(i) === r.term) acks.push(i);'),
  },
  {
    name: 'apply an entry past a hole in its look-behind without consulting the key summary',
    mode: 'parallel',
    chaosOnly: true,
    edits: one('src/core/parallel/apply.ts', '    if (summaryMayConflict(w.summary, h.keys)) return false;\n', ''),
  },
  {
    name: 'summarize a window with an entry that writes anything as writing nothing (a non-conservative summary)',
    mode: 'parallel',
    chaosOnly: true,
    edits: one('src/core/parallel/header.ts', '    if (keys === null || !keysFit(keys)) {\n      this.#all = true;\n      return;\n    }\n    for (const k of keys) this.#keys.add(k);', '    if (keys === null || !keysFit(keys)) return;\n    for (const k of keys) this.#keys.add(k);'),
  },


  {
    // Parallel seeds 6349, 9034, 15862, 18819: a follower's read index outlived its election.
    name: 'serve a per-key read on a leader still in its Merge stage, skipping the entries it has not committed',
    mode: 'parallel',
    edits: one('src/core/parallel/apply.ts', '  if (!knowsCommits(c) && log.committed < index) return false;', "  if (c.raft.role !== 'leader' && log.committed < index) return false;"),
  },
  {
    name: 'apply committed entries out of order without checking the keys of the unapplied entries held before them',
    mode: 'parallel',
    edits: one('src/core/parallel/apply.ts', 'if (sharesPending(state.decoded(e).header.keys, pending, pendingAll) || checks++', 'if (checks++'),
  },
];

export interface MutantRunner {
  run: (seed: number) => Promise<ChaosResult>;
  ghost: (seed: number) => Promise<string | null>;
  parallelReads: (seed: number) => Promise<string | null>;
  figure8: (seed: number) => Promise<string | null>;
  reads: (seed: number) => Promise<string | null>;
  leases: (seed: number) => Promise<string | null>;
  keeper: (seed: number) => Promise<string | null>;
  script: () => Promise<string | null>;
  dispose: () => void;
}

/** Builds the mutated copy and returns runners that use it. */
export async function loadMutant(m: Mutant): Promise<MutantRunner> {
  const root = resolve('.');
  const dir = mkdtempSync(join(tmpdir(), 'edgeraft-mutant-'));
  cpSync(join(root, 'src/core'), join(dir, 'src/core'), { recursive: true });
  cpSync(join(root, 'test/sim'), join(dir, 'test/sim'), { recursive: true });
  cpSync(join(root, 'test/lincheck'), join(dir, 'test/lincheck'), { recursive: true });
  writeFileSync(join(dir, 'package.json'), '{ "type": "module" }\n');
  for (const e of m.edits) {
    const path = join(dir, e.file);
    const text = readFileSync(path, 'utf8');
    if (!text.includes(e.from)) {
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`mutant '${m.name}' no longer applies: ${e.file} does not contain ${JSON.stringify(e.from)}`);
    }
    writeFileSync(path, text.replace(e.from, e.to));
  }
  const load = async <T>(file: string): Promise<T> => (await import(pathToFileURL(join(dir, 'test/sim', file)).href)) as T;
  const chaos = await load<typeof import('./chaos.ts')>('chaos.ts');
  const f8 = await load<typeof import('./figure8.ts')>('figure8.ts');
  const kv = await load<typeof import('./kv-scenarios.ts')>('kv-scenarios.ts');
  const ghost = await load<typeof import('./ghost.ts')>('ghost.ts');
  const batch = await load<typeof import('./batch-scenarios.ts')>('batch-scenarios.ts');
  const preads = await load<typeof import('./parallel-reads.ts')>('parallel-reads.ts');
  const lease = await load<typeof import('./lease-scenarios.ts')>('lease-scenarios.ts');
  const keeper = await load<typeof import('./keeper-scenarios.ts')>('keeper-scenarios.ts');
  const describe = (err: unknown) => `${(err as Error).name}: ${(err as Error).message}`;
  return {
    run: (seed) => chaos.runChaos(seed, { mode: m.mode ?? 'raft' }),
    ghost: async (seed) => {
      const scenarios = [['ghost', ghost.ghostScenario], ['in-batch ghost', batch.batchGhostScenario], ['acknowledgement without the batch head', batch.headlessAckScenario]] as const;
      for (const [name, scenario] of scenarios) {
        try {
          const r = await scenario(seed);
          if (r === null) continue;
          if (!r.converged) return `no convergence after the ${name} scenario`;
          if (new Set(r.x).size !== 1) return `${name}: replicas disagree on x: ${r.x.join(', ')}`;
          if (r.atGhostIndex !== 'noop') return `${name}: the Merge stage put ${r.atGhostIndex} at the ghost's index`;
        } catch (err) {
          if (!(err instanceof ghost.GhostSetupError)) return `${name}: ${describe(err)}`;
        }
      }
      try {
        const r = await batch.batchOrderScenario(seed);
        if (!r.converged) return 'no convergence after the batch-order scenario';
        // k and j of one batch both wrote x; j, later in the log, must be what every replica holds.
        if (r.x.some((v) => v !== 'j')) return `batch order: x is ${r.x.join(', ')} (j, the later write, expected everywhere)`;
      } catch (err) {
        if (!(err instanceof ghost.GhostSetupError)) return `batch order: ${describe(err)}`;
      }
      return null;
    },
    parallelReads: async (seed) => {
      try {
        const r = await preads.followerReadAcrossElection(seed);
        return r.stale ? `a follower elected leader served its read at ${r.readIndex} without the write at ${r.writeIndex} (read ${JSON.stringify(r.value)})` : null;
      } catch (err) {
        if (err instanceof preads.ReadScenarioSetupError) return null;
        return describe(err);
      }
    },
    figure8: async (seed) => {
      try {
        const r = await f8.figure8(seed, 200);
        return r.converged ? null : `no convergence after ${r.crashes} leader crashes`;
      } catch (err) {
        return describe(err);
      }
    },
    reads: async (seed) => {
      for (const mode of ['readindex', 'lease'] as const) {
        const r = await kv.oldLeaderReads(seed, mode, 1);
        if (!r.ok) return `${mode} reads from a cut-off leader are not linearizable:\n${r.report.slice(0, 400)}`;
      }
      return null;
    },
    leases: async (seed) => {
      for (const [name, scenario] of Object.entries(lease.leaseScenarios)) {
        try {
          const r = await scenario(seed);
          if (r.stale.length > 0) return `${name}: the old leader answered ${JSON.stringify(r.stale[0])} after ${r.newLeader} committed ${r.writeIndex}`;
        } catch (err) {
          if (err instanceof lease.ScenarioSetupError) continue;
          return describe(err);
        }
      }
      return null;
    },
    keeper: async (seed) => {
      try {
        const r = await keeper.pausedLeaderHolders(seed);
        if (r.violation !== null) return r.violation;
        // ParallelRaft: a deposed leader's expiry adopted by a later Merge (the lease epoch's case).
        const p = await keeper.parallelStaleExpiry(seed);
        return p.violation;
      } catch (err) {
        if (err instanceof keeper.KeeperSetupError) return null;
        return describe(err);
      }
    },
    script: async () => {
      try {
        const r = await f8.figure8Script();
        return r.committed ? `the old-term entry at ${r.oldEntry.index} was committed and then overwritten` : null;
      } catch (err) {
        if (err instanceof f8.ScriptError) return null;
        return describe(err);
      }
    },
    dispose: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export interface Catch {
  readonly how: string;
  readonly seed: number;
  readonly error: string;
}

/**
 * Hunts the mutant: the scripted scenarios first (unless chaosOnly; in parallel mode the ghost
 * entry and the read across an election), then chaos seeds from 1 until
 * it is caught or `seedsMax` pass; every tenth seed also runs the randomized Figure 8 scenario.
 * Returns the first catch.
 */
export async function hunt(m: Mutant, seedsMax: number): Promise<Catch | null> {
  const r = await loadMutant(m);
  try {
    if (m.mode === 'parallel') {
      for (let seed = 1; seed <= 10; seed++) {
        const g = await r.ghost(seed);
        if (g !== null) return { how: 'scripted ghost entry', seed, error: g };
      }
      for (let seed = 1; seed <= 3; seed++) {
        const p = await r.parallelReads(seed);
        if (p !== null) return { how: 'scripted read across an election', seed, error: p };
      }
      for (let seed = 1; seed <= seedsMax; seed++) {
        const c = await r.run(seed);
        if (!c.ok) return { how: 'chaos in parallel mode', seed, error: c.error ?? '' };
      }
      return null;
    }
    if (m.chaosOnly !== true) {
      const scripted = await r.script();
      if (scripted !== null) return { how: 'scripted figure 8', seed: 8, error: scripted };
    }
    for (let seed = 1; seed <= seedsMax; seed++) {
      const c = await r.run(seed);
      if (!c.ok) return { how: 'chaos', seed, error: c.error ?? '' };
      if (m.chaosOnly === true) continue;
      if (seed % 10 === 1) {
        const f = await r.figure8(seed);
        if (f !== null) return { how: 'figure 8', seed, error: f };
      }
      if (seed <= 10) {
        const reads = await r.reads(seed);
        if (reads !== null) return { how: 'reads from a cut-off leader', seed, error: reads };
      }
    }
    return null;
  } finally {
    r.dispose();
  }
}

/** Whether the scripted stopped-leader schedule of the lease keeper catches the mutant on seeds 1..`seeds`. */
export async function huntKeeperSchedule(m: Mutant, seeds: number): Promise<Catch | null> {
  const r = await loadMutant(m);
  try {
    for (let seed = 1; seed <= seeds; seed++) {
      const found = await r.keeper(seed);
      if (found !== null) return { how: 'scripted stopped-leader lease schedule', seed, error: found };
    }
    return null;
  } finally {
    r.dispose();
  }
}

/** Whether the scripted lease schedules (A, B, stall) catch the mutant on seeds 1..`seeds`. */
export async function huntLeaseScenarios(m: Mutant, seeds: number): Promise<Catch | null> {
  const r = await loadMutant(m);
  try {
    for (let seed = 1; seed <= seeds; seed++) {
      const found = await r.leases(seed);
      if (found !== null) return { how: 'scripted lease schedule', seed, error: found };
    }
    return null;
  } finally {
    r.dispose();
  }
}
