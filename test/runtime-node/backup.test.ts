// Online backup and restore, in process: the file format (round trip, CRC, magic, version), the
// backup op through the SDK from a live cluster (admin only, chunked, S at or above the writes
// acknowledged before it), and a restore that a Peer then starts from (old member addresses gone,
// the new voters, the state at S).

import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { connectWith, type KvClient } from '../../src/client/kv.ts';
import { ClientError } from '../../src/client/errors.ts';
import { allowed, decodeRequest, decodeResponse, decodeResponseHead, encodeRequest, encodeResponse } from '../../src/client/protocol.ts';
import type { BackupChunk } from '../../src/client/backup.ts';
import { BackupFileError, BackupWriter, decodeBackup, type BackupHeader } from '../../src/runtime-node/backup-format.ts';
import { BackupError, backupLimits, BackupService, type BackupSource } from '../../src/server/backup-service.ts';
import { freePorts } from '../../src/runtime-node/local-probe.ts';
import { memberKeyPrefix } from '../../src/server/member-keys.ts';
import { Peer } from '../../src/runtime-node/peer.ts';
import { restoreBackup, RestoreError } from '../../src/runtime-node/restore.ts';
import { dialWs } from '../../src/runtime-node/ws-socket.ts';
import { unsignedToken } from '../../src/transport/token.ts';
import { TestCluster, until } from './kv-harness.ts';

const dir = mkdtempSync(join(tmpdir(), 'edgeraft-backup-'));

async function writeBackup(path: string, header: BackupHeader, data: Uint8Array, chunk: number): Promise<void> {
  const w = await BackupWriter.create(path, header);
  for (let o = 0; o < data.byteLength; o += chunk) await w.append(data.subarray(o, o + chunk));
  await w.finish();
}

/** The error `fn` throws (it must throw). */
async function thrown(fn: () => Promise<unknown>): Promise<Error> {
  try {
    await fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a refusal, got none');
}

const format = suite('backup file format');

format('round trip through chunks; one flipped byte fails the CRC, naming the file', async () => {
  const data = new Uint8Array(300_001).map((_, i) => (i * 7) & 0xff);
  const header: BackupHeader = { cluster: 'a', mode: 'raft', index: 42, term: 3, createdAt: new Date(0).toISOString(), snapshotBytes: data.byteLength };
  const path = join(dir, 'f.backup');
  await writeBackup(path, header, data, 65_536);
  const file = readFileSync(path);
  const back = decodeBackup(path, file);
  assert.equal(back.header, header);
  assert.equal(Buffer.from(back.snapshot).equals(Buffer.from(data)), true);
  const flipped = Buffer.from(file);
  flipped[flipped.length >> 1]! ^= 0x01;
  const err = await thrown(async () => decodeBackup(path, flipped));
  assert.instance(err, BackupFileError);
  assert.equal((err as BackupFileError).code, 'ERR_BACKUP_CORRUPT');
  assert.match(err.message, path);
  assert.match(err.message, /CRC32C check fails/);
  const truncated = file.subarray(0, file.length - 10);
  assert.match((await thrown(async () => decodeBackup(path, truncated))).message, /CRC32C check fails/);
});

format('a file that is not a backup, or of another version, says so', async () => {
  const err = await thrown(async () => decodeBackup('x.json', Buffer.from('{"not": "a backup"}')));
  assert.equal((err as BackupFileError).code, 'ERR_BACKUP_FORMAT');
  assert.match(err.message, /^x\.json is not an edgeraft backup/);
  const path = join(dir, 'v.backup');
  await writeBackup(path, { cluster: 'a', mode: 'raft', index: 1, term: 1, createdAt: '', snapshotBytes: 1 }, new Uint8Array(1), 1);
  const file = Buffer.from(readFileSync(path));
  file.writeUInt32BE(2, 16);
  const v = await thrown(async () => decodeBackup(path, file));
  assert.equal((v as BackupFileError).code, 'ERR_BACKUP_VERSION');
  assert.match(v.message, /format version 2; this edgeraft reads version 1/);
});

format('the writer refuses more or fewer bytes than it announced, and leaves FILE untouched', async () => {
  const path = join(dir, 'short.backup');
  const w = await BackupWriter.create(path, { cluster: 'a', mode: 'raft', index: 1, term: 1, createdAt: '', snapshotBytes: 4 });
  await w.append(new Uint8Array(3));
  assert.match((await thrown(() => w.finish())).message, /3 snapshot bytes written, 4 announced/);
  await w.abort();
  assert.throws(() => readFileSync(path), /ENOENT/);
});

format.run();

const wire = suite('backup op on the wire');

wire('request and answer round-trip; an answer past the snapshot\'s end is refused; only admins may ask', () => {
  assert.equal(decodeRequest(encodeRequest(3, { op: 'backup', backup: 2, offset: 1024 })), { id: 3, op: 'backup', backup: 2, offset: 1024 });
  const reply = { kind: 'backup', backup: 2, cluster: 'c', mode: 'raft', index: 9, term: 2, size: 10, offset: 4, chunk: new Uint8Array([1, 2, 3]) } as const;
  assert.equal(decodeResponse(decodeResponseHead(encodeResponse({ id: 3, ok: true, reply })), 'backup'), { id: 3, ok: true, reply });
  const past = encodeResponse({ id: 3, ok: true, reply: { ...reply, offset: 8 } });
  assert.throws(() => decodeResponse(decodeResponseHead(past), 'backup'), /runs past the snapshot's 10 bytes/);
  assert.equal(['admin', 'peer', 'client', 'reader', 'learner'].map((r) => allowed(r as 'admin', 'backup')), [true, true, false, false, false]);
});

wire.run();

const service = suite('backup service');

/** A member whose state is `bytes` at index 7 of term 2; appliedAbove counts down per applied entry (ParallelRaft). */
function source(bytes: number, appliedAbove = 0, limits = { backupsMax: 2, backupIdleMs: 30_000 }): BackupSource & { applied: number } {
  const src = {
    cluster: 'c', mode: 'raft', applied: 7, ...limits,
    driver: {
      read: () => Promise.resolve({ index: 6, path: 'readIndex' as const }),
      waitApplied: (i: number) => { src.applied = Math.max(src.applied, i); appliedAbove = Math.max(0, appliedAbove - 1); return Promise.resolve(); },
      node: { termAt: (i: number) => (i <= src.applied ? 2 : -1) },
    },
    machine: {
      snapshot: () => new Uint8Array(bytes).fill(src.applied),
      get appliedIndex() { return src.applied; },
      get appliedAbove() { return appliedAbove; },
    },
  };
  return src as unknown as BackupSource & { applied: number };
}

const quiet = () => {};

service('chunks in order for the connection that asked only; at most backupsMax; dropped when done or disconnected', async () => {
  const svc = new BackupService(source(2 * backupLimits.chunkBytes + 5), quiet);
  const a = await svc.serve('a', { id: 1, op: 'backup', backup: 0, offset: 0 });
  assert.equal(a.kind, 'backup');
  if (a.kind !== 'backup') return;
  assert.equal([a.index, a.term, a.size, a.offset, a.chunk.byteLength], [7, 2, 2 * backupLimits.chunkBytes + 5, 0, backupLimits.chunkBytes]);
  const b = await svc.serve('b', { id: 1, op: 'backup', backup: 0, offset: 0 });
  const busy = await thrown(() => svc.serve('c', { id: 1, op: 'backup', backup: 0, offset: 0 }));
  assert.equal((busy as BackupError).code, 'ERR_BUSY');
  const other = await thrown(async () => svc.serve('b', { id: 2, op: 'backup', backup: a.backup, offset: backupLimits.chunkBytes }));
  assert.equal((other as BackupError).code, 'ERR_BAD_REQUEST');
  svc.disconnected('b');
  assert.equal((await thrown(async () => svc.serve('b', { id: 2, op: 'backup', backup: (b as { backup: number }).backup, offset: 0 }))).message.includes('not held'), true);
  const second = await svc.serve('a', { id: 2, op: 'backup', backup: a.backup, offset: backupLimits.chunkBytes });
  const last = await svc.serve('a', { id: 3, op: 'backup', backup: a.backup, offset: 2 * backupLimits.chunkBytes });
  assert.equal(second.kind === 'backup' && second.chunk.byteLength, backupLimits.chunkBytes);
  assert.equal(last.kind === 'backup' && last.chunk.byteLength, 5);
  // The last chunk released it.
  assert.equal(((await thrown(async () => svc.serve('a', { id: 4, op: 'backup', backup: a.backup, offset: 0 }))) as BackupError).code, 'ERR_BAD_REQUEST');
  svc.close();
});

service('a backup no request touches for --backup-idle-ms is dropped, and frees its place', async () => {
  const svc = new BackupService(source(2 * backupLimits.chunkBytes, 0, { backupsMax: 1, backupIdleMs: 50 }), quiet);
  const a = await svc.serve('a', { id: 1, op: 'backup', backup: 0, offset: 0 });
  assert.equal(((await thrown(() => svc.serve('b', { id: 1, op: 'backup', backup: 0, offset: 0 }))) as BackupError).code, 'ERR_BUSY', '--backups-max 1');
  await new Promise((r) => setTimeout(r, 120));
  const gone = await thrown(async () => svc.serve('a', { id: 2, op: 'backup', backup: (a as { backup: number }).backup, offset: 0 }));
  assert.match(gone.message, /idle for more than 0\.05 s/);
  assert.equal((await svc.serve('b', { id: 1, op: 'backup', backup: 0, offset: 0 })).kind, 'backup', 'its place is free again');
  svc.close();
});

service('ParallelRaft: the snapshot waits for a moment with nothing applied above the watermark', async () => {
  const src = source(10, 3);
  const r = await new BackupService(src, quiet).serve('a', { id: 1, op: 'backup', backup: 0, offset: 0 });
  assert.equal(r.kind === 'backup' && r.index, 9);
});

service.run();

const live = suite('backup from a live cluster, restore, start');
let c: TestCluster | null = null;
let kv: KvClient | null = null;

/** An insecure cluster's token: its role is all that counts. */
function token(role: 'admin' | 'reader'): string {
  return unsignedToken({ role, sub: role, cluster: 'edgeraft', expMs: Date.now() + 600_000 });
}

/** The cluster and an admin client, made by the first test (an error in a before hook would go unreported). */
async function start(): Promise<KvClient> {
  c = await TestCluster.start(3);
  kv = await connectWith({ peers: c.peers.map((p) => p.url), dial: dialWs, timeoutMs: 10_000, token: token('admin') });
  return kv;
}

live.after(async () => {
  await kv?.close();
  await c?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function collect(client: KvClient): Promise<BackupChunk[]> {
  const chunks: BackupChunk[] = [];
  for await (const ch of client.backup()) chunks.push(ch);
  return chunks;
}

live('a reader token is refused; an admin gets chunks in order, at or above every acknowledged write', async () => {
  await start();
  const reader = await connectWith({ peers: c!.peers.map((p) => p.url), dial: dialWs, timeoutMs: 5000, token: token('reader') });
  try {
    const err = await thrown(() => collect(reader));
    assert.instance(err, ClientError);
    assert.equal((err as ClientError).code, 'ERR_FORBIDDEN');
  } finally {
    await reader.close();
  }
  // Enough state for several chunks: 24 values of 128 KiB.
  const big = 'x'.repeat(128 * 1024);
  let last = 0;
  for (let i = 0; i < 24; i++) last = (await kv!.put(`big/${i}`, `${i}:${big}`)).index;
  // A member added at run time leaves its address in the state (it never starts: a learner).
  await kv!.members('addLearner', 'n9', 'ws://127.0.0.1:9');
  const chunks = await collect(kv!);
  const first = chunks[0]!;
  assert.ok(chunks.length >= 3, `${chunks.length} chunks`);
  assert.ok(first.index >= last, `snapshot index ${first.index} is below the last acknowledged write ${last}`);
  let offset = 0;
  for (const ch of chunks) {
    assert.equal(ch.offset, offset);
    assert.ok(ch.bytes.byteLength <= backupLimits.chunkBytes);
    offset += ch.bytes.byteLength;
  }
  assert.equal(offset, first.size);
  const path = join(dir, 'live.backup');
  const w = await BackupWriter.create(path, { cluster: first.cluster, mode: 'raft', index: first.index, term: first.term, createdAt: new Date().toISOString(), snapshotBytes: first.size });
  for (const ch of chunks) await w.append(ch.bytes);
  await w.finish();
  assert.equal(decodeBackup(path, readFileSync(path)).header.index, first.index);
});

live('restore refuses the same cluster id and a non-empty directory; then a peer starts from it', async () => {
  const from = join(dir, 'live.backup');
  const port = (await freePorts(1))[0]!;
  const peers = { r1: `ws://127.0.0.1:${port}` };
  const same = await thrown(() => restoreBackup({ from, dataDir: join(dir, 'same'), id: 'r1', peers, cluster: 'edgeraft', sync: 'none' }));
  assert.instance(same, RestoreError);
  assert.match(same.message, /a restored cluster needs a new --cluster id/);
  const full = join(dir, 'full');
  mkdirSync(full);
  writeFileSync(join(full, 'x'), '');
  assert.match((await thrown(() => restoreBackup({ from, dataDir: full, id: 'r1', peers, cluster: 'new', sync: 'none' }))).message, /is not empty/);
  const source = decodeBackup(from, readFileSync(from)).header;
  const r = await restoreBackup({ from, dataDir: join(dir, 'r1'), id: 'r1', peers, cluster: 'new', sync: 'none' });
  assert.equal(r.oldMemberAddresses, ['n9']);
  // The old address goes in one entry above S.
  assert.equal(r.index, source.index + 1);
  const peer = await Peer.start({ id: 'r1', port, peers, dataDir: join(dir, 'r1'), cluster: 'new', insecure: true, sync: 'none', logLevel: 'error' });
  try {
    await until(() => peer.driver.role === 'leader', 'the restored member to lead');
    assert.equal(peer.conf(), { voters: ['r1'], learners: [] });
    assert.equal(peer.machine.scan({ prefix: memberKeyPrefix }), []);
    assert.equal(peer.urlOf('n9'), null);
    assert.equal(typeof peer.machine.get('big/23'), 'string');
    assert.equal(peer.machine.getKv('big/23')!.modRevision <= source.index, true);
  } finally {
    await peer.stop();
  }
});

live.run();
