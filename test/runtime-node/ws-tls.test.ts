// The `ws` adapter over TLS: an HTTPS server's listener serves wss://, reports whether each client
// presented a certificate signed by our CA when asked to (--peer-mtls: missing and foreign both
// read false, which the mesh refuses for a peer handshake) and nothing when not asked; dials that
// do not trust the server fail with a DialTrustError saying why; scheme mix-ups say so too.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeDevCertificates, type DevCertificates } from '../../src/runtime-node/cli-cert.ts';
import { answerPlainRequests, loadTls, serverOptions } from '../../src/runtime-node/tls.ts';
import { ClientError } from '../../src/client/errors.ts';
import { connect } from '../../src/client/node.ts';
import { unsignedToken } from '../../src/transport/token.ts';
import { WsListener } from '../../src/runtime-node/ws-server.ts';
import { dialWs } from '../../src/runtime-node/ws-socket.ts';
import { DialTrustError, type SocketLike } from '../../src/transport/socket.ts';

const dir = mkdtempSync(join(tmpdir(), 'edgeraft-ws-tls-'));
const ours = writeDevCertificates(join(dir, 'ours'), { hosts: ['127.0.0.1'] });
const theirs = writeDevCertificates(join(dir, 'theirs'), { hosts: ['127.0.0.1'] });
const dialOptions = { frameBytesMax: 1 << 20, timeoutMs: 5000 };
const pem = (f: string) => readFileSync(f, 'utf8');

async function listen(server: HttpsServer | ReturnType<typeof createServer>, clientCertificates: boolean): Promise<{ listener: WsListener; accepted: SocketLike[] }> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const listener = await WsListener.open({ server, host: '127.0.0.1', clientCertificates });
  const accepted: SocketLike[] = [];
  listener.listen((s) => accepted.push(s));
  assert.is((server.address() as AddressInfo).port, listener.port);
  return { listener, accepted };
}

async function closeAll(server: HttpsServer | ReturnType<typeof createServer>, listener: WsListener): Promise<void> {
  await listener.close();
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/** Dials with `client` as the client certificate (or none) and returns what the listener saw. */
async function authorizedAs(url: string, accepted: SocketLike[], client: DevCertificates | null): Promise<boolean | undefined> {
  const before = accepted.length;
  const s = await dialWs(url, dialOptions, { ca: pem(ours.caFile), ...(client !== null ? { cert: pem(client.certFile), key: pem(client.keyFile) } : {}) });
  for (let i = 0; i < 100 && accepted.length === before; i++) await new Promise((r) => setTimeout(r, 10));
  s.close(1000, 'done');
  return accepted[before]!.tlsClientAuthorized;
}

test('with client certificates asked for: ours reads true, none and another CA\'s read false', async () => {
  const server = createHttpsServer(serverOptions(loadTls({ certFile: ours.certFile, keyFile: ours.keyFile, caFile: ours.caFile }), true));
  const { listener, accepted } = await listen(server, true);
  try {
    assert.match(listener.url, /^wss:\/\/127\.0\.0\.1:\d+$/);
    assert.is(await authorizedAs(listener.url, accepted, ours), true);
    assert.is(await authorizedAs(listener.url, accepted, null), false, 'no client certificate');
    assert.is(await authorizedAs(listener.url, accepted, theirs), false, 'a certificate of another CA');
  } finally {
    await closeAll(server, listener);
  }
});

test('without --peer-mtls nobody is asked, and the socket says nothing; untrusted and mixed-up dials say why', async () => {
  const server = createHttpsServer(serverOptions(loadTls({ certFile: ours.certFile, keyFile: ours.keyFile, caFile: null }), false));
  const plain = createServer();
  const { listener, accepted } = await listen(server, false);
  const plainSide = await listen(plain, false);
  try {
    assert.is(await authorizedAs(listener.url, accepted, ours), undefined);
    const untrusted = await dialWs(listener.url, dialOptions, { ca: pem(theirs.caFile) }).then(() => null, (err: Error) => err);
    assert.instance(untrusted, DialTrustError);
    assert.match(untrusted!.message, new RegExp(`^the TLS certificate of ${listener.url.replace(/[.]/g, '\\.')} is not trusted: .*\\((SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE)\\)`));
    const system = await dialWs(listener.url, dialOptions).then(() => null, (err: Error) => err);
    assert.instance(system, DialTrustError);
    assert.match(system!.message, /the system's CA store/);
    const wrongHost = await dialWs(listener.url.replace('127.0.0.1', 'localhost'), dialOptions, { ca: pem(ours.caFile) }).then(() => null, (err: Error) => err);
    assert.instance(wrongHost, DialTrustError, 'the certificate names 127.0.0.1 only');
    assert.match(wrongHost!.message, /ERR_TLS_CERT_ALTNAME_INVALID/);
    const tlsToPlain = await dialWs(plainSide.listener.url.replace('ws:', 'wss:'), dialOptions, { ca: pem(ours.caFile) }).then(() => null, (err: Error) => err);
    assert.match(tlsToPlain!.message, /does not speak TLS/);
    const plainToTls = await dialWs(listener.url.replace('wss:', 'ws:'), dialOptions).then(() => null, (err: Error) => err);
    assert.match(plainToTls!.message, /closed the connection without answering .*if it serves TLS, dial wss:\/\//);
    // A peer's TLS port answers a plain-text request with a 426 saying so; the SDK then fails at
    // once with ERR_OPTIONS (a wrong address), as it does for wss:// to a plain listener.
    answerPlainRequests(server);
    const told = await dialWs(listener.url.replace('wss:', 'ws:'), dialOptions).then(() => null, (err: Error) => err);
    assert.match(told!.message, new RegExp(`^ws://127\\.0\\.0\\.1:\\d+ serves TLS: dial wss://127\\.0\\.0\\.1:\\d+ \\(the CLI: --ca FILE`));
    const token = unsignedToken({ role: 'client', sub: 'app', cluster: 'edgeraft', expMs: Date.now() + 60_000 });
    for (const [url, says] of [[listener.url.replace('wss:', 'ws:'), / serves TLS: dial wss:/], [plainSide.listener.url.replace('ws:', 'wss:'), / does not speak TLS .*: dial ws:/]] as const) {
      const started = Date.now();
      const e = await connect({ peers: [url], token, timeoutMs: 10_000 }).then((kv) => kv.get('k').finally(() => kv.close())).then(() => null, (err: Error) => err);
      assert.instance(e, ClientError, String(e));
      assert.is((e as ClientError).code, 'ERR_OPTIONS', e!.message);
      assert.match(e!.message, says);
      // Not a timing assertion: a retried failure would take the whole 10 s timeout.
      assert.ok(Date.now() - started < 5000, `${url}: failed after ${Date.now() - started} ms, not at once`);
    }
  } finally {
    await closeAll(server, listener);
    await closeAll(plain, plainSide.listener);
  }
});

test.after(() => rmSync(dir, { recursive: true, force: true }));

test.run();
