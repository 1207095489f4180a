// The history file format: JSON lines round-trip (bytes included), malformed input fails with
// the line and field named, and the CLI re-checks a kept file with a meaningful exit status.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HistoryError, loadHistory, parseJsonl, saveHistory, toJsonl, validateHistory } from './history.ts';
import type { HistoryOp } from './history.ts';
import { history } from './build.ts';
import { checkHistory } from './checker.ts';
import { generateHistory } from './generate.ts';

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.instance(e, HistoryError);
    return `${(e as HistoryError).code}: ${(e as Error).message}`;
  }
  throw new Error('expected a HistoryError');
}

test('JSON lines round-trip every field, bytes included', () => {
  const ops = history()
    .put('c1', 'x', 'a', 0, 1).get('c2', 'x', 'a', 2, 3).get('c2', 'y', null, 2, 3)
    .cas('c1', 'x', null, 'b', false, 4, 5).cas('c1', 'x', 'a', 'b', false, 6, 0, 'unknown')
    .delete('c3', 'x', 7, 8, 'fail')
    .put('c1', 'z', new Uint8Array([0, 255, 10]), 9, 10).get('c2', 'z', new Uint8Array([0, 255, 10]), 11, 12).ops;
  const text = toJsonl(ops);
  assert.is(text.split('\n').length, ops.length + 1);
  assert.match(text, '{"$b64":"AP8K"}');
  const back = parseJsonl(text);
  assert.equal(back, ops);
  assert.instance(back[6]?.value, Uint8Array);
  assert.is(back[4]?.returnMs, null);
  assert.equal(toJsonl(back), text);
});

test('a generated history survives a save and load and checks the same', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lincheck-'));
  try {
    const ops = generateHistory({ seed: 11, ops: 2000, keys: 20, clients: 8, unknownRatio: 0.05, failRatio: 0.05 });
    const path = join(dir, 'h.jsonl');
    saveHistory(path, ops);
    const loaded = loadHistory(path);
    assert.equal(loaded, ops);
    assert.is(checkHistory(loaded).verdict, 'linearizable');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('malformed lines name the source, line, field and value', () => {
  assert.match(codeOf(() => parseJsonl('{"id":1}\n\nnot json', 'h.jsonl')), /^ERR_HISTORY_JSON: h.jsonl:3: not JSON/);
  assert.match(codeOf(() => parseJsonl('[1,2]', 'h.jsonl')), /^ERR_HISTORY_JSON: h.jsonl:1: expected an object/);
  const good = '{"id":1,"client":"c1","op":"put","key":"x","value":"a","callMs":0,"returnMs":1,"outcome":"ok"}';
  assert.is(parseJsonl(`${good}\n`).length, 1);
  assert.match(codeOf(() => parseJsonl(`${good}\n${good}`, 'h.jsonl')), /^ERR_HISTORY_DUPLICATE_ID: h.jsonl:2 \(id 1\): id 1 appears twice/);
  const badOp = good.replace('"put"', '"append"').replace('"id":1', '"id":2');
  assert.match(codeOf(() => parseJsonl(`${good}\n${badOp}`, 'h.jsonl')), /^ERR_HISTORY_FIELD: h.jsonl:2 \(id 2\): `op` must be .* got "append"/);
  assert.match(codeOf(() => parseJsonl(good.replace('"value":"a"', '"value":{"b64":1}'), 'h.jsonl')), /`value` must be a string, null or \{"\$b64"/);
});

test('validation checks times, outcomes and results per op kind', () => {
  const base: HistoryOp = { id: 1, client: 'c1', op: 'get', key: 'x', callMs: 5, returnMs: 6, outcome: 'ok' };
  const bad = (op: Partial<Record<keyof HistoryOp, unknown>>): string => codeOf(() => validateHistory([{ ...base, ...op } as HistoryOp]));
  assert.match(bad({ returnMs: 4 }), '`returnMs` must be >= callMs (5), got 4');
  assert.match(bad({ returnMs: null }), "`returnMs` must be a finite number when the outcome is 'ok', got null");
  assert.match(bad({ callMs: Number.NaN }), '`callMs` must be a finite number');
  assert.match(bad({ outcome: 'maybe' }), '`outcome` must be');
  assert.match(bad({ key: 7 }), '`key` must be a string, got 7');
  assert.match(bad({ id: 1.5 }), '`id` must be a safe integer');
  assert.match(bad({ op: 'put' }), '`value` must be a string or bytes for put');
  assert.match(bad({ op: 'cas', value: 'b' }), '`result` must be a boolean for an ok cas');
  assert.match(bad({ result: 3 }), '`result` must be a string, bytes, or null');
  // An unknown outcome needs no return time and no result.
  validateHistory([{ ...base, op: 'cas', value: 'b', returnMs: null, outcome: 'unknown' }]);
  assert.throws(() => checkHistory([{ ...base, returnMs: 1 }]), (e: unknown) => e instanceof HistoryError && e.code === 'ERR_HISTORY_FIELD');
});

function cli(...args: string[]): { status: number | null; out: string; stdout: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'test/lincheck/cli.ts', ...args], { encoding: 'utf8' });
  return { status: r.status, out: `${r.stdout}${r.stderr}`, stdout: r.stdout };
}

test('the CLI re-checks a kept file: exit 0 linearizable, 1 violation, 3 bad file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lincheck-'));
  try {
    const good = join(dir, 'good.jsonl');
    saveHistory(good, history().put('c1', 'x', 'a', 0, 1).get('c2', 'x', 'a', 2, 3).ops);
    const ok = cli(good, '--json');
    assert.is(ok.status, 0, ok.out);
    assert.match(ok.out, 'LINEARIZABLE: 2 ops on 1 keys');
    // Node may print warnings on stderr (FORCE_COLOR with NO_COLOR), so read stdout's last line.
    const last = JSON.parse(ok.stdout.trim().split('\n').pop() ?? '{}') as { verdict?: string };
    assert.is(last.verdict, 'linearizable');
    const bad = join(dir, 'bad.jsonl');
    saveHistory(bad, history().put('c1', 'x', 'a', 0, 1).put('c1', 'x', 'b', 2, 3).get('c2', 'x', 'a', 4, 5).ops);
    const violation = cli(bad, '--steps-per-key-max', '1000');
    assert.is(violation.status, 1, violation.out);
    assert.match(violation.out, 'it read "a" but the key holds "b"');
    const broken = join(dir, 'broken.jsonl');
    writeFileSync(broken, '{"id":1}\n');
    const malformed = cli(broken);
    assert.is(malformed.status, 3, malformed.out);
    assert.match(malformed.out, `${broken}:1 (id 1): \`client\` must be a string or number`);
    assert.is(cli(good, '--timeout-ms', 'soon').status, 3);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
