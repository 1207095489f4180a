// The demo page's lock panel: takes a named lock through the SDK (kv.lock), waiting behind the
// tab or process that holds it, then shows what holding it means: the fencing token (the create
// revision of this tab's key: it only grows from one holder to the next), the lease that keeps
// the key, and a live countdown to the time this tab stops trusting the lease. That time is the
// SDK's: the send time of the last acknowledged keep-alive + TTL − a margin; each acknowledged
// keep-alive moves it on, and the countdown jumps back up. When no keep-alive is acknowledged in
// time (the cluster lost its majority, the tab's timers were throttled), the lock is lost: the
// panel says so, since another tab may hold it from then on.

import { systemClock } from '../../client/browser.ts';
import type { KvClient, Lock } from '../../client/browser.ts';
import { byTestId, describe, seconds, setBadge, setResult } from './ui.ts';

export const lockPanelLimits = {
  /** The countdown is redrawn this often. */
  tickMs: 100,
  /** The TTL field's bounds, in seconds (the cluster has its own: --lease-ttl-min-ms, --lease-ttl-max-ms). */
  ttlSecondsMin: 1,
  ttlSecondsMax: 3600,
} as const;

type LockState = 'idle' | 'waiting' | 'held' | 'lost' | 'released' | 'failed';

/** A lock this tab holds (or held until it was lost), and what the panel tracks of it. */
interface Holding {
  readonly name: string;
  readonly lock: Lock;
  readonly acquiredAt: number;
  /** lease.deadline when last drawn: a later one means a keep-alive was acknowledged. */
  deadline: number;
  renewals: number;
  lost: boolean;
}

export class LockPanel {
  readonly #kv: KvClient;
  readonly #panel = byTestId('lock-panel');
  #state: LockState = 'idle';
  #waiting: AbortController | null = null;
  #holding: Holding | null = null;
  #timer: ReturnType<typeof setInterval> | null = null;

  constructor(kv: KvClient) {
    this.#kv = kv;
    byTestId('lock-acquire').addEventListener('click', () => void this.#acquire());
    byTestId('lock-cancel').addEventListener('click', () => this.#waiting?.abort());
    byTestId('lock-release').addEventListener('click', () => void this.#release());
    byTestId('lock-form').addEventListener('submit', (e) => {
      e.preventDefault();
      if (this.#state !== 'waiting' && this.#state !== 'held') void this.#acquire();
    });
    // Leaving the page: give the lock back at once rather than make the next tab wait for the TTL.
    addEventListener('pagehide', () => {
      this.#waiting?.abort();
      void this.#holding?.lock.release().catch(() => undefined);
    });
    this.#setState('idle');
  }

  async #acquire(): Promise<void> {
    const name = byTestId<HTMLInputElement>('lock-name').value.trim();
    const ttlText = byTestId<HTMLInputElement>('lock-ttl').value.trim();
    const ttlS = Number(ttlText);
    const result = byTestId('lock-result');
    if (name === '' || name.includes('/')) {
      setResult(result, `the lock name must be non-empty and without '/', not ${JSON.stringify(name)}`, false);
      return;
    }
    if (!(Number.isFinite(ttlS) && ttlS >= lockPanelLimits.ttlSecondsMin && ttlS <= lockPanelLimits.ttlSecondsMax)) {
      setResult(result, `the lease TTL must be a number of seconds in [${lockPanelLimits.ttlSecondsMin}, ${lockPanelLimits.ttlSecondsMax}], not ${JSON.stringify(ttlText)}`, false);
      return;
    }
    // A lost lock still listed: give its key back (best effort) before contending again.
    const old = this.#holding;
    this.#drop();
    void old?.lock.release().catch(() => undefined);
    const abort = new AbortController();
    this.#waiting = abort;
    const started = performance.now();
    this.#setState('waiting');
    setResult(result, `waiting for lock ${JSON.stringify(name)}… (it is yours once every earlier holder released it or lost its lease)`);
    try {
      const lock = await this.#kv.lock(name, { ttlMs: Math.round(ttlS * 1000), signal: abort.signal });
      this.#waiting = null;
      this.#hold(name, lock, performance.now() - started);
    } catch (err) {
      this.#waiting = null;
      if (abort.signal.aborted) {
        this.#setState('idle');
        setResult(result, `stopped waiting for lock ${JSON.stringify(name)} after ${seconds(performance.now() - started)}`);
      } else {
        this.#setState('failed');
        setResult(result, `lock ${JSON.stringify(name)} failed: ${describe(err)}`, false);
      }
    }
  }

  #hold(name: string, lock: Lock, waitedMs: number): void {
    const h: Holding = { name, lock, acquiredAt: performance.now(), deadline: lock.lease.deadline, renewals: 0, lost: false };
    this.#holding = h;
    lock.on('lost', (err) => this.#lost(h, describe(err)));
    byTestId('lock-token').textContent = String(lock.fencingToken);
    byTestId('lock-panel').dataset.token = String(lock.fencingToken);
    byTestId('lock-lease').textContent = `${lock.lease.id} (0x${lock.lease.id.toString(16)})`;
    this.#setState('held');
    setResult(byTestId('lock-result'), `held lock ${JSON.stringify(name)} after waiting ${seconds(waitedMs)}: fencing token ${lock.fencingToken},`
      + ` key ${lock.key}, lease ${lock.lease.id} (TTL ${seconds(lock.lease.ttlMs)}, margin ${seconds(lock.lease.marginMs)})`);
    this.#timer = setInterval(() => this.#tick(), lockPanelLimits.tickMs);
    this.#tick();
  }

  /** Redraws the countdown; notices a renewal (a later deadline) and a lost lease. */
  #tick(): void {
    const h = this.#holding;
    if (h === null) return;
    const lease = h.lock.lease;
    if (!h.lost && lease.deadline > h.deadline) {
      h.deadline = lease.deadline;
      h.renewals++;
      flash(byTestId('lock-countdown'));
    }
    // `held` reads the clock: it turns false at the deadline even when the tab's timers run late.
    if (!h.lost && !h.lock.held) {
      this.#lost(h, lease.error !== null ? describe(lease.error) : `no keep-alive was acknowledged before the deadline (the tab's timers may have been throttled)`);
      return;
    }
    const countdown = byTestId('lock-countdown');
    const remaining = h.lost ? 0 : lease.remainingMs;
    countdown.dataset.remainingMs = String(Math.round(remaining));
    countdown.textContent = h.lost ? 'lost' : seconds(remaining);
    const ackedSentAt = lease.deadline - lease.ttlMs + lease.marginMs;
    byTestId('lock-acked').textContent = `sent ${seconds(systemClock.now() - ackedSentAt)} ago`;
    byTestId('lock-renewals').textContent = String(h.renewals);
    byTestId('lock-held-for').textContent = seconds(performance.now() - h.acquiredAt);
  }

  #lost(h: Holding, why: string): void {
    if (h.lost || this.#holding !== h) return;
    h.lost = true;
    this.#tick();
    this.#stopTimer();
    this.#setState('lost');
    setResult(byTestId('lock-result'), `LOST lock ${JSON.stringify(h.name)} (fencing token ${h.lock.fencingToken}): ${why}. Stop acting on it: another holder may have it now.`, false);
  }

  async #release(): Promise<void> {
    const h = this.#holding;
    if (h === null) return;
    const button = byTestId<HTMLButtonElement>('lock-release');
    button.disabled = true;
    try {
      await h.lock.release();
      const wasLost = h.lost;
      this.#drop();
      this.#setState('released');
      setResult(byTestId('lock-result'), wasLost
        ? `cleaned up lost lock ${JSON.stringify(h.name)} (fencing token ${h.lock.fencingToken})`
        : `released lock ${JSON.stringify(h.name)} (fencing token ${h.lock.fencingToken}) after holding it ${seconds(performance.now() - h.acquiredAt)}`);
    } catch (err) {
      button.disabled = false;
      setResult(byTestId('lock-result'), `release of lock ${JSON.stringify(h.name)} failed: ${describe(err)}`, false);
    }
  }

  /** Forgets the lock this panel shows (held or lost). */
  #drop(): void {
    this.#stopTimer();
    this.#holding = null;
    const countdown = byTestId('lock-countdown');
    countdown.textContent = '—';
    delete countdown.dataset.remainingMs;
    byTestId('lock-acked').textContent = '—';
  }

  #stopTimer(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }

  #setState(state: LockState): void {
    this.#state = state;
    setBadge(this.#panel, byTestId('lock-state'), state);
    const busy = state === 'waiting' || state === 'held';
    byTestId<HTMLButtonElement>('lock-acquire').disabled = busy;
    byTestId<HTMLButtonElement>('lock-cancel').disabled = state !== 'waiting';
    byTestId<HTMLButtonElement>('lock-release').disabled = this.#holding === null;
    byTestId<HTMLInputElement>('lock-name').disabled = busy;
    byTestId<HTMLInputElement>('lock-ttl').disabled = busy;
    if (state === 'waiting' || state === 'idle') {
      byTestId('lock-token').textContent = '—';
      byTestId('lock-lease').textContent = '—';
      byTestId('lock-renewals').textContent = '—';
      byTestId('lock-held-for').textContent = '—';
      delete byTestId('lock-panel').dataset.token;
    }
  }
}

/** Highlights a value that just moved (restarting the animation if it still runs). */
function flash(e: HTMLElement): void {
  e.classList.remove('renewed');
  void e.offsetWidth;
  e.classList.add('renewed');
  e.addEventListener('animationend', () => e.classList.remove('renewed'), { once: true });
}
