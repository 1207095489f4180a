// The etcd side of `npm run bench`: finds (or, as root, installs) Debian's etcd, starts a cluster
// of members on 127.0.0.1 with their own temp data dirs and free ports, finds its leader, writes the
// keys every load uses through the JSON gateway, runs `etcdctl check perf`, and stops it by PID.

import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants, mkdirSync, openSync, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { Point } from './compare.ts';
import { checkPerfSeconds, parseCheckPerf, type CheckPerfLoad, type CheckPerfSummary } from './etcd-check-perf.ts';
import { checkStatus, gatewayPaths, parseStatus, putBody } from './etcd-gateway.ts';
import { histogramBuckets, type BenchCluster, type SyncSample } from './measure.ts';
import { freePorts, scrape, settleDisk, sleep, type ProcessGroup } from './procs.ts';

export interface EtcdInstall {
  readonly etcd: string;
  readonly etcdctl: string | null;
  readonly version: string;
}

export type EtcdAvailability = { readonly ok: true; readonly install: EtcdInstall } | { readonly ok: false; readonly reason: string };

const packages = ['etcd-server', 'etcd-client'];

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function findIn(dirs: readonly string[], name: string): string | null {
  for (const d of dirs) if (d !== '' && executable(join(d, name))) return join(d, name);
  return null;
}

function apt(args: readonly string[], progress: (text: string) => void): boolean {
  progress(`  $ apt-get ${args.join(' ')}`);
  // apt's output goes to stderr: stdout belongs to the report (and --json's last line).
  const r = spawnSync('apt-get', args, { stdio: ['ignore', 2, 2], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  return r.status === 0;
}

/**
 * etcd and etcdctl from PATH (or from EDGERAFT_BENCH_ETCD_DIR alone when set). When they are
 * missing and this runs as root, installs Debian's packages and says so on stderr; otherwise
 * answers why etcd cannot be measured, and the benchmark goes on without it.
 */
export function findEtcd(progress: (text: string) => void): EtcdAvailability {
  const only = process.env.EDGERAFT_BENCH_ETCD_DIR;
  const dirs = only !== undefined ? [only] : [...(process.env.PATH ?? '').split(delimiter), '/usr/bin', '/usr/local/bin'];
  let etcd = findIn(dirs, 'etcd');
  if (etcd === null) {
    if (only !== undefined) return { ok: false, reason: `there is no etcd in EDGERAFT_BENCH_ETCD_DIR=${only} (not installing: that directory was chosen explicitly)` };
    const uid = process.getuid?.() ?? -1;
    if (uid !== 0) return { ok: false, reason: `etcd is not installed and this benchmark runs as uid ${uid}, not root, so it cannot install it: run \`sudo apt-get install -y ${packages.join(' ')}\`, or pass --no-etcd` };
    if (findIn(dirs, 'apt-get') === null) return { ok: false, reason: 'etcd is not installed and there is no apt-get here to install Debian\'s etcd-server with' };
    progress(`etcd is not installed: installing Debian's ${packages.join(' and ')} with apt-get (running as root)...`);
    const ok = apt(['install', '-y', ...packages], progress) || (apt(['update'], progress) && apt(['install', '-y', ...packages], progress));
    etcd = findIn(dirs, 'etcd');
    if (!ok || etcd === null) return { ok: false, reason: `\`apt-get install -y ${packages.join(' ')}\` failed${ok ? ' to provide an etcd binary' : ''} (output above)` };
    progress(`installed etcd at ${etcd}`);
  }
  let version = 'unknown';
  try {
    version = /etcd Version:\s*(\S+)/.exec(execFileSync(etcd, ['--version'], { encoding: 'utf8' }))?.[1] ?? 'unknown';
  } catch (err) {
    return { ok: false, reason: `${etcd} --version failed: ${(err as Error).message.split('\n')[0]}` };
  }
  return { ok: true, install: { etcd, etcdctl: findIn(dirs, 'etcdctl'), version } };
}

interface Member {
  readonly name: string;
  readonly clientUrl: string;
  readonly peerUrl: string;
  readonly child: ChildProcess;
  readonly logPath: string;
  id: string;
}

function tail(path: string): string {
  try {
    return `\n--- last lines of ${path}:\n${readFileSync(path, 'utf8').trimEnd().split('\n').slice(-8).join('\n')}`;
  } catch {
    return '';
  }
}

async function postJson(url: string, body: string): Promise<string> {
  const res = await fetch(url, { method: 'POST', body, headers: { 'content-type': 'application/json' }, signal: AbortSignal.timeout(5000) });
  const text = await res.text();
  checkStatus(res.status, text, url);
  return text;
}

export class EtcdCluster implements BenchCluster {
  readonly system = 'etcd' as const;
  readonly token = '';
  readonly #install: EtcdInstall;
  readonly #dir: string;
  readonly #group: ProcessGroup;
  readonly loadScript: string;
  readonly members: number;
  #members: Member[] = [];
  #leader: Member | null = null;

  constructor(install: EtcdInstall, members: number, dir: string, group: ProcessGroup, loadScript: string) {
    this.#install = install;
    this.members = members;
    this.#dir = dir;
    this.#group = group;
    this.loadScript = loadScript;
  }

  get leaderName(): string {
    return this.#leader?.name ?? '?';
  }

  async start(): Promise<void> {
    mkdirSync(this.#dir, { recursive: true });
    const ports = await freePorts(2 * this.members);
    const names = Array.from({ length: this.members }, (_, i) => `m${i + 1}`);
    const peerUrl = (i: number) => `http://127.0.0.1:${ports[2 * i + 1]}`;
    const initialCluster = names.map((n, i) => `${n}=${peerUrl(i)}`).join(',');
    const clusterToken = `edgeraft-bench-${randomBytes(6).toString('hex')}`;
    this.#members = names.map((name, i) => {
      const clientUrl = `http://127.0.0.1:${ports[2 * i]}`;
      const logPath = join(this.#dir, `${name}.log`);
      const child = spawn(this.#install.etcd, [
        '--name', name, '--data-dir', join(this.#dir, name),
        '--listen-client-urls', clientUrl, '--advertise-client-urls', clientUrl,
        '--listen-peer-urls', peerUrl(i), '--initial-advertise-peer-urls', peerUrl(i),
        '--initial-cluster', initialCluster, '--initial-cluster-token', clusterToken, '--initial-cluster-state', 'new',
        '--logger', 'zap', '--log-level', 'warn', '--log-outputs', 'stderr',
      ], { stdio: ['ignore', openSync(logPath, 'a'), openSync(logPath, 'a')], detached: true });
      this.#group.add(`etcd member ${name} (${this.members} members)`, child, () => tail(logPath));
      return { name, clientUrl, peerUrl: peerUrl(i), child, logPath, id: '' };
    });
    this.#leader = await this.#waitLeader(30_000);
    await settleDisk(this.#members.map((m) => m.child), this.#group.crashed);
  }

  /** The leader every member agrees on, once there is one. */
  async #waitLeader(timeoutMs: number): Promise<Member> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const views = await Promise.all(this.#members.map(async (m) => {
        try {
          return parseStatus(await postJson(`${m.clientUrl}${gatewayPaths.status}`, '{}'));
        } catch {
          return null;
        }
      }));
      views.forEach((v, i) => {
        if (v !== null) this.#members[i]!.id = v.memberId;
      });
      const leaderId = views[0]?.leaderId;
      const leader = this.#members.find((m) => m.id !== '' && m.id === leaderId);
      if (leader !== undefined && views.every((v) => v !== null && v.leaderId === leaderId)) return leader;
      await Promise.race([sleep(100), this.#group.crashed]);
    }
    throw new Error(`no etcd leader agreed on within ${timeoutMs} ms${tail(this.#members[0]!.logPath)}`);
  }

  async recheckLeader(): Promise<boolean> {
    const before = this.#leader;
    this.#leader = await this.#waitLeader(15_000);
    return this.#leader !== before;
  }

  /** Every member's name and client URL, the leader's first (where the watch phase spreads its watchers). */
  membersLeaderFirst(): Array<{ readonly name: string; readonly url: string }> {
    const lead = this.#leader!;
    return [lead, ...this.#members.filter((m) => m !== lead)].map((m) => ({ name: m.name, url: m.clientUrl }));
  }

  processes(): ChildProcess[] {
    const lead = this.#leader!;
    return [lead.child, ...this.#members.filter((m) => m !== lead).map((m) => m.child)];
  }

  /**
   * Writes, linearizable reads and mixed loads go to the leader (as etcd's benchmark tool does with
   * --target-leader, and as edgeraft's SDK does); serializable reads go to the followers, spread
   * evenly, as edgeraft's stale reads do.
   */
  clientPeers(point: Point, gi: number, k: number): string[][] {
    const lead = this.#leader!;
    const followers = this.#members.filter((m) => m !== lead);
    const toFollowers = point.op === 'read' && point.consistency === 'serializable';
    return Array.from({ length: k }, (_, ci) => [toFollowers ? followers[(gi * k + ci) % followers.length]!.clientUrl : lead.clientUrl]);
  }

  /** Entries are the leader's committed proposals; a sync is one WAL fsync. */
  async syncSample(): Promise<SyncSample> {
    const m = await scrape(this.#leader!.clientUrl);
    return {
      syncs: m.get('etcd_disk_wal_fsync_duration_seconds_count') ?? 0,
      entries: m.get('etcd_server_proposals_committed_total') ?? 0,
      syncMs: (m.get('etcd_disk_wal_fsync_duration_seconds_sum') ?? 0) * 1000,
      bytes: Number.NaN,
      buckets: histogramBuckets(m, 'etcd_disk_wal_fsync_duration_seconds', 1000),
    };
  }

  /** The same keys and value size as edgeraft's, written through the gateway. */
  async prefill(keyCount: number, valueBytes: number): Promise<void> {
    const value = new Uint8Array(valueBytes).fill(0x5a);
    const url = `${this.#leader!.clientUrl}${gatewayPaths.put}`;
    for (let i = 0; i < keyCount; i += 100) {
      await Promise.all(Array.from({ length: Math.min(100, keyCount - i) }, (_, j) => postJson(url, putBody(`k/${i + j}`, value))));
    }
  }

  /** `etcdctl check perf --load L` against every member: etcd's own gRPC client, 60 s. */
  async checkPerf(load: CheckPerfLoad): Promise<CheckPerfSummary> {
    const etcdctl = this.#install.etcdctl;
    if (etcdctl === null) throw new Error('etcdctl is not installed (Debian package etcd-client)');
    const endpoints = this.#members.map((m) => m.clientUrl).join(',');
    const child = spawn(etcdctl, ['--endpoints', endpoints, 'check', 'perf', '--load', load], {
      stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ETCDCTL_API: '3' }, detached: true,
    });
    this.#group.add('etcdctl check perf', child, () => '', false);
    let output = '';
    child.stdout.on('data', (c: Buffer) => { output += c.toString('utf8'); });
    child.stderr.on('data', (c: Buffer) => { output += c.toString('utf8'); });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    // It exits 1 when the check fails, which is an answer, not a crash.
    const timeout = sleep((checkPerfSeconds + 60) * 1000).then(() => 'timeout' as const);
    const how = await Promise.race([exited.then(() => 'exited' as const), timeout, this.#group.crashed]);
    await this.#group.stop([child], 2000);
    if (how === 'timeout') throw new Error(`etcdctl check perf did not finish within ${checkPerfSeconds + 60} s: ${output.slice(-300)}`);
    return parseCheckPerf(output);
  }

  async stop(): Promise<void> {
    await this.#group.stop(this.#members.map((m) => m.child), 10_000);
    this.#members = [];
  }
}
