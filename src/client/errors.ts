// Errors the client SDK throws: a stable code, a message that says what happened and what to do,
// and (for timeouts) the last error seen on the way.

import { CodedError } from '../core/coded-error.ts';

export type ClientErrorCode =
  | 'ERR_TIMEOUT' | 'ERR_FORBIDDEN' | 'ERR_BAD_REQUEST' | 'ERR_TOO_LARGE' | 'ERR_CLOSED' | 'ERR_NO_PEERS'
  | 'ERR_CONF_CHANGE' | 'ERR_SESSION_EXPIRED' | 'ERR_SESSION_STALE' | 'ERR_INTERNAL' | 'ERR_UNAVAILABLE' | 'ERR_NOT_LEADER'
  | 'ERR_OPTIONS' | 'ERR_BUSY'
  /**
   * A write may or may not have been applied, and retrying it could apply it twice: read the key
   * to find out, then decide. Nothing else in the SDK leaves an outcome undecided.
   */
  | 'ERR_OUTCOME_UNKNOWN';

export class ClientError extends CodedError<ClientErrorCode> {
  override readonly name = 'ClientError';
}
