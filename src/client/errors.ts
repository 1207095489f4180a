// Errors the client SDK throws: a stable code, a message that says what happened and what to do,
// and (for timeouts) the last error seen on the way.

import { CodedError } from '../core/coded-error.ts';

export type ClientErrorCode =
  | 'ERR_TIMEOUT' | 'ERR_FORBIDDEN' | 'ERR_BAD_REQUEST' | 'ERR_TOO_LARGE' | 'ERR_CLOSED' | 'ERR_NO_PEERS'
  | 'ERR_CONF_CHANGE' | 'ERR_SESSION_EXPIRED' | 'ERR_SESSION_STALE' | 'ERR_INTERNAL' | 'ERR_UNAVAILABLE' | 'ERR_NOT_LEADER'
  | 'ERR_OPTIONS' | 'ERR_BUSY' | 'ERR_PROPOSAL_DROPPED'
  /** The member belongs to another cluster than this client's token names: no retry can help. */
  | 'ERR_WRONG_CLUSTER'
  /** The leader cannot serve a lease read right now (it just took over). */
  | 'ERR_LEASE_UNAVAILABLE'
  /**
   * A write may or may not have been applied, and retrying it could apply it twice: read the key
   * to find out, then decide. Nothing else in the SDK leaves an outcome undecided.
   */
  | 'ERR_OUTCOME_UNKNOWN'
  /** The lease does not exist on the cluster (never granted, revoked, or expired). */
  | 'ERR_LEASE_NOT_FOUND' | 'ERR_LEASE_EXISTS'
  /** The member keeps as many leases as it may (its leasesMax). */
  | 'ERR_LEASE_LIMIT'
  /** The cluster keeps as many token revocations as it may (revocationsMax): wait for some to be forgotten. */
  | 'ERR_REVOCATION_LIMIT'
  /**
   * This client can no longer be sure its lease is alive: no keep-alive was acknowledged in time,
   * or the cluster says the lease is gone. Keys attached to it may be deleted at any moment.
   */
  | 'ERR_LEASE_LOST'
  /** A watch asked for history older than the compaction revision: reload, then watch after it. */
  | 'ERR_COMPACTED'
  /** A member cancelled a watcher that fell behind (the SDK resumes it by itself). */
  | 'ERR_WATCH_SLOW'
  /** A member serves as many watchers as it may (the SDK tries another member). */
  | 'ERR_WATCH_LIMIT'
  /** The caller's AbortSignal fired. */
  | 'ERR_ABORTED';

export class ClientError extends CodedError<ClientErrorCode> {
  override readonly name = 'ClientError';
  /** ERR_COMPACTED: the compaction revision (read the state at or after it, watch from the one after). */
  readonly compactRevision: number | undefined;
  /** ERR_COMPACTED, ERR_WATCH_SLOW: the last revision the watcher was given. */
  readonly revision: number | undefined;

  constructor(code: ClientErrorCode, message: string, options?: { cause?: unknown; compactRevision?: number; revision?: number }) {
    super(code, message, options?.cause !== undefined ? { cause: options.cause } : undefined);
    this.compactRevision = options?.compactRevision;
    this.revision = options?.revision;
  }

  override toJSON(): { name: string; code: ClientErrorCode; message: string; compactRevision?: number; revision?: number } {
    return {
      ...super.toJSON(),
      ...(this.compactRevision !== undefined ? { compactRevision: this.compactRevision } : {}),
      ...(this.revision !== undefined ? { revision: this.revision } : {}),
    };
  }
}
