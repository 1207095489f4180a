// Writes X.509 v3 certificates for ECDSA P-256 keys with node:crypto and der-writer.ts, so
// `edgeraft cert --dev` needs no certificate library: a CA, and leaf certificates for TLS servers
// and clients with subjectAltNames. Only what RFC 5280 asks of such certificates, signed SHA-256.

import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import { assert } from '../core/assert.ts';
import {
  bitStringBytes, boolean, explicit, implicit, namedBits, octetString, oid, sequence, set, smallInteger, time, unsignedInteger,
  utf8String,
} from './der-writer.ts';

const oids = {
  ecPublicKey: '1.2.840.10045.2.1', prime256v1: '1.2.840.10045.3.1.7', ecdsaWithSha256: '1.2.840.10045.4.3.2',
  commonName: '2.5.4.3', organization: '2.5.4.10',
  subjectKeyIdentifier: '2.5.29.14', keyUsage: '2.5.29.15', subjectAltName: '2.5.29.17', basicConstraints: '2.5.29.19',
  authorityKeyIdentifier: '2.5.29.35', extKeyUsage: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1', clientAuth: '1.3.6.1.5.5.7.3.2',
} as const;

/** keyUsage bit numbers (RFC 5280 4.2.1.3). */
const keyUsageBits = { digitalSignature: 0, keyCertSign: 5, cRLSign: 6 } as const;

export interface KeyPair {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
}

export function generateP256(): KeyPair {
  return generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
}

export interface CertificateSpec {
  /** The subject's common name (informational: TLS checks the subjectAltNames). */
  readonly commonName: string;
  readonly organization?: string;
  /** The key the certificate binds. */
  readonly publicKey: KeyObject;
  /** A CA certificate (basicConstraints cA, keyCertSign) instead of a TLS leaf. */
  readonly ca: boolean;
  /** DNS names and IP addresses (v4 or v6) for a leaf's subjectAltName; ignored for a CA. */
  readonly hosts?: readonly string[];
  readonly notBeforeMs: number;
  readonly notAfterMs: number;
  /** Who signs: omitted for a self-signed certificate (the subject signs with `selfKey`). */
  readonly issuer?: { readonly commonName: string; readonly organization?: string; readonly publicKey: KeyObject; readonly privateKey: KeyObject };
  /** The subject's own private key, for a self-signed certificate. */
  readonly selfKey?: KeyObject;
  /** Serial number bytes (default 16 random bytes, positive). */
  readonly serial?: Uint8Array;
}

/** A certificate as DER bytes and as PEM text. */
export interface WrittenCertificate {
  readonly der: Uint8Array;
  readonly pem: string;
}

export function writeCertificate(spec: CertificateSpec): WrittenCertificate {
  assert(spec.notAfterMs > spec.notBeforeMs, 'a certificate ends after it begins');
  const signer = spec.issuer ?? {
    commonName: spec.commonName, ...(spec.organization !== undefined ? { organization: spec.organization } : {}),
    publicKey: spec.publicKey, privateKey: spec.selfKey,
  };
  assert(signer.privateKey !== undefined, 'a self-signed certificate needs selfKey');
  const algorithm = sequence(oid(oids.ecdsaWithSha256));
  const tbs = sequence(
    explicit(0, smallInteger(2)),
    unsignedInteger(spec.serial ?? serialBytes()),
    algorithm,
    name(signer.commonName, signer.organization),
    sequence(time(spec.notBeforeMs), time(spec.notAfterMs)),
    name(spec.commonName, spec.organization),
    spkiOf(spec.publicKey),
    explicit(3, sequence(...extensions(spec, signer.publicKey))),
  );
  // node:crypto signs ECDSA as the DER SEQUENCE { r, s } that X.509 expects.
  const signature = sign('sha256', tbs, signer.privateKey);
  const der = sequence(tbs, algorithm, bitStringBytes(new Uint8Array(signature)));
  return { der, pem: toPem('CERTIFICATE', der) };
}

export function toPem(label: string, der: Uint8Array): string {
  const b64 = Buffer.from(der).toString('base64');
  return `-----BEGIN ${label}-----\n${b64.replace(/(.{64})/g, '$1\n').replace(/\n$/, '')}\n-----END ${label}-----\n`;
}

/** 16 random bytes with the top bit clear (a positive INTEGER) and a non-zero first byte (minimal). */
function serialBytes(): Uint8Array {
  const b = new Uint8Array(randomBytes(16));
  b[0] = (b[0]! & 0x7f) | 0x01;
  return b;
}

function name(commonName: string, organization?: string): Uint8Array {
  const rdn = (type: string, value: string) => set(sequence(oid(type), utf8String(value)));
  return sequence(...(organization !== undefined ? [rdn(oids.organization, organization)] : []), rdn(oids.commonName, commonName));
}

/** SubjectPublicKeyInfo exactly as node:crypto exports it (checked to be a P-256 key). */
function spkiOf(key: KeyObject): Uint8Array {
  assert(key.type === 'public' && key.asymmetricKeyType === 'ec', 'an EC public key');
  assert(key.asymmetricKeyDetails?.namedCurve === 'prime256v1', 'a P-256 key');
  return new Uint8Array(key.export({ type: 'spki', format: 'der' }));
}

/** RFC 5280 4.2.1.2 method 1: SHA-1 of the subjectPublicKey bits (the uncompressed EC point). */
export function keyIdentifier(key: KeyObject): Uint8Array {
  const jwk = key.export({ format: 'jwk' });
  assert(typeof jwk.x === 'string' && typeof jwk.y === 'string', 'an EC key exports x and y');
  const point = Buffer.concat([Buffer.of(4), Buffer.from(jwk.x, 'base64url'), Buffer.from(jwk.y, 'base64url')]);
  return new Uint8Array(createHash('sha1').update(point).digest());
}

function extension(id: string, critical: boolean, value: Uint8Array): Uint8Array {
  return sequence(oid(id), ...(critical ? [boolean(true)] : []), octetString(value));
}

function extensions(spec: CertificateSpec, issuerKey: KeyObject): Uint8Array[] {
  const out: Uint8Array[] = [];
  if (spec.ca) {
    // pathLenConstraint 0: this CA signs leaves only.
    out.push(extension(oids.basicConstraints, true, sequence(boolean(true), smallInteger(0))));
    out.push(extension(oids.keyUsage, true, namedBits([keyUsageBits.digitalSignature, keyUsageBits.keyCertSign, keyUsageBits.cRLSign])));
  } else {
    out.push(extension(oids.basicConstraints, true, sequence()));
    out.push(extension(oids.keyUsage, true, namedBits([keyUsageBits.digitalSignature])));
    out.push(extension(oids.extKeyUsage, false, sequence(oid(oids.serverAuth), oid(oids.clientAuth))));
    const hosts = spec.hosts ?? [];
    assert(hosts.length > 0, 'a leaf certificate names at least one host');
    out.push(extension(oids.subjectAltName, false, sequence(...hosts.map(generalName))));
  }
  out.push(extension(oids.subjectKeyIdentifier, false, octetString(keyIdentifier(spec.publicKey))));
  out.push(extension(oids.authorityKeyIdentifier, false, sequence(implicit(0, keyIdentifier(issuerKey)))));
  return out;
}

/** dNSName [2] IA5String, or iPAddress [7] OCTET STRING of 4 or 16 bytes. */
function generalName(host: string): Uint8Array {
  const kind = isIP(host);
  if (kind === 0) {
    assert(/^[A-Za-z0-9*]([A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(host), () => `'${host}' is a DNS name or an IP address`);
    return implicit(2, new TextEncoder().encode(host));
  }
  return implicit(7, kind === 4 ? Uint8Array.from(host.split('.').map(Number)) : ipv6Bytes(host));
}

/** An IPv6 address's 16 bytes: the groups around '::' (the zeros it stands for between), an IPv4 tail as two groups. */
function ipv6Bytes(host: string): Uint8Array {
  const halves = host.split('::');
  assert(halves.length <= 2, () => `'${host}' has at most one '::'`);
  const groupsOf = (part: string): number[] => (part === '' ? [] : part.split(':').flatMap(groupValues));
  const left = groupsOf(halves[0]!);
  const right = halves.length === 2 ? groupsOf(halves[1]!) : [];
  const zeros = halves.length === 2 ? 8 - left.length - right.length : 0;
  const groups = [...left, ...Array<number>(zeros).fill(0), ...right];
  assert(groups.length === 8 && groups.every((g) => Number.isInteger(g) && g >= 0 && g <= 0xffff), () => `'${host}' is 8 IPv6 groups`);
  return Uint8Array.from(groups.flatMap((g) => [g >> 8, g & 0xff]));
}

function groupValues(group: string): number[] {
  if (!group.includes('.')) return [parseInt(group, 16)];
  const [a, b, c, d] = group.split('.').map(Number) as [number, number, number, number];
  return [(a << 8) | b, (c << 8) | d];
}
