// Helpers for the socket suites: meshes on 127.0.0.1 port 0 with a capturing logger, event
// waiters with a hang guard, and a raw protocol client that speaks the handshake by hand.
import WebSocket from 'ws';
import { SeededPrng } from '../../src/core/prng.ts';
import { WsListener } from '../../src/runtime-node/ws-server.ts';
import { dialWs } from '../../src/runtime-node/ws-socket.ts';
import { dialerProofInput, hmac, importHmacKey, randomChallenge } from '../../src/transport/auth.ts';
import { FrameCodec } from '../../src/transport/codec.ts';
import { Mesh } from '../../src/transport/mesh.ts';
import type { MeshOptions } from '../../src/transport/mesh-options.ts';
import { JwtVerifier } from '../../src/transport/token.ts';
import type { Transport, TransportEventMap } from '../../src/transport/transport.ts';

export const secret = 'correct horse battery staple';
export const cluster = 'c1';

export interface TestNode {
  readonly mesh: Mesh;
  readonly listener: WsListener | null;
  readonly url: string;
  readonly logs: string[];
}

export type NodeOptions = Partial<Omit<MeshOptions, 'secret'>> & {
  /** The cluster secret(s) (default `secret`); null: none (insecure, or a token holder). */
  readonly secret?: string | readonly string[] | null;
  readonly listen?: boolean;
  readonly port?: number;
  readonly frameBytesMax?: number;
};

export async function startNode(id: string, options: NodeOptions = {}): Promise<TestNode> {
  const { listen = true, port = 0, frameBytesMax, secret: nodeSecret = secret, ...rest } = options;
  const listener = listen ? await WsListener.open({ port, ...(frameBytesMax !== undefined ? { frameBytesMax } : {}) }) : null;
  const logs: string[] = [];
  // A node with secrets verifies HS256 tokens with them, as a peer does by default.
  const secrets = nodeSecret === null ? null : typeof nodeSecret === 'string' ? [nodeSecret] : nodeSecret;
  const mesh = await Mesh.start({
    id, cluster, dial: dialWs,
    ...(secrets !== null ? { secret: secrets, tokenVerifier: new JwtVerifier({ secrets }) } : {}), prng: new SeededPrng(id.length * 7919 + id.charCodeAt(0)),
    backoff: { initialMs: 20, maxMs: 200 },
    logger: (level, message) => { logs.push(`${level} ${message}`); },
    ...(listener !== null ? { listener } : {}),
    ...rest,
  } as MeshOptions);
  return { mesh, listener, url: listener?.url ?? '', logs };
}

/** Resolves with the first event matching `pred`; rejects after `timeoutMs` (a hang guard). */
export function waitFor<K extends keyof TransportEventMap>(
  t: Transport, event: K, pred: (e: TransportEventMap[K]) => boolean = () => true, timeoutMs = 5000,
): Promise<TransportEventMap[K]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { off(); reject(new Error(`timed out waiting for ${String(event)} on ${t.id}`)); }, timeoutMs);
    const off = t.on(event, (e) => {
      if (!pred(e)) return;
      clearTimeout(timer);
      off();
      resolve(e);
    });
  });
}

/** Polls `cond` until it holds; rejects after `timeoutMs`. */
export async function until(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Resolves when `fn` rejects with an error that `check` accepts. */
export async function rejects(fn: () => Promise<unknown>, check: RegExp | ((e: unknown) => boolean)): Promise<void> {
  try {
    await fn();
  } catch (err) {
    const ok = check instanceof RegExp ? check.test(String(err)) : check(err);
    if (!ok) throw new Error(`rejected with an unexpected error: ${String(err)}`);
    return;
  }
  throw new Error('expected a rejection');
}

export const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

export interface Closed { readonly code: number; readonly reason: string }

/** A raw ws client; `closed` resolves with the close code and reason the server sent. */
export async function rawSocket(url: string): Promise<{ ws: WebSocket; inbox: Uint8Array[]; closed: Promise<Closed>; next(): Promise<Uint8Array> }> {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  const inbox: Uint8Array[] = [];
  let wake: (() => void) | null = null;
  ws.on('message', (d: Buffer) => { inbox.push(new Uint8Array(d)); wake?.(); });
  const closed = new Promise<Closed>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  ws.on('error', () => {});
  await new Promise<void>((resolve, reject) => { ws.once('open', () => resolve()); ws.once('error', reject); });
  const next = async (): Promise<Uint8Array> => {
    while (inbox.length === 0) await new Promise<void>((r) => { wake = r; setTimeout(r, 50); });
    return inbox.shift()!;
  };
  return { ws, inbox, closed, next };
}

/** Completes a peer handshake by hand (optionally with a wrong secret), returning the raw socket. */
export async function rawPeer(url: string, id: string, serverId: string, peerSecret = secret): Promise<Awaited<ReturnType<typeof rawSocket>> & { codec: FrameCodec }> {
  const raw = await rawSocket(url);
  const codec = new FrameCodec({ cluster });
  const hello = codec.decodeHandshake(await raw.next());
  if (hello.kind !== 'hello') throw new Error(`expected hello, got ${hello.kind}`);
  const key = await importHmacKey(peerSecret);
  const proof = await hmac(key, dialerProofInput(hello.challenge, cluster, id, serverId, 0));
  raw.ws.send(codec.encode({ kind: 'peerAuth', v: 1, cluster, dialerId: id, serverId, slot: 0, challenge: randomChallenge(), proof }));
  return { ...raw, codec };
}
