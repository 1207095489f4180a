// The demo page's "This tab's replica" panel: the tab joins the cluster as a follower-reader under
// its own subject (a random id kept in sessionStorage, so it survives reloads of this tab only),
// then shows the replica's progress, the keys it holds (flashing as they change) and local reads.

import { keyText } from '../../client/keys.ts';
import { StoreError } from '../../core/index.ts';
import type { Index, Value } from '../../core/index.ts';
import { joinAsFollower, type FollowerReplica, type ReplicaConsistency } from '../follower.ts';
import { IdbStore } from '../idb-store.ts';
import { TappedStore, type StoreTap } from './tapped-store.ts';

/** sessionStorage key of this tab's id: per tab, kept across reloads, copied when a tab is duplicated. */
const tabStorageKey = 'edgeraft-demo-tab';
const tabIdPattern = /^[a-z0-9]{1,32}$/;
const tabIdLength = 10;
const statusMs = 250;
/** Keys listed on the page; the rest are counted. */
const keysShownMax = 200;
/** A reload can race the old page's release of the Web Lock: retry this often before taking a new id. */
const lockedRetriesMax = 8;
const lockedRetryMs = 250;
const retryMsMax = 2000;

interface TabGrant {
  readonly token: string;
  readonly cluster: string;
  readonly sub: string;
}

interface Held {
  value: Value;
  /** Index of the change this page saw; null for keys loaded from IndexedDB or a snapshot. */
  index: Index | null;
}

function $<T extends Element>(selector: string): T {
  const e = document.querySelector<T>(selector);
  if (e === null) throw new Error(`the page has no ${selector}`);
  return e;
}

function byTestId<T extends HTMLElement>(id: string): T {
  return $<T>(`[data-testid="${id}"]`);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function describe(err: unknown): string {
  const code = (err as { code?: unknown }).code;
  const text = err instanceof Error ? err.message : String(err);
  return typeof code === 'string' ? `${code}: ${text}` : text;
}

function show(v: Value | undefined): string {
  if (v === undefined) return '(absent)';
  return typeof v === 'string' ? JSON.stringify(v) : `<${v.byteLength} bytes>`;
}

/** This tab's id: the one in sessionStorage, or a new random one (also when `fresh`). */
function tabId(fresh: boolean): string {
  const kept = fresh ? null : sessionStorage.getItem(tabStorageKey);
  if (kept !== null && tabIdPattern.test(kept)) return kept;
  const bytes = new Uint8Array(tabIdLength);
  crypto.getRandomValues(bytes);
  const id = Array.from(bytes, (b) => (b % 36).toString(36)).join('');
  sessionStorage.setItem(tabStorageKey, id);
  return id;
}

export class ReplicaPanel {
  readonly #peers: readonly string[];
  #tab: string;
  #replica: FollowerReplica | null = null;
  /** The replica's keys as this page knows them; as large as the replica's own state, no larger. */
  readonly #keys = new Map<string, Held>();
  /** Changed since the last render, to flash. */
  readonly #changed = new Set<string>();
  #renderScheduled = false;
  /** Change events at or below this index replay what the load already showed: no flash. */
  #loadedIndex: Index = 0;

  constructor(peers: readonly string[]) {
    this.#peers = peers;
    this.#tab = tabId(false);
    byTestId('replica-id').textContent = `tab-${this.#tab}`;
    byTestId('replica-read').addEventListener('click', () => void this.#read());
    // Release the IndexedDB lock early, so the reloaded page can take it at once.
    addEventListener('pagehide', () => void this.#replica?.close().catch(() => undefined));
  }

  async start(): Promise<void> {
    this.#setState('connecting');
    const replica = await this.#join();
    this.#replica = replica;
    byTestId('replica-id').textContent = replica.id;
    replica.subscribe('', (key, value, index) => this.#onChange(keyText(key), value, index));
    this.#note('');
    this.#renderStatus();
    setInterval(() => this.#renderStatus(), statusMs);
  }

  /** Joins with this tab's token, retrying until a member answers. */
  async #join(): Promise<FollowerReplica> {
    let locked = 0;
    for (let attempt = 1; ; attempt++) {
      let store: IdbStore | null = null;
      try {
        const grant = await this.#grant();
        store = await IdbStore.open({ cluster: grant.cluster, member: grant.sub });
        return await joinAsFollower({ peers: this.#peers, token: grant.token, cluster: grant.cluster, store: new TappedStore(store, this.#tap()), leaderCheckMs: 500 });
      } catch (err) {
        await store?.close().catch(() => undefined);
        if (err instanceof StoreError && err.code === 'ERR_STORE_LOCKED') {
          this.#note(`another tab holds replica tab-${this.#tab} (a reload still closing it, or a duplicated tab); retrying`);
          if (++locked >= lockedRetriesMax) {
            // Still held: this tab is a duplicate (duplicating copies sessionStorage). Become another replica.
            this.#tab = tabId(true);
            byTestId('replica-id').textContent = `tab-${this.#tab}`;
            locked = 0;
          }
          await sleep(lockedRetryMs);
          continue;
        }
        this.#note(`joining failed (${describe(err)}); retrying`);
        await sleep(Math.min(retryMsMax, 250 * attempt));
      }
    }
  }

  async #grant(): Promise<TabGrant> {
    const res = await fetch(`/token?tab=${this.#tab}`, { cache: 'no-store' });
    const body = (await res.json()) as Partial<TabGrant> & { error?: string };
    if (!res.ok || typeof body.token !== 'string' || typeof body.cluster !== 'string' || typeof body.sub !== 'string') {
      throw new Error(`the supervisor gave no token for this tab (HTTP ${res.status}${body.error !== undefined ? `: ${body.error}` : ''})`);
    }
    return { token: body.token, cluster: body.cluster, sub: body.sub };
  }

  #tap(): StoreTap {
    return {
      onLoad: (keys, appliedIndex) => {
        this.#loadedIndex = appliedIndex;
        this.#replaceKeys(keys);
      },
      onSnapshot: (keys) => this.#replaceKeys(keys),
    };
  }

  #replaceKeys(keys: ReadonlyArray<[string, Value]>): void {
    this.#keys.clear();
    for (const [key, value] of keys) if (!key.startsWith('\u0000')) this.#keys.set(key, { value, index: null });
    this.#scheduleKeys();
  }

  #onChange(key: string, value: Value | undefined, index: Index): void {
    if (value === undefined) this.#keys.delete(key);
    else this.#keys.set(key, { value, index });
    if (index > this.#loadedIndex) this.#changed.add(key);
    this.#scheduleKeys();
  }

  /** Many entries apply in one burst: draw the list once for them. */
  #scheduleKeys(): void {
    if (this.#renderScheduled) return;
    this.#renderScheduled = true;
    setTimeout(() => {
      this.#renderScheduled = false;
      this.#renderKeys();
    }, 30);
  }

  #renderKeys(): void {
    const list = byTestId<HTMLUListElement>('replica-keys');
    const existing = new Map<string, HTMLLIElement>();
    for (const li of list.querySelectorAll<HTMLLIElement>('li[data-key]')) existing.set(li.dataset.key!, li);
    const keys = [...this.#keys.keys()].sort();
    const rows: HTMLElement[] = [];
    for (const key of keys.slice(0, keysShownMax)) {
      const held = this.#keys.get(key)!;
      const li = existing.get(key) ?? document.createElement('li');
      li.dataset.testid = 'replica-key';
      li.dataset.key = key;
      li.dataset.value = typeof held.value === 'string' ? held.value : '';
      li.replaceChildren(span('k', key), span('v', show(held.value)), span('i', held.index === null ? 'loaded' : `@${held.index}`));
      if (this.#changed.has(key)) {
        li.classList.remove('flash');
        void li.offsetWidth; // restarts the animation on a key that changes again
        li.classList.add('flash');
        li.addEventListener('animationend', () => li.classList.remove('flash'), { once: true });
      }
      rows.push(li);
    }
    this.#changed.clear();
    if (keys.length > keysShownMax) rows.push(span('more', `… and ${keys.length - keysShownMax} more`, 'li'));
    if (keys.length === 0) rows.push(span('more', 'no keys yet: put one in the console', 'li'));
    placeInOrder(list, rows);
    byTestId('replica-key-count').textContent = String(keys.length);
  }

  #renderStatus(): void {
    const replica = this.#replica;
    if (replica === null) return;
    const st = replica.status();
    this.#setState(st.state);
    byTestId('replica-panel').dataset.connected = String(st.connected);
    byTestId('replica-leader').textContent = st.leader ?? 'none yet';
    byTestId('replica-applied').textContent = String(st.applied);
    byTestId('replica-lag').textContent = `${st.lag} ${st.lag === 1 ? 'entry' : 'entries'}`;
    byTestId('replica-resumed-from').textContent = String(st.resumedFrom);
    byTestId('replica-fetched').textContent = String(st.fetchedEntries);
    this.#note(st.problem !== null ? `${st.problem.code}: ${st.problem.message}`
      : st.paused ? 'paused while the tab is hidden: it catches up when you come back' : '');
  }

  #setState(state: string): void {
    const e = byTestId('replica-state');
    e.textContent = state;
    e.className = `badge ${state}`;
    byTestId('replica-panel').dataset.state = state;
  }

  #note(text: string): void {
    const e = byTestId('replica-note');
    e.textContent = text;
    e.hidden = text === '';
  }

  async #read(): Promise<void> {
    const out = byTestId('replica-read-result');
    const key = byTestId<HTMLInputElement>('replica-read-key').value;
    const consistency: ReplicaConsistency = byTestId<HTMLSelectElement>('replica-read-consistency').value === 'stale' ? 'stale' : 'linearizable';
    const replica = this.#replica;
    if (replica === null) {
      out.textContent = 'the replica has not joined yet';
      return;
    }
    out.className = 'result';
    out.textContent = '…';
    const started = performance.now();
    try {
      const r = await replica.getWithMeta(key, { consistency });
      const how = consistency === 'stale'
        ? `this tab's copy as it is, at index ${r.index}; no network`
        : `the leader named index ${r.index}, this tab's copy had applied it`;
      out.textContent = `${key} → ${show(r.value)} (${consistency}: ${how}; ${(performance.now() - started).toFixed(1)} ms)`;
    } catch (err) {
      out.className = 'result error';
      out.textContent = `read ${JSON.stringify(key)} failed: ${describe(err)}`;
    }
  }
}

/**
 * Makes `rows` the children of `list`, moving only what is out of place: a moved element restarts
 * its CSS animation, so re-inserting every row would flash them all.
 */
function placeInOrder(list: HTMLElement, rows: readonly HTMLElement[]): void {
  let at = list.firstElementChild;
  for (const row of rows) {
    if (row === at) at = at.nextElementSibling;
    else list.insertBefore(row, at);
  }
  while (at !== null) {
    const next = at.nextElementSibling;
    at.remove();
    at = next;
  }
}

function span(cls: string, text: string, tag = 'span'): HTMLElement {
  const e = document.createElement(tag);
  e.className = cls;
  e.textContent = text;
  return e;
}
