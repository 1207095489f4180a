// Simulated watchers: each watches a key or a prefix (or everything) at some member (a voter, a
// learner, an observer), from now or from a revision it remembers, over a connection that delivers
// in order, each message after a client delay. A watcher that falls behind (its connection's queue
// is full: it consumes slowly) is cancelled by the member's WatchHub with ERR_WATCH_SLOW; one
// whose member crashes, stalls (paused, no progress for a while) or that simply moves on resumes
// at another member from its last revision + 1 (or restarts as a new client from a checkpoint a
// little behind it); one answered ERR_COMPACTED reloads (reads the
// member's current revision) and resumes after it. Some are etcd-minded: told ERR_COMPACTED, they
// first ask again from the compaction revision itself (etcd keeps that revision; here a watch must
// start above it, so they must be refused again). A compactor proposes compactions now and then.
//
// Checks. On arrival: revisions strictly increase across the watcher's whole life (no repeat, no
// reordering, none below where it resumed), and never above the revision the message says it is
// complete through. At the end, against the reference machine (the committed log applied in index
// order): every stretch the watcher was told it had complete — from where a subscription started
// to the last revision it got (events or progress) — holds exactly the reference's events for its
// range at each revision, each equal in type, key, value, revisions, lease and previous value. An
// ERR_COMPACTED must be true: the revision asked for lies at or below a compaction applied by then,
// or more events (or bytes) than the history keeps came after it.

import { encodeCommand } from '../../src/core/kv/command.ts';
import type { KvEvent, RevisionEvents } from '../../src/core/kv/history.ts';
import { inRange, prefixEnd } from '../../src/core/kv/keys.ts';
import type { KeyValue } from '../../src/core/kv/records.ts';
import { WatchError, type WatchSink, type WatchSpec } from '../../src/core/kv/watch-hub.ts';
import { SeededPrng } from '../../src/core/prng.ts';
import { SafetyViolation } from './checker.ts';
import type { ReferenceLog } from './reference.ts';
import type { Sim } from './sim.ts';

export interface WatchClientOptions {
  readonly seed: number;
  readonly watchers: number;
  /** Prefixes the watchers choose from ('' is every key); a watcher may also watch one key. */
  readonly prefixes: readonly string[];
  /** Keys a one-key watcher chooses from. */
  readonly keys: readonly string[];
  /** Propose a compaction about this often (0: never). */
  readonly compactEveryMs?: number;
  /** No message for this long: the watcher takes its member for stalled and moves. */
  readonly staleMs?: number;
}

/** What the watchers did, for the run's figures. */
export interface WatchStats {
  /** Events received and later found equal to the reference. */
  eventsChecked: number;
  /** Revisions checked complete (with or without events for the watcher). */
  revisionsChecked: number;
  subscriptions: number;
  resumedAfterCrash: number;
  resumedAfterStall: number;
  resumedAfterSlow: number;
  moved: number;
  /** Clients that restarted from an older checkpoint (a new watcher). */
  restarts: number;
  compactedReloads: number;
  compactions: number;
  /** Progress notices below what the watcher had already (harmless: it keeps its own maximum). */
  progressBehind: number;
}

type Message =
  | { readonly kind: 'created'; readonly from: number }
  | { readonly kind: 'events'; readonly batches: readonly RevisionEvents[]; readonly revision: number }
  | { readonly kind: 'progress'; readonly revision: number }
  | { readonly kind: 'cancelled'; readonly err: WatchError }
  | { readonly kind: 'refused'; readonly err: Error };

interface Stream {
  readonly node: string;
  readonly epoch: number;
  /** The hub's id for it, once added. */
  hubId: number | null;
  /** Messages sent and not yet consumed by the client, and how many it lets queue. */
  inFlight: number;
  readonly capacity: number;
  /** Virtual time the last message sent arrives (the connection delivers in order). */
  lastArrival: number;
  /** The client has let go of it (moved, saw it fail): what still arrives is dropped. */
  done: boolean;
}

/** A stretch of revisions a watcher was told it holds completely. */
interface Segment {
  readonly from: number;
  through: number;
  readonly got: Map<number, readonly KvEvent[]>;
  readonly where: string;
}

interface Watcher {
  readonly id: number;
  readonly spec: WatchSpec;
  readonly name: string;
  /** Milliseconds the client takes per message (a slow consumer backs its connection up). */
  readonly consumeMs: number;
  /** Told ERR_COMPACTED, it first asks from the compaction revision itself (an etcd habit). */
  readonly etcdMinded: boolean;
  /** The revision it asks from next instead of last + 1 (that etcd habit), or null. */
  retryFrom: number | null;
  readonly capacity: number;
  /** The revision it holds everything through (-1 before its first subscription started). */
  last: number;
  /** The highest revision it got events for. */
  lastEvent: number;
  segments: Segment[];
  stream: Stream | null;
  /** The client works through its messages one at a time: when it is free again. */
  busyUntil: number;
  lastHeard: number;
  /** Stopped for good (its client restarted as another watcher): its streams are still checked. */
  retired: boolean;
}

export class WatchClients {
  readonly stats: WatchStats = {
    eventsChecked: 0, revisionsChecked: 0, subscriptions: 0, resumedAfterCrash: 0, resumedAfterStall: 0, resumedAfterSlow: 0,
    moved: 0, restarts: 0, compactedReloads: 0, compactions: 0, progressBehind: 0,
  };
  readonly #sim: Sim;
  readonly #ref: ReferenceLog;
  readonly #o: Required<WatchClientOptions>;
  readonly #rng: SeededPrng;
  readonly #watchers: Watcher[] = [];
  #running = false;

  constructor(sim: Sim, ref: ReferenceLog, o: WatchClientOptions) {
    this.#sim = sim;
    this.#ref = ref;
    this.#o = { compactEveryMs: 0, staleMs: 2.5 * sim.opts.watchProgressMs, ...o };
    this.#rng = new SeededPrng(o.seed ^ 0x3a7c4d1);
    sim.hooks.crashed.push((node) => this.#crashed(node));
  }

  start(): void {
    this.#running = true;
    for (let i = 0; i < this.#o.watchers; i++) {
      const w = this.#newWatcher(i);
      this.#watchers.push(w);
      this.#sim.at(this.#rng.nextInt(200), () => this.#subscribe(w, this.#rng.nextInt(3) === 0 ? 'remembered' : 'now'));
      this.#sim.at(300 + this.#rng.nextInt(1200), () => this.#maybeMove(w));
    }
    if (this.#o.compactEveryMs > 0) this.#sim.at(this.#rng.nextInt(this.#o.compactEveryMs), () => this.#compact());
  }

  /** No new subscriptions or moves from now on; the connections stay and keep delivering. */
  stop(): void {
    this.#running = false;
  }

  #newWatcher(id: number): Watcher {
    const rng = this.#rng;
    let spec: WatchSpec;
    let name: string;
    if (rng.nextInt(4) === 0 && this.#o.keys.length > 0) {
      const key = this.#o.keys[rng.nextInt(this.#o.keys.length)]!;
      spec = { start: key, end: `${key}\u0000`, fromRevision: 0, prevValue: rng.nextInt(2) === 0 };
      name = `key ${key}`;
    } else {
      const p = this.#o.prefixes[rng.nextInt(this.#o.prefixes.length)]!;
      spec = { start: p, end: p === '' ? null : prefixEnd(p), fromRevision: 0, prevValue: rng.nextInt(2) === 0 };
      name = p === '' ? 'every key' : `prefix ${p}`;
    }
    // Some consume slowly through a short queue: their member cancels them (ERR_WATCH_SLOW).
    const slow = rng.nextInt(3) === 0;
    return {
      id, spec, name: `watcher ${id} (${name}${spec.prevValue ? ', with previous values' : ''})`,
      consumeMs: slow ? 1 + rng.nextInt(8) : 0.05, capacity: slow ? 2 + rng.nextInt(6) : 1000,
      etcdMinded: rng.nextInt(2) === 0, retryFrom: null,
      last: -1, lastEvent: 0, segments: [], stream: null, busyUntil: 0, lastHeard: 0, retired: false,
    };
  }

  /** Opens a subscription at a live member: from `last + 1`, from now, or from an older revision. */
  #subscribe(w: Watcher, how: 'resume' | 'now' | 'remembered'): void {
    if (w.stream !== null) return;
    const live = this.#sim.ids.filter((id) => this.#sim.alive(id));
    const node = live[this.#rng.nextInt(live.length)];
    if (node === undefined) {
      this.#sim.at(20, () => this.#subscribe(w, how));
      return;
    }
    const n = this.#sim.nodes.get(node)!;
    const stream: Stream = { node, epoch: n.epoch, hubId: null, inFlight: 0, capacity: w.capacity, lastArrival: 0, done: false };
    w.stream = stream;
    w.lastHeard = this.#sim.now;
    this.stats.subscriptions++;
    const remembered = how === 'remembered' ? this.#rng.nextInt(2) : 0;
    const retryFrom = w.retryFrom;
    w.retryFrom = null;
    this.#sim.request(node, async (sn) => {
      const hub = sn.watches!;
      const now = sn.machine!.kv!.revision;
      const from = retryFrom ?? (how === 'resume' ? w.last + 1 : how === 'remembered' ? 1 + (remembered === 0 ? 0 : this.#rng.nextInt(now + 1)) : 0);
      this.#send(w, stream, { kind: 'created', from: from === 0 ? now + 1 : from }, true);
      try {
        stream.hubId = hub.add({ ...w.spec, fromRevision: from }, this.#sink(w, stream));
      } catch (err) {
        this.#send(w, stream, { kind: 'refused', err: err as Error }, true);
        // The member's own view when it refused, for the check of ERR_COMPACTED.
        if (err instanceof WatchError && err.code === 'ERR_COMPACTED') this.#checkCompacted(w, from, now, `${node} refused it`);
      }
    }, () => {});
    this.#armStaleTimer(w, stream);
  }

  #sink(w: Watcher, s: Stream): WatchSink {
    return {
      events: (batches, revision) => this.#send(w, s, { kind: 'events', batches, revision }, false),
      progress: (revision) => this.#send(w, s, { kind: 'progress', revision }, false),
      cancelled: (err) => {
        if (err.code === 'ERR_COMPACTED') this.#checkCompacted(w, err.revision + 1, this.#sim.nodes.get(s.node)!.machine!.kv!.revision, `${s.node} installed a snapshot`);
        this.#send(w, s, { kind: 'cancelled', err }, true);
      },
    };
  }

  /** Queues a message on the connection; false when its queue is full (and it is not `always`). */
  #send(w: Watcher, s: Stream, m: Message, always: boolean): boolean {
    const n = this.#sim.nodes.get(s.node)!;
    if (n.epoch !== s.epoch) return true;
    if (!always && s.inFlight >= s.capacity) return false;
    s.inFlight++;
    const arrival = Math.max(s.lastArrival, this.#sim.now + 0.1 + this.#rng.nextFloat() * 0.9);
    s.lastArrival = arrival;
    this.#sim.at(arrival - this.#sim.now, () => {
      // The client takes consumeMs per message, one after another.
      const done = Math.max(this.#sim.now, w.busyUntil) + w.consumeMs;
      w.busyUntil = done;
      this.#sim.at(done - this.#sim.now, () => {
        s.inFlight--;
        this.#receive(w, s, m);
      });
    });
    return true;
  }

  #receive(w: Watcher, s: Stream, m: Message): void {
    if (s.done || w.stream !== s) return;
    w.lastHeard = this.#sim.now;
    const where = `${w.name} at ${s.node}`;
    switch (m.kind) {
      case 'created': {
        if (w.last >= 0 && m.from !== w.last + 1 && !this.#reloading.has(w)) {
          throw new SafetyViolation(`${where}: resumed from ${m.from}, but it holds everything through ${w.last}`);
        }
        this.#reloading.delete(w);
        w.segments.push({ from: m.from, through: m.from - 1, got: new Map(), where });
        w.last = m.from - 1;
        return;
      }
      case 'events': {
        const seg = w.segments[w.segments.length - 1]!;
        for (const b of m.batches) {
          if (b.revision <= w.lastEvent || b.revision <= w.last) {
            throw new SafetyViolation(`${where}: events of revision ${b.revision} arrived after ${Math.max(w.lastEvent, w.last)} (a repeat, or out of order)`);
          }
          if (b.revision > m.revision) throw new SafetyViolation(`${where}: events of revision ${b.revision} in a message complete through ${m.revision}`);
          seg.got.set(b.revision, b.events);
          w.lastEvent = b.revision;
        }
        this.#advance(w, seg, m.revision);
        return;
      }
      case 'progress': {
        if (m.revision < w.last) {
          this.stats.progressBehind++;
          return;
        }
        this.#advance(w, w.segments[w.segments.length - 1]!, m.revision);
        return;
      }
      case 'cancelled': case 'refused': {
        s.done = true;
        w.stream = null;
        const code = (m.err as Error & { code?: string }).code;
        if (code === 'ERR_COMPACTED') {
          const c = (m.err as WatchError).compactRevision;
          if (w.etcdMinded && c > 0 && m.kind === 'refused' && !this.#reloading.has(w) && this.#running) {
            // etcd would serve a watch from its compaction revision: ask for exactly that.
            w.retryFrom = c;
            this.#reloading.add(w);
            this.#sim.at(1, () => this.#subscribe(w, 'resume'));
            return;
          }
          this.stats.compactedReloads++;
          this.#reloading.delete(w);
          this.#reload(w);
          return;
        }
        if (code === 'ERR_WATCH_SLOW') this.stats.resumedAfterSlow++;
        else if (code !== 'ERR_WATCH_LIMIT') throw new SafetyViolation(`${where}: the watch ended with ${code ?? m.err.message}`);
        if (this.#running) this.#sim.at(1 + this.#rng.nextInt(20), () => this.#subscribe(w, w.last >= 0 ? 'resume' : 'now'));
        return;
      }
    }
  }

  #advance(w: Watcher, seg: Segment, revision: number): void {
    if (revision > seg.through) seg.through = revision;
    if (revision > w.last) w.last = revision;
  }

  /** Watchers that reload after ERR_COMPACTED: their next subscription starts after a gap. */
  readonly #reloading = new Set<Watcher>();

  /** After ERR_COMPACTED: read the state at some member (its revision R) and watch from R + 1. */
  #reload(w: Watcher): void {
    if (!this.#running) return;
    const live = this.#sim.ids.filter((id) => this.#sim.alive(id));
    const node = live[this.#rng.nextInt(live.length)];
    if (node === undefined) {
      this.#sim.at(20, () => this.#reload(w));
      return;
    }
    this.#sim.request(node, (n) => Promise.resolve(n.machine!.kv!.revision), (r) => {
      if (!r.ok) {
        this.#sim.at(20, () => this.#reload(w));
        return;
      }
      // The reloaded state stands for everything through R; the watch resumes after it.
      w.last = Math.max(w.last, r.value);
      this.#reloading.add(w);
      this.#subscribe(w, 'resume');
    });
  }

  #checkCompacted(w: Watcher, from: number, memberRevision: number, how: string): void {
    const ref = this.#ref;
    const limits = this.#sim.opts.kvMachine.history ?? {};
    const eventsMax = limits.eventsMax ?? 100_000;
    const bytesMax = limits.bytesMax ?? 32 * 1024 * 1024;
    if (ref.compactions.some((c) => c.revision <= memberRevision && c.to >= from)) return;
    // The history keeps at least its newest revision; past either limit the oldest go.
    const span = ref.span(from, memberRevision);
    if (span.events > eventsMax || span.bytes > bytesMax) return;
    throw new SafetyViolation(`${w.name}: ERR_COMPACTED for revision ${from} (${how}, at revision ${memberRevision}), but no compaction reached it and only ${span.events} events (${span.bytes} bytes) came after it, within the history's limits (${eventsMax} events, ${bytesMax} bytes)`);
  }

  #armStaleTimer(w: Watcher, s: Stream): void {
    this.#sim.at(this.#o.staleMs, () => {
      if (w.stream !== s || s.done) return;
      if (this.#sim.now - w.lastHeard < this.#o.staleMs) {
        this.#armStaleTimer(w, s);
        return;
      }
      // Nothing, not even progress: the member is stopped or cut off. Move on.
      this.stats.resumedAfterStall++;
      this.#leave(w, s);
      if (this.#running) this.#subscribe(w, w.last >= 0 ? 'resume' : 'now');
    });
  }

  /** The client lets go of the subscription and tells the member (which may never hear it). */
  #leave(w: Watcher, s: Stream): void {
    s.done = true;
    if (w.stream === s) w.stream = null;
    this.#sim.request(s.node, (n) => {
      if (n.epoch === s.epoch && s.hubId !== null) n.watches?.remove(s.hubId);
      return Promise.resolve(null);
    }, () => {});
  }

  #maybeMove(w: Watcher): void {
    if (!this.#running || w.retired) return;
    const s = w.stream;
    if (s !== null && !s.done && w.last > 0 && !this.#reloading.has(w) && this.#rng.nextInt(4) === 0) {
      // The client restarts from a checkpoint it saved a while ago: a new watcher from there.
      this.stats.restarts++;
      w.retired = true;
      this.#leave(w, s);
      const next = this.#newWatcher(this.#watchers.length);
      next.retryFrom = Math.max(1, w.last - this.#rng.nextInt(60));
      this.#watchers.push(next);
      this.#subscribe(next, 'resume');
      this.#sim.at(300 + this.#rng.nextInt(1200), () => this.#maybeMove(next));
      return;
    }
    if (s !== null && !s.done && w.last >= 0 && !this.#reloading.has(w)) {
      this.stats.moved++;
      this.#leave(w, s);
      this.#subscribe(w, 'resume');
    }
    this.#sim.at(300 + this.#rng.nextInt(1200), () => this.#maybeMove(w));
  }

  #crashed(node: string): void {
    for (const w of this.#watchers) {
      const s = w.stream;
      if (s === null || s.node !== node || s.done) continue;
      // The connection resets once what was already on the wire has arrived.
      const at = Math.max(s.lastArrival, this.#sim.now) + 1 + this.#rng.nextFloat() * 20;
      this.#sim.at(at - this.#sim.now, () => {
        if (w.stream !== s || s.done) return;
        s.done = true;
        w.stream = null;
        this.stats.resumedAfterCrash++;
        if (this.#running) this.#subscribe(w, w.last >= 0 ? 'resume' : 'now');
      });
    }
  }

  #compact(): void {
    if (!this.#running) return;
    const leader = this.#sim.leader();
    if (leader !== null && !this.#sim.paused(leader)) {
      const kv = this.#sim.kvOf(leader);
      const revision = Math.max(0, (kv?.revision ?? 0) - this.#rng.nextInt(30));
      if (revision > 0) {
        const data = encodeCommand({ timeMs: this.#sim.now, session: null, cmd: { op: 'compact', revision } });
        this.#sim.request(leader, (n) => n.driver!.propose(data), (r) => { if (r.ok && r.value.result?.op === 'compact') this.stats.compactions++; });
      }
    }
    this.#sim.at(this.#o.compactEveryMs * (0.5 + this.#rng.nextFloat()), () => this.#compact());
  }

  /** Checks every watcher's stream against the reference (call once the reference is complete). */
  check(): void {
    const ref = this.#ref;
    for (const w of this.#watchers) {
      for (const seg of w.segments) {
        if (seg.through > ref.revision) throw new SafetyViolation(`${seg.where}: told complete through ${seg.through}, beyond the ${ref.revision} entries committed`);
        for (const [rev] of seg.got) {
          if (rev < seg.from || rev > seg.through) throw new SafetyViolation(`${seg.where}: events of revision ${rev} outside its stretch [${seg.from}, ${seg.through}]`);
        }
        for (let rev = seg.from; rev <= seg.through; rev++) {
          const want = (ref.events.get(rev) ?? []).filter((e) => inRange(e.kv.key, w.spec.start, w.spec.end))
            .map((e) => (w.spec.prevValue || e.prev === null ? e : { type: e.type, kv: e.kv, prev: null }));
          const got = seg.got.get(rev) ?? [];
          const a = got.map(showEvent);
          const b = want.map(showEvent);
          if (a.length !== b.length || a.some((x, i) => x !== b[i])) {
            const what = got.length === 0 ? 'nothing' : `[${a.join('; ')}]`;
            throw new SafetyViolation(`${seg.where}: at revision ${rev} (in its stretch [${seg.from}, ${seg.through}]) it got ${what}, the applied history has [${b.join('; ')}]`);
          }
          this.stats.eventsChecked += got.length;
          this.stats.revisionsChecked++;
        }
      }
    }
  }
}

function showKv(kv: KeyValue): string {
  const v = typeof kv.value === 'string' ? JSON.stringify(kv.value) : `<${[...kv.value].join(',')}>`;
  return `${JSON.stringify(kv.key)}=${v} c${kv.createRevision} m${kv.modRevision} v${kv.version} l${kv.lease}`;
}

function showEvent(e: KvEvent): string {
  return `${e.type} ${showKv(e.kv)}${e.prev === null ? '' : ` prev ${showKv(e.prev)}`}`;
}
