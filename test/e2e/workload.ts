// Client workloads for the end-to-end tests, and the checks that follow them: writers that record
// exactly which writes were acknowledged (and which ended indeterminate), and verifiers that read
// every acknowledged write back, linearizably through the cluster or 'stale' from each member.

import type { KvClient } from '../../src/client/kv.ts';
import type { Value } from '../../src/core/kv/command.ts';
import type { Cluster } from './cluster.ts';

/** What a workload did: acknowledged writes with their values, and the ones whose outcome is unknown. */
export class WriteLog {
  readonly acked = new Map<string, string>();
  /** Writes that failed: they may or may not have applied. */
  readonly indeterminate = new Map<string, Error>();
  attempted = 0;

  /** One line per failed write (at most `n`), for assertion messages. */
  failures(n = 5): string {
    return [...this.indeterminate].slice(0, n).map(([k, e]) => `${k}: ${(e as { code?: string }).code ?? ''} ${e.message}`).join('\n');
  }
}

/** Runs `fn` over `items` with at most `concurrency` calls in flight. */
export async function pool<T>(items: readonly T[], concurrency: number, fn: (item: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i]!, i);
    }
  }));
}

export function keyOf(prefix: string, i: number): string {
  return `${prefix}${String(i).padStart(6, '0')}`;
}

/**
 * Writes keys `prefix000000`.. with `workers` writers in parallel until `count` were attempted
 * or stop() was called; each key is written once, with a value naming it.
 */
export class Writers {
  readonly log = new WriteLog();
  readonly #kv: KvClient;
  readonly #prefix: string;
  readonly #count: number;
  #next = 0;
  #stopped = false;
  readonly #onAck: ((acked: number) => void) | null;
  readonly done: Promise<void>;

  constructor(kv: KvClient, o: { prefix: string; count: number; workers: number; onAck?: (acked: number) => void }) {
    this.#kv = kv;
    this.#prefix = o.prefix;
    this.#count = o.count;
    this.#onAck = o.onAck ?? null;
    this.done = Promise.all(Array.from({ length: o.workers }, () => this.#worker())).then(() => {});
  }

  async #worker(): Promise<void> {
    while (!this.#stopped && this.#next < this.#count) {
      const key = keyOf(this.#prefix, this.#next++);
      const value = `${key}=${Math.random().toString(36).slice(2, 10)}`;
      this.log.attempted++;
      try {
        await this.#kv.put(key, value);
        this.log.acked.set(key, value);
        this.#onAck?.(this.log.acked.size);
      } catch (err) {
        this.log.indeterminate.set(key, err as Error);
      }
    }
  }

  /** Resolves once all `count` writes were attempted and settled. */
  async finished(): Promise<WriteLog> {
    await this.done;
    return this.log;
  }

  /** Stops issuing new writes; resolves once those in flight settled. */
  async stop(): Promise<WriteLog> {
    this.#stopped = true;
    await this.done;
    return this.log;
  }
}

function show(v: Value | undefined): string {
  return v === undefined ? '(absent)' : typeof v === 'string' ? JSON.stringify(v) : `<${v.byteLength} bytes>`;
}

/** Reads every acknowledged key linearizably; returns one line per key whose value differs. */
export async function checkLinearizable(kv: KvClient, acked: ReadonlyMap<string, string>, concurrency = 64): Promise<string[]> {
  const bad: string[] = [];
  await pool([...acked], concurrency, async ([key, want]) => {
    const got = await kv.get(key);
    if (got !== want) bad.push(`${key}: acknowledged ${JSON.stringify(want)}, linearizable read gave ${show(got)}`);
  });
  return bad;
}

/**
 * Scans `prefix` with 'stale' reads on each live member (a client per member, so the member named
 * is the one that answers) and returns one line per acknowledged key it lacks or holds with
 * another value, plus a line per member whose contents differ from the first one's.
 */
export async function checkEveryMember(c: Cluster, acked: ReadonlyMap<string, string>, prefix: string): Promise<string[]> {
  const bad: string[] = [];
  let first: { id: string; text: string } | null = null;
  for (const id of c.live()) {
    const kv = await c.client('reader', { peers: [id] });
    const pairs: Array<[string, Value]> = [];
    let start: string | undefined;
    for (;;) {
      const page = await kv.scanWithMeta({ prefix, consistency: 'stale', limit: 10_000, ...(start !== undefined ? { start } : {}) });
      if (page.servedBy !== id) bad.push(`${id}: a stale scan sent to it was answered by ${page.servedBy}`);
      pairs.push(...page.value);
      if (page.value.length < 10_000) break;
      start = `${page.value[page.value.length - 1]![0]}\u0000`;
    }
    await kv.close();
    const have = new Map(pairs);
    for (const [key, want] of acked) {
      const got = have.get(key);
      if (got !== want) bad.push(`${id}: ${key} acknowledged ${JSON.stringify(want)}, stale read gave ${show(got)}`);
    }
    const text = JSON.stringify(pairs);
    if (first === null) first = { id, text };
    else if (text !== first.text) bad.push(`${id}: holds ${pairs.length} keys under ${prefix} that differ from ${first.id}'s`);
  }
  return bad;
}
