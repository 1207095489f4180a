// One group commit: the encoded records of the saves that a single write + fdatasync makes
// durable, where in which segment they go, and the one promise those saves share (no promise
// per save on the hot path).
import type { Snapshot } from '../core/types.ts';
import type { RecordBuffer } from './wal-format.ts';

/** Bytes [start, next span's start) of a group's buffer go to segment `seq` at `fileOffset`. */
export interface Span {
  readonly seq: number;
  readonly fileOffset: number;
  readonly start: number;
}

/** The saves that one write + fdatasync makes durable; they all share one promise. */
export class Group {
  readonly buf: RecordBuffer;
  readonly spans: Span[];
  readonly snapshots: Snapshot[] = [];
  /** After the sync: segments before this one are dead and are deleted. */
  deleteBeforeSeq = 0;
  /** After the sync: snapshot files below this index are no longer referenced. */
  snapIndex = 0;
  /** Lowest entry index this group writes: entries() of it must wait until it is written. */
  minIndex = Infinity;
  ops = 0;
  #promise: Promise<void> | null = null;
  #resolve: () => void = () => undefined;
  #reject: (err: Error) => void = () => undefined;

  constructor(buf: RecordBuffer, seq: number, fileOffset: number) {
    this.buf = buf;
    this.spans = [{ seq, fileOffset, start: 0 }];
  }

  join(): Promise<void> {
    this.ops++;
    this.#promise ??= new Promise<void>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    return this.#promise;
  }

  resolve(): void {
    this.#resolve();
  }

  reject(err: Error): void {
    this.#reject(err);
  }
}
