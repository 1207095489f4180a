// validate(): defaults are filled in, and every rule it enforces fails with RaftError
// ERR_CONFIG_INVALID whose message names the option and the value that broke the rule.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ManualClock } from '../../src/core/clock.ts';
import { defaults, validate, type RaftOptions } from '../../src/core/config.ts';
import { RaftError } from '../../src/core/errors.ts';
import { SeededPrng } from '../../src/core/prng.ts';

const test = suite('config.validate');

const prng = new SeededPrng(1);
const clock = new ManualClock();

function opts(extra: Record<string, unknown> = {}): RaftOptions {
  return { id: 'n1', prng, clock, ...extra } as RaftOptions;
}

function configError(options: RaftOptions): RaftError {
  try {
    validate(options);
  } catch (e) {
    assert.instance(e, RaftError, `expected a RaftError, got ${String(e)}`);
    return e as RaftError;
  }
  throw new Error(`validate accepted ${JSON.stringify({ ...options, prng: undefined })}`);
}

/** Refused with ERR_CONFIG_INVALID, and the message names `option` and shows `shown`. */
function refuses(extra: Record<string, unknown>, option: string, shown: string): void {
  const err = configError(opts(extra));
  assert.is(err.code, 'ERR_CONFIG_INVALID');
  assert.ok(err.message.includes(option), `message names ${option}: ${err.message}`);
  assert.ok(err.message.includes(shown), `message shows the value ${shown}: ${err.message}`);
}

test('fills every default for the minimal options', () => {
  const c = validate(opts());
  assert.equal({ ...c }, { ...defaults, id: 'n1', prng, clock });
});

test('explicit options override defaults and undefined ones fall back to them', () => {
  const c = validate(opts({ electionTicks: 20, heartbeatTicks: 3, msgBytesMax: undefined, preVote: false }));
  assert.is(c.electionTicks, 20);
  assert.is(c.heartbeatTicks, 3);
  assert.is(c.msgBytesMax, defaults.msgBytesMax);
  assert.is(c.preVote, false);
  assert.is(c.prng, prng);
});

test('zero disables the reorder buffer and is accepted there', () => {
  const c = validate(opts({ reorderBufferMsgsMax: 0, reorderBufferBytesMax: 0 }));
  assert.is(c.reorderBufferMsgsMax, 0);
  assert.is(c.reorderBufferBytesMax, 0);
});

test('negative counts, sizes and ticks are refused', () => {
  refuses({ heartbeatTicks: -1 }, 'heartbeatTicks', '-1');
  refuses({ inflightBytesMax: -10 }, 'inflightBytesMax', '-10');
  refuses({ reorderBufferMsgsMax: -1 }, 'reorderBufferMsgsMax', '-1');
  refuses({ pendingReadsMax: -5 }, 'pendingReadsMax', '-5');
  refuses({ leaseDriftPercent: -1 }, 'leaseDriftPercent', '-1');
});

test('non-integer counts, sizes and ticks are refused', () => {
  refuses({ electionTicks: 12.5 }, 'electionTicks', '12.5');
  refuses({ learnerInflightMsgsMax: 1.5 }, 'learnerInflightMsgsMax', '1.5');
  refuses({ reorderBufferBytesMax: 3.25 }, 'reorderBufferBytesMax', '3.25');
  refuses({ msgBytesMax: '1024' }, 'msgBytesMax', '"1024"');
  refuses({ uncommittedBytesMax: null }, 'uncommittedBytesMax', 'null');
});

test('zero is refused where at least one is required', () => {
  refuses({ inflightMsgsMax: 0 }, 'inflightMsgsMax', '0');
  refuses({ msgBytesMax: 0 }, 'msgBytesMax', '0');
  refuses({ reorderTimeoutTicks: 0 }, 'reorderTimeoutTicks', '0');
  refuses({ pendingReadsMax: 0 }, 'pendingReadsMax', '0');
});

test('a non-finite number is shown as written, not as null', () => {
  // Number(undefined) from an unset environment variable is NaN: the message must say so.
  refuses({ electionTicks: Number.NaN }, 'electionTicks', 'NaN');
  refuses({ inflightBytesMax: Number.POSITIVE_INFINITY }, 'inflightBytesMax', 'Infinity');
});

test('a bigint option is refused with RaftError, not a TypeError from formatting it', () => {
  refuses({ msgBytesMax: 1024n }, 'msgBytesMax', '1024');
});

test('electionTicks must exceed heartbeatTicks', () => {
  refuses({ electionTicks: 5, heartbeatTicks: 5, reorderTimeoutTicks: 1 }, 'electionTicks', '5');
  refuses({ electionTicks: 4, heartbeatTicks: 6, reorderTimeoutTicks: 1 }, 'electionTicks', '4');
  assert.is(validate(opts({ electionTicks: 6, heartbeatTicks: 5 })).electionTicks, 6);
});

test('leaseReads requires checkQuorum', () => {
  refuses({ checkQuorum: false, leaseReads: true }, 'leaseReads', 'true');
  refuses({ checkQuorum: false }, 'leaseReads', 'true');
  const c = validate(opts({ checkQuorum: false, leaseReads: false }));
  assert.is(c.checkQuorum, false);
  assert.is(c.leaseReads, false);
});

test('reorderTimeoutTicks must stay below electionTicks', () => {
  refuses({ electionTicks: 5, reorderTimeoutTicks: 5 }, 'reorderTimeoutTicks', '5');
  refuses({ electionTicks: 5, reorderTimeoutTicks: 9 }, 'reorderTimeoutTicks', '9');
  assert.is(validate(opts({ electionTicks: 5, reorderTimeoutTicks: 4 })).reorderTimeoutTicks, 4);
});

test('proposalBytesMax must fit in uncommittedBytesMax', () => {
  refuses({ proposalBytesMax: 2000, uncommittedBytesMax: 1000 }, 'proposalBytesMax', '2000');
  assert.is(validate(opts({ proposalBytesMax: 1000, uncommittedBytesMax: 1000 })).proposalBytesMax, 1000);
});

test('an unknown option key is refused, naming the key', () => {
  const err = configError(opts({ electionTick: 10 }));
  assert.is(err.code, 'ERR_CONFIG_INVALID');
  assert.ok(err.message.includes('electionTick'), err.message);
});

test('an unknown option key shows the value it was given', () => {
  refuses({ electionTick: 17 }, 'electionTick', '17');
});

test('an id with whitespace, an empty id and a non-string id are refused', () => {
  refuses({ id: 'node 1' }, 'id', '"node 1"');
  refuses({ id: 'n1\n' }, 'id', '"n1\\n"');
  refuses({ id: '' }, 'id', '""');
  refuses({ id: 7 }, 'id', '7');
});

test('non-boolean flags are refused', () => {
  refuses({ preVote: 'yes' }, 'preVote', '"yes"');
  refuses({ checkQuorum: 1 }, 'checkQuorum', '1');
});

test('a lease needs a clock; tickMs must be a positive number of milliseconds', () => {
  refuses({ clock: null }, 'clock', 'null');
  assert.is(validate(opts({ clock: null, leaseReads: false })).clock, null, 'without leases no clock is needed');
  refuses({ clock: { monoMs: () => 0 } }, 'clock', 'object');
  refuses({ tickMs: 0 }, 'tickMs', '0');
  refuses({ tickMs: Number.NaN }, 'tickMs', 'NaN');
  assert.is(validate(opts({ tickMs: 12.5 })).tickMs, 12.5);
});

test('leaseDriftPercent must lie in [0, 100)', () => {
  refuses({ leaseDriftPercent: 100 }, 'leaseDriftPercent', '100');
  assert.is(validate(opts({ leaseDriftPercent: 0 })).leaseDriftPercent, 0);
  assert.is(validate(opts({ leaseDriftPercent: 12.5 })).leaseDriftPercent, 12.5);
});

test('a prng without nextInt is refused', () => {
  refuses({ prng: {} }, 'prng', 'object');
  refuses({ prng: undefined }, 'prng', 'undefined');
});

test.run();
