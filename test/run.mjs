// `npm test`: type-checks, then runs every uvu suite folder in its own process (so one crashing
// suite cannot hide another) and ends with the one summary line CI reads: `N passed, N failed`.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const only = process.argv.slice(2);
const env = { ...process.env, FORCE_COLOR: '0' };
delete env.NO_COLOR;
let passed = 0;
let failed = 0;
let skipped = 0;

// uvu has no per-test timeout: a suite that hangs would hang CI, so each suite gets a bound
// (real processes and browsers get more, and so does the simulator: 1,000 chaos seeds and the
// mutant hunts take about 4 minutes here) and a hung one counts as a failure.
const suiteTimeoutMs = (label) => (/e2e|browser/.test(label) ? 12 : /sim/.test(label) ? 8 : 5) * 60_000;

function run(label, args, extraEnv = {}) {
  const started = Date.now();
  process.stdout.write(`\n== ${label}\n`);
  const timeout = suiteTimeoutMs(label);
  const r = spawnSync(process.execPath, args, { env: { ...env, ...extraEnv }, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, timeout, killSignal: 'SIGKILL' });
  let out = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  if (r.error?.code === 'ETIMEDOUT' || (r.signal === 'SIGKILL' && Date.now() - started >= timeout)) {
    out += `\n!! ${label} did not finish within ${timeout / 60_000} min: killed (a hung test)\n`;
  }
  process.stdout.write(out);
  return { status: r.status ?? 1, out, ms: Date.now() - started };
}

// 1. Types: one check, counted as one test.
if (only.length === 0) {
  const t = run('typecheck (tsc --noEmit)', ['node_modules/typescript/bin/tsc', '--noEmit', '-p', '.']);
  if (t.status === 0) passed += 1; else failed += 1;
  const c = run('typecheck core without DOM or Node types', ['node_modules/typescript/bin/tsc', '--noEmit', '-p', 'tsconfig.core.json']);
  if (c.status === 0) passed += 1; else failed += 1;
}

// 2. uvu suites: test/*.test.ts as one group, then each subfolder of test/ as its own group.
const groups = [{ label: 'test/', dir: 'test', pattern: '^[^/]*\\.test\\.ts$' }];
for (const name of readdirSync('test').sort()) {
  const dir = join('test', name);
  if (statSync(dir).isDirectory()) groups.push({ label: `${dir}/`, dir, pattern: '\\.test\\.ts$' });
}
// The peer e2e suite once more with every cluster over TLS (E2E_TLS=1: test/e2e/cluster.ts).
groups.push({ label: 'test/e2e/ over TLS (E2E_TLS=1)', dir: join('test', 'e2e'), pattern: '^peer\\.test\\.ts$', env: { E2E_TLS: '1' } });
for (const g of groups) {
  if (only.length > 0 && !only.some((o) => g.dir.includes(o))) continue;
  const r = run(g.label, ['--import', 'tsx', 'node_modules/uvu/bin.js', g.dir, g.pattern], g.env);
  const total = Number(/Total:\s+(\d+)/.exec(r.out)?.[1] ?? NaN);
  const ok = Number(/Passed:\s+(\d+)/.exec(r.out)?.[1] ?? NaN);
  const skip = Number(/Skipped:\s+(\d+)/.exec(r.out)?.[1] ?? 0);
  if (Number.isNaN(total)) {
    // No summary: either the folder has no test files, or an import failed before uvu could report.
    if (r.status === 0 && !/\.test\.ts/.test(r.out)) continue;
    failed += 1;
    console.log(`!! ${g.label} produced no summary (exit ${r.status}): counted as one failure`);
    continue;
  }
  passed += ok;
  skipped += skip;
  failed += Math.max(total - ok - skip, r.status === 0 ? 0 : 1);
  console.log(`-- ${g.label}: ${ok}/${total} passed${skip ? `, ${skip} skipped (see the 'skipped:' lines above for why)` : ''} in ${(r.ms / 1000).toFixed(1)} s`);
}

console.log(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(failed === 0 ? 0 : 1);
