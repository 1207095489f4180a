// The cryptography of the handshake: HMAC-SHA256 keys from the cluster secret (Web Crypto, so it
// runs unchanged in Node 20, Deno and browsers), domain-separated proof inputs, fresh random
// challenges and constant-time comparison.

import { TransportError } from './errors.ts';
import { challengeBytes } from './envelope.ts';

export type Secret = string | Uint8Array;

/** A secret shorter than this is refused: the proofs are only as strong as the secret. */
export const secretBytesMin = 16;

/** Secrets a node holds at once: a rotation needs two; each one more is a proof to try per handshake. */
export const secretsMax = 4;

const encoder = new TextEncoder();

function subtle(): SubtleCrypto {
  const c = globalThis.crypto;
  if (c === undefined || c.subtle === undefined) {
    throw new TransportError('ERR_CONFIG_INVALID', 'Web Crypto (crypto.subtle) is not available: it needs a secure context in browsers and Node >= 20');
  }
  return c.subtle;
}

export function secretBytes(secret: Secret): Uint8Array {
  const bytes = typeof secret === 'string' ? encoder.encode(secret) : secret;
  if (!(bytes instanceof Uint8Array) || bytes.byteLength < secretBytesMin) {
    throw new TransportError('ERR_CONFIG_INVALID', `invalid option secret: must be at least ${secretBytesMin} bytes (got ${bytes instanceof Uint8Array ? bytes.byteLength : typeof bytes})`);
  }
  return bytes;
}

export async function importHmacKey(secret: Secret): Promise<CryptoKey> {
  const raw = secretBytes(secret);
  return subtle().importKey('raw', new Uint8Array(raw), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
}

export async function hmac(key: CryptoKey, data: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await subtle().sign('HMAC', key, new Uint8Array(data)));
}

/** Compares in time that depends only on the lengths, not on where the bytes differ. */
export function timingSafeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  let diff = 0;
  for (let i = 0; i < a.byteLength; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

export function randomChallenge(): Uint8Array {
  const bytes = new Uint8Array(challengeBytes);
  globalThis.crypto.getRandomValues(bytes);
  return bytes;
}

/**
 * An unambiguous byte string of a label and fields: each part is prefixed with its 4-byte length,
 * so no two different field lists (or a proof and a token) can produce the same input.
 */
export function proofInput(label: string, parts: readonly (Uint8Array | string | number)[]): Uint8Array {
  const encoded = [label, ...parts].map((p) =>
    typeof p === 'string' ? encoder.encode(p) : typeof p === 'number' ? encoder.encode(String(p)) : p);
  const total = encoded.reduce((n, p) => n + 4 + p.byteLength, 0);
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  let at = 0;
  for (const p of encoded) {
    view.setUint32(at, p.byteLength);
    out.set(p, at + 4);
    at += 4 + p.byteLength;
  }
  return out;
}

/** What the dialer proves: it knows the secret, answering the acceptor's challenge. */
export function dialerProofInput(serverChallenge: Uint8Array, cluster: string, dialerId: string, serverId: string, slot: number): Uint8Array {
  return proofInput('edgeraft/peer/dialer/v1', [serverChallenge, cluster, dialerId, serverId, slot]);
}

/** What the acceptor proves back, answering the dialer's challenge (mutual authentication). */
export function serverProofInput(dialerChallenge: Uint8Array, cluster: string, serverId: string, dialerId: string, slot: number): Uint8Array {
  return proofInput('edgeraft/peer/server/v1', [dialerChallenge, cluster, serverId, dialerId, slot]);
}
