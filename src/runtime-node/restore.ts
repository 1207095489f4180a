// Seeds one member's data directory of a new cluster from a backup file: the cluster file
// (cluster-meta.ts) under a new cluster id, and a WAL that holds the backup's snapshot at its
// index S as the log's start, with the new voters as its membership and S committed. Every member
// is restored from the same file with the same --peers, so they all start from the same log and
// agree from their first election. `edgeraft peer` then starts from it like any restart.

import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CodedError } from '../core/coded-error.ts';
import { encodeCommand, type TxnOp } from '../core/kv/command.ts';
import { KvMachine } from '../core/kv/machine.ts';
import { logRulesFor } from '../core/modes.ts';
import type { Snapshot } from '../core/types.ts';
import { decodeBackup, type BackupHeader } from './backup-format.ts';
import { writeMeta } from './cluster-meta.ts';
import { memberKeyPrefix } from '../server/member-keys.ts';
import { FileWal } from './wal.ts';

export interface RestoreOptions {
  /** The backup file. */
  readonly from: string;
  /** The new member's data directory: absent or empty. */
  readonly dataDir: string;
  readonly id: string;
  /** Every voter of the new cluster: id -> ws://host:port. */
  readonly peers: Readonly<Record<string, string>>;
  /** The new cluster's id: never the backup's own. */
  readonly cluster: string;
  readonly sync?: 'fdatasync' | 'none';
}

export interface RestoreResult {
  readonly source: BackupHeader;
  /** Where the restored log starts: S, or S + 1 when old member addresses had to be removed. */
  readonly index: number;
  readonly term: number;
  readonly voters: readonly string[];
  /** Members of the old cluster whose addresses were in the state (they are removed). */
  readonly oldMemberAddresses: readonly string[];
  readonly keys: number;
  readonly leases: number;
  readonly sessions: number;
}

export class RestoreError extends CodedError<'ERR_RESTORE'> {
  override readonly name = 'RestoreError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_RESTORE', message, options);
  }
}

export async function restoreBackup(o: RestoreOptions): Promise<RestoreResult> {
  const voters = Object.keys(o.peers).sort();
  if (!voters.includes(o.id)) throw new RestoreError(`--peers must include this member (${o.id}); it lists ${voters.join(', ')}`);
  let file: Uint8Array;
  try {
    file = await readFile(o.from);
  } catch (err) {
    throw new RestoreError(`cannot read the backup ${o.from}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const { header, snapshot } = decodeBackup(o.from, file);
  if (header.cluster === o.cluster) {
    throw new RestoreError(`a restored cluster needs a new --cluster id: ${o.from} was taken from cluster '${header.cluster}', and tokens of that cluster must not work on the restored one (pick another id, and mint new tokens for it)`);
  }
  await requireEmpty(o.dataDir);
  const seeded = seedState(o.from, header, snapshot, voters);
  await writeMeta(o.dataDir, { format: 1, cluster: o.cluster, id: o.id, bootstrap: { voters, learners: [] }, peers: { ...o.peers }, mode: header.mode });
  const walDir = join(o.dataDir, 'wal');
  const walOptions = { logRules: logRulesFor(header.mode), syncMode: o.sync ?? 'fdatasync' } as const;
  const wal = await FileWal.open(walDir, walOptions);
  try {
    await wal.save({ snapshot: seeded.snapshot, entries: [], hardState: { term: seeded.snapshot.meta.term, vote: null, commit: seeded.snapshot.meta.index } });
  } finally {
    await wal.close();
  }
  // Read it back the way the peer will: the snapshot must come out whole, at S, with the new voters.
  const check = await FileWal.open(walDir, walOptions);
  try {
    const loaded = await check.load();
    const meta = loaded.snapshot?.meta;
    if (meta?.index !== seeded.snapshot.meta.index || loaded.snapshot?.data.byteLength !== seeded.snapshot.data.byteLength || meta.conf.voters.join() !== voters.join()) {
      throw new RestoreError(`the WAL written in ${walDir} does not read back as written: remove ${o.dataDir} and restore again`);
    }
  } finally {
    await check.close();
  }
  return { source: header, index: seeded.snapshot.meta.index, term: seeded.snapshot.meta.term, voters, ...seeded.counts };
}

async function requireEmpty(dir: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new RestoreError(`cannot read --data ${dir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  if (names.length > 0) {
    throw new RestoreError(`--data ${dir} is not empty (it holds ${names.slice(0, 3).join(', ')}${names.length > 3 ? ', ...' : ''}): a restore seeds a new data directory; remove it or name another`);
  }
}

/**
 * The snapshot the restored log starts from. The backup's own bytes at S, unless the state holds
 * member addresses of the old cluster (members added at run time put them there): a member reads
 * those over its --peers, so they are deleted by one entry at S + 1 that every member applies
 * here, the same way (the old log time, no session), before the first start.
 */
function seedState(from: string, header: BackupHeader, data: Uint8Array, voters: readonly string[]): {
  snapshot: Snapshot; counts: Pick<RestoreResult, 'oldMemberAddresses' | 'keys' | 'leases' | 'sessions'>;
} {
  const machine = new KvMachine({ outOfOrder: header.mode === 'parallel' });
  try {
    machine.restore(data);
  } catch (err) {
    throw new RestoreError(`${from} holds a snapshot this edgeraft cannot load: ${(err as Error).message}`);
  }
  if (machine.appliedIndex !== header.index) {
    throw new RestoreError(`${from} says its snapshot is at index ${header.index}, but the snapshot itself is at ${machine.appliedIndex}`);
  }
  const memberKeys = machine.scan({ prefix: memberKeyPrefix }).map(([k]) => k);
  let index = header.index;
  let bytes = data;
  if (memberKeys.length > 0) {
    const success: TxnOp[] = memberKeys.map((key) => ({ op: 'delete', key }));
    index = header.index + 1;
    const cmd = encodeCommand({ timeMs: machine.logTimeMs, session: null, cmd: { op: 'txn', compare: [], success, failure: [] } });
    machine.apply({ term: header.term, index, type: 'normal', data: cmd });
    bytes = machine.snapshot();
  }
  return {
    snapshot: { meta: { index, term: header.term, conf: { voters, learners: [] } }, data: bytes },
    counts: {
      oldMemberAddresses: memberKeys.map((k) => k.slice(memberKeyPrefix.length)),
      keys: machine.size,
      leases: machine.leaseCount, sessions: machine.sessions,
    },
  };
}
