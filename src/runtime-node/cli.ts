// The `edgeraft` command line: run a peer, mint tokens, inspect and use a cluster. Every command
// has --help; a wrong flag or argument is a usage error (exit 2) that names it; an operational
// failure (no quorum, timeout) exits 1.

import { ClientError } from '../client/errors.ts';
import type { KvClient } from '../client/kv.ts';
import { connect } from '../client/node.ts';
import { mintToken, type TokenRole } from '../transport/token.ts';
import { readSecret, tokenCommand } from './cli-token.ts';
import { readSecretFile } from './token-files.ts';
import { duration, nodeFlags, opt, parse, peerUrls, required, UsageError } from './cli-args.ts';
import { Peer } from './peer.ts';
import { peerFlagOptions, peerFlagSpec, peerKvHelp } from '../server/peer-flags.ts';
import { runPeer } from '../server/peer-process.ts';
import { PeerOptionError } from '../server/peer-options.ts';
import { runStart } from './cli-start.ts';
import { kvCommand } from './cli-kv.ts';
import { backupCommand, restoreCommand } from './cli-backup.ts';
import { certCommand } from './cli-cert.ts';
import { caFileOf, readCaFile, schemeOf, tlsClientHelp } from './cli-tls.ts';

const help = {
  main: `edgeraft — consensus for the edge

usage: edgeraft <command> [options]     (edgeraft <command> --help for each)

commands:
  start            run a local 3-peer cluster and its web page (what \`npm start\` runs)
  peer             run one peer in the foreground
  cert --dev       write a throwaway CA and a certificate for trying TLS on one machine
  token            print a JWT for clients, readers, learners or admins; keygen; revoke
  status           show each member's role, term, commit and applied index, and lag
  kv               keys, ranges, transactions, watches, leases, locks, elections
  members          list | add | promote | remove members
  transfer-leader  move leadership to another voter
  backup           stream a consistent snapshot of a running cluster into a file
  restore          seed a member of a new cluster from a backup file

exit codes: 0 success, 1 operational failure (no quorum, timeout), 2 usage error or a refusal
no retry mends (a token refused, forbidden or for another cluster, a bad request)
`,
  peer: `usage: edgeraft peer --id ID --listen HOST:PORT --peers ID=HOST:PORT,... --data DIR
                    (--secret-file FILE | --insecure) [options]

Runs one voting peer in the foreground, logging JSON lines to stderr. On the first start it
bootstraps the cluster from --peers (which must include this peer); later starts recover from
--data and ignore a differing --peers with a warning.

  --id ID              this member's id (letters, digits, . _ -)
  --listen HOST:PORT   where peers, clients and browsers connect (also serves /metrics)
  --peers LIST         every voting member at bootstrap: ID=HOST:PORT,...
  --data DIR           data directory (write-ahead log, snapshots, lock)
  --secret-file FILE   the cluster secret (at least 16 characters; keep it mode 0600); during a
                       rotation up to 4, one per line (see Tokens below)
  --insecure           no secret, no authentication: loopback addresses only
  --cluster NAME       cluster id (default edgeraft); tokens name it
  --join               start as a new member of an existing cluster (add it with
                       \`edgeraft members add\` first); --peers then lists existing members
  --mode MODE          raft (default) or parallel: ParallelRaft's out-of-order acknowledge,
                       commit and apply (docs/parallel-raft.md); fixed once the data directory
                       exists, the same on every member; no follower-readers (browser tabs) yet
  --tick-ms N          milliseconds per Raft tick (default 50: heartbeats every tick, election
                       timeout 10-20 ticks, leader lease (10 - 1) x N x 0.9 ms); every member
                       must use the same value (a peer with another is refused when it connects)
  --connections N      parallel connections per peer pair (default 1)
  --read-rounds N      ReadIndex rounds that may be in flight at once (default 1: a read arriving
                       during a round waits for the next, costing up to one more round trip;
                       across regions set 8, so each batch of reads starts its own round)
  --snapshot-entries N take a snapshot every N applied entries (default 50000)
  --snapshot-retain N  entries kept behind a snapshot for followers that lag a little (default 5000)
  --learners-max N     follower-readers (browser tabs) this peer replicates to at once; more are
                       refused with ERR_UNAVAILABLE, so tabs never crowd out voters (default 256)
  --learner-inflight N AppendEntries in flight per learner or follower-reader (default 32)
  --learner-inflight-bytes N  bytes of entries in flight per learner or follower-reader
                       (default 4194304 = 4 MiB); with one message (1 MiB) it must stay below
                       the link's high-water mark (8 MiB), where appends would be shed and sent
                       again: a slow tab then gets less, not the same entries twice
  --relay-learners on|off  while following, serve follower-readers that connect here the
                       committed log and pass their reads to the leader (default on); off:
                       only the leader serves them
  --sync MODE          fdatasync (default) or none (benchmarks only: unsafe on power loss)
  --log-level LEVEL    debug | info | warn | error (default info)
  --faults             accept fault-injection requests (tests and the demo page only): drop Raft
                       traffic with given members, hold back given message types
  --exit-with-parent   stop gracefully when stdin closes (used by \`edgeraft start\`)

TLS (docs/operations.md "TLS"):
  --tls-cert FILE      PEM certificate (then any intermediates): the port serves wss:// and
                       https:// (peers, clients, browser tabs, /metrics), and peers are dialed over
                       wss:// (--peers ID=HOST:PORT then means wss://)
  --tls-key FILE       its PEM private key (unencrypted; keep it mode 0600)
  --tls-ca FILE        PEM CA certificate(s) that other peers' certificates must be signed by
                       (default: the system's CA store)
  --peer-mtls          also require a client certificate signed by that CA from every peer that
                       connects (clients and browsers need none)
  SIGHUP reloads the three files: new connections get the new certificate, open ones stay; a
  file that fails a check is logged and the previous certificate kept. A missing, unreadable,
  expired or not-yet-valid certificate, or a key that does not match it, stops the start (exit 2).

Tokens (docs/operations.md "Tokens: JWTs, keys and rotation"):
  A --secret-file of several secrets: this peer proves with the first (and signs HS256 tokens
  with it) and accepts all of them from others (a rotation's overlap).
  --token-public-key FILE  a public key that verifies EdDSA or ES256 tokens minted by an app
                       backend: PEM (SPKI) or a JWK (repeatable)
  --token-jwks FILE    a JWKS of such public keys, picked by the token's kid (repeatable)
  --token-algs LIST    algorithms tokens may be signed with (default EdDSA,ES256,HS256; HS256 is
                       verified with the cluster secrets: leave it out so only app keys mint)
  SIGHUP also reads --secret-file and the key files again; a file that fails is logged, naming
  it, and the previous keys kept. A bad key file at start stops it (exit 2).

${peerKvHelp}`,
  status: `usage: edgeraft status --peers HOST:PORT,... [--token T | --secret-file FILE] [--ca FILE] [--json]

Asks each member for its view: role, term, commit and applied index, log size, lag.
${tlsClientHelp}`,
  members: `usage: edgeraft members <list | add ID HOST:PORT [--learner] | promote ID | remove ID>
                       --peers HOST:PORT,... (--token ADMIN_TOKEN | --secret-file FILE)

Adds a member (as a learner with --learner, the safe way: promote it once it caught up),
promotes a caught-up learner to voter, or removes a member. Start a new member with
\`edgeraft peer --join\` after adding it. A removed member stops by itself once it applies its
removal or a remaining member tells it (when it next contacts one).
${tlsClientHelp}`,
  transfer: `usage: edgeraft transfer-leader ID --peers HOST:PORT,... (--token ADMIN_TOKEN | --secret-file FILE)
${tlsClientHelp}`,
};

const clientFlags = {
  peers: { type: 'string' }, token: { type: 'string' }, 'secret-file': { type: 'string' }, timeout: { type: 'string' }, ca: { type: 'string' },
  json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
} as const;

async function peerCommand(argv: string[]): Promise<number> {
  const { values } = parse(argv, nodeFlags(peerFlagSpec));
  if (values.help === true) return print(help.peer);
  let peer: Peer;
  let exitWithParent = false;
  try {
    const f = peerFlagOptions(values);
    exitWithParent = f.exitWithParent;
    peer = await Peer.start({ ...f.options, secret: await secretOf(f.secretFile), webRoot: f.webRoot, tls: f.tls, peerMtls: f.peerMtls });
  } catch (err) {
    if (err instanceof UsageError) throw err;
    process.stderr.write(`edgeraft peer: ${(err as Error).message}\n`);
    return err instanceof PeerOptionError ? 2 : 1;
  }
  return runPeer(peer, 'edgeraft peer', exitWithParent, {
    onSignal: (signal, f) => { process.on(signal, f); },
    onParentGone: (f) => {
      // A supervisor (edgeraft start) holds our stdin open; when it dies the pipe closes.
      process.stdin.on('end', f);
      process.stdin.on('error', f);
      process.stdin.resume();
      return () => process.stdin.destroy();
    },
    exit: (code) => process.exit(code),
    say: (line) => process.stderr.write(`${line}\n`),
  });
}

/** All the secrets of --secret-file (a rotation's overlap); a warning when others may read it. */
async function secretOf(secretFile: string | null): Promise<string[] | null> {
  if (secretFile === null) return null;
  const read = await readSecretFile(secretFile);
  if (read.warning !== null) process.stderr.write(`edgeraft: warning: ${read.warning}\n`);
  return read.secrets;
}

async function client(values: Record<string, string | boolean | undefined>, role: TokenRole = 'admin'): Promise<KvClient> {
  const peersText = (values.peers as string | undefined) ?? process.env.EDGERAFT_PEERS;
  if (peersText === undefined) throw new UsageError('--peers is required (or set EDGERAFT_PEERS)');
  const caFile = caFileOf(values);
  const ca = caFile !== undefined ? readCaFile(caFile) : undefined;
  const peers = peerUrls(peersText, schemeOf(values));
  let token = (values.token as string | undefined) ?? process.env.EDGERAFT_TOKEN;
  const secretFile = opt(values, 'secret-file') as string | undefined;
  if (token === undefined && secretFile !== undefined) {
    token = await mintToken(await readSecret(secretFile), { role, sub: 'cli', cluster: process.env.EDGERAFT_CLUSTER ?? 'edgeraft', expMs: Date.now() + 600_000 });
  }
  const timeoutMs = duration(opt(values, 'timeout') ?? '10s', 'timeout');
  return connect({ peers, timeoutMs, ...(token !== undefined ? { token } : {}), ...(ca !== undefined ? { ca } : {}) });
}

function out(values: Record<string, string | boolean | undefined>, value: unknown, text: string): void {
  process.stdout.write(values.json === true ? `${JSON.stringify(value)}\n` : `${text}\n`);
}

async function statusCommand(argv: string[]): Promise<number> {
  const { values } = parse(argv, clientFlags);
  if (values.help === true) return print(help.status);
  const kv = await client(values, 'reader');
  try {
    const urls = peerUrls(((values.peers as string | undefined) ?? process.env.EDGERAFT_PEERS)!, schemeOf(values));
    const rows: Record<string, unknown>[] = [];
    for (const url of urls) {
      try {
        rows.push(await kv.status(url));
      } catch (err) {
        rows.push({ url, error: (err as Error).message });
      }
    }
    if (values.json === true) {
      process.stdout.write(`${JSON.stringify(rows)}\n`);
    } else {
      const head = ['id', 'url', 'role', 'term', 'leader', 'commit', 'applied', 'log', 'keys'];
      const lines = rows.map((r) => ('error' in r ? [String(r.url), '', `unreachable: ${String(r.error)}`] : [
        r.id, r.url, r.role, r.term, r.leader ?? '-', r.commit, r.applied, r.logEntries, r.keys,
      ].map(String)));
      const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => (l[i] ?? '').length)));
      process.stdout.write(`${[head, ...lines].map((l) => l.map((c, i) => (c ?? '').padEnd(widths[i]!)).join('  ')).join('\n')}\n`);
      const leader = rows.find((r) => r.role === 'leader');
      const members = (leader?.members as { members?: Array<{ id: string; lag?: number; role: string }> } | undefined)?.members;
      if (members !== undefined) {
        process.stdout.write(`\nlag behind the leader's commit: ${members.map((m) => `${m.id} (${m.role}) ${m.lag ?? '?'}`).join(', ')}\n`);
      }
    }
    return rows.some((r) => 'error' in r) ? 1 : 0;
  } finally {
    await kv.close();
  }
}

async function membersCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { ...clientFlags, learner: { type: 'boolean' } }, 3);
  if (values.help === true || positionals.length === 0) return print(help.members, values.help === true ? 0 : 2);
  const [action, id, addr] = positionals;
  const kv = await client(values);
  try {
    let r: Record<string, unknown>;
    switch (action) {
      case 'list': r = await kv.members('list'); break;
      case 'add': {
        if (id === undefined || addr === undefined) throw new UsageError('usage: edgeraft members add ID HOST:PORT [--learner]');
        r = await kv.members(values.learner === true ? 'addLearner' : 'addVoter', id, peerUrls(addr, schemeOf(values))[0]);
        break;
      }
      case 'promote': if (id === undefined) throw new UsageError('usage: edgeraft members promote ID'); r = await kv.members('promote', id); break;
      case 'remove': if (id === undefined) throw new UsageError('usage: edgeraft members remove ID'); r = await kv.members('remove', id); break;
      default: throw new UsageError(`unknown members action '${action}' (list, add, promote or remove)`);
    }
    // list answers { leader, members: [...] }; changes answer { index, members: { leader, members } }.
    const inner = (Array.isArray(r.members) ? r : r.members) as { members?: Array<Record<string, unknown>> } | undefined;
    const list = inner?.members ?? [];
    if (typeof r.unchanged === 'string' && values.json !== true) process.stderr.write(`(nothing to do: ${r.unchanged})\n`);
    out(values, r, list.map((m) => `${String(m.id)}\t${String(m.role)}\t${String(m.url ?? '')}${m.lag !== undefined ? `\tlag ${String(m.lag)}` : ''}`).join('\n'));
    return 0;
  } finally {
    await kv.close();
  }
}

async function transferCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, clientFlags, 1);
  if (values.help === true) return print(help.transfer);
  if (positionals.length !== 1) throw new UsageError(help.transfer.trim());
  const kv = await client(values);
  try {
    await kv.transferLeader(positionals[0]!);
    out(values, { transferring: positionals[0] }, `leadership transfer to ${positionals[0]} started`);
    return 0;
  } finally {
    await kv.close();
  }
}

function print(text: string, code = 0): number {
  (code === 0 ? process.stdout : process.stderr).write(text);
  return code;
}

export async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case undefined: case 'help': case '-h': case '--help': return print(help.main);
      case 'start': return await runStart(rest);
      case 'peer': return await peerCommand(rest);
      case 'cert': return await certCommand(rest);
      case 'token': return await tokenCommand(rest, client);
      case 'status': return await statusCommand(rest);
      case 'kv': return await kvCommand(rest, client);
      case 'members': return await membersCommand(rest);
      case 'transfer-leader': return await transferCommand(rest);
      case 'backup': return await backupCommand(rest, client);
      case 'restore': return await restoreCommand(rest);
      default: throw new UsageError(`unknown command '${command}'`);
    }
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`edgeraft${command !== undefined ? ` ${command}` : ''}: ${err.message}\n(see edgeraft ${command ?? ''} --help)\n`);
      return 2;
    }
    if (err instanceof ClientError) {
      process.stderr.write(`edgeraft ${command}: ${err.code}: ${err.message}\n`);
      // 2: the request or its credentials are wrong, and no retry will mend them.
      return ['ERR_FORBIDDEN', 'ERR_WRONG_CLUSTER', 'ERR_BAD_REQUEST', 'ERR_OPTIONS'].includes(err.code) ? 2 : 1;
    }
    process.stderr.write(`edgeraft ${command}: ${(err as Error).message}\n`);
    return 1;
  }
}


if (process.argv[1] !== undefined && /cli\.(ts|js)$/.test(process.argv[1])) {
  // `edgeraft status | head` closes our stdout early: that is not an error.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
