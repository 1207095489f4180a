// The backup file `edgeraft backup` writes and `edgeraft restore` reads: a magic string and
// format version, a JSON header (source cluster, mode, index S and its term, creation time,
// snapshot size), the state machine's snapshot bytes, and a CRC32C over everything before it.
// The writer streams (chunks are appended as they arrive), writes FILE.tmp, syncs it and renames
// it, so FILE is either a whole backup or absent.

import { open, rename, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { CodedError } from '../core/coded-error.ts';
import { crc32c } from './crc32c.ts';

/** The file's first bytes (16, ending in a newline so `head -c 16` shows what the file is). */
export const backupMagic = 'EDGERAFT-BACKUP\n';
export const backupFormatVersion = 1;
/** A header this long is certainly not ours (it holds a few short fields). */
const headerBytesMax = 64 * 1024;

const magicBytes = new TextEncoder().encode(backupMagic);
/** Magic, version (u32), header length (u32). */
const prefixBytes = magicBytes.byteLength + 8;
const crcBytes = 4;

export interface BackupHeader {
  /** The cluster the backup was taken from (a restore must name another). */
  readonly cluster: string;
  readonly mode: 'raft' | 'parallel';
  /** The applied index S the snapshot was taken at, and its term. */
  readonly index: number;
  readonly term: number;
  /** When the backup was written (ISO 8601). */
  readonly createdAt: string;
  readonly snapshotBytes: number;
}

export type BackupFileErrorCode = 'ERR_BACKUP_FORMAT' | 'ERR_BACKUP_VERSION' | 'ERR_BACKUP_CORRUPT';

/** A file that is not a backup this version can restore; the message names the file and the problem. */
export class BackupFileError extends CodedError<BackupFileErrorCode> {
  override readonly name = 'BackupFileError';
}

function u32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n >>> 0);
  return b;
}

/** Writes a backup as its snapshot arrives: create(), append() each chunk in order, then finish(). */
export class BackupWriter {
  readonly path: string;
  readonly #tmp: string;
  readonly #fh: FileHandle;
  readonly #header: BackupHeader;
  #crc = 0;
  #written = 0;

  private constructor(path: string, fh: FileHandle, header: BackupHeader) {
    this.path = path;
    this.#tmp = `${path}.tmp`;
    this.#fh = fh;
    this.#header = header;
  }

  static async create(path: string, header: BackupHeader): Promise<BackupWriter> {
    const fh = await open(`${path}.tmp`, 'w', 0o600);
    const w = new BackupWriter(path, fh, header);
    const json = new TextEncoder().encode(JSON.stringify(header));
    await w.#write(magicBytes);
    await w.#write(u32(backupFormatVersion));
    await w.#write(u32(json.byteLength));
    await w.#write(json);
    return w;
  }

  /** Snapshot bytes, in order. */
  async append(bytes: Uint8Array): Promise<void> {
    if (this.#written + bytes.byteLength > this.#header.snapshotBytes) {
      throw new RangeError(`backup ${this.path}: ${this.#written + bytes.byteLength} snapshot bytes, more than the ${this.#header.snapshotBytes} announced`);
    }
    this.#written += bytes.byteLength;
    await this.#write(bytes);
  }

  /** Appends the CRC, syncs, and renames FILE.tmp to FILE (then syncs the directory). */
  async finish(): Promise<void> {
    if (this.#written !== this.#header.snapshotBytes) {
      throw new RangeError(`backup ${this.path}: ${this.#written} snapshot bytes written, ${this.#header.snapshotBytes} announced`);
    }
    await this.#fh.write(u32(this.#crc));
    await this.#fh.sync();
    await this.#fh.close();
    await rename(this.#tmp, this.path);
    const dir = await open(dirname(this.path), 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  }

  /** Gives up: FILE.tmp is closed (the caller may remove it; FILE was never touched). */
  async abort(): Promise<void> {
    await this.#fh.close().catch(() => {});
  }

  get tmpPath(): string {
    return this.#tmp;
  }

  async #write(b: Uint8Array): Promise<void> {
    this.#crc = crc32c(b, this.#crc);
    await this.#fh.write(b);
  }
}

/** Checks magic, version, CRC and header of a whole backup file; returns its header and snapshot. */
export function decodeBackup(path: string, file: Uint8Array): { header: BackupHeader; snapshot: Uint8Array } {
  const fail = (code: BackupFileErrorCode, problem: string) => new BackupFileError(code, `${path} ${problem}`);
  if (file.byteLength < prefixBytes || !magicBytes.every((b, i) => file[i] === b)) {
    throw fail('ERR_BACKUP_FORMAT', `is not an edgeraft backup: it does not start with ${JSON.stringify(backupMagic)}`);
  }
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const version = view.getUint32(magicBytes.byteLength);
  if (version !== backupFormatVersion) {
    throw fail('ERR_BACKUP_VERSION', `is a backup of format version ${version}; this edgeraft reads version ${backupFormatVersion}`);
  }
  const headerBytes = view.getUint32(magicBytes.byteLength + 4);
  if (headerBytes > headerBytesMax || prefixBytes + headerBytes + crcBytes > file.byteLength) {
    throw fail('ERR_BACKUP_CORRUPT', `is damaged or truncated: its header claims ${headerBytes} bytes, and the file holds ${file.byteLength}`);
  }
  const body = file.subarray(0, file.byteLength - crcBytes);
  const stored = view.getUint32(file.byteLength - crcBytes);
  const computed = crc32c(body);
  if (stored !== computed) {
    throw fail('ERR_BACKUP_CORRUPT', `is damaged: its CRC32C check fails (stored ${hex(stored)}, computed ${hex(computed)}); the file was changed or truncated after it was written`);
  }
  let header: BackupHeader;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(file.subarray(prefixBytes, prefixBytes + headerBytes))) as BackupHeader;
  } catch {
    throw fail('ERR_BACKUP_FORMAT', 'has a header that is not valid JSON');
  }
  const snapshot = file.subarray(prefixBytes + headerBytes, file.byteLength - crcBytes);
  const problem = headerProblem(header, snapshot.byteLength);
  if (problem !== null) throw fail('ERR_BACKUP_FORMAT', `has a bad header: ${problem}`);
  return { header, snapshot };
}

function headerProblem(h: BackupHeader, snapshotBytes: number): string | null {
  if (typeof h !== 'object' || h === null) return 'it is not an object';
  if (typeof h.cluster !== 'string' || h.cluster.length === 0) return 'cluster must be a non-empty string';
  if (h.mode !== 'raft' && h.mode !== 'parallel') return `mode must be raft or parallel (got ${JSON.stringify(h.mode)})`;
  if (!Number.isSafeInteger(h.index) || h.index < 1) return `index must be a positive integer (got ${JSON.stringify(h.index)})`;
  if (!Number.isSafeInteger(h.term) || h.term < 1) return `term must be a positive integer (got ${JSON.stringify(h.term)})`;
  if (typeof h.createdAt !== 'string') return 'createdAt must be a string';
  if (h.snapshotBytes !== snapshotBytes) return `it announces ${String(h.snapshotBytes)} snapshot bytes, the file holds ${snapshotBytes}`;
  return null;
}

function hex(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}
