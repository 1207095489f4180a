// Data written by older code still loads: test/fixtures/v1-data is member n1's data directory of a
// single-voter cluster, written at commit f23b985 (kv command format 1 with string keys, kv
// snapshot format 2, WAL "edgeraft-wal 1") by test/fixtures/make-v1-data.ts, and
// test/fixtures/v1-data.json says what it holds. Each test copies the fixture to a temp dir first
// (opening a WAL takes its lock and may write: recovery, a new leader's entry), restarts it as a
// peer does, and checks every key and value, the deleted keys, the applied index and the session.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { Buffer } from 'node:buffer';
import { ManualClock } from '../../src/core/clock.ts';
import type { Value } from '../../src/core/kv/command.ts';
import { byteKey, userKey, type ByteKey } from '../../src/core/kv/keys.ts';
import { KvMachine, type KvResult } from '../../src/core/kv/machine.ts';
import { logRulesFor } from '../../src/core/modes.ts';
import { SeededPrng } from '../../src/core/prng.ts';
import { createReplica } from '../../src/core/replica.ts';
import type { Entry } from '../../src/core/types.ts';
import { readMeta } from '../../src/runtime-node/cluster-meta.ts';
import { peerDefaults } from '../../src/server/peer-options.ts';
import { FileWal } from '../../src/runtime-node/wal.ts';

interface Expected {
  readonly member: string;
  readonly cluster: string;
  readonly walDir: string;
  readonly appliedIndex: number;
  readonly lastIndex: number;
  readonly term: number;
  readonly snapshotIndex: number;
  readonly firstEntryIndex: number;
  readonly hardStateCommitOnDisk: number;
  readonly logTimeMs: number;
  readonly sessions: ReadonlyArray<{ readonly client: number; readonly firstUnacked: number }>;
  /** A string value as itself, a Uint8Array value as { base64 }. */
  readonly values: Readonly<Record<string, string | { readonly base64: string }>>;
  readonly deleted: readonly string[];
}

const fixtures = join(import.meta.dirname, '..', 'fixtures');
const fixtureDir = join(fixtures, 'v1-data');
const expected = JSON.parse(readFileSync(join(fixtures, 'v1-data.json'), 'utf8')) as Expected;
const root = mkdtempSync(join(tmpdir(), 'edgeraft-old-data-'));
let copies = 0;

/** Every file of the checked-in fixture with its hash: no test may change it. */
function fingerprint(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string): void => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out[relative(dir, p)] = createHash('sha256').update(readFileSync(p)).digest('hex');
    }
  };
  walk(dir);
  return out;
}
const before = fingerprint(fixtureDir);

/** A private copy of the fixture: never open the checked-in one. */
function copyFixture(): string {
  const dir = join(root, `copy${copies++}`);
  cpSync(fixtureDir, dir, { recursive: true });
  return dir;
}

function expectedValue(v: string | { readonly base64: string }): Value {
  return typeof v === 'string' ? v : new Uint8Array(Buffer.from(v.base64, 'base64'));
}

// The machine's read API in one place. Inside the machine keys are byte strings (keys.ts): a
// user's key goes in through byteKey() and comes back through userKey(), as a client's get and
// scan do. The fixture's keys were strings, so each must come back as the same string.
interface View {
  readonly get: (key: string) => Value | undefined;
  readonly keys: () => string[];
  readonly sessions: number;
}
function shownKey(k: ByteKey): string {
  const u = userKey(k);
  return typeof u === 'string' ? u : `bytes [${Array.from(u).join(',')}]`;
}
const view = (m: KvMachine): View => ({ get: (key) => m.get(byteKey(key)), keys: () => m.scan().map(([k]) => shownKey(k)), sessions: m.sessions });
/** The machine as it was at one moment (a copy: later applies do not change it). */
function frozen(m: KvMachine): View {
  const v = view(m);
  const pairs = new Map(v.keys().map((k) => [k, copy(v.get(k))] as const));
  return { get: (key) => pairs.get(key), keys: () => [...pairs.keys()], sessions: v.sessions };
}
const copy = (v: Value | undefined): Value | undefined => (v instanceof Uint8Array ? v.slice() : v);

function show(v: Value | undefined): string {
  return v === undefined ? 'absent' : typeof v === 'string' ? JSON.stringify(v) : `bytes [${Array.from(v).join(',')}]`;
}

/** Every expected key with its value and its type (string or bytes), no other key, the deleted ones absent. */
function assertState(m: View, when: string): void {
  assert.equal([...m.keys()].sort(), Object.keys(expected.values).sort(), `${when}: the keys`);
  for (const [key, raw] of Object.entries(expected.values)) {
    const got = m.get(key);
    const exp = expectedValue(raw);
    if (typeof exp === 'string') {
      assert.type(got, 'string', `${when}: ${key} holds a string, not ${show(got)}`);
      assert.is(got, exp, `${when}: ${key}`);
    } else {
      assert.ok(got instanceof Uint8Array, `${when}: ${key} holds bytes, not ${show(got)}`);
      assert.equal(Array.from(got as Uint8Array), Array.from(exp), `${when}: ${key}`);
    }
  }
  for (const key of expected.deleted) assert.is(m.get(key), undefined, `${when}: ${key} was deleted`);
  assert.is(m.sessions, expected.sessions.length, `${when}: client sessions`);
}

async function openWal(dir: string, warnings: string[]): Promise<FileWal> {
  // As Peer.start opens DATA/wal: the mode's log rules, the peer's sync mode, default segments.
  return FileWal.open(join(dir, expected.walDir), {
    syncMode: peerDefaults.sync, logRules: logRulesFor('raft'), logger: { warn: (m) => void warnings.push(m) },
  });
}

async function until(cond: () => boolean, what: string, step: () => void = () => {}): Promise<void> {
  for (let i = 0; i < 2000; i++) {
    if (cond()) return;
    step();
    await new Promise((r) => setTimeout(r, 1));
  }
  assert.unreachable(`timed out waiting for ${what}`);
}

const test = suite('data written at f23b985');

test('the fixture is what its JSON says: one member, a snapshot, entries after it', () => {
  assert.ok(expected.snapshotIndex > 0 && expected.snapshotIndex < expected.appliedIndex);
  assert.is(expected.appliedIndex, expected.lastIndex);
  assert.ok(Object.keys(expected.values).some((k) => /[^\x00-\x7f]/.test(k)), 'a non-ASCII key');
  assert.ok(Object.values(expected.values).some((v) => typeof v !== 'string'), 'a bytes value');
  assert.ok(expected.deleted.length > 0);
  assert.ok(Object.keys(before).some((f) => f.endsWith('.snap')), 'a snapshot file');
});

test('restarts as a peer does: cluster file, WAL recovery, snapshot, committed entries, then the rest as leader', async () => {
  const dir = copyFixture();
  const meta = await readMeta(dir);
  assert.ok(meta !== null, 'cluster.json reads');
  assert.is(meta.id, expected.member);
  assert.is(meta.cluster, expected.cluster);
  assert.is(meta.mode, 'raft');
  assert.equal(meta.bootstrap.voters, [expected.member]);

  const warnings: string[] = [];
  const wal = await openWal(dir, warnings);
  const loaded = await wal.load();
  assert.ok(loaded.snapshot !== null, 'the snapshot loads');
  assert.is(loaded.snapshot.meta.index, expected.snapshotIndex);
  assert.is(loaded.entries[0]?.index, expected.firstEntryIndex);
  assert.is(loaded.entries.at(-1)?.index, expected.lastIndex);
  assert.is(loaded.hardState.term, expected.term);
  assert.is(loaded.hardState.commit, expected.hardStateCommitOnDisk);

  const clock = new ManualClock();
  const machine = new KvMachine();
  let atApplied: View | null = null;
  const applied: Entry[] = [];
  let fatal: Error | null = null;
  const { driver, resumedFrom } = createReplica<KvResult>({
    store: wal, machine, loaded,
    node: { options: { id: meta.id, prng: new SeededPrng(7), clock, tickMs: peerDefaults.tickMs }, bootstrap: meta.bootstrap },
    driver: {
      send: () => {}, clock, snapshotEntries: peerDefaults.snapshotEntries, snapshotRetainEntries: peerDefaults.snapshotRetainEntries,
      onFatal: (err) => { fatal = err; },
      onApply: (e) => {
        applied.push(e);
        if (e.index === expected.appliedIndex) atApplied = frozen(machine);
      },
    },
  });
  try {
    assert.is(machine.appliedIndex, expected.snapshotIndex, 'the snapshot restored into the machine');
    assert.ok(machine.logTimeMs <= expected.logTimeMs, 'log time from the snapshot');
    assert.is(resumedFrom, expected.hardStateCommitOnDisk);

    // With the clock standing still (no election), the entries the WAL holds as committed apply.
    await until(() => machine.appliedIndex >= expected.hardStateCommitOnDisk, 'the committed entries to apply');
    for (let i = 0; i < 5; i++) await new Promise((r) => setTimeout(r, 1));
    assert.is(machine.appliedIndex, expected.hardStateCommitOnDisk, 'nothing past the commit index on disk before an election');
    assert.is(fatal, null);

    // Then, as the only voter, it elects itself; its term's first entry commits the rest.
    await until(() => driver.role === 'leader', 'n1 to become leader again', () => {
      clock.advance(peerDefaults.tickMs);
      driver.catchUp();
    });
    await until(() => machine.appliedIndex > expected.lastIndex, 'the new term\'s entry to apply');
    assert.is(fatal, null, 'the driver stopped');
    assert.equal(applied.map((e) => e.index), Array.from({ length: expected.lastIndex + 1 - expected.snapshotIndex }, (_, i) => expected.snapshotIndex + 1 + i),
      'every entry after the snapshot applied once, in order');
    const extra = applied.at(-1)!;
    assert.is(extra.type, 'noop', 'only the new leader\'s empty entry follows the old log');
    assert.ok(extra.term > expected.term);

    assert.ok(atApplied !== null, `entry ${expected.appliedIndex} applied`);
    assertState(atApplied, `restarted, at index ${expected.appliedIndex}`);
    assertState(view(machine), `restarted, applied ${machine.appliedIndex}`);
    assert.is(machine.logTimeMs, expected.logTimeMs, 'log time');
    assert.equal(warnings, [], 'no recovery warnings');
  } finally {
    await driver.close();
    await wal.close();
  }
});

test('replays as recovery does: the snapshot into a fresh KvMachine, then every entry after it', async () => {
  const dir = copyFixture();
  const warnings: string[] = [];
  const wal = await openWal(dir, warnings);
  const loaded = await wal.load();
  await wal.close();
  assert.ok(loaded.snapshot !== null);
  const machine = new KvMachine();
  machine.restore(loaded.snapshot.data);
  assert.is(machine.appliedIndex, expected.snapshotIndex);
  // The snapshot holds the keys deleted after it.
  for (const key of expected.deleted) assert.ok(view(machine).get(key) !== undefined, `the snapshot holds ${key}`);
  for (const e of loaded.entries) if (e.index > loaded.snapshot.meta.index) machine.apply(e);
  assert.is(machine.appliedIndex, expected.appliedIndex, 'applied index');
  assertState(view(machine), 'replayed');
  assert.is(machine.logTimeMs, expected.logTimeMs, 'log time');
  assert.equal(warnings, []);

  // The session the old code registered still deduplicates: a retry of its last sequence number
  // (seq 2, the fixture's last entry; carrying another command, so that a second execution would
  // show) is answered from its cache and not run again; its next sequence number runs.
  const s = expected.sessions[0]!;
  const session = { client: s.client, seq: s.firstUnacked, firstUnacked: s.firstUnacked };
  const next = expected.appliedIndex + 1;
  const retry = machine.applyCommand({ timeMs: expected.logTimeMs, session, cmd: { op: 'put', key: 'session/k', value: 'again' } }, next);
  assert.equal(retry, { op: 'put', index: expected.appliedIndex }, 'answered from the session cache');
  assert.is(view(machine).get('session/k'), expectedValue(expected.values['session/k']!), 'not executed again');
  const fresh = machine.applyCommand({
    timeMs: expected.logTimeMs, session: { ...session, seq: s.firstUnacked + 1 }, cmd: { op: 'put', key: 'session/k', value: 'new' },
  }, next + 1);
  assert.equal(fresh, { op: 'put', index: next + 1 });
  assert.is(view(machine).get('session/k'), 'new');
});

test('the checked-in fixture was not touched', () => {
  assert.equal(fingerprint(fixtureDir), before);
  rmSync(root, { recursive: true, force: true });
});

test.run();
