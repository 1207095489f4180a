// An in-memory network with the same Transport interface as the mesh, for tests and simulators:
// seeded faults (drop, delay, reorder, duplicate, partition) and an optional virtual clock, so a
// seed replays the same deliveries. Messages go through the real codec by default, so whatever
// crosses it is exactly what would survive the wire.

import { assert } from '../core/assert.ts';
import type { Message } from '../core/message.ts';
import { SeededPrng } from '../core/prng.ts';
import type { NodeId } from '../core/types.ts';
import { FrameCodec } from './codec.ts';
import { Emitter } from './events.ts';
import type { Unsubscribe } from './events.ts';
import { invalidOption } from './limits.ts';
import { isReplication } from './transport.ts';
import type { DropReason, Transport, TransportEventMap } from './transport.ts';

export interface MemoryFaults {
  /** Probability that a message is lost. */
  readonly dropRate: number;
  /** Each message is delayed uniformly in [delayMsMin, delayMsMax]. */
  readonly delayMsMin: number;
  readonly delayMsMax: number;
  /** Probability that a message is held back an extra reorderDelayMs, so later ones overtake it. */
  readonly reorderRate: number;
  readonly reorderDelayMs: number;
  /** Probability that a message is delivered twice. */
  readonly duplicateRate: number;
}

export const noFaults: MemoryFaults = { dropRate: 0, delayMsMin: 0, delayMsMax: 0, reorderRate: 0, reorderDelayMs: 0, duplicateRate: 0 };

export interface Scheduler {
  setTimeout(callback: () => void, delayMs: number): unknown;
}

export interface MemoryNetworkOptions {
  readonly seed: number;
  readonly faults?: Partial<MemoryFaults>;
  /** Default: the global setTimeout. A VirtualClock makes delivery fully deterministic. */
  readonly scheduler?: Scheduler;
  /** Round-trip every message through the frame codec (default true). */
  readonly codec?: boolean;
  readonly cluster?: string;
  /** Messages in flight at once; more are dropped. */
  readonly inFlightMax?: number;
}

/** A virtual clock: timers run only when advance() passes their due time, in due-time order. */
export class VirtualClock implements Scheduler {
  #nowMs = 0;
  #seq = 0;
  readonly #timers: { dueMs: number; seq: number; callback: () => void }[] = [];

  get nowMs(): number {
    return this.#nowMs;
  }

  get pending(): number {
    return this.#timers.length;
  }

  setTimeout(callback: () => void, delayMs: number): unknown {
    const timer = { dueMs: this.#nowMs + Math.max(0, delayMs), seq: this.#seq++, callback };
    this.#timers.push(timer);
    return timer;
  }

  /** Moves time forward by `ms`, running every timer that falls due (including ones they add). */
  advance(ms: number): void {
    const end = this.#nowMs + ms;
    for (;;) {
      let next = -1;
      for (let i = 0; i < this.#timers.length; i++) {
        const t = this.#timers[i]!;
        const best = next === -1 ? null : this.#timers[next]!;
        if (t.dueMs <= end && (best === null || t.dueMs < best.dueMs || (t.dueMs === best.dueMs && t.seq < best.seq))) next = i;
      }
      if (next === -1) break;
      const [t] = this.#timers.splice(next, 1);
      this.#nowMs = t!.dueMs;
      t!.callback();
    }
    this.#nowMs = end;
  }
}

function checkFaults(f: MemoryFaults): MemoryFaults {
  for (const key of ['dropRate', 'reorderRate', 'duplicateRate'] as const) {
    if (!(f[key] >= 0 && f[key] <= 1)) throw invalidOption(`faults.${key}`, 'a probability in [0, 1]', f[key]);
  }
  for (const key of ['delayMsMin', 'delayMsMax', 'reorderDelayMs'] as const) {
    if (!Number.isSafeInteger(f[key]) || f[key] < 0) throw invalidOption(`faults.${key}`, 'an integer >= 0', f[key]);
  }
  if (f.delayMsMax < f.delayMsMin) throw invalidOption('faults.delayMsMax', `>= delayMsMin (${f.delayMsMin})`, f.delayMsMax);
  return f;
}

export class MemoryNetwork {
  readonly #prng: SeededPrng;
  readonly #scheduler: Scheduler;
  readonly #codec: FrameCodec | null;
  readonly #inFlightMax: number;
  readonly #members = new Map<NodeId, MemoryTransport>();
  /** Group of each node while partitioned; nodes in different groups cannot talk. */
  readonly #groups = new Map<NodeId, number>();
  #faults: MemoryFaults;
  #inFlight = 0;

  constructor(options: MemoryNetworkOptions) {
    this.#prng = new SeededPrng(options.seed);
    this.#faults = checkFaults({ ...noFaults, ...options.faults });
    this.#scheduler = options.scheduler ?? { setTimeout: (cb, ms) => setTimeout(cb, ms) };
    this.#codec = options.codec === false ? null : new FrameCodec({ cluster: options.cluster ?? 'memory' });
    this.#inFlightMax = options.inFlightMax ?? 100_000;
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  setFaults(faults: Partial<MemoryFaults>): void {
    this.#faults = checkFaults({ ...this.#faults, ...faults });
  }

  /** Splits the network: each listed group only reaches itself; unlisted nodes form one more group. */
  partition(...groups: readonly (readonly NodeId[])[]): void {
    this.#groups.clear();
    groups.forEach((g, i) => { for (const id of g) this.#groups.set(id, i + 1); });
  }

  heal(): void {
    this.#groups.clear();
  }

  canReach(from: NodeId, to: NodeId): boolean {
    return (this.#groups.get(from) ?? 0) === (this.#groups.get(to) ?? 0);
  }

  join(id: NodeId): MemoryTransport {
    assert(!this.#members.has(id), () => `${id} already joined`);
    const t = new MemoryTransport(id, this);
    for (const other of this.#members.values()) {
      other.emitEvent('peer:up', { peer: id, role: 'peer', claims: null });
      t.emitEvent('peer:up', { peer: other.id, role: 'peer', claims: null });
    }
    this.#members.set(id, t);
    return t;
  }

  has(id: NodeId): boolean {
    return this.#members.has(id);
  }

  /** @internal */
  leave(t: MemoryTransport): void {
    if (this.#members.get(t.id) !== t) return;
    this.#members.delete(t.id);
    for (const other of this.#members.values()) other.emitEvent('peer:down', { peer: t.id, role: 'peer' });
  }

  /** @internal Routes one message with the configured faults. */
  route(from: MemoryTransport, m: Message): void {
    if (!this.#members.has(m.to)) return from.dropped(m, 'not-connected');
    if (!this.canReach(m.from, m.to)) return from.dropped(m, 'partition');
    const f = this.#faults;
    if (f.dropRate > 0 && this.#prng.nextFloat() < f.dropRate) return from.dropped(m, 'fault');
    const copies = f.duplicateRate > 0 && this.#prng.nextFloat() < f.duplicateRate ? 2 : 1;
    for (let c = 0; c < copies; c++) {
      if (this.#inFlight >= this.#inFlightMax) return from.dropped(m, 'hard-cap');
      let delayMs = f.delayMsMin + this.#prng.nextInt(f.delayMsMax - f.delayMsMin + 1);
      if (f.reorderRate > 0 && this.#prng.nextFloat() < f.reorderRate) delayMs += f.reorderDelayMs;
      const wire = this.#codec === null ? [m] : this.#codec.decodeData(this.#codec.encodeData(m.from, m.to, [m])).msgs;
      this.#inFlight += 1;
      this.#scheduler.setTimeout(() => {
        this.#inFlight -= 1;
        const to = this.#members.get(m.to);
        // Sent before a partition or a crash, lost to it.
        if (to === undefined || !this.#members.has(m.from) || !this.canReach(m.from, m.to)) return;
        to.emitEvent('messages', { from: m.from, role: 'peer', msgs: wire });
      }, delayMs);
    }
  }
}

export class MemoryTransport implements Transport {
  readonly id: NodeId;
  readonly #net: MemoryNetwork;
  readonly #events = new Emitter<TransportEventMap>();
  #closed = false;

  /** @internal Use MemoryNetwork.join(). */
  constructor(id: NodeId, net: MemoryNetwork) {
    this.id = id;
    this.#net = net;
  }

  send(msgs: readonly Message[]): void {
    for (const m of msgs) {
      assert(m.from === this.id, () => `message from ${m.from} sent through the transport of ${this.id}`);
      if (this.#closed) this.dropped(m, 'not-connected');
      else this.#net.route(this, m);
    }
  }

  on<K extends keyof TransportEventMap>(event: K, listener: (payload: TransportEventMap[K]) => void): Unsubscribe {
    return this.#events.on(event, listener);
  }

  isConnected(peer: NodeId): boolean {
    return !this.#closed && this.#net.has(peer) && this.#net.canReach(this.id, peer);
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#net.leave(this);
  }

  /** @internal */
  emitEvent<K extends keyof TransportEventMap>(event: K, payload: TransportEventMap[K]): void {
    if (!this.#closed) this.#events.emit(event, payload);
  }

  /** @internal */
  dropped(m: Message, reason: DropReason): void {
    this.emitEvent('send:dropped', { peer: m.to, type: m.type, reason });
    if (isReplication(m.type)) this.emitEvent('unreachable', { peer: m.to });
  }
}
