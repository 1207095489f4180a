// Operating errors of the transport: every frame that fails to decode or validate, every refused
// handshake and every bad option surfaces as a TransportError with a stable `code`, and each code
// maps to the WebSocket close code the mesh uses when that error ends a connection.

import { CodedError } from '../core/coded-error.ts';

export type TransportErrorCode =
  | 'ERR_FRAME_TOO_LARGE'
  | 'ERR_FRAME_MALFORMED'
  | 'ERR_FRAME_VERSION'
  | 'ERR_FRAME_CLUSTER'
  | 'ERR_FRAME_FIELD'
  | 'ERR_FRAME_ADDRESS'
  | 'ERR_FRAME_FORBIDDEN'
  | 'ERR_FRAME_UNEXPECTED'
  | 'ERR_AUTH_FAILED'
  | 'ERR_TOKEN_MALFORMED'
  | 'ERR_TOKEN_SIGNATURE'
  | 'ERR_TOKEN_EXPIRED'
  /** The token's nbf lies ahead (beyond the allowed clock skew). */
  | 'ERR_TOKEN_NOT_YET_VALID'
  | 'ERR_TOKEN_REVOKED'
  /** The token's audience is another cluster than this member's. */
  | 'ERR_WRONG_CLUSTER'
  | 'ERR_HANDSHAKE_TIMEOUT'
  | 'ERR_TIMING_MISMATCH'
  | 'ERR_CONFIG_INVALID';

/** Every code, so tests (the fuzzer above all) can check that nothing else ever escapes. */
export const transportErrorCodes: readonly TransportErrorCode[] = [
  'ERR_FRAME_TOO_LARGE', 'ERR_FRAME_MALFORMED', 'ERR_FRAME_VERSION', 'ERR_FRAME_CLUSTER',
  'ERR_FRAME_FIELD', 'ERR_FRAME_ADDRESS', 'ERR_FRAME_FORBIDDEN', 'ERR_FRAME_UNEXPECTED',
  'ERR_AUTH_FAILED', 'ERR_TOKEN_MALFORMED', 'ERR_TOKEN_SIGNATURE', 'ERR_TOKEN_EXPIRED',
  'ERR_TOKEN_NOT_YET_VALID', 'ERR_TOKEN_REVOKED', 'ERR_WRONG_CLUSTER', 'ERR_HANDSHAKE_TIMEOUT', 'ERR_TIMING_MISMATCH', 'ERR_CONFIG_INVALID',
];

export class TransportError extends CodedError<TransportErrorCode> {
  override readonly name = 'TransportError';
}

/**
 * WebSocket close codes (RFC 6455 section 7.4; 4000-4999 are ours). A failed peer proof closes
 * with `unauthorized` so an unauthenticated party learns nothing about why; a token's holder is
 * told which of its token's own properties failed (expired, not yet valid, a signature no key of
 * this cluster verifies), which it can see for itself and needs to mend it.
 */
export const closeCodes = {
  normal: 1000,
  goingAway: 1001,
  protocolError: 1002,
  policyViolation: 1008,
  tooLarge: 1009,
  unauthorized: 4001,
  unsupportedVersion: 4002,
  wrongCluster: 4003,
  tokenSignature: 4005,
  tokenNotYetValid: 4006,
  tokenRevoked: 4007,
  handshakeTimeout: 4008,
  duplicate: 4009,
  expired: 4010,
  idle: 4011,
  tryAgainLater: 1013,
} as const;

export type CloseCode = (typeof closeCodes)[keyof typeof closeCodes];

/** Generic reasons only: the peer on the other side sees these, the detail goes to our log. */
export const closeReasons: Readonly<Record<CloseCode, string>> = {
  1000: 'closed',
  1001: 'going away',
  1002: 'protocol error',
  1008: 'policy violation',
  1009: 'frame too large',
  4001: 'unauthorized',
  4002: 'unsupported version',
  4003: 'wrong cluster',
  4005: 'token signature not accepted',
  4006: 'token not yet valid',
  4007: 'token revoked',
  4008: 'handshake timeout',
  4009: 'duplicate connection',
  4010: 'credentials expired',
  4011: 'idle timeout',
  1013: 'try again later',
};

/**
 * What a token's holder is told when a member ended its handshake with a close code about the
 * token itself (`message` as the dialing side reports it: "... during the handshake (4010 ...)");
 * null for any other failure.
 */
export function tokenRefusalText(message: string): string | null {
  switch (/during the handshake \((\d{4})\b/.exec(message)?.[1]) {
    case '4010': return 'it has expired (mint a new one, edgeraft token)';
    case '4005': return 'its signature does not verify with any key or secret this cluster accepts (minted with another key or secret, or altered)';
    case '4006': return 'it is not valid yet (its iat or nbf is ahead of the member\'s clock: check the clock of the machine that minted it)';
    case '4007': return 'it was revoked (edgeraft token revoke): use a token minted after the revocation';
    default: return null;
  }
}

/** The close code for an error that ends an authenticated connection. */
export function closeCodeFor(code: TransportErrorCode): CloseCode {
  switch (code) {
    case 'ERR_FRAME_TOO_LARGE': return closeCodes.tooLarge;
    case 'ERR_FRAME_MALFORMED':
    case 'ERR_FRAME_FIELD':
    case 'ERR_FRAME_UNEXPECTED': return closeCodes.protocolError;
    case 'ERR_FRAME_VERSION': return closeCodes.unsupportedVersion;
    case 'ERR_FRAME_CLUSTER':
    case 'ERR_WRONG_CLUSTER': return closeCodes.wrongCluster;
    case 'ERR_FRAME_ADDRESS':
    case 'ERR_FRAME_FORBIDDEN':
    case 'ERR_CONFIG_INVALID': return closeCodes.policyViolation;
    case 'ERR_AUTH_FAILED':
    case 'ERR_TIMING_MISMATCH':
    case 'ERR_TOKEN_MALFORMED': return closeCodes.unauthorized;
    case 'ERR_TOKEN_SIGNATURE': return closeCodes.tokenSignature;
    case 'ERR_TOKEN_NOT_YET_VALID': return closeCodes.tokenNotYetValid;
    case 'ERR_TOKEN_REVOKED': return closeCodes.tokenRevoked;
    case 'ERR_TOKEN_EXPIRED': return closeCodes.expired;
    case 'ERR_HANDSHAKE_TIMEOUT': return closeCodes.handshakeTimeout;
  }
}

/** A short, safe rendering of an untrusted value for error messages (never the whole thing). */
export function describeValue(value: unknown, charsMax = 48): string {
  let text: string;
  if (value instanceof Uint8Array) text = `${value.constructor.name}(${value.byteLength})`;
  else if (Array.isArray(value)) text = `array(${value.length})`;
  else if (typeof value === 'string') text = JSON.stringify(value.length > charsMax ? value.slice(0, charsMax) : value);
  else if (typeof value === 'bigint') text = `${value}n`;
  else if (value === null || typeof value !== 'object') text = String(value);
  else text = `object ${safeConstructorName(value)}`;
  return text.length > charsMax ? `${text.slice(0, charsMax)}...` : text;
}

function safeConstructorName(value: object): string {
  try {
    const proto: unknown = Object.getPrototypeOf(value);
    if (proto === null) return '(null prototype)';
    const ctor: unknown = (proto as { constructor?: unknown }).constructor;
    return typeof ctor === 'function' && typeof ctor.name === 'string' ? ctor.name : '(unknown)';
  } catch {
    return '(unknown)';
  }
}
