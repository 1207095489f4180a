// Node <-> Deno: a bundle of the transport (built by esbuild for the browser platform, so it uses
// the native WebSocket adapter and browser cbor-x) runs in Deno, dials a Node mesh, authenticates
// as a peer and then as a token learner, and exchanges a frame each time.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';
import { mintToken } from '../../src/transport/token.ts';
import { unless } from '../requires.ts';
import { cluster, secret, startNode } from './net.ts';

const denoBin = resolve('node_modules/.bin/deno');
const it = unless(test, spawnSync(denoBin, ['--version']).status === 0 ? null : 'no deno binary (npm install puts it in node_modules/.bin/deno)');

it('a Deno peer and a Deno learner authenticate to a Node mesh and exchange frames', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'edgeraft-deno-'));
  const a = await startNode('a');
  try {
    a.mesh.on('messages', (e) => {
      for (const m of e.msgs) {
        if (m.type === 'hb') a.mesh.send([{ type: 'hbResp', from: 'a', to: e.from, term: m.term, round: m.round }]);
        if (m.type === 'appResp') a.mesh.send([{ type: 'appResp', from: 'a', to: e.from, term: m.term, index: 0, reject: false, hintIndex: 0, hintTerm: 0 }]);
      }
    });
    const seen: string[] = [];
    a.mesh.on('peer:up', (e) => seen.push(`${e.peer}:${e.role}`));
    const bundle = join(dir, 'deno-peer.js');
    await build({
      entryPoints: [resolve('test/transport/deno-peer.ts')], outfile: bundle, bundle: true,
      platform: 'browser', format: 'esm', target: 'es2022', logLevel: 'silent',
    });
    const token = await mintToken(secret, { role: 'learner', sub: 'l9', cluster, expMs: Date.now() + 60_000 });
    const deno = denoBin;
    const out = await new Promise<{ code: number | null; stdout: string; stderr: string }>((done) => {
      const child = spawn(deno, ['run', '--no-config', '--no-lock', '--allow-net=127.0.0.1', bundle, a.url, secret, token, cluster], { cwd: dir });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
      child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      child.on('close', (code) => { clearTimeout(timer); done({ code, stdout, stderr }); });
    });
    const last = out.stdout.trim().split('\n').pop() ?? '';
    assert.is(out.code, 0, `deno exited ${out.code}: ${out.stdout} ${out.stderr}`);
    assert.equal(JSON.parse(last), { ok: true, peerTerm: 3, learnerTerm: 4 });
    assert.equal(seen, ['d1:peer', 'l9:learner']);
  } finally {
    await a.mesh.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
