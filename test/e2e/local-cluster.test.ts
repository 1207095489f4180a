// The local-cluster harness (src/runtime-node/local-cluster.ts) that `edgeraft start`, the e2e
// suites and the benchmarks share: real peers from the CLI under tsx elect a leader it finds over
// /healthz, stay led through a stop and a restart, fail to start with an error that names the
// member and shows its output, and leave no process behind after close().
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createServer, type Server } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { agreedLeader, ensureSecretFile, LocalCluster, MemberStartError, type LocalClusterOptions, type MemberHealth } from '../../src/runtime-node/local-cluster.ts';
import { parseHealth } from '../../src/runtime-node/local-probe.ts';
import { cliNodeArgs, cliPath, freePort, hermeticEnv, repoRoot } from './proc.ts';

const dirs: string[] = [];
const made: LocalCluster[] = [];

/** A harness over the source CLI in a fresh temp dir with its own secret. */
async function harness(size: number, extra: Partial<LocalClusterOptions> = {}): Promise<LocalCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'edgeraft-e2e-local-'));
  dirs.push(dir);
  ensureSecretFile(join(dir, 'secret'));
  const c = await LocalCluster.create({
    size, dir, cli: cliPath, nodeArgs: cliNodeArgs, cwd: repoRoot, env: hermeticEnv(), args: ['--tick-ms', '10'], ...extra,
  });
  made.push(c);
  return c;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection, but it resolved');
}

function tails(c: LocalCluster): string {
  return c.ids.map((id) => `--- ${id}:\n${c.tail(id, 20).join('\n')}`).join('\n');
}

// ---- pure parts -------------------------------------------------------------------------------

const pure = suite('local cluster: agreement and /healthz shape');

const view = (id: string, role: MemberHealth['role'], leader: string | null, term: number): MemberHealth => ({ id, role, leader, term, applied: 0 });

pure('agreedLeader needs every answer to name the leader in its term, and a majority of the voters', () => {
  const all = new Map<string, MemberHealth | Error>([['n1', view('n1', 'leader', 'n1', 3)], ['n2', view('n2', 'follower', 'n1', 3)], ['n3', view('n3', 'follower', 'n1', 3)]]);
  assert.is(agreedLeader(all, 3), 'n1');
  assert.is(agreedLeader(new Map([...all, ['n3', new Error('refused')]]), 3), null, 'a member that does not answer may follow another');
  assert.is(agreedLeader(new Map([...all, ['n3', view('n3', 'follower', 'n1', 2)]]), 3), null, 'an older term is no agreement');
  assert.is(agreedLeader(new Map([...all, ['n3', view('n3', 'candidate', null, 4)]]), 3), null);
  const two = new Map([...all].slice(0, 2));
  assert.is(agreedLeader(two, 3), 'n1', 'two of three are a majority');
  assert.is(agreedLeader(two, 5), null, 'two of five are not');
  assert.is(agreedLeader(new Map([['n2', view('n2', 'follower', 'n1', 3)]]), 1), null, 'nobody says it leads');
});

pure('parseHealth types a /healthz reply and names the field that is wrong', () => {
  assert.equal(parseHealth({ id: 'n1', role: 'leader', leader: 'n1', term: 2, applied: 7 }), { id: 'n1', role: 'leader', leader: 'n1', term: 2, applied: 7 });
  assert.throws(() => parseHealth({ id: 'n1', role: 'boss', leader: null, term: 2, applied: 7 }), /'role'/);
  assert.throws(() => parseHealth({ id: 'n1', role: 'follower', leader: null, term: -1, applied: 7 }), /'term'/);
  assert.throws(() => parseHealth({ id: 'n1', role: 'follower', leader: 3, term: 1, applied: 7 }), /'leader'/);
  assert.throws(() => parseHealth('up'), /JSON object/);
});

pure.run();

// ---- a running cluster ------------------------------------------------------------------------

const live = suite('local cluster: 3 members from the CLI');
let c: LocalCluster | null = null;
let pids: number[] = [];

live.before(async () => {
  c = await harness(3);
  await c.startAll();
});

live.after(async () => {
  await c?.close();
});

live('three members elect a leader that every member names', async () => {
  const h = c!;
  pids = h.ids.map((id) => h.pid(id)!);
  assert.equal(h.ids, ['n1', 'n2', 'n3']);
  assert.ok(pids.every((p) => Number.isInteger(p) && alive(p)), `pids ${pids.join(', ')}`);
  const leader = await h.leader().catch((err: Error) => {
    throw new Error(`${err.message}\n${tails(h)}`);
  });
  assert.ok(h.ids.includes(leader));
  const views = await h.healths();
  assert.is(views.size, 3);
  for (const [id, v] of views) {
    assert.ok(!(v instanceof Error), `${id} answers /healthz`);
    assert.is((v as MemberHealth).leader, leader, `${id} names ${leader}`);
  }
  assert.match(h.args('n2').join(' '), new RegExp(`--peers n1=127\\.0\\.0\\.1:${h.port('n1')},n2=127\\.0\\.0\\.1:${h.port('n2')},n3=`));
});

live('stopping a follower and then the leader keeps a leader agreed; both come back', async () => {
  const h = c!;
  const first = await h.leader();
  const follower = h.ids.find((id) => id !== first)!;
  const stopped = await h.stop(follower);
  assert.equal({ code: stopped.code, signal: stopped.signal }, { code: 0, signal: null }, `SIGTERM is a clean stop:\n${tails(h)}`);
  assert.not.ok(h.isRunning(follower));
  assert.is(await h.leader(), first, 'two of three still agree on the same leader');

  await h.restart(follower);
  assert.ok(h.isRunning(follower));
  assert.is(await h.leader(), first, 'the restarted follower names the leader');
  assert.is((await h.healths()).size, 3);

  const killed = await h.kill(first);
  assert.is(killed.signal, 'SIGKILL');
  const second = await h.leader();
  assert.is.not(second, first, 'the others elect one of them');
  await h.restart(first);
  assert.is(await h.leader(), second, 'the old leader comes back as a follower of the new one');
  assert.is((await h.healths()).size, 3);
});

live('close() stops every member and no process of theirs is left', async () => {
  const h = c!;
  const now = h.ids.map((id) => h.pid(id)!);
  assert.ok(now.every((p) => alive(p)));
  await h.close();
  for (const id of h.ids) assert.not.ok(h.isRunning(id), `${id} runs after close()`);
  for (const p of [...pids, ...now]) assert.not.ok(alive(p), `pid ${p} is gone`);
  assert.throws(() => h.launch('n1'), /closed/);
});

live.run();

// ---- members that cannot start ------------------------------------------------------------------

const failing = suite('local cluster: a member that cannot start');
let blocker: Server | null = null;

failing.after(async () => {
  await Promise.all(made.map((m) => m.close()));
  blocker?.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

failing('a port in use: the error names the member and its port and shows its output', async () => {
  const port = await freePort();
  blocker = createServer();
  await new Promise<void>((res) => blocker!.listen(port, '127.0.0.1', () => res()));
  const h = await harness(1, { ports: [port] });
  const err = await rejection(h.start('n1'));
  assert.instance(err, MemberStartError);
  const e = err as MemberStartError;
  assert.is(e.id, 'n1');
  assert.is(e.addr, `127.0.0.1:${port}`);
  assert.match(e.message, `n1 (127.0.0.1:${port}) did not start`);
  assert.match(e.message, /exited \(code [1-9]/);
  assert.ok(e.logTail.some((l) => l.includes('EADDRINUSE')), `the tail shows why:\n${e.logTail.join('\n')}`);
  assert.not.ok(h.isRunning('n1'));
});

failing('a bad flag: usage error (exit 2) with the flag named in the tail', async () => {
  const h = await harness(2, { memberArgs: (id) => (id === 'n2' ? ['--no-such-flag'] : []) });
  const err = await rejection(h.startAll());
  assert.instance(err, MemberStartError);
  assert.is((err as MemberStartError).id, 'n2');
  assert.match(err.message, /n2 \(127\.0\.0\.1:\d+\) did not start: it exited \(code 2, signal null\)/);
  assert.match(err.message, /--no-such-flag/);
  // n1 started fine: close() must stop it.
  const pid = h.pid('n1');
  assert.ok(pid !== null && alive(pid), 'n1 runs');
  await h.close();
  assert.not.ok(alive(pid), `n1 (pid ${pid}) is gone after close()`);
});

failing.run();
