// In-process peers and a raw client-protocol connection for the coordination-primitive tests: each
// peer is a real Peer (WAL, mesh, WebSocket port, /metrics) in this process, and the client speaks
// encodeRequest/decodeResponse over an RpcConnection, so these tests depend on neither the CLI nor
// the SDK.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  decodeResponse, decodeResponseHead, encodeRequest, type ErrorReply, type Reply, type RequestBody, type RequestOp, type Response,
} from '../../src/client/protocol.ts';
import { freePorts } from '../../src/runtime-node/local-probe.ts';
import { Peer } from '../../src/runtime-node/peer.ts';
import type { PeerOptions } from '../../src/server/peer-options.ts';
import { dialWs } from '../../src/runtime-node/ws-socket.ts';
import { RpcConnection } from '../../src/transport/rpc-client.ts';
import { unsignedToken, type TokenRole } from '../../src/transport/token.ts';

export const cluster = 'edgeraft';

export type PeerTweaks = Partial<Omit<PeerOptions, 'id' | 'port' | 'peers' | 'dataDir'>>;

export class TestCluster {
  readonly peers: Peer[];
  readonly #dir: string;

  private constructor(peers: Peer[], dir: string) {
    this.peers = peers;
    this.#dir = dir;
  }

  /** `size` voters n1..nN, insecure on loopback, no fsync, quiet logs. */
  static async start(size: number, tweaks: PeerTweaks = {}): Promise<TestCluster> {
    const dir = mkdtempSync(join(tmpdir(), 'edgeraft-kv-'));
    const ports = await freePorts(size);
    const peers: Record<string, string> = {};
    ports.forEach((p, i) => { peers[`n${i + 1}`] = `ws://127.0.0.1:${p}`; });
    const started = await Promise.all(ports.map((port, i) => Peer.start({
      id: `n${i + 1}`, port, peers, dataDir: join(dir, `n${i + 1}`), insecure: true, sync: 'none', logLevel: 'error', ...tweaks,
    })));
    const c = new TestCluster(started, dir);
    await c.leader();
    return c;
  }

  /** The leader every member agrees on (waits for one). */
  async leader(timeoutMs = 10_000): Promise<Peer> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const leaders = this.peers.filter((p) => p.driver.role === 'leader');
      const l = leaders[0];
      if (leaders.length === 1 && l !== undefined && this.peers.every((p) => p.driver.leader === l.opts.id)) return l;
      await sleep(10);
    }
    throw new Error(`no agreed leader within ${timeoutMs} ms: ${this.peers.map((p) => `${p.opts.id}=${p.driver.role}`).join(' ')}`);
  }

  followers(leader: Peer): Peer[] {
    return this.peers.filter((p) => p !== leader);
  }

  async close(): Promise<void> {
    await Promise.all(this.peers.map((p) => p.stop()));
    rmSync(this.#dir, { recursive: true, force: true });
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export async function until(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 5000): Promise<number> {
  const started = Date.now();
  while (Date.now() - started < timeoutMs) {
    if (await cond()) return Date.now() - started;
    await sleep(10);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

let instances = 0;

/** One client connection speaking the protocol by hand: calls by id, watch streams by id. */
export class RawClient {
  readonly conn: RpcConnection;
  #nextId = 1;
  readonly #pending = new Map<number, { op: RequestOp; resolve: (r: Response) => void }>();
  /** Every message of each watch stream, by the watch request's id. */
  readonly streams = new Map<number, Response[]>();

  /** Resolves when the member (or this side) closes the connection. */
  readonly closed: Promise<void>;

  private constructor(conn: RpcConnection) {
    this.conn = conn;
    let closed!: () => void;
    this.closed = new Promise((resolve) => { closed = resolve; });
    conn.listen({
      payloads: (ps) => {
        for (const p of ps) this.#onPayload(p);
      },
      closed: () => closed(),
    });
  }

  /** A connection with a token of `role` (subject kvtest unless `claims` says; scopes: none unless given). */
  static async open(peer: Peer, role: TokenRole = 'admin', claims: { readonly sub?: string; readonly scopes?: readonly string[] } = {}): Promise<RawClient> {
    const token = unsignedToken({ role, sub: claims.sub ?? 'kvtest', cluster, expMs: Date.now() + 3600_000, scopes: claims.scopes ?? null });
    const conn = await RpcConnection.open({ url: peer.url, cluster, token, instance: `i${++instances}`, dial: dialWs });
    return new RawClient(conn);
  }

  #onPayload(p: Uint8Array): void {
    const head = decodeResponseHead(p);
    const id = head[0] as number;
    const call = this.#pending.get(id);
    if (call !== undefined) {
      this.#pending.delete(id);
      call.resolve(decodeResponse(head, call.op));
      return;
    }
    const stream = this.streams.get(id);
    if (stream === undefined) throw new Error(`an answer to request ${id}, which is neither pending nor a watch`);
    stream.push(decodeResponse(head, 'watch'));
  }

  call(body: RequestBody): Promise<Response> {
    const id = this.#nextId++;
    return new Promise((resolve) => {
      this.#pending.set(id, { op: body.op, resolve });
      this.conn.send(encodeRequest(id, body));
    });
  }

  /** Starts a watch; its messages collect in streams.get(id). Returns the id. */
  watch(body: Extract<RequestBody, { op: 'watch' }>): number {
    const id = this.#nextId++;
    this.streams.set(id, []);
    this.conn.send(encodeRequest(id, body));
    return id;
  }

  close(): void {
    this.conn.close();
  }
}

/** The reply of a successful answer (fails with the error otherwise). */
export function ok<K extends Reply['kind']>(r: Response, kind: K): Extract<Reply, { kind: K }> {
  if (!r.ok) throw new Error(`expected a ${kind} reply, got ${r.error.code}: ${r.error.message}`);
  if (r.reply.kind !== kind) throw new Error(`expected a ${kind} reply, got ${r.reply.kind}`);
  return r.reply as Extract<Reply, { kind: K }>;
}

/** The error of a failed answer (fails if it succeeded). */
export function failed(r: Response): ErrorReply {
  if (r.ok) throw new Error(`expected an error, got a ${r.reply.kind} reply: ${JSON.stringify(r.reply)}`);
  return r.error;
}

/** One sample of /metrics (name with labels, as rendered), or undefined when absent. */
export async function metric(peer: Peer, series: string): Promise<number | undefined> {
  const text = await (await fetch(`http://127.0.0.1:${peer.port}/metrics`)).text();
  for (const line of text.split('\n')) {
    const sp = line.lastIndexOf(' ');
    if (sp > 0 && line.slice(0, sp) === series) return Number(line.slice(sp + 1));
  }
  return undefined;
}

/** The peer's status as `edgeraft status` gets it. */
export async function status(c: RawClient): Promise<Record<string, unknown>> {
  return ok(await c.call({ op: 'status' }), 'info').info as Record<string, unknown>;
}
