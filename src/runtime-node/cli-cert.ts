// `edgeraft cert --dev`: a throwaway CA and one certificate (server and client use, with
// subjectAltNames for this machine's names) for trying TLS locally, written with x509-writer.ts.
// Run again on the same directory, it keeps the CA and issues a new certificate (rotation).

import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join, resolve } from 'node:path';
import { integer, opt, parse, UsageError } from './cli-args.ts';
import { generateP256, writeCertificate } from './x509-writer.ts';

export const certHelp = `usage: edgeraft cert --dev [--out DIR] [--hosts 127.0.0.1,localhost,::1] [--days N] [--force]

Writes a throwaway certificate authority and one certificate signed by it, for trying TLS on
one machine (development and tests only: the CA's key sits beside it, unprotected):

  DIR/ca.pem       the CA certificate: give it to peers (--tls-ca) and clients (--ca, the SDK's ca)
  DIR/ca-key.pem   the CA's private key (mode 0600)
  DIR/cert.pem     a certificate for TLS servers and clients, naming --hosts (--tls-cert)
  DIR/key.pem      its private key (mode 0600) (--tls-key)

If DIR already holds ca.pem and ca-key.pem, that CA is kept and only a new cert.pem and key.pem
are written (with --force over the old ones): rotate them, then SIGHUP the peers.

  --dev          required: production certificates come from your own CA (docs/operations.md)
  --out DIR      where to write (default dev-certs)
  --hosts LIST   DNS names and IP addresses the certificate is valid for
                 (default 127.0.0.1,localhost,::1)
  --days N       validity of the certificate, 1..825 days (default 30; the CA gets 10 years
                 when it is new)
  --force        overwrite existing files
`;

export const devHostsDefault: readonly string[] = ['127.0.0.1', 'localhost', '::1'];
const caDays = 3650;
const dayMs = 86_400_000;
/** Certificates start a minute in the past, so a peer whose clock lags a little accepts them. */
const backdateMs = 60_000;

export interface DevCertificates {
  readonly dir: string;
  readonly caFile: string;
  readonly caKeyFile: string;
  readonly certFile: string;
  readonly keyFile: string;
  /** The new certificate's serial (hex, lower case) and end of validity. */
  readonly serial: string;
  readonly validTo: string;
  /** Whether an existing CA in the directory was kept. */
  readonly reusedCa: boolean;
}

/**
 * Writes dev certificates into `dir` (see certHelp). Refuses, naming the file, to overwrite one
 * unless `force`; throws a UsageError for a bad host name.
 */
export function writeDevCertificates(dir: string, o: { hosts?: readonly string[]; days?: number; force?: boolean; nowMs?: number } = {}): DevCertificates {
  const hosts = o.hosts ?? devHostsDefault;
  for (const h of hosts) {
    if (isIP(h) === 0 && !/^[A-Za-z0-9*]([A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(h)) throw new UsageError(`--hosts: '${h}' is neither a DNS name nor an IP address`);
  }
  if (hosts.length === 0) throw new UsageError('--hosts needs at least one DNS name or IP address');
  const nowMs = o.nowMs ?? Date.now();
  const files = { caFile: join(dir, 'ca.pem'), caKeyFile: join(dir, 'ca-key.pem'), certFile: join(dir, 'cert.pem'), keyFile: join(dir, 'key.pem') };
  const reusedCa = existsSync(files.caFile) && existsSync(files.caKeyFile);
  const toWrite = reusedCa ? [files.certFile, files.keyFile] : Object.values(files);
  const existing = toWrite.filter((f) => existsSync(f));
  if (existing.length > 0 && o.force !== true) throw new UsageError(`${existing.join(', ')} exist${existing.length === 1 ? 's' : ''} already: use --force to overwrite, or another --out`);
  mkdirSync(dir, { recursive: true });
  const ca = reusedCa ? readCa(files.caFile, files.caKeyFile) : newCa(nowMs);
  const leaf = generateP256();
  const cert = writeCertificate({
    commonName: 'edgeraft dev', organization: 'edgeraft dev', publicKey: leaf.publicKey, ca: false, hosts,
    notBeforeMs: nowMs - backdateMs, notAfterMs: nowMs + (o.days ?? 30) * dayMs, issuer: ca,
  });
  if (!reusedCa) {
    write(files.caFile, ca.pem, 0o644, o.force);
    write(files.caKeyFile, ca.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), 0o600, o.force);
  }
  write(files.keyFile, leaf.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), 0o600, o.force);
  write(files.certFile, cert.pem, 0o644, o.force);
  const x = new X509Certificate(cert.pem);
  return { dir, ...files, serial: x.serialNumber.toLowerCase(), validTo: new Date(x.validTo).toISOString(), reusedCa };
}

interface Ca {
  readonly commonName: string;
  readonly organization: string;
  readonly publicKey: ReturnType<typeof createPublicKey>;
  readonly privateKey: ReturnType<typeof createPrivateKey>;
  readonly pem: string;
}

function newCa(nowMs: number): Ca {
  const keys = generateP256();
  // A name of its own per CA, so two throwaway CAs are never mistaken for each other.
  const commonName = `edgeraft dev CA ${new Date(nowMs).toISOString().slice(0, 19)} ${Math.random().toString(36).slice(2, 8)}`;
  const cert = writeCertificate({
    commonName, organization: 'edgeraft dev', publicKey: keys.publicKey, selfKey: keys.privateKey, ca: true,
    notBeforeMs: nowMs - backdateMs, notAfterMs: nowMs + caDays * dayMs,
  });
  return { commonName, organization: 'edgeraft dev', ...keys, pem: cert.pem };
}

function readCa(caFile: string, caKeyFile: string): Ca {
  const pem = readFileSync(caFile, 'utf8');
  const x = new X509Certificate(pem);
  const privateKey = createPrivateKey(readFileSync(caKeyFile, 'utf8'));
  if (!x.ca || !x.checkPrivateKey(privateKey)) throw new UsageError(`${caFile} and ${caKeyFile} are not a CA certificate and its key: remove them, or use another --out`);
  const field = (name: string) => new RegExp(`^${name}=(.*)$`, 'm').exec(x.subject)?.[1] ?? '';
  return { commonName: field('CN'), organization: field('O'), publicKey: createPublicKey(privateKey), privateKey, pem };
}

function write(path: string, text: string, mode: number, force: boolean | undefined): void {
  // 'wx' refuses a file that appeared since the check. A file overwritten with --force keeps its
  // old mode unless set again: a key must not stay readable by others.
  writeFileSync(path, text, { mode, flag: force === true ? 'w' : 'wx' });
  chmodSync(path, mode);
}

export async function certCommand(argv: readonly string[]): Promise<number> {
  const { values } = parse(argv, {
    dev: { type: 'boolean' }, out: { type: 'string' }, hosts: { type: 'string' }, days: { type: 'string' }, force: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help === true) {
    process.stdout.write(certHelp);
    return 0;
  }
  if (values.dev !== true) throw new UsageError('only --dev certificates are made here (a throwaway CA for one machine); for production, use certificates from your own CA (docs/operations.md, "TLS")');
  const hostsText = opt(values, 'hosts');
  const hosts = hostsText === undefined ? devHostsDefault : hostsText.split(',').map((h) => h.trim().replace(/^\[|\]$/g, '')).filter(Boolean);
  const dir = resolve(opt(values, 'out') ?? 'dev-certs');
  const r = writeDevCertificates(dir, { hosts, days: integer(opt(values, 'days'), 'days', 30, 1, 825), force: values.force === true });
  process.stdout.write(`${r.reusedCa ? `kept the CA ${r.caFile}` : `wrote a new CA: ${r.caFile} (key ${r.caKeyFile})`}
wrote ${r.certFile} and ${r.keyFile}: serial ${r.serial}, valid until ${r.validTo}, for ${hosts.join(', ')}

  edgeraft peer ... --tls-cert ${r.certFile} --tls-key ${r.keyFile} --tls-ca ${r.caFile}
  edgeraft status --peers HOST:PORT --ca ${r.caFile} ...
`);
  return 0;
}
