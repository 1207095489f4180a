// FileWal's options: what each means, its default and its bounds. Validation names the option,
// the rule and the value, so a typo or a unit mistake fails at open rather than under load.
import { StoreError } from '../core/storage.ts';
import { raftLogRules, type LogRules } from '../core/store/log-rules.ts';

export interface WalLogger {
  warn(message: string): void;
}

export interface FileWalOptions {
  /** Size each segment file is preallocated to (zero-filled). Default 64 MiB; at least 4 KiB. */
  readonly segmentBytes?: number;
  /**
   * 'fdatasync' (default): a save resolves after its bytes are on stable storage.
   * 'none': never syncs. UNSAFE: acknowledged writes can be lost on a power cut or kernel crash,
   * which breaks Raft's safety. Only for benchmarks and tests.
   */
  readonly syncMode?: 'fdatasync' | 'none';
  /** Encoded bytes waiting for the next group commit; past this, save() waits (backpressure). Default 16 MiB. */
  readonly pendingBytesMax?: number;
  /** Receives recovery warnings (torn tail truncated, stale lock taken over). Default: console.warn. */
  readonly logger?: WalLogger;
  /**
   * The rules the log keeps (core modes.ts logRulesFor(mode); plain Raft's by default). Under
   * ParallelRaft's the log may hold holes and stale entries and saves may carry in-place fills
   * (written as fill records). A store must always be opened with the rules it was written under.
   */
  readonly logRules?: LogRules;
}

export interface WalConfig {
  readonly segmentBytes: number;
  readonly sync: boolean;
  readonly pendingBytesMax: number;
  readonly warn: (message: string) => void;
  readonly logRules: LogRules;
}

const segmentBytesMin = 4096;
const bytesOptionMax = 2 ** 31;
/** A group buffer starts this big, and is replaced by a fresh one after growing past bufferKeepBytesMax. */
export const bufferInitialBytes = 256 * 1024;
export const bufferKeepBytesMax = 8 * 1024 * 1024;

function invalidOption(message: string): StoreError {
  return new StoreError('ERR_STORE_INVALID', message);
}

export function validateOptions(options: FileWalOptions): WalConfig {
  const known = new Set(['segmentBytes', 'syncMode', 'pendingBytesMax', 'logger', 'logRules']);
  for (const key of Object.keys(options)) {
    if (!known.has(key)) throw invalidOption(`unknown FileWal option '${key}' (known: ${[...known].join(', ')})`);
  }
  const bytes = (name: 'segmentBytes' | 'pendingBytesMax', fallback: number, min: number): number => {
    const v = options[name] ?? fallback;
    if (!Number.isSafeInteger(v) || v < min || v > bytesOptionMax) {
      throw invalidOption(`FileWal option ${name} must be an integer in [${min}, ${bytesOptionMax}], got ${String(v)}`);
    }
    return v;
  };
  const syncMode = options.syncMode ?? 'fdatasync';
  if (syncMode !== 'fdatasync' && syncMode !== 'none') {
    throw invalidOption(`FileWal option syncMode must be 'fdatasync' or 'none', got ${JSON.stringify(syncMode)}`);
  }
  const logger = options.logger;
  if (logger !== undefined && (typeof logger !== 'object' || logger === null || typeof logger.warn !== 'function')) {
    throw invalidOption('FileWal option logger must be an object with a warn(message) method');
  }
  const rules = options.logRules;
  if (rules !== undefined && (typeof rules !== 'object' || rules === null || typeof rules.name !== 'string'
    || typeof rules.termsMayFall !== 'boolean' || typeof rules.fillsAllowed !== 'boolean')) {
    throw invalidOption('FileWal option logRules must be a LogRules object (from logRulesFor(mode))');
  }
  return {
    segmentBytes: bytes('segmentBytes', 64 * 1024 * 1024, segmentBytesMin),
    sync: syncMode === 'fdatasync',
    pendingBytesMax: bytes('pendingBytesMax', 16 * 1024 * 1024, 1024),
    warn: logger === undefined ? (m) => console.warn(`edgeraft wal: ${m}`) : (m) => logger.warn(m),
    logRules: options.logRules ?? raftLogRules,
  };
}
