// Delay jitter for `npm run bench:parallel`, and the parent's handle on the proxy process that
// applies it. This kernel has no netem (CONFIG_NET_SCH_NETEM is off), so every connection that
// touches the jittered follower runs through a TCP relay (bench/lib/parallel-proxy.ts) that holds
// each chunk a normally distributed time; a chunk never overtakes an earlier one of the same
// connection (a byte stream cannot reorder), so messages reorder only across connections.

import { fork, type ChildProcess } from 'node:child_process';
import type { ProcessGroup } from './procs.ts';

// The delay arithmetic is the WAN emulator's (bench/lib/net/), which grew out of this relay.
export { jitterDelayMs, releaseAtMs } from './net/profiles.ts';

/** The relay's messages (parent -> proxy, proxy -> parent). */
export type ToProxy =
  | { readonly type: 'link'; readonly name: string; readonly targetPort: number }
  | { readonly type: 'jitter'; readonly ms: number; readonly seed: number }
  | { readonly type: 'stats' }
  | { readonly type: 'exit' };

export interface ProxyStats {
  readonly type: 'stats';
  /** Realized hold per chunk since the last 'jitter' (bench/lib/histogram.ts counts). */
  readonly histogram: number[];
  readonly chunks: number;
  readonly bytes: number;
  readonly connections: number;
}

export type FromProxy =
  | { readonly type: 'ready' }
  | { readonly type: 'linked'; readonly name: string; readonly port: number }
  | { readonly type: 'jittered' }
  | ProxyStats
  | { readonly type: 'failed'; readonly message: string };

/** The proxy process, driven over IPC one request at a time. */
export class JitterProxy {
  readonly #child: ChildProcess;
  readonly #group: ProcessGroup;
  #waiting: ((m: FromProxy) => void) | null = null;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(script: string, group: ProcessGroup) {
    this.#group = group;
    this.#child = fork(script, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'], detached: true });
    this.#child.on('message', (m: FromProxy) => {
      const w = this.#waiting;
      this.#waiting = null;
      w?.(m);
    });
    group.add('jitter proxy', this.#child);
  }

  get child(): ChildProcess {
    return this.#child;
  }

  #ask<T extends FromProxy['type']>(msg: ToProxy | null, expect: T): Promise<Extract<FromProxy, { type: T }>> {
    const run = async (): Promise<Extract<FromProxy, { type: T }>> => {
      const answer = new Promise<FromProxy>((r) => { this.#waiting = r; });
      if (msg !== null) this.#child.send(msg);
      const m = await Promise.race([answer, this.#group.crashed]);
      if (m.type === 'failed') throw new Error(`jitter proxy: ${m.message}`);
      if (m.type !== expect) throw new Error(`jitter proxy answered ${m.type}, expected ${expect}`);
      return m as Extract<FromProxy, { type: T }>;
    };
    // The first request ('ready') starts at once: the child may answer before a microtask turn.
    const p = msg === null ? run() : this.#queue.then(run, run);
    this.#queue = p.catch(() => {});
    return p;
  }

  /** Resolves once the proxy process listens for requests (call it first, right after construction). */
  ready(): Promise<unknown> {
    return this.#ask(null, 'ready');
  }

  /** A new relay on 127.0.0.1 to 127.0.0.1:targetPort; resolves with the port it listens on. */
  async link(name: string, targetPort: number): Promise<number> {
    return (await this.#ask({ type: 'link', name, targetPort }, 'linked')).port;
  }

  /** Sets the jitter of every relay (0: pass through) and clears the realized-delay counts. */
  async setJitter(ms: number, seed: number): Promise<void> {
    await this.#ask({ type: 'jitter', ms, seed }, 'jittered');
  }

  stats(): Promise<ProxyStats> {
    return this.#ask({ type: 'stats' }, 'stats');
  }

  async stop(): Promise<void> {
    if (this.#child.connected) this.#child.send({ type: 'exit' } satisfies ToProxy);
    await this.#group.release(this.#child, 5000);
  }
}
