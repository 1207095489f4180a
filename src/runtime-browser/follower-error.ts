// The operating errors of a follower-reader: a stable code and a message naming the problem.

import { CodedError } from '../core/coded-error.ts';

export type FollowerErrorCode = 'ERR_TOKEN_EXPIRED' | 'ERR_WRONG_CLUSTER' | 'ERR_FORBIDDEN' | 'ERR_NOT_FOLLOWED' | 'ERR_NO_LEADER' | 'ERR_PAUSED' | 'ERR_CLOSED'
  | 'ERR_UNKNOWN_MODE' | 'ERR_MODE_MISMATCH';

export class FollowerError extends CodedError<FollowerErrorCode> {
  override readonly name = 'FollowerError';
}
