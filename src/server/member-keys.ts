// Member addresses replicate through the log as reserved keys, so every member (and a joining
// one) learns where to dial the others from the state machine itself.

/** Reserved keys (not writable by clients) under which member addresses are replicated. */
export const memberKeyPrefix = '\u0000member/';
