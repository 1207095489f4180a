// Leases on the client side: a granted lease, the background renewer keepAlive() starts, and the
// time after which this client stops trusting the lease.
//
// The leader times a lease from when it receives the grant or a keep-alive, so the cluster keeps
// a lease's keys at least until (send time of the last acknowledged keep-alive + TTL): the send
// comes before the receipt. This client considers the lease lost at that time minus a margin
// (marginMs), and reports it then: the 'lost' event, the aborted `signal`, and `alive` turning
// false (a getter that reads the clock, so it is right even when a paused process's timers fire
// late). The margin is the time the application has to stop acting on the lease (stop writing
// under a lock) before another client may get it, plus any difference in clock rates.

import { ClientError } from './errors.ts';

/** Time and timers, injectable for tests. `now()` is in ms and must not go backwards. */
export interface LeaseClock {
  now(): number;
  /** Calls `fn` after `ms`; returns a cancel function. The timer must not keep a process alive. */
  setTimer(fn: () => void, ms: number): () => void;
}

/** Monotonic (performance.now) on the wall clock's scale: comparable across processes of a machine. */
export const systemClock: LeaseClock = {
  now: () => performance.timeOrigin + performance.now(),
  setTimer(fn, ms) {
    const t = setTimeout(fn, Math.max(0, ms));
    (t as { unref?: () => void }).unref?.();
    return () => clearTimeout(t);
  },
};

/**
 * 'active': granted, not known to be gone. 'lost': this client can no longer be sure it is alive
 * (the deadline passed with no acknowledged keep-alive, or the cluster said it is gone).
 * 'revoked': this client revoked it. 'closed': the client was closed (nothing renews it).
 */
export type LeaseState = 'active' | 'lost' | 'revoked' | 'closed';

/** The default margin: a tenth of the TTL, at most two seconds. */
export function defaultMarginMs(ttlMs: number): number {
  return Math.min(Math.round(ttlMs / 10), 2000);
}

/** Keep-alives go out every ttl / renewDivisor (etcd renews at a third of the TTL). */
export const renewDivisor = 3;

export class Lease {
  readonly id: number;
  readonly ttlMs: number;
  /** Reserved before the cluster's earliest expiry: see the module comment. */
  readonly marginMs: number;
  readonly #clock: LeaseClock;
  readonly #abort = new AbortController();
  readonly #lostListeners = new Set<(err: ClientError) => void>();
  #state: LeaseState = 'active';
  #deadline: number;
  #error: ClientError | null = null;

  /** @internal Made by KvClient.grant(). `sentAt`: when the grant was sent, on `clock`. */
  constructor(id: number, ttlMs: number, marginMs: number, sentAt: number, clock: LeaseClock) {
    this.id = id;
    this.ttlMs = ttlMs;
    this.marginMs = marginMs;
    this.#clock = clock;
    this.#deadline = sentAt + ttlMs - marginMs;
  }

  get state(): LeaseState {
    return this.#state;
  }

  /** When this client stops trusting the lease, on the clock's scale (ms; systemClock: epoch ms). */
  get deadline(): number {
    return this.#deadline;
  }

  /** Time left before `deadline` (0 once it passed or the lease ended). */
  get remainingMs(): number {
    return this.#state === 'active' ? Math.max(0, this.#deadline - this.#clock.now()) : 0;
  }

  /** Whether this client may still act on the lease: active and before its deadline. */
  get alive(): boolean {
    return this.#state === 'active' && this.#clock.now() < this.#deadline;
  }

  /** Aborted once the lease is no longer alive (lost, revoked, client closed); reason: a ClientError. */
  get signal(): AbortSignal {
    return this.#abort.signal;
  }

  /** Why it ended (null while active). */
  get error(): ClientError | null {
    return this.#error;
  }

  /** Calls `cb` once if the lease is lost (not for revoke or close); returns the unsubscribe. */
  on(event: 'lost', cb: (err: ClientError) => void): () => void {
    if (event !== 'lost') throw new ClientError('ERR_OPTIONS', `a lease has only the 'lost' event (got ${JSON.stringify(event)})`);
    this.#lostListeners.add(cb);
    return () => { this.#lostListeners.delete(cb); };
  }

  toJSON(): { id: number; ttlMs: number; state: LeaseState; remainingMs: number } {
    return { id: this.id, ttlMs: this.ttlMs, state: this.#state, remainingMs: this.remainingMs };
  }

  /** @internal A keep-alive sent at `sentAt` was acknowledged with `ttlMs`. */
  renewed(sentAt: number, ttlMs: number): void {
    if (this.#state !== 'active') return;
    this.#deadline = Math.max(this.#deadline, sentAt + ttlMs - this.marginMs);
  }

  /** @internal Ends the lease (the first end wins). */
  end(state: Exclude<LeaseState, 'active'>, err: ClientError): void {
    if (this.#state !== 'active') return;
    this.#state = state;
    this.#error = err;
    this.#abort.abort(err);
    if (state !== 'lost') return;
    for (const cb of [...this.#lostListeners]) {
      try {
        cb(err);
      } catch {
        // A listener's failure is its own; the others still hear of the loss.
      }
    }
  }
}

/** Sends one keep-alive, giving up after `timeoutMs`; resolves with the TTL the leader renewed. */
export type SendKeepAlive = (timeoutMs: number) => Promise<number>;

/**
 * Watches one lease's deadline, and (after start()) renews it: a keep-alive every ttl / 3 after
 * the last one was sent, to the leader (the caller follows NOT_LEADER hints), each given until
 * the deadline to be answered. Ends the lease as lost when the deadline passes, or at once when
 * the cluster answers ERR_LEASE_NOT_FOUND (or another error retrying cannot fix).
 */
export class LeaseKeeper {
  readonly lease: Lease;
  readonly #clock: LeaseClock;
  readonly #send: SendKeepAlive;
  #cancelDeadline: (() => void) | null = null;
  #cancelRenew: (() => void) | null = null;
  #renewing = false;
  #lastSent: number;
  /** When the last acknowledged keep-alive (or the grant) was sent. */
  #acked: number;
  #inflight = false;

  constructor(lease: Lease, sentAt: number, clock: LeaseClock, send: SendKeepAlive) {
    this.lease = lease;
    this.#clock = clock;
    this.#send = send;
    this.#lastSent = sentAt;
    this.#acked = sentAt;
    this.#armDeadline();
  }

  get renewing(): boolean {
    return this.#renewing;
  }

  /** Starts the renewer (again a no-op once started). */
  start(): void {
    if (this.#renewing || this.lease.state !== 'active') return;
    this.#renewing = true;
    this.#scheduleRenew();
  }

  /** Stops everything; `state` and `err` end the lease when it is still active. */
  stop(state: Exclude<LeaseState, 'active'>, err: ClientError): void {
    this.#renewing = false;
    this.#cancelRenew?.();
    this.#cancelRenew = null;
    this.#cancelDeadline?.();
    this.#cancelDeadline = null;
    this.lease.end(state, err);
  }

  #armDeadline(): void {
    this.#cancelDeadline?.();
    this.#cancelDeadline = this.#clock.setTimer(() => this.#checkDeadline(), this.lease.deadline - this.#clock.now());
  }

  #checkDeadline(): void {
    this.#cancelDeadline = null;
    if (this.lease.state !== 'active') return;
    const now = this.#clock.now();
    if (now < this.lease.deadline) {
      this.#armDeadline();
      return;
    }
    this.stop('lost', new ClientError('ERR_LEASE_LOST', `lease ${this.lease.id}: no keep-alive was acknowledged in time (the last one acknowledged was sent ${Math.round(now - this.#acked)} ms ago; TTL ${this.lease.ttlMs} ms, margin ${this.lease.marginMs} ms)`));
  }

  /** The next keep-alive: ttl / 3 after the last one was sent, or `pauseMs` from now. */
  #scheduleRenew(pauseMs?: number): void {
    if (!this.#renewing) return;
    const delay = pauseMs ?? this.#lastSent + this.lease.ttlMs / renewDivisor - this.#clock.now();
    this.#cancelRenew = this.#clock.setTimer(() => {
      this.#cancelRenew = null;
      void this.#renew();
    }, delay);
  }

  async #renew(): Promise<void> {
    if (!this.#renewing || this.#inflight || this.lease.state !== 'active') return;
    this.#inflight = true;
    const sentAt = this.#clock.now();
    this.#lastSent = sentAt;
    let ok = false;
    try {
      const ttlMs = await this.#send(Math.max(1, this.lease.deadline - sentAt));
      // Lost is final: an answer that comes after the deadline does not bring the lease back
      // (the application may have acted on `alive` being false already).
      if (this.#clock.now() >= this.lease.deadline) {
        this.#checkDeadline();
        return;
      }
      ok = true;
      this.#acked = sentAt;
      this.lease.renewed(sentAt, ttlMs);
      if (this.lease.state === 'active') this.#armDeadline();
    } catch (err) {
      const e = err instanceof ClientError ? err : new ClientError('ERR_INTERNAL', (err as Error).message);
      if (e.code === 'ERR_CLOSED') {
        this.stop('closed', e);
      } else if (e.code === 'ERR_LEASE_NOT_FOUND') {
        this.stop('lost', new ClientError('ERR_LEASE_LOST', `lease ${this.lease.id} is gone on the cluster (expired or revoked): ${e.message}`, { cause: e }));
      } else if (e.code === 'ERR_FORBIDDEN' || e.code === 'ERR_BAD_REQUEST') {
        this.stop('lost', new ClientError('ERR_LEASE_LOST', `lease ${this.lease.id} cannot be kept alive: ${e.code}: ${e.message}`, { cause: e }));
      }
      // Anything else (no answer before the deadline): the deadline timer decides; until then
      // another keep-alive goes out after a short pause.
    } finally {
      this.#inflight = false;
    }
    if (this.#renewing && this.lease.state === 'active') this.#scheduleRenew(ok ? undefined : retryPauseMs(this.lease.ttlMs));
  }
}

/** After a failed keep-alive, the next one goes out this long after (a twentieth of the TTL, 50 ms at least). */
function retryPauseMs(ttlMs: number): number {
  return Math.max(50, ttlMs / 20);
}
