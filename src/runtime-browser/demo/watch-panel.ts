// The demo page's watch panel: watches a key prefix through the SDK (kv.watch) and lists the
// events as they arrive, newest first, each with its revision and the key's previous value. A
// line says how fresh the watcher is (the revision up to which it has every event, and when the
// cluster last told it something); a note says when the watcher lost its member and resumed on
// another, from which revision. When the history it needs was compacted away (ERR_COMPACTED),
// the panel says so and offers the usual way out: read the current keys, then watch on from the
// revision after that read.

import { ClientError } from '../../client/browser.ts';
import type { KeyValue, KvClient, WatchEvent, Watcher } from '../../client/browser.ts';
import { byTestId, describe, seconds, setBadge, setResult, showKey, showValue, span } from './ui.ts';

export const watchPanelLimits = {
  /** Rows listed, newest first; older ones drop off the end. */
  rowsMax: 200,
  /** Keys a reload after ERR_COMPACTED reads (the member may cap it lower). */
  reloadKeysMax: 1000,
  /** Rows arriving within this long are drawn together. */
  drawMs: 30,
  /** The freshness line and the resume note are redrawn this often. */
  statusMs: 250,
} as const;

type WatchState = 'idle' | 'watching' | 'resuming' | 'compacted' | 'stopped' | 'failed';

/** One row of the list: an event, a key read by a reload, or a marker line. */
interface Row {
  readonly kind: 'put' | 'delete' | 'state' | 'mark';
  readonly revision: number;
  readonly key: string;
  readonly value: string;
  /** Shown after the value: the previous value, or the marker's text. */
  readonly note: string;
  /** data-value for tests: the value when it is a string. */
  readonly raw: string;
}

/** One kv.watch() and what the panel knows about it. */
interface Session {
  readonly prefix: string;
  readonly watcher: Watcher;
  readonly abort: AbortController;
  /** performance.now() of the last batch (events or a progress notice); null before the first. */
  heardAt: number | null;
  /** The last revision a batch of this session carried. */
  lastRevision: number;
  /** watcher.reconnects when the panel last looked. */
  reconnectsSeen: number;
  /** The revision the watcher resumes from, while it has no member (null: streaming). */
  resumingFrom: number | null;
  /** The member that served the stream last. */
  servedBy: string | null;
  events: number;
}

export class WatchPanel {
  readonly #kv: KvClient;
  readonly #panel = byTestId('watch-panel');
  #session: Session | null = null;
  /** Rows not drawn yet, oldest first, at most rowsMax. */
  #pending: Row[] = [];
  #drawScheduled = false;

  constructor(kv: KvClient) {
    this.#kv = kv;
    byTestId('watch-start').addEventListener('click', () => this.#start());
    byTestId('watch-stop').addEventListener('click', () => this.#stop('stopped by you'));
    byTestId('watch-reload').addEventListener('click', () => void this.#reload());
    byTestId('watch-compact').addEventListener('click', () => void this.#compact());
    byTestId('watch-form').addEventListener('submit', (e) => {
      e.preventDefault();
      this.#start();
    });
    for (const b of ['watch-start', 'watch-compact']) byTestId<HTMLButtonElement>(b).disabled = false;
    this.#setState('idle');
    setInterval(() => this.#status(), watchPanelLimits.statusMs);
  }

  /** Starts a watch of the prefix field, from the revision field (empty: from now). */
  #start(): void {
    const prefix = byTestId<HTMLInputElement>('watch-prefix').value;
    const fromText = byTestId<HTMLInputElement>('watch-from').value.trim();
    const from = fromText === '' ? 0 : Number(fromText);
    if (!Number.isSafeInteger(from) || from < 0) {
      setResult(byTestId('watch-result'), `from revision must be empty (from now) or a whole number ≥ 1, not ${JSON.stringify(fromText)}`, false);
      return;
    }
    this.#clearRows();
    this.#open(prefix, from, from === 0 ? `watching ${label(prefix)} from now` : `watching ${label(prefix)} from revision ${from}`);
  }

  /** Opens a watch (stopping the one before); its events go to the list. */
  #open(prefix: string, fromRevision: number, text: string): void {
    this.#end();
    const abort = new AbortController();
    let watcher: Watcher;
    try {
      watcher = this.#kv.watch({ prefix }, { prevValue: true, progressNotify: true, signal: abort.signal, ...(fromRevision > 0 ? { fromRevision } : {}) });
    } catch (err) {
      this.#setState('failed');
      setResult(byTestId('watch-result'), `watch ${label(prefix)} failed: ${describe(err)}`, false);
      return;
    }
    const session: Session = { prefix, watcher, abort, heardAt: null, lastRevision: 0, reconnectsSeen: 0, resumingFrom: null, servedBy: null, events: 0 };
    this.#session = session;
    this.#note('');
    byTestId('watch-compacted').hidden = true;
    setResult(byTestId('watch-result'), text);
    this.#setState('watching');
    void this.#consume(session);
  }

  async #consume(s: Session): Promise<void> {
    try {
      for await (const b of s.watcher) {
        if (this.#session !== s) return;
        this.#checkResume(s, s.lastRevision);
        s.heardAt = performance.now();
        s.lastRevision = b.revision;
        for (const ev of b.events) this.#push(eventRow(b.revision, ev));
        s.events += b.events.length;
      }
      // The iterator ended without an error: stopped by this panel, or the client closed.
      if (this.#session !== s) return;
      this.#session = null;
      this.#setState('stopped', s);
      setResult(byTestId('watch-result'), `watch ${label(s.prefix)} ended at revision ${s.watcher.revision}: the connection to the cluster was closed`, false);
    } catch (err) {
      if (this.#session !== s) return;
      this.#session = null;
      if (err instanceof ClientError && err.code === 'ERR_COMPACTED') this.#compacted(s, err);
      else this.#failed(s, err);
    }
  }

  /**
   * The SDK resumes a watch by itself and counts it (watcher.reconnects): the panel notes when the
   * stream was lost and, once a member streams again, from which revision it resumed.
   */
  #checkResume(s: Session, revisionBefore: number): void {
    const w = s.watcher;
    if (w.reconnects > s.reconnectsSeen) {
      s.reconnectsSeen = w.reconnects;
      if (s.resumingFrom === null) {
        s.resumingFrom = Math.max(revisionBefore, s.lastRevision) + 1;
        this.#note(`the stream${s.servedBy !== null ? ` from ${s.servedBy}` : ''} ended: resuming from revision ${s.resumingFrom} on another member…`);
        this.#setState('resuming');
      }
    }
    const by = w.servedBy;
    if (by !== null && s.resumingFrom !== null) {
      this.#note(`resumed from revision ${s.resumingFrom} on ${by}${s.servedBy !== null && s.servedBy !== by ? ` (was ${s.servedBy})` : ''}: no event lost, none repeated`);
      s.resumingFrom = null;
      this.#setState('watching');
    }
    if (by !== null) s.servedBy = by;
  }

  #status(): void {
    const s = this.#session;
    const fresh = byTestId('watch-fresh');
    if (s === null) return;
    this.#checkResume(s, s.watcher.revision);
    const rev = s.watcher.revision;
    fresh.dataset.revision = String(rev);
    const heard = s.heardAt === null ? 'no word from the cluster yet' : `fresh as of revision ${rev}, ${seconds(performance.now() - s.heardAt)} ago`;
    const by = s.watcher.servedBy;
    fresh.textContent = `${heard} · ${by !== null ? `streaming from ${by}` : 'looking for a member'} · ${s.events} event${s.events === 1 ? '' : 's'}`;
  }

  #compacted(s: Session, err: ClientError): void {
    this.#setState('compacted', s);
    const at = err.compactRevision !== undefined ? ` (it keeps revisions after ${err.compactRevision} only)` : '';
    byTestId('watch-compacted-text').textContent = `ERR_COMPACTED: the cluster no longer has the history this watch of ${label(s.prefix)} needs`
      + ` from revision ${s.watcher.revision + 1}${at}. The events in between are gone for good: reload reads the keys as they are now,`
      + ' then watches on from the revision after that read.';
    byTestId('watch-compacted').hidden = false;
    byTestId('watch-reload').dataset.prefix = s.prefix;
    this.#note('');
    setResult(byTestId('watch-result'), `watch ${label(s.prefix)} ended: ${describe(err)}`, false);
  }

  #failed(s: Session, err: unknown): void {
    this.#setState('failed', s);
    this.#note('');
    setResult(byTestId('watch-result'), `watch ${label(s.prefix)} ended: ${describe(err)}`, false);
  }

  /** After ERR_COMPACTED: lists the keys as they are, then watches on from after that read. */
  async #reload(): Promise<void> {
    const prefix = byTestId('watch-reload').dataset.prefix ?? byTestId<HTMLInputElement>('watch-prefix').value;
    const button = byTestId<HTMLButtonElement>('watch-reload');
    button.disabled = true;
    try {
      const r = await this.#kv.range({ prefix }, { limit: watchPanelLimits.reloadKeysMax });
      this.#clearRows();
      for (const kv of r.kvs) this.#push(stateRow(kv));
      const more = r.more ? ` (the first ${r.kvs.length}; more exist)` : '';
      this.#push({ kind: 'mark', revision: r.revision, key: '', value: '', raw: '', note: `reloaded: ${r.kvs.length} key${r.kvs.length === 1 ? '' : 's'}${more} as of revision ${r.revision}; events after it follow` });
      this.#open(prefix, r.revision + 1, `reloaded ${label(prefix)} at revision ${r.revision}; watching from revision ${r.revision + 1}`);
    } catch (err) {
      setResult(byTestId('watch-result'), `reload of ${label(prefix)} failed: ${describe(err)}`, false);
    } finally {
      button.disabled = false;
    }
  }

  /** Forgets the watch history up to the current revision: a watch from before it gets ERR_COMPACTED. */
  async #compact(): Promise<void> {
    const button = byTestId<HTMLButtonElement>('watch-compact');
    button.disabled = true;
    try {
      const now = (await this.#kv.range({ prefix: '' }, { limit: 1 })).revision;
      const r = await this.#kv.compact(now);
      setResult(byTestId('watch-result'), `history compacted up to revision ${r.compactRevision}: a watch from revision ${r.compactRevision} or earlier now gets ERR_COMPACTED`);
    } catch (err) {
      setResult(byTestId('watch-result'), `compact failed: ${describe(err)}`, false);
    } finally {
      button.disabled = false;
    }
  }

  #stop(why: string): void {
    const s = this.#session;
    if (s === null) return;
    this.#end();
    this.#setState('stopped', s);
    this.#note('');
    setResult(byTestId('watch-result'), `watch ${label(s.prefix)} stopped at revision ${s.watcher.revision} (${why})`);
  }

  /** Closes the current watch, if any, without a word. */
  #end(): void {
    const s = this.#session;
    this.#session = null;
    s?.abort.abort();
  }

  /** `ended`: the session that just ended, for the freshness line's last word. */
  #setState(state: WatchState, ended?: Session): void {
    setBadge(this.#panel, byTestId('watch-state'), state);
    const live = state === 'watching' || state === 'resuming';
    byTestId<HTMLButtonElement>('watch-stop').disabled = !live;
    if (live) return;
    const fresh = byTestId('watch-fresh');
    fresh.textContent = ended === undefined ? 'not watching'
      : ended.heardAt === null ? 'not watching: the last watch never started streaming'
        : `not watching: the last watch had every event up to revision ${ended.watcher.revision} (${ended.events} event${ended.events === 1 ? '' : 's'})`;
  }

  #note(text: string): void {
    const e = byTestId('watch-note');
    e.textContent = text;
    e.hidden = text === '';
  }

  #clearRows(): void {
    this.#pending = [];
    byTestId('watch-events').replaceChildren();
  }

  /** Queues a row; many arriving at once are drawn together, and only the newest rowsMax. */
  #push(row: Row): void {
    this.#pending.push(row);
    if (this.#pending.length > watchPanelLimits.rowsMax) this.#pending.splice(0, this.#pending.length - watchPanelLimits.rowsMax);
    if (this.#drawScheduled) return;
    this.#drawScheduled = true;
    setTimeout(() => {
      this.#drawScheduled = false;
      this.#draw();
    }, watchPanelLimits.drawMs);
  }

  #draw(): void {
    const list = byTestId<HTMLOListElement>('watch-events');
    const rows = this.#pending;
    this.#pending = [];
    const fragment = document.createDocumentFragment();
    for (let i = rows.length - 1; i >= 0; i--) fragment.append(rowElement(rows[i]!));
    list.prepend(fragment);
    while (list.children.length > watchPanelLimits.rowsMax) list.lastElementChild?.remove();
  }
}

function label(prefix: string): string {
  return prefix === '' ? 'all keys' : `prefix ${JSON.stringify(prefix)}`;
}

function eventRow(revision: number, ev: WatchEvent): Row {
  const key = showKey(ev.key);
  const raw = typeof ev.value === 'string' ? ev.value : '';
  const was = ev.prev !== undefined ? `was ${showValue(ev.prev.value)}` : ev.type === 'put' ? '(new key)' : '';
  return ev.type === 'put'
    ? { kind: 'put', revision, key, value: showValue(ev.value), raw, note: was }
    : { kind: 'delete', revision, key, value: '', raw: '', note: was };
}

function stateRow(kv: KeyValue): Row {
  return { kind: 'state', revision: kv.modRevision, key: showKey(kv.key), value: showValue(kv.value), raw: typeof kv.value === 'string' ? kv.value : '', note: '(as reloaded)' };
}

function rowElement(r: Row): HTMLLIElement {
  const li = document.createElement('li');
  li.dataset.testid = r.kind === 'mark' ? 'watch-mark' : 'watch-event';
  li.dataset.type = r.kind;
  li.dataset.revision = String(r.revision);
  li.className = `ev ${r.kind}`;
  if (r.kind === 'mark') {
    li.append(span('note', r.note));
    return li;
  }
  li.dataset.key = r.key;
  li.dataset.value = r.raw;
  li.append(span('rev', `@${r.revision}`), span('type', r.kind === 'state' ? 'now' : r.kind), span('k', r.key));
  if (r.kind !== 'delete') li.append(' = ', span('v', r.value));
  if (r.note !== '') li.append(' ', span('prev', r.note));
  return li;
}
