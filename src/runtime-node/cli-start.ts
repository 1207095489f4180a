// `edgeraft start` (npm start): a local 3-peer cluster and its web page. Implemented in the next step.
export const startHelp = 'usage: edgeraft start [--dir .edgeraft] [--port 7000]\n';

export async function runStart(_argv: readonly string[]): Promise<number> {
  process.stderr.write('edgeraft start: not yet\n');
  return 1;
}
