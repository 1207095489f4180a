// Operating errors the core reports to its caller (not invariant violations). Each carries a
// stable `code` so runtimes, the client SDK and tests can branch on it without parsing text.

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

export class RaftError extends Error {
  override readonly name = 'RaftError';
  readonly code: RaftErrorCode;
  /** Best-known leader when the error is ERR_NOT_LEADER (null when unknown). */
  readonly leaderHint: string | null;

  constructor(code: RaftErrorCode, message: string, leaderHint: string | null = null) {
    super(message);
    this.code = code;
    this.leaderHint = leaderHint;
  }
}
