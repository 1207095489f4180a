// The load-generator side of the watch-delivery measurement (bench/lib/coordination.ts), shared by
// bench/cluster-load.ts (edgeraft) and bench/etcd-load.ts: the clock every process reads, the
// writer that puts at a fixed rate, and the receive times of every watcher, turned into latency
// histograms once the writer's times are known. Pure but for the clock and timers.

import { Histogram } from './histogram.ts';
import type { TimedWrite, WatchResult, WriteAtRate, WrittenAtRate } from './load-protocol.ts';

/**
 * The time, in ms, on the machine's CLOCK_MONOTONIC (process.hrtime on Linux): one clock for every
 * process of the machine, so a watcher's receive time and the writer's put times, taken in
 * different processes, can be subtracted. (performance.timeOrigin + performance.now() would do
 * too: each process reports how far it is from this one, and the phase prints their spread.)
 */
export function nowMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/** How far this process's performance.timeOrigin + performance.now() is from nowMs(). */
export function clockOffsetMs(): number {
  return performance.timeOrigin + performance.now() - nowMs();
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function errorCode(err: unknown): string {
  return (err as { code?: string }).code ?? (err as Error).message.slice(0, 60);
}

/**
 * Puts at `spec.ratePerS` for warmupMs + measureMs, open loop (each put is sent on its schedule,
 * whether or not the ones before resolved). `put` resolves with the write's revision. Returns the
 * writes sent after the warm-up, with their send and resolve times.
 */
export async function writeAtRate(put: (key: string, value: Uint8Array) => Promise<number>, spec: WriteAtRate): Promise<WrittenAtRate> {
  const value = new Uint8Array(spec.valueBytes);
  for (let i = 0; i < value.length; i++) value[i] = (i * 31 + 7) & 0xff;
  const periodMs = 1000 / spec.ratePerS;
  const start = nowMs();
  const measureFrom = start + spec.warmupMs;
  const end = measureFrom + spec.measureMs;
  const writes: TimedWrite[] = [];
  const errorCodes: Record<string, number> = {};
  const inflight = new Set<Promise<void>>();
  let errors = 0;
  let lagMsMax = 0;
  for (let i = 0; ; i++) {
    const due = start + i * periodMs;
    if (due >= end) break;
    const wait = due - nowMs();
    if (wait > 0) await sleep(wait);
    const sent = nowMs();
    lagMsMax = Math.max(lagMsMax, sent - due);
    const measured = sent >= measureFrom;
    const p = put(`${spec.keyPrefix}${i % spec.keyCount}`, value).then((revision) => {
      const resolved = nowMs();
      if (measured) writes.push([revision, sent, resolved]);
    }, (err: unknown) => {
      if (!measured) return;
      errors++;
      const code = errorCode(err);
      errorCodes[code] = (errorCodes[code] ?? 0) + 1;
    });
    inflight.add(p);
    void p.finally(() => inflight.delete(p));
  }
  await Promise.all([...inflight]);
  writes.sort((a, b) => a[0] - b[0]);
  return { type: 'written', writes, errors, errorCodes, lagMsMax };
}

/** When each watcher of a load process received each revision. */
export class WatchSamples {
  readonly #watchers: number;
  /** Revision -> receive time per watcher (NaN: not received). */
  readonly #times = new Map<number, Float64Array>();
  readonly #from: number;

  /** Revisions below `fromRevision` are not kept. */
  constructor(watchers: number, fromRevision: number) {
    this.#watchers = watchers;
    this.#from = fromRevision;
  }

  get watchers(): number {
    return this.#watchers;
  }

  /** Watcher `w` received the events of `revision` at `atMs` (nowMs()); a repeat keeps the first time. */
  record(w: number, revision: number, atMs: number): void {
    if (revision < this.#from) return;
    let row = this.#times.get(revision);
    if (row === undefined) {
      row = new Float64Array(this.#watchers).fill(Number.NaN);
      this.#times.set(revision, row);
    }
    if (Number.isNaN(row[w]!)) row[w] = atMs;
  }

  /** How many watchers received `revision`. */
  count(revision: number): number {
    const row = this.#times.get(revision);
    if (row === undefined) return 0;
    let n = 0;
    for (const t of row) if (!Number.isNaN(t)) n++;
    return n;
  }

  /** Whether every watcher received every one of `writes`. */
  complete(writes: readonly TimedWrite[]): boolean {
    return writes.every(([rev]) => this.count(rev) === this.#watchers);
  }

  /** The latency histograms of `writes` (see WatchResult), `onLeader[w]` saying whether watcher w streams from the leader. */
  result(writes: readonly TimedWrite[], onLeader: readonly boolean[]): Pick<WatchResult,
    'fromResolveLeader' | 'fromResolveFollowers' | 'earlyLeader' | 'earlyFollowers' | 'fromSend' | 'received' | 'expected' | 'beforeResolve' | 'watchers'> {
    const late = [new Histogram(), new Histogram()] as const;
    const early = [new Histogram(), new Histogram()] as const;
    const fromSend = new Histogram();
    let received = 0;
    let beforeResolve = 0;
    for (const [rev, sent, resolved] of writes) {
      const row = this.#times.get(rev);
      if (row === undefined) continue;
      for (let w = 0; w < row.length; w++) {
        const t = row[w]!;
        if (Number.isNaN(t)) continue;
        received++;
        const where = onLeader[w] === true ? 0 : 1;
        const d = t - resolved;
        // A watcher can hear of a write before its writer does (the reply has its own way to go).
        if (d < 0) {
          beforeResolve++;
          early[where].recordMs(-d);
        } else {
          late[where].recordMs(d);
        }
        fromSend.recordMs(Math.max(0, t - sent));
      }
    }
    return {
      fromResolveLeader: late[0].toArray(), fromResolveFollowers: late[1].toArray(), earlyLeader: early[0].toArray(), earlyFollowers: early[1].toArray(),
      fromSend: fromSend.toArray(), received, expected: writes.length * this.#watchers, beforeResolve, watchers: this.#watchers,
    };
  }
}

/** Waits until every watcher has every write, or `graceMs` passed. */
export async function awaitComplete(samples: WatchSamples, writes: readonly TimedWrite[], graceMs: number): Promise<void> {
  const deadline = nowMs() + graceMs;
  while (!samples.complete(writes) && nowMs() < deadline) await sleep(50);
}

/** Waits until every watcher has received `revision` (the marker); throws after `timeoutMs`. */
export async function awaitMarker(samples: WatchSamples, revision: number, timeoutMs: number, what: string): Promise<void> {
  const deadline = nowMs() + timeoutMs;
  while (samples.count(revision) < samples.watchers) {
    if (nowMs() >= deadline) {
      throw new Error(`${what}: only ${samples.count(revision)} of ${samples.watchers} watchers received the marker (revision ${revision}) within ${timeoutMs} ms`);
    }
    await sleep(20);
  }
}
