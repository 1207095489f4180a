// One cluster of `npm run bench:parallel`: real peers from the built CLI (fsync on) on 127.0.0.1
// in a given consensus mode (--mode raft|parallel) with several connections per peer pair; every
// connection of one follower runs through the jitter proxy, and leadership is kept off it.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from '../../src/client/node.ts';
import { logTail } from './edgeraft-cluster.ts';
import type { JitterProxy } from './parallel-jitter.ts';
import { freePorts, scrape, settleDisk, sleep, type ProcessGroup } from './procs.ts';

export type ConsensusMode = 'raft' | 'parallel';

export interface ModeClusterOptions {
  readonly mode: ConsensusMode;
  readonly members: number;
  readonly cliPath: string;
  /** Parent of this cluster's data dirs and logs. */
  readonly dir: string;
  readonly secretFile: string;
  readonly token: string;
  /** Moves leadership off the jittered member. */
  readonly adminToken: string;
  readonly connections: number;
  readonly sync: string;
  /** The member (0-based) whose every peer connection runs through the proxy. */
  readonly jittered: number;
  readonly proxy: JitterProxy;
  /** When set, each peer writes a V8 CPU profile to `<profileDir>/<id>/` as it exits. */
  readonly profileDir: string | null;
}

interface Peer {
  readonly id: string;
  readonly index: number;
  readonly url: string;
  readonly httpBase: string;
  readonly child: ChildProcess;
  readonly logPath: string;
}

/**
 * Null when a lone peer of `mode` starts (logs 'started') within `timeoutMs`, else what it said
 * when it exited: peers refused --mode parallel until they supported it, and a benchmark that
 * measures both modes should say so and go on with raft rather than count it as a crash.
 */
export async function modeRefusal(cliPath: string, mode: ConsensusMode, dir: string, secretFile: string, timeoutMs = 10_000): Promise<string | null> {
  mkdirSync(dir, { recursive: true });
  const [port] = await freePorts(1);
  const child = spawn(process.execPath, [
    cliPath, 'peer', '--id', 'probe', '--listen', `127.0.0.1:${port}`, '--peers', `probe=127.0.0.1:${port}`,
    '--data', join(dir, 'data'), '--secret-file', secretFile, '--mode', mode, '--log-level', 'info',
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  let text = '';
  child.stderr!.setEncoding('utf8');
  const started = new Promise<null>((resolve) => {
    child.stderr!.on('data', (chunk: string) => {
      text += chunk;
      if (text.includes('"msg":"started"')) resolve(null);
    });
  });
  const exited = new Promise<string>((resolve) => {
    child.once('exit', (code, sig) => resolve(text.trim().split('\n').slice(-3).join(' ') || `exited with code ${code} signal ${sig}`));
  });
  const timer = sleep(timeoutMs).then(() => `no 'started' from a lone ${mode} peer within ${timeoutMs} ms`);
  const answer = await Promise.race([started, exited, timer]);
  if (child.exitCode === null && child.signalCode === null) {
    child.kill('SIGKILL');
    await exited;
  }
  return answer;
}

export class ModeCluster {
  readonly #o: ModeClusterOptions;
  readonly #group: ProcessGroup;
  #peers: Peer[] = [];
  #leader: Peer | null = null;

  constructor(o: ModeClusterOptions, group: ProcessGroup) {
    this.#o = o;
    this.#group = group;
  }

  get mode(): ConsensusMode {
    return this.#o.mode;
  }

  get token(): string {
    return this.#o.token;
  }

  get leaderId(): string {
    return this.#leader?.id ?? '?';
  }


  get peerIds(): string[] {
    return this.#peers.map((p) => p.id);
  }

  get jitteredId(): string {
    return this.#peers[this.#o.jittered]?.id ?? '?';
  }

  /**
   * Starts the members with per-member --peers lists: the jittered member reaches the others,
   * and they reach it, through proxy ports; every other pair talks directly. Addresses given at
   * bootstrap stay in each member's own data dir, so the lists may differ.
   */
  async start(): Promise<void> {
    const { mode, members, dir, cliPath, secretFile, sync, connections, jittered, proxy } = this.#o;
    mkdirSync(dir, { recursive: true });
    const ports = await freePorts(members);
    const ids = Array.from({ length: members }, (_, i) => `${mode === 'raft' ? 'r' : 'q'}${i + 1}`);
    const via = new Map<string, number>();
    for (let i = 0; i < members; i++) {
      if (i === jittered) continue;
      via.set(`${i}>${jittered}`, await proxy.link(`${mode} ${ids[i]}->${ids[jittered]}`, ports[jittered]!));
      via.set(`${jittered}>${i}`, await proxy.link(`${mode} ${ids[jittered]}->${ids[i]}`, ports[i]!));
    }
    const peerList = (viewer: number) => ids.map((id, i) => `${id}=127.0.0.1:${via.get(`${viewer}>${i}`) ?? ports[i]}`).join(',');
    this.#peers = ids.map((id, i) => {
      const logPath = join(dir, `${id}.log`);
      const prof = this.#o.profileDir !== null ? ['--cpu-prof', '--cpu-prof-dir', join(this.#o.profileDir, id)] : [];
      const child = spawn(process.execPath, [
        ...prof, cliPath, 'peer', '--id', id, '--listen', `127.0.0.1:${ports[i]}`, '--peers', peerList(i), '--data', join(dir, id),
        '--secret-file', secretFile, '--sync', sync, '--log-level', 'info', '--mode', mode, '--connections', String(connections),
      ], { stdio: ['ignore', 'ignore', openSync(logPath, 'a')], detached: true });
      this.#group.add(`edgeraft ${mode} peer ${id}`, child, () => logTail(logPath));
      return { id, index: i, url: `ws://127.0.0.1:${ports[i]}`, httpBase: `http://127.0.0.1:${ports[i]}`, child, logPath };
    });
    this.#leader = await this.#waitLeader(30_000);
    await this.keepLeaderOffJittered();
    // Each peer preallocates a zero-filled WAL segment when it starts: not to be timed.
    await settleDisk(this.#peers.map((p) => p.child), this.#group.crashed);
  }

  /** Moves leadership to the first other member when the jittered one leads; true if it moved. */
  async keepLeaderOffJittered(): Promise<boolean> {
    if (this.#leader?.index !== this.#o.jittered) return false;
    const to = this.#peers.find((p) => p.index !== this.#o.jittered)!;
    const kv = await connect({ peers: [this.#leader.url], token: this.#o.adminToken, timeoutMs: 10_000 });
    try {
      await kv.transferLeader(to.id);
    } finally {
      await kv.close();
    }
    const deadline = Date.now() + 15_000;
    while (this.#leader?.index === this.#o.jittered) {
      if (Date.now() > deadline) throw new Error(`${this.#o.mode}: leadership did not leave the jittered member ${this.#leader.id}`);
      await sleep(100);
      this.#leader = await this.#waitLeader(15_000);
    }
    return true;
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
    throw new Error(`no ${this.#o.mode} leader agreed on within ${timeoutMs} ms${logTail(this.#peers[0]!.logPath)}`);
  }

  /** Waits for an agreed leader; true when it is not the one before. */
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

  /** Member lists for `k` SDK clients: every member, leader first (writes go to the leader). */
  clientPeers(k: number): string[][] {
    const lead = this.#leader!;
    const all = [lead.url, ...this.#peers.filter((p) => p !== lead).map((p) => p.url)];
    return Array.from({ length: k }, () => all);
  }

  /** Every member's /metrics, in member order. */
  scrapeAll(): Promise<Array<Map<string, number>>> {
    return Promise.all(this.#peers.map((p) => scrape(p.httpBase)));
  }

  /** Writes keys `k/0` .. `k/{keyCount-1}` once, `inflight` at a time, before any measurement. */
  async prefill(keyCount: number, valueBytes: number, inflight = 512): Promise<void> {
    const kv = await connect({ peers: this.#peers.map((p) => p.url), token: this.#o.token, timeoutMs: 30_000 });
    try {
      const value = new Uint8Array(valueBytes).fill(0x5a);
      let next = 0;
      const loop = async (): Promise<void> => {
        while (next < keyCount) await kv.put(`k/${next++}`, value);
      };
      await Promise.all(Array.from({ length: Math.min(inflight, keyCount) }, loop));
    } finally {
      await kv.close();
    }
  }

  async stop(): Promise<void> {
    await this.#group.stop(this.#peers.map((p) => p.child), 10_000);
    this.#peers = [];
    this.#leader = null;
  }
}
