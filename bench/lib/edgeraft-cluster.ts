// The edgeraft side of `npm run bench`: a cluster of real peers from the built CLI (fsync on) on
// loopback with their own temp data dirs and free ports, its leader, the keys every load uses,
// and what bench/lib/measure.ts needs to drive it (client lists, fsync counters from /metrics).

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from '../../src/client/node.ts';
import type { Point } from './compare.ts';
import type { BenchCluster, SyncSample } from './measure.ts';
import { freePorts, scrape, settleDisk, sleep, type ProcessGroup } from './procs.ts';

export interface EdgeraftOptions {
  readonly members: number;
  readonly cliPath: string;
  /** Parent of this cluster's data dirs and logs. */
  readonly dir: string;
  readonly secretFile: string;
  readonly token: string;
  readonly sync: string;
  readonly profileDir: string | null;
  readonly extraNodeArgs: readonly string[];
}

interface Peer {
  readonly id: string;
  readonly url: string;
  readonly httpBase: string;
  readonly child: ChildProcess;
  readonly logPath: string;
}

export function logTail(path: string): string {
  try {
    const lines = readFileSync(path, 'utf8').trimEnd().split('\n');
    // This benchmark signals its peers only while shutting down; a signal before that came from elsewhere.
    const signalled = lines.some((l) => /"msg":"SIG(TERM|INT): shutting down"/.test(l));
    return `${signalled ? ' after a signal from outside this benchmark' : ''}\n--- last lines of ${path}:\n${lines.slice(-8).join('\n')}`;
  } catch {
    return '';
  }
}

export class EdgeraftCluster implements BenchCluster {
  readonly system = 'edgeraft' as const;
  readonly loadScript: string;
  readonly #o: EdgeraftOptions;
  readonly #group: ProcessGroup;
  #peers: Peer[] = [];
  #leader: Peer | null = null;

  constructor(o: EdgeraftOptions, group: ProcessGroup, loadScript: string) {
    this.#o = o;
    this.#group = group;
    this.loadScript = loadScript;
  }

  get members(): number {
    return this.#o.members;
  }

  get token(): string {
    return this.#o.token;
  }

  get leaderId(): string {
    return this.#leader?.id ?? '?';
  }

  /** Profile-directory names of this cluster's peers (see --profile). */
  profileName(id: string): string {
    return `c${this.#o.members}-${id}`;
  }

  get leaderProfileName(): string {
    return this.profileName(this.leaderId);
  }

  async start(): Promise<void> {
    const { members, dir, cliPath, secretFile, sync, profileDir, extraNodeArgs } = this.#o;
    mkdirSync(dir, { recursive: true });
    const ports = await freePorts(members);
    const ids = Array.from({ length: members }, (_, i) => `p${i + 1}`);
    const peerList = ids.map((id, i) => `${id}=127.0.0.1:${ports[i]}`).join(',');
    this.#peers = ids.map((id, i) => {
      const logPath = join(dir, `${id}.log`);
      const prof = profileDir !== null ? ['--cpu-prof', '--cpu-prof-dir', join(profileDir, this.profileName(id))] : [];
      const child = spawn(process.execPath, [
        ...prof, ...extraNodeArgs, cliPath, 'peer', '--id', id, '--listen', `127.0.0.1:${ports[i]}`, '--peers', peerList,
        '--data', join(dir, id), '--secret-file', secretFile, '--sync', sync, '--log-level', 'info',
      ], { stdio: ['ignore', 'ignore', openSync(logPath, 'a')], detached: true });
      this.#group.add(`edgeraft peer ${id} (${members} peers)`, child, () => logTail(logPath));
      return { id, url: `ws://127.0.0.1:${ports[i]}`, httpBase: `http://127.0.0.1:${ports[i]}`, child, logPath };
    });
    this.#leader = await this.#waitLeader(30_000);
    // Each peer preallocates a 64 MiB zero-filled WAL segment when it starts: not to be timed.
    await settleDisk(this.#peers.map((p) => p.child), this.#group.crashed);
  }

  /** The leader every peer agrees on, once there is one. */
  async #waitLeader(timeoutMs: number): Promise<Peer> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const views = await Promise.all(this.#peers.map(async (p) => {
        try {
          const res = await fetch(`${p.httpBase}/healthz`, { signal: AbortSignal.timeout(1000) });
          return (await res.json()) as { role: string; leader: string | null };
        } catch {
          return null;
        }
      }));
      const leader = this.#peers.find((_, i) => views[i]?.role === 'leader');
      if (leader !== undefined && views.every((v) => v?.leader === leader.id)) return leader;
      await Promise.race([sleep(100), this.#group.crashed]);
    }
    throw new Error(`no edgeraft leader agreed on within ${timeoutMs} ms${logTail(this.#peers[0]!.logPath)}`);
  }

  async recheckLeader(): Promise<boolean> {
    const before = this.#leader;
    this.#leader = await this.#waitLeader(15_000);
    return this.#leader !== before;
  }

  /** The leader's process first. */
  processes(): ChildProcess[] {
    const lead = this.#leader!;
    return [lead.child, ...this.#peers.filter((p) => p !== lead).map((p) => p.child)];
  }

  /** Leader-path loads list every member (leader first); follower and stale reads go to one follower each, spread evenly. */
  clientPeers(point: Point, gi: number, k: number): string[][] {
    const lead = this.#leader!;
    const followers = this.#peers.filter((p) => p !== lead);
    const all = [lead.url, ...followers.map((f) => f.url)];
    const toFollowers = point.op === 'read' && (point.consistency === 'follower' || point.consistency === 'stale');
    return Array.from({ length: k }, (_, ci) => (toFollowers ? [followers[(gi * k + ci) % followers.length]!.url] : all));
  }

  async syncSample(): Promise<SyncSample> {
    const m = await scrape(this.#leader!.httpBase);
    return {
      syncs: m.get('edgeraft_persist_batch_entries_count') ?? 0,
      entries: m.get('edgeraft_persist_batch_entries_sum') ?? 0,
      syncMs: m.get('edgeraft_persist_duration_ms_sum') ?? 0,
    };
  }

  /** The keys of every load: written once, through the SDK, before any measurement. */
  async prefill(keyCount: number, valueBytes: number): Promise<void> {
    const kv = await connect({ peers: this.#peers.map((p) => p.url), token: this.#o.token, timeoutMs: 30_000 });
    try {
      const value = new Uint8Array(valueBytes).fill(0x5a);
      for (let i = 0; i < keyCount; i += 100) {
        await Promise.all(Array.from({ length: Math.min(100, keyCount - i) }, (_, j) => kv.put(`k/${i + j}`, value)));
      }
    } finally {
      await kv.close();
    }
  }

  async stop(): Promise<void> {
    await this.#group.stop(this.#peers.map((p) => p.child), 10_000);
    this.#peers = [];
  }
}
