// The hand-written X.509 DER (x509-writer.ts, der-writer.ts) read back by node:crypto and by
// `openssl verify` when this machine has it; `edgeraft cert --dev`'s files; and tls.ts's checks of
// a peer's files (missing, not PEM, mismatched key, expired, not yet valid), each naming the file.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { namedBits, oid, smallInteger, time, unsignedInteger } from '../../src/runtime-node/der-writer.ts';
import { writeDevCertificates } from '../../src/runtime-node/cli-cert.ts';
import { UsageError } from '../../src/runtime-node/cli-args.ts';
import { PeerOptionError } from '../../src/server/peer-options.ts';
import { loadTls } from '../../src/runtime-node/tls.ts';
import { generateP256, writeCertificate } from '../../src/runtime-node/x509-writer.ts';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const dayMs = 86_400_000;

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'edgeraft-x509-'));
}

test('DER primitives: OIDs, minimal integers, named bits and both time forms', () => {
  assert.is(hex(oid('1.2.840.10045.4.3.2')), '06082a8648ce3d040302');
  assert.is(hex(oid('2.5.29.17')), '0603551d11');
  assert.is(hex(smallInteger(0)), '020100');
  assert.is(hex(smallInteger(2)), '020102');
  assert.is(hex(smallInteger(128)), '02020080', 'a set top bit gets a leading zero');
  assert.is(hex(unsignedInteger(Uint8Array.of(0, 0, 5))), '020105', 'leading zeros are dropped');
  // keyUsage digitalSignature only: 7 unused bits; with keyCertSign and cRLSign: 1 unused bit.
  assert.is(hex(namedBits([0])), '03020780');
  assert.is(hex(namedBits([0, 5, 6])), '03020186');
  assert.is(Buffer.from(time(Date.UTC(2049, 11, 31, 23, 59, 59)).subarray(2)).toString(), '491231235959Z');
  assert.is(time(Date.UTC(2049, 0, 1))[0], 0x17, 'UTCTime through 2049');
  assert.is(Buffer.from(time(Date.UTC(2050, 0, 1)).subarray(2)).toString(), '20500101000000Z');
  assert.is(time(Date.UTC(2050, 0, 1))[0], 0x18, 'GeneralizedTime from 2050');
});

test('a CA and a leaf written here: node verifies the signature, the hosts, the uses and the key', () => {
  const ca = generateP256();
  const leaf = generateP256();
  const now = Date.now();
  const caCert = writeCertificate({
    commonName: 'test CA', organization: 'edgeraft test', publicKey: ca.publicKey, selfKey: ca.privateKey, ca: true,
    notBeforeMs: now - 1000, notAfterMs: now + dayMs,
  });
  const cert = writeCertificate({
    commonName: 'node', publicKey: leaf.publicKey, ca: false, hosts: ['127.0.0.1', 'localhost', '::1', 'node.example', 'fe80::1:2', '2001:db8::ffff:10.1.2.3'],
    notBeforeMs: now - 1000, notAfterMs: Date.UTC(2051, 0, 1), serial: Uint8Array.of(0x12, 0x34),
    issuer: { commonName: 'test CA', organization: 'edgeraft test', publicKey: ca.publicKey, privateKey: ca.privateKey },
  });
  const x = new X509Certificate(cert.pem);
  const xca = new X509Certificate(caCert.pem);
  assert.ok(xca.ca, 'basicConstraints cA');
  assert.not.ok(x.ca);
  assert.ok(xca.verify(ca.publicKey), 'the CA is self-signed');
  assert.ok(x.verify(ca.publicKey), 'the leaf is signed by the CA');
  assert.not.ok(x.verify(leaf.publicKey));
  assert.ok(x.checkIssued(xca));
  assert.is(x.checkIP('127.0.0.1'), '127.0.0.1');
  assert.is(x.checkIP('::1'), '::1');
  assert.is(x.checkIP('10.0.0.1'), undefined);
  assert.is(x.checkIP('fe80::1:2'), 'fe80::1:2');
  assert.is(x.checkIP('2001:db8::ffff:a01:203'), '2001:db8::ffff:a01:203', 'an IPv4 tail is two groups');
  assert.is(x.checkHost('localhost'), 'localhost');
  assert.is(x.checkHost('node.example'), 'node.example');
  assert.is(x.checkHost('other.example'), undefined);
  assert.equal(x.keyUsage, ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2'], 'serverAuth and clientAuth');
  assert.ok(x.checkPrivateKey(leaf.privateKey));
  assert.is(x.serialNumber, '1234');
  assert.is(new Date(x.validTo).toISOString(), '2051-01-01T00:00:00.000Z', 'a GeneralizedTime end reads back');
  assert.match(x.subjectAltName ?? '', /^IP Address:127\.0\.0\.1, DNS:localhost, IP Address:0:0:0:0:0:0:0:1, DNS:node\.example, IP Address:FE80:0:0:0:0:0:1:2, /);
  assert.is(x.issuer, 'O=edgeraft test\nCN=test CA');
  assert.is(Buffer.from(cert.der).toString('base64'), cert.pem.replace(/-----[A-Z ]+-----|\n/g, ''));
});

test('edgeraft cert --dev files: openssl verifies them, keys are 0600, nothing is overwritten without force, a second run keeps the CA', () => {
  const dir = tempDir();
  try {
    const r = writeDevCertificates(dir, { hosts: ['127.0.0.1', 'localhost'], days: 3 });
    assert.not.ok(r.reusedCa);
    for (const f of [r.caKeyFile, r.keyFile]) assert.is(statSync(f).mode & 0o777, 0o600, `${f} mode`);
    const x = new X509Certificate(readFileSync(r.certFile));
    const xca = new X509Certificate(readFileSync(r.caFile));
    assert.ok(x.verify(xca.publicKey));
    assert.ok(Math.abs(Date.parse(x.validTo) - (Date.now() + 3 * dayMs)) < 120_000, `valid for 3 days: ${x.validTo}`);
    if (spawnSync('openssl', ['version']).status === 0) {
      const v = spawnSync('openssl', ['verify', '-purpose', 'sslserver', '-CAfile', r.caFile, r.certFile], { encoding: 'utf8' });
      assert.is(v.status, 0, `openssl verify: ${v.stdout}${v.stderr}`);
      const c = spawnSync('openssl', ['verify', '-purpose', 'sslclient', '-CAfile', r.caFile, r.certFile], { encoding: 'utf8' });
      assert.is(c.status, 0, `openssl verify as a client certificate: ${c.stdout}${c.stderr}`);
    } else {
      console.log('x509: no openssl here; checked with node:crypto only');
    }
    try {
      writeDevCertificates(dir);
      assert.unreachable('overwrote without force');
    } catch (err) {
      assert.instance(err, UsageError);
      assert.match((err as Error).message, /cert\.pem, .*key\.pem exist already: use --force/);
    }
    const again = writeDevCertificates(dir, { force: true });
    assert.ok(again.reusedCa, 'the CA is kept');
    assert.is.not(again.serial, r.serial);
    assert.is(readFileSync(r.caFile, 'utf8'), xca.toString(), 'ca.pem unchanged');
    assert.ok(new X509Certificate(readFileSync(r.certFile)).verify(xca.publicKey), 'the new certificate is signed by the kept CA');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('loadTls names the file and the problem: missing, not PEM, mismatched key, expired, not yet valid', () => {
  const dir = tempDir();
  try {
    const a = writeDevCertificates(join(dir, 'a'));
    const b = writeDevCertificates(join(dir, 'b'));
    const files = { certFile: a.certFile, keyFile: a.keyFile, caFile: a.caFile };
    const ok = loadTls(files);
    assert.equal(ok.warnings, []);
    const notPem = join(dir, 'garbage.pem');
    writeFileSync(notPem, 'hello\n');
    const expect = (f: typeof files, pattern: RegExp, nowMs?: number) => {
      try {
        loadTls(f, nowMs);
        assert.unreachable(`accepted ${JSON.stringify(f)}`);
      } catch (err) {
        assert.instance(err, PeerOptionError);
        assert.match((err as Error).message, pattern);
      }
    };
    expect({ ...files, certFile: join(dir, 'nope.pem') }, /^--tls-cert .*nope\.pem: cannot read it \(no such file\)/);
    expect({ ...files, keyFile: join(dir, 'nope.pem') }, /^--tls-key .*nope\.pem: cannot read it/);
    expect({ ...files, caFile: join(dir, 'nope.pem') }, /^--tls-ca .*nope\.pem: cannot read it/);
    expect({ ...files, certFile: notPem }, /^--tls-cert .*garbage\.pem: not a PEM certificate/);
    expect({ ...files, keyFile: notPem }, /^--tls-key .*garbage\.pem: not a PEM private key/);
    expect({ ...files, caFile: notPem }, /^--tls-ca .*garbage\.pem: not a PEM certificate/);
    expect({ ...files, keyFile: b.keyFile }, /^--tls-key .*b\/key\.pem: this key does not match the certificate in --tls-cert .*a\/cert\.pem/);
    expect(files, /^--tls-cert .*a\/cert\.pem: the certificate expired on 20/, Date.now() + 31 * dayMs);
    expect(files, /^--tls-cert .*a\/cert\.pem: the certificate is not valid before 20/, Date.now() - dayMs);
    // Another CA's certificate loads, with a warning that peers trusting only --tls-ca will refuse it.
    const mixed = loadTls({ ...files, caFile: b.caFile });
    assert.is(mixed.warnings.length, 1);
    assert.match(mixed.warnings[0]!, /is not signed by a certificate in --tls-ca .*b\/ca\.pem/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
