// The nemesis of the fault suite: one SeededPrng decides, fault after fault, what to break in a
// real cluster (kill -9 and restart, SIGSTOP/SIGCONT, partitions of several shapes, WAL tail
// damage, membership changes, leadership transfer), always leaving a majority of the voters able
// to work, and records every decision in a schedule that a failure prints. The same seed makes the
// same decisions given the same cluster answers (who leads, which index a WAL ends at); timing
// on a shared machine is not reproducible, so a replay reproduces the schedule, not the run.

import type { KvClient } from '../../src/client/kv.ts';
import { SeededPrng } from '../../src/core/prng.ts';
import { isStatus, sleep, waitFor, type Cluster, type CliResult } from './cluster.ts';
import { applyDamage, maxIndexOf, planDamage, type WalDamageKind } from './nemesis-wal.ts';

export const faultKinds = [
  'kill', 'pause', 'partition', 'bridge', 'isolate-leader', 'wal-truncate', 'wal-corrupt', 'member-add', 'member-remove',
  'transfer-leader', 'kill-two',
] as const;
export type FaultKind = (typeof faultKinds)[number];

/** Cuts and heals the Raft links between members: injectFault (loopback) or real links (netns). */
export interface LinkCutter {
  readonly name: string;
  /** Cuts every pair, both ways; pairs not listed keep talking. */
  cut(pairs: ReadonlyArray<readonly [string, string]>): Promise<void>;
  /** Restores every link this cutter cut. */
  heal(): Promise<void>;
}

/** Partitions through the peers' fault-injection layer (`--faults`, admin token). */
export class InjectFaultCutter implements LinkCutter {
  readonly name = 'injectFault';
  readonly #c: Cluster;
  readonly #admin: KvClient;
  readonly #blocked = new Set<string>();

  constructor(c: Cluster, admin: KvClient) {
    this.#c = c;
    this.#admin = admin;
  }

  async cut(pairs: ReadonlyArray<readonly [string, string]>): Promise<void> {
    const lists = new Map<string, string[]>();
    for (const [a, b] of pairs) {
      lists.set(a, [...(lists.get(a) ?? []), b]);
      lists.set(b, [...(lists.get(b) ?? []), a]);
    }
    await Promise.all([...lists].map(async ([id, block]) => {
      this.#blocked.add(id);
      await this.#admin.injectFault(this.#c.url(id), block);
    }));
  }

  async heal(): Promise<void> {
    // A member that was restarted since forgot its blocks; one that is down cannot be asked.
    const ids = [...this.#blocked].filter((id) => this.#c.isRunning(id) && !this.#c.isPaused(id));
    await Promise.all(ids.map(async (id) => {
      await this.#admin.injectFault(this.#c.url(id), []);
      this.#blocked.delete(id);
    }));
    for (const id of [...this.#blocked]) if (!this.#c.isRunning(id)) this.#blocked.delete(id);
  }
}

export interface ScheduleEntry {
  readonly n: number;
  /** When the fault began, in ms since the nemesis started. */
  readonly atMs: number;
  readonly kind: FaultKind;
  target: string;
  durationMs: number;
  outcome: 'done' | 'skipped' | 'failed';
  detail: string;
}

export interface NemesisOptions {
  readonly seed: number;
  readonly cluster: Cluster;
  readonly cutter: LinkCutter;
  /** Most voters a member-add may lead to (it never removes below 3). */
  readonly votersMax: number;
  /** Multiplies every hold time (a bounded test run uses shorter faults). */
  readonly holdScale?: number;
  /** Called before a new member is registered (netns creates its host). */
  readonly beforeAdd?: (id: string) => Promise<void>;
  /** One line per fault as it ends. */
  readonly log?: (line: string) => void;
  /** Number of the next member to add (n<N>); a soak round continues where the last one ended. */
  readonly nextMember?: number;
  /** Members removed so far (shared across a soak's rounds, updated by this nemesis). */
  readonly removed?: Set<string>;
}

/** The nemesis gave up: the cluster stopped making progress, or a peer refused to start. */
export class NemesisError extends Error {
  override readonly name = 'NemesisError';
}

const quorum = (voters: number): number => Math.floor(voters / 2) + 1;
const cliOk = (r: CliResult): boolean => r.code === 0;
const cliWhy = (r: CliResult): string => `exit ${r.code ?? r.signal}: ${(r.stderr.trim() || r.stdout.trim()).split('\n').slice(-1)[0] ?? ''}`;

export class Nemesis {
  readonly schedule: ScheduleEntry[] = [];
  /** Members removed from the cluster: never restarted. */
  readonly removed: Set<string>;
  /** Problems found (a peer that refused to start after tail damage, a torn tail not noticed, ...). */
  readonly problems: string[] = [];
  readonly #o: NemesisOptions;
  readonly #c: Cluster;
  readonly #prng: SeededPrng;
  readonly #t0 = performance.now();
  #deck: FaultKind[] = [];
  #nextMember: number;
  #stopped = false;

  constructor(o: NemesisOptions) {
    this.#o = o;
    this.#c = o.cluster;
    this.#prng = new SeededPrng(o.seed);
    this.#nextMember = o.nextMember ?? o.cluster.ids.length + 1;
    this.removed = o.removed ?? new Set();
  }

  /** Number of the next member an add would create. */
  get nextMember(): number {
    return this.#nextMember;
  }

  /** Faults per kind, counting only those that were carried out. */
  get counts(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const e of this.schedule) if (e.outcome === 'done') out[e.kind] = (out[e.kind] ?? 0) + 1;
    return out;
  }

  stop(): void {
    this.#stopped = true;
  }

  /** Runs faults one after another until `durationMs` passed (the last one is always healed). */
  async run(durationMs: number): Promise<void> {
    const until = performance.now() + durationMs;
    while (!this.#stopped && performance.now() < until) {
      await this.#healthy();
      if (performance.now() >= until) break;
      await this.step(this.#draw());
      await sleep(this.#between(200, 1000));
    }
  }

  /** Carries out one fault of `kind` and heals it. */
  async step(kind: FaultKind): Promise<ScheduleEntry> {
    const entry: ScheduleEntry = { n: this.schedule.length + 1, atMs: this.#elapsed(), kind, target: '', durationMs: 0, outcome: 'done', detail: '' };
    this.schedule.push(entry);
    const started = performance.now();
    try {
      await this.#carryOut(entry);
    } catch (err) {
      entry.outcome = 'failed';
      entry.detail += `${entry.detail === '' ? '' : '; '}${(err as Error).message}`;
      throw err;
    } finally {
      entry.durationMs = Math.round(performance.now() - started);
      this.#o.log?.(formatEntry(entry));
    }
    return entry;
  }

  /** Heals everything: links, paused and dead members (removed ones stay down). */
  async healAll(): Promise<void> {
    const c = this.#c;
    for (const id of c.ids) if (c.isRunning(id) && c.isPaused(id)) c.resume(id);
    for (const id of c.ids) {
      if (!c.isRunning(id) && !this.removed.has(id) && this.#everStarted(id)) await c.start(id);
    }
    await this.#o.cutter.heal();
  }

  // ---- the schedule ---------------------------------------------------------------------------

  /** Deals kinds from a shuffled deck, so a short run still sees each kind once. */
  #draw(): FaultKind {
    if (this.#deck.length === 0) {
      this.#deck = [...faultKinds];
      for (let i = this.#deck.length - 1; i > 0; i--) {
        const j = this.#prng.nextInt(i + 1);
        [this.#deck[i], this.#deck[j]] = [this.#deck[j]!, this.#deck[i]!];
      }
    }
    return this.#deck.pop()!;
  }

  #between(lo: number, hi: number): number {
    return lo + this.#prng.nextInt(hi - lo + 1);
  }

  #hold(lo: number, hi: number): number {
    return Math.round(this.#between(lo, hi) * (this.#o.holdScale ?? 1));
  }

  #pick<T>(items: readonly T[]): T {
    return items[this.#prng.nextInt(items.length)]!;
  }

  #shuffled<T>(items: readonly T[]): T[] {
    const out = [...items];
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.#prng.nextInt(i + 1);
      [out[i], out[j]] = [out[j]!, out[i]!];
    }
    return out;
  }

  #elapsed(): number {
    return Math.round(performance.now() - this.#t0);
  }

  #everStarted(id: string): boolean {
    try {
      this.#c.exited(id);
      return true;
    } catch {
      return false;
    }
  }

  // ---- cluster views --------------------------------------------------------------------------

  /** Waits for a leader agreed by a majority (the cluster must be able to work between faults). */
  async #healthy(): Promise<string> {
    try {
      return await this.#c.leader(30_000);
    } catch (err) {
      throw new NemesisError(`no leader within 30 s after fault #${this.schedule.length}: ${(err as Error).message}`);
    }
  }

  /** Voters and learners as the leader sees them. */
  async #conf(): Promise<{ leader: string; voters: string[]; learners: string[] }> {
    const leader = await this.#healthy();
    const st = await this.#c.status(leader);
    return { leader, voters: [...st.conf.voters].sort(), learners: [...st.conf.learners].sort() };
  }

  /** A voter, the leader half of the time (faults at the leader are the interesting ones). */
  #victim(conf: { leader: string; voters: readonly string[] }): string {
    return this.#prng.nextInt(2) === 0 ? conf.leader : this.#pick(conf.voters);
  }

  // ---- faults ---------------------------------------------------------------------------------

  async #carryOut(e: ScheduleEntry): Promise<void> {
    const conf = await this.#conf();
    switch (e.kind) {
      case 'kill': return this.#kill(e, [this.#victim(conf)], []);
      case 'pause': return this.#kill(e, [], [this.#victim(conf)]);
      case 'kill-two': {
        if (conf.voters.length < 5) {
          e.detail = `${conf.voters.length} voters: two down would be no minority; killing one`;
          return this.#kill(e, [this.#victim(conf)], []);
        }
        const [a, b] = this.#shuffled(conf.voters);
        return this.#kill(e, [a!], [b!]);
      }
      case 'partition': {
        const order = this.#shuffled(conf.voters);
        const minority = order.slice(0, 1 + this.#prng.nextInt(Math.floor((order.length - 1) / 2)));
        return this.#partition(e, minority, order.filter((id) => !minority.includes(id)), `${minority.join(',')} | ${order.filter((id) => !minority.includes(id)).join(',')}`);
      }
      case 'bridge': {
        const [bridge, ...rest] = this.#shuffled(conf.voters);
        const a = rest.slice(0, Math.ceil(rest.length / 2));
        const b = rest.slice(a.length);
        return this.#partition(e, a, b, `${a.join(',')} | ${b.join(',')} bridged by ${bridge}`);
      }
      case 'isolate-leader': {
        const others = [...conf.voters, ...conf.learners].filter((id) => id !== conf.leader);
        return this.#partition(e, [conf.leader], others, `leader ${conf.leader} | ${others.join(',')}`);
      }
      case 'wal-truncate': case 'wal-corrupt': return this.#walDamage(e, conf, e.kind === 'wal-truncate' ? 'truncate' : 'corrupt');
      case 'member-add':
        if (conf.voters.length >= this.#o.votersMax) return this.#memberRemove(e, conf, `${conf.voters.length} voters already: removing instead`);
        return this.#memberAdd(e);
      case 'member-remove':
        if (conf.voters.length <= 3) return this.#memberAdd(e, `${conf.voters.length} voters: adding instead`);
        return this.#memberRemove(e, conf, '');
      case 'transfer-leader': return this.#transfer(e, conf);
    }
  }

  /** SIGKILLs `kill` and SIGSTOPs `pause` for a while, then restarts and resumes them. */
  async #kill(e: ScheduleEntry, kill: readonly string[], pause: readonly string[]): Promise<void> {
    const c = this.#c;
    const holdMs = pause.length > 0 ? this.#hold(300, 2500) : this.#hold(200, 2000);
    e.target = [...kill, ...pause].join(',');
    for (const id of kill) await c.kill(id);
    for (const id of pause) c.pause(id);
    await sleep(holdMs);
    for (const id of pause) c.resume(id);
    for (const id of kill) await this.#startOrFail(id, 'after kill -9');
    e.detail = `${e.detail === '' ? '' : `${e.detail}; `}${kill.length > 0 ? `killed ${kill.join(',')} ` : ''}${pause.length > 0 ? `paused ${pause.join(',')} ` : ''}for ${holdMs} ms`;
  }

  async #startOrFail(id: string, why: string): Promise<void> {
    try {
      await this.#c.start(id);
    } catch (err) {
      const msg = `${id} did not start again ${why}: ${(err as Error).message}`;
      this.problems.push(msg);
      throw new NemesisError(msg);
    }
  }

  async #partition(e: ScheduleEntry, a: readonly string[], b: readonly string[], shape: string): Promise<void> {
    const pairs = a.flatMap((x) => b.map((y) => [x, y] as const));
    const holdMs = this.#hold(500, 3000);
    e.target = shape;
    await this.#o.cutter.cut(pairs);
    await sleep(holdMs);
    await this.#o.cutter.heal();
    e.detail = `${pairs.length} links cut through ${this.#o.cutter.name} for ${holdMs} ms`;
  }

  /**
   * Kills a voter, damages the tail of its last WAL segment and restarts it. The records to remove
   * are chosen first; the damage waits until a quorum of the other voters applied every entry
   * they hold, so no committed entry loses its quorum (skipped if that takes over 15 s).
   */
  async #walDamage(e: ScheduleEntry, conf: { leader: string; voters: string[] }, kind: WalDamageKind): Promise<void> {
    const c = this.#c;
    const victim = this.#victim(conf);
    e.target = victim;
    await c.kill(victim);
    const plan = planDamage(c.dataDir(victim));
    if (plan === null) {
      e.outcome = 'skipped';
      e.detail = 'no removable records at the tail of the last segment';
      await this.#startOrFail(victim, 'after a skipped WAL damage');
      return;
    }
    const n = 1 + this.#prng.nextInt(Math.min(8, plan.removable.length));
    const maxIndex = maxIndexOf(plan, n);
    const others = conf.voters.filter((id) => id !== victim);
    let holders = 0;
    const safe = await waitFor(async () => {
      const sts = await Promise.all(others.filter((id) => c.isRunning(id)).map((id) => c.status(id).catch((err: Error) => err)));
      holders = sts.filter((s) => isStatus(s) && s.applied >= maxIndex).length;
      return holders >= quorum(conf.voters.length);
    }, `a quorum without ${victim} to apply index ${maxIndex}`, 15_000, 100).then(() => true, () => false);
    if (!safe) {
      e.outcome = 'skipped';
      e.detail = `only ${holders} of the other voters applied index ${maxIndex} within 15 s`;
      await this.#startOrFail(victim, 'after a skipped WAL damage');
      return;
    }
    const done = applyDamage(plan, n, kind, this.#prng);
    e.detail = `${done.records} record(s) up to entry ${done.maxIndex} at offset ${done.offset} of ${done.path.split('/').slice(-1)[0]}: ${done.detail}`;
    const mark = c.logMark(victim);
    await this.#startOrFail(victim, `after WAL tail damage (${e.detail})`);
    if (done.torn && !c.logLinesSince(victim, mark).some((l) => l.includes('torn tail'))) {
      this.problems.push(`${victim} restarted after WAL tail damage without reporting a torn tail (${e.detail})`);
    }
  }

  async #memberAdd(e: ScheduleEntry, note = ''): Promise<void> {
    const c = this.#c;
    const id = `n${this.#nextMember++}`;
    e.target = id;
    e.detail = note;
    await this.#o.beforeAdd?.(id);
    const addr = await c.addMember(id);
    const add = await c.cliAdmin(['members', 'add', id, addr, '--learner'], { timeoutMs: 30_000 });
    const conf = await this.#conf();
    if (!conf.learners.includes(id) && !conf.voters.includes(id)) {
      this.removed.add(id);
      e.outcome = 'skipped';
      e.detail = `${note}${note === '' ? '' : '; '}members add failed (${cliWhy(add)})`;
      return;
    }
    await this.#startOrFail(id, 'after it was added');
    const last: { r: CliResult | null } = { r: null };
    await waitFor(async () => {
      last.r = await c.cliAdmin(['members', 'promote', id], { timeoutMs: 30_000 });
      return cliOk(last.r) || (await this.#conf()).voters.includes(id);
    }, `${id} to be promoted`, 30_000, 500).catch(() => {});
    const promoted = last.r;
    const voter = (await this.#conf()).voters.includes(id);
    e.detail = `${note}${note === '' ? '' : '; '}added ${id} at ${addr} as a learner${voter ? ', promoted to voter' : `, not promoted (${promoted === null ? 'no answer' : cliWhy(promoted)})`}`;
  }

  async #memberRemove(e: ScheduleEntry, conf: { leader: string; voters: string[] }, note: string): Promise<void> {
    const c = this.#c;
    const victim = this.#victim(conf);
    e.target = victim;
    const rm = await c.cliAdmin(['members', 'remove', victim], { timeoutMs: 30_000 });
    const after = await this.#conf();
    if (after.voters.includes(victim) || after.learners.includes(victim)) {
      e.outcome = 'skipped';
      e.detail = `${note}${note === '' ? '' : '; '}members remove failed (${cliWhy(rm)})`;
      return;
    }
    this.removed.add(victim);
    const stopped = await Promise.race([c.exited(victim).then(() => true), sleep(10_000).then(() => false)]);
    if (!stopped && c.isRunning(victim)) await c.kill(victim);
    e.detail = `${note}${note === '' ? '' : '; '}removed ${victim}${victim === conf.leader ? ' (the leader)' : ''}; ${stopped ? 'it stopped by itself' : 'it was still running 10 s later: killed'}`;
  }

  async #transfer(e: ScheduleEntry, conf: { leader: string; voters: string[] }): Promise<void> {
    const to = this.#pick(conf.voters.filter((id) => id !== conf.leader));
    e.target = `${conf.leader} -> ${to}`;
    const r = await this.#c.cliAdmin(['transfer-leader', to], { timeoutMs: 30_000 });
    const moved = cliOk(r) && await waitFor(async () => (await this.#c.leader(2000)) === to, `${to} to lead`, 3000, 50).then(() => true, () => false);
    e.detail = cliOk(r) ? (moved ? 'leadership moved' : 'transfer started; leadership did not settle on it within 3 s') : `transfer-leader failed (${cliWhy(r)})`;
  }
}

/** One schedule line: `#3 +12.3s pause n2 (1200 ms): done, paused n2 for 1200 ms`. */
export function formatEntry(e: ScheduleEntry): string {
  return `#${e.n} +${(e.atMs / 1000).toFixed(1)}s ${e.kind} ${e.target} (${e.durationMs} ms): ${e.outcome}${e.detail === '' ? '' : `, ${e.detail}`}`;
}
