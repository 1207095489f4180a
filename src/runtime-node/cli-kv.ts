// `edgeraft kv ...`: the key-value commands of the CLI, one small handler per action over the
// client SDK. Each action has --help; a flag that is not the action's, a missing or extra
// argument, a malformed txn spec are usage errors (exit 2); what the cluster refuses or cannot do
// exits 1 (main() in cli.ts maps errors to exit codes). The long-running ones (watch, lease
// keepalive, lock, elect) run until Ctrl-C (SIGINT) or SIGTERM and then clean up.

import { spawn } from 'node:child_process';
import { ClientError } from '../client/errors.ts';
import { keyText, type KeyValue, type RangeSpec } from '../client/keys.ts';
import type { KvClient } from '../client/kv.ts';
import type { Lease } from '../client/lease.ts';
import { consistencies, type Consistency } from '../client/protocol.ts';
import { toWireTxn, type TxnOpResult, type TxnRequest, type TxnResponse } from '../client/txn.ts';
import type { WatchEvent } from '../client/watch.ts';
import type { Value } from '../core/kv/command.ts';
import type { TokenRole } from '../transport/token.ts';
import { integer, opt, parse, UsageError, type Flags } from './cli-args.ts';
import { kvHelp } from './cli-kv-help.ts';

type Values = Record<string, string | boolean | undefined>;
export type ConnectFn = (values: Values, role?: TokenRole) => Promise<KvClient>;

const common = ['peers', 'token', 'secret-file', 'timeout', 'ca', 'json', 'help'];
const flags: Flags = {
  peers: { type: 'string' }, token: { type: 'string' }, 'secret-file': { type: 'string' }, timeout: { type: 'string' }, ca: { type: 'string' },
  json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
  consistency: { type: 'string' }, prefix: { type: 'string' }, start: { type: 'string' }, end: { type: 'string' }, limit: { type: 'string' },
  absent: { type: 'boolean' }, lease: { type: 'string' }, from: { type: 'string' }, prev: { type: 'boolean' }, progress: { type: 'boolean' },
  ttl: { type: 'string' }, observe: { type: 'boolean' }, once: { type: 'boolean' },
};

/** The flags each action takes besides the common ones. */
const actionFlags: Readonly<Record<string, readonly string[]>> = {
  put: ['lease'], get: ['consistency'], del: ['prefix', 'start', 'end'], cas: ['absent'],
  scan: ['consistency', 'prefix', 'start', 'end', 'limit'], range: ['consistency', 'prefix', 'start', 'end', 'limit'],
  txn: [], watch: ['prefix', 'start', 'end', 'from', 'prev', 'progress'], lease: ['once'], lock: ['ttl', 'prefix'], elect: ['ttl', 'observe', 'prefix'],
  compact: [],
};

export async function kvCommand(argv: readonly string[], connect: ConnectFn): Promise<number> {
  // Everything after `--` is the command `kv lock` runs, not ours to parse.
  const dash = argv.indexOf('--');
  const own = dash === -1 ? argv : argv.slice(0, dash);
  const command = dash === -1 ? null : argv.slice(dash + 1);
  const { values, positionals } = parse(own, flags, 4);
  const [action, ...args] = positionals;
  if (action === undefined) return print(kvHelp.main, values.help === true ? 0 : 2);
  const allowed = actionFlags[action];
  if (allowed === undefined) throw new UsageError(`unknown kv action '${action}' (${Object.keys(actionFlags).join(', ')})`);
  if (values.help === true) return print(kvHelp[action as keyof typeof kvHelp] ?? kvHelp.main);
  for (const f of Object.keys(values)) {
    if (values[f] !== undefined && !common.includes(f) && !allowed.includes(f)) throw new UsageError(`--${f} is not a flag of kv ${action}`);
  }
  if (command !== null && action !== 'lock') throw new UsageError(`only kv lock runs a command after --`);
  switch (action) {
    case 'put': case 'get': case 'del': case 'cas': case 'scan': case 'range': case 'compact': return basic(action, args, values, connect);
    case 'txn': return txnAction(args, values, connect);
    case 'watch': return watchAction(args, values, connect);
    case 'lease': return leaseAction(args, values, connect);
    case 'lock': return lockAction(args, command, values, connect);
    case 'elect': return electAction(args, values, connect);
    default: throw new UsageError(`unknown kv action '${action}'`);
  }
}

function print(text: string, code = 0): number {
  (code === 0 ? process.stdout : process.stderr).write(text);
  return code;
}

function need(args: readonly string[], n: number, shape: string): void {
  if (args.length !== n) throw new UsageError(`usage: edgeraft kv ${shape}`);
}

function out(values: Values, value: unknown, text: string): void {
  process.stdout.write(values.json === true ? `${JSON.stringify(value)}\n` : `${text}\n`);
}

/** A value for people and JSON lines: itself when a string, 0x-hex when bytes. */
function valueText(v: Value): string {
  return typeof v === 'string' ? v : keyText(v);
}

function kvJson(kv: KeyValue): Record<string, unknown> {
  return { key: keyText(kv.key), value: valueText(kv.value), createRevision: kv.createRevision, modRevision: kv.modRevision, version: kv.version, lease: kv.lease };
}

function consistencyOf(values: Values): Consistency {
  const c = (opt(values, 'consistency') ?? 'linearizable') as Consistency;
  if (!consistencies.includes(c)) throw new UsageError(`--consistency must be one of ${consistencies.join(', ')} (got '${c}')`);
  return c;
}

/** The range --prefix / --start [--end] name, or `key` (a positional); exactly one of them. */
function rangeOf(values: Values, key: string | undefined, what: string): RangeSpec {
  const prefix = opt(values, 'prefix');
  const start = opt(values, 'start');
  const end = opt(values, 'end');
  const given = [key !== undefined ? 'KEY' : null, prefix !== undefined ? '--prefix' : null, start !== undefined ? '--start' : null].filter((x) => x !== null);
  if (given.length !== 1) throw new UsageError(`${what} needs exactly one of KEY, --prefix P or --start S [--end E] (got ${given.length === 0 ? 'none' : given.join(' and ')})`);
  if (end !== undefined && start === undefined) throw new UsageError(`--end goes with --start`);
  if (key !== undefined) return { key };
  if (prefix !== undefined) return { prefix };
  return end === undefined ? { start: start! } : { start: start!, end };
}

function leaseIdArg(text: string | undefined, what: string): number {
  if (text === undefined || !/^\d+$/.test(text) || !Number.isSafeInteger(Number(text)) || Number(text) === 0) {
    throw new UsageError(`${what} must be a lease id, a positive integer (got '${text ?? ''}')`);
  }
  return Number(text);
}

async function withClient<T>(values: Values, connect: ConnectFn, fn: (kv: KvClient) => Promise<T>, role: TokenRole = 'client'): Promise<T> {
  const kv = await connect(values, role);
  try {
    return await fn(kv);
  } finally {
    await kv.close();
  }
}

// ---- put, get, del, cas, scan, range, compact ------------------------------------------------

async function basic(action: string, args: readonly string[], values: Values, connect: ConnectFn): Promise<number> {
  const [key, a, b] = args;
  switch (action) {
    case 'put': {
      need(args, 2, 'put KEY VALUE [--lease ID]');
      const lease = values.lease === undefined ? 0 : leaseIdArg(opt(values, 'lease'), '--lease');
      const r = await withClient(values, connect, (kv) => kv.put(key!, a!, { lease }));
      out(values, r, `ok (index ${r.index})`);
      return 0;
    }
    case 'get': {
      need(args, 1, 'get KEY');
      const consistency = consistencyOf(values);
      const r = await withClient(values, connect, (kv) => kv.getWithMeta(key!, { consistency }));
      out(values, { ...r, value: r.value === undefined ? null : valueText(r.value) }, r.value === undefined ? '(absent)' : typeof r.value === 'string' ? r.value : `<${r.value.byteLength} bytes>`);
      if (values.json !== true) process.stderr.write(`(index ${r.index}, served by ${r.servedBy} via ${r.path})\n`);
      return 0;
    }
    case 'del': {
      if (args.length > 1) throw new UsageError('usage: edgeraft kv del KEY | --prefix P | --start S [--end E]');
      const spec = rangeOf(values, key, 'kv del');
      if ('key' in spec) {
        const r = await withClient(values, connect, (kv) => kv.delete(key!));
        out(values, r, r.existed ? `deleted (index ${r.index})` : `was absent (index ${r.index})`);
      } else {
        const r = await withClient(values, connect, (kv) => kv.deleteRange(spec));
        out(values, r, `deleted ${r.deleted} key${r.deleted === 1 ? '' : 's'} (revision ${r.revision})`);
      }
      return 0;
    }
    case 'cas': {
      const absent = values.absent === true;
      need(args, absent ? 2 : 3, absent ? 'cas KEY NEW --absent' : 'cas KEY EXPECTED NEW');
      const swapped = await withClient(values, connect, (kv) => (absent ? kv.cas(key!, undefined, a!) : kv.cas(key!, a!, b!)));
      out(values, { swapped }, swapped ? 'swapped' : 'not swapped (the current value differs)');
      return swapped ? 0 : 1;
    }
    case 'scan': {
      need(args, 0, 'scan [--prefix P] [--start S] [--end E] [--limit N]');
      const consistency = consistencyOf(values);
      const limit = integer(opt(values, 'limit'), 'limit', 1000, 1, 10_000);
      const pairs = await withClient(values, connect, (kv) => kv.scan({
        consistency, limit, ...(opt(values, 'prefix') !== undefined ? { prefix: values.prefix as string } : {}),
        ...(opt(values, 'start') !== undefined ? { start: values.start as string } : {}), ...(opt(values, 'end') !== undefined ? { end: values.end as string } : {}),
      }));
      out(values, pairs.map(([k, v]) => [k, valueText(v)]), pairs.map(([k, v]) => `${k}\t${typeof v === 'string' ? v : `<${v.byteLength} bytes>`}`).join('\n') || '(none)');
      return 0;
    }
    case 'range': {
      if (args.length > 1) throw new UsageError('usage: edgeraft kv range KEY | --prefix P | --start S [--end E] [--limit N]');
      const spec = rangeOf(values, key, 'kv range');
      const consistency = consistencyOf(values);
      const limit = integer(opt(values, 'limit'), 'limit', 1000, 1, 10_000);
      const r = await withClient(values, connect, (kv) => kv.range(spec, { consistency, limit }));
      const lines = r.kvs.map((x) => `${keyText(x.key)}\t${valueText(x.value)}\tcreate ${x.createRevision} mod ${x.modRevision} version ${x.version}${x.lease !== 0 ? ` lease ${x.lease}` : ''}`);
      out(values, { revision: r.revision, more: r.more, kvs: r.kvs.map(kvJson) }, `${lines.join('\n') || '(none)'}${r.more ? '\n(more)' : ''}`);
      if (values.json !== true) process.stderr.write(`(revision ${r.revision}, served by ${r.servedBy} via ${r.path})\n`);
      return 0;
    }
    case 'compact': {
      need(args, 1, 'compact REVISION');
      const revision = integer(key, 'REVISION', 0, 1);
      const r = await withClient(values, connect, (kv) => kv.compact(revision), 'admin');
      out(values, r, `compacted: watch history starts after revision ${r.compactRevision}`);
      return 0;
    }
    default: throw new UsageError(`unknown kv action '${action}'`);
  }
}

// ---- txn -------------------------------------------------------------------------------------

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function txnAction(args: readonly string[], values: Values, connect: ConnectFn): Promise<number> {
  if (args.length > 1) throw new UsageError('usage: edgeraft kv txn [SPEC | -]   (SPEC: JSON; - or nothing: read it from stdin)');
  const text = args[0] === undefined || args[0] === '-' ? await readStdin() : args[0];
  let spec: TxnRequest;
  try {
    spec = JSON.parse(text) as TxnRequest;
  } catch (err) {
    throw new UsageError(`the txn spec is not valid JSON: ${(err as Error).message}`);
  }
  for (const k of Object.keys(spec ?? {})) {
    if (!['compare', 'success', 'failure'].includes(k)) throw new UsageError(`the txn spec has an unknown field '${k}' (compare, success, failure)`);
  }
  try {
    toWireTxn(spec);
  } catch (err) {
    // Checked before connecting: a bad spec is a usage error, whether or not a cluster answers.
    if (err instanceof ClientError) throw new UsageError(`the txn spec: ${err.message}`);
    throw err;
  }
  const r = await withClient(values, connect, (kv) => kv.txn(spec));
  out(values, txnJson(r), [
    r.succeeded ? `succeeded (revision ${r.revision})` : `compares failed: the failure branch ran (revision ${r.revision})`,
    ...r.results.map(resultText),
  ].join('\n'));
  return r.succeeded ? 0 : 1;
}

function txnJson(r: TxnResponse): unknown {
  return {
    succeeded: r.succeeded, revision: r.revision,
    results: r.results.map((x) => (x.op === 'get' ? { op: 'get', kv: x.kv === null ? null : kvJson(x.kv) } : x.op === 'range' ? { op: 'range', kvs: x.kvs.map(kvJson), more: x.more } : x)),
  };
}

function resultText(x: TxnOpResult): string {
  switch (x.op) {
    case 'put': return 'put: ok';
    case 'delete': return `delete: ${x.deleted}`;
    case 'deleteRange': return `deleteRange: ${x.deleted}`;
    case 'get': return x.kv === null ? 'get: (absent)' : `get: ${keyText(x.kv.key)}\t${valueText(x.kv.value)}`;
    case 'range': return `range: ${x.kvs.length}${x.more ? '+' : ''}${x.kvs.map((k) => `\n  ${keyText(k.key)}\t${valueText(k.value)}`).join('')}`;
  }
}

// ---- watch -----------------------------------------------------------------------------------

/** Resolves on the first SIGINT or SIGTERM (the listeners go once it does or `stop()` is called). */
function untilSignal(): { done: Promise<string>; stop(): void } {
  let stop = () => {};
  const done = new Promise<string>((resolve) => {
    const on = (sig: string) => () => { stop(); resolve(sig); };
    const int = on('SIGINT');
    const term = on('SIGTERM');
    process.once('SIGINT', int);
    process.once('SIGTERM', term);
    stop = () => { process.off('SIGINT', int); process.off('SIGTERM', term); };
  });
  return { done, stop };
}

function eventJson(e: WatchEvent, revision: number): Record<string, unknown> {
  return {
    type: e.type, key: keyText(e.key), value: valueText(e.value), revision, createRevision: e.createRevision, modRevision: e.modRevision,
    version: e.version, lease: e.lease, ...(e.prev !== undefined ? { prev: kvJson(e.prev) } : {}),
  };
}

async function watchAction(args: readonly string[], values: Values, connect: ConnectFn): Promise<number> {
  if (args.length > 1) throw new UsageError('usage: edgeraft kv watch KEY | --prefix P | --start S [--end E] [--from REV] [--prev] [--progress]');
  const spec = rangeOf(values, args[0], 'kv watch');
  const from = values.from === undefined ? undefined : integer(opt(values, 'from'), 'from', 0, 1);
  const sig = untilSignal();
  return withClient(values, connect, async (kv) => {
    const w = kv.watch(spec, { prevValue: values.prev === true, progressNotify: values.progress === true, ...(from !== undefined ? { fromRevision: from } : {}) });
    void sig.done.then(() => w.close());
    try {
      for await (const b of w) {
        if (b.events.length === 0) process.stdout.write(`${JSON.stringify({ progress: true, revision: b.revision })}\n`);
        for (const e of b.events) process.stdout.write(`${JSON.stringify(eventJson(e, b.revision))}\n`);
      }
      return 0;
    } catch (err) {
      if (err instanceof ClientError && err.code === 'ERR_COMPACTED') {
        process.stderr.write(`edgeraft kv: ERR_COMPACTED: ${err.message}\n(the history from there is gone: read the current state, then watch with --from ${(err.compactRevision ?? 0) + 1} or later)\n`);
        return 1;
      }
      throw err;
    } finally {
      sig.stop();
    }
  });
}

// ---- lease -----------------------------------------------------------------------------------

async function leaseAction(args: readonly string[], values: Values, connect: ConnectFn): Promise<number> {
  const [sub, arg] = args;
  if (sub === undefined) return print(kvHelp.lease, 2);
  if (values.once === true && sub !== 'keepalive') throw new UsageError('--once goes with kv lease keepalive');
  need(args, 2, `lease ${sub === 'grant' ? 'grant TTL_MS' : `${sub} ID`}`);
  switch (sub) {
    case 'grant': {
      const ttlMs = integer(arg, 'TTL_MS', 0, 1);
      const lease = await withClient(values, connect, (kv) => kv.grant(ttlMs));
      out(values, { id: lease.id, ttlMs: lease.ttlMs }, `lease ${lease.id} granted (TTL ${lease.ttlMs} ms)`);
      return 0;
    }
    case 'revoke': {
      const id = leaseIdArg(arg, 'ID');
      const r = await withClient(values, connect, (kv) => kv.revoke(id));
      out(values, { id, ...r }, `lease ${id} revoked: ${r.deleted} key${r.deleted === 1 ? '' : 's'} deleted (revision ${r.revision})`);
      return 0;
    }
    case 'info': {
      const id = leaseIdArg(arg, 'ID');
      const r = await withClient(values, connect, (kv) => kv.leaseInfo(id));
      const keys = r.keys.map(keyText);
      out(values, { ...r, keys }, `lease ${r.id}: TTL ${r.ttlMs} ms, ${r.remainingMs === null ? 'time left unknown (not asked of the leader)' : `${r.remainingMs} ms left`}, ${keys.length} key${keys.length === 1 ? '' : 's'}${keys.map((k) => `\n  ${k}`).join('')}`);
      return 0;
    }
    case 'keepalive': return keepAliveAction(leaseIdArg(arg, 'ID'), values, connect);
    default: throw new UsageError(`unknown kv lease action '${sub}' (grant, revoke, keepalive or info)`);
  }
}

async function keepAliveAction(id: number, values: Values, connect: ConnectFn): Promise<number> {
  const sig = untilSignal();
  try {
    return await withClient(values, connect, async (kv) => {
      const lease = await kv.resumeLease(id);
      out(values, { id, ttlMs: lease.ttlMs, renewed: true }, `lease ${id} renewed (TTL ${lease.ttlMs} ms)`);
      if (values.once === true) return 0;
      kv.keepAlive(lease);
      if (values.json !== true) process.stderr.write(`keeping lease ${id} alive until Ctrl-C\n`);
      const end = await Promise.race([sig.done, lost(lease)]);
      if (end instanceof ClientError) {
        process.stderr.write(`edgeraft kv: ${end.code}: ${end.message}\n`);
        return 1;
      }
      return 0;
    });
  } finally {
    sig.stop();
  }
}

/** Resolves with the error when `lease` ends (lost, revoked, closed). */
function lost(lease: Lease): Promise<ClientError> {
  return new Promise((resolve) => {
    const s = lease.signal;
    const done = () => resolve(s.reason instanceof ClientError ? s.reason : new ClientError('ERR_LEASE_LOST', String(s.reason)));
    if (s.aborted) done();
    else s.addEventListener('abort', done, { once: true });
  });
}

// ---- lock and elect --------------------------------------------------------------------------

/** --prefix P: the recipe's keys live under P NAME/ (a token scoped to some prefix needs one inside it). */
function recipePrefix(values: Values): { prefix?: string } {
  const prefix = opt(values, 'prefix');
  return prefix !== undefined ? { prefix } : {};
}

function ttlOf(values: Values): number {
  return integer(opt(values, 'ttl'), 'ttl', 10_000, 1);
}

async function lockAction(args: readonly string[], command: readonly string[] | null, values: Values, connect: ConnectFn): Promise<number> {
  need(args, 1, 'lock NAME [--ttl MS] [--prefix P] [-- COMMAND [ARGS...]]');
  if (command !== null && command.length === 0) throw new UsageError('kv lock NAME --: the command after -- is missing');
  const name = args[0]!;
  const ttlMs = ttlOf(values);
  const abort = new AbortController();
  const sig = untilSignal();
  void sig.done.then(() => abort.abort(new ClientError('ERR_ABORTED', 'interrupted while waiting for the lock')));
  try {
    return await withClient(values, connect, async (kv) => {
      let lock;
      try {
        lock = await kv.lock(name, { ttlMs, signal: abort.signal, ...recipePrefix(values) });
      } catch (err) {
        if (err instanceof ClientError && err.code === 'ERR_ABORTED') return 130;
        throw err;
      }
      const info = { name, key: lock.key, fencingToken: lock.fencingToken, lease: lock.lease.id, at: Date.now() };
      try {
        if (command === null) {
          out(values, { event: 'locked', ...info }, `locked ${name}: fencing token ${lock.fencingToken} (key ${lock.key}); Ctrl-C releases it`);
          const end = await Promise.race([sig.done, lost(lock.lease)]);
          return end instanceof ClientError ? lostExit(values, end, info, lock.lease) : 0;
        }
        if (values.json === true) out(values, { event: 'locked', ...info }, '');
        return await runHolding(command, lock.fencingToken, lock.key, lock.lease, values, info);
      } finally {
        await lock.release().catch(() => {});
      }
    });
  } finally {
    sig.stop();
  }
}

function lostExit(values: Values, err: ClientError, info: Record<string, unknown>, lease: Lease): number {
  if (values.json === true) out(values, { event: 'lost', ...info, deadline: Math.round(lease.deadline), at: Date.now(), code: err.code }, '');
  process.stderr.write(`edgeraft kv: ${err.code}: ${err.message}\n`);
  return 1;
}

/** Runs `command` while the lock is held; its exit code is ours. A lost lock stops it (exit 1). */
async function runHolding(command: readonly string[], token: number, key: string, lease: Lease, values: Values, info: Record<string, unknown>): Promise<number> {
  const child = spawn(command[0]!, command.slice(1), {
    stdio: 'inherit', env: { ...process.env, EDGERAFT_FENCING_TOKEN: String(token), EDGERAFT_LOCK_KEY: key },
  });
  const exited = new Promise<number>((resolve) => {
    child.once('error', (err) => {
      process.stderr.write(`edgeraft kv lock: cannot run ${command[0]}: ${err.message}\n`);
      resolve(127);
    });
    child.once('exit', (code, signal) => resolve(code ?? (signal !== null ? 128 + signalNumber(signal) : 1)));
  });
  // Ctrl-C reaches the child through the terminal's process group; SIGTERM is passed on.
  const onTerm = () => child.kill('SIGTERM');
  process.on('SIGTERM', onTerm);
  try {
    const end = await Promise.race([exited, lost(lease)]);
    if (typeof end === 'number') return end;
    child.kill('SIGTERM');
    await exited;
    return lostExit(values, end, info, lease);
  } finally {
    process.off('SIGTERM', onTerm);
  }
}

function signalNumber(s: NodeJS.Signals): number {
  return ({ SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGTERM: 15 } as Partial<Record<NodeJS.Signals, number>>)[s] ?? 0;
}

async function electAction(args: readonly string[], values: Values, connect: ConnectFn): Promise<number> {
  const observe = values.observe === true;
  need(args, observe ? 1 : 2, observe ? 'elect NAME --observe [--prefix P]' : 'elect NAME VALUE [--ttl MS] [--prefix P]');
  const [name, value] = args as [string, string | undefined];
  const ttlMs = ttlOf(values);
  const abort = new AbortController();
  const sig = untilSignal();
  void sig.done.then(() => abort.abort(new ClientError('ERR_ABORTED', 'interrupted')));
  try {
    return await withClient(values, connect, async (kv) => {
      const election = kv.election(name, { ttlMs, ...recipePrefix(values) });
      if (observe) {
        for await (const l of election.observe({ signal: abort.signal })) {
          const j = l === null ? { leader: null } : { leader: valueText(l.value), key: keyText(l.key), fencingToken: l.createRevision, revision: l.revision };
          out(values, j, l === null ? '(no leader)' : `${valueText(l.value)}\t(fencing token ${l.createRevision})`);
        }
        return 0;
      }
      if (values.json !== true) process.stderr.write(`campaigning in ${name} as ${value!}...\n`);
      let leadership;
      try {
        leadership = await election.campaign(value!, { signal: abort.signal });
      } catch (err) {
        if (err instanceof ClientError && err.code === 'ERR_ABORTED') return 130;
        throw err;
      }
      const info = { name, value: value!, key: leadership.key, fencingToken: leadership.fencingToken, lease: leadership.lease.id, at: Date.now() };
      try {
        out(values, { event: 'elected', ...info }, `leader of ${name}: ${value!} (fencing token ${leadership.fencingToken}); Ctrl-C resigns`);
        const end = await Promise.race([sig.done, lost(leadership.lease)]);
        return end instanceof ClientError ? lostExit(values, end, info, leadership.lease) : 0;
      } finally {
        await leadership.resign().catch(() => {});
      }
    });
  } finally {
    sig.stop();
  }
}
