// The native Deno peer's command line (src/runtime-deno/flags.ts, runtime-neutral): the flags of
// `edgeraft peer` map (server/peer-flags.ts, as for the Node CLI) onto PeerOptions that resolvePeerOptions accepts; mistakes and flags a Deno
// peer cannot honour are usage errors that say which flag and why.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { resolvePeerOptions } from '../../src/server/peer-options.ts';
import { denoPeerFlags, denoPeerOptions, parseFlags } from '../../src/runtime-deno/flags.ts';

const base = ['--id', 'n3', '--listen', '127.0.0.1:7003', '--peers', 'n1=127.0.0.1:7001,n2=127.0.0.1:7002,n3=127.0.0.1:7003', '--data', '/tmp/d', '--secret-file', '/s'];
const flags = (...more: string[]) => denoPeerOptions(parseFlags([...base, ...more], denoPeerFlags));

test('the flags of `edgeraft peer` become options resolvePeerOptions accepts', () => {
  const f = flags('--tick-ms', '20', '--leases-max', '7', '--token-public-key', 'a.pem', '--token-public-key=b.pem', '--token-algs', 'EdDSA,HS256', '--exit-with-parent');
  const o = resolvePeerOptions({ ...f.options, secret: 'x'.repeat(32) });
  assert.equal([o.id, o.host, o.port, o.tickMs, o.leasesMax, o.dataDir], ['n3', '127.0.0.1', 7003, 20, 7, '/tmp/d']);
  assert.equal(o.peers, { n1: 'ws://127.0.0.1:7001', n2: 'ws://127.0.0.1:7002', n3: 'ws://127.0.0.1:7003' });
  assert.equal([o.tokenPublicKeyFiles, o.tokenAlgs], [['a.pem', 'b.pem'], ['EdDSA', 'HS256']]);
  assert.equal([f.secretFile, f.tls, f.exitWithParent], ['/s', null, true]);
});

test('with --tls-cert and --tls-key bare peers are wss://, and the files are passed on', () => {
  const f = flags('--tls-cert', 'c.pem', '--tls-key', 'k.pem', '--tls-ca', 'ca.pem');
  assert.is(f.options.peers.n1, 'wss://127.0.0.1:7001');
  assert.equal(f.tls, { certFile: 'c.pem', keyFile: 'k.pem', caFile: 'ca.pem' });
});

test('mistakes and what a Deno peer cannot do are usage errors naming the flag and the reason', () => {
  const refused = (args: string[], why: RegExp, code = 'ERR_USAGE') => assert.throws(() => denoPeerOptions(parseFlags(args, denoPeerFlags)), (e: Error & { code?: string }) => e.code === code && why.test(e.message));
  refused([...base, '--bogus'], /unknown option '--bogus'/);
  refused([...base, '--tick-ms'], /'--tick-ms <value>' argument missing/);
  refused([...base, '--insecure'], /either --secret-file or --insecure/);
  refused([...base, '--tls-cert', 'c.pem', '--tls-key', 'k.pem', '--peer-mtls'], /--peer-mtls cannot be honoured by the native Deno peer: Deno\.serve cannot ask/);
  refused([...base, '--web-root', 'x'], /--web-root is not served by the native Deno peer/);
  refused([...base, '--tls-cert', 'c.pem'], /--tls-cert needs --tls-key/);
  // As a key file's problem (exit 2 too), the way `edgeraft peer` refuses it.
  refused([...base, '--token-algs', 'RS256'], /--token-algs: 'RS256' is not one of/, 'ERR_CONFIG_INVALID');
  refused([...base, '--peers', 'n1=nowhere'], /'nowhere' is not HOST:PORT/);
});

test.run();
