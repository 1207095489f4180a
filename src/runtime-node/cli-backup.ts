// `edgeraft backup` and `edgeraft restore`: an online backup of a running cluster into one file
// (backup-format.ts), pulled through the SDK from one member, and a restore of that file into
// the data directory of each member of a new cluster (restore.ts). docs/operations.md "Online
// backup and restore" says what carries over.

import { rm } from 'node:fs/promises';
import { ClientError } from '../client/errors.ts';
import { opt, parse, peerMap, required } from './cli-args.ts';
import type { ConnectFn } from './cli-kv.ts';
import { BackupFileError, BackupWriter, type BackupHeader } from './backup-format.ts';
import { restoreBackup, RestoreError } from './restore.ts';

export const backupHelp = {
  backup: `usage: edgeraft backup --peers HOST:PORT,... --out FILE (--token ADMIN_TOKEN | --secret-file FILE)
                      [--timeout 30s] [--ca FILE] [--json]

Streams a consistent snapshot of a running cluster into FILE. The member that serves it first
gets a linearizable read index R (as a linearizable read does), waits until it has applied R,
then snapshots its state at its applied index S >= R: every write acknowledged before the backup
started is in it, and nothing after S is. The file records the cluster id, the mode, S and its
term, the time, and a CRC32C. It is written to FILE.tmp, synced, then renamed to FILE. Progress
goes to stderr for states over 4 MiB. --timeout bounds the start and each chunk (default 30s).
--ca FILE: a TLS cluster's CA, as for every client command.
`,
  restore: `usage: edgeraft restore --from FILE --data DIR --id ID --peers ID=HOST:PORT,... --cluster NEWID [--json]

Seeds DIR (absent or empty) as member ID of a new cluster from a backup: run it once per member,
with the same FILE, --peers and --cluster, then start each with \`edgeraft peer\` and the same
--id, --peers, --cluster (and --mode if the backup's is parallel). The new cluster starts at the
backup's index S with --peers as its voters. --cluster must differ from the backup's cluster,
so tokens of the old cluster are refused by the new one: mint new tokens. Leases restart with
their full TTL when the new cluster elects its first leader; client sessions of the old cluster
are kept but unusable (clients open new ones) and expire after their TTL of log time.
`,
};

/** States above this size get progress lines on stderr. */
const progressBytesMin = 4 * 1024 * 1024;
const progressEveryMs = 1000;

type Values = Record<string, string | boolean | undefined>;

export async function backupCommand(argv: readonly string[], connect: ConnectFn): Promise<number> {
  const { values } = parse(argv, {
    peers: { type: 'string' }, token: { type: 'string' }, 'secret-file': { type: 'string' }, timeout: { type: 'string' }, ca: { type: 'string' },
    out: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
  });
  if (values.help === true) return print(backupHelp.backup);
  const out = required(values, 'out');
  const kv = await connect({ ...values, timeout: opt(values, 'timeout') ?? '30s' }, 'admin');
  let writer: BackupWriter | null = null;
  try {
    const started = Date.now();
    let shown = started;
    let header: BackupHeader | null = null;
    for await (const c of kv.backup()) {
      if (writer === null) {
        if (c.mode !== 'raft' && c.mode !== 'parallel') throw new ClientError('ERR_INTERNAL', `${c.servedBy} runs in an unknown mode ${JSON.stringify(c.mode)}`);
        header = { cluster: c.cluster, mode: c.mode, index: c.index, term: c.term, createdAt: new Date().toISOString(), snapshotBytes: c.size };
        writer = await BackupWriter.create(out, header);
        if (c.size >= progressBytesMin) process.stderr.write(`edgeraft backup: ${c.servedBy} snapshots index ${c.index}: ${mib(c.size)} to write\n`);
      }
      await writer.append(c.bytes);
      const done = c.offset + c.bytes.byteLength;
      if (c.size >= progressBytesMin && (Date.now() - shown >= progressEveryMs || done === c.size)) {
        shown = Date.now();
        process.stderr.write(`edgeraft backup: ${mib(done)} of ${mib(c.size)} (${Math.floor((done / c.size) * 100)}%)\n`);
      }
    }
    if (writer === null || header === null) throw new ClientError('ERR_INTERNAL', 'the backup ended before its first chunk');
    await writer.finish();
    const summary = { file: out, cluster: header.cluster, mode: header.mode, index: header.index, term: header.term, bytes: header.snapshotBytes, ms: Date.now() - started };
    process.stdout.write(values.json === true ? `${JSON.stringify(summary)}\n`
      : `backup of cluster ${header.cluster} at index ${header.index} (term ${header.term}): ${header.snapshotBytes} bytes of state written to ${out}\n`);
    return 0;
  } catch (err) {
    if (writer !== null) {
      await writer.abort();
      await rm(writer.tmpPath, { force: true });
    }
    throw err;
  } finally {
    await kv.close();
  }
}

export async function restoreCommand(argv: readonly string[]): Promise<number> {
  const { values } = parse(argv, {
    from: { type: 'string' }, data: { type: 'string' }, id: { type: 'string' }, peers: { type: 'string' }, cluster: { type: 'string' },
    json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
  });
  if (values.help === true) return print(backupHelp.restore);
  const options = {
    from: required(values, 'from'), dataDir: required(values, 'data'), id: required(values, 'id'),
    peers: peerMap(required(values, 'peers')), cluster: required(values, 'cluster'),
  };
  let r: Awaited<ReturnType<typeof restoreBackup>>;
  try {
    r = await restoreBackup(options);
  } catch (err) {
    // A refused file or directory is the operator's to fix, like a usage error.
    if (err instanceof BackupFileError || err instanceof RestoreError) {
      process.stderr.write(`edgeraft restore: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  report(values, r, options.dataDir, options.cluster);
  return 0;
}

function report(values: Values, r: Awaited<ReturnType<typeof restoreBackup>>, dir: string, cluster: string): void {
  if (values.json === true) {
    process.stdout.write(`${JSON.stringify({ ...r, data: dir, cluster })}\n`);
    return;
  }
  const dropped = r.oldMemberAddresses.length > 0 ? `; old member addresses removed (${r.oldMemberAddresses.join(', ')}) by entry ${r.index}` : '';
  process.stdout.write(`restored ${dir} as member of cluster ${cluster} (voters ${r.voters.join(', ')}) from cluster ${r.source.cluster}'s backup at index ${r.source.index} (term ${r.term}, taken ${r.source.createdAt}): ${r.keys} keys, ${r.leases} leases, ${r.sessions} client sessions${dropped}${r.source.mode === 'parallel' ? '; start the peer with --mode parallel' : ''}\n`);
}

function mib(n: number): string {
  return `${(n / (1024 * 1024)).toFixed(1)} MiB`;
}

function print(text: string): number {
  process.stdout.write(text);
  return 0;
}
