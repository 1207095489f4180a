// The WAN link emulator's handle in the parent (`--net PROFILE`): it forks the relay process(es)
// (relay.ts), asks for one relay port per ordered member pair and per client region and member,
// and reads back what the relays did. This kernel has no netem, so the WAN is made in userspace.

import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Histogram, signedQuantileMs } from '../histogram.ts';
import type { ProcessGroup } from '../procs.ts';
import { oneWayMs, validateProfile, type JitterShape, type NetProfile } from './profiles.ts';

/**
 * What one direction of one link carried since the last resetStats(). Names put the dialer on the
 * left and show the data's way: `n1->n2` is n1's data on the connections n1 dialed to n2, `n1<-n2`
 * n2's replies on them; clients dial from their region (`us-east->n1`, `us-east<-n1`).
 */
export interface LinkStats {
  readonly name: string;
  readonly chunks: number;
  readonly bytes: number;
  /** Realized hold per chunk (arrival at the relay to the write on), not the drawn delay. */
  readonly heldP50Ms: number;
  readonly heldP99Ms: number;
  /** Chunks held an extra rtoMs as lost. */
  readonly lost: number;
  /** Connections opened on the link since the last reset. */
  readonly connections: number;
}
export interface NetStats { readonly links: LinkStats[]; readonly timerLagP50Ms: number; readonly timerLagP99Ms: number; readonly eventLoopLagP99Ms: number }

/** The relay process's settings (its argv, as JSON): the profile's per-chunk rules, without the geography. */
export interface RelayConfig {
  readonly seed: number;
  readonly jitter: JitterShape;
  readonly jitterMs: number;
  readonly jitterPeriodMs: number;
  readonly loss: number;
  readonly rtoMs: number;
  readonly bandwidthMbps: number | null;
}

/** One direction of a link: its stats name, one-way latency, and the bandwidth bucket it draws on. */
export interface DirectionSpec {
  readonly stat: string;
  readonly delayMs: number;
  readonly bucket: string | null;
}

export type ToRelay =
  | { readonly id: number; readonly type: 'link'; readonly name: string; readonly targetPort: number; readonly out: DirectionSpec; readonly back: DirectionSpec }
  | { readonly id: number; readonly type: 'stats' }
  | { readonly id: number; readonly type: 'reset' }
  | { readonly type: 'exit' };

export type FromRelay =
  | { readonly type: 'ready' }
  | { readonly id: number; readonly type: 'linked'; readonly port: number }
  | {
    readonly id: number; readonly type: 'stats'; readonly links: LinkStats[];
    readonly timerLate: ArrayLike<number>; readonly timerEarly: ArrayLike<number>; readonly eventLoopLagP99Ms: number;
  }
  | { readonly id: number; readonly type: 'reset' }
  | { readonly id: number; readonly type: 'failed'; readonly message: string };

type Answer<T extends FromRelay['type']> = Extract<FromRelay, { type: T }>;

export interface NetEmulatorOptions {
  /**
   * Relay processes (default 1). With 2, each member pair's links (both dial directions share a
   * bandwidth bucket) and each client link live in one of them, in turn.
   */
  readonly processes?: number;
  /** More node flags for the relay processes (`--cpu-prof --cpu-prof-dir DIR` to see where their time goes). */
  readonly nodeArgs?: readonly string[];
}

const relayScript = fileURLToPath(new URL('./relay.ts', import.meta.url));
const processesMax = 4;

/** One relay process, answering requests by id (several may be in flight). */
class RelayProcess {
  readonly child: ChildProcess;
  readonly ready: Promise<void>;
  readonly #group: ProcessGroup;
  readonly #pending = new Map<number, (m: FromRelay) => void>();
  #nextId = 1;

  constructor(config: RelayConfig, group: ProcessGroup, name: string, nodeArgs: readonly string[]) {
    this.#group = group;
    // 'advanced' carries NaN (an empty histogram's quantile) and typed arrays as they are.
    this.child = fork(relayScript, [JSON.stringify(config)], {
      execArgv: ['--import', 'tsx', ...nodeArgs], stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'advanced', detached: true,
    });
    group.add(name, this.child);
    let readyNow = (): void => {};
    const sawReady = new Promise<void>((r) => { readyNow = r; });
    this.child.on('message', (m: FromRelay) => {
      if (m.type === 'ready') return readyNow();
      const answer = this.#pending.get(m.id);
      this.#pending.delete(m.id);
      answer?.(m);
    });
    this.ready = Promise.race([sawReady, group.crashed]);
  }

  async ask<T extends FromRelay['type']>(msg: ToRelayBody, expect: T): Promise<Answer<T>> {
    const id = this.#nextId++;
    const answer = new Promise<FromRelay>((r) => this.#pending.set(id, r));
    this.child.send({ ...msg, id } as ToRelay);
    const m = await Promise.race([answer, this.#group.crashed]);
    if (m.type === 'failed') throw new Error(`net relay: ${m.message}`);
    if (m.type !== expect) throw new Error(`net relay answered ${m.type}, expected ${expect}`);
    return m as Answer<T>;
  }

  async stop(): Promise<void> {
    if (this.child.connected) this.child.send({ type: 'exit' } satisfies ToRelay);
    await this.#group.release(this.child, 5000);
  }
}

type ToRelayBody = ToRelay extends infer M ? (M extends { readonly id: number } ? Omit<M, 'id'> : never) : never;

interface Routed {
  readonly index: number;
  readonly members: number;
  readonly port: number;
}

export class NetEmulator {
  readonly profile: NetProfile;
  readonly #relays: readonly RelayProcess[];
  readonly #members = new Map<string, Routed>();
  /** Client links by `${region}>${id}`. */
  readonly #clientPorts = new Map<string, Promise<number>>();
  /** Links handed out so far, to spread them over the relay processes in turn. */
  #placed = 0;

  private constructor(profile: NetProfile, relays: readonly RelayProcess[]) {
    this.profile = profile;
    this.#relays = relays;
  }

  static async start(profile: NetProfile, group: ProcessGroup, seed: number, options: NetEmulatorOptions = {}): Promise<NetEmulator> {
    validateProfile(profile);
    const n = options.processes ?? 1;
    if (!(Number.isInteger(n) && n >= 1 && n <= processesMax)) throw new RangeError(`net emulator: processes must be an integer in [1, ${processesMax}] (got ${n})`);
    const config: RelayConfig = {
      seed: seed >>> 0, jitter: profile.jitter, jitterMs: profile.jitterMs, jitterPeriodMs: profile.jitterPeriodMs ?? 0, loss: profile.loss, rtoMs: profile.rtoMs, bandwidthMbps: profile.bandwidthMbps,
    };
    // Each process its own seed: the same link draws the same delays whichever process holds it.
    const relays = Array.from({ length: n }, (_, i) => new RelayProcess(config, group, `net relay ${i + 1} (${profile.name})`, options.nodeArgs ?? []));
    const emulator = new NetEmulator(profile, relays);
    try {
      await Promise.all(relays.map((r) => r.ready));
    } catch (err) {
      await emulator.stop();
      throw err;
    }
    return emulator;
  }

  #nextRelay(): RelayProcess {
    return this.#relays[this.#placed++ % this.#relays.length]!;
  }

  /** Relays for every ordered member pair; returns each member's --peers value (id=127.0.0.1:port,...). */
  async routePeers(ids: readonly string[], ports: readonly number[]): Promise<(viewerId: string) => string> {
    if (ids.length !== ports.length) throw new RangeError(`net emulator: ${ids.length} ids but ${ports.length} ports`);
    if (new Set(ids).size !== ids.length) throw new RangeError(`net emulator: ids repeat (${ids.join(', ')})`);
    ids.forEach((id, index) => {
      this.#members.set(id, { index, members: ids.length, port: ports[index]! });
      // A new cluster with the same ids: its members listen elsewhere.
      for (const key of [...this.#clientPorts.keys()]) if (key.endsWith(`>${id}`)) this.#clientPorts.delete(key);
    });
    const via = new Map<string, number>();
    const asks: Array<Promise<void>> = [];
    for (let a = 0; a < ids.length; a++) {
      for (let b = a + 1; b < ids.length; b++) {
        // Both dial directions of a pair in one process: they share the pair's bandwidth buckets.
        const relay = this.#nextRelay();
        for (const [i, j] of [[a, b], [b, a]] as const) {
          const from = ids[i]!;
          const to = ids[j]!;
          const delayMs = oneWayMs(this.profile, this.regionOf(from), this.regionOf(to));
          asks.push(relay.ask({
            type: 'link', name: `${from}>${to}`, targetPort: ports[j]!,
            out: { stat: `${from}->${to}`, delayMs, bucket: `${from}->${to}` },
            back: { stat: `${from}<-${to}`, delayMs, bucket: `${to}->${from}` },
          }, 'linked').then((m) => { via.set(`${from}>${to}`, m.port); }));
        }
      }
    }
    await Promise.all(asks);
    return (viewerId) => ids.map((id, i) => `${id}=127.0.0.1:${via.get(`${viewerId}>${id}`) ?? ports[i]}`).join(',');
  }

  /** A ws://127.0.0.1:PORT URL that reaches member `id` from a client in `region` (created on first use, cached). */
  async clientUrl(region: number, id: string): Promise<string> {
    const regionName = this.profile.regions[region];
    if (regionName === undefined) throw new RangeError(`net profile '${this.profile.name}' has no region ${region} (regions: ${this.profile.regions.map((r, i) => `${i} ${r}`).join(', ')})`);
    const to = this.regionOf(id);
    const key = `${region}>${id}`;
    let port = this.#clientPorts.get(key);
    if (port === undefined) {
      const delayMs = oneWayMs(this.profile, region, to);
      // '@' keeps a client region's buckets apart from a member that happens to share its name.
      port = this.#nextRelay().ask({
        type: 'link', name: `${regionName}>${id}`, targetPort: this.#member(id).port,
        out: { stat: `${regionName}->${id}`, delayMs, bucket: `@${regionName}->${id}` },
        back: { stat: `${regionName}<-${id}`, delayMs, bucket: `${id}->@${regionName}` },
      }, 'linked').then((m) => m.port);
      this.#clientPorts.set(key, port);
      port.catch(() => this.#clientPorts.delete(key));
    }
    return `ws://127.0.0.1:${await port}`;
  }

  #member(id: string): Routed {
    const m = this.#members.get(id);
    if (m === undefined) throw new Error(`net emulator: no member '${id}' was routed (routed: ${[...this.#members.keys()].join(', ') || 'none'})`);
    return m;
  }

  /** Region of member id (from profile.memberRegion). */
  regionOf(id: string): number {
    const m = this.#member(id);
    return this.profile.memberRegion(m.index, m.members);
  }

  /** Every link's counters and the relays' own timing since the last resetStats(). */
  async stats(): Promise<NetStats> {
    const all = await Promise.all(this.#relays.map((r) => r.ask({ type: 'stats' }, 'stats')));
    const late = new Histogram();
    const early = new Histogram();
    for (const s of all) {
      late.merge(s.timerLate);
      early.merge(s.timerEarly);
    }
    return {
      links: all.flatMap((s) => s.links).sort((a, b) => a.name.localeCompare(b.name)),
      timerLagP50Ms: signedQuantileMs(late, early, 0.5), timerLagP99Ms: signedQuantileMs(late, early, 0.99),
      eventLoopLagP99Ms: Math.max(...all.map((s) => s.eventLoopLagP99Ms)),
    };
  }

  async resetStats(): Promise<void> {
    await Promise.all(this.#relays.map((r) => r.ask({ type: 'reset' }, 'reset')));
  }

  async stop(): Promise<void> {
    await Promise.all(this.#relays.map((r) => r.stop()));
  }
}
