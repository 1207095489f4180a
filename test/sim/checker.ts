// The simulator's safety checker, fed after every step: Election Safety, Log Matching, Leader
// Completeness, State Machine Safety, and that no entry ever reported committed is lost from
// the durable state of a quorum. A violation throws SafetyViolation with what broke.

import { decodeParallelData } from '../../src/core/parallel/header.ts';
import type { Entry } from '../../src/core/types.ts';

export class SafetyViolation extends Error {
  override readonly name = 'SafetyViolation';
}

export function entryKey(e: Entry): string {
  switch (e.type) {
    case 'noop': return 'noop';
    case 'config': return `config:${JSON.stringify(e.conf)}`;
    case 'normal': {
      let s = 'd:';
      for (const b of e.data) s += String.fromCharCode(b);
      return s;
    }
  }
}

interface Recorded {
  readonly term: number;
  /**
   * The lowest term of a node that reported it committed: at least the term it was committed in
   * (a report can come late, from a node that moved on). Leader Completeness speaks of entries
   * committed in earlier terms than the leader's.
   */
  commitTerm?: number;
  readonly key: string;
  /** Parallel mode: the key of the command alone (what a proposal's key names). */
  readonly payloadKey?: string;
  /** The node that first reported it committed. */
  readonly by?: string;
}

export class Checker {
  /** Parallel mode re-stamps merged entries: identity is the entry's bytes, not its term. */
  readonly #byContent: boolean;

  constructor(mode: 'raft' | 'parallel' = 'raft') {
    this.#byContent = mode === 'parallel';
  }

  /** term -> the one leader of that term. */
  readonly leaders = new Map<number, string>();
  /** "index/term" -> entry key and the term before it (Log Matching, by induction). */
  readonly #logMatch = new Map<string, { key: string; prevTerm: number }>();
  /** index -> the entry committed there (State Machine Safety and Leader Completeness). */
  readonly committed: Array<Recorded | undefined> = [];
  maxCommitted = 0;
  /** index -> entry applied there by anybody. */
  readonly #applied: Array<Recorded | undefined> = [];
  checks = 0;

  fail(what: string): never {
    throw new SafetyViolation(what);
  }

  leader(id: string, term: number): void {
    const prev = this.leaders.get(term);
    if (prev !== undefined && prev !== id) this.fail(`Election Safety: ${prev} and ${id} are both leaders of term ${term}`);
    this.leaders.set(term, id);
  }

  /** An entry now in `node`'s log at its index, preceded by an entry of `prevTerm` (-1: unknown). */
  logEntry(node: string, e: Entry, prevTerm: number): void {
    this.checks++;
    const k = `${e.index}/${e.term}`;
    const key = entryKey(e);
    const seen = this.#logMatch.get(k);
    if (seen === undefined) {
      this.#logMatch.set(k, { key, prevTerm });
      return;
    }
    if (seen.key !== key) this.fail(`Log Matching: ${node} holds ${key} at index ${e.index} term ${e.term}, another node holds ${seen.key}`);
    if (prevTerm !== -1 && seen.prevTerm !== -1 && seen.prevTerm !== prevTerm) {
      this.fail(`Log Matching: entry ${e.index}/${e.term} on ${node} follows term ${prevTerm}, elsewhere term ${seen.prevTerm}`);
    }
  }

  /** `node`, at term `nodeTerm`, considers `e` committed. */
  commit(node: string, e: Entry, nodeTerm = Infinity): void {
    this.checks++;
    const rec = this.committed[e.index];
    const key = entryKey(e);
    if (rec === undefined) {
      this.committed[e.index] = this.#byContent && e.type === 'normal'
        ? { term: e.term, commitTerm: nodeTerm, key, payloadKey: entryKey({ ...e, data: decodeParallelData(e).payload }), by: node }
        : { term: e.term, commitTerm: nodeTerm, key, by: node };
      if (e.index > this.maxCommitted) this.maxCommitted = e.index;
      return;
    }
    if (nodeTerm < (rec.commitTerm ?? Infinity)) rec.commitTerm = nodeTerm;
    if ((!this.#byContent && rec.term !== e.term) || rec.key !== key) {
      this.fail(`State Machine Safety: ${node} committed ${key} (term ${e.term}) at ${e.index}, but ${rec.key} (term ${rec.term}) was committed there`);
    }
  }

  /**
   * `node` applies `e`. In parallel mode the driver hands the state machine the command alone
   * (`payloadOnly`): it is compared with the committed entry's command.
   */
  apply(node: string, e: Entry, payloadOnly = false): void {
    this.checks++;
    const key = entryKey(e);
    const rec = this.#applied[e.index];
    if (rec === undefined) this.#applied[e.index] = { term: e.term, key };
    else if (rec.key !== key || (!this.#byContent && rec.term !== e.term)) {
      this.fail(`State Machine Safety: ${node} applied ${key} at ${e.index}, another node applied ${rec.key}`);
    }
    const c = this.committed[e.index];
    const committedKey = payloadOnly ? c?.payloadKey ?? c?.key : c?.key;
    if (c !== undefined && (committedKey !== key || (!this.#byContent && c.term !== e.term))) {
      this.fail(`State Machine Safety: ${node} applied ${key} at ${e.index} but ${committedKey} was committed there`);
    }
  }

  /** Where each client request (client/seq) executed: everywhere at one index, or it ran twice. */
  readonly #executed = new Map<string, number>();

  executed(node: string, client: number, seq: number, index: number): void {
    const id = `${client}/${seq}`;
    const before = this.#executed.get(id);
    if (before === undefined) this.#executed.set(id, index);
    else if (before !== index) this.fail(`exactly-once: ${node} executed request ${seq} of client ${client} at ${index}, and it executed at ${before} before`);
  }

  /** The index request `seq` of `client` executed at, if it did anywhere. */
  executedAt(client: number, seq: number): number | undefined {
    return this.#executed.get(`${client}/${seq}`);
  }

  /**
   * Leader Completeness: a leader's log holds every committed entry. `termAt` answers -1 for
   * indexes covered by its snapshot (`snapIndex`), which hold committed state by construction.
   */
  leaderComplete(id: string, term: number, snapIndex: number, termAt: (i: number) => number, entryAt?: (i: number) => Entry | undefined): void {
    for (let i = snapIndex + 1; i <= this.maxCommitted; i++) {
      const rec = this.committed[i];
      // Entries committed in this term or a later one (this leader's first Ready can be seen
      // late: it was stopped) are not its to hold.
      if (rec === undefined || (rec.commitTerm ?? 0) >= term) continue;
      if (this.#byContent && entryAt !== undefined) {
        const e = entryAt(i);
        const key = e === undefined ? 'nothing' : entryKey(e);
        if (key !== rec.key) this.fail(`Leader Completeness: ${id}, leader of term ${term} after its Merge stage, holds ${key.slice(0, 40)} at ${i} where ${rec.key.slice(0, 40)} was committed (term ${rec.term}, first seen committed by ${rec.by})`);
        continue;
      }
      const t = termAt(i);
      if (t !== rec.term) {
        this.fail(`Leader Completeness: ${id}, leader of term ${term}, has term ${t} at ${i} where term ${rec.term} was committed`);
      }
    }
  }
}
