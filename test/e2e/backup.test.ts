// Online backup and restore end to end, through the built CLI (dist/node/cli.js): a 3-member cluster under a write load of
// several independent clients is backed up while the load runs; the file restores into a new
// 3-member cluster under a new cluster id, which must hold exactly the state at the backup's
// index S (every write acknowledged before the backup started, every acknowledged write up to S
// unless a later one up to S overwrote it, nothing above S), refuse the old cluster's tokens, and
// restart the leases with their full TTL. A file with one flipped byte is refused for its CRC.

import { execFile, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { KvClient } from '../../src/client/kv.ts';
import { connect } from '../../src/client/node.ts';
import { decodeBackup } from '../../src/runtime-node/backup-format.ts';
import { mintToken } from '../../src/transport/token.ts';
import { Cluster, sleep, type CliResult } from './cluster.ts';
import { hermeticEnv, repoRoot } from './proc.ts';

const writers = 4;
/** Keys per writer: each is overwritten many times during the load. */
const keysPerWriter = 8;
const leaseTtlMs = 60_000;
const restoredCluster = 'restored';
const distCli = join(repoRoot, 'dist/node/cli.js');

/** Runs the built CLI (what a user installs) with `args`. */
function cli(args: readonly string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [distCli, ...args], { cwd: repoRoot, env: hermeticEnv(), timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null;
      resolve({ code, signal: (err?.signal as NodeJS.Signals | undefined) ?? null, stdout, stderr });
    });
  });
}

interface Write {
  readonly key: string;
  readonly value: string;
  readonly writer: number;
  readonly seq: number;
  /** Its revision, once acknowledged. */
  index: number | null;
  ackedAt: number | null;
}

/** One client writing its own keys in turn until stop(); every attempt and acknowledgement is kept. */
function load(kvs: readonly KvClient[]): { writes: Write[]; stop: () => Promise<void> } {
  const writes: Write[] = [];
  let stopping = false;
  const loops = kvs.map(async (kv, w) => {
    for (let seq = 1; !stopping; seq++) {
      const write: Write = { key: `w/${w}/${seq % keysPerWriter}`, value: `${w}:${seq}`, writer: w, seq, index: null, ackedAt: null };
      writes.push(write);
      try {
        write.index = (await kv.put(write.key, write.value)).index;
        write.ackedAt = performance.now();
      } catch {
        // Outcome unknown: the checks allow it either way.
      }
    }
  });
  return { writes, stop: async () => { stopping = true; await Promise.all(loops); } };
}

const s = suite('online backup and restore');
let old: Cluster | null = null;
let restored: Cluster | null = null;
let failed = false;

s.after(async () => {
  await restored?.close({ failed });
  await old?.close({ failed });
});

s('backup under load; restore into a new cluster: the state at S, old tokens refused, leases restarted', async () => {
  try {
    // Built first, so the test never runs a stale bundle.
    const build = spawnSync(process.execPath, ['build.mjs', '--quiet'], { cwd: repoRoot, encoding: 'utf8' });
    assert.equal(build.status, 0, build.stderr);
    old = await Cluster.start({ size: 3, name: 'backup' });
    const c = old;
    const admin = await c.client('admin');
    const lease = await admin.grant(leaseTtlMs);
    await admin.put('leased', 'yes', { lease });
    const { writes, stop } = load(await Promise.all(Array.from({ length: writers }, () => c.client('client'))));
    await sleep(1500);

    // Every write acknowledged before the backup call starts.
    const backupStartedAt = performance.now();
    const ackedBefore = writes.filter((w) => w.ackedAt !== null && w.ackedAt < backupStartedAt);
    const file = join(c.dir, 'cluster.backup');
    const b = await cli(['backup', '--out', file, '--json', '--peers', c.clientPeersFlag(), '--secret-file', c.secretFile]);
    assert.equal(b.code, 0, `backup failed: ${b.stderr}`);
    await sleep(300);
    await stop();
    const summary = JSON.parse(b.stdout) as { index: number; cluster: string };
    const { header } = decodeBackup(file, readFileSync(file));
    const S = header.index;
    assert.equal(summary.index, S);
    assert.equal(header.cluster, 'edgeraft');
    assert.ok(ackedBefore.length > 20, `only ${ackedBefore.length} writes before the backup`);
    for (const w of ackedBefore) assert.ok(w.index! <= S, `write ${w.value} acknowledged at ${w.index} before the backup, above S ${S}`);
    assert.ok(writes.some((w) => w.index !== null && w.index > S), 'the load went on past S');

    // One flipped byte: refused for its CRC, naming the file.
    const bad = join(c.dir, 'flipped.backup');
    const bytes = readFileSync(file);
    bytes[bytes.length >> 1]! ^= 0x10;
    writeFileSync(bad, bytes);
    restored = await Cluster.create({ size: 3, name: 'restored', extraArgs: ['--cluster', restoredCluster] });
    const r = restored;
    // The same secret as the old cluster: its tokens are refused for their cluster id alone.
    writeFileSync(r.secretFile, `${c.secret}\n`, { mode: 0o600 });
    const peers = r.peersFlag();
    const [corrupt, same] = await Promise.all([
      cli(['restore', '--from', bad, '--data', r.dataDir('n1'), '--id', 'n1', '--peers', peers, '--cluster', restoredCluster]),
      cli(['restore', '--from', file, '--data', r.dataDir('n1'), '--id', 'n1', '--peers', peers, '--cluster', 'edgeraft']),
    ]);
    assert.equal(corrupt.code, 2);
    assert.match(corrupt.stderr, `${bad} is damaged: its CRC32C check fails`);
    assert.equal(same.code, 2);
    assert.match(same.stderr, /a restored cluster needs a new --cluster id/);

    // Once per member, with the same file and --peers.
    const restores = await Promise.all(r.ids.map((id) => cli(['restore', '--from', file, '--data', r.dataDir(id), '--id', id, '--peers', peers, '--cluster', restoredCluster, '--json'])));
    restores.forEach((res, i) => {
      assert.equal(res.code, 0, `restore ${r.ids[i]}: ${res.stderr}`);
      assert.equal((JSON.parse(res.stdout) as { index: number }).index, S);
    });
    const restoredAt = performance.now();
    await r.startAll();
    const token = await mintToken(c.secret, { role: 'admin', sub: 'e2e', cluster: restoredCluster, expMs: Date.now() + 600_000 });
    const kv = await connect({ peers: r.ids.map((id) => r.url(id)), token, timeoutMs: 20_000 });
    try {
      const range = await kv.range({ prefix: 'w/' });
      const got = new Map(range.kvs.map((x) => [String(x.key), x]));
      checkStateAt(S, writes, got);
      for (const w of ackedBefore) assert.ok(got.has(w.key), `${w.key} (written before the backup) is missing`);
      assert.ok(range.revision >= S);

      // The lease exists with its key, and its clock restarted with the restored cluster's leader.
      const info = await kv.leaseInfo(lease.id);
      assert.equal(info.ttlMs, leaseTtlMs);
      assert.equal(info.keys, ['leased']);
      const oldInfo = await admin.leaseInfo(lease.id);
      const sinceRestore = performance.now() - restoredAt;
      assert.ok(info.remainingMs !== null && oldInfo.remainingMs !== null);
      assert.ok(info.remainingMs! >= leaseTtlMs - sinceRestore - 1000, `remaining ${info.remainingMs} ms, ${Math.round(sinceRestore)} ms after the restore`);
      assert.ok(info.remainingMs! > oldInfo.remainingMs!, `restored lease has ${info.remainingMs} ms left, the old cluster's ${oldInfo.remainingMs}`);

      // The old sessions came along (unusable: their clients hold old tokens); a new client's
      // writes open a session of their own.
      const st = await kv.status();
      assert.ok((st.sessions as number) >= writers, `${String(st.sessions)} sessions restored`);
      await kv.put('after-restore', 'ok');
      assert.equal(await kv.get('after-restore'), 'ok');
    } finally {
      await kv.close();
    }

    // A token of the old cluster: refused at once, naming both clusters.
    const oldToken = await c.token('admin');
    const refused = await cli(['kv', 'get', 'leased', '--peers', r.clientPeersFlag(), '--token', oldToken, '--timeout', '5s']);
    assert.not.equal(refused.code, 0);
    assert.match(refused.stderr, /ERR_WRONG_CLUSTER/);
    assert.match(refused.stderr, restoredCluster);
  } catch (err) {
    failed = true;
    throw err;
  }
});

/**
 * The restored keys are exactly the state at S: for each key, the last write at or below S (an
 * acknowledged one at its own revision; one whose outcome is unknown only if nothing acknowledged
 * up to S came after it), none above S.
 */
function checkStateAt(S: number, writes: readonly Write[], got: ReadonlyMap<string, { value: unknown; modRevision: number }>): void {
  const byValue = new Map(writes.map((w) => [w.value, w]));
  const lastAcked = new Map<string, Write>();
  for (const w of writes) {
    if (w.index === null || w.index > S) continue;
    const prev = lastAcked.get(w.key);
    if (prev === undefined || prev.index! < w.index) lastAcked.set(w.key, w);
  }
  for (const [key, kv] of got) {
    assert.ok(kv.modRevision <= S, `${key} has modRevision ${kv.modRevision} > S ${S}`);
    const w = byValue.get(String(kv.value));
    assert.ok(w !== undefined && w.key === key, `${key} holds ${String(kv.value)}, which no client wrote there`);
    const last = lastAcked.get(key);
    if (w.index !== null) {
      assert.equal(w.index, kv.modRevision, `${key}: ${w.value} was acknowledged at ${w.index}, restored at ${kv.modRevision}`);
      assert.equal(w, last, `${key} holds ${w.value}, not the last write up to S (${last?.value})`);
    } else {
      assert.ok(last === undefined || w.seq > last.seq, `${key} holds ${w.value} (outcome unknown), older than ${last?.value} acknowledged at ${last?.index}`);
    }
  }
  for (const [key, w] of lastAcked) assert.ok(got.has(key), `${key} (${w.value} at ${w.index} <= S) is missing`);
}

s.run();
