// Runs inside Deno (bundled by esbuild for the browser platform): dials a Node mesh through the
// native WebSocket, once as a peer holding the secret and once as a token learner, sends a
// heartbeat each time and waits for the reply. Prints one JSON line with what happened.
import { dialDom } from '../../src/runtime-browser/dom-socket.ts';
import { Mesh } from '../../src/transport/mesh.ts';
import type { MeshOptions } from '../../src/transport/mesh-options.ts';

interface DenoLike { readonly args: string[]; exit(code: number): never }
const deno = (globalThis as unknown as { Deno: DenoLike }).Deno;
const [url = '', secret = '', token = '', cluster = ''] = deno.args;

async function exchange(id: string, auth: Partial<MeshOptions>): Promise<number> {
  const mesh = await Mesh.start({ id, cluster, dial: dialDom, peers: { a: url }, logger: () => {}, ...auth } as MeshOptions);
  try {
    const reply = new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${id}: no reply`)), 5000);
      mesh.on('messages', (e) => {
        for (const m of e.msgs) if (m.type === 'hbResp' || m.type === 'appResp') { clearTimeout(timer); resolve(m.term); }
      });
    });
    mesh.on('peer:up', () => {
      if (auth.token === undefined) mesh.send([{ type: 'hb', from: id, to: 'a', term: 3, commit: 0, round: 1 }]);
      else mesh.send([{ type: 'appResp', from: id, to: 'a', term: 4, index: 0, reject: false, hintIndex: 0, hintTerm: 0 }]);
    });
    return await reply;
  } finally {
    await mesh.close();
  }
}

try {
  const peerTerm = await exchange('d1', { secret });
  const learnerTerm = await exchange('l9', { token });
  console.log(JSON.stringify({ ok: true, peerTerm, learnerTerm }));
  deno.exit(0);
} catch (err) {
  console.log(JSON.stringify({ ok: false, error: String(err) }));
  deno.exit(1);
}
