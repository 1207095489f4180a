// Online backups, served by any member to an admin client: a linearizable read index R first (the
// way linearizable reads get theirs), then, once this member has applied R, the state machine's
// snapshot at its applied index S >= R, handed out in bounded chunks that the client pulls one
// request at a time. The snapshot is one byte array already; holding it is the only cost, and a
// slow or vanished client holds it no longer than backupIdleMs.

import { CodedError } from '../core/coded-error.ts';
import type { RaftDriver } from '../core/driver.ts';
import type { KvMachine, KvResult } from '../core/kv/machine.ts';
import type { ErrorCode, Reply, Request } from '../client/protocol.ts';
import type { Logger } from '../transport/transport.ts';

export const backupLimits = {
  /** Snapshot bytes per answer: well below a frame, big enough that round trips do not dominate. */
  chunkBytes: 1024 * 1024,
  /**
   * ParallelRaft: tries to find a moment with no entry applied above the watermark, where a
   * snapshot may be taken (one try per applied entry).
   */
  watermarkTriesMax: 200,
} as const;

/** What the service needs of its peer (peer-core.ts builds it). */
export interface BackupSource {
  readonly cluster: string;
  readonly mode: string;
  readonly driver: Pick<RaftDriver<KvResult>, 'read' | 'waitApplied' | 'node'>;
  readonly machine: Pick<KvMachine, 'snapshot' | 'appliedIndex' | 'appliedAbove'>;
  /** Backups held at once on this member, each a copy of the state (--backups-max). */
  readonly backupsMax: number;
  /** A backup no request touched for this long is dropped: its client went away or stalled (--backup-idle-ms). */
  readonly backupIdleMs: number;
}

/** A backup request refused, with the client protocol's code (the client service answers it as is). */
export class BackupError extends CodedError<ErrorCode> {
  override readonly name = 'BackupError';
}

interface Held {
  readonly id: number;
  /** The connection that asked: only it may pull the chunks. */
  readonly from: string;
  readonly index: number;
  readonly term: number;
  readonly data: Uint8Array;
  timer: ReturnType<typeof setTimeout> | null;
}

type BackupRequest = Extract<Request, { op: 'backup' }>;

export class BackupService {
  readonly #src: BackupSource;
  readonly #log: Logger;
  readonly #held = new Map<number, Held>();
  /** Backups waiting for their read index or snapshot (they count against backupsMax). */
  #starting = 0;
  #nextId = 1;

  constructor(src: BackupSource, log: Logger) {
    this.#src = src;
    this.#log = log;
  }

  serve(from: string, req: BackupRequest): Promise<Reply> {
    if (req.backup === 0) return this.#start(from);
    const b = this.#held.get(req.backup);
    if (b === undefined || b.from !== from) {
      throw new BackupError('ERR_BAD_REQUEST', `backup ${req.backup} is not held by this member for this connection (finished, idle for more than ${this.#src.backupIdleMs / 1000} s, or never started here): start a new backup`);
    }
    if (req.offset > b.data.byteLength) throw new BackupError('ERR_BAD_REQUEST', `backup ${b.id} offset ${req.offset} is past its ${b.data.byteLength} bytes`);
    return Promise.resolve(this.#chunk(b, req.offset));
  }

  async #start(from: string): Promise<Reply> {
    if (this.#held.size + this.#starting >= this.#src.backupsMax) {
      throw new BackupError('ERR_BUSY', `this member holds ${this.#src.backupsMax} backups already: retry once one finished, or ask another member`);
    }
    this.#starting++;
    let b: Held;
    try {
      // The read index R: every write acknowledged before this request is at or below it.
      const { index: readIndex } = await this.#src.driver.read({ allowLease: true });
      b = { id: this.#nextId++, from, ...(await this.#snapshotFrom(readIndex)), timer: null };
    } finally {
      this.#starting--;
    }
    this.#held.set(b.id, b);
    this.#log('info', `backup ${b.id} for ${from}: snapshot at index ${b.index} (term ${b.term}), ${b.data.byteLength} bytes`);
    return this.#chunk(b, 0);
  }

  /** The snapshot at the applied index S >= readIndex, with S's term. */
  async #snapshotFrom(readIndex: number): Promise<{ index: number; term: number; data: Uint8Array }> {
    const { driver, machine } = this.#src;
    await driver.waitApplied(readIndex);
    // ParallelRaft: a snapshot needs a moment with nothing applied above the watermark.
    for (let tries = 0; (machine.appliedAbove ?? 0) > 0; tries++) {
      if (tries >= backupLimits.watermarkTriesMax) {
        throw new BackupError('ERR_BUSY', `no moment without entries applied out of order came in ${tries} applied entries: retry the backup`);
      }
      await driver.waitApplied(machine.appliedIndex + 1);
    }
    const index = machine.appliedIndex;
    const term = driver.node.termAt(index);
    if (term < 0) throw new BackupError('ERR_INTERNAL', `the term of applied index ${index} is not in this member's log`);
    return { index, term, data: machine.snapshot() };
  }

  #chunk(b: Held, offset: number): Reply {
    const end = Math.min(offset + backupLimits.chunkBytes, b.data.byteLength);
    const reply: Reply = {
      kind: 'backup', backup: b.id, cluster: this.#src.cluster, mode: this.#src.mode, index: b.index, term: b.term,
      size: b.data.byteLength, offset, chunk: b.data.subarray(offset, end),
    };
    if (end === b.data.byteLength) this.#drop(b, 'done');
    else this.#arm(b);
    return reply;
  }

  #arm(b: Held): void {
    if (b.timer !== null) clearTimeout(b.timer);
    b.timer = setTimeout(() => this.#drop(b, `no request for ${this.#src.backupIdleMs / 1000} s`), this.#src.backupIdleMs);
    // Node: the timer must not keep the process alive (Deno's timers are numbers, with no unref).
    (b.timer as { unref?: () => void }).unref?.();
  }

  #drop(b: Held, why: string): void {
    if (b.timer !== null) clearTimeout(b.timer);
    if (!this.#held.delete(b.id)) return;
    if (why !== 'done') this.#log('info', `backup ${b.id} for ${b.from} dropped: ${why}`);
  }

  /** A connection closed: the backups it was pulling go with it. */
  disconnected(from: string): void {
    for (const b of [...this.#held.values()]) if (b.from === from) this.#drop(b, 'its connection closed');
  }

  /** The member is stopping: nothing is held any more. */
  close(): void {
    for (const b of [...this.#held.values()]) this.#drop(b, 'this member is stopping');
  }
}
