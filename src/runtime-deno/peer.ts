// The native Deno peer: the runtime-neutral peer (server/peer-core.ts) on Deno's own APIs: DenoWal
// (Deno.open, syncData), DenoListener (Deno.serve + upgradeWebSocket), the native WebSocket
// dialer. No node: import and no native addon reaches this bundle (build.mjs checks dist/deno).
// What differs from the Node peer: docs/operations.md "Deno peers".

import { jsonLogger } from '../server/logger.ts';
import { PeerCore, type PeerParts } from '../server/peer-core.ts';
import { resolvePeerOptions, type PeerOptions } from '../server/peer-options.ts';
import type { PeerRuntime } from '../server/peer-runtime.ts';
import type { Logger } from '../transport/transport.ts';
import { denoDialer } from './deno-dial.ts';
import { DenoListener } from './deno-listener.ts';
import { denoMetaFiles } from './deno-meta.ts';
import { DenoWal } from './deno-wal.ts';
import { setImmediateTask } from './immediate.ts';

/** PEM text of the TLS files (main.ts reads them): served by Deno.serve, and used to dial. */
export interface DenoTls {
  readonly cert: string;
  readonly key: string;
  /** Trusted beside the system's roots when dialing; null: the system's only. */
  readonly ca: string | null;
}

export class DenoPeer extends PeerCore {
  /** The certificate and dial options (--tls-cert ...); null for plain ws://. */
  readonly #tls: DenoTls | null;

  private constructor(parts: PeerParts, tls: DenoTls | null) {
    super(parts);
    this.#tls = tls;
  }

  /** `tls`: the PEM files' text (read by main.ts); options as the Node peer's, without TLS files or peer mTLS. */
  static async start(options: Parameters<typeof resolvePeerOptions>[0], tls: DenoTls | null = null): Promise<DenoPeer> {
    const opts = resolvePeerOptions(options);
    const log = jsonLogger({ peer: opts.id, runtime: 'deno' }, opts.logLevel, writeStderr);
    if (opts.peerMtls) throw new Error('peer mTLS cannot be required by a native Deno peer: Deno.serve cannot ask for client certificates');
    // The HTTP routes answer once the peer is built (a request before that: 503).
    let peer: DenoPeer | null = null;
    const onHttp = (req: Request): Response => (peer !== null ? peer.#onHttp(req) : new Response('starting\n', { status: 503 }));
    return PeerCore.open(opts, log, denoRuntime(opts, tls, log, onHttp), (parts) => (peer = new DenoPeer(parts, tls)));
  }

  /**
   * What SIGHUP does: reads --secret-file and the token key files again (a rotation; new
   * handshakes use them, open connections stay; on any problem the previous ones stay in use).
   * Deno.serve keeps the certificate it started with and cannot swap it: the peer says so, and a
   * certificate is rotated by restarting the peer (one member at a time).
   */
  async reload(): Promise<void> {
    if (this.#tls !== null) this.log('warn', 'SIGHUP: a native Deno peer cannot reload its TLS certificate (Deno.serve keeps the one it started with); restart this peer to use new files');
    await this.reloadCredentials();
  }

  /** GET /metrics, /healthz and /status; the WebSocket upgrades never reach here. */
  #onHttp(req: Request): Response {
    const path = new URL(req.url).pathname;
    if (req.method === 'GET' && path === '/metrics') {
      this.catchUpTime();
      return new Response(this.metrics.render(), { headers: { 'content-type': 'text/plain; version=0.0.4' } });
    }
    if (req.method === 'GET' && (path === '/healthz' || path === '/status')) {
      const st = this.driver.node.status();
      const health = { id: this.opts.id, role: st.role, leader: st.leader, term: st.term, applied: this.machine.appliedIndex };
      const body = path === '/healthz' ? health : { ...health, runtime: 'deno', commit: st.commit, conf: st.conf, url: this.url, startedAt: this.startedAt };
      return Response.json(body);
    }
    return new Response('not found: this is an edgeraft peer (native Deno; WebSocket on this port; GET /metrics, /healthz, /status)\n', { status: 404, headers: { 'content-type': 'text/plain' } });
  }
}

/** Deno's pieces of a peer: DenoWal, Deno.serve, the native WebSocket dialer, Deno's file API. */
function denoRuntime(opts: PeerOptions, tls: DenoTls | null, log: Logger, onHttp: (req: Request) => Response): PeerRuntime {
  return {
    scheme: tls !== null ? 'wss' : 'ws',
    makeDir: (path) => Deno.mkdir(path, { recursive: true }),
    meta: denoMetaFiles,
    openStore: (dataDir, rules, warn) => DenoWal.open(`${dataDir}/wal`, { sync: opts.sync, rules, warn }),
    listen: async () => {
      const listener = await DenoListener.open({
        host: opts.host, port: opts.port, tls: tls !== null ? { cert: tls.cert, key: tls.key } : null, onHttp,
        onError: (err) => log('warn', `HTTP server: ${(err as Error).message ?? String(err)}`),
      });
      return { listener, port: listener.port, close: () => listener.close() };
    },
    dial: denoDialer(tls !== null ? { ca: tls.ca, clientCert: { cert: tls.cert, key: tls.key } } : null),
    scheduleFlush: setImmediateTask,
    readText: (path) => Deno.readTextFile(path),
    // Deno 2 has Node's `process` global without an import (no node: module reaches the bundle).
    cpuUsage: () => process.cpuUsage(),
    startedFields: { runtime: 'deno', tls: tls !== null },
  };
}

/** Deno's stderr, a line at a time (the logger's sink). */
const stderrEncoder = new TextEncoder();
function writeStderr(line: string): void {
  Deno.stderr.writeSync(stderrEncoder.encode(line));
}
