// Mutation checks for the simulator itself: copy the core and the simulator to a temporary
// directory, break one safety rule in the copy, and run chaos seeds against it until the
// checker reports a violation. Production code carries no fault flags; the breakage lives here.

import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ChaosResult } from './chaos.ts';

export interface Mutant {
  readonly name: string;
  readonly file: string;
  readonly from: string;
  readonly to: string;
  /** Which mode's protocol the mutant breaks (default raft). */
  readonly mode?: 'raft' | 'parallel';
}

export const mutants: readonly Mutant[] = [
  {
    name: 'commit an older term\'s entry by counting replicas (Figure 8)',
    file: 'src/core/replication.ts',
    from: '  if (r.log.term(idx) !== r.term) return false;\n',
    to: '',
  },
  {
    name: 'grant two votes in one term',
    file: 'src/core/raft.ts',
    from: 'const canVote = this.vote === m.from ||',
    to: 'const canVote = true ||',
  },
  {
    name: 'grant votes to candidates with stale logs',
    file: 'src/core/raft.ts',
    from: 'if (canVote && this.log.isUpToDate(m.lastIndex, m.lastTerm) && mergeData !== null) {',
    to: 'if (canVote && mergeData !== null) {',
  },
  {
    name: 'acknowledge appends before they are durable',
    file: 'src/core/node.ts',
    from: 'else if (isResponse(m) || termVoteDirty) after.push(m);',
    to: 'else if (termVoteDirty && !isResponse(m)) after.push(m);',
  },
  {
    name: 'accept an append without checking the previous entry (no Log Matching check)',
    file: 'src/core/replication.ts',
    from: '  if (log.matchTerm(prevIndex, prevTerm)) {\n    const lastNew',
    to: '  if (prevIndex <= log.lastIndex()) {\n    const lastNew',
  },
  {
    name: 'answer ReadIndex reads without confirming leadership with a quorum',
    file: 'src/core/reads.ts',
    from: '  r.readOnly.enqueue({ context, from });',
    to: "  answer(r, context, from, r.log.committed, 'readIndex');",
  },
  {
    name: 'ignore the clock-drift margin and the tick of uncertainty in the lease',
    file: 'src/core/reads.ts',
    from: '  return Math.min(withMargin, r.cfg.electionTicks - 1) - 1;',
    to: '  return r.cfg.electionTicks * 3;',
  },
  {
    name: 'rank Merge claims by entry term alone, ignoring look-behinds (the ghost entry of Gu et al.)',
    mode: 'parallel',
    file: 'src/core/parallel/merge.ts',
    from: '      if (b !== undefined && b.originTerm > 0) consider({ authority: h.originTerm, id: entryId(b.kind, b.originTerm) });',
    to: '      void b;',
  },
  {
    name: 'merge only its own log, not what the voters sent with their votes',
    mode: 'parallel',
    file: 'src/core/parallel/merge.ts',
    from: '  for (const reply of r.par.mergeReplies.values()) sources.push(sourceOf(reply));',
    to: '',
  },
  {
    name: 'apply committed entries out of order without checking the look-behind for conflicts',
    mode: 'parallel',
    file: 'src/core/parallel/apply.ts',
    from: '        if (!done(k) && keysConflict(mine, keysBehind(r, e, k))) {',
    to: '        if (false as boolean) {',
  },
];

/** Builds the mutated copy and returns a chaos runner that uses it. */
export async function loadMutant(m: Mutant): Promise<{
  run: (seed: number) => ChaosResult;
  ghost: (seed: number) => string | null;
  figure8: (seed: number) => string | null;
  reads: (seed: number) => string | null;
  script: () => string | null;
  dispose: () => void;
}> {
  const root = resolve('.');
  const dir = mkdtempSync(join(tmpdir(), 'edgeraft-mutant-'));
  cpSync(join(root, 'src/core'), join(dir, 'src/core'), { recursive: true });
  cpSync(join(root, 'test/sim'), join(dir, 'test/sim'), { recursive: true });
  cpSync(join(root, 'test/lincheck'), join(dir, 'test/lincheck'), { recursive: true });
  writeFileSync(join(dir, 'package.json'), '{ "type": "module" }\n');
  const path = join(dir, m.file);
  const text = readFileSync(path, 'utf8');
  if (!text.includes(m.from)) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`mutant '${m.name}' no longer applies: ${m.file} does not contain ${JSON.stringify(m.from)}`);
  }
  writeFileSync(path, text.replace(m.from, m.to));
  const chaos = (await import(pathToFileURL(join(dir, 'test/sim/chaos.ts')).href)) as typeof import('./chaos.ts');
  const f8 = (await import(pathToFileURL(join(dir, 'test/sim/figure8.ts')).href)) as typeof import('./figure8.ts');
  const kv = (await import(pathToFileURL(join(dir, 'test/sim/kv-scenarios.ts')).href)) as typeof import('./kv-scenarios.ts');
  const ghost = (await import(pathToFileURL(join(dir, 'test/sim/ghost.ts')).href)) as typeof import('./ghost.ts');
  return {
    run: (seed) => chaos.runChaos(seed, { mode: m.mode ?? 'raft' }),
    ghost: (seed) => {
      try {
        const r = ghost.ghostScenario(seed);
        if (!r.converged) return 'no convergence after the ghost scenario';
        if (new Set(r.x).size !== 1) return `replicas disagree on x: ${r.x.join(', ')}`;
        return r.atGhostIndex === 'noop' ? null : `the Merge stage put ${r.atGhostIndex} at the ghost's index`;
      } catch (err) {
        if (err instanceof ghost.GhostSetupError) return null;
        return `${(err as Error).name}: ${(err as Error).message}`;
      }
    },
    figure8: (seed) => {
      try {
        const r = f8.figure8(seed, 200);
        return r.converged ? null : `no convergence after ${r.crashes} leader crashes`;
      } catch (err) {
        return `${(err as Error).name}: ${(err as Error).message}`;
      }
    },
    reads: (seed) => {
      for (const mode of ['readindex', 'lease'] as const) {
        const r = kv.oldLeaderReads(seed, mode, 1);
        if (!r.ok) return `${mode} reads from a cut-off leader are not linearizable:\n${r.report.slice(0, 400)}`;
      }
      return null;
    },
    script: () => {
      try {
        const r = f8.figure8Script();
        return r.committed ? `the old-term entry at ${r.oldEntry.index} was committed and then overwritten` : null;
      } catch (err) {
        if (err instanceof f8.ScriptError) return null;
        return `${(err as Error).name}: ${(err as Error).message}`;
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
 * Runs the scripted Figure 8, then chaos seeds from 1 until the mutant is caught or `seedsMax`
 * pass; every tenth seed also runs the randomized Figure 8 scenario. Returns the first catch.
 */
export async function hunt(m: Mutant, seedsMax: number): Promise<Catch | null> {
  const { run, ghost, figure8, reads, script, dispose } = await loadMutant(m);
  try {
    if (m.mode === 'parallel') {
      for (let seed = 1; seed <= 10; seed++) {
        const g = ghost(seed);
        if (g !== null) return { how: 'scripted ghost entry', seed, error: g };
      }
      for (let seed = 1; seed <= seedsMax; seed++) {
        const r = run(seed);
        if (!r.ok) return { how: 'chaos in parallel mode', seed, error: r.error ?? '' };
      }
      return null;
    }
    const scripted = script();
    if (scripted !== null) return { how: 'scripted figure 8', seed: 8, error: scripted };
    for (let seed = 1; seed <= seedsMax; seed++) {
      const r = run(seed);
      if (!r.ok) return { how: 'chaos', seed, error: r.error ?? '' };
      if (seed % 10 === 1) {
        const f = figure8(seed);
        if (f !== null) return { how: 'figure 8', seed, error: f };
      }
      if (seed <= 10) {
        const r = reads(seed);
        if (r !== null) return { how: 'reads from a cut-off leader', seed, error: r };
      }
    }
    return null;
  } finally {
    dispose();
  }
}
