// The native Deno peer's TLS (deno-dial-check.ts runs under Deno and reports): its Deno.serve
// listener serves wss:// with a certificate; its dialer trusts the CA it is given (a certificate of
// another CA, or of a private CA with only the system's store, is refused as untrusted, saying so);
// and it presents its own certificate to a Node listener that asks for client certificates
// (Node peers with --peer-mtls). Skipped without a deno binary.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { WebSocketServer } from 'ws';
import { writeDevCertificates } from '../../src/runtime-node/cli-cert.ts';
import { unless } from '../requires.ts';

const test = suite('deno-dial');
const root = resolve(import.meta.dirname, '../..');
const denoBin = join(root, 'node_modules/deno/deno');
const it = unless(test, spawnSync(denoBin, ['--version']).status === 0 ? null : 'no deno binary (npm install puts it in node_modules/deno)');

it('serves wss://, trusts only the given CA (refusals say why), and presents its certificate to a Node listener asking for one', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'edgeraft-deno-dial-'));
  let server: Server | null = null;
  try {
    const a = writeDevCertificates(join(dir, 'a'), { hosts: ['127.0.0.1'] });
    writeDevCertificates(join(dir, 'b'), { hosts: ['127.0.0.1'] });
    // A Node listener like a peer with --peer-mtls: it asks, and tells the client what it saw.
    const srv = createServer({ cert: readFileSync(a.certFile), key: readFileSync(a.keyFile), ca: readFileSync(a.caFile), requestCert: true, rejectUnauthorized: false });
    server = srv;
    const wss = new WebSocketServer({ server: srv });
    wss.on('connection', (ws, req) => {
      const sock = req.socket as TLSSocket;
      ws.send(`authorized=${String(sock.authorized)} subject=${JSON.stringify(sock.getPeerCertificate().subject ?? null)}`);
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    const port = (srv.address() as { port: number }).port;
    const child = spawn(denoBin, ['run', '--allow-net', '--allow-read', join(root, 'test/runtime-deno/deno-dial-check.ts'), join(dir, 'a'), join(dir, 'b'), String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const code = await new Promise<number | null>((r) => child.once('exit', r));
    assert.is(code, 0, stderr);
    const got = Object.fromEntries(stdout.trim().split('\n').map((l) => { const j = JSON.parse(l) as { check: string; value: string }; return [j.check, j.value]; }));
    assert.is(got['trusting its CA'], 'open');
    for (const k of ['trusting another CA', 'trusting the system store only']) {
      assert.match(got[k]!, /^DialTrustError: the TLS certificate of wss:\/\/127\.0\.0\.1:\d+ is not trusted: .*UnknownIssuer/, k);
    }
    assert.match(got['trusting the system store only']!, /give the CA with --tls-ca/);
    assert.match(got['client certificate shown to Node']!, /^authorized=true subject=/);
  } finally {
    await new Promise<void>((r) => (server !== null ? server.close(() => r()) : r()));
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
