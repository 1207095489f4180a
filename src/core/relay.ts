// A follower that relays the log to observers (follower-readers such as browser tabs) that chose
// it instead of the leader, to take that load off the leader. It sends committed entries only
// (they never change, so the relay needs no say in the log), and passes the observers' read-index
// requests to the leader and the answers back.

import { RaftError } from './errors.ts';
import type { AppendRespMsg, HeartbeatRespMsg, ReadIndexMsg, ReadIndexRespMsg } from './message.ts';
import { Progress } from './progress.ts';
import type { Raft } from './raft.ts';
import * as repl from './replication.ts';
import type { NodeId, ReadContext } from './types.ts';

/** Read contexts the relay puts on forwarded reads; runtimes must not use this prefix. */
export const relayReadPrefix = '\u0000relay:';

interface RelayedRead {
  readonly observer: NodeId;
  readonly context: ReadContext;
  readonly tick: number;
}

export class RelayState {
  /** One per observer this follower relays to (created on first flush). */
  readonly progress = new Map<NodeId, Progress>();
  readonly reads = new Map<string, RelayedRead>();
  nextRead = 1;
  heartbeatElapsed = 0;
}

export function relaying(r: Raft): boolean {
  return r.role === 'follower' && r.cfg.relayObservers && r.observers.size > 0;
}

/** The relay's horizon: committed entries it holds. */
function relayLast(r: Raft): number {
  return Math.min(r.log.committed, r.log.lastIndex());
}

function progressFor(r: Raft, id: NodeId): Progress {
  let pr = r.relay.progress.get(id);
  if (pr === undefined) {
    pr = new Progress(relayLast(r) + 1, true, r.cfg.learnerInflightMsgsMax, r.cfg.inflightBytesMax);
    pr.recentActive = true;
    r.relay.progress.set(id, pr);
  }
  return pr;
}

export function flush(r: Raft): void {
  if (!relaying(r)) return;
  const last = relayLast(r);
  for (const id of r.observers) repl.flushTo(r, id, progressFor(r, id), last);
}

/** Whether flush() would send anything (hasReady() must agree with ready()). */
export function owes(r: Raft): boolean {
  if (!relaying(r)) return false;
  const last = relayLast(r);
  for (const id of r.observers) {
    const pr = r.relay.progress.get(id);
    // A fresh progress (next = last + 1, match 0) owes exactly a probe when there is a log.
    if (pr === undefined ? last > 0 : repl.owesTo(r, pr, last)) return true;
  }
  return false;
}

/** Follower ticks: heartbeats to observers (their liveness and commit notices), read expiry. */
export function tick(r: Raft): void {
  if (r.relay.reads.size > 0) {
    for (const [key, read] of r.relay.reads) {
      if (r.tickCount - read.tick < 2 * r.cfg.electionTicks) break;
      r.relay.reads.delete(key);
      r.dropRead(read.context, read.observer);
    }
  }
  if (!relaying(r) || ++r.relay.heartbeatElapsed < r.cfg.heartbeatTicks) return;
  r.relay.heartbeatElapsed = 0;
  for (const [id, pr] of r.relay.progress) {
    r.send({ type: 'hb', from: r.id, to: id, term: r.term, commit: Math.min(pr.match, r.log.committed), round: 0 });
  }
}

export function onAppendResponse(r: Raft, m: AppendRespMsg): void {
  const pr = r.relay.progress.get(m.from);
  if (pr !== undefined) repl.onAppendResponse(r, pr, m);
}

export function onHeartbeatResponse(r: Raft, m: HeartbeatRespMsg): void {
  const pr = r.relay.progress.get(m.from);
  if (pr !== undefined) repl.onHeartbeatResponse(r, pr);
}

/** An observer's read: ask the leader under a relay context, bounded by pendingReadsMax. */
export function forwardRead(r: Raft, m: ReadIndexMsg): void {
  if (!r.observers.has(m.from) || r.leader === null || r.relay.reads.size >= r.cfg.pendingReadsMax) {
    r.dropRead(m.context, m.from);
    return;
  }
  const key = `${relayReadPrefix}${r.relay.nextRead++}`;
  r.relay.reads.set(key, { observer: m.from, context: m.context, tick: r.tickCount });
  r.send({ type: 'readIndex', from: r.id, to: r.leader, term: r.term, context: key });
}

/** The leader's answer to a relayed read goes back to the observer; false if it was not relayed. */
export function onReadIndexResponse(r: Raft, m: ReadIndexRespMsg): boolean {
  if (typeof m.context !== 'string' || !m.context.startsWith(relayReadPrefix)) return false;
  const read = r.relay.reads.get(m.context);
  if (read === undefined) return true;
  r.relay.reads.delete(m.context);
  if (m.reject) r.dropRead(read.context, read.observer);
  else r.send({ type: 'readIndexResp', from: r.id, to: read.observer, term: r.term, context: read.context, index: m.index, reject: false });
  return true;
}

/** Leadership or term changed: observers probe afresh, reads in flight are refused (they retry). */
export function reset(r: Raft): void {
  r.relay.progress.clear();
  r.relay.heartbeatElapsed = 0;
  for (const read of r.relay.reads.values()) r.dropRead(read.context, read.observer);
  r.relay.reads.clear();
}

export function assertContext(context: ReadContext): void {
  if (typeof context === 'string' && context.startsWith(relayReadPrefix)) {
    throw new RaftError('ERR_CONFIG_INVALID', `read context ${JSON.stringify(context)} uses the reserved relay prefix`, null);
  }
}
