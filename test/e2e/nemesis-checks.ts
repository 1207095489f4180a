// The checks after a fault run, once everything is healed: every live member applied the same
// index and holds the same state (compared through 'stale' scans, each answered by the member
// itself), and no acknowledged write is missing from the final state (the last acknowledged value
// of each key, or one written by a call not known to be superseded, is what the cluster holds).
// The final linearizable scan is added to the history, so the linearizability check covers it too.

import type { Value } from '../../src/core/kv/command.ts';
import type { HistoryOp } from '../lincheck/history.ts';
import { isStatus, waitFor, type Cluster, type PeerStatus } from './cluster.ts';
import type { History } from './history.ts';

const pageLimit = 10_000;

function show(v: string | null | undefined): string {
  return v === null || v === undefined ? '(absent)' : JSON.stringify(v);
}

function asText(v: Value): string {
  return typeof v === 'string' ? v : `<${v.byteLength} bytes>`;
}

/**
 * Waits until every live member applied the leader's commit index and the numbers hold still;
 * returns that index, or throws naming each member's view.
 */
export async function settle(c: Cluster, timeoutMs = 30_000): Promise<number> {
  let last = '';
  let prev = '';
  let index = 0;
  await waitFor(async () => {
    const sts = await c.statuses();
    last = [...sts].map(([id, s]) => (isStatus(s) ? `${id}: ${s.role} term ${s.term} commit ${s.commit} applied ${s.applied}` : `${id}: ${s.message}`)).join('; ');
    const ok = [...sts.values()].filter(isStatus);
    if (ok.length !== sts.size) return false;
    const leader = ok.find((s) => s.role === 'leader');
    if (leader === undefined) return false;
    const same = ok.every((s) => s.applied === leader.commit && s.commit === leader.commit);
    const key = `${leader.id}@${leader.term}:${leader.commit}`;
    const stable = same && key === prev;
    prev = same ? key : '';
    index = leader.commit;
    return stable;
  }, 'every live member to apply the same index', timeoutMs, 300).catch((err: Error) => {
    throw new Error(`${err.message}: ${last}`);
  });
  return index;
}

async function scanAll(kv: Awaited<ReturnType<Cluster['client']>>, prefix: string, consistency: 'linearizable' | 'stale'):
Promise<{ pages: Array<{ pairs: Array<[string, Value]>; servedBy: string }> }> {
  const pages: Array<{ pairs: Array<[string, Value]>; servedBy: string }> = [];
  let start: string | undefined;
  for (;;) {
    const page = await kv.scanWithMeta({ prefix, consistency, limit: pageLimit, ...(start !== undefined ? { start } : {}) });
    pages.push({ pairs: page.value, servedBy: page.servedBy });
    if (page.value.length < pageLimit) return { pages };
    start = `${page.value[page.value.length - 1]![0]}\u0000`;
  }
}

/**
 * Compares every live member's state under `prefix` (stale scans, answered by that member) and
 * returns one line per difference. `''` as prefix compares everything a client can see.
 */
export async function compareReplicas(c: Cluster, prefix: string): Promise<string[]> {
  const bad: string[] = [];
  let first: { id: string; map: Map<string, string> } | null = null;
  for (const id of c.live()) {
    const kv = await c.client('reader', { peers: [id], timeoutMs: 10_000 });
    try {
      const { pages } = await scanAll(kv, prefix, 'stale');
      const map = new Map<string, string>();
      for (const p of pages) {
        if (p.servedBy !== id) bad.push(`${id}: a stale scan sent to it was answered by ${p.servedBy}`);
        for (const [k, v] of p.pairs) map.set(k, asText(v));
      }
      if (first === null) {
        first = { id, map };
        continue;
      }
      const diffs: string[] = [];
      for (const [k, v] of first.map) if (map.get(k) !== v) diffs.push(`${k}: ${first.id} has ${show(v)}, ${id} has ${show(map.get(k))}`);
      for (const [k, v] of map) if (!first.map.has(k)) diffs.push(`${k}: ${first.id} has (absent), ${id} has ${show(v)}`);
      if (diffs.length > 0) bad.push(`${id} differs from ${first.id} in ${diffs.length} key(s), e.g. ${diffs.slice(0, 3).join('; ')}`);
    } finally {
      await kv.close();
    }
  }
  return bad;
}

/**
 * Reads every key under `prefix` linearizably (through the leader, paged) and adds one ok get per
 * key the history touched to the history, with the page's call and return times. Returns the map.
 */
export async function finalRead(c: Cluster, history: History, prefix: string): Promise<Map<string, string | null>> {
  const keys = new Set(history.ops.map((op) => op.key));
  const kv = await c.client('reader', { timeoutMs: 20_000 });
  const out = new Map<string, string | null>();
  try {
    let start: string | undefined;
    for (;;) {
      const callKeys = [...keys].filter((k) => !out.has(k) && (start === undefined || k >= start));
      const pending = callKeys.map((k) => history.call('final', 'get', k));
      const page = await kv.scanWithMeta({ prefix, consistency: 'linearizable', limit: pageLimit, ...(start !== undefined ? { start } : {}) });
      const got = new Map(page.value.map(([k, v]) => [k, asText(v)]));
      const last = page.value.length < pageLimit ? null : page.value[page.value.length - 1]![0];
      for (const p of pending) {
        // A key past this page's last one is read by the next page.
        if (last !== null && p.key > last) continue;
        const v = got.get(p.key) ?? null;
        history.ok(p, v);
        out.set(p.key, v);
      }
      for (const [k, v] of got) out.set(k, v);
      if (last === null) break;
      start = `${last}\u0000`;
    }
  } finally {
    await kv.close();
  }
  return out;
}

/** What a write leaves in its key: the value, null (deleted), or undefined (a cas that did not swap). */
function effect(op: HistoryOp): string | null | undefined {
  if (op.op === 'delete') return null;
  if (op.op === 'cas' && op.outcome === 'ok' && op.result !== true) return undefined;
  return typeof op.value === 'string' ? op.value : undefined;
}

/**
 * Checks that no acknowledged write is missing: per key, the final value must be what some write
 * left that no acknowledged write provably followed (its call came after that write returned; an
 * unknown write never returned, so nothing provably follows it). One line per bad key.
 */
export function checkAckedWrites(history: History, final: ReadonlyMap<string, string | null>, limit = 20): string[] {
  const writes = new Map<string, HistoryOp[]>();
  for (const op of history.ops) {
    if (op.op === 'get' || op.outcome === 'fail' || effect(op) === undefined) continue;
    const list = writes.get(op.key) ?? [];
    list.push(op);
    writes.set(op.key, list);
  }
  const bad: string[] = [];
  for (const [key, list] of writes) {
    const acked = list.filter((op) => op.outcome === 'ok');
    if (acked.length === 0) continue;
    const lastCall = Math.max(...acked.map((op) => op.callMs));
    // Writes that may be the last one: not returned before the last acknowledged write was called.
    const candidates = list.filter((op) => op.returnMs === null || op.returnMs >= lastCall);
    const got = final.has(key) ? final.get(key)! : null;
    if (candidates.some((op) => effect(op) === got)) continue;
    const newest = acked.reduce((a, b) => ((b.returnMs ?? 0) > (a.returnMs ?? 0) ? b : a));
    if (bad.length < limit) {
      bad.push(`${key}: the cluster holds ${show(got)}, but the last acknowledged write was ${newest.op} #${newest.id} by ${newest.client} ` +
        `(${show(effect(newest))}, ${newest.callMs.toFixed(1)}..${newest.returnMs?.toFixed(1)} ms) and no write that may follow it left ${show(got)}` +
        ` (candidates: ${candidates.map((op) => `${op.op} #${op.id} ${show(effect(op))} ${op.outcome}`).slice(0, 6).join(', ')})`);
    }
  }
  return bad;
}

/** The status of every live member, for a failure report. */
export async function statusLines(c: Cluster): Promise<string[]> {
  const sts = await c.statuses();
  return [...sts].map(([id, s]) => (isStatus(s)
    ? `${id}: ${s.role} term ${s.term} leader ${s.leader ?? '-'} commit ${s.commit} applied ${s.applied} log ${s.firstIndex}..${s.lastIndex} keys ${s.keys} voters ${(s as PeerStatus).conf.voters.join(',')}`
    : `${id}: ${s.message}`));
}
