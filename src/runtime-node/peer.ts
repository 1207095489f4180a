// A voting peer (or a joining one) on Node: the runtime-neutral peer (server/peer-core.ts) on the
// file WAL, the `ws` mesh on one http(s) port shared with clients, browser learners, /metrics and
// the demo page, and TLS certificates that reload on SIGHUP. Peer.start() opens it all and stop()
// takes it down in order (finish the write in flight, close connections, release the lock).

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { mkdir, readFile } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { RaftError } from '../core/errors.ts';
import { readMeta, writeMeta } from './cluster-meta.ts';
import { jsonLogger } from '../server/logger.ts';
import { PeerCore, type PeerParts } from '../server/peer-core.ts';
import type { PeerPort, PeerRuntime } from '../server/peer-runtime.ts';
import { processMetricsText } from './process-metrics.ts';
import { resolvePeerOptions, type PeerOptions } from '../server/peer-options.ts';
import { serveStatic } from './static.ts';
import { answerPlainRequests, describeCertificate, loadTls, PeerTls, serverOptions } from './tls.ts';
import { FileWal } from './wal.ts';
import { WsListener } from './ws-server.ts';
import { dialWs } from './ws-socket.ts';
import { secretFileModeWarning } from './token-files.ts';
import { memberKeyPrefix } from '../server/member-keys.ts';

export { memberKeyPrefix };

export class Peer extends PeerCore {
  readonly #http: Server | HttpsServer;
  /** The certificate files and dial options (--tls-cert ...); null for plain ws://. */
  readonly #tls: PeerTls | null;

  private constructor(parts: PeerParts, http: Server | HttpsServer, tls: PeerTls | null) {
    super(parts);
    this.#http = http;
    this.#tls = tls;
    http.on('request', (req, res) => this.#onHttp(req, res));
  }

  static async start(options: Parameters<typeof resolvePeerOptions>[0]): Promise<Peer> {
    const opts = resolvePeerOptions(options);
    const log = jsonLogger({ peer: opts.id }, opts.logLevel, (l) => process.stderr.write(l));
    // TLS files are checked before anything else happens, so a bad one stops the start at once.
    const tls = opts.tls !== null ? new PeerTls(loadTls(opts.tls)) : null;
    for (const w of tls?.material.warnings ?? []) log('warn', w);
    // One port for everything: with TLS an https server, so peers, clients, tabs and /metrics all get TLS.
    const http = tls !== null ? createHttpsServer(serverOptions(tls.material, opts.peerMtls)) : createServer();
    if (tls !== null) answerPlainRequests(http as HttpsServer);
    return PeerCore.open(opts, log, nodeRuntime(opts, http, tls), (parts) => new Peer(parts, http, tls));
  }

  /**
   * What SIGHUP does: reads the TLS certificate files again (new connections and dials use the
   * new certificate; open connections, and so the cluster, stay up), then --secret-file and the
   * token key files. A file that fails a check is logged, naming it, and the old one stays in use.
   */
  async reload(): Promise<void> {
    if (this.#tls !== null) {
      try {
        const m = this.#tls.reload(this.#http as HttpsServer);
        this.log('info', 'TLS certificate reloaded', certificateFields(this.#tls));
        for (const w of m.warnings) this.log('warn', w);
      } catch (err) {
        this.log('error', `TLS reload failed, still serving the previous certificate: ${(err as Error).message}`);
      }
    }
    await this.reloadCredentials();
  }

  #onHttp(req: IncomingMessage, res: ServerResponse): void {
    if (req.headers.upgrade !== undefined) return;
    const url = (req.url ?? '/').split('?')[0]!;
    if (req.method === 'GET' && url === '/metrics') {
      this.catchUpTime();
      // edgeraft's own families, then the process's (process_*, nodejs_*: process-metrics.ts).
      const own = this.metrics.render();
      processMetricsText().then((proc) => {
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
        res.end(own + proc);
      }, (err: Error) => {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(`the process metrics failed: ${err.message}\n`);
      });
      return;
    }
    if (req.method === 'GET' && url === '/healthz') {
      const st = this.driver.node.status();
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ id: this.opts.id, role: st.role, leader: st.leader, term: st.term, applied: this.machine.appliedIndex }));
      return;
    }
    if (this.opts.webRoot !== null && req.method === 'GET') {
      void serveStatic(this.opts.webRoot, url, res);
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found: this is an edgeraft peer (WebSocket on this port; GET /metrics, /healthz)\n');
  }
}

/** Node's pieces of a peer: the file WAL, the http(s) server with `ws`, setImmediate, node:fs. */
function nodeRuntime(opts: PeerOptions, http: Server | HttpsServer, tls: PeerTls | null): PeerRuntime {
  return {
    scheme: tls !== null ? 'wss' : 'ws',
    makeDir: async (path) => { await mkdir(path, { recursive: true }); },
    meta: { readMeta, writeMeta },
    openStore: (dataDir, logRules, warn) => FileWal.open(join(dataDir, 'wal'), { syncMode: opts.sync, logger: { warn }, logRules }),
    listen: () => listen(http, opts),
    dial: tls?.dial ?? dialWs,
    scheduleFlush: (f) => setImmediate(f),
    readText: (path) => readFile(path, 'utf8'),
    secretFileWarning: secretFileModeWarning,
    unrefTimer: (timer) => timer.unref(),
    cpuUsage: () => process.cpuUsage(),
    startedFields: tls !== null ? { tls: certificateFields(tls) } : {},
  };
}

/** Binds the http(s) server and serves WebSockets on it; closing ends every connection it accepted. */
async function listen(http: Server | HttpsServer, opts: PeerOptions): Promise<PeerPort> {
  /** Every TCP connection the server accepted and that is still open (ended at close). */
  const sockets = new Set<Socket>();
  http.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(opts.port, opts.host, () => resolve());
  });
  const close = (): Promise<void> => {
    const closed = new Promise<void>((resolve) => http.close(() => resolve()));
    // A dial that arrived while the mesh closed (mid TLS handshake, or its upgrade left without a
    // listener) is neither a WebSocket nor an idle HTTP connection: close() would wait for it.
    for (const socket of sockets) socket.destroy();
    return closed;
  };
  const address = http.address();
  const port = typeof address === 'object' && address !== null ? address.port : opts.port;
  try {
    const listener = await WsListener.open({ server: http, host: opts.host, clientCertificates: opts.peerMtls });
    return { listener, port, close };
  } catch (err) {
    await close();
    throw err;
  }
}

/** The certificate in use, for the 'started' and reload log lines. */
function certificateFields(tls: PeerTls): Record<string, string> {
  const c = describeCertificate(tls.material.x509);
  return { cert: tls.material.files.certFile, serial: c.serial, subject: c.subject, validTo: c.validTo };
}

export { RaftError };
