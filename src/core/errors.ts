// Operating errors the core reports to its caller (not invariant violations). Each carries a
// stable `code` so runtimes, the client SDK and tests can branch on it without parsing text.

import { CodedError } from './coded-error.ts';

export type RaftErrorCode =
  | 'ERR_NOT_LEADER'
  | 'ERR_PROPOSAL_DROPPED'
  | 'ERR_UNCOMMITTED_LIMIT'
  | 'ERR_PROPOSAL_TOO_LARGE'
  | 'ERR_TRANSFER_IN_PROGRESS'
  | 'ERR_READ_LIMIT'
  | 'ERR_CONFIG_INVALID'
  | 'ERR_CONF_CHANGE_PENDING'
  | 'ERR_CONF_CHANGE_INVALID'
  | 'ERR_SNAPSHOT_OUT_OF_DATE'
  | 'ERR_COMPACTED'
  | 'ERR_UNAVAILABLE';

export class RaftError extends CodedError<RaftErrorCode> {
  override readonly name = 'RaftError';
  /** Best-known leader when the error is ERR_NOT_LEADER (null when unknown). */
  readonly leaderHint: string | null;

  constructor(code: RaftErrorCode, message: string, leaderHint: string | null = null, options?: { cause?: unknown }) {
    super(code, message, options);
    this.leaderHint = leaderHint;
  }

  /** Keeps the hint in JSON logs: a client redirected to the wrong member is debugged from it. */
  override toJSON(): { name: string; code: RaftErrorCode; message: string; leaderHint: string | null } {
    return { ...super.toJSON(), leaderHint: this.leaderHint };
  }
}
