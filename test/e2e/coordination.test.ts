// Coordination primitives on real peer processes, through the SDK and the `edgeraft kv` CLI run as
// processes: a lock held by a client process that is SIGKILLed is released after its TTL and
// taken by a waiter, with a greater fencing token; two clients racing for an election never both
// believe they lead (the paused leader's own deadline ends before the next leader's term
// begins) and fencing tokens strictly increase; the CLI's txn, watch and lease commands give the
// documented output and exit codes; and (last, as it leaves a member down) a watcher streaming
// from a follower that is SIGKILLed resumes on another member with every write's revision once,
// in order. One 3-member cluster serves the whole file.
import { spawn, type ChildProcess } from 'node:child_process';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { KvClient } from '../../src/client/kv.ts';
import { Cluster, sleep, waitFor } from './cluster.ts';
import { cliNodeArgs, cliPath, hermeticEnv, repoRoot, spawnCli } from './proc.ts';

const test = suite('coordination');
/** Small ticks keep elections short; min lease TTL is then 1.5 x 10 x 20 = 300 ms. */
const tickMs = 20;
let c: Cluster;
let kv: KvClient;

test.before(async () => {
  c = await Cluster.start({ size: 3, tickMs, name: 'coordination', clientTimeoutMs: 10_000 });
  kv = await c.client('admin');
});

test.after(async () => {
  await c?.close();
});

/** A CLI process whose stdout is read line by line (JSON lines parsed when they are JSON). */
interface Proc {
  readonly child: ChildProcess;
  readonly lines: string[];
  readonly stderr: () => string;
  readonly exited: Promise<number | null>;
  waitLine(pred: (j: Record<string, unknown>) => boolean, what: string, timeoutMs?: number): Promise<Record<string, unknown>>;
}

function track(child: ChildProcess): Proc {
  const lines: string[] = [];
  let err = '';
  let buf = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    buf += d;
    const parts = buf.split('\n');
    buf = parts.pop()!;
    lines.push(...parts.filter((l) => l.length > 0));
  });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => { err += d; });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const json = () => lines.flatMap((l) => { try { return [JSON.parse(l) as Record<string, unknown>]; } catch { return []; } });
  return {
    child, lines, exited, stderr: () => err,
    async waitLine(pred, what, timeoutMs = 15_000) {
      let found: Record<string, unknown> | undefined;
      await waitFor(() => (found = json().find(pred)) !== undefined, `${what} (stdout: ${lines.join(' | ')}; stderr: ${err})`, timeoutMs, 20);
      return found!;
    },
  };
}

function kvCli(args: readonly string[]): Proc {
  // The connection flags go before a `--` (what follows it is the command kv lock runs).
  const dash = args.indexOf('--');
  const own = dash === -1 ? args : args.slice(0, dash);
  const rest = dash === -1 ? [] : args.slice(dash);
  return track(spawnCli(['kv', ...own, '--peers', c.clientPeersFlag(), '--secret-file', c.secretFile, ...rest]));
}

/** Runs `kv ...` to its end, feeding `stdin`. */
async function kvRun(args: readonly string[], stdin?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [...cliNodeArgs, cliPath, 'kv', ...args, '--peers', c.clientPeersFlag(), '--secret-file', c.secretFile], {
    cwd: repoRoot, stdio: [stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'], env: hermeticEnv(),
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  if (stdin !== undefined) child.stdin!.end(stdin);
  const p = track(child);
  const code = await p.exited;
  clearTimeout(timer);
  await sleep(10);
  return { code, stdout: p.lines.join('\n'), stderr: p.stderr() };
}

test('a lock held by a process that is SIGKILLed is released after its TTL and taken by the waiter, with a greater fencing token', async () => {
  const ttlMs = 1500;
  const holder = kvCli(['lock', 'job', '--ttl', String(ttlMs), '--json']);
  const held = await holder.waitLine((j) => j.event === 'locked', 'the first process to hold the lock');
  const script = 'process.stdout.write(JSON.stringify({ ran: true, token: process.env.EDGERAFT_FENCING_TOKEN, key: process.env.EDGERAFT_LOCK_KEY }) + "\\n")';
  const waiter = kvCli(['lock', 'job', '--ttl', String(ttlMs), '--json', '--', process.execPath, '-e', script]);
  // The waiter's key is in place (it waits on the holder's).
  await waitFor(async () => (await kv.range({ prefix: 'edgeraft/lock/job/' })).kvs.length === 2, 'the waiter to queue behind the holder');
  await sleep(300);
  assert.is(waiter.lines.length, 0, 'the waiter does not get the lock while it is held');
  const killedAt = Date.now();
  holder.child.kill('SIGKILL');
  const got = await waiter.waitLine((j) => j.event === 'locked', 'the waiter to take the lock', 10_000);
  const ran = await waiter.waitLine((j) => j.ran === true, 'the command to run');
  assert.is(await waiter.exited, 0, 'the exit code of the command');
  const waitedMs = (got.at as number) - killedAt;
  // The holder's last keep-alive went out about ttl/3 before the kill (later if its timer ran
  // late on a busy machine): its key stays about 2/3 of a TTL after the kill, at least half of one
  // here; and it goes once its TTL ran out on the leader (plus a tick or so).
  assert.ok(waitedMs >= ttlMs / 2, `released after its TTL, not at the kill (${waitedMs} ms after it)`);
  assert.ok(waitedMs < ttlMs + 3000, `released soon after its TTL (${waitedMs} ms after the kill)`);
  assert.ok((got.fencingToken as number) > (held.fencingToken as number), `fencing tokens grow: ${String(held.fencingToken)} then ${String(got.fencingToken)}`);
  assert.is(ran.token, String(got.fencingToken), 'the command sees the fencing token in EDGERAFT_FENCING_TOKEN');
  assert.is(ran.key, got.key);
  assert.is((await kv.range({ prefix: 'edgeraft/lock/job/' })).kvs.length, 0, 'the lock is released when the command ends');
});

test('two clients racing for an election never both believe they lead; fencing tokens strictly increase', async () => {
  const ttlMs = 1000;
  const observer = kvCli(['elect', 'boss', '--observe', '--json']);
  await observer.waitLine((j) => j.leader === null, 'the observer to see nobody lead yet');
  const a = kvCli(['elect', 'boss', 'a', '--ttl', String(ttlMs), '--json']);
  const b = kvCli(['elect', 'boss', 'b', '--ttl', String(ttlMs), '--json']);
  await waitFor(() => a.lines.length + b.lines.length > 0, 'one of the two to lead', 15_000);
  await sleep(300);
  const elected = [a, b].filter((p) => p.lines.length > 0);
  assert.is(elected.length, 1, `exactly one leads (a: ${a.lines.join('|')}, b: ${b.lines.join('|')})`);
  const [x, y] = elected[0] === a ? [a, b] : [b, a];
  const first = await x.waitLine((j) => j.event === 'elected', 'the first leader');
  assert.equal((await kv.election('boss').leader())?.value, first.value, 'everyone sees it lead');
  // The leader stalls (a long GC pause, a frozen VM): it cannot renew, and its lease runs out.
  x.child.kill('SIGSTOP');
  const second = await y.waitLine((j) => j.event === 'elected', 'the other to lead once the stalled one\'s lease ran out', 10_000);
  x.child.kill('SIGCONT');
  const lost = await x.waitLine((j) => j.event === 'lost', 'the stalled one to learn it lost its lease', 10_000);
  assert.is(await x.exited, 1);
  assert.ok((lost.deadline as number) <= (second.at as number), `the old leader stopped believing (at ${String(lost.deadline)}) before the new one started (at ${String(second.at)})`);
  assert.ok((second.fencingToken as number) > (first.fencingToken as number), 'the second token is greater');
  // A third leadership after the second leader is killed outright (the third candidate waits
  // behind it first, so the observer never sees nobody lead in between).
  const z = kvCli(['elect', 'boss', 'c', '--ttl', String(ttlMs), '--json']);
  await waitFor(async () => (await kv.range({ prefix: 'edgeraft/election/boss/' })).kvs.length === 2, 'the third candidate to queue');
  y.child.kill('SIGKILL');
  const third = await z.waitLine((j) => j.event === 'elected', 'a third leader', 10_000);
  assert.ok((third.fencingToken as number) > (second.fencingToken as number), 'the third token is greater still');
  z.child.kill('SIGINT');
  assert.is(await z.exited, 0, 'Ctrl-C resigns and exits 0');
  assert.is(await kv.election('boss').leader(), null, 'nobody leads after it resigned');
  await observer.waitLine((j) => j.leader === null && observer.lines.length > 1, 'the observer to see the last leader resign');
  observer.child.kill('SIGINT');
  assert.is(await observer.exited, 0);
  const seen = observer.lines.map((l) => JSON.parse(l) as { leader: string | null; fencingToken?: number });
  assert.equal(seen.map((o) => o.leader), [null, first.value, second.value, 'c', null], 'the observer saw each leader once, in order');
  const tokens = seen.flatMap((o) => (o.fencingToken !== undefined ? [o.fencingToken] : []));
  assert.equal(tokens, [first.fencingToken, second.fencingToken, third.fencingToken]);
});

test('lock waiters queue in order; one that gives up while waiting does not let the next one past the holder', async () => {
  const first = await kv.lock('queue', { ttlMs: 5000 });
  const giveUp = new AbortController();
  const second = kv.lock('queue', { ttlMs: 5000, signal: giveUp.signal });
  const third = kv.lock('queue', { ttlMs: 5000 });
  let thirdHeld = false;
  void third.then(() => { thirdHeld = true; });
  await waitFor(async () => (await kv.range({ prefix: 'edgeraft/lock/queue/' })).kvs.length === 3, 'both waiters to queue');
  giveUp.abort();
  const err = await second.then(() => null, (e: { code?: string }) => e);
  assert.is(err?.code, 'ERR_ABORTED');
  await waitFor(async () => (await kv.range({ prefix: 'edgeraft/lock/queue/' })).kvs.length === 2, 'the waiter that gave up to withdraw its key');
  await sleep(300);
  assert.not.ok(thirdHeld, 'its predecessor went, but the holder still holds the lock');
  assert.ok(first.held);
  await first.release();
  const l3 = await third;
  assert.ok(l3.fencingToken > first.fencingToken);
  assert.ok(l3.held);
  assert.is(first.held, false);
  await l3.release();
  assert.is((await kv.range({ prefix: 'edgeraft/lock/queue/' })).kvs.length, 0);
});

test('an election through the SDK: campaign, proclaim and resign, as observe() sees them', async () => {
  const e = kv.election('sdk', { ttlMs: 3000 });
  const seen: Array<string | null> = [];
  const stop = new AbortController();
  const watching = (async () => {
    for await (const l of e.observe({ signal: stop.signal })) seen.push(l === null ? null : String(l.value));
  })();
  await waitFor(() => seen.length === 1, 'the observer\'s first view');
  const me = await e.campaign('v1');
  assert.ok(me.held);
  assert.is(e.leadership, me);
  await e.proclaim('v2');
  assert.is(me.value, 'v2');
  const l = await e.leader();
  assert.equal([l?.value, l?.createRevision], ['v2', me.fencingToken], 'proclaim keeps the create revision: the same leadership');
  await e.resign();
  assert.is(me.held, false);
  assert.is(e.leadership, null);
  await waitFor(() => seen.length === 4, 'the observer to see the leader come, change its value and go');
  stop.abort();
  await watching;
  assert.equal(seen, [null, 'v1', 'v2', null]);
  const err = await e.proclaim('v3').then(() => null, (x: { code?: string }) => x);
  assert.is(err?.code, 'ERR_LEASE_LOST', 'nothing to proclaim after resigning');
});

test('kv txn: exit 0 when the compares hold, 1 when the failure branch ran, 2 for a malformed spec; the spec may come on stdin', async () => {
  const spec = JSON.stringify({
    compare: [{ key: 'cfg/v', target: 'createRevision', op: '=', value: 0 }],
    success: [{ op: 'put', key: 'cfg/v', value: '1' }, { op: 'put', key: 'cfg/w', value: '2' }],
    failure: [{ op: 'get', key: 'cfg/v' }],
  });
  const ok = await kvRun(['txn', spec, '--json']);
  assert.is(ok.code, 0, ok.stderr);
  const r1 = JSON.parse(ok.stdout) as { succeeded: boolean; revision: number; results: unknown[] };
  assert.is(r1.succeeded, true);
  assert.equal(r1.results, [{ op: 'put' }, { op: 'put' }]);
  const again = await kvRun(['txn', '-', '--json'], spec);
  assert.is(again.code, 1, again.stderr);
  const r2 = JSON.parse(again.stdout) as { succeeded: boolean; results: Array<{ kv: { value: string; createRevision: number } }> };
  assert.is(r2.succeeded, false);
  assert.is(r2.results[0]!.kv.value, '1');
  assert.is(r2.results[0]!.kv.createRevision, r1.revision, 'both keys were written by the one transaction, at its revision');
  assert.is((await kv.range({ key: 'cfg/w' })).kvs[0]!.createRevision, r1.revision);
  const text = await kvRun(['txn', JSON.stringify({ success: [{ op: 'range', prefix: 'cfg/' }] })]);
  assert.is(text.code, 0, text.stderr);
  assert.match(text.stdout, /^succeeded \(revision \d+\)\nrange: 2\n {2}cfg\/v\t1\n {2}cfg\/w\t2$/);
  const [bad, notJson] = await Promise.all([kvRun(['txn', '{"compare":[{"key":"a","target":"size","op":"=","value":1}]}']), kvRun(['txn', '{'])]);
  assert.is(bad.code, 2);
  assert.match(bad.stderr, /compare 0's target must be one of value, version, createRevision, modRevision, lease/);
  assert.is(notJson.code, 2);
  assert.match(notJson.stderr, /not valid JSON/);
});

test('kv watch prints one JSON line per change from --from, with --prev, until Ctrl-C (exit 0)', async () => {
  const base = (await kv.put('w/a', '0')).index;
  const w = kvCli(['watch', '--prefix', 'w/', '--from', String(base + 1), '--prev']);
  const r1 = (await kv.put('w/a', '1')).index;
  const r2 = (await kv.put('w/b', 'x')).index;
  const r3 = (await kv.delete('w/a')).index;
  await kv.put('other', 'not watched');
  const last = await w.waitLine((j) => j.revision === r3, 'the delete');
  const events = w.lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(events.map((e) => [e.type, e.key, e.revision]), [['put', 'w/a', r1], ['put', 'w/b', r2], ['delete', 'w/a', r3]]);
  assert.equal(events[0]!.prev, { key: 'w/a', value: '0', createRevision: base, modRevision: base, version: 1, lease: 0 });
  assert.is(events[0]!.version, 2);
  assert.is(events[1]!.prev, undefined, 'a new key has no previous state');
  assert.is(last.value, '');
  w.child.kill('SIGINT');
  assert.is(await w.exited, 0);
  const bad = await kvRun(['watch', 'k', '--prefix', 'p']);
  assert.is(bad.code, 2);
  assert.match(bad.stderr, /exactly one of KEY, --prefix P or --start S/);
});

test('kv lease: grant, attach, info, keepalive --once, revoke (its keys go); bad ids exit 2, a gone lease exits 1', async () => {
  const g = await kvRun(['lease', 'grant', '60000', '--json']);
  assert.is(g.code, 0, g.stderr);
  const { id, ttlMs } = JSON.parse(g.stdout) as { id: number; ttlMs: number };
  assert.is(ttlMs, 60000);
  assert.is((await kvRun(['put', 'eph/k', 'v', '--lease', String(id)])).code, 0);
  const info = await kvRun(['lease', 'info', String(id), '--json']);
  assert.is(info.code, 0, info.stderr);
  const i = JSON.parse(info.stdout) as { keys: string[]; ttlMs: number; remainingMs: number | null };
  assert.equal(i.keys, ['eph/k']);
  // The leader's clock allows for drift beyond the TTL (the lessor's driftPercent), never less.
  assert.ok(i.remainingMs !== null && i.remainingMs > 50_000 && i.remainingMs <= 90_000, `time left on the leader: ${String(i.remainingMs)}`);
  const ka = await kvRun(['lease', 'keepalive', String(id), '--once', '--json']);
  assert.is(ka.code, 0, ka.stderr);
  assert.equal(JSON.parse(ka.stdout), { id, ttlMs: 60000, renewed: true });
  const rv = await kvRun(['lease', 'revoke', String(id), '--json']);
  assert.is(rv.code, 0, rv.stderr);
  assert.is((JSON.parse(rv.stdout) as { deleted: number }).deleted, 1);
  assert.is(await kv.get('eph/k'), undefined, 'the lease\'s key went with it');
  const [gone, goneKa] = await Promise.all([kvRun(['lease', 'info', String(id)]), kvRun(['lease', 'keepalive', String(id)])]);
  assert.is(gone.code, 1);
  assert.match(gone.stderr, /ERR_LEASE_NOT_FOUND/);
  assert.is(goneKa.code, 1);
  assert.match(goneKa.stderr, /ERR_LEASE_NOT_FOUND/);
  const usage = [['lease', 'grant', 'soon'], ['lease', 'revoke', '0'], ['lease', 'info', '-3'], ['lease', 'renew', '5'], ['lease', 'grant', '1000', '--once']];
  const refused = await Promise.all(usage.map((args) => kvRun(args)));
  refused.forEach((r, n) => assert.is(r.code, 2, `${usage[n]!.join(' ')}: ${r.stderr}`));
  // keepalive holds a short lease past its TTL, and exits 1 once the lease is revoked elsewhere.
  const short = await kv.grant(900);
  await kv.put('eph/kept', 'v', { lease: short });
  const keeper = kvCli(['lease', 'keepalive', String(short.id), '--json']);
  await keeper.waitLine((j) => j.renewed === true, 'the first keep-alive');
  await sleep(2000);
  assert.is(await kv.get('eph/kept'), 'v', 'kept past its TTL');
  await kv.revoke(short);
  assert.is(await keeper.exited, 1);
  assert.match(keeper.stderr(), /ERR_LEASE_LOST: lease \d+ is gone on the cluster/);
  const tooShort = await kvRun(['lease', 'grant', '1']);
  assert.is(tooShort.code, 2, 'the cluster refuses a TTL below its minimum as a bad request');
  assert.match(tooShort.stderr, /TTL 1 ms is out of range/);
});

test('kv range, del --prefix and compact; a watch from a compacted revision exits 1 with ERR_COMPACTED, the SDK\'s iterator throws it', async () => {
  await kv.put('rg/a', '1');
  const b = (await kv.put('rg/b', '2')).index;
  const range = await kvRun(['range', '--prefix', 'rg/', '--json']);
  assert.is(range.code, 0, range.stderr);
  const r = JSON.parse(range.stdout) as { revision: number; more: boolean; kvs: Array<{ key: string; value: string; createRevision: number }> };
  assert.equal(r.kvs.map((x) => [x.key, x.value]), [['rg/a', '1'], ['rg/b', '2']]);
  assert.is(r.kvs[1]!.createRevision, b);
  assert.ok(r.revision >= b);
  const del = await kvRun(['del', '--prefix', 'rg/', '--json']);
  assert.is(del.code, 0, del.stderr);
  assert.is((JSON.parse(del.stdout) as { deleted: number }).deleted, 2);
  const compact = await kvRun(['compact', String(b), '--json']);
  assert.is(compact.code, 0, compact.stderr);
  assert.is((JSON.parse(compact.stdout) as { compactRevision: number }).compactRevision, b);
  const w = await kvRun(['watch', '--prefix', 'rg/', '--from', String(b)]);
  assert.is(w.code, 1);
  assert.match(w.stderr, /ERR_COMPACTED/);
  assert.match(w.stderr, new RegExp(`--from ${b + 1} or later`));
  const err = await (async () => {
    for await (const _ of kv.watch({ prefix: 'rg/' }, { fromRevision: 1 })) { /* nothing comes */ }
    return null;
  })().catch((e: unknown) => e as { code: string; compactRevision: number });
  assert.is(err?.code, 'ERR_COMPACTED');
  assert.is(err?.compactRevision, b);
  // From the revision after the compaction on, the history is there: the range delete, in one batch.
  const after = kv.watch({ prefix: 'rg/' }, { fromRevision: b + 1, prevValue: true });
  const first = await after.next();
  after.close();
  assert.equal(first.value?.events.map((e) => [e.type, e.key, e.prev?.value]), [['delete', 'rg/a', '1'], ['delete', 'rg/b', '2']]);
});

test('a watcher streaming from a follower that is SIGSTOPped (its socket stays open) resumes on another member after streamIdleMs', async () => {
  const leader = await c.leader();
  const follower = c.ids.find((id) => id !== leader)!;
  const watcherClient = await c.client('reader', { peers: [follower, ...c.ids.filter((id) => id !== follower)] });
  const w = watcherClient.watch({ prefix: 'ws/' }, { streamIdleMs: 1500 });
  await waitFor(() => w.servedBy !== null, 'the watch to start');
  assert.is(w.servedBy, follower);
  const received: number[] = [];
  const reading = (async () => {
    for await (const b of w) for (const e of b.events) received.push(e.modRevision);
  })();
  const written: number[] = [];
  try {
    for (let i = 0; i < 10; i++) written.push((await kv.put(`ws/${i}`, `v${i}`)).index);
    c.pause(follower);
    for (let i = 10; i < 20; i++) written.push((await kv.put(`ws/${i}`, `v${i}`)).index);
    await waitFor(() => received.length >= written.length, `the writes made while the follower is frozen to reach the watcher (got ${received.length} of ${written.length})`, 15_000);
    assert.equal(received, written, 'every write once, in order');
    assert.ok(w.servedBy !== null && w.servedBy !== follower, `it streams from another member now (${String(w.servedBy)})`);
  } finally {
    c.resume(follower);
    w.close();
    await reading;
    await watcherClient.close();
  }
});

test('a watcher streaming from a follower that is SIGKILLed resumes on another member: every write once, in order', async () => {
  const leader = await c.leader();
  const follower = c.ids.find((id) => id !== leader)!;
  const watcherClient = await c.client('reader', { peers: [follower, ...c.ids.filter((id) => id !== follower)] });
  const w = watcherClient.watch({ prefix: 'wf/' });
  await waitFor(() => w.servedBy !== null, 'the watch to start');
  assert.is(w.servedBy, follower, 'it streams from the follower it knows first');
  const received: number[] = [];
  const reading = (async () => {
    for await (const b of w) for (const e of b.events) received.push(e.modRevision);
  })();
  const written: number[] = [];
  for (let i = 0; i < 80; i++) {
    written.push((await kv.put(`wf/${i % 7}`, `v${i}`)).index);
    if (i === 30) await c.kill(follower);
  }
  await waitFor(() => received.length >= written.length, `all ${written.length} writes to reach the watcher (got ${received.length})`, 15_000);
  await sleep(200);
  const servedBy = w.servedBy;
  w.close();
  await reading;
  assert.equal(received, written, 'the revisions received are the writes made: no gap, no duplicate, in order');
  assert.ok(w.reconnects >= 1, 'it resumed');
  assert.ok(servedBy !== null && servedBy !== follower, `it streams from another member now (${String(servedBy)})`);
  await watcherClient.close();
});

test.run();
