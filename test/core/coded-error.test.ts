// Every operating error class is a CodedError: one catch-all, a stable code, `Name: message` for
// people, the code kept in JSON, and a cause passed through. Extra fields (leaderHint, id) stay.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { CodedError } from '../../src/core/coded-error.ts';
import { RaftError } from '../../src/core/errors.ts';
import { StoreError } from '../../src/core/storage.ts';
import * as core from '../../src/core/index.ts';
import { TransportError } from '../../src/transport/errors.ts';
import { ClientError } from '../../src/client/errors.ts';
import * as client from '../../src/client/exports.ts';
import { ProtocolError } from '../../src/client/protocol.ts';
import { PeerOptionError, resolvePeerOptions } from '../../src/server/peer-options.ts';
import { MetaError } from '../../src/runtime-node/cluster-meta.ts';
import { UsageError, parse } from '../../src/runtime-node/cli-args.ts';
import { DecodeError, decodeSnapshotFile } from '../../src/runtime-node/wal-format.ts';

const test = suite('coded-error');

interface Case {
  readonly name: string;
  readonly code: string;
  readonly make: (message: string, cause?: unknown) => CodedError;
}

const opts = (cause: unknown): { cause?: unknown } => (cause === undefined ? {} : { cause });

const cases: readonly Case[] = [
  { name: 'RaftError', code: 'ERR_NOT_LEADER', make: (m, c) => new RaftError('ERR_NOT_LEADER', m, 'n2', opts(c)) },
  { name: 'StoreError', code: 'ERR_STORE_LOCKED', make: (m, c) => new StoreError('ERR_STORE_LOCKED', m, opts(c)) },
  { name: 'TransportError', code: 'ERR_FRAME_FIELD', make: (m, c) => new TransportError('ERR_FRAME_FIELD', m, opts(c)) },
  { name: 'ClientError', code: 'ERR_TIMEOUT', make: (m, c) => new ClientError('ERR_TIMEOUT', m, opts(c)) },
  { name: 'ProtocolError', code: 'ERR_BAD_REQUEST', make: (m, c) => new ProtocolError(7, m, opts(c)) },
  { name: 'PeerOptionError', code: 'ERR_CONFIG_INVALID', make: (m, c) => new PeerOptionError(m, opts(c)) },
  { name: 'MetaError', code: 'ERR_STORE_CORRUPT', make: (m, c) => new MetaError(m, opts(c)) },
  { name: 'UsageError', code: 'ERR_USAGE', make: (m, c) => new UsageError(m, opts(c)) },
  { name: 'DecodeError', code: 'ERR_STORE_CORRUPT', make: (m, c) => new DecodeError(m, opts(c)) },
];

for (const c of cases) {
  test(`${c.name} is a CodedError named ${c.name} with code ${c.code}`, () => {
    const err = c.make('something broke');
    assert.ok(err instanceof CodedError);
    assert.ok(err instanceof Error);
    assert.is(err.constructor.name, c.name);
    assert.is(err.name, c.name);
    assert.is(err.code, c.code);
    assert.is(err.message, 'something broke');
    assert.is(String(err), `${c.name}: something broke`);
    assert.ok(err.stack?.startsWith(`${c.name}: something broke`), err.stack);
    assert.not.ok('cause' in err, 'no cause given, none set');
  });

  test(`${c.name} keeps its code in JSON and passes a cause through`, () => {
    const root = new Error('EIO: disk on fire');
    const err = c.make('wrapped', root);
    assert.is(err.cause, root);
    const json = JSON.parse(JSON.stringify(err)) as Record<string, unknown>;
    assert.is(json.name, c.name);
    assert.is(json.code, c.code);
    assert.is(json.message, 'wrapped');
    assert.equal(err.toJSON(), { ...json });
  });
}

test('RaftError keeps leaderHint (default null) and writes it to JSON', () => {
  const err = new RaftError('ERR_NOT_LEADER', 'not the leader', 'n2');
  assert.is(err.leaderHint, 'n2');
  assert.equal(err.toJSON(), { name: 'RaftError', code: 'ERR_NOT_LEADER', message: 'not the leader', leaderHint: 'n2' });
  assert.is(new RaftError('ERR_COMPACTED', 'gone').leaderHint, null);
});

test('ProtocolError keeps the request id and writes it to JSON', () => {
  const err = new ProtocolError(42, 'request 42: bad key');
  assert.is(err.id, 42);
  assert.equal(err.toJSON(), { name: 'ProtocolError', code: 'ERR_BAD_REQUEST', message: 'request 42: bad key', id: 42 });
  assert.is(new ProtocolError(-1, 'not CBOR').id, -1);
});

test('a plain CodedError is named CodedError', () => {
  const err = new CodedError('ERR_X', 'plain');
  assert.is(err.name, 'CodedError');
  assert.is(String(err), 'CodedError: plain');
  assert.equal(err.toJSON(), { name: 'CodedError', code: 'ERR_X', message: 'plain' });
});

test('the errors thrown in place carry their class and code', () => {
  const usage = catchError(() => parse(['--nope'], {}));
  assert.ok(usage instanceof UsageError);
  assert.is((usage as UsageError).code, 'ERR_USAGE');
  const option = catchError(() => resolvePeerOptions({ id: 'bad id!', port: 7001, peers: {}, dataDir: '/tmp/x' }));
  assert.ok(option instanceof PeerOptionError);
  assert.is((option as PeerOptionError).code, 'ERR_CONFIG_INVALID');
  assert.match((option as Error).message, /invalid option id/);
  const decode = catchError(() => decodeSnapshotFile(new Uint8Array(8)));
  assert.ok(decode instanceof DecodeError);
  assert.is(String(decode), 'DecodeError: file of 8 bytes is too short for a snapshot (offset 0)');
});

test('CodedError is exported by the core and the client entry points', () => {
  assert.is(core.CodedError, CodedError);
  assert.is(client.CodedError, CodedError);
});

function catchError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  assert.unreachable('expected a throw');
  return undefined;
}

test.run();
