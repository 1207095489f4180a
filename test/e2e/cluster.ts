// A real edgeraft cluster for end-to-end tests: every peer is a child process started through the
// `edgeraft peer` CLI exactly as a user would (under tsx, so no build is needed), with its own
// port, data directory and captured JSON log. Fault suites build on it, so it only ever signals
// the processes it spawned, by their ChildProcess handle, and keeps its temp dir on failure.

import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KvClient } from '../../src/client/kv.ts';
import { connect } from '../../src/client/node.ts';
import { dialWs } from '../../src/runtime-node/ws-socket.ts';
import { mintToken, type TokenRole } from '../../src/transport/token.ts';
import { PeerLog, type LogRecord } from './peer-log.ts';
import { freePort, freePorts, host, running, runCli, spawnCli, WaitAborted, waitFor, type CliResult } from './proc.ts';

export { freePort, runCli, sleep, WaitAborted, waitFor, type CliResult } from './proc.ts';
export type { LogRecord } from './peer-log.ts';

/** Lines of each log printed when a test fails. */
const tailLinesOnFailure = 40;

export interface ClusterOptions {
  /** Voters bootstrapped from --peers: n1..nN. */
  readonly size?: number;
  /** --tick-ms: small ticks make elections fast (election timeout is 10-20 ticks). */
  readonly tickMs?: number;
  /** --snapshot-entries. */
  readonly snapshotEntries?: number;
  /** --faults: accept fault-injection requests. */
  readonly faults?: boolean;
  readonly logLevel?: 'debug' | 'info' | 'warn' | 'error';
  /** More flags for every peer. */
  readonly extraArgs?: readonly string[];
  /** How long a peer may take from spawn to its 'started' log line. */
  readonly startTimeoutMs?: number;
  /** Timeout of each operation of the SDK clients made by client(). */
  readonly clientTimeoutMs?: number;
  /** Names the temp dir, to find it when a failed test leaves it behind. */
  readonly name?: string;
  /** The address member `id` listens on (default 127.0.0.1); test/e2e/netns.ts gives each its own. */
  readonly hostOf?: (id: string) => string;
  /** A command member `id` runs under, which must exec it in place (e.g. `ip netns exec NS`). */
  readonly spawnPrefix?: (id: string) => readonly string[];
}

export interface ExitInfo {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface MemberInfo {
  readonly id: string;
  readonly role: 'voter' | 'learner';
  readonly url: string | null;
  readonly match?: number;
  readonly lag?: number;
  readonly state?: string;
}

/** The fields of a peer's status reply (ClientService.status) that tests read. */
export interface PeerStatus {
  readonly id: string;
  readonly url: string;
  readonly role: 'leader' | 'follower' | 'candidate' | 'preCandidate' | 'learner' | string;
  readonly term: number;
  readonly leader: string | null;
  readonly commit: number;
  readonly applied: number;
  readonly firstIndex: number;
  readonly lastIndex: number;
  readonly logEntries: number;
  readonly keys: number;
  readonly conf: { readonly voters: readonly string[]; readonly learners: readonly string[] };
  readonly members: { readonly leader: string | null; readonly members: readonly MemberInfo[] };
  readonly elections: number;
  readonly leaderChanges: number;
}

interface Member {
  readonly id: string;
  readonly port: number;
  readonly dataDir: string;
  /** Started with --join (added after bootstrap) rather than bootstrapping from --peers. */
  readonly join: boolean;
  readonly log: PeerLog;
  child: ChildProcess | null;
  exit: Promise<ExitInfo> | null;
  paused: boolean;
}

export function isStatus(s: PeerStatus | Error | undefined): s is PeerStatus {
  return s !== undefined && !(s instanceof Error);
}

export class Cluster {
  readonly dir: string;
  readonly secret: string;
  readonly secretFile: string;
  readonly options: Required<Omit<ClusterOptions, 'snapshotEntries' | 'name' | 'hostOf' | 'spawnPrefix'>> & { snapshotEntries: number | null };
  readonly #hostOf: (id: string) => string;
  readonly #spawnPrefix: (id: string) => readonly string[];
  readonly #members = new Map<string, Member>();
  readonly #bootstrap: string[];
  readonly #clients = new Set<KvClient>();
  #probe: KvClient | null = null;
  #closed = false;

  private constructor(dir: string, secret: string, options: ClusterOptions, ports: readonly number[]) {
    this.dir = dir;
    this.secret = secret;
    this.secretFile = join(dir, 'secret');
    writeFileSync(this.secretFile, `${secret}\n`, { mode: 0o600 });
    this.options = {
      size: options.size ?? 3, tickMs: options.tickMs ?? 10, snapshotEntries: options.snapshotEntries ?? null,
      faults: options.faults ?? false, logLevel: options.logLevel ?? 'info', extraArgs: options.extraArgs ?? [],
      startTimeoutMs: options.startTimeoutMs ?? 20_000, clientTimeoutMs: options.clientTimeoutMs ?? 20_000,
    };
    this.#hostOf = options.hostOf ?? (() => host);
    this.#spawnPrefix = options.spawnPrefix ?? (() => []);
    this.#bootstrap = ports.map((_, i) => `n${i + 1}`);
    ports.forEach((port, i) => this.#addMember(`n${i + 1}`, port, false));
  }

  /** Allocates ports, a temp dir and a random secret; starts nothing (see startAll()). */
  static async create(options: ClusterOptions = {}): Promise<Cluster> {
    const size = options.size ?? 3;
    if (!Number.isInteger(size) || size < 1) throw new Error(`size must be an integer >= 1 (got ${size})`);
    const ports = await freePorts(size);
    const dir = mkdtempSync(join(tmpdir(), `edgeraft-e2e-${options.name ?? 'cluster'}-`));
    // 32 random bytes, written as hex: the CLI reads the secret as text.
    return new Cluster(dir, randomBytes(32).toString('hex'), options, ports);
  }

  /** Creates and starts a cluster, then waits for a leader. */
  static async start(options: ClusterOptions = {}): Promise<Cluster> {
    const c = await Cluster.create(options);
    try {
      await c.startAll();
      await c.leader();
    } catch (err) {
      await c.close({ failed: true });
      throw err;
    }
    return c;
  }

  #addMember(id: string, port: number, joins: boolean): Member {
    const m: Member = {
      id, port, dataDir: join(this.dir, id), join: joins, log: new PeerLog(join(this.dir, `${id}.log`)), child: null, exit: null, paused: false,
    };
    this.#members.set(id, m);
    return m;
  }

  #member(id: string): Member {
    const m = this.#members.get(id);
    if (m === undefined) throw new Error(`no member '${id}' in this cluster (members: ${[...this.#members.keys()].join(', ')})`);
    return m;
  }

  // ---- addresses ----------------------------------------------------------------------------

  /** Every member id this cluster knows (bootstrapped or added), started or not. */
  get ids(): string[] {
    return [...this.#members.keys()];
  }

  addr(id: string): string {
    return `${this.#hostOf(id)}:${this.#member(id).port}`;
  }

  url(id: string): string {
    return `ws://${this.addr(id)}`;
  }

  dataDir(id: string): string {
    return this.#member(id).dataDir;
  }

  logPath(id: string): string {
    return this.#member(id).log.path;
  }

  /** `ID=HOST:PORT,...` for --peers of `edgeraft peer` (default: the bootstrap voters). */
  peersFlag(ids: readonly string[] = this.#bootstrap): string {
    return ids.map((id) => `${id}=${this.addr(id)}`).join(',');
  }

  /** `HOST:PORT,...` for --peers of the client commands (default: every member). */
  clientPeersFlag(ids: readonly string[] = this.ids): string {
    return ids.map((id) => this.addr(id)).join(',');
  }

  /**
   * Registers a member that joins after bootstrap (started with --join) on a fresh port, and
   * returns its HOST:PORT, for `edgeraft members add ID HOST:PORT`.
   */
  async addMember(id: string): Promise<string> {
    if (this.#members.has(id)) throw new Error(`member '${id}' exists already`);
    this.#addMember(id, await freePort(), true);
    return this.addr(id);
  }

  /** The argv (after `edgeraft`) that starts member `id`; `overrides` replace single flags. */
  peerArgs(id: string, overrides: { port?: number; peers?: string; extraArgs?: readonly string[] } = {}): string[] {
    const m = this.#member(id);
    const o = this.options;
    const peers = overrides.peers ?? (m.join ? this.peersFlag([...this.#bootstrap, id]) : this.peersFlag());
    return [
      'peer', '--id', id, '--listen', `${this.#hostOf(id)}:${overrides.port ?? m.port}`, '--peers', peers, '--data', m.dataDir,
      '--secret-file', this.secretFile, '--tick-ms', String(o.tickMs), '--log-level', o.logLevel,
      ...(o.snapshotEntries !== null ? ['--snapshot-entries', String(o.snapshotEntries)] : []),
      ...(m.join ? ['--join'] : []), ...(o.faults ? ['--faults'] : []), ...o.extraArgs, ...(overrides.extraArgs ?? []),
    ];
  }

  // ---- processes ----------------------------------------------------------------------------

  /** Starts every bootstrap member that is not running, in parallel. */
  async startAll(): Promise<void> {
    await Promise.all(this.#bootstrap.filter((id) => !this.isRunning(id)).map((id) => this.start(id)));
  }

  /**
   * Spawns member `id` and resolves once it logged 'started' (it listens then). Rejects, with
   * its log tail, if it exits first or takes longer than startTimeoutMs.
   */
  async start(id: string, overrides: { peers?: string; extraArgs?: readonly string[] } = {}): Promise<void> {
    if (this.#closed) throw new Error('the cluster was closed');
    const m = this.#member(id);
    if (running(m.child)) throw new Error(`${id} is running already (pid ${m.child.pid})`);
    const mark = m.log.mark();
    const args = this.peerArgs(id, overrides);
    m.log.record(`--- harness: spawning ${id}: edgeraft ${args.join(' ')}`);
    const child = spawnCli(args, {}, this.#spawnPrefix(id));
    m.child = child;
    m.paused = false;
    m.log.attach(child);
    m.exit = new Promise<ExitInfo>((res) => {
      child.once('error', (err) => {
        m.log.record(`--- harness: spawn error: ${err.message}`);
        res({ code: null, signal: null });
      });
      child.once('exit', (code, signal) => {
        m.log.record(`--- harness: ${id} (pid ${child.pid}) exited with code ${code} signal ${signal}`);
        res({ code, signal });
      });
    });
    const exited = m.exit.then((e) => ({ exited: e }));
    const started = m.log.waitFor((l) => l.msg === 'started', `${id} to log 'started'`, this.options.startTimeoutMs, mark)
      .then(() => ({ exited: null }));
    const r = await Promise.race([started, exited]);
    started.catch(() => {});
    if (r.exited !== null) {
      throw new Error(`${id} exited (code ${r.exited.code}, signal ${r.exited.signal}) before it started:\n${this.tail(id, 15)}`);
    }
  }

  /** Whether member `id` has a process that has not exited (it may be paused). */
  isRunning(id: string): boolean {
    return running(this.#member(id).child);
  }

  isPaused(id: string): boolean {
    return this.#member(id).paused;
  }

  /** Members whose process runs and is not paused. */
  live(): string[] {
    return this.ids.filter((id) => this.isRunning(id) && !this.isPaused(id));
  }

  /** Resolves when the current process of `id` exits (on its own or signalled). */
  exited(id: string): Promise<ExitInfo> {
    const m = this.#member(id);
    if (m.exit === null) throw new Error(`${id} was never started`);
    return m.exit;
  }

  #signal(id: string, sig: NodeJS.Signals): Member {
    const m = this.#member(id);
    if (!running(m.child)) throw new Error(`${id} is not running: cannot send ${sig}`);
    m.log.record(`--- harness: ${sig} to ${id} (pid ${m.child.pid})`);
    m.child.kill(sig);
    return m;
  }

  /** SIGKILL: a crash. Resolves once the process is gone. */
  async kill(id: string): Promise<ExitInfo> {
    const m = this.#signal(id, 'SIGKILL');
    m.paused = false;
    return m.exit!;
  }

  /** SIGTERM: a graceful stop. Resolves with how it exited (SIGKILLed after `timeoutMs`). */
  async stop(id: string, timeoutMs = 10_000): Promise<ExitInfo> {
    const m = this.#member(id);
    if (m.paused) this.resume(id);
    this.#signal(id, 'SIGTERM');
    const child = m.child!;
    const timer = setTimeout(() => {
      if (running(child)) {
        m.log.record(`--- harness: ${id} did not exit within ${timeoutMs} ms of SIGTERM: SIGKILL`);
        child.kill('SIGKILL');
      }
    }, timeoutMs);
    try {
      return await m.exit!;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Kills (SIGKILL, or SIGTERM when `graceful`) and starts `id` again on the same data dir. */
  async restart(id: string, graceful = false): Promise<void> {
    if (this.isRunning(id)) {
      if (graceful) await this.stop(id);
      else await this.kill(id);
    }
    await this.start(id);
  }

  /** SIGSTOP: the process freezes (a long GC pause, a VM stall) with its sockets open. */
  pause(id: string): void {
    this.#signal(id, 'SIGSTOP');
    this.#member(id).paused = true;
  }

  resume(id: string): void {
    this.#signal(id, 'SIGCONT');
    this.#member(id).paused = false;
  }

  // ---- logs ---------------------------------------------------------------------------------

  /** Log lines of `id` over all its runs (the harness marks spawns, signals and exits with '--- harness:'). */
  logLines(id: string): string[] {
    return this.#member(id).log.lines();
  }

  /** A mark in the log of `id`: logLinesSince(id, mark) returns only what came after it. */
  logMark(id: string): number {
    return this.#member(id).log.mark();
  }

  logLinesSince(id: string, mark: number): string[] {
    return this.#member(id).log.since(mark);
  }

  /** The JSON log records of `id`. */
  logs(id: string): LogRecord[] {
    return this.#member(id).log.records();
  }

  /** Waits for a JSON log record of `id` (after `mark`) that `pred` accepts. */
  waitForLog(id: string, pred: (rec: LogRecord) => boolean, what: string, timeoutMs = 10_000, mark = 0): Promise<LogRecord> {
    return this.#member(id).log.waitFor(pred, what, timeoutMs, mark);
  }

  /** The last `n` log lines of `id`, indented, for error messages. */
  tail(id: string, n = tailLinesOnFailure): string {
    return this.#member(id).log.tail(n);
  }

  // ---- clients ------------------------------------------------------------------------------

  /** A token for `role`, signed with the cluster secret. */
  token(role: TokenRole = 'admin', ttlMs = 3_600_000): Promise<string> {
    return mintToken(this.secret, { role, sub: `e2e-${role}`, cluster: 'edgeraft', expMs: Date.now() + ttlMs });
  }

  /** An SDK client (closed by close()); by default it knows every member and is an admin. */
  async client(role: TokenRole = 'admin', options: { peers?: readonly string[]; timeoutMs?: number; token?: string } = {}): Promise<KvClient> {
    const peers = (options.peers ?? this.live()).map((id) => this.url(id));
    const kv = await connect({ peers, token: options.token ?? await this.token(role), timeoutMs: options.timeoutMs ?? this.options.clientTimeoutMs });
    this.#clients.add(kv);
    return kv;
  }

  /** Runs the CLI as a process with `args` (no credentials are added: pass --secret-file or --token). */
  cli(args: readonly string[], options: { timeoutMs?: number } = {}): Promise<CliResult> {
    return runCli(args, options);
  }

  /** Runs a client command of the CLI against this cluster, authenticated with the secret file. */
  cliAdmin(args: readonly string[], options: { timeoutMs?: number; peers?: readonly string[] } = {}): Promise<CliResult> {
    return runCli([...args, '--peers', this.clientPeersFlag(options.peers ?? this.live()), '--secret-file', this.secretFile], options);
  }

  async #probeClient(): Promise<KvClient> {
    if (this.#probe === null) {
      // Built without connect(): it only asks named members, so it needs none up to be created.
      this.#probe = new KvClient({ peers: this.ids.map((id) => this.url(id)), token: await this.token('admin'), timeoutMs: 2000, dial: dialWs });
    }
    return this.#probe;
  }

  /** Member `id`'s own view (its status reply). */
  async status(id: string): Promise<PeerStatus> {
    const probe = await this.#probeClient();
    return (await probe.status(this.url(id))) as unknown as PeerStatus;
  }

  /** Every live member's status (or the error asking it gave). */
  async statuses(): Promise<Map<string, PeerStatus | Error>> {
    const ids = this.live();
    const rows = await Promise.all(ids.map((id) => this.status(id).catch((err: Error) => err)));
    return new Map(ids.map((id, i) => [id, rows[i]!]));
  }

  /**
   * Waits until a majority of the voters (as the most advanced live member sees them) name the
   * same leader in the same term, and that leader says it leads; returns its id.
   */
  async leader(timeoutMs = 15_000): Promise<string> {
    let found: string | null = null;
    await waitFor(async () => {
      found = agreedLeader(await this.statuses());
      return found !== null;
    }, 'a leader agreed by a majority', timeoutMs);
    return found!;
  }

  /** Waits until every live member applied at least the leader's commit index; returns that index. */
  async converged(timeoutMs = 15_000): Promise<number> {
    let commit = 0;
    await waitFor(async () => {
      const sts = await this.statuses();
      const leader = agreedLeader(sts);
      if (leader === null) return false;
      const ls = sts.get(leader) as PeerStatus;
      commit = ls.commit;
      return [...sts.values()].every((s) => isStatus(s) && s.applied >= commit);
    }, 'every live member to apply the leader\'s commit index', timeoutMs);
    return commit;
  }

  /**
   * Waits until member `id` applied everything the leader committed (when the wait began or
   * since); fails at once, with its log tail, if its process exits meanwhile.
   */
  async caughtUp(id: string, timeoutMs = 20_000): Promise<PeerStatus> {
    let exit: ExitInfo | null = null;
    void this.exited(id).then((e) => { exit = e; });
    let last: PeerStatus | null = null;
    await waitFor(async () => {
      if (exit !== null) {
        const e: ExitInfo = exit;
        throw new WaitAborted(`${id} exited (code ${e.code}, signal ${e.signal}) before it caught up:\n${this.tail(id, 12)}`);
      }
      const leader = await this.status(await this.leader());
      last = await this.status(id);
      return last.applied >= leader.commit;
    }, `${id} to apply the leader's commit index`, timeoutMs);
    return last!;
  }

  /** Member `id`'s /metrics, parsed: `name{labels}` -> value. */
  async metrics(id: string): Promise<Map<string, number>> {
    const res = await fetch(`http://${this.addr(id)}/metrics`);
    if (!res.ok) throw new Error(`GET /metrics of ${id}: HTTP ${res.status}`);
    const out = new Map<string, number>();
    for (const line of (await res.text()).split('\n')) {
      if (line.startsWith('#') || line.trim() === '') continue;
      const m = /^(\S+?(?:\{[^}]*\})?)\s+(\S+)$/.exec(line);
      if (m !== null) out.set(m[1]!, Number(m[2]));
    }
    return out;
  }

  // ---- the end ------------------------------------------------------------------------------

  /**
   * Closes the clients and stops every process this cluster started (SIGTERM, then SIGKILL after
   * `graceMs`). On failure it prints each member's log tail and keeps the temp dir.
   */
  async close(o: { failed?: boolean; graceMs?: number } = {}): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const clients = [...this.#clients, ...(this.#probe !== null ? [this.#probe] : [])];
    await Promise.all(clients.map((c) => c.close().catch(() => {})));
    await Promise.all(this.ids.filter((id) => this.isRunning(id)).map((id) => this.stop(id, o.graceMs ?? 3000).catch(() => {})));
    await Promise.all([...this.#members.values()].map((m) => m.log.close()));
    if (o.failed === true) {
      for (const id of this.ids) {
        if (this.#member(id).log.empty) continue;
        console.error(`\n--- last ${tailLinesOnFailure} log lines of ${id} (${this.logPath(id)}):\n${this.tail(id)}`);
      }
      console.error(`\n--- the cluster's temp dir is kept for inspection: ${this.dir}\n`);
    } else if (existsSync(this.dir)) {
      rmSync(this.dir, { recursive: true, force: true });
    }
  }
}

/**
 * The leader a majority of voters agree on, in the term the leader itself reports, or null. The
 * voter set is the one most members hold (ties: the most advanced), so one member with a wrong
 * view of the membership cannot crown itself.
 */
export function agreedLeader(sts: ReadonlyMap<string, PeerStatus | Error>): string | null {
  const ok = [...sts.values()].filter(isStatus);
  if (ok.length === 0) return null;
  const groups = new Map<string, { voters: readonly string[]; n: number; commit: number }>();
  for (const s of ok) {
    const key = JSON.stringify([...s.conf.voters].sort());
    const g = groups.get(key) ?? { voters: s.conf.voters, n: 0, commit: 0 };
    g.n++;
    g.commit = Math.max(g.commit, s.commit);
    groups.set(key, g);
  }
  const voters = [...groups.values()].reduce((a, b) => (b.n > a.n || (b.n === a.n && b.commit > a.commit) ? b : a)).voters;
  for (const s of ok) {
    if (s.role !== 'leader' || !voters.includes(s.id)) continue;
    const agree = ok.filter((o) => voters.includes(o.id) && o.leader === s.id && o.term === s.term).length;
    if (agree >= Math.floor(voters.length / 2) + 1) return s.id;
  }
  return null;
}

/**
 * Creates and starts a cluster, runs `fn` with it and closes it; if `fn` throws, the logs' tails
 * are printed and the temp dir is kept before the error propagates.
 */
export async function withCluster<T>(options: ClusterOptions, fn: (c: Cluster) => Promise<T>, start = true): Promise<T> {
  const c = start ? await Cluster.start(options) : await Cluster.create(options);
  let result: T;
  try {
    result = await fn(c);
  } catch (err) {
    await c.close({ failed: true });
    throw err;
  }
  await c.close();
  return result;
}
