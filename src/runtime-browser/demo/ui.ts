// Small helpers the demo page's watch and lock panels share: elements by test id, how errors,
// keys, values and durations read on the page.

import { ClientError } from '../../client/browser.ts';
import type { Key, Value } from '../../client/browser.ts';

export function byTestId<T extends HTMLElement = HTMLElement>(id: string): T {
  const e = document.querySelector<T>(`[data-testid="${id}"]`);
  if (e === null) throw new Error(`the page has no element with data-testid="${id}"`);
  return e;
}

export function describe(err: unknown): string {
  if (err instanceof ClientError) return `${err.code}: ${err.message}`;
  return err instanceof Error ? err.message : String(err);
}

/** A value as the page shows it: strings quoted, bytes counted. */
export function showValue(v: Value | undefined): string {
  if (v === undefined) return '(absent)';
  return typeof v === 'string' ? JSON.stringify(v) : `<${v.byteLength} bytes>`;
}

/** A key as the page shows it: strings as they are, other bytes in hex. */
export function showKey(k: Key): string {
  return typeof k === 'string' ? k : `0x${[...k].map((b) => b.toString(16).padStart(2, '0')).join('')}`;
}

/** `1.2 s` (one decimal below a minute, whole seconds above). */
export function seconds(ms: number): string {
  const s = Math.max(0, ms) / 1000;
  return s < 60 ? `${s.toFixed(1)} s` : `${Math.round(s)} s`;
}

export function span(cls: string, text: string): HTMLElement {
  const e = document.createElement('span');
  e.className = cls;
  e.textContent = text;
  return e;
}

/** A status badge: its text and class say the state, and so does the panel's data-state. */
export function setBadge(panel: HTMLElement, badge: HTMLElement, state: string): void {
  badge.textContent = state;
  badge.className = `badge ${state}`;
  panel.dataset.state = state;
}

/** A result line: `text`, red when not ok. */
export function setResult(e: HTMLElement, text: string, ok = true): void {
  e.textContent = text;
  e.className = ok ? 'result' : 'result error';
}
