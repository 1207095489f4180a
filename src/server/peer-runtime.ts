// What a runtime gives the runtime-neutral peer (peer-core.ts): its write-ahead log, its one
// listening port and its dialer, its flush scheduler, its file reads, its timers' detail and its
// CPU clock (the logger is passed beside it). One implementation per runtime, chosen once when
// the peer starts (runtime-node/peer.ts, runtime-deno/peer.ts); TLS and HTTP stay in those shells.

import type { LogRules } from '../core/store/log-rules.ts';
import type { LogStore } from '../core/storage.ts';
import type { ReadText } from '../transport/credentials.ts';
import type { Dialer, SocketListener } from '../transport/socket.ts';
import type { MetaFiles } from './cluster-meta-format.ts';
import type { FileWarning } from './peer-credentials.ts';

/** The port a peer serves peers, clients, tabs and /metrics on, once bound. */
export interface PeerPort {
  /** Where the mesh accepts WebSocket connections. */
  readonly listener: SocketListener;
  /** The port bound (the one asked for, or the one the system chose for 0). */
  readonly port: number;
  /** Stops serving; after the mesh closed, so what is still open here is not a mesh link. */
  close(): Promise<void>;
}

export interface PeerRuntime {
  /** 'wss' when the port serves TLS: the peer's own URL, and how bare peer addresses read. */
  readonly scheme: 'ws' | 'wss';
  /** Creates the data directory (and its parents) if it is missing. */
  makeDir(path: string): Promise<void>;
  /** cluster.json in the data directory. */
  readonly meta: MetaFiles;
  /** Opens the write-ahead log in the data directory (its wal/ folder), under the mode's log rules. */
  openStore(dataDir: string, rules: LogRules, warn: (message: string) => void): Promise<LogStore>;
  /** Binds the port; called after the options, the files and the log were checked. */
  listen(): Promise<PeerPort>;
  /** Opens outbound connections to peers (ws:// or wss://). */
  readonly dial: Dialer;
  /** Runs the mesh's flush after the I/O events already queued (so one turn's frames leave together). */
  scheduleFlush(flush: () => void): void;
  /** Reads the secret and token key files (at start, and again on reload). */
  readonly readText: ReadText;
  /** A warning for a secret file others may read (Node checks its mode); absent: none. */
  readonly secretFileWarning?: FileWarning;
  /** Lets a timer not keep the process alive (Node's unref); absent: timers are left as they are. */
  readonly unrefTimer?: (timer: ReturnType<typeof setTimeout>) => void;
  /** The process's CPU time so far, in microseconds (for /metrics). */
  cpuUsage(): { readonly user: number; readonly system: number };
  /** Fields of the 'started' log line after `listen` (TLS certificate, runtime name). */
  readonly startedFields: Readonly<Record<string, unknown>>;
}
