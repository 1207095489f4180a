// What the local-cluster harness learns from outside its members: which loopback ports are free,
// each member's view over GET /healthz (typed and checked), the leader they agree on, and a
// member's /metrics. HTTP or HTTPS (a TLS cluster: verified against its CA), no token: peers
// answer these to anyone who can reach the port.

import { get as httpGet } from 'node:http';
import { get as httpsGet } from 'node:https';
import { createServer } from 'node:net';
import type { Role } from '../core/types.ts';

/** Ports picked below the kernel's ephemeral range (32768+ on Linux), so outgoing connections of other processes cannot take them between the check and the bind. */
export const freePortMin = 20_000;
export const freePortMax = 31_999;
/** Random ports tried per port wanted before freePorts() gives up. */
const freePortAttemptsPerPort = 200;

const roles: readonly Role[] = ['follower', 'preCandidate', 'candidate', 'leader'];

/** A member's own view, as GET /healthz of its port answers it (peer.ts). */
export interface MemberHealth {
  readonly id: string;
  readonly role: Role;
  readonly leader: string | null;
  readonly term: number;
  readonly applied: number;
}

/** Whether `port` on `host` can be bound right now. */
export function portFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolvePort) => {
    const s = createServer();
    s.once('error', () => resolvePort(false));
    s.listen(port, host, () => s.close(() => resolvePort(true)));
  });
}

/** `n` distinct ports in freePortMin..freePortMax that are free on `host` now. */
export async function freePorts(n: number, host = '127.0.0.1'): Promise<number[]> {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`freePorts: n must be an integer >= 0 (got ${n})`);
  const out: number[] = [];
  for (let attempt = 0; out.length < n && attempt < n * freePortAttemptsPerPort; attempt++) {
    const p = freePortMin + Math.floor(Math.random() * (freePortMax - freePortMin + 1));
    if (!out.includes(p) && (await portFree(p, host))) out.push(p);
  }
  if (out.length < n) throw new Error(`could not find ${n} free ports in ${freePortMin}..${freePortMax} on ${host} (found ${out.length})`);
  return out;
}

/** Checks the shape of a /healthz reply; the error names the first field that is wrong. */
export function parseHealth(v: unknown): MemberHealth {
  if (typeof v !== 'object' || v === null) throw new TypeError(`/healthz: expected a JSON object, got ${JSON.stringify(v)}`);
  const o = v as Record<string, unknown>;
  const bad = (field: string, want: string) => new TypeError(`/healthz: '${field}' must be ${want} (got ${JSON.stringify(o[field])})`);
  if (typeof o.id !== 'string' || o.id === '') throw bad('id', 'a member id');
  if (!roles.includes(o.role as Role)) throw bad('role', `one of ${roles.join(', ')}`);
  if (o.leader !== null && typeof o.leader !== 'string') throw bad('leader', 'a member id or null');
  if (!Number.isSafeInteger(o.term) || (o.term as number) < 0) throw bad('term', 'an integer >= 0');
  if (!Number.isSafeInteger(o.applied) || (o.applied as number) < 0) throw bad('applied', 'an integer >= 0');
  return { id: o.id, role: o.role as Role, leader: o.leader as string | null, term: o.term as number, applied: o.applied as number };
}

/**
 * GET `url` (http:// or https://, trusting `ca` when given) and its body as text; rejects on a
 * network error, a status other than 200 or after `timeoutMs`. (node:http rather than fetch:
 * Node's fetch takes no CA.)
 */
export function getText(url: string, timeoutMs: number, ca?: string): Promise<string> {
  return new Promise((resolveGet, reject) => {
    const done = (err: Error) => reject(new Error(`GET ${url}: ${err.message}`));
    const options = { timeout: timeoutMs, ...(ca !== undefined ? { ca } : {}) };
    const req = (url.startsWith('https:') ? httpsGet : httpGet)(url, options, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { body += d; });
      res.on('error', done);
      res.on('end', () => (res.statusCode === 200 ? resolveGet(body) : done(new Error(`HTTP ${res.statusCode}`))));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', done);
  });
}

/** GET BASE/healthz (BASE like http://127.0.0.1:7001), typed; rejects on a network error, an HTTP error or after `timeoutMs`. */
export async function fetchHealth(base: string, timeoutMs: number, ca?: string): Promise<MemberHealth> {
  return parseHealth(JSON.parse(await getText(`${base}/healthz`, timeoutMs, ca)));
}

/**
 * The member every answering member names as leader in its own term, when that member says it
 * leads, every view is an answer (a member that does not answer may follow someone else), and the
 * agreeing members are a majority of `voters`; else null.
 */
export function agreedLeader(views: ReadonlyMap<string, MemberHealth | Error>, voters: number): string | null {
  const ok: MemberHealth[] = [];
  for (const v of views.values()) {
    if (v instanceof Error) return null;
    ok.push(v);
  }
  const majority = Math.floor(voters / 2) + 1;
  for (const l of ok) {
    if (l.role !== 'leader') continue;
    if (ok.every((v) => v.leader === l.id && v.term === l.term) && ok.length >= majority) return l.id;
  }
  return null;
}

/** One line per member for an error message: its role, term and leader, or why it did not answer. */
export function describeViews(views: ReadonlyMap<string, MemberHealth | Error>): string {
  return [...views].map(([id, v]) => (v instanceof Error ? `${id}: no answer (${v.message})`
    : `${id}: ${v.role} of term ${v.term}, leader ${v.leader ?? 'none'}, applied ${v.applied}`)).join('; ');
}

/** Prometheus text as `name{labels}` -> value (comments and blank lines skipped). */
export function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const m = /^(\S+?(?:\{[^}]*\})?)\s+(\S+)$/.exec(line);
    if (m !== null) out.set(m[1]!, Number(m[2]));
  }
  return out;
}

/** GET BASE/metrics, parsed; `base` is like http://127.0.0.1:7001 (https:// trusting `ca`). */
export async function scrapeMetrics(base: string, timeoutMs: number, ca?: string): Promise<Map<string, number>> {
  return parseMetrics(await getText(`${base}/metrics`, timeoutMs, ca));
}
