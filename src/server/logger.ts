// Structured logs: one JSON object per line (the runtime's `write` puts it on stderr), with a level filter. Peers log what an
// operator needs (elections, membership, storage warnings, refused connections), not traffic.

import type { Logger, LogLevel } from '../transport/transport.ts';

const order: Readonly<Record<LogLevel, number>> = { debug: 10, info: 20, warn: 30, error: 40 };
export const logLevels: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

export function jsonLogger(base: Readonly<Record<string, unknown>>, minLevel: LogLevel, write: (line: string) => void): Logger {
  return (level, message, fields) => {
    if (order[level] < order[minLevel]) return;
    write(`${JSON.stringify({ time: new Date().toISOString(), level, ...base, msg: message, ...fields })}\n`);
  };
}
