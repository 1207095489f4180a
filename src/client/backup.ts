// The SDK's side of an online backup (admin token): ask one member for a snapshot at or above a
// linearizable read index, then pull it chunk by chunk from that member, two requests ahead, and
// hand each chunk to the caller in order. Runtime-neutral: writing the file is the caller's job
// (the CLI's is src/runtime-node/cli-backup.ts).

import type { Caller } from './caller.ts';
import { ClientError } from './errors.ts';
import type { Reply } from './protocol.ts';

/** One piece of a backup's snapshot, with what the file records about it. */
export interface BackupChunk {
  /** The cluster the snapshot comes from, and its mode (raft or parallel). */
  readonly cluster: string;
  readonly mode: string;
  /** The applied index S the snapshot was taken at (at or above the read index of the start), and S's term. */
  readonly index: number;
  readonly term: number;
  /** The snapshot's size in bytes; `bytes` starts at `offset`. */
  readonly size: number;
  readonly offset: number;
  readonly bytes: Uint8Array;
  /** The member serving the backup. */
  readonly servedBy: string;
}

export interface BackupOptions {
  /** Give up on the start (read index and snapshot) or on one chunk after this long (default: the client's timeoutMs). */
  readonly timeoutMs?: number;
}

/** Chunk requests in flight at once: one being answered while the previous one is written. */
const pullAhead = 2;

/** Answers that say "this member cannot serve a backup now": the next member is asked. */
const tryElsewhere = new Set(['ERR_UNAVAILABLE', 'ERR_TIMEOUT', 'ERR_BUSY', 'ERR_NOT_LEADER']);

type BackupReply = Extract<Reply, { kind: 'backup' }>;

function backupReply(r: Reply): BackupReply {
  if (r.kind !== 'backup') throw new ClientError('ERR_INTERNAL', `a backup request was answered with a ${r.kind} reply`);
  return r;
}

/** Starts a backup on the first member (in the order given) that can serve one. */
async function start(c: Caller, timeoutMs: number | undefined): Promise<{ url: string; servedBy: string; first: BackupReply }> {
  const opts = timeoutMs !== undefined ? { timeoutMs, attemptTimeoutMs: timeoutMs } : { attemptTimeoutMs: c.o.timeoutMs };
  let last: unknown = null;
  for (const url of c.urls) {
    try {
      const { reply, servedBy } = await c.call({ op: 'backup', backup: 0, offset: 0 }, url, opts);
      return { url, servedBy, first: backupReply(reply) };
    } catch (err) {
      if (!(err instanceof ClientError) || !tryElsewhere.has(err.code)) throw err;
      last = err;
    }
  }
  throw last instanceof ClientError ? last : new ClientError('ERR_UNAVAILABLE', 'no member could start a backup');
}

/**
 * Yields the snapshot of a consistent backup in order, chunk by chunk. If the serving member fails
 * midway the generator throws; start again (a backup is never resumed on another member, whose
 * snapshot would be at another index).
 */
export async function* pullBackup(c: Caller, options: BackupOptions = {}): AsyncGenerator<BackupChunk> {
  const { url, servedBy, first } = await start(c, options.timeoutMs);
  const chunk = (r: BackupReply): BackupChunk => {
    if (r.backup !== first.backup || r.index !== first.index || r.size !== first.size) {
      throw new ClientError('ERR_INTERNAL', `${servedBy} answered backup ${first.backup} with a chunk of another backup (${r.backup})`);
    }
    return { cluster: r.cluster, mode: r.mode, index: r.index, term: r.term, size: r.size, offset: r.offset, bytes: r.chunk, servedBy };
  };
  yield chunk(first);
  const size = first.size;
  // The member's chunk size: every chunk but the last is this long.
  const step = first.chunk.byteLength;
  if (first.chunk.byteLength === size) return;
  if (step === 0) throw new ClientError('ERR_INTERNAL', `${servedBy} answered a backup of ${size} bytes with an empty first chunk`);
  const timeoutMs = options.timeoutMs ?? c.o.timeoutMs;
  const pull = (offset: number): Promise<BackupReply> =>
    c.call({ op: 'backup', backup: first.backup, offset }, url, { timeoutMs, attemptTimeoutMs: timeoutMs }).then(({ reply }) => backupReply(reply));
  const inflight: Array<Promise<BackupReply>> = [];
  let requested = step;
  let next = step;
  while (next < size) {
    while (inflight.length < pullAhead && requested < size) {
      const p = pull(requested);
      // Awaited below in order; a later one failing first must not be reported as unhandled.
      p.catch(() => {});
      inflight.push(p);
      requested += step;
    }
    const r = await inflight.shift()!;
    if (r.offset !== next) throw new ClientError('ERR_INTERNAL', `${servedBy} answered backup offset ${next} with offset ${r.offset}`);
    next += r.chunk.byteLength;
    yield chunk(r);
  }
}
