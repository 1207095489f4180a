// A cluster of `edgeraft peer` child processes on this machine, shared by `edgeraft start`, the
// end-to-end tests and the benchmarks: its layout (ids, ports, data dirs, --peers, secret file),
// each member's lifecycle (start, stop, kill, restart, pause) and the leader its members agree on.

import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MemberRun, type ExitInfo, type LineSource } from './local-member.ts';
import { agreedLeader, describeViews, fetchHealth, freePorts, scrapeMetrics, type MemberHealth } from './local-probe.ts';
import { parseSecretFile } from '../transport/credentials.ts';

export type { ExitInfo, LineSource } from './local-member.ts';
export { agreedLeader, freePorts, portFree, type MemberHealth } from './local-probe.ts';

/** Members one harness runs at most (bootstrapped plus added). */
export const localMembersMax = 64;

/** Every wait and bound of the harness; each can be given per cluster. */
export interface LocalClusterLimits {
  /** From spawn to the member's 'started' log line. */
  readonly startTimeoutMs: number;
  /** From SIGTERM to SIGKILL in stop() and close(). */
  readonly stopGraceMs: number;
  /** After a member exited, how long its pipes may stay open. */
  readonly pipeDrainMs: number;
  /** One GET /healthz or /metrics. */
  readonly httpTimeoutMs: number;
  /** Between two rounds of /healthz while waiting for a leader. */
  readonly pollIntervalMs: number;
  /** leader() without its own timeout. */
  readonly leaderTimeoutMs: number;
  /** Lines of output (and harness notes) kept per member for error messages. */
  readonly tailLines: number;
  /** Lines of that tail an error message shows. */
  readonly errorTailLines: number;
}

export const defaultLocalClusterLimits: LocalClusterLimits = {
  startTimeoutMs: 20_000, stopGraceMs: 5_000, pipeDrainMs: 2_000, httpTimeoutMs: 1_000, pollIntervalMs: 100,
  leaderTimeoutMs: 15_000, tailLines: 200, errorTailLines: 15,
};

export interface LocalClusterOptions {
  /** Members bootstrapped from --peers: `${idPrefix}1` .. `${idPrefix}${size}`. */
  readonly size: number;
  /** Default 'n'. */
  readonly idPrefix?: string;
  /** Member X keeps its data in DIR/X and, with logFiles, its output in DIR/X.log. */
  readonly dir: string;
  /** --secret-file of every member (default DIR/secret; see ensureSecretFile). */
  readonly secretFile?: string;
  /** The CLI file node runs: dist/node/cli.js, or src/runtime-node/cli.ts with nodeArgs ['--import', 'tsx']. */
  readonly cli: string;
  readonly nodeArgs?: readonly string[];
  /** Node flags of one member, after nodeArgs (a CPU profile directory, say). */
  readonly memberNodeArgs?: (id: string) => readonly string[];
  /** One per bootstrap member, in order; create() picks free ones when absent. */
  readonly ports?: readonly number[];
  /** The address a member listens on (default 127.0.0.1). */
  readonly host?: string | ((id: string) => string);
  /** Flags after the layout's, for every member, then memberArgs(id). */
  readonly args?: readonly string[];
  /**
   * Run every member with TLS (--tls-cert, --tls-key, --tls-ca; --peer-mtls when asked): their
   * addresses become wss:// and https://, and the harness's own requests trust caFile.
   */
  readonly tls?: LocalTls;
  readonly memberArgs?: (id: string) => readonly string[];
  /** A member's --peers (default: every bootstrap member at its address; an added member adds itself). */
  readonly peersOf?: (id: string) => string;
  /** A command a member runs under, which must exec it in place so signals reach the peer (`ip netns exec NS`). */
  readonly spawnPrefix?: (id: string) => readonly string[];
  readonly cwd?: string;
  /** The members' environment (default: this process's). */
  readonly env?: NodeJS.ProcessEnv;
  /** Append each member's output to DIR/ID.log (default true). */
  readonly logFiles?: boolean;
  /** Every line of output, and the harness's notes of what it did to the member. */
  readonly onLine?: (id: string, line: string, source: LineSource) => void;
  /** Each run's end, after its output was read. */
  readonly onExit?: (id: string, exit: ExitInfo) => void;
  /** Members in their own process group and with --exit-with-parent (default true): see RunSpec. */
  readonly detached?: boolean;
  readonly exitWithParent?: boolean;
  /** SIGKILL members still running when this process exits (default true). */
  readonly killOnExit?: boolean;
  readonly limits?: Partial<LocalClusterLimits>;
}

/** A member did not reach 'started': which one, where, why, and the end of its output. */
export class MemberStartError extends Error {
  override readonly name = 'MemberStartError';

  constructor(readonly id: string, readonly addr: string, readonly reason: string, readonly logTail: readonly string[]) {
    super(`${id} (${addr}) did not start: ${reason}; ${logTail.length === 0 ? 'it wrote nothing'
      : `its last ${logTail.length} lines:\n${logTail.map((l) => `    ${l}`).join('\n')}`}`);
  }
}

export interface LocalTls {
  readonly certFile: string;
  readonly keyFile: string;
  readonly caFile: string;
  readonly peerMtls?: boolean;
}

export interface StartOverrides {
  readonly port?: number;
  readonly peers?: string;
  /** Flags after every other. */
  readonly args?: readonly string[];
}

interface Member {
  readonly id: string;
  readonly port: number;
  /** Added after bootstrap: started with --join. */
  readonly joins: boolean;
  readonly tail: string[];
  run: MemberRun | null;
}

/** Every run of every harness that asked for killOnExit, for the one exit hook. */
const exitKillList = new Set<MemberRun>();
let exitHookInstalled = false;

function checkLimits(given: Partial<LocalClusterLimits>): LocalClusterLimits {
  const limits = { ...defaultLocalClusterLimits, ...given };
  for (const [name, v] of Object.entries(limits)) {
    if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`local cluster: limits.${name} must be an integer >= 1 (got ${v})`);
  }
  if (limits.errorTailLines > limits.tailLines) throw new RangeError(`local cluster: limits.errorTailLines (${limits.errorTailLines}) exceeds limits.tailLines (${limits.tailLines})`);
  return limits;
}

/** Reads PATH, or writes a new random secret there (mode 0600) first; warns when others may read it. */
export function ensureSecretFile(path: string): { secret: string; warning: string | null } {
  if (!existsSync(path)) writeFileSync(path, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
  const warning = (statSync(path).mode & 0o077) !== 0 ? `${path} is readable by group or others (chmod 600 it)` : null;
  // The first secret of the file (one per line: a rotation's overlap) is the one that signs.
  const secret = parseSecretFile(readFileSync(path, 'utf8'), path)[0]!;
  return { secret, warning };
}

export class LocalCluster {
  readonly dir: string;
  readonly secretFile: string;
  readonly limits: LocalClusterLimits;
  readonly #o: LocalClusterOptions;
  readonly #members = new Map<string, Member>();
  readonly #bootstrap: readonly string[];
  /** The CA's PEM for the harness's own https:// requests (TLS clusters). */
  readonly #ca: string | undefined;
  #closed = false;

  /** Picks free ports when options.ports is absent; starts nothing. */
  static async create(o: LocalClusterOptions): Promise<LocalCluster> {
    const host = typeof o.host === 'string' ? o.host : '127.0.0.1';
    return new LocalCluster(o.ports !== undefined ? o : { ...o, ports: await freePorts(o.size, host) });
  }

  constructor(o: LocalClusterOptions) {
    if (!Number.isInteger(o.size) || o.size < 1 || o.size > localMembersMax) throw new RangeError(`local cluster: size must be an integer in 1..${localMembersMax} (got ${o.size})`);
    const ports = o.ports;
    if (ports === undefined || ports.length !== o.size) throw new RangeError(`local cluster: ${o.size} ports needed, got ${ports?.length ?? 'none'} (LocalCluster.create picks free ones)`);
    for (const p of ports) if (!Number.isInteger(p) || p < 1 || p > 65_535) throw new RangeError(`local cluster: port ${p} is not in 1..65535`);
    if (new Set(ports).size !== ports.length) throw new RangeError(`local cluster: ports ${ports.join(', ')} repeat`);
    this.#o = o;
    this.limits = checkLimits(o.limits ?? {});
    this.dir = o.dir;
    this.secretFile = o.secretFile ?? join(o.dir, 'secret');
    this.#ca = o.tls !== undefined ? readFileSync(o.tls.caFile, 'utf8') : undefined;
    this.#bootstrap = ports.map((_, i) => `${o.idPrefix ?? 'n'}${i + 1}`);
    ports.forEach((port, i) => this.#members.set(this.#bootstrap[i]!, { id: this.#bootstrap[i]!, port, joins: false, tail: [], run: null }));
  }

  #member(id: string): Member {
    const m = this.#members.get(id);
    if (m === undefined) throw new Error(`no member '${id}' in this cluster (members: ${this.ids.join(', ')})`);
    return m;
  }

  // ---- layout -------------------------------------------------------------------------------

  /** Every member, bootstrapped or added, started or not. */
  get ids(): string[] {
    return [...this.#members.keys()];
  }

  get bootstrapIds(): readonly string[] {
    return this.#bootstrap;
  }

  host(id: string): string {
    this.#member(id);
    const h = this.#o.host;
    return h === undefined ? '127.0.0.1' : typeof h === 'string' ? h : h(id);
  }

  port(id: string): number {
    return this.#member(id).port;
  }

  /** HOST:PORT */
  addr(id: string): string {
    return `${this.host(id)}:${this.port(id)}`;
  }

  /** Whether members run with TLS (wss://, https://). */
  get tls(): LocalTls | null {
    return this.#o.tls ?? null;
  }

  url(id: string): string {
    return `${this.#o.tls !== undefined ? 'wss' : 'ws'}://${this.addr(id)}`;
  }

  httpBase(id: string): string {
    return `${this.#o.tls !== undefined ? 'https' : 'http'}://${this.addr(id)}`;
  }

  dataDir(id: string): string {
    return join(this.dir, this.#member(id).id);
  }

  logPath(id: string): string {
    return join(this.dir, `${this.#member(id).id}.log`);
  }

  /** `ID=HOST:PORT,...` for --peers (default: the bootstrap members). */
  peersFlag(ids: readonly string[] = this.#bootstrap): string {
    return ids.map((id) => `${id}=${this.addr(id)}`).join(',');
  }

  /** A member that joins after bootstrap (started with --join), on `port` or a free one. */
  async addMember(id: string, port?: number): Promise<void> {
    if (this.#members.has(id)) throw new Error(`member '${id}' exists already`);
    if (this.#members.size >= localMembersMax) throw new Error(`a local cluster has at most ${localMembersMax} members`);
    const p = port ?? (await freePorts(1, typeof this.#o.host === 'string' ? this.#o.host : '127.0.0.1'))[0]!;
    this.#members.set(id, { id, port: p, joins: true, tail: [], run: null });
  }

  /** The argv after the CLI file that starts member `id` (without --exit-with-parent, which only a harness-run member gets). */
  args(id: string, o: StartOverrides = {}): string[] {
    const m = this.#member(id);
    const peers = o.peers ?? this.#o.peersOf?.(id) ?? this.peersFlag(m.joins ? [...this.#bootstrap, id] : this.#bootstrap);
    return [
      'peer', '--id', id, '--listen', `${this.host(id)}:${o.port ?? m.port}`, '--peers', peers, '--data', this.dataDir(id),
      '--secret-file', this.secretFile, ...(m.joins ? ['--join'] : []), ...tlsArgs(this.#o.tls),
      ...(this.#o.args ?? []), ...(this.#o.memberArgs?.(id) ?? []), ...(o.args ?? []),
    ];
  }

  // ---- processes ----------------------------------------------------------------------------

  /**
   * Spawns member `id` now; `started` resolves when it logs 'started' (so it listens: members
   * must log at level info or lower) and rejects with a MemberStartError if it exits first or
   * takes longer than limits.startTimeoutMs (it is left running then: stop it or close()).
   */
  launch(id: string, o: StartOverrides = {}): { readonly pid: number | null; readonly started: Promise<void> } {
    if (this.#closed) throw new Error('the local cluster was closed');
    const m = this.#member(id);
    if (m.run?.running === true) throw new Error(`${id} is running already (pid ${m.run.pid})`);
    mkdirSync(this.dir, { recursive: true });
    const argv = [
      ...(this.#o.spawnPrefix?.(id) ?? []), process.execPath, ...(this.#o.nodeArgs ?? []), ...(this.#o.memberNodeArgs?.(id) ?? []),
      this.#o.cli, ...this.args(id, o), ...(this.#o.exitWithParent !== false ? ['--exit-with-parent'] : []),
    ];
    let onStarted = () => {};
    const sawStarted = new Promise<void>((resolveStarted) => { onStarted = resolveStarted; });
    const run = new MemberRun({
      argv, cwd: this.#o.cwd, env: this.#o.env, detached: this.#o.detached !== false, stdinPipe: this.#o.exitWithParent !== false,
      logPath: this.#o.logFiles === false ? null : this.logPath(id), pipeDrainMs: this.limits.pipeDrainMs,
    }, (line, source) => {
      this.#record(m, line, source);
      if (source === 'stderr' && isStartedLine(line)) onStarted();
    });
    m.run = run;
    this.#record(m, `spawned ${id} (pid ${run.pid ?? 'none'}): ${argv.join(' ')}`, 'harness');
    if (this.#o.killOnExit !== false) trackForExit(run);
    void run.closed.then((exit) => {
      exitKillList.delete(run);
      this.#record(m, `${id} (pid ${run.pid ?? 'none'}) exited: code ${exit.code}, signal ${exit.signal}${exit.error !== undefined ? `, error ${exit.error}` : ''}`, 'harness');
      this.#o.onExit?.(id, exit);
    });
    const started = this.#started(m, run, sawStarted);
    started.catch(() => {});
    return { pid: run.pid, started };
  }

  async #started(m: Member, run: MemberRun, sawStarted: Promise<void>): Promise<void> {
    const timeoutMs = this.limits.startTimeoutMs;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<string>((resolveTimeout) => {
      timer = setTimeout(() => resolveTimeout(`no 'started' log line within ${timeoutMs} ms (pid ${run.pid} still runs)`), timeoutMs);
    });
    const exited = run.closed.then((e) => (e.error !== undefined ? `it could not be spawned: ${e.error}` : `it exited (code ${e.code}, signal ${e.signal}) before logging 'started'`));
    try {
      const failure = await Promise.race([sawStarted.then(() => null), exited, timedOut]);
      if (failure !== null) throw new MemberStartError(m.id, this.addr(m.id), failure, this.tail(m.id, this.limits.errorTailLines));
    } finally {
      clearTimeout(timer);
    }
  }

  /** launch() and wait for 'started'. */
  start(id: string, o: StartOverrides = {}): Promise<void> {
    return this.launch(id, o).started;
  }

  /** Starts every bootstrap member that is not running, in parallel; rejects with the first failure. */
  async startAll(): Promise<void> {
    await Promise.all(this.#bootstrap.filter((id) => !this.isRunning(id)).map((id) => this.start(id)));
  }

  #record(m: Member, line: string, source: LineSource): void {
    m.tail.push(source === 'harness' ? `--- ${line}` : line);
    if (m.tail.length > this.limits.tailLines) m.tail.splice(0, m.tail.length - this.limits.tailLines);
    this.#o.onLine?.(m.id, line, source);
  }

  /** The last `n` lines of `id`'s output over all its runs, with the harness's notes ('--- '). */
  tail(id: string, n = this.limits.errorTailLines): string[] {
    return this.#member(id).tail.slice(-n);
  }

  isRunning(id: string): boolean {
    return this.#member(id).run?.running === true;
  }

  isPaused(id: string): boolean {
    return this.#member(id).run?.paused === true;
  }

  /** The pid of `id`'s process while it runs, else null. */
  pid(id: string): number | null {
    const run = this.#member(id).run;
    return run?.running === true ? run.pid : null;
  }

  /** `id`'s current process while it runs (to read its CPU time, say), else null. */
  child(id: string): ChildProcess | null {
    const run = this.#member(id).run;
    return run?.running === true ? run.child : null;
  }

  /** Resolves when `id`'s latest run ends (on its own or signalled); throws if it never ran. */
  exited(id: string): Promise<ExitInfo> {
    const run = this.#member(id).run;
    if (run === null) throw new Error(`${id} was never started`);
    return run.closed;
  }

  #running(id: string, what: string): MemberRun {
    const run = this.#member(id).run;
    if (run === null || !run.running) throw new Error(`${id} is not running: cannot ${what} it`);
    return run;
  }

  /** SIGKILL: a crash. Resolves once the process is gone. */
  kill(id: string): Promise<ExitInfo> {
    return this.#running(id, 'kill').kill();
  }

  /** SIGTERM, then SIGKILL after `graceMs` (default limits.stopGraceMs); resolves with how it exited. */
  stop(id: string, graceMs = this.limits.stopGraceMs): Promise<ExitInfo> {
    return this.#running(id, 'stop').stop(graceMs);
  }

  /** Stops `id` if it runs (SIGTERM when `graceful`, else SIGKILL) and starts it again on its data. */
  async restart(id: string, o: { graceful?: boolean } & StartOverrides = {}): Promise<void> {
    if (this.isRunning(id)) {
      if (o.graceful === true) await this.stop(id);
      else await this.kill(id);
    }
    await this.start(id, o);
  }

  /** SIGHUP: the member reloads its TLS certificate files (Peer.reload). */
  hangup(id: string): void {
    this.#running(id, 'signal').signal('SIGHUP');
  }

  /** SIGSTOP: the process freezes (a long GC pause, a VM stall) with its sockets open. */
  pause(id: string): void {
    const run = this.#running(id, 'pause');
    run.signal('SIGSTOP');
    run.paused = true;
  }

  resume(id: string): void {
    const run = this.#running(id, 'resume');
    run.signal('SIGCONT');
    run.paused = false;
  }

  // ---- members' views -----------------------------------------------------------------------

  health(id: string): Promise<MemberHealth> {
    return fetchHealth(this.httpBase(id), this.limits.httpTimeoutMs, this.#ca);
  }

  /** The view of every member that runs and is not paused (or the error asking it gave). */
  async healths(): Promise<Map<string, MemberHealth | Error>> {
    const ids = this.ids.filter((id) => this.isRunning(id) && !this.isPaused(id));
    const views = await Promise.all(ids.map((id) => this.health(id).catch((err: Error) => err)));
    return new Map(ids.map((id, i) => [id, views[i]!]));
  }

  /**
   * Waits until every running, unpaused member names one leader in its term, that leader says it
   * leads, and they are a majority of all members; returns its id.
   */
  async leader(timeoutMs = this.limits.leaderTimeoutMs): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    let views = new Map<string, MemberHealth | Error>();
    for (;;) {
      if (this.#closed) throw new Error('the local cluster was closed while waiting for a leader');
      views = await this.healths();
      const leader = agreedLeader(views, this.#members.size);
      if (leader !== null) return leader;
      if (Date.now() >= deadline) break;
      await new Promise((r) => setTimeout(r, this.limits.pollIntervalMs));
    }
    const down = this.ids.filter((id) => !this.isRunning(id));
    throw new Error(`no leader agreed on within ${timeoutMs} ms; ${describeViews(views) || 'no member runs'}` +
      `${down.length > 0 ? `; not running: ${down.join(', ')}` : ''}`);
  }

  /** `id`'s /metrics: `name{labels}` -> value. */
  metrics(id: string): Promise<Map<string, number>> {
    return scrapeMetrics(this.httpBase(id), this.limits.httpTimeoutMs, this.#ca);
  }

  // ---- the end ------------------------------------------------------------------------------

  /** Stops every running member (SIGTERM, SIGKILL after `graceMs`) and waits until each is gone; idempotent. */
  async close(graceMs = this.limits.stopGraceMs): Promise<void> {
    this.#closed = true;
    await Promise.all([...this.#members.values()].map((m) => (m.run !== null ? m.run.stop(graceMs) : null)));
  }

  /** SIGKILL to every running member, now (for an exit hook or a second Ctrl-C, which cannot wait). */
  killAll(): void {
    for (const m of this.#members.values()) m.run?.signal('SIGKILL');
  }
}

function tlsArgs(tls: LocalTls | undefined): string[] {
  if (tls === undefined) return [];
  return ['--tls-cert', tls.certFile, '--tls-key', tls.keyFile, '--tls-ca', tls.caFile, ...(tls.peerMtls === true ? ['--peer-mtls'] : [])];
}

function trackForExit(run: MemberRun): void {
  exitKillList.add(run);
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const r of exitKillList) r.signal('SIGKILL');
  });
}

function isStartedLine(line: string): boolean {
  if (!line.startsWith('{') || !line.includes('"msg":"started"')) return false;
  try {
    return (JSON.parse(line) as { msg?: unknown }).msg === 'started';
  } catch {
    return false;
  }
}
