// A real peer's /metrics: edgeraft's series and the process's standard ones (prom-client's
// default collectors) side by side, with no family declared twice, on every peer of a process;
// and the alerting rules of docs/operations.md name only metrics a peer serves (docs match code).

import { readFileSync } from 'node:fs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { getText } from '../../src/runtime-node/local-probe.ts';
import { TestCluster } from './kv-harness.ts';

/** Series Prometheus makes itself (never served by a target). */
const prometheusOwn = new Set(['up']);
const promqlKeywords = new Set(['and', 'or', 'unless', 'bool', 'offset', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right']);

interface Exposition {
  /** Family name -> its # TYPE. */
  readonly families: Map<string, string>;
  /** Sample name -> the number of samples. */
  readonly samples: Map<string, number>;
  /** `name{labels}` -> value. */
  readonly values: Map<string, number>;
}

function parse(text: string): Exposition {
  const families = new Map<string, string>();
  const samples = new Map<string, number>();
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type !== null) {
      assert.not.ok(families.has(type[1]!), `family ${type[1]} is declared twice`);
      families.set(type[1]!, type[2]!);
      continue;
    }
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)$/.exec(line);
    assert.ok(m !== null, `not a sample line: ${line}`);
    samples.set(m![1]!, (samples.get(m![1]!) ?? 0) + 1);
    values.set(`${m![1]}${m![2] ?? ''}`, Number(m![3]));
  }
  return { families, samples, values };
}

/** Whether `name` is served: a sample name, a family, or a histogram family's _bucket/_sum/_count. */
function served(e: Exposition, name: string): boolean {
  if (e.samples.has(name) || e.families.has(name)) return true;
  const base = name.replace(/_(bucket|sum|count)$/, '');
  return base !== name && e.families.get(base) === 'histogram';
}

/** The metric names a PromQL expression reads (label matchers, ranges, grouping and functions left out). */
export function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names: string[] = [];
  for (const m of bare.matchAll(/\d+(?:\.\d+)?(?:e[+-]?\d+)?|[a-zA-Z_:][a-zA-Z0-9_:]*(\s*\()?/g)) {
    const tok = m[0];
    if (/^\d/.test(tok) || m[1] !== undefined || promqlKeywords.has(tok)) continue;
    names.push(tok);
  }
  return names;
}

/** The `expr:` of every rule in the "## Alerting rules" section's YAML. */
function ruleExpressions(): string[] {
  const doc = readFileSync(new URL('../../docs/operations.md', import.meta.url), 'utf8');
  const start = doc.indexOf('## Alerting rules');
  assert.ok(start >= 0, 'docs/operations.md has no "## Alerting rules" section');
  const next = doc.indexOf('\n## ', start + 1);
  const section = doc.slice(start, next === -1 ? undefined : next);
  const yaml = /```yaml\n([\s\S]*?)```/.exec(section)?.[1];
  assert.ok(yaml !== undefined, 'the alerting rules section has no yaml block');
  return [...yaml!.matchAll(/^\s*expr:\s*(.+)$/gm)].map((m) => m[1]!.trim());
}

const s = suite('metrics');
let started: TestCluster | null = null;

/** Started by the first test that needs it (an error in a before hook would go unreported). */
async function cluster(): Promise<TestCluster> {
  started ??= await TestCluster.start(3);
  return started;
}

s.after(async () => {
  await started?.close();
});

async function scrape(port: number): Promise<Exposition> {
  return parse(await getText(`http://127.0.0.1:${port}/metrics`, 5000));
}

s('metricNames reads PromQL', () => {
  assert.equal(metricNames('histogram_quantile(0.99, sum by (instance, le) (rate(a_bucket{x="y"}[5m]))) > 4e9'), ['a_bucket']);
  assert.equal(metricNames('a == 1 and b{c=~"d|e"} == 0 unless on(x) c'), ['a', 'b', 'c']);
});

s('every peer serves edgeraft\'s series and the process\'s, no family twice', async () => {
  const c = await cluster();
  const leader = await c.leader();
  for (const p of c.peers) {
    const e = await scrape(p.port);
    for (const name of ['process_cpu_user_seconds_total', 'process_resident_memory_bytes', 'nodejs_eventloop_lag_max_seconds', 'nodejs_heap_size_used_bytes', 'nodejs_version_info']) {
      assert.ok(e.samples.has(name), `${p.opts.id} serves no ${name}`);
    }
    assert.equal(e.families.get('nodejs_gc_duration_seconds'), 'histogram');
    assert.equal(e.values.get('edgeraft_has_leader'), 1, `${p.opts.id} sees no leader`);
    assert.equal(e.values.get('edgeraft_voters'), 3);
    assert.equal(e.values.get('edgeraft_lease_lost_total'), 0);
    assert.equal(e.values.get('edgeraft_is_leader'), p === leader ? 1 : 0);
    // edgeraft's families and the process's never share a name.
    for (const f of e.families.keys()) assert.ok(f.startsWith('edgeraft_') || /^(process|nodejs)_/.test(f), `unexpected family ${f}`);
  }
  const e = await scrape(leader.port);
  for (const f of c.followers(leader)) assert.ok(e.values.has(`edgeraft_follower_lag_entries{follower="${f.opts.id}"}`), `no lag for ${f.opts.id}`);
});

s('the alerting rules of docs/operations.md name only metrics a peer serves', async () => {
  const e = await scrape((await (await cluster()).leader()).port);
  const exprs = ruleExpressions();
  assert.ok(exprs.length >= 10, `only ${exprs.length} rules`);
  for (const expr of exprs) {
    const names = metricNames(expr);
    assert.ok(names.length > 0, `no metric in ${expr}`);
    for (const name of names) assert.ok(prometheusOwn.has(name) || served(e, name), `rule expression ${JSON.stringify(expr)} reads ${name}, which a peer does not serve`);
  }
});

s.run();
