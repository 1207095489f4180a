// Runs every interaction script in testdata/*.txt against the core (env.ts). A script is a list of
// blocks: a command line, a `----` line, then the output the command must print, up to a blank
// line; lines starting with `#` are comments. A test fails at the first block whose output
// differs, naming the file, line and command, with a line diff.
//
// To rewrite the expected outputs from what the core does now:
//   INTERACTION_REWRITE=1 npx tsx node_modules/uvu/bin.js test/core/interaction run.test.ts
// then READ every changed output (git diff) and check it says what the protocol must do: the
// expected outputs are the assertions, so a wrong one that was rewritten in is a wrong test.

import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { InteractionEnv } from './env.ts';

const test = suite('interaction');
const dir = join(dirname(fileURLToPath(import.meta.url)), 'testdata');
const rewrite = process.env['INTERACTION_REWRITE'] === '1';

interface Block {
  /** 1-based line of the command, for messages. */
  readonly line: number;
  readonly command: string;
  readonly expected: string;
}

/** Comment and blank lines are kept verbatim (a rewrite puts them back where they were). */
type Chunk = string | Block;

function parse(file: string, text: string): Chunk[] {
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  const chunks: Chunk[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.trim() === '' || line.startsWith('#')) {
      chunks.push(line);
      continue;
    }
    if (lines[i + 1] !== '----') throw new Error(`${file}:${i + 2}: expected '----' after the command ${JSON.stringify(line)}`);
    const expected: string[] = [];
    let j = i + 2;
    while (j < lines.length && lines[j]!.trim() !== '') expected.push(lines[j++]!);
    chunks.push({ line: i + 1, command: line, expected: expected.join('\n') });
    i = j - 1;
  }
  return chunks;
}

const scripts = readdirSync(dir).filter((f) => f.endsWith('.txt')).sort();

test('the testdata folder holds the scripts', () => {
  assert.ok(scripts.length >= 9, `found ${scripts.length} scripts in ${dir}`);
});

for (const file of scripts) {
  test(file, () => {
    const text = readFileSync(join(dir, file), 'utf8');
    assert.ok(text.startsWith('#'), `${file} must start with a # line saying what it shows`);
    const env = new InteractionEnv();
    const out: string[] = [];
    for (const chunk of parse(file, text)) {
      if (typeof chunk === 'string') {
        out.push(chunk);
        continue;
      }
      let actual: string;
      try {
        actual = env.run(chunk.command);
      } catch (e) {
        throw new Error(`${file}:${chunk.line}: ${chunk.command}: ${(e as Error).stack ?? String(e)}`);
      }
      out.push(chunk.command, '----', actual);
      if (!rewrite) assert.fixture(actual, chunk.expected, `${file}:${chunk.line}: ${chunk.command}`);
    }
    if (rewrite) writeFileSync(join(dir, file), `${out.join('\n')}\n`);
  });
}

test.run();
