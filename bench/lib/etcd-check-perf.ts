// Reads the summary `etcdctl check perf` prints (etcd 3.4): PASS/FAIL, throughput, slowest
// request and standard deviation. etcd's own gRPC client measures these, so they sit beside the
// gateway figures to show what the JSON gateway costs etcd. Pure: the caller runs etcdctl.

/** etcdctl's workload models: clients, and the write rate its limiter allows (etcdctl/ctlv3/command/check.go). */
export const checkPerfLoads = {
  s: { clients: 50, limitPerS: 150 },
  m: { clients: 200, limitPerS: 1000 },
  l: { clients: 500, limitPerS: 8000 },
  xl: { clients: 1000, limitPerS: 15000 },
} as const;
export type CheckPerfLoad = keyof typeof checkPerfLoads;
/** check perf runs for this long whatever the load; it is not configurable. */
export const checkPerfSeconds = 60;

export interface CheckPerfSummary {
  readonly pass: boolean;
  readonly writesPerS: number;
  readonly throughputPass: boolean;
  readonly slowestMs: number;
  readonly slowestPass: boolean;
  readonly stddevMs: number;
  readonly stddevPass: boolean;
  /** "FAIL: ERROR(...) -> n" lines, when requests failed. */
  readonly errors: readonly string[];
}

export class CheckPerfParseError extends Error {
  override readonly name = 'CheckPerfParseError';
  readonly code = 'ERR_CHECK_PERF_OUTPUT';
}

/**
 * Parses etcdctl's output (the progress bar may share the text). Its lines are, each with a
 * PASS or a FAIL form: "PASS: Throughput is 974 writes/s" / "FAIL: Throughput too low: 6491 writes/s",
 * "PASS: Slowest request took 0.468174s" / "Slowest request took too long: 0.786915s",
 * "PASS: Stddev is 0.028241s" / "Stddev too high: 0.2s", then "PASS" or "FAIL" alone.
 */
export function parseCheckPerf(output: string): CheckPerfSummary {
  const text = output.replace(/\r/g, '\n');
  const throughput = /(PASS: Throughput is|FAIL: Throughput too low:) (\d+) writes\/s/.exec(text);
  const slowest = /(PASS: )?Slowest request took (too long: )?([\d.]+)s/.exec(text);
  const stddev = /(PASS: Stddev is|Stddev too high:) ([\d.]+)s/.exec(text);
  const verdict = /^(PASS|FAIL)\s*$/m.exec(text);
  if (throughput === null || slowest === null || stddev === null || verdict === null) {
    const missing = [throughput === null && 'throughput', slowest === null && 'slowest request', stddev === null && 'stddev', verdict === null && 'PASS/FAIL'].filter(Boolean).join(', ');
    throw new CheckPerfParseError(`etcdctl check perf output lacks its ${missing} line: ${JSON.stringify(text.trim().slice(-300))}`);
  }
  return {
    pass: verdict[1] === 'PASS',
    writesPerS: Number(throughput[2]),
    throughputPass: throughput[1]!.startsWith('PASS'),
    slowestMs: Number(slowest[3]) * 1000,
    slowestPass: slowest[2] === undefined,
    stddevMs: Number(stddev[2]) * 1000,
    stddevPass: stddev[1]!.startsWith('PASS'),
    errors: text.split('\n').filter((l) => l.startsWith('FAIL: ERROR(')),
  };
}
