// The machine and versions a benchmark ran on, for docs/benchmarks.md: CPU model (from
// /proc/cpuinfo when os.cpus() is vague), cores, RAM, kernel, Node, and the edgeraft commit
// (read with `git rev-parse`, which changes nothing).

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, release, totalmem } from 'node:os';

export interface MachineInfo {
  readonly cpuModel: string;
  readonly cores: number;
  readonly memGiB: number;
  readonly kernel: string;
  readonly node: string;
  /** Short commit, with "+ uncommitted changes" when the tree differs from it. */
  readonly commit: string;
  readonly date: string;
}

function cpuModel(): string {
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m !== null) return m[1]!.trim();
  } catch {
    // Not Linux: os.cpus() below.
  }
  return cpus()[0]?.model ?? 'unknown CPU';
}

function gitCommit(repo: string): string {
  try {
    const head = execFileSync('git', ['-C', repo, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = execFileSync('git', ['-C', repo, 'status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() !== '';
    return dirty ? `${head} + uncommitted changes` : head;
  } catch {
    return 'unknown (not a git checkout)';
  }
}

export function machineInfo(repo: string): MachineInfo {
  return {
    cpuModel: cpuModel(), cores: cpus().length, memGiB: Math.round(totalmem() / 2 ** 30), kernel: release(),
    node: process.version, commit: gitCommit(repo), date: new Date().toISOString(),
  };
}

/** The "## Machine" section of a generated benchmark doc; `versions` follows the edgeraft commit (say, etcd's version). */
export function machineSection(mc: MachineInfo, versions = ''): string[] {
  return ['## Machine', '', `- CPU: ${mc.cpuModel}, ${mc.cores} cores; RAM ${mc.memGiB} GiB; Linux ${mc.kernel}`, `- Node ${mc.node}; edgeraft ${mc.commit}${versions}`];
}
