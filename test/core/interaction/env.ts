// The interaction environment behind testdata/*.txt (run.test.ts): RaftNodes n1..nN wired by hand
// to one fake clock, an in-memory store and a recording state machine each, and a network queue
// from which only what the script names is delivered. Each command returns the text it prints;
// the expected outputs in the scripts are the assertions. README.md lists the commands.

import { ManualClock } from '../../../src/core/clock.ts';
import type { KeysOf, RaftOptions } from '../../../src/core/config.ts';
import { RaftError } from '../../../src/core/errors.ts';
import { messageTypes, type Message, type MessageType } from '../../../src/core/message.ts';
import { logRulesFor } from '../../../src/core/modes.ts';
import { RaftNode } from '../../../src/core/node.ts';
import { SeededPrng } from '../../../src/core/prng.ts';
import { LogState } from '../../../src/core/store/log-state.ts';
import * as fmt from './format.ts';

type ScriptOptions = Omit<RaftOptions, 'id' | 'prng' | 'clock' | 'mode' | 'keysOf' | 'debugChecks'>;

/**
 * The core's defaults, except that elections need neither PreVote nor CheckQuorum (so a script
 * can campaign at once, without ticking past the voters' lease); scripts about leases turn them on.
 */
const envDefaults: ScriptOptions = { preVote: false, checkQuorum: false, leaseReads: false };

const utf8 = new TextDecoder();
const encoder = new TextEncoder();

/** ParallelRaft keys of a script's proposals: `k=v` writes key k; text without `=` may write anything. */
export const textKeysOf: KeysOf = (data) => {
  const text = utf8.decode(data);
  const eq = text.indexOf('=');
  return eq > 0 ? [text.slice(0, eq)] : null;
};

interface Peer {
  readonly node: RaftNode;
  /** What this node persisted: the same checks every real store makes. */
  readonly store: LogState;
  /** What its state machine applied, in apply order. */
  readonly applied: string[];
}

/** What a script sees change after each command (role changes, terms, leaders, commits, lease). */
interface View {
  readonly role: string;
  readonly term: number;
  readonly leader: string;
  readonly commit: string;
  readonly lease: string;
}

interface Selection {
  readonly match: (m: Message) => boolean;
  readonly max: number;
}

function parseValue(v: string): unknown {
  if (v === 'true' || v === 'false') return v === 'true';
  return /^-?\d+(\.\d+)?$/.test(v) ? Number(v) : v;
}

/** A count or a number of milliseconds in a script: a typo must fail, not turn into NaN. */
function whole(v: string): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`expected a whole number, got ${JSON.stringify(v)}`);
  return n;
}

function seedOf(id: string): number {
  return [...id].reduce((s, ch) => (s * 31 + ch.charCodeAt(0)) >>> 0, 7);
}

export class InteractionEnv {
  readonly clock = new ManualClock();
  readonly #peers = new Map<string, Peer>();
  #voters: string[] = [];
  #parallel = false;
  #options: ScriptOptions = envDefaults;
  /** Sent and not yet delivered or dropped, in send order. */
  #queue: Message[] = [];

  /** Runs one command line; returns its output ('ok' when it printed nothing). */
  run(line: string): string {
    const [cmd = '', ...args] = line.trim().split(/\s+/);
    if (this.#peers.size === 0 && cmd !== 'cluster') this.#build([]);
    const before = this.#views();
    const out: string[] = [];
    try {
      this.#dispatch(cmd, args, out);
    } catch (e) {
      // Operating errors are part of the protocol's answer; anything else is a broken invariant.
      if (!(e instanceof RaftError)) throw e;
      out.push(`error ${e.code}: ${e.message}`);
    }
    out.push(...this.#changes(before));
    return out.length === 0 ? 'ok' : out.join('\n');
  }

  #dispatch(cmd: string, args: string[], out: string[]): void {
    const ids = () => (args.length === 0 || args[0] === 'all' ? [...this.#peers.keys()] : args);
    switch (cmd) {
      case 'cluster': out.push(this.#build(args)); return;
      case 'tick': {
        const count = whole(args[1] ?? '1');
        const targets = args[0] === 'all' ? [...this.#peers.keys()] : [this.#arg(args, 0)];
        for (const id of targets) for (let i = 0; i < count; i++) this.#node(id).tick();
        return;
      }
      case 'campaign': this.#node(this.#arg(args, 0)).campaign(); return;
      case 'propose': {
        const r = this.#node(this.#arg(args, 0)).propose(encoder.encode(args.slice(1).join(' ')));
        out.push(`proposed ${r.firstIndex}/${r.term}`);
        return;
      }
      case 'read': {
        const path = args[2] ?? 'lease';
        if (path !== 'lease' && path !== 'readindex') throw new Error(`read: path must be lease or readindex, got ${path}`);
        this.#node(this.#arg(args, 0)).readIndex(this.#arg(args, 1), { allowLease: path === 'lease' });
        return;
      }
      case 'readable': {
        // What a runtime asks before serving a per-key read (ParallelRaft) at a read index it holds.
        const [id, key, index] = [this.#arg(args, 0), this.#arg(args, 1), whole(this.#arg(args, 2))];
        const node = this.#node(id);
        out.push(`${id} readable ${key}@${index}: ${node.keyReadable(key, index) ? 'yes' : 'no'} (applied ${node.appliedIndex})`);
        return;
      }
      case 'transfer': this.#node(this.#arg(args, 0)).transferLeadership(this.#arg(args, 1)); return;
      case 'restart': out.push(this.#restart(this.#arg(args, 0), args[1])); return;
      case 'add-observer': {
        const o = this.#arg(args, 1);
        if (!this.#peers.has(o)) this.#spawn(o);
        this.#node(this.#arg(args, 0)).addObserver(o);
        return;
      }
      case 'process-ready': for (const id of ids()) this.#processReady(id, out); return;
      case 'deliver': this.#take(this.#select(args), 'deliver', out); return;
      case 'drop': this.#take(this.#select(args), 'drop', out); return;
      case 'advance-clock': this.clock.advance(whole(this.#arg(args, 0))); return;
      case 'stabilize': this.#stabilize(ids(), out); return;
      case 'status': for (const id of ids()) out.push(...fmt.status(this.#node(id))); return;
      case 'log': for (const id of ids()) out.push(fmt.log(this.#node(id))); return;
      case 'applied': for (const id of ids()) out.push(`${id} applied: ${this.#peer(id).applied.join(', ') || '(nothing)'}`); return;
      case 'queue': out.push(...(this.#queue.length === 0 ? ['(no messages)'] : this.#queue.map((m) => this.#show(m)))); return;
      default: throw new Error(`unknown command ${JSON.stringify(cmd)}`);
    }
  }

  #arg(args: readonly string[], i: number): string {
    const a = args[i];
    if (a === undefined) throw new Error(`missing argument ${i + 1}`);
    return a;
  }

  // ---- building ------------------------------------------------------------------------------

  /** `cluster [n=3] [mode=raft|parallel] [option=value ...]`: a fresh cluster of voters n1..nN. */
  #build(args: readonly string[]): string {
    let n = 3;
    const overrides: Record<string, unknown> = {};
    this.#parallel = false;
    for (const a of args) {
      const [k = '', v = ''] = a.split('=');
      if (k === 'n') n = whole(v);
      else if (k === 'mode') this.#parallel = v === 'parallel';
      else overrides[k] = parseValue(v);
    }
    this.#options = { ...envDefaults, ...overrides } as ScriptOptions;
    this.#peers.clear();
    this.#queue = [];
    this.#voters = Array.from({ length: n }, (_, i) => `n${i + 1}`);
    for (const id of this.#voters) this.#spawn(id);
    const opts = Object.entries(this.#options).map(([k, v]) => `${k}=${String(v)}`).join(' ');
    return `voters ${this.#voters.join(',')} mode=${this.#parallel ? 'parallel' : 'raft'} ${opts}`;
  }

  /** A node of this cluster: a voter, or an observer (its bootstrap membership leaves it out). */
  #spawn(id: string): void {
    const mode = this.#parallel ? { mode: 'parallel' as const, keysOf: textKeysOf } : {};
    const node = new RaftNode({
      options: { ...this.#options, ...mode, id, prng: new SeededPrng(seedOf(id)), clock: this.clock, debugChecks: true },
      bootstrap: { voters: this.#voters, learners: [] },
    });
    this.#peers.set(id, { node, store: new LogState(logRulesFor(this.#parallel ? 'parallel' : 'raft')), applied: [] });
  }

  /**
   * `restart n1 [commit=N]`: the process dies and comes back from what its store holds. Messages
   * on their way to it are lost; its state machine starts empty and applies the committed log
   * again. `commit=N`: the store lost the commit index written after N (a runtime may write a
   * Ready that only moves the commit without syncing it).
   */
  #restart(id: string, commitArg?: string): string {
    const { store } = this.#peer(id);
    const loaded = store.loaded();
    let restore = loaded;
    if (commitArg !== undefined) {
      const [k, v = ''] = commitArg.split('=');
      const commit = whole(v);
      if (k !== 'commit' || commit > loaded.hardState.commit || commit < (loaded.snapshot?.meta.index ?? 0)) {
        throw new Error(`restart: expected commit=N between the snapshot and the stored commit ${loaded.hardState.commit}, got ${commitArg}`);
      }
      restore = { ...loaded, hardState: { ...loaded.hardState, commit } };
    }
    const mode = this.#parallel ? { mode: 'parallel' as const, keysOf: textKeysOf } : {};
    const node = new RaftNode({
      options: { ...this.#options, ...mode, id, prng: new SeededPrng(seedOf(id) + 1), clock: this.clock, debugChecks: true },
      bootstrap: { voters: this.#voters, learners: [] },
      restore,
    });
    const lost = this.#queue.filter((m) => m.to === id).length;
    this.#queue = this.#queue.filter((m) => m.to !== id);
    this.#peers.set(id, { node, store, applied: [] });
    return `${id} restarted from its store (${lost} messages to it lost)`;
  }

  #peer(id: string): Peer {
    const p = this.#peers.get(id);
    if (p === undefined) throw new Error(`no node ${id}`);
    return p;
  }

  #node(id: string): RaftNode {
    return this.#peer(id).node;
  }

  #show(m: Message): string {
    return fmt.message(this.#node(m.from), m);
  }

  // ---- the Ready cycle -----------------------------------------------------------------------

  /**
   * Takes one Ready of `id` as a runtime would: persist (the store checks the batch), queue its
   * messages (those after persist too: the write is already durable), apply, advance.
   */
  #processReady(id: string, out: string[]): boolean {
    const { node, store, applied } = this.#peer(id);
    if (!node.hasReady()) return false;
    const rd = node.ready();
    out.push(`${id} ready:`);
    const hs = rd.hardState;
    if (hs !== null) out.push(`  hardState: term=${hs.term} vote=${hs.vote ?? '-'} commit=${hs.commit}`);
    if (rd.snapshot !== null) out.push(`  snapshot: ${rd.snapshot.meta.index}/${rd.snapshot.meta.term}`);
    if (rd.entries.length > 0) out.push(`  entries: ${fmt.entries(node, rd.entries)}`);
    if (rd.fills.length > 0) out.push(`  fills: ${fmt.entries(node, rd.fills)}`);
    for (const m of rd.messages) out.push(`  send: ${this.#show(m)}`);
    for (const m of rd.messagesAfterPersist) out.push(`  send after persist: ${this.#show(m)}`);
    const batch = { snapshot: rd.snapshot, entries: rd.entries, fills: rd.fills, hardState: hs };
    store.checkBatch(batch);
    store.applyBatch(batch);
    this.#queue.push(...rd.messages, ...rd.messagesAfterPersist);
    if (rd.snapshot !== null) applied.splice(0, applied.length, `snapshot ${rd.snapshot.meta.index}`);
    if (rd.committedEntries.length > 0) {
      const es = rd.committedEntries.map((e) => fmt.entry(node, e));
      applied.push(...es);
      out.push(`  apply: ${es.join(', ')}`);
    }
    for (const rs of rd.readStates) out.push(`  read: ctx=${fmt.context(rs.context)} index=${rs.index} path=${rs.path}`);
    if (rd.droppedReads.length > 0) out.push(`  dropped reads: ${rd.droppedReads.map(fmt.context).join(', ')}`);
    node.advance(rd);
    return true;
  }

  /** Readies and deliveries among `ids` until none has anything to do (messages to others wait). */
  #stabilize(ids: readonly string[], out: string[]): void {
    const among = new Set(ids);
    for (let round = 0; round < 100; round++) {
      let busy = false;
      for (const id of ids) busy = this.#processReady(id, out) || busy;
      busy = this.#take({ match: (m) => among.has(m.from) && among.has(m.to), max: Infinity }, 'deliver', out) > 0 || busy;
      if (!busy) return;
    }
    throw new Error('stabilize: still busy after 100 rounds');
  }

  // ---- the network ---------------------------------------------------------------------------

  /**
   * `[from->to ...] [type ...] [entry=N] [max=K]`: a message matches one of the links (either end
   * may be `*`) and one of the types; `entry=N` picks appends that carry entry N; `max=K` takes
   * only the first K that match (in send order).
   */
  #select(args: readonly string[]): Selection {
    const links: [string, string][] = [];
    const types = new Set<MessageType>();
    let entry: number | null = null;
    let max = Infinity;
    for (const a of args) {
      const link = /^(\S+)->(\S+)$/.exec(a);
      if (link !== null) links.push([link[1]!, link[2]!]);
      else if (a.startsWith('entry=')) entry = whole(a.slice(6));
      else if (a.startsWith('max=')) max = whole(a.slice(4));
      else if ((messageTypes as readonly string[]).includes(a)) types.add(a as MessageType);
      else throw new Error(`not a message selector: ${a}`);
    }
    return {
      max,
      match: (m) => (links.length === 0 || links.some(([f, t]) => (f === '*' || m.from === f) && (t === '*' || m.to === t))) &&
        (types.size === 0 || types.has(m.type)) &&
        (entry === null || (m.type === 'app' && m.entries.some((e) => e.index === entry))),
    };
  }

  /** Delivers (steps into the recipient) or drops what `sel` picks; returns how many. */
  #take(sel: Selection, verb: 'deliver' | 'drop', out: string[]): number {
    const picked: Message[] = [];
    const rest: Message[] = [];
    for (const m of this.#queue) (picked.length < sel.max && sel.match(m) ? picked : rest).push(m);
    this.#queue = rest;
    for (const m of picked) {
      out.push(`${verb}: ${this.#show(m)}`);
      if (verb === 'deliver') this.#node(m.to).step(m);
    }
    return picked.length;
  }

  // ---- what changed --------------------------------------------------------------------------

  #views(): Map<string, View> {
    const views = new Map<string, View>();
    for (const [id, { node }] of this.#peers) {
      const s = node.status();
      const above = s.committedAbove.length > 0 ? `+[${s.committedAbove.join(',')}]` : '';
      views.set(id, { role: s.role, term: s.term, leader: s.leader ?? '-', commit: `${s.commit}${above}`, lease: s.leaseValid ? 'on' : 'off' });
    }
    return views;
  }

  /** `n1: role candidate -> leader; leader - -> n1` for every node whose view changed. */
  #changes(before: Map<string, View>): string[] {
    const out: string[] = [];
    for (const [id, now] of this.#views()) {
      const was = before.get(id);
      if (was === undefined) continue;
      const diff: string[] = [];
      for (const k of ['role', 'term', 'leader', 'commit', 'lease'] as const) {
        if (was[k] !== now[k]) diff.push(`${k} ${was[k]} -> ${now[k]}`);
      }
      if (diff.length > 0) out.push(`${id}: ${diff.join('; ')}`);
    }
    return out;
  }
}
