// Summarizes a V8 .cpuprofile (from `node --cpu-prof`) as text: where the samples landed by
// function (self and inclusive time) and by package, so a benchmark can say where a process
// spends its time without opening DevTools.

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly children?: readonly number[];
}

interface Profile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  /** Microseconds between consecutive samples (the first from startTime). */
  readonly timeDeltas: readonly number[];
  /** Microseconds on the monotonic clock (process.hrtime's). */
  readonly startTime: number;
  readonly endTime: number;
}

/** [start, end) in microseconds on the monotonic clock: process.hrtime.bigint() / 1000n. */
export type WindowUs = readonly [number, number];

export interface ProfileSummary {
  /** Wall time the counted samples cover. */
  readonly wallMs: number;
  /** Fraction of samples that were not idle. */
  readonly busy: number;
  readonly self: ReadonlyArray<{ readonly name: string; readonly share: number }>;
  readonly inclusive: ReadonlyArray<{ readonly name: string; readonly share: number }>;
  readonly packages: ReadonlyArray<{ readonly name: string; readonly share: number }>;
}

const idle = new Set(['(idle)', '(root)']);

function label(n: ProfileNode): string {
  const f = n.callFrame;
  const where = f.url === '' ? '' : ` ${f.url.replace(/^.*\/(node_modules\/)/, '$1').replace(/^.*\//, '')}:${f.lineNumber + 1}`;
  return `${f.functionName === '' ? '(anonymous)' : f.functionName}${where}`;
}

function packageOf(n: ProfileNode): string {
  const { url, functionName } = n.callFrame;
  if (url === '') return functionName.startsWith('(') ? functionName : '(native)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg !== null) return pkg[1]!;
  if (url.startsWith('node:')) return 'node internals';
  if (url.includes('/dist/')) return `edgeraft ${url.slice(url.lastIndexOf('/dist/') + 1)}`;
  if (url.includes('/src/')) return 'edgeraft src';
  if (url.includes('/bench/')) return 'bench';
  return url.replace(/^.*\//, '');
}

/**
 * Counts the samples taken inside `windows` (all of them when none are given), so a profile of a
 * whole process lifetime can be read for the measured windows only.
 */
export function summarizeProfile(path: string, top = 15, windows: readonly WindowUs[] = []): ProfileSummary {
  const p = JSON.parse(readFileSync(path, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const hits = new Map<number, number>();
  let at = p.startTime;
  let counted = 0;
  for (let i = 0; i < p.samples.length; i++) {
    at += p.timeDeltas[i] ?? 0;
    if (windows.length > 0 && !windows.some(([a, b]) => at >= a && at < b)) continue;
    hits.set(p.samples[i]!, (hits.get(p.samples[i]!) ?? 0) + 1);
    counted++;
  }
  const total = counted || 1;
  const wallUs = windows.length > 0 ? windows.reduce((s, [a, b]) => s + Math.max(0, Math.min(b, p.endTime) - Math.max(a, p.startTime)), 0) : p.endTime - p.startTime;
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  const packages = new Map<string, number>();
  let idleHits = 0;
  const add = (m: Map<string, number>, k: string, v: number) => m.set(k, (m.get(k) ?? 0) + v);
  // Iterative walk (profiles can be deep); each node carries the distinct labels above it.
  const root = p.nodes[0];
  const stack: Array<{ id: number; above: ReadonlySet<string> }> = root === undefined ? [] : [{ id: root.id, above: new Set() }];
  while (stack.length > 0) {
    const { id, above } = stack.pop()!;
    const n = byId.get(id)!;
    const name = label(n);
    const mine = above.has(name) || idle.has(n.callFrame.functionName) ? above : new Set([...above, name]);
    const h = hits.get(id) ?? 0;
    if (h > 0) {
      if (idle.has(n.callFrame.functionName)) {
        idleHits += h;
      } else {
        add(self, name, h);
        add(packages, packageOf(n), h);
        for (const a of mine) add(inclusive, a, h);
      }
    }
    for (const c of n.children ?? []) stack.push({ id: c, above: mine });
  }
  const rank = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]).slice(0, top).map(([name, v]) => ({ name, share: v / total }));
  return {
    wallMs: wallUs / 1000, busy: 1 - idleHits / total,
    self: rank(self), inclusive: rank(inclusive), packages: rank(packages),
  };
}

export function formatSummary(title: string, s: ProfileSummary): string {
  const pct = (x: number) => `${(x * 100).toFixed(1).padStart(5)}%`;
  const lines = [`${title}: ${(s.wallMs / 1000).toFixed(1)} s of samples, busy in ${pct(s.busy).trim()} of them (shares below are of all samples: % of one core)`];
  lines.push('  by package:  ' + s.packages.slice(0, 8).map((p) => `${p.name} ${pct(p.share).trim()}`).join(', '));
  lines.push('  self time:');
  for (const f of s.self) lines.push(`    ${pct(f.share)}  ${f.name}`);
  lines.push('  inclusive time:');
  for (const f of s.inclusive) lines.push(`    ${pct(f.share)}  ${f.name}`);
  return lines.join('\n');
}

/**
 * Every profile under `dir/<process name>/`, summarized for the measured windows. `roleOf` names
 * what each process was (leader, follower, load generator).
 */
export function profileReport(dir: string, windows: readonly WindowUs[], roleOf: (name: string) => string): string {
  if (!existsSync(dir)) return '';
  let out = `\nCPU profiles (${dir}), samples inside the ${windows.length} measured windows only. A thread that waits for`;
  out += '\na core inside a syscall (writev, write) is sampled there too: on a busy machine those shares include waiting.\n';
  for (const name of readdirSync(dir).sort()) {
    const sub = join(dir, name);
    for (const f of readdirSync(sub).filter((x) => x.endsWith('.cpuprofile'))) {
      const s = summarizeProfile(join(sub, f), 15, windows);
      // tsx's module loader runs on a worker thread with its own (idle) profile: skip such.
      if (s.busy >= 0.01) out += `\n${formatSummary(`${name} (${roleOf(name)})`, s)}\n`;
    }
  }
  return out;
}
