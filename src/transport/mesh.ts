// The WebSocket mesh: one listener shared by peers, clients and browser learners (told apart by
// the handshake), dial loops with backoff towards every known peer, duplicate connections settled
// the same way on both sides, per-peer outboxes that coalesce one turn's messages into a frame,
// and bounded backpressure that sheds replication first. Sockets are seen only as SocketLike.

import { assert } from '../core/assert.ts';
import type { Message } from '../core/message.ts';
import type { NodeId } from '../core/types.ts';
import { importHmacKey } from './auth.ts';
import type { Secret } from './auth.ts';
import { Backoff } from './backoff.ts';
import { FrameCodec } from './codec.ts';
import { Connection } from './connection.ts';
import type { ConnectionHooks } from './connection.ts';
import { closeCodeFor, closeCodes, closeReasons, TransportError } from './errors.ts';
import type { CloseCode } from './errors.ts';
import { Emitter } from './events.ts';
import type { Unsubscribe } from './events.ts';
import { acceptHandshake, dialHandshake, isReplicationLink } from './handshake.ts';
import type { Authenticated, HandshakeChannel, HandshakeConfig } from './handshake.ts';
import { Link } from './link.ts';
import { resolveMeshOptions, resolveSecrets } from './mesh-options.ts';
import type { MeshOptions, ResolvedMeshOptions } from './mesh-options.ts';
import { sendClassOf, SendStats } from './send-stats.ts';
import type { TokenVerifier } from './token-claims.ts';
import { DialTrustError } from './socket.ts';
import type { SocketLike } from './socket.ts';
import { isReplication } from './transport.ts';
import type { DropReason, PeerRole, Transport, TransportEventMap } from './transport.ts';

/** What a follower-reader link may send: acknowledgements and follower reads, never votes or appends. */
const learnerSends: ReadonlySet<Message['type']> = new Set(['appResp', 'hbResp', 'readIndex']);

type Timer = ReturnType<typeof setTimeout>;

/** How long a duplicate connection dialed by the other side stays open for it to close. */
const duplicateGraceMs = 1000;

/** How long the higher id of a pair lets the lower id dial first. */
const firstDialYieldMs = 50;

export class Mesh implements Transport {
  readonly id: NodeId;
  readonly codec: FrameCodec;
  /** Bytes, frames and entries sent, by destination class (peers, token holders). */
  readonly sent = new SendStats();
  readonly #o: ResolvedMeshOptions;
  /** Replaced whole by rekey(); a handshake in progress keeps the one it started with. */
  #hs: HandshakeConfig;
  readonly #events = new Emitter<TransportEventMap>();
  readonly #links = new Map<NodeId, Link>();
  readonly #expiry = new Map<Connection, Timer>();
  /** Duplicates out of service, waiting for the other side to close them. */
  readonly #retired = new Map<Connection, Timer>();
  readonly #hooks: ConnectionHooks;
  /** Most bytes a frame needs beyond its messages: heads plus cluster and two ids (3 bytes a char). */
  readonly #envelopeBytes: number;
  #handshakes = 0;
  #closing = false;
  #tick: ReturnType<typeof setInterval> | null = null;

  /** Validates options, imports keys, starts listening and dialing. */
  static async start(options: MeshOptions): Promise<Mesh> {
    const o = resolveMeshOptions(options);
    const mesh = new Mesh(o, await peerKeysOf(o.secrets));
    mesh.#begin();
    return mesh;
  }

  private constructor(o: ResolvedMeshOptions, peerKeys: readonly CryptoKey[] | null) {
    this.id = o.id;
    this.#o = o;
    this.codec = new FrameCodec({ cluster: o.cluster, limits: o.limits, ...(o.logRules !== undefined ? { logRules: o.logRules } : {}) });
    this.#hs = {
      id: o.id, cluster: o.cluster, codec: this.codec, peerKeys, tokens: o.tokens, tokenRefusal: o.tokenRefusal, token: o.token,
      acceptRoles: o.acceptRoles, slotsMax: o.connectionsPerPeer, now: o.now, timing: o.timing,
    };
    this.#envelopeBytes = 16 + 3 * (3 * Math.max(o.limits.idLengthMax, o.limits.clusterLengthMax) + 5);
    this.#hooks = { data: (c, d) => this.#onData(c, d), closed: (c, code, reason) => this.#onClosed(c, code, reason) };
  }

  on<K extends keyof TransportEventMap>(event: K, listener: (payload: TransportEventMap[K]) => void): Unsubscribe {
    return this.#events.on(event, listener);
  }

  /**
   * New credentials for the handshakes from now on (a reload: rotated secrets, new token keys);
   * open connections stay. A secure node stays secure: `secret` must then be given again.
   */
  async rekey(o: { readonly secret?: Secret | readonly Secret[]; readonly tokenVerifier?: TokenVerifier }): Promise<void> {
    const peerKeys = o.secret === undefined ? this.#hs.peerKeys : await peerKeysOf(resolveSecrets(o.secret));
    assert((peerKeys === null) === (this.#hs.peerKeys === null), 'rekey keeps a node secure or insecure');
    this.#hs = { ...this.#hs, peerKeys, tokens: o.tokenVerifier ?? this.#hs.tokens };
  }

  isConnected(peer: NodeId): boolean {
    return (this.#links.get(peer)?.openCount ?? 0) > 0;
  }

  /** Remote ids with at least one open connection. */
  connected(): NodeId[] {
    return [...this.#links.values()].filter((l) => l.openCount > 0).map((l) => l.id);
  }

  /** Open connections to `peer` (up to connectionsPerPeer). */
  connectionCount(peer: NodeId): number {
    return this.#links.get(peer)?.openCount ?? 0;
  }

  /** The open connections to `peer`: slot, who dialed it, and the remote's role. */
  connections(peer: NodeId): { readonly slot: number; readonly dialedBy: NodeId; readonly role: PeerRole }[] {
    const link = this.#links.get(peer);
    if (link === undefined) return [];
    return link.conns.flatMap((c) => (c === null ? [] : [{ slot: c.auth.slot, dialedBy: c.auth.dialedBy, role: c.auth.role }]));
  }

  /** Bytes queued towards `peer`: outbox plus socket buffers (what backpressure compares). */
  bufferedBytes(peer: NodeId): number {
    return this.#links.get(peer)?.pendingBytes() ?? 0;
  }

  addPeer(id: NodeId, url: string): void {
    assert(id !== this.id, 'a mesh does not dial itself');
    const link = this.#links.get(id);
    if (link !== undefined) {
      link.url = url;
    } else {
      this.#links.set(id, this.#newLink(id, url));
    }
    const l = this.#links.get(id)!;
    // The higher id waits a little, so the lower id's dial (the one that would win) usually comes
    // first and no duplicate has to be opened and thrown away.
    const delayMs = this.#o.token === null && this.id > id ? Math.min(this.#o.backoff.initialMs, firstDialYieldMs) : 0;
    for (let slot = 0; slot < l.conns.length; slot++) if (l.conns[slot] === null) this.#scheduleDial(l, slot, delayMs);
  }

  /** Stops dialing `id` and closes its connections (with `code`: normal, or why they end). */
  removePeer(id: NodeId, code: CloseCode = closeCodes.normal): void {
    const link = this.#links.get(id);
    if (link === undefined) return;
    this.#links.delete(id);
    for (const d of link.dials) if (d.timer !== null) clearTimeout(d.timer);
    for (const c of link.conns) c?.close(code, closeReasons[code]);
  }

  send(msgs: readonly Message[]): void {
    for (const m of msgs) this.#enqueue(m);
  }

  /**
   * Queues a client-protocol payload for `to` (coalesced with others of this turn). Returns false,
   * sending nothing, when `to` is not connected or its queue is over hardCapBytes.
   */
  sendRpc(to: NodeId, payload: Uint8Array): boolean {
    const link = this.#links.get(to);
    if (link === undefined || link.openCount === 0) return false;
    const size = payload.byteLength + 9;
    if (size > this.#o.limits.frameBytesMax - this.#envelopeBytes) return false;
    if (link.pendingBytes() + size > this.#o.hardCapBytes) return false;
    if (link.rpcBytes + size > this.#o.limits.frameBytesMax - this.#envelopeBytes) this.#flushRpc(link);
    link.rpcOutbox.push(payload);
    link.rpcBytes += size;
    if (link.rpcOutbox.length >= this.#o.limits.msgsPerFrameMax || link.rpcBytes >= this.#o.frameTargetBytes) this.#flushRpc(link);
    else this.#flushLater(link);
    return true;
  }

  /** Bytes queued towards `to` (outbox plus socket), for callers that pace themselves. */
  queuedBytes(to: NodeId): number {
    return this.#links.get(to)?.pendingBytes() ?? 0;
  }

  async close(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    if (this.#tick !== null) clearInterval(this.#tick);
    for (const t of this.#expiry.values()) clearTimeout(t);
    this.#expiry.clear();
    for (const [c, t] of this.#retired) {
      clearTimeout(t);
      c.close(closeCodes.goingAway, closeReasons[closeCodes.goingAway]);
    }
    this.#retired.clear();
    for (const link of this.#links.values()) {
      for (const d of link.dials) if (d.timer !== null) clearTimeout(d.timer);
      for (const c of link.conns) c?.close(closeCodes.goingAway, closeReasons[closeCodes.goingAway]);
    }
    await this.#o.listener?.close();
  }

  #begin(): void {
    this.#o.listener?.listen((socket) => this.#accept(socket));
    for (const [id, url] of this.#o.peers) this.addPeer(id, url);
    if (this.#o.keepaliveMs > 0) this.#tick = setInterval(() => this.#keepalive(), this.#o.keepaliveMs);
  }

  #newLink(id: NodeId, url: string | null): Link {
    return new Link(id, url, this.#o.connectionsPerPeer, () => ({
      backoff: new Backoff(this.#o.backoff, this.#o.prng), timer: null, inFlight: false,
    }));
  }

  // ---- connections -------------------------------------------------------------------------

  #accept(socket: SocketLike): void {
    if (this.#closing) return socket.close(closeCodes.goingAway, closeReasons[closeCodes.goingAway]);
    if (this.#handshakes >= this.#o.handshakesMax) {
      this.#o.logger('warn', `refused ${socket.remote}: ${this.#handshakes} handshakes already pending (handshakesMax)`);
      return socket.close(closeCodes.tryAgainLater, closeReasons[closeCodes.tryAgainLater]);
    }
    this.#handshakes += 1;
    const conn = new Connection(socket, 'acceptor', this.codec);
    void this.#handshake(conn, (ch) => acceptHandshake(ch, this.#hs))
      .finally(() => { this.#handshakes -= 1; })
      .then((auth) => { if (auth !== null) this.#attach(conn, auth); });
  }

  /** Runs one side of a handshake under a deadline; null when it failed (already logged and closed). */
  async #handshake(conn: Connection, run: (ch: HandshakeChannel) => Promise<Authenticated>): Promise<Authenticated | null> {
    const timer = setTimeout(() => {
      const err = new TransportError('ERR_HANDSHAKE_TIMEOUT', `no handshake within ${this.#o.handshakeTimeoutMs} ms`);
      conn.fail(err, closeCodes.handshakeTimeout, closeReasons[closeCodes.handshakeTimeout]);
    }, this.#o.handshakeTimeoutMs);
    try {
      const auth = await run(conn.channel());
      if (this.#closing || conn.state !== 'handshake') {
        conn.close(closeCodes.goingAway, closeReasons[closeCodes.goingAway]);
        return null;
      }
      return auth;
    } catch (err) {
      if (!(err instanceof TransportError)) throw err;
      const remote = conn.socket.remote;
      this.#o.logger('warn', `handshake (${conn.side}) with ${remote} failed: ${err.message}`, { code: err.code });
      this.#events.emit('auth:failed', { remote, code: err.code, message: err.message });
      // A failed peer proof learns only that it was refused; a token's holder learns which of
      // its token's own properties failed (another cluster, expired, not yet valid, a signature
      // no key here verifies), so the SDK can say so at once.
      const told: readonly string[] = ['ERR_HANDSHAKE_TIMEOUT', 'ERR_WRONG_CLUSTER', 'ERR_TOKEN_EXPIRED', 'ERR_TOKEN_SIGNATURE', 'ERR_TOKEN_NOT_YET_VALID', 'ERR_TOKEN_REVOKED'];
      const code: CloseCode = told.includes(err.code) ? closeCodeFor(err.code) : closeCodes.unauthorized;
      conn.close(code, closeReasons[code]);
      return null;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Installs an authenticated connection in its slot, settling duplicates. */
  #attach(conn: Connection, auth: Authenticated): void {
    const known = this.#links.get(auth.remoteId);
    const refuse = (why: string, code: CloseCode): void => {
      this.#o.logger('warn', `refused ${auth.remoteId} (${auth.role}): ${why}`);
      conn.close(code, closeReasons[code]);
    };
    if (known === undefined && this.#links.size >= this.#o.linksMax) return refuse(`linksMax (${this.#o.linksMax}) remotes connected`, closeCodes.tryAgainLater);
    if (auth.role !== 'peer' && known?.url != null) return refuse('a token holder may not take a configured peer\'s id', closeCodes.policyViolation);
    // --peer-mtls: a peer (cluster-secret) handshake also needs a trusted TLS client certificate.
    if (auth.role === 'peer' && conn.socket.tlsClientAuthorized === false) return refuse('its connection presented no TLS client certificate signed by our CA (--peer-mtls)', closeCodes.unauthorized);
    const role = known?.role ?? null;
    if (role !== null && role !== auth.role) return refuse(`it is connected as ${role}`, closeCodes.policyViolation);
    const link = known ?? this.#newLink(auth.remoteId, null);
    if (known === undefined) this.#links.set(auth.remoteId, link);
    const existing = link.conns[auth.slot] ?? null;
    if (existing !== null) {
      // Both sides see the same two connections and keep the same one: the one dialed by the lower
      // id (the newer one if both came from the same dialer, as after a restart).
      const keepNew = auth.role !== 'peer' || auth.dialedBy <= existing.auth.dialedBy;
      this.#o.logger('debug', `duplicate connection to ${auth.remoteId} slot ${auth.slot}: keeping the one dialed by ${keepNew ? auth.dialedBy : existing.auth.dialedBy}`);
      if (!keepNew) return conn.close(closeCodes.duplicate, closeReasons[closeCodes.duplicate]);
      // Swapped in place, so this side never looks down. The loser is closed by the side that
      // dialed the winner, once that side has the winner open too (else it would see a gap).
      link.conns[auth.slot] = null;
      this.#retire(existing, auth.dialedBy === this.id ? 0 : duplicateGraceMs);
    }
    const wasUp = link.openCount > 0;
    link.conns[auth.slot] = conn;
    link.dials[auth.slot]!.backoff.reset();
    conn.open(auth, this.#hooks);
    if (auth.expiresAtMs !== null) this.#armExpiry(conn, auth.expiresAtMs);
    if (!wasUp) this.#events.emit('peer:up', { peer: link.id, role: auth.role, claims: auth.claims });
  }

  /** Takes a connection out of service now and closes it after `graceMs`. */
  #retire(conn: Connection, graceMs: number): void {
    this.#clearExpiry(conn);
    if (graceMs === 0) return conn.close(closeCodes.duplicate, closeReasons[closeCodes.duplicate]);
    this.#retired.set(conn, setTimeout(() => {
      this.#retired.delete(conn);
      conn.close(closeCodes.duplicate, closeReasons[closeCodes.duplicate]);
    }, graceMs));
  }

  #armExpiry(conn: Connection, expiresAtMs: number): void {
    const leftMs = expiresAtMs - this.#o.now();
    // Timers hold at most ~24.8 days: a longer-lived token is checked again when this one fires.
    this.#expiry.set(conn, setTimeout(() => {
      if (expiresAtMs > this.#o.now()) return this.#armExpiry(conn, expiresAtMs);
      this.#o.logger('info', `credentials of ${conn.auth.remoteId} expired: closing`);
      this.#close(conn, closeCodes.expired);
    }, Math.max(0, Math.min(leftMs, 2 ** 31 - 1))));
  }

  #clearExpiry(conn: Connection): void {
    const timer = this.#expiry.get(conn);
    if (timer === undefined) return;
    clearTimeout(timer);
    this.#expiry.delete(conn);
  }

  /** Closes an open connection and takes it out of service at once (no more sends to it). */
  #close(conn: Connection, code: CloseCode): void {
    conn.close(code, closeReasons[code]);
    this.#onClosed(conn, code, closeReasons[code]);
  }

  /** Runs once per connection we closed and again on its close event; only the first acts. */
  #onClosed(conn: Connection, code: number, reason: string): void {
    this.#clearExpiry(conn);
    const retired = this.#retired.get(conn);
    if (retired !== undefined) {
      clearTimeout(retired);
      this.#retired.delete(conn);
    }
    const { remoteId, slot, role } = conn.auth;
    const link = this.#links.get(remoteId);
    if (link === undefined || link.conns[slot] !== conn) return;
    link.conns[slot] = null;
    this.#o.logger('debug', `connection to ${remoteId} slot ${slot} closed: ${code} ${reason}`);
    if (link.openCount === 0) {
      for (const m of link.takeOutbox()) this.#drop(m, 'not-connected');
      link.takeRpc();
      this.#events.emit('peer:down', { peer: remoteId, role });
      if (link.url === null) this.#links.delete(remoteId);
    }
    if (link.url !== null && !this.#closing) this.#scheduleDial(link, slot, link.dials[slot]!.backoff.next());
  }

  #scheduleDial(link: Link, slot: number, delayMs: number): void {
    const d = link.dials[slot]!;
    if (this.#closing || d.timer !== null || d.inFlight) return;
    d.timer = setTimeout(() => {
      d.timer = null;
      void this.#dialOnce(link, slot);
    }, delayMs);
  }

  async #dialOnce(link: Link, slot: number): Promise<void> {
    const d = link.dials[slot]!;
    const url = link.url;
    const stale = (): boolean => this.#closing || this.#links.get(link.id) !== link;
    if (stale() || url === null || link.conns[slot] !== null) return;
    d.inFlight = true;
    let socket: SocketLike;
    try {
      socket = await this.#o.dial!(url, { frameBytesMax: this.#o.limits.frameBytesMax, timeoutMs: this.#o.dialTimeoutMs });
    } catch (err) {
      d.inFlight = false;
      // An untrusted certificate will not heal by itself (wrong CA, expired): an operator must see it.
      this.#o.logger(err instanceof DialTrustError ? 'warn' : 'debug', `dial ${link.id} (${url}) failed: ${err instanceof Error ? err.message : String(err)}`);
      if (!stale()) this.#scheduleDial(link, slot, d.backoff.next());
      return;
    }
    const conn = new Connection(socket, 'dialer', this.codec);
    const auth = await this.#handshake(conn, (ch) => dialHandshake(ch, this.#hs, link.id, slot));
    d.inFlight = false;
    if (auth === null) {
      if (!stale() && link.conns[slot] === null) this.#scheduleDial(link, slot, d.backoff.next());
      return;
    }
    if (stale()) return conn.close(closeCodes.normal, closeReasons[closeCodes.normal]);
    this.#attach(conn, auth);
  }

  #keepalive(): void {
    const idleTicksMax = Math.ceil(this.#o.idleTimeoutMs / this.#o.keepaliveMs);
    for (const link of [...this.#links.values()]) {
      for (const conn of [...link.conns]) {
        if (conn === null) continue;
        conn.idleTicks += 1;
        if (conn.idleTicks > idleTicksMax) {
          this.#o.logger('warn', `connection to ${link.id} received nothing for ${this.#o.idleTimeoutMs} ms: closing`);
          this.#close(conn, closeCodes.idle);
          continue;
        }
        if (!conn.sentSinceTick) {
          link.keepalive ??= this.codec.encodeData(this.id, link.id, []);
          conn.send(link.keepalive);
          this.sent.data(sendClassOf(conn.auth.role), link.keepalive.byteLength, []);
        }
        conn.sentSinceTick = false;
      }
    }
  }

  // ---- receiving ---------------------------------------------------------------------------

  #onData(conn: Connection, data: Uint8Array | string): void {
    const auth = conn.auth;
    let msgs: readonly Message[] = [];
    let payloads: readonly Uint8Array[] = [];
    try {
      if (typeof data === 'string') throw new TransportError('ERR_FRAME_MALFORMED', 'text message (frames are binary)');
      if (auth.role !== 'peer' && data.byteLength > this.#o.tokenFrameBytesMax) {
        throw new TransportError('ERR_FRAME_TOO_LARGE', `frame of ${data.byteLength} bytes from a ${auth.role} exceeds tokenFrameBytesMax (${this.#o.tokenFrameBytesMax})`);
      }
      const frame = this.codec.decodeSession(data);
      if (frame.from !== auth.remoteId || frame.to !== this.id) {
        throw new TransportError('ERR_FRAME_ADDRESS', `frame from ${frame.from} to ${frame.to} on the connection of ${auth.remoteId} to ${this.id}`);
      }
      if (frame.kind === 'rpc') payloads = frame.payloads;
      else msgs = frame.msgs;
      if (auth.role !== 'peer') checkAllowed(auth.role, auth.remoteId, msgs);
    } catch (err) {
      if (!(err instanceof TransportError)) throw err;
      this.#o.logger('warn', `rejected a frame from ${auth.remoteId} (${conn.socket.remote}): ${err.message}`, { code: err.code });
      this.#events.emit('frame:rejected', { peer: auth.remoteId, remote: conn.socket.remote, code: err.code, message: err.message });
      this.#close(conn, closeCodeFor(err.code));
      return;
    }
    if (msgs.length > 0) this.#events.emit('messages', { from: auth.remoteId, role: auth.role, msgs });
    if (payloads.length > 0) this.#events.emit('rpc', { from: auth.remoteId, role: auth.role, claims: auth.claims, payloads });
  }

  // ---- sending -----------------------------------------------------------------------------

  #enqueue(m: Message): void {
    assert(m.from === this.id, () => `message from ${m.from} sent through the mesh of ${this.id}`);
    const link = this.#links.get(m.to);
    if (link === undefined || link.openCount === 0) return this.#drop(m, 'not-connected');
    const size = this.codec.estimateBytes(m);
    const frameRoom = this.#o.limits.frameBytesMax - this.#envelopeBytes;
    if (size > frameRoom) {
      this.#o.logger('error', `${m.type} to ${m.to} needs ~${size} bytes, more than frameBytesMax allows: dropped`);
      return this.#drop(m, 'too-large');
    }
    const pending = link.pendingBytes();
    // An idle link admits any one message that fits a frame, so a big snapshot is never starved.
    if (pending > 0) {
      if (isReplication(m.type) && pending + size > this.#o.highWaterBytes) return this.#drop(m, 'high-water');
      if (pending + size > this.#o.hardCapBytes) return this.#drop(m, 'hard-cap');
    }
    if (link.outboxBytes + size > frameRoom) this.#flush(link);
    link.outbox.push(m);
    link.outboxBytes += size;
    if (link.outbox.length >= this.#o.limits.msgsPerFrameMax || link.outboxBytes >= this.#o.frameTargetBytes) this.#flush(link);
    else this.#flushLater(link);
  }

  /** Flushes the link after this turn, once however many messages and payloads join it. */
  #flushLater(link: Link): void {
    if (link.flushQueued) return;
    link.flushQueued = true;
    this.#o.scheduleFlush(() => {
      link.flushQueued = false;
      this.#flush(link);
    });
  }

  #flushRpc(link: Link): void {
    if (link.rpcOutbox.length === 0) return;
    const payloads = link.takeRpc();
    const conn = link.nextConn();
    if (conn === null) return;
    const frame = this.codec.encodeRpc(this.id, link.id, payloads);
    conn.send(frame);
    this.sent.rpc(sendClassOf(conn.auth.role), frame.byteLength);
  }

  #flush(link: Link): void {
    this.#flushRpc(link);
    if (link.outbox.length === 0) return;
    const msgs = link.takeOutbox();
    const conn = link.nextConn();
    if (conn === null) {
      for (const m of msgs) this.#drop(m, 'not-connected');
      return;
    }
    const frame = this.codec.encodeData(this.id, link.id, msgs);
    conn.send(frame);
    this.sent.data(sendClassOf(conn.auth.role), frame.byteLength, msgs);
  }

  #drop(m: Message, reason: DropReason): void {
    this.#events.emit('send:dropped', { peer: m.to, type: m.type, reason });
    if (isReplication(m.type)) this.#signalUnreachable(m.to);
  }

  /** At most one 'unreachable' per peer per turn, delivered after the turn (never re-entrant). */
  #signalUnreachable(peer: NodeId): void {
    const link = this.#links.get(peer);
    if (link !== undefined) {
      if (link.unreachableQueued) return;
      link.unreachableQueued = true;
    }
    this.#o.scheduleFlush(() => {
      if (link !== undefined) link.unreachableQueued = false;
      this.#events.emit('unreachable', { peer });
    });
  }
}

async function peerKeysOf(secrets: readonly Secret[] | null): Promise<readonly CryptoKey[] | null> {
  return secrets === null ? null : Promise.all(secrets.map((s) => importHmacKey(s)));
}

/** Token holders send Raft messages only on their follower-reader link, and only learner kinds. */
function checkAllowed(role: PeerRole, remoteId: string, msgs: readonly Message[]): void {
  for (const m of msgs) {
    if (!isReplicationLink(remoteId) || !learnerSends.has(m.type)) {
      throw new TransportError('ERR_FRAME_FORBIDDEN', `a ${role} ${isReplicationLink(remoteId) ? '' : 'SDK connection '}may not send ${m.type}`);
    }
  }
}
