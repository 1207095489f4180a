// The core must stay pure: it imports nothing outside src/core, and touches no clock, no
// randomness, no timers and no I/O. This test reads the sources, so a violation fails here
// even when the build would not notice it.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';

const coreDir = resolve('src/core');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) =>
    d.isDirectory() ? sources(join(dir, d.name)) : d.name.endsWith('.ts') ? [join(dir, d.name)] : []);
}

function code(text: string): string {
  // Strip comments and string contents so prose like "no Date.now" does not trip the check.
  return text
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/\/\/.*$/gm, '')
    .replace(/`(?:\\.|[^`\\])*`/g, '``');
}

const forbidden: Array<[RegExp, string]> = [
  [/\bDate\b/, 'Date (time must come from tick())'],
  [/\bMath\.random\b/, 'Math.random (randomness must be injected)'],
  [/\bperformance\b/, 'performance (time must come from tick())'],
  [/\b(setTimeout|setInterval|setImmediate|queueMicrotask|clearTimeout|clearInterval)\b/, 'timers'],
  [/\b(process|require|globalThis|window|document|indexedDB|WebSocket|fetch|crypto|Deno|Buffer)\b/, 'runtime globals (I/O)'],
];

test('src/core imports only modules inside src/core', () => {
  const files = sources(coreDir);
  assert.ok(files.length >= 5, `expected core sources, found ${files.length}`);
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/(?:import|export)[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g)) {
      const spec = m[1] ?? m[2] ?? '';
      assert.ok(spec.startsWith('.'), `${file} imports '${spec}', which is outside src/core`);
      const target = resolve(dirname(file), spec);
      assert.ok(target.startsWith(coreDir), `${file} imports '${spec}', which leaves src/core`);
    }
  }
});

test('src/core touches no clock, randomness, timers or I/O globals', () => {
  for (const file of sources(coreDir)) {
    const body = code(readFileSync(file, 'utf8'));
    for (const [re, what] of forbidden) {
      const hit = re.exec(body);
      assert.not.ok(hit, `${file} uses ${what}: '${hit?.[0]}'`);
    }
  }
});

function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/(?:import|export)[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g)]
    .map((m) => m[1] ?? m[2] ?? '')
    .filter((spec) => spec.startsWith('.'))
    .map((spec) => resolve(dirname(file), spec));
}

// Each replication mode lives in its own folder and is named in one place only (modes.ts): the
// shared protocol, the driver, the stores, the machine, the transport and the runtimes reach a
// mode through the ReplicationMode and LogRules interfaces.
const modeDirs = [resolve('src/core/parallel'), resolve('src/core/raft-mode')];
const modesFiles = new Set([resolve('src/core/modes.ts')]);

test('only modes.ts names a replication mode\'s folder', () => {
  const files = ['src/core', 'src/transport', 'src/server', 'src/runtime-node', 'src/runtime-deno', 'src/runtime-browser', 'src/client'].flatMap((d) => sources(resolve(d)));
  assert.ok(files.length > 20, `expected sources, found ${files.length}`);
  for (const file of files) {
    if (modesFiles.has(file)) continue;
    const home = modeDirs.find((d) => file.startsWith(d + '/'));
    for (const target of importsOf(file)) {
      const dir = modeDirs.find((d) => target.startsWith(d + '/'));
      if (dir === undefined || dir === home) continue;
      // A mode may use the shared protocol, never the other mode.
      assert.unreachable(`${file} imports ${target}: only src/core/modes.ts may name a mode's folder`);
    }
  }
});

test('no mode branch outside the modes: nothing compares a mode by name', () => {
  const allowed = new Set([...modesFiles, resolve('src/core/config.ts')]);
  const files = ['src/core', 'src/transport'].flatMap((d) => sources(resolve(d)))
    .filter((f) => !allowed.has(f) && !modeDirs.some((d) => f.startsWith(d + '/')));
  for (const file of files) {
    const body = code(readFileSync(file, 'utf8')).replace(/'(?:\\.|[^'\\])*'/g, (lit) => (lit === "'parallel'" || lit === "'raft'" ? lit : "''"));
    const hit = /(?:===|!==)\s*'(?:parallel|raft)'|'(?:parallel|raft)'\s*(?:===|!==)|\.parallel\b/.exec(body);
    assert.not.ok(hit, `${file} branches on the replication mode: '${hit?.[0]}'`);
  }
});

// A runtime is a second implementation of one interface (server/peer-runtime.ts), chosen once:
// the runtime-neutral peer in src/server and the native Deno runtime use nothing of the Node
// runtime, and src/server imports no node: module (the Deno bundle is built from it).
const nodeRuntimeDir = resolve('src/runtime-node');

test('src/server and src/runtime-deno import nothing from src/runtime-node', () => {
  const files = ['src/server', 'src/runtime-deno'].flatMap((d) => sources(resolve(d)));
  assert.ok(files.length > 15, `expected sources, found ${files.length}`);
  for (const file of files) {
    for (const target of importsOf(file)) {
      assert.not.ok(target.startsWith(nodeRuntimeDir + '/'), `${file} imports ${target}, which is Node-only (src/runtime-node)`);
    }
  }
});

test('src/server imports no node: module and no package', () => {
  for (const file of sources(resolve('src/server'))) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/(?:import|export)[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g)) {
      const spec = m[1] ?? m[2] ?? '';
      assert.not.ok(spec.startsWith('node:'), `${file} imports '${spec}': src/server must run on every runtime`);
      assert.ok(spec.startsWith('.'), `${file} imports the package '${spec}': src/server takes packages only through src/transport`);
    }
  }
});

test('the checker itself catches a forbidden use', () => {
  const body = code('const t = Date.now(); // fine in a comment: Math.random');
  assert.ok(forbidden[0]![0].test(body));
  assert.not.ok(forbidden[1]![0].test(body));
});

test.run();
