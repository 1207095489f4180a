// A peer's TLS files (--tls-cert, --tls-key, --tls-ca): loaded and checked before any port is
// bound, with errors that name the file and the problem; the options the https listener and the
// wss:// dialer take from them; and reload on SIGHUP, which keeps the old files on any problem.

import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Server as HttpsServer } from 'node:https';
import type { SecureContextOptions, TLSSocket } from 'node:tls';
import type { Dialer } from '../transport/socket.ts';
import { PeerOptionError, type TlsFiles } from '../server/peer-options.ts';
import { dialWs, type WsTlsOptions } from './ws-socket.ts';

export type { TlsFiles };

/** What was read from the files, checked. */
export interface TlsMaterial {
  readonly files: TlsFiles;
  /** The certificate file's PEM (the leaf first, then any intermediates). */
  readonly cert: string;
  readonly key: string;
  /** The CA file's PEM, or null for the system store. */
  readonly ca: string | null;
  /** The leaf certificate. */
  readonly x509: X509Certificate;
  /** Problems worth a warning that do not stop the peer (the leaf not issued by --tls-ca, say). */
  readonly warnings: readonly string[];
}

const pemCertificate = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** A TLS file problem: the CLI exits 2, as for any bad option. */
function bad(flag: string, file: string, problem: string): PeerOptionError {
  return new PeerOptionError(`${flag} ${file}: ${problem}`);
}

function readText(flag: string, file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a directory' : (err as Error).message;
    throw bad(flag, file, `cannot read it (${why})`);
  }
}

/** Every certificate of a PEM file, parsed; the error names the file and which block is wrong. */
function certificatesOf(flag: string, file: string, text: string): X509Certificate[] {
  const blocks = text.match(pemCertificate) ?? [];
  if (blocks.length === 0) throw bad(flag, file, 'not a PEM certificate file (no -----BEGIN CERTIFICATE----- block)');
  return blocks.map((block, i) => {
    try {
      return new X509Certificate(block);
    } catch (err) {
      throw bad(flag, file, `certificate ${i + 1} of ${blocks.length} cannot be parsed (${(err as Error).message})`);
    }
  });
}

function privateKeyOf(file: string, text: string): KeyObject {
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text)) throw bad('--tls-key', file, 'not a PEM private key (no -----BEGIN ... PRIVATE KEY----- block)');
  if (text.includes('ENCRYPTED')) throw bad('--tls-key', file, 'the private key is encrypted; give an unencrypted key file (mode 0600)');
  try {
    return createPrivateKey(text);
  } catch (err) {
    throw bad('--tls-key', file, `the private key cannot be parsed (${(err as Error).message})`);
  }
}

/** The certificate's subject and validity, for error messages and the reload log line. */
export function describeCertificate(x: X509Certificate): { serial: string; subject: string; validFrom: string; validTo: string } {
  return {
    serial: x.serialNumber.toLowerCase(), subject: x.subject.replace(/\n/g, ', '),
    validFrom: new Date(x.validFrom).toISOString(), validTo: new Date(x.validTo).toISOString(),
  };
}

/**
 * Reads and checks the files: each readable and PEM, the key matching the certificate, the
 * certificate valid at `nowMs`. Throws a PeerOptionError naming the flag, the file and the problem.
 */
export function loadTls(files: TlsFiles, nowMs: number = Date.now()): TlsMaterial {
  const cert = readText('--tls-cert', files.certFile);
  const key = readText('--tls-key', files.keyFile);
  const ca = files.caFile !== null ? readText('--tls-ca', files.caFile) : null;
  const chain = certificatesOf('--tls-cert', files.certFile, cert);
  const leaf = chain[0]!;
  const privateKey = privateKeyOf(files.keyFile, key);
  if (!leaf.checkPrivateKey(privateKey)) {
    throw bad('--tls-key', files.keyFile, `this key does not match the certificate in --tls-cert ${files.certFile} (subject ${describeCertificate(leaf).subject})`);
  }
  const when = describeCertificate(leaf);
  if (Date.parse(leaf.validTo) <= nowMs) throw bad('--tls-cert', files.certFile, `the certificate expired on ${when.validTo}`);
  if (Date.parse(leaf.validFrom) > nowMs) throw bad('--tls-cert', files.certFile, `the certificate is not valid before ${when.validFrom} (check this machine's clock)`);
  const warnings: string[] = [];
  if (ca !== null && files.caFile !== null) {
    const cas = certificatesOf('--tls-ca', files.caFile, ca);
    const issuers = [...cas, ...chain.slice(1)];
    if (!issuers.some((i) => leaf.checkIssued(i) && leaf.verify(i.publicKey))) {
      warnings.push(`the certificate in --tls-cert ${files.certFile} is not signed by a certificate in --tls-ca ${files.caFile} (nor by an intermediate in its own file): peers that trust only that CA will refuse it`);
    }
  }
  return { files, cert, key, ca, x509: leaf, warnings };
}

/**
 * The listener's options. With `peerMtls` the server asks every client for a certificate but does
 * not refuse at the TLS layer (SDK clients and browsers have none): the mesh refuses a peer
 * handshake on a connection whose certificate is missing or not signed by the CA.
 */
export function serverOptions(m: TlsMaterial, peerMtls: boolean): SecureContextOptions & { requestCert: boolean; rejectUnauthorized: boolean } {
  return { ...secureContextOptions(m), requestCert: peerMtls, rejectUnauthorized: false };
}

/**
 * A plain-text request on a TLS port (ws://, http://) fails its TLS handshake, and the client
 * would see only a closed connection and retry until its timeout: answer it in plain text with a
 * 426 that says to use wss:// or https://, so the SDK and the CLI can say so at once.
 */
export function answerPlainRequests(server: HttpsServer): void {
  const body = 'this edgeraft member serves TLS on this port: dial wss:// (or open https://), trusting its CA\n';
  const answer = `HTTP/1.1 426 Upgrade Required\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
  server.on('tlsClientError', (err: NodeJS.ErrnoException, socket: TLSSocket) => {
    if (err.code !== 'ERR_SSL_HTTP_REQUEST') return;
    // Node keeps the TCP socket under the failed TLS one (not a public field): without it, the
    // client just sees the connection close, as before.
    const raw = (socket as unknown as { _parent?: { writable?: boolean; end?: (data: string) => void } })._parent;
    if (raw?.writable === true && typeof raw.end === 'function') raw.end(answer);
  });
}

/** The secure context alone (what setSecureContext takes on a reload). */
export function secureContextOptions(m: TlsMaterial): SecureContextOptions {
  return { cert: m.cert, key: m.key, ...(m.ca !== null ? { ca: m.ca } : {}) };
}

/**
 * What a peer's wss:// dials verify against (--tls-ca, or the system store), and the client
 * certificate they present. A peer always presents it: a listener without --peer-mtls does not ask
 * for it, and one with it gets it, so members can turn --peer-mtls on one at a time.
 */
export function dialOptions(m: TlsMaterial): WsTlsOptions {
  return { ...(m.ca !== null ? { ca: m.ca } : {}), cert: m.cert, key: m.key };
}

/**
 * A peer's TLS state: the files last loaded, the options of future dials, and reload(), which
 * swaps both only when the new files pass every check of loadTls.
 */
export class PeerTls {
  #material: TlsMaterial;

  constructor(material: TlsMaterial) {
    this.#material = material;
  }

  get material(): TlsMaterial {
    return this.#material;
  }

  /**
   * Dials peers over wss:// with the current CA and certificate. A ws:// address (a data
   * directory or member key written before TLS was turned on) is dialed as wss://: a TLS peer's
   * listener speaks nothing else.
   */
  readonly dial: Dialer = (url, options) => dialWs(url.replace(/^ws:/, 'wss:'), options, dialOptions(this.#material));

  /**
   * Reads the files again and, if they pass, serves the new certificate to new connections (open
   * ones keep theirs) and uses it for future dials. Throws a PeerOptionError, keeping the old
   * certificate, if they do not.
   */
  reload(server: HttpsServer): TlsMaterial {
    const next = loadTls(this.#material.files);
    server.setSecureContext(secureContextOptions(next));
    this.#material = next;
    return next;
  }
}
