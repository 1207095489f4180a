// One run of a local-cluster member: the child process from spawn to the close of its pipes. Its
// stdout and stderr are read line by line (and appended to a log file when asked), its exit is
// tracked, and it is signalled through its own ChildProcess handle only, never by a pid or a name.

import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { createInterface } from 'node:readline';

export interface ExitInfo {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** Set when the process could not be spawned at all (a missing executable, say). */
  readonly error?: string;
}

/** Where a line came from: the member's own output, or the harness saying what it did to it. */
export type LineSource = 'stdout' | 'stderr' | 'harness';

export interface RunSpec {
  readonly argv: readonly string[];
  readonly cwd: string | undefined;
  readonly env: NodeJS.ProcessEnv | undefined;
  /** Its own process group: a terminal's Ctrl-C reaches only the parent, which stops each member once. */
  readonly detached: boolean;
  /** stdin is a pipe the member may watch (--exit-with-parent); otherwise it is /dev/null. */
  readonly stdinPipe: boolean;
  /** Appends the member's output here (not the harness's notes); null keeps it in memory only. */
  readonly logPath: string | null;
  /** After the process exited, how long its pipes may stay open before the run counts as closed. */
  readonly pipeDrainMs: number;
}

export class MemberRun {
  readonly child: ChildProcess;
  /** Resolves once the process exited and its output was read (or pipeDrainMs passed). */
  readonly closed: Promise<ExitInfo>;
  /** Stopped by SIGSTOP and not yet continued. */
  paused = false;
  readonly #note: (text: string) => void;
  #exit: ExitInfo | null = null;

  constructor(spec: RunSpec, onLine: (line: string, source: LineSource) => void) {
    this.#note = (text) => onLine(text, 'harness');
    const [cmd, ...args] = spec.argv;
    if (cmd === undefined) throw new Error('a member needs a command to run');
    this.child = spawn(cmd, args, {
      cwd: spec.cwd, env: spec.env, detached: spec.detached, stdio: [spec.stdinPipe ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    });
    // An EPIPE on stdin after the member exited must not become an uncaught error of the parent.
    this.child.stdin?.on('error', () => {});
    const log: WriteStream | null = spec.logPath !== null ? createWriteStream(spec.logPath, { flags: 'a' }) : null;
    log?.on('error', (err) => this.#note(`cannot write ${spec.logPath}: ${err.message}`));
    for (const [stream, source] of [[this.child.stdout, 'stdout'], [this.child.stderr, 'stderr']] as const) {
      if (stream === null) continue;
      createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) => {
        log?.write(`${line}\n`);
        onLine(line, source);
      });
    }
    this.closed = new Promise<ExitInfo>((resolveClosed) => {
      let drain: ReturnType<typeof setTimeout> | undefined;
      const done = (info: ExitInfo) => {
        if (this.#exit !== null) return;
        clearTimeout(drain);
        this.#exit = info;
        this.paused = false;
        log?.end();
        resolveClosed(info);
      };
      this.child.once('error', (err) => done({ code: null, signal: null, error: err.message }));
      this.child.once('close', (code, signal) => done({ code, signal }));
      // A process that handed its pipes to another would otherwise hold 'close' back for ever.
      this.child.once('exit', (code, signal) => {
        drain = setTimeout(() => done({ code, signal }), spec.pipeDrainMs);
      });
    });
  }

  get pid(): number | null {
    return this.child.pid ?? null;
  }

  /** Spawned and not exited (it may be paused). */
  get running(): boolean {
    return this.#exit === null && this.child.pid !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** How the run ended, once it did. */
  get exit(): ExitInfo | null {
    return this.#exit;
  }

  /** Sends `sig` to this run's process; false (and nothing sent) when it is not running. */
  signal(sig: NodeJS.Signals): boolean {
    if (!this.running) return false;
    this.#note(`${sig} to pid ${this.child.pid}`);
    return this.child.kill(sig);
  }

  /** SIGKILL: a crash. Resolves once the run closed. */
  kill(): Promise<ExitInfo> {
    this.signal('SIGKILL');
    return this.closed;
  }

  /** SIGTERM (after SIGCONT if paused), then SIGKILL when it is still up after `graceMs`. */
  async stop(graceMs: number): Promise<ExitInfo> {
    if (!this.running) return this.closed;
    // A stopped process cannot act on SIGTERM.
    if (this.paused) this.signal('SIGCONT');
    this.paused = false;
    this.signal('SIGTERM');
    const timer = setTimeout(() => {
      if (!this.running) return;
      this.#note(`pid ${this.child.pid} did not exit within ${graceMs} ms of SIGTERM: SIGKILL`);
      this.signal('SIGKILL');
    }, graceMs);
    try {
      return await this.closed;
    } finally {
      clearTimeout(timer);
    }
  }
}
