// A simulated node's state machine, as the driver sees it: a hash of everything applied (so
// replicas can be compared cheaply), an optional key-value machine, and checks on each apply: in
// log order (raft mode) or never twice (parallel mode), never an entry other than the committed
// one, and no client request executed twice (exactly once).

import type { ReplicatedStateMachine } from '../../src/core/driver.ts';
import { decodeCommand } from '../../src/core/kv/command.ts';
import { KvMachine, type KvMachineOptions, type KvResult } from '../../src/core/kv/machine.ts';
import type { Entry } from '../../src/core/types.ts';
import { entryKey, type Checker } from './checker.ts';

export interface MachineState {
  applied: number;
  hash: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class SimMachine implements ReplicatedStateMachine<KvResult | null> {
  readonly id: string;
  sm: MachineState = { applied: 0, hash: 0 };
  /** Parallel mode: indexes applied above sm.applied (out of order). */
  appliedAboveSet = new Set<number>();
  kv: KvMachine | null;
  readonly #parallel: boolean;
  readonly #checker: Checker;
  readonly #onApply: (e: Entry, result: KvResult | null) => void;

  constructor(o: {
    id: string; parallel: boolean; checker: Checker; kv: KvMachineOptions | null;
    onApply: (e: Entry, result: KvResult | null) => void;
  }) {
    this.id = o.id;
    this.#parallel = o.parallel;
    this.#checker = o.checker;
    this.kv = o.kv === null ? null : new KvMachine({ ...o.kv, outOfOrder: o.parallel });
    this.#onApply = o.onApply;
  }

  get appliedIndex(): number {
    return this.sm.applied;
  }

  get appliedAbove(): number {
    return this.appliedAboveSet.size;
  }

  /** The driver hands parallel-mode entries with their header already stripped. */
  apply(e: Entry): KvResult | null {
    const c = this.#checker;
    c.apply(this.id, e, this.#parallel);
    if (this.#parallel) {
      if (e.index <= this.sm.applied || this.appliedAboveSet.has(e.index)) c.fail(`${this.id} applied ${e.index} twice`);
      this.appliedAboveSet.add(e.index);
      let applied = this.sm.applied;
      while (this.appliedAboveSet.delete(applied + 1)) applied++;
      // Order-independent: entries that touch different keys apply in any order.
      this.sm = { applied, hash: (this.sm.hash + hashString(entryKey(e))) >>> 0 };
    } else {
      if (e.index !== this.sm.applied + 1) c.fail(`${this.id} applied ${e.index} after ${this.sm.applied}`);
      this.sm = { applied: e.index, hash: mix(this.sm.hash, entryKey(e)) };
    }
    const result = this.kv?.apply(e) ?? null;
    if (result !== null && e.type === 'normal') this.#checkOnce(e, result);
    this.#onApply(e, result);
    return result;
  }

  /** A request executed here (its result carries this entry's index) must not have executed before. */
  #checkOnce(e: Entry, result: KvResult): void {
    if (result.op === 'register' || result.op === 'error' || result.index !== e.index) return;
    const s = decodeCommand(e.data).session;
    if (s !== null) this.#checker.executed(this.id, s.client, s.seq, e.index);
  }

  snapshot(): Uint8Array {
    const head = encoder.encode(JSON.stringify(this.sm));
    const kv = this.kv?.snapshot() ?? new Uint8Array(0);
    const out = new Uint8Array(4 + head.length + kv.length);
    new DataView(out.buffer).setUint32(0, head.length);
    out.set(head, 4);
    out.set(kv, 4 + head.length);
    return out;
  }

  restore(data: Uint8Array): void {
    const len = new DataView(data.buffer, data.byteOffset, data.byteLength).getUint32(0);
    this.sm = JSON.parse(decoder.decode(data.subarray(4, 4 + len))) as MachineState;
    this.appliedAboveSet = new Set();
    // The same machine object, as a peer keeps it: its watch hub and lease keeper stay attached.
    if (this.kv !== null) this.kv.restore(data.subarray(4 + len));
  }
}

export function mix(hash: number, key: string): number {
  let h = hash ^ 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 16777619);
  return h >>> 0;
}

export function hashString(s: string): number {
  return mix(0, s);
}
