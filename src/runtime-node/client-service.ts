// Answers client requests that arrive over the rpc channel: writes become log entries (batched by
// the driver, exactly once through client sessions), reads take the path their consistency asks
// for, and admin requests change membership or move leadership. Every answer goes back to the
// connection it came from; nothing a client sends is trusted before decodeRequest() passes it.

import { CodedError } from '../core/coded-error.ts';
import { RaftError } from '../core/errors.ts';
import { encodeCommand, type KvCommand, type SessionRef } from '../core/kv/command.ts';
import type { KvResult } from '../core/kv/machine.ts';
import type { ConfChange } from '../core/types.ts';
import {
  allowed, decodeRequest, encodeResponse, ProtocolError, type Consistency, type ErrorCode, type ErrorReply, type MembersAction, type ReadPath,
  type Reply, type Request,
} from '../client/protocol.ts';
import type { RaftDriver } from '../core/driver.ts';
import type { KvMachine } from '../core/kv/machine.ts';
import type { Logger, PeerRole } from '../transport/transport.ts';
import { memberKeyPrefix } from './member-keys.ts';
import type { PeerMetrics } from './peer-metrics.ts';

/** A learner this many entries behind the leader's commit index may not be promoted yet. */
export const promoteLagMax = 1000;

/** A refusal with the client protocol's code, answered as it is. */
class ServiceError extends CodedError<ErrorCode> {
  override readonly name = 'ServiceError';
}

function writeReply(r: KvResult): Reply {
  switch (r.op) {
    case 'put': return { kind: 'write', index: r.index, flag: null };
    case 'delete': return { kind: 'write', index: r.index, flag: r.existed };
    case 'cas': return { kind: 'write', index: r.index, flag: r.swapped };
    case 'error': throw new ServiceError(r.code === 'ERR_SESSION_EXPIRED' || r.code === 'ERR_SESSION_STALE' || r.code === 'ERR_OUTCOME_UNKNOWN' || r.code === 'ERR_LEASE_NOT_FOUND' || r.code === 'ERR_LEASE_EXISTS' || r.code === 'ERR_BAD_REQUEST' ? r.code : 'ERR_INTERNAL', r.message);
    default: throw new ServiceError('ERR_INTERNAL', `unexpected ${r.op} result`);
  }
}

/**
 * What the client service may use of its peer, and nothing more: the driver's client-facing
 * calls, the machine's reads, the metrics it counts, the reply channel, and the peer's fault
 * switches (honoured only with --faults).
 */
export interface ServiceHost {
  readonly id: string;
  readonly url: string;
  readonly mode: string;
  readonly startedAt: number;
  readonly log: Logger;
  readonly driver: Pick<RaftDriver<KvResult>, 'leader' | 'role' | 'node' | 'poke' | 'propose' | 'proposeConfChange' | 'read' | 'catchUp'>;
  readonly machine: Pick<KvMachine, 'get' | 'scan' | 'appliedIndex' | 'size' | 'sessions'>;
  readonly metrics: Pick<PeerMetrics, 'clientErrors' | 'clientRequests'>;
  /** A member's address, if known. */
  urlOf(id: string | null): string | null;
  /** Sends an answer on the rpc channel; false when it was dropped (gone, or over its queue limit). */
  reply(to: string, payload: Uint8Array): boolean;
  readonly faults: {
    readonly enabled: boolean;
    readonly blocked: readonly string[];
    block(ids: readonly string[]): void;
    delay(delays: ReadonlyArray<{ readonly type: string; readonly ms: number }>): void;
  };
}

export class ClientService {
  readonly #peer: ServiceHost;

  constructor(host: ServiceHost) {
    this.#peer = host;
  }

  readonly #requestCounters = new Map<string, (by?: number) => void>();

  #countRequest(op: string): void {
    let inc = this.#requestCounters.get(op);
    if (inc === undefined) {
      inc = this.#peer.metrics.clientRequests.child({ op });
      this.#requestCounters.set(op, inc);
    }
    inc();
  }

  handle(from: string, role: PeerRole, payloads: readonly Uint8Array[]): void {
    this.#peer.driver.catchUp();
    for (const p of payloads) void this.#one(from, role, p);
  }

  #one(from: string, role: PeerRole, payload: Uint8Array): void {
    let req: Request;
    try {
      req = decodeRequest(payload);
    } catch (err) {
      const e = err as ProtocolError;
      this.#peer.metrics.clientErrors.inc(1, { code: e.code });
      this.#send(from, { id: Math.max(e.id, 0), ok: false, error: { code: e.code, message: e.message, leader: null } });
      return;
    }
    this.#countRequest(req.op);
    if (!allowed(role, req.op)) {
      this.#fail(from, req.id, new ServiceError('ERR_FORBIDDEN', `a ${role} token may not ${req.op === 'register' ? 'write (it is read-only)' : req.op}`));
      return;
    }
    const id = req.id;
    // One promise chain per request (the hot path is one propose or one read, no async layers).
    let served: Promise<Reply>;
    try {
      served = this.#serve(req);
    } catch (err) {
      this.#fail(from, id, err);
      return;
    }
    served.then((reply) => this.#send(from, { id, ok: true, reply }), (err: unknown) => this.#fail(from, id, err));
  }

  #send(to: string, r: Parameters<typeof encodeResponse>[0]): void {
    if (!this.#peer.reply(to, encodeResponse(r))) {
      this.#peer.log('debug', `answer to ${to} dropped: not connected or over its queue limit`);
    }
  }

  #fail(to: string, id: number, err: unknown): void {
    const error = this.#errorReply(err);
    this.#peer.metrics.clientErrors.inc(1, { code: error.code });
    this.#send(to, { id, ok: false, error });
  }

  #errorReply(err: unknown): ErrorReply {
    const leaderId = this.#peer.driver.leader;
    const leader = leaderId !== null && leaderId !== this.#peer.id ? { id: leaderId, url: this.#peer.urlOf(leaderId) } : null;
    if (err instanceof ServiceError) return { code: err.code, message: err.message, leader };
    if (err instanceof RaftError) {
      const hint = err.leaderHint !== null && err.leaderHint !== this.#peer.id ? { id: err.leaderHint, url: this.#peer.urlOf(err.leaderHint) } : leader;
      switch (err.code) {
        case 'ERR_NOT_LEADER': return { code: 'ERR_NOT_LEADER', message: err.message, leader: hint };
        case 'ERR_PROPOSAL_DROPPED': return { code: 'ERR_PROPOSAL_DROPPED', message: err.message, leader: hint };
        case 'ERR_UNCOMMITTED_LIMIT': case 'ERR_READ_LIMIT': return { code: 'ERR_BUSY', message: err.message, leader };
        case 'ERR_TRANSFER_IN_PROGRESS': return { code: 'ERR_NOT_LEADER', message: err.message, leader: hint };
        case 'ERR_CONF_CHANGE_PENDING': case 'ERR_CONF_CHANGE_INVALID': return { code: 'ERR_CONF_CHANGE', message: err.message, leader };
        case 'ERR_PROPOSAL_TOO_LARGE': return { code: 'ERR_TOO_LARGE', message: err.message, leader };
        default: return { code: 'ERR_UNAVAILABLE', message: err.message, leader };
      }
    }
    this.#peer.log('error', `internal error answering a client: ${(err as Error)?.stack ?? String(err)}`);
    return { code: 'ERR_INTERNAL', message: 'internal error (see the peer log)', leader };
  }

  #serve(req: Request): Promise<Reply> {
    switch (req.op) {
      case 'put': return this.#write(req.key, { op: 'put', key: req.key, value: req.value }, req.session);
      case 'delete': return this.#write(req.key, { op: 'delete', key: req.key }, req.session);
      case 'cas': return this.#write(req.key, { op: 'cas', key: req.key, expected: req.expected, value: req.value }, req.session);
      case 'register':
        return this.#propose({ op: 'register' }, null).then((r) => {
          if (r.op !== 'register') throw new ServiceError('ERR_INTERNAL', 'register returned no session');
          return { kind: 'register', client: r.client };
        });
      case 'get': {
        const key = req.key;
        return this.#read(req.consistency, key).then((at) => ({ kind: 'read', index: at.index, path: at.path, value: this.#peer.machine.get(key) ?? null }));
      }
      case 'scan':
        return this.#read(req.consistency).then((at) => {
          const pairs = this.#peer.machine.scan({
            ...(req.prefix !== null ? { prefix: req.prefix } : {}), ...(req.start !== null ? { start: req.start } : {}),
            ...(req.end !== null ? { end: req.end } : {}), limit: req.limit ?? 10_000,
          }).filter(([k]) => !k.startsWith('\u0000'));
          return { kind: 'scan', index: at.index, path: at.path, pairs };
        });
      case 'status': return Promise.resolve({ kind: 'info', info: this.status() });
      case 'members': return this.#members(req.action, req.node, req.url).then((info) => ({ kind: 'info', info }));
      case 'fault': {
        if (!this.#peer.faults.enabled) throw new ServiceError('ERR_FORBIDDEN', 'fault injection is off: start the peer with --faults to allow it');
        this.#peer.faults.block(req.block);
        this.#peer.faults.delay(req.delays);
        return Promise.resolve({ kind: 'info', info: { blocked: [...req.block], delays: req.delays.map((d) => ({ ...d })) } });
      }
      case 'transfer': {
        this.#requireLeader();
        this.#peer.driver.poke((n) => n.transferLeadership(req.to));
        return Promise.resolve({ kind: 'info', info: { transferring: req.to } });
      }
      default:
        throw new ServiceError('ERR_BAD_REQUEST', `${req.op} is not served by this member yet`);
    }
  }

  #requireLeader(): void {
    if (this.#peer.driver.role !== 'leader') {
      throw new RaftError('ERR_NOT_LEADER', `${this.#peer.id} is not the leader`, this.#peer.driver.leader);
    }
  }

  #write(key: string, cmd: KvCommand, session: SessionRef | null): Promise<Reply> {
    if (key.startsWith('\u0000')) throw new ServiceError('ERR_BAD_REQUEST', 'keys starting with U+0000 are reserved');
    return this.#propose(cmd, session).then(writeReply);
  }

  /**
   * Proposes a client's command once. A peer never proposes a client's request again on its own
   * (not after a leader change, not after ERR_PROPOSAL_DROPPED): only the client resends, so every
   * application of a request went through an attempt the client made. The SDK's exactly-once
   * rule for an expired session relies on it (src/client/kv.ts, #write).
   */
  #propose(cmd: KvCommand, session: SessionRef | null): Promise<KvResult> {
    this.#requireLeader();
    return this.#peer.driver.propose(encodeCommand({ timeMs: Date.now(), session, cmd })).then(({ result }) => {
      if (result === null) throw new ServiceError('ERR_INTERNAL', 'the entry applied without a result');
      return result;
    });
  }

  /** `key`: the one key a get reads (parallel mode then waits only for the entries writing it). */
  #read(consistency: Consistency, key?: string): Promise<{ index: number; path: ReadPath }> {
    const k = key !== undefined ? { key } : {};
    switch (consistency) {
      case 'stale':
        return Promise.resolve({ index: this.#peer.machine.appliedIndex, path: 'stale' });
      case 'readindex':
      case 'lease':
        // These name a leader path: a follower sends the client to the leader.
        this.#requireLeader();
        return this.#peer.driver.read({ allowLease: consistency === 'lease', ...k });
      case 'linearizable':
      case 'follower':
        return this.#peer.driver.read(k);
    }
  }

  async #members(action: MembersAction, node: string | null, url: string | null): Promise<unknown> {
    const peer = this.#peer;
    if (action === 'list') return this.#memberList();
    this.#requireLeader();
    if (node === null) throw new ServiceError('ERR_BAD_REQUEST', `members ${action} needs a member id`);
    const st = peer.driver.node.status();
    // Changes are idempotent: a retry of a change that already took effect (say, the answer was
    // lost when a removed leader stopped) succeeds and says so.
    const isVoter = st.conf.voters.includes(node);
    const isLearner = st.conf.learners.includes(node);
    const done = (action === 'remove' && !isVoter && !isLearner) || (action === 'addVoter' && isVoter) ||
      (action === 'addLearner' && isLearner) || (action === 'promote' && isVoter);
    if (done) return { index: st.applied, members: this.#memberList(), unchanged: `${node} is already ${action === 'remove' ? 'not a member' : action === 'addLearner' ? 'a learner' : 'a voter'}` };
    let cc: ConfChange;
    switch (action) {
      case 'addVoter':
      case 'addLearner':
        if (url === null || !/^wss?:\/\/[^\s/]+(:\d+)?\/?$/.test(url)) throw new ServiceError('ERR_BAD_REQUEST', `members ${action} needs the new member's ws://host:port address`);
        // Its address first, so every member dials it before the change lands.
        await this.#propose({ op: 'put', key: `${memberKeyPrefix}${node}`, value: url }, null);
        cc = { type: action, node };
        break;
      case 'promote': {
        const pr = st.progress[node];
        if (pr === undefined || !pr.learner) throw new ServiceError('ERR_CONF_CHANGE', `${node} is not a learner`);
        const lag = st.commit - pr.match;
        if (lag > promoteLagMax) throw new ServiceError('ERR_CONF_CHANGE', `learner ${node} is ${lag} entries behind (at most ${promoteLagMax} to promote): retry once it caught up`);
        cc = { type: 'promoteLearner', node };
        break;
      }
      case 'remove':
        cc = { type: 'removeNode', node };
        break;
    }
    const index = await peer.driver.proposeConfChange(cc);
    if (action === 'remove') await this.#propose({ op: 'delete', key: `${memberKeyPrefix}${node}` }, null).catch(() => {});
    return { index, members: this.#memberList() };
  }

  #memberList(): unknown {
    const st = this.#peer.driver.node.status();
    const entry = (id: string, role: 'voter' | 'learner') => {
      const pr = st.progress[id];
      return { id, role, url: this.#peer.urlOf(id), ...(pr !== undefined ? { match: pr.match, lag: Math.max(0, st.commit - pr.match), state: pr.state } : {}) };
    };
    return { leader: st.leader, members: [...st.conf.voters.map((v) => entry(v, 'voter')), ...st.conf.learners.map((l) => entry(l, 'learner'))] };
  }

  /** This peer's view, for `edgeraft status`, the demo page and tests. */
  status(): unknown {
    const peer = this.#peer;
    const st = peer.driver.node.status();
    return {
      id: st.id, url: peer.url, role: st.role, term: st.term, leader: st.leader, leaderUrl: peer.urlOf(st.leader),
      commit: st.commit, applied: peer.machine.appliedIndex, firstIndex: st.firstIndex, lastIndex: st.lastIndex,
      logEntries: st.lastIndex - st.firstIndex + 1, keys: peer.machine.size, sessions: peer.machine.sessions,
      conf: st.conf, lease: st.leaseValid, mode: peer.mode, uptimeS: Math.round((Date.now() - peer.startedAt) / 1000),
      members: this.#memberList(), elections: st.stats.elections, leaderChanges: st.stats.leaderChanges,
      reorder: st.stats.reorder, blocked: peer.faults.blocked, faults: peer.faults.enabled,
    };
  }
}
