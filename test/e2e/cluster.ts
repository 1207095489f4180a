// A real edgeraft cluster for end-to-end tests: every peer is a child process started through the
// `edgeraft peer` CLI exactly as a user would (under tsx, so no build is needed), with its own
// port, data directory and captured JSON log. Spawning, signals and exits are the local-cluster
// harness's (src/runtime-node/local-cluster.ts, shared with `edgeraft start` and the benchmarks);
// this file adds what tests need: logs in memory, SDK clients, rich status, tails on failure.

import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KvClient } from '../../src/client/kv.ts';
import { connect } from '../../src/client/node.ts';
import { writeDevCertificates, type DevCertificates } from '../../src/runtime-node/cli-cert.ts';
import { LocalCluster, type ExitInfo, type LineSource } from '../../src/runtime-node/local-cluster.ts';
import { dialWs } from '../../src/runtime-node/ws-socket.ts';
import { mintToken, type TokenRole } from '../../src/transport/token.ts';
import { PeerLog, type LogRecord } from './peer-log.ts';
import { cliNodeArgs, cliPath, freePorts, hermeticEnv, repoRoot, runCli, WaitAborted, waitFor, type CliResult } from './proc.ts';

export { explain, freePort, rejects, runCli, sleep, WaitAborted, waitFor, type CliResult } from './proc.ts';
export type { LogRecord } from './peer-log.ts';
export type { ExitInfo } from '../../src/runtime-node/local-cluster.ts';

/** Lines of each log printed when a test fails. */
const tailLinesOnFailure = 40;
/** One GET /metrics; generous, as a test may ask a member that is busy catching up. */
const httpTimeoutMs = 5000;

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
  /**
   * Given the bootstrap ids and ports, each bootstrap member's own --peers (bench/lib/net/
   * emulator.ts routes them through its relays); members added later list the others directly.
   */
  readonly route?: (ids: readonly string[], ports: readonly number[]) => Promise<(id: string) => string>;
  /**
   * Run the peers with TLS (dev certificates from `edgeraft cert --dev`'s code in DIR/tls; with
   * peerMtls, --peer-mtls too): wss:// and https:// addresses, clients given the CA. Default: on
   * when the environment has E2E_TLS=1, so any e2e suite can run over TLS.
   */
  readonly tls?: boolean | { readonly peerMtls: boolean };
}

/** E2E_TLS=1: every cluster that does not say otherwise runs with TLS. */
export const envTls = process.env.E2E_TLS === '1';

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

export function isStatus(s: PeerStatus | Error | undefined): s is PeerStatus {
  return s !== undefined && !(s instanceof Error);
}

export class Cluster {
  readonly dir: string;
  readonly secret: string;
  readonly secretFile: string;
  readonly options: Required<Omit<ClusterOptions, 'snapshotEntries' | 'name' | 'hostOf' | 'spawnPrefix' | 'route' | 'tls'>> & { snapshotEntries: number | null };
  /** The dev certificates of a TLS cluster (one certificate, for every member and 127.0.0.1), else null. */
  readonly certs: DevCertificates | null;
  /** The CA's PEM (what clients trust) of a TLS cluster, else null. */
  readonly ca: string | null;
  readonly #local: LocalCluster;
  readonly #logs = new Map<string, PeerLog>();
  readonly #clients = new Set<KvClient>();
  #probe: KvClient | null = null;
  #closed = false;

  private constructor(dir: string, secret: string, options: ClusterOptions, ports: readonly number[], routed: ((id: string) => string) | null) {
    this.dir = dir;
    this.secret = secret;
    this.secretFile = join(dir, 'secret');
    writeFileSync(this.secretFile, `${secret}\n`, { mode: 0o600 });
    const o = {
      size: options.size ?? 3, tickMs: options.tickMs ?? 10, snapshotEntries: options.snapshotEntries ?? null,
      faults: options.faults ?? false, logLevel: options.logLevel ?? 'info', extraArgs: options.extraArgs ?? [],
      startTimeoutMs: options.startTimeoutMs ?? 20_000, clientTimeoutMs: options.clientTimeoutMs ?? 20_000,
    } as const;
    this.options = o;
    const tls = options.tls ?? envTls;
    this.certs = tls !== false ? writeDevCertificates(join(dir, 'tls'), { hosts: ['127.0.0.1', 'localhost'] }) : null;
    this.ca = this.certs !== null ? readFileSync(this.certs.caFile, 'utf8') : null;
    this.#local = new LocalCluster({
      size: ports.length, dir, ports, secretFile: this.secretFile, cli: cliPath, nodeArgs: cliNodeArgs, cwd: repoRoot, env: hermeticEnv(),
      ...(options.hostOf !== undefined ? { host: options.hostOf } : {}),
      ...(options.spawnPrefix !== undefined ? { spawnPrefix: options.spawnPrefix } : {}),
      ...(routed !== null ? { peersOf: (id: string) => this.#peersOf(id, routed) } : {}),
      ...(this.certs !== null ? { tls: { ...this.certs, peerMtls: typeof tls === 'object' && tls.peerMtls } } : {}),
      args: [
        '--tick-ms', String(o.tickMs), '--log-level', o.logLevel, ...(o.snapshotEntries !== null ? ['--snapshot-entries', String(o.snapshotEntries)] : []),
        ...(o.faults ? ['--faults'] : []), ...o.extraArgs,
      ],
      // PeerLog writes the file, with the harness's notes and stdout tagged.
      logFiles: false,
      onLine: (id, line, source) => this.#log(id).record(tagged(line, source)),
      limits: { startTimeoutMs: o.startTimeoutMs, stopGraceMs: 10_000, httpTimeoutMs },
    });
  }

  /** Allocates ports, a temp dir and a random secret; starts nothing (see startAll()). */
  static async create(options: ClusterOptions = {}): Promise<Cluster> {
    const size = options.size ?? 3;
    if (!Number.isInteger(size) || size < 1) throw new Error(`size must be an integer >= 1 (got ${size})`);
    const ports = await freePorts(size);
    const routed = options.route !== undefined ? await options.route(ports.map((_, i) => `n${i + 1}`), ports) : null;
    const dir = mkdtempSync(join(tmpdir(), `edgeraft-e2e-${options.name ?? 'cluster'}-`));
    // 32 random bytes, written as hex: the CLI reads the secret as text.
    return new Cluster(dir, randomBytes(32).toString('hex'), options, ports, routed);
  }

  /** A routed --peers for bootstrap members; a member added later gets the harness's default (the others directly, and itself). */
  #peersOf(id: string, routed: (id: string) => string): string {
    const bootstrap = this.#local.bootstrapIds;
    return bootstrap.includes(id) ? routed(id) : this.#local.peersFlag([...bootstrap, id]);
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

  /** Member `id`'s log (made on its first line, so members added later have one too). */
  #log(id: string): PeerLog {
    let log = this.#logs.get(id);
    if (log === undefined) {
      log = new PeerLog(this.#local.logPath(id));
      this.#logs.set(id, log);
    }
    return log;
  }

  // ---- addresses ----------------------------------------------------------------------------

  /** Every member id this cluster knows (bootstrapped or added), started or not. */
  get ids(): string[] {
    return this.#local.ids;
  }

  addr(id: string): string {
    return this.#local.addr(id);
  }

  url(id: string): string {
    return this.#local.url(id);
  }

  dataDir(id: string): string {
    return this.#local.dataDir(id);
  }

  logPath(id: string): string {
    return this.#local.logPath(id);
  }

  /** `ID=HOST:PORT,...` for --peers of `edgeraft peer` (default: the bootstrap voters). */
  peersFlag(ids: readonly string[] = this.#local.bootstrapIds): string {
    return this.#local.peersFlag(ids);
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
    await this.#local.addMember(id);
    return this.addr(id);
  }

  /** The argv (after `edgeraft`) that starts member `id`; `overrides` replace single flags. */
  peerArgs(id: string, overrides: { port?: number; peers?: string; extraArgs?: readonly string[] } = {}): string[] {
    return this.#local.args(id, {
      ...(overrides.port !== undefined ? { port: overrides.port } : {}), ...(overrides.peers !== undefined ? { peers: overrides.peers } : {}),
      ...(overrides.extraArgs !== undefined ? { args: overrides.extraArgs } : {}),
    });
  }

  // ---- processes ----------------------------------------------------------------------------

  /** Starts every bootstrap member that is not running, in parallel. */
  async startAll(): Promise<void> {
    if (this.#closed) throw new Error('the cluster was closed');
    await this.#local.startAll();
  }

  /**
   * Spawns member `id` and resolves once it logged 'started' (it listens then). Rejects, with
   * its log tail, if it exits first or takes longer than startTimeoutMs.
   */
  async start(id: string, overrides: { peers?: string; extraArgs?: readonly string[] } = {}): Promise<void> {
    if (this.#closed) throw new Error('the cluster was closed');
    await this.#local.start(id, {
      ...(overrides.peers !== undefined ? { peers: overrides.peers } : {}), ...(overrides.extraArgs !== undefined ? { args: overrides.extraArgs } : {}),
    });
  }

  /** Whether member `id` has a process that has not exited (it may be paused). */
  isRunning(id: string): boolean {
    return this.#local.isRunning(id);
  }

  isPaused(id: string): boolean {
    return this.#local.isPaused(id);
  }

  /** Members whose process runs and is not paused. */
  live(): string[] {
    return this.ids.filter((id) => this.isRunning(id) && !this.isPaused(id));
  }

  /** Resolves when the current process of `id` exits (on its own or signalled). */
  exited(id: string): Promise<ExitInfo> {
    return this.#local.exited(id);
  }

  /** SIGKILL: a crash. Resolves once the process is gone. */
  async kill(id: string): Promise<ExitInfo> {
    return this.#local.kill(id);
  }

  /** SIGTERM: a graceful stop. Resolves with how it exited (SIGKILLed after `timeoutMs`). */
  async stop(id: string, timeoutMs = 10_000): Promise<ExitInfo> {
    return this.#local.stop(id, timeoutMs);
  }

  /** Kills (SIGKILL, or SIGTERM when `graceful`) and starts `id` again on the same data dir. */
  async restart(id: string, graceful = false): Promise<void> {
    if (this.#closed) throw new Error('the cluster was closed');
    await this.#local.restart(id, { graceful });
  }

  /** SIGHUP: member `id` reloads its TLS certificate files. */
  hangup(id: string): void {
    this.#local.hangup(id);
  }

  /** SIGSTOP: the process freezes (a long GC pause, a VM stall) with its sockets open. */
  pause(id: string): void {
    this.#local.pause(id);
  }

  resume(id: string): void {
    this.#local.resume(id);
  }

  // ---- logs ---------------------------------------------------------------------------------

  /** Log lines of `id` over all its runs (the harness marks spawns, signals and exits with '--- harness:'). */
  logLines(id: string): string[] {
    return this.#log(id).lines();
  }

  /** A mark in the log of `id`: logLinesSince(id, mark) returns only what came after it. */
  logMark(id: string): number {
    return this.#log(id).mark();
  }

  logLinesSince(id: string, mark: number): string[] {
    return this.#log(id).since(mark);
  }

  /** The JSON log records of `id`. */
  logs(id: string): LogRecord[] {
    return this.#log(id).records();
  }

  /** Waits for a JSON log record of `id` (after `mark`) that `pred` accepts. */
  waitForLog(id: string, pred: (rec: LogRecord) => boolean, what: string, timeoutMs = 10_000, mark = 0): Promise<LogRecord> {
    return this.#log(id).waitFor(pred, what, timeoutMs, mark);
  }

  /** The last `n` log lines of `id`, indented, for error messages. */
  tail(id: string, n = tailLinesOnFailure): string {
    return this.#log(id).tail(n);
  }

  // ---- clients ------------------------------------------------------------------------------

  /** A token for `role`, signed with the cluster secret. */
  token(role: TokenRole = 'admin', ttlMs = 3_600_000): Promise<string> {
    return mintToken(this.secret, { role, sub: `e2e-${role}`, cluster: 'edgeraft', expMs: Date.now() + ttlMs });
  }

  /**
   * An SDK client (closed by close()); by default it knows every member and is an admin. `urls`
   * replaces the members' own URLs (a relay's, say).
   */
  async client(role: TokenRole = 'admin', options: { peers?: readonly string[]; urls?: readonly string[]; timeoutMs?: number; token?: string } = {}): Promise<KvClient> {
    const peers = options.urls ?? (options.peers ?? this.live()).map((id) => this.url(id));
    const kv = await connect({
      peers, token: options.token ?? await this.token(role), timeoutMs: options.timeoutMs ?? this.options.clientTimeoutMs, ...this.#caOption(),
    });
    this.#clients.add(kv);
    return kv;
  }

  /** The SDK's `ca` option for this cluster ({} when it runs without TLS). */
  #caOption(): { ca?: string } {
    return this.ca !== null ? { ca: this.ca } : {};
  }

  /**
   * Runs the CLI as a process with `args` (no credentials are added: pass --secret-file or
   * --token); a TLS cluster's CA is in EDGERAFT_CA, so its client commands trust it.
   */
  cli(args: readonly string[], options: { timeoutMs?: number } = {}): Promise<CliResult> {
    return runCli(args, { ...options, ...(this.certs !== null ? { env: { EDGERAFT_CA: this.certs.caFile } } : {}) });
  }

  /** Runs a client command of the CLI against this cluster, authenticated with the secret file. */
  cliAdmin(args: readonly string[], options: { timeoutMs?: number; peers?: readonly string[] } = {}): Promise<CliResult> {
    return this.cli([...args, '--peers', this.clientPeersFlag(options.peers ?? this.live()), '--secret-file', this.secretFile], options);
  }

  async #probeClient(): Promise<KvClient> {
    if (this.#probe === null) {
      // Built without connect(): it only asks named members, so it needs none up to be created.
      const ca = this.ca;
      this.#probe = new KvClient({
        peers: this.ids.map((id) => this.url(id)), token: await this.token('admin'), timeoutMs: 2000,
        dial: ca !== null ? (url, o) => dialWs(url, o, { ca }) : dialWs,
      });
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
  metrics(id: string): Promise<Map<string, number>> {
    return this.#local.metrics(id);
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
    await this.#local.close(o.graceMs ?? 3000);
    await Promise.all([...this.#logs.values()].map((log) => log.close()));
    if (o.failed === true) {
      for (const id of this.ids) {
        if (this.#logs.get(id)?.empty !== false) continue;
        console.error(`\n--- last ${tailLinesOnFailure} log lines of ${id} (${this.logPath(id)}):\n${this.tail(id)}`);
      }
      console.error(`\n--- the cluster's temp dir is kept for inspection: ${this.dir}\n`);
    } else if (existsSync(this.dir)) {
      rmSync(this.dir, { recursive: true, force: true });
    }
  }
}

/** A harness line as the log shows it: the harness's notes and stdout tagged, stderr (JSON) as is. */
function tagged(line: string, source: LineSource): string {
  return source === 'harness' ? `--- harness: ${line}` : source === 'stdout' ? `stdout: ${line}` : line;
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
