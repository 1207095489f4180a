// The jitter relay of `npm run bench:parallel` (forked with an IPC channel by JitterProxy): TCP
// listeners on 127.0.0.1 that each forward to one peer's port, holding every chunk, in each
// direction, a normally distributed time (parallel-jitter.ts) but never past an earlier chunk of
// the same connection. It records how long it really held each chunk (timers have ~1 ms grain).

import { createServer, connect, type Socket } from 'node:net';
import { SeededPrng } from '../../src/core/prng.ts';
import { Histogram } from './histogram.ts';
import { jitterDelayMs, releaseAtMs, type FromProxy, type ToProxy } from './parallel-jitter.ts';

/** Bytes held per direction of a connection before the sending side is paused. */
const heldBytesMax = 4 * 1024 * 1024;

let jitterMs = 0;
let prng = new SeededPrng(1);
let held = new Histogram();
let chunks = 0;
let bytes = 0;
let connections = 0;

function reply(m: FromProxy): void {
  process.send?.(m);
}

/** One direction of a relayed connection: chunks from `from` go out on `to` at their release time. */
class Pipe {
  readonly #queue: Array<{ readonly chunk: Buffer; readonly atMs: number; readonly inMs: number }> = [];
  #heldBytes = 0;
  #lastMs = 0;
  #timer: ReturnType<typeof setTimeout> | null = null;
  #ended = false;

  constructor(readonly from: Socket, readonly to: Socket) {
    from.on('data', (chunk: Buffer) => this.#push(chunk));
    from.on('end', () => {
      this.#ended = true;
      this.#flush();
    });
    to.on('drain', () => {
      if (this.#heldBytes < heldBytesMax) from.resume();
    });
  }

  #push(chunk: Buffer): void {
    const nowMs = performance.now();
    const atMs = releaseAtMs(this.#lastMs, nowMs, jitterDelayMs(prng, jitterMs));
    this.#lastMs = atMs;
    this.#queue.push({ chunk, atMs, inMs: nowMs });
    this.#heldBytes += chunk.length;
    if (this.#heldBytes >= heldBytesMax) this.from.pause();
    this.#flush();
  }

  #flush(): void {
    const nowMs = performance.now();
    let writable = true;
    while (this.#queue.length > 0 && this.#queue[0]!.atMs <= nowMs) {
      const q = this.#queue.shift()!;
      this.#heldBytes -= q.chunk.length;
      held.recordMs(nowMs - q.inMs);
      chunks++;
      bytes += q.chunk.length;
      writable = this.to.write(q.chunk);
    }
    if (!writable) this.from.pause();
    else if (this.#heldBytes < heldBytesMax) this.from.resume();
    if (this.#queue.length > 0) {
      if (this.#timer === null) {
        // Timers fire on whole milliseconds at best: a chunk due in 0.3 ms waits about 1 ms.
        this.#timer = setTimeout(() => {
          this.#timer = null;
          this.#flush();
        }, Math.max(0, this.#queue[0]!.atMs - nowMs));
      }
    } else if (this.#ended) {
      this.to.end();
    }
  }
}

function relay(client: Socket, targetPort: number): void {
  const upstream = connect({ host: '127.0.0.1', port: targetPort });
  connections++;
  for (const s of [client, upstream]) {
    s.setNoDelay(true);
    // Either side failing ends both: the peers redial, as over a broken link.
    s.on('error', () => {
      client.destroy();
      upstream.destroy();
    });
    s.on('close', () => {
      client.destroy();
      upstream.destroy();
    });
  }
  new Pipe(client, upstream);
  new Pipe(upstream, client);
}

function link(name: string, targetPort: number): void {
  const server = createServer((client) => relay(client, targetPort));
  server.on('error', (err) => reply({ type: 'failed', message: `${name}: ${err.message}` }));
  server.listen(0, '127.0.0.1', () => {
    const a = server.address();
    if (a === null || typeof a === 'string') return reply({ type: 'failed', message: `${name}: no port` });
    reply({ type: 'linked', name, port: a.port });
  });
}

process.on('message', (m: ToProxy) => {
  switch (m.type) {
    case 'link':
      link(m.name, m.targetPort);
      break;
    case 'jitter':
      jitterMs = m.ms;
      prng = new SeededPrng(m.seed);
      held = new Histogram();
      chunks = 0;
      bytes = 0;
      reply({ type: 'jittered' });
      break;
    case 'stats':
      reply({ type: 'stats', histogram: held.toArray(), chunks, bytes, connections });
      break;
    case 'exit':
      process.exit(0);
  }
});
process.on('disconnect', () => process.exit(0));
reply({ type: 'ready' });
