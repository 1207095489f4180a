// The Node process's standard metrics (process_* and nodejs_*: CPU, memory, GC, event-loop lag,
// handles), from prom-client's default collectors, for a Node peer's /metrics after its own
// edgeraft_* families. Node only: the native Deno peer has no prom-client.

import { collectDefaultMetrics, Registry } from 'prom-client';

/**
 * Resolution of the event-loop delay histogram, in ms (prom-client's default). The stalls that
 * matter last tens of ms or more (a heartbeat is one tick, 50 ms by default; the leader's lease
 * 405 ms), and a finer timer would wake the loop more often for nothing.
 */
export const eventLoopResolutionMs = 10;

let registry: Registry | null = null;

/**
 * The process's metrics in the text format. They describe the process, not a peer, so one
 * registry serves every peer in it (tests run several): its collectors (a GC observer, an
 * event-loop delay monitor) are made once, not once per peer. Not prom-client's global registry,
 * which an application embedding a peer may use for its own metrics.
 */
export function processMetricsText(): Promise<string> {
  if (registry === null) {
    registry = new Registry();
    collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: eventLoopResolutionMs });
  }
  return registry.metrics();
}
