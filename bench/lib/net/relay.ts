// The relay process of the WAN emulator (forked with an IPC channel by NetEmulator, emulator.ts):
// TCP listeners on 127.0.0.1, one per link, each forwarding to one member's port and holding every
// chunk of each direction its link's one-way latency plus jitter, loss and bandwidth (profiles.ts).

import { connect, createServer, type Server, type Socket } from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { SeededPrng } from '../../../src/core/prng.ts';
import { Histogram } from '../histogram.ts';
import { extraDelayMs, releaseAtMs } from './profiles.ts';
import type { DirectionSpec, FromRelay, LinkStats, RelayConfig, ToRelay } from './emulator.ts';

/** Bytes held per direction of a connection before the sending side is paused. */
const heldBytesMax = 4 * 1024 * 1024;
/**
 * A chunk due this close goes out now: timers fire on whole milliseconds (and a timer set late in
 * a busy turn fires early), so waiting for the rest would make it a whole grain late instead.
 */
const earlyMs = 0.5;
/** Queue slots consumed before the queue's array is compacted. */
const compactAfter = 1024;

const config = JSON.parse(process.argv[2] ?? '{}') as RelayConfig;

function reply(m: FromRelay): void {
  process.send?.(m);
}

/** Signed lag of every timer fire (late in `timerLate`, early in `timerEarly`): the relay's own grain. */
let timerLate = new Histogram();
let timerEarly = new Histogram();
const loopDelay = monitorEventLoopDelay({ resolution: 10 });
loopDelay.enable();

/** Data from one member (or client region) to another: serialized at the profile's bandwidth, shared by every connection. */
class Bucket {
  #freeAtMs = 0;

  constructor(readonly msPerByte: number) {}

  /** When the last bit of `bytes` handed over at `nowMs` has been sent. */
  sentAtMs(nowMs: number, bytes: number): number {
    this.#freeAtMs = Math.max(nowMs, this.#freeAtMs) + bytes * this.msPerByte;
    return this.#freeAtMs;
  }
}

const buckets = new Map<string, Bucket>();

function bucketFor(name: string | null): Bucket | null {
  if (name === null || config.bandwidthMbps === null) return null;
  let b = buckets.get(name);
  if (b === undefined) {
    // Mbps: 1e6 bits per 1000 ms, so a byte takes 8 / (1000 * Mbps) ms.
    b = new Bucket(8 / (1000 * config.bandwidthMbps));
    buckets.set(name, b);
  }
  return b;
}

function hashName(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/** One direction of one link, shared by all its connections: the delay draws and the counters. */
class Direction {
  readonly prng: SeededPrng;
  readonly bucket: Bucket | null;
  held = new Histogram();
  chunks = 0;
  bytes = 0;
  lost = 0;
  connections = 0;

  constructor(readonly spec: DirectionSpec) {
    // Seeded per link, so one link's draws do not depend on how the others' chunks interleave.
    this.prng = new SeededPrng((config.seed ^ hashName(spec.stat)) >>> 0);
    this.bucket = bucketFor(spec.bucket);
  }

  /** A fresh jitter draw for one connection of this link. */
  jitterMs(): number {
    return extraDelayMs(this.prng, config.jitter, config.jitterMs);
  }

  /** When a chunk of `bytes` that arrived at `nowMs` with the connection's current `jitterMs` reaches the far end (before FIFO). */
  arrivalMs(nowMs: number, bytes: number, jitterMs: number): number {
    const sentMs = this.bucket?.sentAtMs(nowMs, bytes) ?? nowMs;
    let delayMs = this.spec.delayMs + jitterMs;
    if (config.loss > 0 && this.prng.nextFloat() < config.loss) {
      // TCP resends it after the RTO; the receiver's stream stalls behind the hole meanwhile.
      delayMs += config.rtoMs;
      this.lost++;
    }
    return sentMs + delayMs;
  }

  stats(): LinkStats {
    return {
      name: this.spec.stat, chunks: this.chunks, bytes: this.bytes, heldP50Ms: this.held.quantileMs(0.5), heldP99Ms: this.held.quantileMs(0.99),
      lost: this.lost, connections: this.connections,
    };
  }

  reset(): void {
    this.held = new Histogram();
    this.chunks = 0;
    this.bytes = 0;
    this.lost = 0;
    this.connections = 0;
  }
}

interface Held {
  readonly chunk: Buffer;
  readonly atMs: number;
  readonly inMs: number;
}

/** One direction of one relayed connection: chunks from `from` go out on `to` in order, each at its release time. */
class Pipe {
  /** Held chunks from #head on; slots before it are emptied, so a sent chunk's buffer is not kept. */
  #queue: Array<Held | null> = [];
  #head = 0;
  #heldBytes = 0;
  #lastMs = 0;
  #timer: ReturnType<typeof setTimeout> | null = null;
  #ended = false;
  #dead = false;
  /** This connection's jitter draw, kept until #jitterUntilMs (config.jitterPeriodMs). */
  #jitterMs = 0;
  #jitterUntilMs = Number.NEGATIVE_INFINITY;

  constructor(readonly from: Socket, readonly to: Socket, readonly dir: Direction) {
    dir.connections++;
    from.on('data', (chunk: Buffer) => this.#push(chunk));
    from.on('end', () => this.end());
    to.on('drain', () => {
      if (this.#heldBytes < heldBytesMax) from.resume();
    });
  }

  /** `from` is done sending: what is held still arrives, then `to` gets the FIN. */
  end(): void {
    this.#ended = true;
    this.#flush();
  }

  /** `to` is gone: nothing held can arrive any more. */
  drop(): void {
    this.#dead = true;
    this.#queue = [];
    this.#head = 0;
    this.#heldBytes = 0;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    // Read on (and discard), so a paused sender still sees its FIN and the connection can close.
    this.from.resume();
  }

  #push(chunk: Buffer): void {
    if (this.#dead) return;
    const nowMs = performance.now();
    if (nowMs >= this.#jitterUntilMs) {
      this.#jitterMs = this.dir.jitterMs();
      this.#jitterUntilMs = nowMs + config.jitterPeriodMs;
    }
    const atMs = releaseAtMs(this.#lastMs, nowMs, this.dir.arrivalMs(nowMs, chunk.length, this.#jitterMs) - nowMs);
    this.#lastMs = atMs;
    this.#queue.push({ chunk, atMs, inMs: nowMs });
    this.#heldBytes += chunk.length;
    if (this.#heldBytes >= heldBytesMax) this.from.pause();
    if (this.#timer === null) this.#flush();
  }

  #flush(): void {
    if (this.#dead) return;
    const nowMs = performance.now();
    const q = this.#queue;
    let writable = true;
    if (this.#head < q.length && q[this.#head]!.atMs <= nowMs + earlyMs) {
      // One writev for every chunk due now.
      this.to.cork();
      while (this.#head < q.length && q[this.#head]!.atMs <= nowMs + earlyMs) {
        const h = q[this.#head]!;
        q[this.#head++] = null;
        this.#heldBytes -= h.chunk.length;
        this.dir.held.recordMs(nowMs - h.inMs);
        this.dir.chunks++;
        this.dir.bytes += h.chunk.length;
        writable = this.to.write(h.chunk);
      }
      this.to.uncork();
      if (this.#head === q.length) {
        this.#queue = [];
        this.#head = 0;
      } else if (this.#head >= compactAfter && this.#head * 2 >= q.length) {
        this.#queue = q.slice(this.#head);
        this.#head = 0;
      }
    }
    if (!writable) this.from.pause();
    else if (this.#heldBytes < heldBytesMax) this.from.resume();
    const next = this.#queue[this.#head];
    if (next !== undefined && next !== null) this.#arm(next.atMs - nowMs);
    else if (this.#ended && !this.to.destroyed) this.to.end();
  }

  #arm(dueInMs: number): void {
    if (this.#timer !== null) return;
    const waitMs = Math.ceil(dueInMs - earlyMs);
    const dueAtMs = performance.now() + waitMs;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      const lagMs = performance.now() - dueAtMs;
      if (lagMs >= 0) timerLate.recordMs(lagMs);
      else timerEarly.recordMs(-lagMs);
      this.#flush();
    }, waitMs);
  }
}

function relay(client: Socket, targetPort: number, out: Direction, back: Direction): void {
  const upstream = connect({ host: '127.0.0.1', port: targetPort, allowHalfOpen: true });
  const toUpstream = new Pipe(client, upstream, out);
  const toClient = new Pipe(upstream, client, back);
  const sides: ReadonlyArray<readonly [Socket, Pipe, Pipe]> = [[client, toUpstream, toClient], [upstream, toClient, toUpstream]];
  for (const [s, outOf, into] of sides) {
    s.setNoDelay(true);
    // A side that fails (a killed member, a refused dial) ends its sending half as a FIN would,
    // and nothing more can reach it; the members redial, as over a broken link.
    const gone = (): void => {
      into.drop();
      outOf.end();
    };
    s.on('error', gone);
    s.on('close', gone);
  }
}

const links = new Map<string, { readonly server: Server; readonly dirs: readonly Direction[] }>();

/** A link named again (a new cluster with the same ids) replaces the old one, which stops accepting. */
function link(m: Extract<ToRelay, { type: 'link' }>): void {
  const out = new Direction(m.out);
  const back = new Direction(m.back);
  const server = createServer({ allowHalfOpen: true }, (client) => relay(client, m.targetPort, out, back));
  server.on('error', (err) => reply({ id: m.id, type: 'failed', message: `${m.name}: ${err.message}` }));
  server.listen(0, '127.0.0.1', () => {
    const a = server.address();
    if (a === null || typeof a === 'string') return reply({ id: m.id, type: 'failed', message: `${m.name}: no port` });
    links.get(m.name)?.server.close();
    links.set(m.name, { server, dirs: [out, back] });
    reply({ id: m.id, type: 'linked', port: a.port });
  });
}

const directions = (): Direction[] => [...links.values()].flatMap((l) => l.dirs);

process.on('message', (m: ToRelay) => {
  switch (m.type) {
    case 'link':
      link(m);
      break;
    case 'stats':
      reply({
        id: m.id, type: 'stats', links: directions().map((d) => d.stats()),
        timerLate: timerLate.counts, timerEarly: timerEarly.counts, eventLoopLagP99Ms: loopDelay.percentile(99) / 1e6,
      });
      break;
    case 'reset':
      for (const d of directions()) d.reset();
      timerLate = new Histogram();
      timerEarly = new Histogram();
      loopDelay.reset();
      reply({ id: m.id, type: 'reset' });
      break;
    case 'exit':
      process.exit(0);
  }
});
process.on('disconnect', () => process.exit(0));
reply({ type: 'ready' });
