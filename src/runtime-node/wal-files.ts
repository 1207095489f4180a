// File names and file-level I/O of the WAL directory: segment and snapshot naming, promise
// wrappers over the callback fs API (cheaper per call than FileHandle on the group-commit path),
// zero-filled preallocation, and atomic replace (temp file, fsync, rename, fsync of the dir).
import fs from 'node:fs';
import { join } from 'node:path';
import { Buffer } from 'node:buffer';

export const versionFileName = 'VERSION';
const segmentRe = /^(\d{16})\.wal$/;
const snapshotRe = /^snap-(\d{16})\.snap$/;

export function segmentName(seq: number): string {
  return `${String(seq).padStart(16, '0')}.wal`;
}

export function parseSegmentName(name: string): number | null {
  const m = segmentRe.exec(name);
  return m === null ? null : Number(m[1]);
}

export function snapshotName(index: number): string {
  return `snap-${String(index).padStart(16, '0')}.snap`;
}

export function parseSnapshotName(name: string): number | null {
  const m = snapshotRe.exec(name);
  return m === null ? null : Number(m[1]);
}

/** Name a segment is preallocated under until the writer renames it into the sequence. */
export function preallocName(seq: number): string {
  return `${segmentName(seq)}.tmp`;
}

export function writeAll(fd: number, buf: Uint8Array, offset: number, length: number, position: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const step = (off: number, len: number, pos: number): void => {
      fs.write(fd, buf, off, len, pos, (err, written) => {
        if (err) reject(err);
        else if (written < len) step(off + written, len - written, pos + written);
        else resolve();
      });
    };
    step(offset, length, position);
  });
}

export function fdatasync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.fdatasync(fd, (err) => (err ? reject(err) : resolve())));
}

export function fsync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.fsync(fd, (err) => (err ? reject(err) : resolve())));
}

export function closeFd(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.close(fd, (err) => (err ? reject(err) : resolve())));
}

export function openFd(path: string, flags: string | number): Promise<number> {
  return new Promise((resolve, reject) => fs.open(path, flags, 0o644, (err, fd) => (err ? reject(err) : resolve(fd))));
}

/**
 * Opens a segment for appending. With `dsync`, O_DSYNC: each write returns once its bytes are on
 * stable storage, as write + fdatasync would, but in one trip to the thread pool instead of two
 * (measured here: a 300-byte group 0.13-0.20 ms against 0.16-0.25 ms through libuv). Segments are
 * zero-filled before use, so an O_DSYNC write into one commits no block allocation either.
 */
export function openSegmentFd(path: string, dsync: boolean): Promise<number> {
  return openFd(path, fs.constants.O_RDWR | (dsync ? fs.constants.O_DSYNC : 0));
}

/** Makes renames, creations and deletions in `dir` durable. */
export async function fsyncDir(dir: string): Promise<void> {
  const fd = await openFd(dir, 'r');
  try {
    await fsync(fd);
  } finally {
    await closeFd(fd);
  }
}

const zeros = Buffer.alloc(1 << 20);

/**
 * Creates `path` with `bytes` of real zeros and returns it open for writing. Why zeros and not
 * ftruncate(): ftruncate makes a sparse file, and every later fdatasync into a hole must also
 * commit the block allocation (a journal write); measured here, 128 KiB group writes sync in
 * 0.18 ms into a zero-filled file against 0.62 ms into a sparse one. Node has no fallocate(),
 * and its unwritten extents would need the same metadata commit on first write anyway.
 */
export async function preallocate(path: string, bytes: number): Promise<number> {
  const fd = await openFd(path, 'w+');
  try {
    for (let pos = 0; pos < bytes; pos += zeros.length) {
      await writeAll(fd, zeros, 0, Math.min(zeros.length, bytes - pos), pos);
    }
    await fsync(fd);
    return fd;
  } catch (err) {
    await closeFd(fd).catch(() => undefined);
    throw err;
  }
}

/** Replaces dir/name atomically and durably with the concatenation of `parts`. */
export async function writeFileAtomic(dir: string, name: string, parts: readonly Uint8Array[]): Promise<void> {
  const tmp = join(dir, `${name}.tmp`);
  const fd = await openFd(tmp, 'w');
  try {
    let pos = 0;
    for (const p of parts) {
      await writeAll(fd, p, 0, p.byteLength, pos);
      pos += p.byteLength;
    }
    await fsync(fd);
  } finally {
    await closeFd(fd);
  }
  await fs.promises.rename(tmp, join(dir, name));
  await fsyncDir(dir);
}
