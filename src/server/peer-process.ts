// A peer run as a process, for every runtime (`edgeraft peer`, the Deno peer's main.ts): SIGTERM
// or SIGINT stops it gracefully (a second signal exits at once), SIGHUP reloads its files, the
// supervisor's pipe closing (--exit-with-parent) stops it too, and once it stopped on its own the
// exit code says why: 0 when removed from the cluster, 1 otherwise.

import type { PeerCore } from './peer-core.ts';

/** The runtime's process: its signals, its stdin, its exit and its stderr. */
export interface PeerProcess {
  onSignal(signal: 'SIGTERM' | 'SIGINT' | 'SIGHUP', f: () => void): void;
  /** Calls `f` once stdin ends or fails (the supervisor is gone); returns what lets stdin go. */
  onParentGone(f: () => void): () => void;
  exit(code: number): void;
  /** A line on stderr (without its newline). */
  say(line: string): void;
}

/** Runs `peer` until it stops; `name` starts the last line ("edgeraft peer"). Resolves to the exit code. */
export async function runPeer(peer: PeerCore & { reload(): Promise<void> }, name: string, exitWithParent: boolean, p: PeerProcess): Promise<number> {
  let signals = 0;
  const onSignal = (why: string): void => {
    if (++signals > 1) p.exit(1);
    peer.log('info', `${why}: shutting down`);
    void peer.stop().then(() => p.exit(0));
  };
  p.onSignal('SIGTERM', () => onSignal('SIGTERM'));
  p.onSignal('SIGINT', () => onSignal('SIGINT'));
  p.onSignal('SIGHUP', () => {
    peer.log('info', 'SIGHUP: reloading');
    void peer.reload();
  });
  const release = exitWithParent ? p.onParentGone(() => onSignal('parent gone')) : null;
  const why = await peer.stopped;
  // Stopped on its own (removed, a fatal error): a supervisor's stdin pipe must not keep the
  // process alive after the peer is gone.
  release?.();
  p.say(`${name}: stopped: ${why}`);
  return why.startsWith('removed') ? 0 : 1;
}
