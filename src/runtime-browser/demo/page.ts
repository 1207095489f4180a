// The demo page of `npm start`: polls every member's status through the client SDK (WebSocket),
// draws the cluster, lists elections, and offers a key-value console and per-member buttons; the
// tab also runs a follower-reader of its own (replica-panel.ts), and has a lock panel
// (lock-panel.ts) and a watch panel (watch-panel.ts) on the SDK. Only killing and restarting
// processes goes to the supervisor (/control); everything about the cluster itself, faults
// included, goes through the SDK, the way an application would use it.

import { ClientError, connect } from '../../client/browser.ts';
import type { KvClient } from '../../client/browser.ts';
import { drawCluster, type MemberView } from './drawing.ts';
import { runKvOp, type KvOp } from './kv-console.ts';
import { LockPanel } from './lock-panel.ts';
import { ReplicaPanel } from './replica-panel.ts';
import { WatchPanel } from './watch-panel.ts';

interface MemberConfig {
  readonly id: string;
  readonly url: string;
  pid: number | null;
}

interface PageConfig {
  readonly token: string;
  readonly members: MemberConfig[];
}

/** The part of a member's status reply that the page shows. */
interface Status {
  readonly role: string;
  readonly term: number;
  readonly commit: number;
  readonly applied: number;
  readonly lease: boolean;
  readonly blocked: readonly string[];
  readonly members?: { readonly members?: ReadonlyArray<{ readonly id: string; readonly lag?: number }> };
}

const pollMs = 500;
/** Status polls give up quickly: a member that does not answer in time shows as down. */
const pollTimeoutMs = 1500;
const historyMax = 30;
const logMax = 100;

function $<T extends Element>(selector: string): T {
  const e = document.querySelector<T>(selector);
  if (e === null) throw new Error(`the page has no ${selector}`);
  return e;
}

function el(tag: string, attrs: Record<string, string> = {}, text = ''): HTMLElement {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== '') e.textContent = text;
  return e;
}

function describe(err: unknown): string {
  if (err instanceof ClientError) return `${err.code}: ${err.message}`;
  return err instanceof Error ? err.message : String(err);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function banner(text: string): void {
  const b = $<HTMLElement>('#banner');
  b.textContent = text;
  b.hidden = text === '';
}

/** One line in the activity log (newest first), also shown as the latest result. */
function logLine(text: string, ok = true): void {
  const li = el('li', ok ? {} : { class: 'error' });
  li.append(el('time', {}, clock()), text);
  const log = $<HTMLOListElement>('#kv-log');
  log.prepend(li);
  while (log.children.length > logMax) log.lastElementChild?.remove();
  const result = $<HTMLElement>('[data-testid="kv-result"]');
  result.textContent = text;
  result.className = ok ? 'result' : 'result error';
}

function parseStatus(info: Record<string, unknown>): Status {
  if (typeof info.role !== 'string' || typeof info.term !== 'number') throw new Error('malformed status reply');
  return { ...(info as unknown as Status), blocked: Array.isArray(info.blocked) ? (info.blocked as string[]) : [] };
}

async function loadConfig(): Promise<PageConfig> {
  for (;;) {
    try {
      const res = await fetch('/config.json', { cache: 'no-store' });
      if (res.ok) return (await res.json()) as PageConfig;
      banner(`the supervisor answered ${res.status} for /config.json; retrying`);
    } catch {
      banner('cannot reach the supervisor (is `npm start` still running?); retrying');
    }
    await sleep(2000);
  }
}

async function connectWhenUp(config: PageConfig, timeoutMs: number): Promise<KvClient> {
  for (;;) {
    try {
      const kv = await connect({ peers: config.members.map((m) => m.url), token: config.token, timeoutMs });
      banner('');
      return kv;
    } catch (err) {
      banner(`no member answers yet (${describe(err)}); retrying`);
      await sleep(1000);
    }
  }
}

/** Elections and leader changes, derived from the (leader, term) pairs the polls observe. */
class History {
  #last = '';

  observe(leader: string | null, term: number): void {
    const key = `${term}/${leader ?? ''}`;
    if (key === this.#last) return;
    const first = this.#last === '';
    this.#last = key;
    const text = leader !== null ? `${leader} is the leader of term ${term}` : `no leader (term ${term}): an election is due`;
    const li = el('li', { 'data-leader': leader ?? '', 'data-term': String(term) });
    li.append(el('time', {}, clock()), `${text}${first ? ' (when the page opened)' : ''}`);
    const list = $<HTMLOListElement>('#elections');
    list.prepend(li);
    while (list.children.length > historyMax) list.lastElementChild?.remove();
  }
}

class Page {
  readonly #config: PageConfig;
  readonly #kv: KvClient;
  readonly #watch: KvClient;
  readonly #statuses = new Map<string, Status | null>();
  readonly #history = new History();

  constructor(config: PageConfig, kv: KvClient, watch: KvClient) {
    this.#config = config;
    this.#kv = kv;
    this.#watch = watch;
    for (const m of config.members) $('#cards').append(this.#card(m));
    for (const b of document.querySelectorAll<HTMLButtonElement>('#kv button[data-op]')) {
      b.addEventListener('click', () => void this.#kvOp(b.dataset.op as KvOp));
    }
  }

  /** Polls every member, then draws; never two rounds at once. */
  async run(): Promise<void> {
    for (;;) {
      const started = performance.now();
      await Promise.all(this.#config.members.map(async (m) => {
        try {
          this.#statuses.set(m.id, parseStatus(await this.#watch.status(m.url)));
        } catch {
          this.#statuses.set(m.id, null);
        }
      }));
      this.#render();
      await sleep(Math.max(50, pollMs - (performance.now() - started)));
    }
  }

  /** The leader of the highest term that any reachable member reports leading. */
  #leader(): { id: string | null; term: number } {
    let id: string | null = null;
    let term = 0;
    let leaderTerm = -1;
    for (const [mid, st] of this.#statuses) {
      if (st === null) continue;
      term = Math.max(term, st.term);
      if (st.role === 'leader' && st.term > leaderTerm) {
        id = mid;
        leaderTerm = st.term;
      }
    }
    return { id, term: id !== null ? leaderTerm : term };
  }

  #render(): void {
    const leader = this.#leader();
    this.#history.observe(leader.id, leader.term);
    $('[data-testid="leader"]').textContent = leader.id ?? 'none';
    $('[data-testid="term"]').textContent = String(leader.term);
    const views: MemberView[] = this.#config.members.map((m) => {
      const st = this.#statuses.get(m.id) ?? null;
      return st === null ? { id: m.id, role: 'down', term: null, blocked: [] } : { id: m.id, role: st.role, term: st.term, blocked: st.blocked };
    });
    $('#drawing').innerHTML = drawCluster(views, leader.id);
    const leaderStatus = leader.id !== null ? this.#statuses.get(leader.id) ?? null : null;
    for (const m of this.#config.members) this.#fillCard(m, this.#statuses.get(m.id) ?? null, leaderStatus);
  }

  #card(m: MemberConfig): HTMLElement {
    const card = el('div', { class: 'card down', 'data-testid': `member-${m.id}`, 'data-role': 'down', 'data-up': 'false' });
    const head = el('h3', {}, m.id);
    head.append(el('span', { class: 'role', 'data-testid': `member-${m.id}-role` }, '…'));
    const dl = el('dl');
    for (const [label, field] of [['state', 'up'], ['term', 'term'], ['commit', 'commit'], ['applied', 'applied'], ['lag', 'lag'], ['links', 'blocked']]) {
      dl.append(el('dt', {}, label!), el('dd', { 'data-testid': `member-${m.id}-${field!}` }, '…'));
    }
    const actions = el('div', { class: 'actions' });
    const others = this.#config.members.filter((x) => x.id !== m.id).map((x) => x.id).join(', ');
    const buttons: Array<[string, string, () => Promise<void>]> = [
      ['kill', `End ${m.id}'s process at once (SIGKILL), like pulling the plug. Its data stays on disk.`, () => this.#control(m, 'kill')],
      ['restart', `Start ${m.id} again from its data directory (stopping it first if it runs); it catches up from the leader.`, () => this.#control(m, 'restart')],
      ['partition', `Cut ${m.id} off: drop all Raft messages between it and ${others}, both ways. Its process keeps running.`, () => this.#partition(m)],
      ['heal', 'Remove every cut on all members, so everyone talks to everyone again.', () => this.#heal()],
    ];
    for (const [name, tip, act] of buttons) {
      const b = el('button', { type: 'button', title: tip, 'data-testid': `${name}-${m.id}`, class: name === 'kill' ? 'danger' : '' }, name) as HTMLButtonElement;
      b.addEventListener('click', () => {
        b.disabled = true;
        void act().finally(() => { b.disabled = false; });
      });
      actions.append(b);
    }
    card.append(head, dl, actions);
    return card;
  }

  #fillCard(m: MemberConfig, st: Status | null, leader: Status | null): void {
    const card = $<HTMLElement>(`[data-testid="member-${m.id}"]`);
    const set = (field: string, text: string) => { $(`[data-testid="member-${m.id}-${field}"]`).textContent = text; };
    const role = st === null ? 'down' : st.role;
    card.className = `card ${role}`;
    card.dataset.role = role;
    card.dataset.up = String(st !== null);
    set('role', role === 'preCandidate' ? 'pre-candidate' : role);
    set('up', st === null ? 'down: not answering' : `up${m.pid !== null ? ` · pid ${m.pid}` : ''}${st.role === 'leader' && st.lease ? ' · lease held' : ''}`);
    set('term', st === null ? '—' : String(st.term));
    set('commit', st === null ? '—' : String(st.commit));
    set('applied', st === null ? '—' : String(st.applied));
    set('lag', st === null || leader === null ? '—' : `${lagOf(m.id, st, leader)} entries`);
    set('blocked', st === null ? '—' : st.blocked.length === 0 ? 'connected to all' : `cut off from ${st.blocked.join(', ')}`);
    $(`[data-testid="member-${m.id}-blocked"]`).className = st !== null && st.blocked.length > 0 ? 'blocked' : '';
  }

  async #control(m: MemberConfig, action: 'kill' | 'restart'): Promise<void> {
    const started = performance.now();
    try {
      const res = await fetch(`/control/${action}?peer=${encodeURIComponent(m.id)}`, { method: 'POST', headers: { 'x-edgeraft-control': '1' } });
      const body = (await res.json()) as { pid?: number | null; error?: string };
      if (!res.ok) throw new Error(body.error ?? `HTTP ${res.status}`);
      const before = m.pid;
      m.pid = body.pid ?? null;
      const what = action === 'kill' ? `process ${before ?? '?'} killed` : `running again as process ${m.pid ?? '?'}`;
      logLine(`${action} ${m.id}: ${what} (${ms(started)})`);
    } catch (err) {
      logLine(`${action} ${m.id} failed: ${describe(err)}`, false);
    }
  }

  /** Cuts `m` off both ways: it drops the others, and each of them drops it (keeping their other cuts). */
  async #partition(m: MemberConfig): Promise<void> {
    const started = performance.now();
    const others = this.#config.members.filter((x) => x.id !== m.id);
    const targets = [m, ...others];
    const results = await Promise.allSettled([
      this.#kv.injectFault(m.url, others.map((x) => x.id)),
      ...others.map((x) => this.#kv.injectFault(x.url, [...new Set([...(this.#statuses.get(x.id)?.blocked ?? []), m.id])])),
    ]);
    this.#report(`partition ${m.id}: cut off from ${others.map((x) => x.id).join(', ')}`, targets, results, started);
  }

  async #heal(): Promise<void> {
    const started = performance.now();
    const results = await Promise.allSettled(this.#config.members.map((x) => this.#kv.injectFault(x.url, [])));
    this.#report('heal: every link restored', this.#config.members, results, started);
  }

  /** Logs a fault change; `targets[i]` is the member that `results[i]` went to. */
  #report(text: string, targets: readonly MemberConfig[], results: ReadonlyArray<PromiseSettledResult<void>>, started: number): void {
    const failed = results.flatMap((r, i) => r.status === 'rejected' ? [`${targets[i]?.id ?? '?'}: ${describe(r.reason)}`] : []);
    logLine(`${text} (${ms(started)})${failed.length > 0 ? `; not reached: ${failed.join('; ')}` : ''}`, failed.length === 0);
  }

  async #kvOp(op: KvOp): Promise<void> {
    const form = $<HTMLFormElement>('#kv');
    const field = (name: string) => (form.elements.namedItem(name) as HTMLInputElement | HTMLSelectElement).value;
    const started = performance.now();
    try {
      const text = await runKvOp(this.#kv, op, { key: field('key'), value: field('value'), expected: field('expected'), consistency: field('consistency') });
      logLine(`${text} (${ms(started)})`);
    } catch (err) {
      logLine(`${op} ${field('key')} failed: ${describe(err)} (${ms(started)})`, false);
    }
  }
}

/** Entries this member still has to apply, by the leader's count when it tracks it. */
function lagOf(id: string, st: Status, leader: Status): number {
  const tracked = leader.members?.members?.find((x) => x.id === id)?.lag;
  return tracked ?? Math.max(0, leader.commit - st.applied);
}

function clock(): string {
  return new Date().toTimeString().slice(0, 8);
}

function ms(started: number): string {
  return `${(performance.now() - started).toFixed(1)} ms`;
}

async function main(): Promise<void> {
  const config = await loadConfig();
  // The tab's own replica joins beside the SDK connections: it retries until a leader answers.
  const panel = new ReplicaPanel(config.members.map((m) => m.url));
  panel.start().catch((err: unknown) => banner(`this tab's replica failed: ${describe(err)}`));
  const kv = await connectWhenUp(config, 8000);
  new LockPanel(kv);
  new WatchPanel(kv);
  const watch = await connectWhenUp(config, pollTimeoutMs * 2);
  await new Page(config, kv, watch).run();
}

main().catch((err: unknown) => banner(`the page failed: ${describe(err)}`));
