// Answers client requests that arrive over the rpc channel: writes become log entries (batched by
// the driver, exactly once through client sessions), reads take the path their consistency asks
// for, lease keep-alives are answered by the leader from memory, watches stream this member's
// events to the connection that asked until it cancels or goes, and admin requests change
// membership or move leadership. Every answer goes back to the connection it came from; nothing a
// client sends is trusted before decodeRequest() passes it and the checks here (authorize.ts: the
// token's role, key scopes, lease ownership and revocation).

import { CodedError } from '../core/coded-error.ts';
import { RaftError } from '../core/errors.ts';
import { encodeCommand, type KvCommand, type SessionRef, type TxnOp } from '../core/kv/command.ts';
import { isReserved, type ByteKey } from '../core/kv/keys.ts';
import { LeaseError, type LeaseKeeper } from '../core/kv/lease-keeper.ts';
import type { KvErrorCode, KvResult } from '../core/kv/machine.ts';
import { WatchError, type WatchHub } from '../core/kv/watch-hub.ts';
import type { ConfChange } from '../core/types.ts';
import {
  decodeRequest, encodeResponse, protocolDefaults, ProtocolError, type Consistency, type ErrorCode, type ErrorReply, type MembersAction,
  type ReadPath, type Reply, type Request,
} from '../client/protocol.ts';
import type { RaftDriver } from '../core/driver.ts';
import type { KvMachine } from '../core/kv/machine.ts';
import type { Logger } from '../transport/transport.ts';
import { authorize, checkLeaseOwner, checkToken, ForbiddenError, type AuthContext } from './authorize.ts';
import type { ClientAuth } from './client-auth.ts';
import { showKey } from './scopes.ts';
import { memberKeyPrefix } from './member-keys.ts';
import { BackupError, BackupService, type BackupSource } from './backup-service.ts';
import type { PeerMetrics } from './peer-metrics.ts';
import { watchDetail, WatchRequestError, WatchStreams } from './watch-streams.ts';

/** Requests answered from this member's state, checked again for revocation once it is read. */
const readOps: ReadonlySet<Request['op']> = new Set(['get', 'scan', 'range', 'leaseInfo']);

/** A learner this many entries behind the leader's commit index may not be promoted yet. */
export const promoteLagMax = 1000;

/** A refusal with the client protocol's code, answered as it is. */
class ServiceError extends CodedError<ErrorCode> {
  override readonly name = 'ServiceError';
}

/** Every refusal of the machine has the protocol code of the same name (this fails to compile if not). */
const protocolCode = (c: KvErrorCode): ErrorCode => c;

type Applied = Exclude<KvResult, { op: 'error' }>;
type KvRequest = Extract<Request, { op: 'range' | 'deleteRange' | 'txn' | 'leaseGrant' | 'leaseRevoke' | 'leaseKeepAlive' | 'leaseInfo' | 'compact' }>;

/** The machine's answer, or its refusal thrown as the protocol error of the same code. */
function applied(r: KvResult): Applied {
  if (r.op === 'error') throw new ServiceError(protocolCode(r.code), r.message);
  return r;
}

function unexpected(r: KvResult): never {
  throw new ServiceError('ERR_INTERNAL', `unexpected ${r.op} result`);
}

function writeReply(result: KvResult): Reply {
  const r = applied(result);
  switch (r.op) {
    case 'put': return { kind: 'write', index: r.index, flag: null };
    case 'delete': return { kind: 'write', index: r.index, flag: r.existed };
    case 'cas': return { kind: 'write', index: r.index, flag: r.swapped };
    default: return unexpected(r);
  }
}

function refuseReserved(k: ByteKey, what: string): void {
  if (isReserved(k)) throw new ServiceError('ERR_BAD_REQUEST', `${what} ${showKey(k)} starts with byte 0x00: those keys are reserved for the cluster`);
}

/**
 * A transaction branch as etcd checks it: no reserved key written, no key written by two of its
 * operations (a put and another put, or a put inside a delete's range), range limits within
 * scanLimitMax (none given: scanLimitMax). Returns the branch to log.
 */
export function checkTxnBranch(ops: readonly TxnOp[], branch: 'success' | 'failure', scanLimitMax = protocolDefaults.scanLimitMax): TxnOp[] {
  const puts = new Set<ByteKey>();
  const deleted: Array<readonly [ByteKey, ByteKey | null]> = [];
  const out = ops.map((o, i): TxnOp => {
    const what = `txn ${branch} operation ${i} (${o.op})`;
    switch (o.op) {
      case 'put':
        refuseReserved(o.key, `${what}: key`);
        if (puts.has(o.key)) throw new ServiceError('ERR_BAD_REQUEST', `duplicate key given in txn request: ${what} puts ${showKey(o.key)}, which an earlier put of the ${branch} branch writes too`);
        puts.add(o.key);
        return o;
      case 'delete':
        refuseReserved(o.key, `${what}: key`);
        deleted.push([o.key, `${o.key}\u0000`]);
        return o;
      case 'deleteRange':
        if (o.start.length > 0) refuseReserved(o.start, `${what}: range start`);
        deleted.push([o.start, o.end]);
        return o;
      case 'range':
        if (o.limit > scanLimitMax) throw new ServiceError('ERR_BAD_REQUEST', `${what}: limit ${o.limit} is over scanLimitMax (${scanLimitMax})`);
        return o.limit === 0 ? { ...o, limit: scanLimitMax } : o;
      case 'get':
        return o;
    }
  });
  for (const k of puts) {
    for (const [start, end] of deleted) {
      if (k >= start && (end === null || k < end)) {
        throw new ServiceError('ERR_BAD_REQUEST', `duplicate key given in txn request: the ${branch} branch both puts and deletes ${showKey(k)}`);
      }
    }
  }
  return out;
}

/** The service's own limits (peer-options.ts names and checks them). */
export interface ServiceLimits {
  readonly leaseTtlMinMs: number;
  readonly leaseTtlMaxMs: number;
  /** Leases at once (granted plus grants in flight here). */
  readonly leasesMax: number;
  readonly watchersPerConnectionMax: number;
  /** The longest token lifetime (expiry less issue time) accepted; revocations by subject last this long. */
  readonly tokenTtlMaxMs: number;
  /**
   * Whether token lifetimes are checked against tokenTtlMaxMs: not on an insecure member, which
   * verifies no token (anyone may state any claims there; the SDK's own token never expires).
   * Absent: checked.
   */
  readonly tokenTtlChecked?: boolean;
}

/**
 * What the client service may use of its peer, and nothing more: the driver's client-facing
 * calls, the machine's reads, the watch hub and lease keeper, the metrics it counts, the reply
 * channel, its limits, and the peer's fault switches (honoured only with --faults).
 */
export interface ServiceHost {
  readonly id: string;
  readonly url: string;
  readonly mode: string;
  readonly startedAt: number;
  readonly log: Logger;
  readonly driver: Pick<RaftDriver<KvResult>, 'leader' | 'role' | 'node' | 'poke' | 'propose' | 'proposeConfChange' | 'read' | 'catchUp'>;
  readonly machine: Pick<KvMachine, 'get' | 'scan' | 'range' | 'lease' | 'leaseCount' | 'appliedIndex' | 'revision' | 'history' | 'size' | 'sessions' | 'revocation'>;
  readonly metrics: Pick<PeerMetrics, 'clientErrors' | 'clientRequests' | 'watchEventsSent' | 'watchCancelled'>;
  /** This member's watchers (on its own machine: followers and learners serve them too). */
  readonly watches: Pick<WatchHub, 'add' | 'remove' | 'size'>;
  /** The lease clocks (kept by the leader). */
  readonly leases: Pick<LeaseKeeper, 'keepAlive' | 'remainingMs'>;
  readonly limits: ServiceLimits;
  /** A member's address, if known. */
  urlOf(id: string | null): string | null;
  /** Sends an answer on the rpc channel; false when it was dropped (gone, or over its queue limit). */
  reply(to: string, payload: Uint8Array): boolean;
  /** What online backups read (backup-service.ts). */
  readonly backup: BackupSource;
  readonly faults: {
    readonly enabled: boolean;
    readonly blocked: readonly string[];
    block(ids: readonly string[]): void;
    delay(delays: ReadonlyArray<{ readonly type: string; readonly ms: number }>): void;
  };
}

export class ClientService {
  readonly #peer: ServiceHost;
  readonly #watches: WatchStreams;
  /** Lease grants proposed here and not answered yet (they count against leasesMax). */
  #granting = 0;
  readonly #backups: BackupService;

  /** What authorize() reads of this member. */
  readonly #authContext: AuthContext;

  constructor(host: ServiceHost) {
    this.#peer = host;
    this.#authContext = {
      leaseOwner: (id) => host.machine.lease(id)?.owner,
      revocation: (t) => host.machine.revocation(t),
      tokenTtlMaxMs: host.limits.tokenTtlChecked !== false ? host.limits.tokenTtlMaxMs : null,
    };
    this.#backups = new BackupService(host.backup, host.log);
    this.#watches = new WatchStreams(host);
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

  /** Requests from connection `from`, made with `auth` (its token's, or a peer's). */
  handle(from: string, auth: ClientAuth, payloads: readonly Uint8Array[]): void {
    this.#peer.driver.catchUp();
    for (const p of payloads) void this.#one(from, auth, p);
  }

  #one(from: string, auth: ClientAuth, payload: Uint8Array): void {
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
    const id = req.id;
    try {
      authorize(auth, req, this.#authContext);
    } catch (err) {
      this.#fail(from, id, err);
      return;
    }
    // One promise chain per request (the hot path is one propose or one read, no async layers).
    let served: Promise<Reply>;
    try {
      if (req.op === 'watch') {
        // A stream: its messages (and its end) go out as they come, from the watcher's sink.
        this.#watches.start(from, req);
        return;
      }
      served = this.#serve(req, from, auth);
    } catch (err) {
      this.#fail(from, id, err);
      return;
    }
    if (readOps.has(req.op) && auth.sub !== null) {
      // A read waits until this member applied through its read index: a revocation committed
      // before the read began has applied here by then, so a follower refuses the token too.
      served = served.then((reply) => {
        checkToken(auth, this.#authContext);
        return reply;
      });
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
    if (err instanceof ServiceError || err instanceof ForbiddenError || err instanceof WatchRequestError) return { code: err.code, message: err.message, leader };
    if (err instanceof BackupError) return { code: err.code, message: err.message, leader };
    if (err instanceof LeaseError) return { code: err.code, message: err.message, leader };
    if (err instanceof WatchError) return { code: err.code, message: err.message, leader, ...watchDetail(err) };
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

  #serve(req: Exclude<Request, { op: 'watch' }>, from: string, auth: ClientAuth): Promise<Reply> {
    switch (req.op) {
      case 'put':
        return this.#write(req.key, req.lease !== 0 ? { op: 'put', key: req.key, value: req.value, lease: req.lease } : { op: 'put', key: req.key, value: req.value }, req.session);
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
      case 'range': case 'deleteRange': case 'txn': case 'leaseGrant': case 'leaseRevoke': case 'leaseKeepAlive': case 'leaseInfo': case 'compact':
        return this.#serveKv(req, auth);
      case 'tokenRevoke': return this.#revokeTokens(req);
      case 'watchCancel': return Promise.resolve({ kind: 'info', info: { watch: req.watch, cancelled: this.#watches.cancel(from, req.watch) } });
      case 'status': return Promise.resolve({ kind: 'info', info: this.status() });
      case 'members': return this.#members(req.action, req.node, req.url).then((info) => ({ kind: 'info', info }));
      case 'fault': {
        if (!this.#peer.faults.enabled) throw new ServiceError('ERR_FORBIDDEN', 'fault injection is off: start the peer with --faults to allow it');
        this.#peer.faults.block(req.block);
        this.#peer.faults.delay(req.delays);
        return Promise.resolve({ kind: 'info', info: { blocked: [...req.block], delays: req.delays.map((d) => ({ ...d })) } });
      }
      case 'backup': return this.#backups.serve(from, req);
      case 'transfer': {
        this.#requireLeader();
        this.#peer.driver.poke((n) => n.transferLeadership(req.to));
        return Promise.resolve({ kind: 'info', info: { transferring: req.to } });
      }
    }
  }

  /** Ranges, range deletes, transactions, leases and compaction. */
  #serveKv(req: KvRequest, auth: ClientAuth): Promise<Reply> {
    switch (req.op) {
      case 'range': return this.#range(req);
      case 'deleteRange':
        if (req.start.length > 0) refuseReserved(req.start, 'deleteRange start');
        return this.#apply({ op: 'deleteRange', start: req.start, end: req.end }, req.session, 'deleteRange', (r) => ({ kind: 'deleted', index: r.index, deleted: r.deleted }));
      case 'txn': {
        const cmd: KvCommand = { op: 'txn', compare: req.compare, success: checkTxnBranch(req.success, 'success'), failure: checkTxnBranch(req.failure, 'failure') };
        return this.#apply(cmd, req.session, 'txn', (r) => ({ kind: 'txn', index: r.index, succeeded: r.succeeded, results: r.results }));
      }
      // A lease granted with a scoped token belongs to its subject (authorize.ts checks every
      // later use); one granted for the whole keyspace belongs to no tenant.
      case 'leaseGrant': return this.#grant(req.lease, req.ttlMs, auth.scopes !== null ? auth.sub ?? '' : '', req.session);
      case 'leaseRevoke':
        return this.#apply({ op: 'leaseRevoke', id: req.lease }, req.session, 'leaseRevoke', (r) => ({ kind: 'deleted', index: r.index, deleted: r.deleted }));
      case 'leaseKeepAlive':
        // Leader only: the keeper refuses on a follower with ERR_NOT_LEADER and the leader's id.
        return this.#peer.leases.keepAlive(req.lease).then((r) => ({ kind: 'lease', index: this.#peer.machine.revision, lease: r.id, ttlMs: r.ttlMs }));
      case 'leaseInfo': {
        const id = req.lease;
        return this.#read(req.consistency).then((at) => {
          const l = this.#peer.machine.lease(id);
          if (l === undefined) throw new ServiceError('ERR_LEASE_NOT_FOUND', `lease ${id} does not exist (never granted, revoked, or expired)`);
          // Checked again on the state read: a follower may not have had the lease before it.
          checkLeaseOwner(auth, id, l.owner, 'leaseInfo');
          return { kind: 'leaseInfo', index: this.#servedAt(at.index), lease: l.id, ttlMs: l.ttlMs, remainingMs: roundMs(this.#peer.leases.remainingMs(l.id)), keys: l.keys };
        });
      }
      case 'compact':
        return this.#apply({ op: 'compact', revision: req.revision }, null, 'compact', (r) => ({ kind: 'compact', index: r.index, compactRevision: r.compactRevision }));
    }
  }

  /**
   * Revokes through the log. A subject's revocation is kept for the longest token lifetime this
   * member accepts: by then every token the subject was issued until now has expired. A token id's
   * is kept until that token's expiry when the caller knows it (never longer than the former).
   */
  #revokeTokens(req: Extract<Request, { op: 'tokenRevoke' }>): Promise<Reply> {
    const revokedAtMs = Date.now();
    const latestMs = revokedAtMs + this.#peer.limits.tokenTtlMaxMs;
    const untilMs = req.by === 'jti' && req.expMs !== null ? Math.min(req.expMs, latestMs) : latestMs;
    return this.#apply({ op: 'tokenRevoke', by: req.by, name: req.name, revokedAtMs, untilMs }, null, 'tokenRevoke', (r) => ({
      kind: 'info', info: { by: req.by, name: req.name, revokedAtMs, untilMs, index: r.index, revocations: r.revocations },
    }));
  }

  /** Proposes `cmd` and answers from its result, which must be of kind `op` (a refusal is thrown with its code). */
  #apply<O extends Applied['op']>(cmd: KvCommand, session: SessionRef | null, op: O, reply: (r: Extract<Applied, { op: O }>) => Reply): Promise<Reply> {
    return this.#propose(cmd, session).then((result) => {
      const r = applied(result);
      return r.op === op ? reply(r as Extract<Applied, { op: O }>) : unexpected(r);
    });
  }

  /**
   * The revision a read was served at: the machine's, which is at least the read's index (a
   * watch from the revision after it misses nothing and repeats nothing).
   */
  #servedAt(readIndex: number): number {
    return Math.max(readIndex, this.#peer.machine.revision);
  }

  #range(req: Extract<Request, { op: 'range' }>): Promise<Reply> {
    const limit = req.limit ?? protocolDefaults.scanLimitMax;
    return this.#read(req.consistency).then((at) => {
      const kvs = this.#peer.machine.range(req.start, req.end, limit + 1);
      return { kind: 'range', index: this.#servedAt(at.index), path: at.path, kvs: kvs.slice(0, limit), more: kvs.length > limit };
    });
  }

  #grant(lease: number, ttlMs: number, owner: string, session: SessionRef | null): Promise<Reply> {
    const { leaseTtlMinMs: min, leaseTtlMaxMs: max, leasesMax } = this.#peer.limits;
    if (ttlMs < min || ttlMs > max) {
      throw new ServiceError('ERR_BAD_REQUEST', `lease TTL ${ttlMs} ms is out of range: it must be in [${min}, ${max}] ms (the peer's --lease-ttl-min-ms and --lease-ttl-max-ms)`);
    }
    this.#requireLeader();
    if (this.#peer.machine.leaseCount + this.#granting >= leasesMax) {
      throw new ServiceError('ERR_LEASE_LIMIT', `${leasesMax} leases exist already (the peer's --leases-max): revoke some or let them expire`);
    }
    this.#granting++;
    let done: Promise<Reply>;
    try {
      done = this.#apply({ op: 'leaseGrant', id: lease, ttlMs, ...(owner !== '' ? { owner } : {}) }, session, 'leaseGrant', (r) => ({ kind: 'lease', index: r.index, lease: r.id, ttlMs: r.ttlMs }));
    } catch (err) {
      this.#granting--;
      throw err;
    }
    return done.finally(() => { this.#granting--; });
  }

  /** A connection closed: its watchers and backups end with it. */
  disconnected(from: string): void {
    this.#backups.disconnected(from);
    this.#watches.disconnected(from);
  }

  /** The member is stopping: the watchers it ends from now on are counted (and told) as such. */
  stopping(): void {
    this.#watches.stopping();
    this.#backups.close();
  }

  #requireLeader(): void {
    if (this.#peer.driver.role !== 'leader') {
      throw new RaftError('ERR_NOT_LEADER', `${this.#peer.id} is not the leader`, this.#peer.driver.leader);
    }
  }

  #write(key: ByteKey, cmd: KvCommand, session: SessionRef | null): Promise<Reply> {
    refuseReserved(key, 'key');
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
      revision: peer.machine.revision, compactRevision: peer.machine.history.compactRevision, leases: peer.machine.leaseCount,
      watchers: peer.watches.size,
    };
  }
}

/** Whole milliseconds for the wire (the leader's clock reads fractions). */
function roundMs(ms: number | null): number | null {
  return ms === null ? null : Math.round(ms);
}
