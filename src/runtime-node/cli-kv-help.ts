// The --help texts of `edgeraft kv` and of each of its actions (cli-kv.ts).

const connection = `connection: --peers HOST:PORT,... (or EDGERAFT_PEERS) and --token T (or EDGERAFT_TOKEN) or
            --secret-file FILE; --timeout 10s; --json for machine-readable output; a TLS cluster:
            --ca FILE (or EDGERAFT_CA), the CA to trust for wss:// (bare HOST:PORT then means wss://)`;

export const kvHelp = {
  main: `usage: edgeraft kv <action> ... --peers HOST:PORT,... [--token T | --secret-file FILE] [--ca FILE] [--timeout 10s] [--json]

actions (edgeraft kv <action> --help for each):
  put KEY VALUE [--lease ID]            write a key (attached to a lease: it goes when the lease does)
  get KEY [--consistency C]             read a key
  del KEY | --prefix P | --start S [--end E]   delete a key, or every key of a range
  cas KEY EXPECTED NEW | cas KEY NEW --absent  compare-and-set
  scan [--prefix P] [--start S] [--end E] [--limit N]   keys and values in key order
  range KEY | --prefix P | --start S [--end E] [--limit N]   keys with their revisions
  txn [SPEC | -]                        a transaction: compares, then one branch, atomically
  watch KEY | --prefix P | --start S [--end E] [--from REV] [--prev] [--progress]
                                        print every change as a JSON line, until Ctrl-C
  lease grant TTL_MS | revoke ID | keepalive ID [--once] | info ID
  lock NAME [--ttl MS] [-- COMMAND...]  hold a lock (while COMMAND runs, or until Ctrl-C)
  elect NAME VALUE [--ttl MS] | elect NAME --observe   run for leader, or watch who leads
  compact REVISION                      forget the watch history up to REVISION (admin)

  --consistency C   linearizable (default) | readindex | lease | follower | stale

exit codes: 0 success, 1 operational failure (no quorum, timeout, a lost lease; cas and txn:
the compare failed), 2 usage error or refusal (a bad flag, argument or txn spec; a token refused,
out of its scopes or for another cluster)
`,
  put: `usage: edgeraft kv put KEY VALUE [--lease ID]

Writes VALUE at KEY; prints the index (the revision) it got. With --lease, the key is attached to the lease
(from \`edgeraft kv lease grant\`): it is deleted when the lease is revoked or expires.

${connection}
`,
  get: `usage: edgeraft kv get KEY [--consistency C]

Prints the value of KEY, or (absent). --consistency: linearizable (default) | readindex | lease |
follower | stale.

${connection}
`,
  del: `usage: edgeraft kv del KEY | --prefix P | --start S [--end E]

Deletes KEY, or every key that starts with P, or every key in [S, E) (no --end: to the last key),
in one revision. Prints how many went.

${connection}
`,
  cas: `usage: edgeraft kv cas KEY EXPECTED NEW | edgeraft kv cas KEY NEW --absent

Writes NEW only if KEY holds EXPECTED (--absent: only if KEY does not exist). Exit 1 when it did
not swap.

${connection}
`,
  scan: `usage: edgeraft kv scan [--prefix P] [--start S] [--end E] [--limit N] [--consistency C]

Prints KEY<tab>VALUE lines in key order (at most N, default 1000).

${connection}
`,
  range: `usage: edgeraft kv range KEY | --prefix P | --start S [--end E] [--limit N] [--consistency C]

Prints each key with its value, create and mod revisions, version and lease (at most N, default
1000; "(more)" when there were more), and on stderr the revision the answer reflects.

${connection}
`,
  txn: `usage: edgeraft kv txn [SPEC | -]

Runs a transaction given as JSON (the argument; - or none: read from stdin), as one log entry:
if every compare holds the success operations run, else the failure ones.

  {"compare": [{"key": "k", "target": "value", "op": "=", "value": "v1"}],
   "success": [{"op": "put", "key": "k", "value": "v2"}, {"op": "get", "key": "k"}],
   "failure": [{"op": "get", "key": "k"}]}

  compare targets: value, version, createRevision, modRevision, lease; ops: = != < >
                   (createRevision = 0: the key does not exist)
  operations: {"op":"put","key","value","lease"?}  {"op":"delete","key"}  {"op":"get","key"}
              {"op":"deleteRange","prefix"} or {"op":"deleteRange","start","end"?}
              {"op":"range","prefix" | "key" | "start","end"?, "limit"?}

Prints which branch ran, the revision, and each operation's result (--json: one JSON object).
Exit 0 when the compares held, 1 when the failure branch ran, 2 when the spec is malformed.

${connection}
`,
  watch: `usage: edgeraft kv watch KEY | --prefix P | --start S [--end E] [--from REV] [--prev] [--progress]

Prints one JSON line per change until Ctrl-C:
  {"type":"put","key":"k","value":"v","revision":12,"createRevision":3,"modRevision":12,"version":4,"lease":0}
--from REV starts at revision REV (the history from there, then new changes; default: from now),
--prev adds each key's previous state ("prev"), --progress prints {"progress":true,"revision":N}
when nothing changes. It resumes by itself on another member if its member goes, with no change
lost or repeated. Keys and values that are not UTF-8 print as 0x-hex. Exit 1 with ERR_COMPACTED
when the history from --from is gone (read the state, then watch from after it).

${connection}
`,
  lease: `usage: edgeraft kv lease grant TTL_MS | revoke ID | keepalive ID [--once] | info ID

  grant TTL_MS    grants a lease; prints its id. Attach keys with kv put --lease ID.
  revoke ID       revokes it: its keys are deleted at once.
  keepalive ID    keeps it alive (a keep-alive every third of its TTL) until Ctrl-C; --once sends
                  one and exits. Exit 1 if the lease is lost (expired, or no keep-alive answered).
  info ID         its TTL, the time left on the leader's clock, and its keys.

${connection}
`,
  lock: `usage: edgeraft kv lock NAME [--ttl MS] [--prefix P] [-- COMMAND [ARGS...]]

Takes the lock NAME (waiting for earlier holders), on a lease of --ttl MS (default 10000) kept
alive meanwhile. With a COMMAND it runs it while holding the lock, with the lock's fencing token
in EDGERAFT_FENCING_TOKEN (and its key in EDGERAFT_LOCK_KEY), releases the lock when it exits,
and exits with its exit code. Without, it prints the fencing token and holds the lock until
Ctrl-C. If this process dies, the lock is released when its lease expires. If the lease is
lost meanwhile, the command gets SIGTERM and the exit code is 1. Ctrl-C while waiting: 130.
Its key lives under --prefix P NAME/ (default edgeraft/lock/NAME/): a token scoped to
tenants/acme/ takes locks with --prefix tenants/acme/lock/.

${connection}
`,
  elect: `usage: edgeraft kv elect NAME VALUE [--ttl MS] [--prefix P] | edgeraft kv elect NAME --observe [--prefix P]

Runs for leader of NAME with VALUE, on a lease of --ttl MS (default 10000); prints once it
leads (with its fencing token, which grows with every new leader) and holds the leadership until
Ctrl-C (then resigns). Exit 1 if the lease is lost while leading. --observe prints the leader,
then every change of leader, until Ctrl-C. Keys live under --prefix P NAME/ (default
edgeraft/election/NAME/): a token scoped to tenants/acme/ uses --prefix tenants/acme/election/.

${connection}
`,
  compact: `usage: edgeraft kv compact REVISION

Forgets the watch history up to and including REVISION (an admin token): a watch from an older
revision then gets ERR_COMPACTED.

${connection}
`,
} as const;
