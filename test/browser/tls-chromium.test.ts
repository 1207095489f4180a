// A tab on an https:// page joins a follower-reader over wss://, in real headless Chromium, against
// a TLS cluster started through the CLI with a throwaway CA: the page and the members share the
// dev certificate, and the tab reads a key the Node SDK wrote (with `ca`). A page on https:// may
// open only wss:// (mixed content), which is why TLS peers matter to browsers.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ReplicaStatus } from '../../src/runtime-browser/follower.ts';
import { waitFor, withCluster } from '../e2e/cluster.ts';
import { unless } from '../requires.ts';
import { evaluate, findChromium, launchBrowser, servePage } from './chromium.ts';

const test = suite('tls-chromium');
const here = dirname(fileURLToPath(import.meta.url));
const it = unless(test, findChromium() === null ? 'no Chromium (apt-get install -y chromium)' : null);

/** base64(SHA-256(SubjectPublicKeyInfo)) of a PEM certificate: Chromium's name for a key. */
function spkiHash(certPem: string): string {
  const spki = new X509Certificate(certPem).publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(spki).digest('base64');
}

it('a tab on an https:// page follows a TLS cluster over wss:// and reads what the SDK wrote', async () => {
  await withCluster({ size: 3, tickMs: 20, name: 'tab-tls', tls: true }, async (c) => {
    const certs = c.certs!;
    const admin = await c.client();
    await Promise.all(Array.from({ length: 20 }, (_, i) => admin.put(`t/${i}`, `v${i}`)));
    const peers = c.ids.map((id) => c.url(id));
    assert.ok(peers.every((p) => p.startsWith('wss://')), peers.join());
    const certPem = readFileSync(certs.certFile, 'utf8');
    const served = await servePage({ bundleEntry: join(here, 'follower-page.ts'), title: 'follower over TLS', tls: { cert: certPem, key: readFileSync(certs.keyFile, 'utf8') } });
    // Chromium has no flag to add a CA for one run. This flag trusts exactly one public key (the
    // SPKI hash of our dev certificate, which the page and every member serve), and only with a
    // profile directory of its own (Playwright's persistent context has one): certificate checks
    // still run for every other key, so a wrong certificate would still fail the test. It is
    // "trust this key", not "--ignore-certificate-errors", which would accept anything.
    const browser = await launchBrowser({ args: [`--ignore-certificate-errors-spki-list=${spkiHash(certPem)}`] });
    try {
      const page = await browser.newPage();
      assert.match(served.url, /^https:\/\//);
      await page.goto(served.url);
      assert.is(await evaluate<string>(page, 'location.protocol'), 'https:');
      assert.ok(await evaluate<boolean>(page, 'isSecureContext'), 'the page is a secure context');
      const token = await c.token('learner');
      const first = await evaluate<ReplicaStatus>(page, `followerPage.join(${JSON.stringify(peers)}, ${JSON.stringify(token)})`);
      assert.is(first.applied, 0, 'a fresh tab starts empty');
      await waitFor(async () => (await evaluate<{ value: string | null }>(page, `followerPage.get('t/19', 'stale')`)).value === 'v19', 'the tab to catch up over wss://', 15_000);
      await admin.put('t/live', 'over-tls');
      const r = await evaluate<{ value: string | null; path: string }>(page, `followerPage.get('t/live', 'linearizable')`);
      assert.equal([r.value, r.path], ['over-tls', 'follower'], 'a linearizable read in the tab sees the SDK\'s completed write');
      await evaluate(page, 'followerPage.close()');
    } finally {
      await browser.close();
      await served.close();
      await admin.close();
    }
  });
});

test.run();
