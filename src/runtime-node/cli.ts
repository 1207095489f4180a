// The `edgeraft` command line. Subcommands grow with the peer server; unknown commands and flags
// are usage errors (exit 2) that say what was wrong.
const usage = `edgeraft: consensus for the edge

usage: edgeraft <command> [options]

commands:
  start       run a local 3-peer cluster and its web page (not yet: arrives with the peer server)
  help        show this text

options:
  -h, --help  show help
`;

function main(argv: readonly string[]): number {
  const [command, ...rest] = argv;
  if (command === undefined || command === 'help' || command === '-h' || command === '--help') {
    process.stdout.write(usage);
    return 0;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(usage);
    return 0;
  }
  if (command === 'start') {
    process.stdout.write('edgeraft start: not yet. The local cluster and its web page arrive with the peer server (issue 5).\nRun `npm test` to see the consensus core proven by the simulator.\n');
    return 0;
  }
  process.stderr.write(`edgeraft: unknown command '${command}'\n\n${usage}`);
  return 2;
}

process.exitCode = main(process.argv.slice(2));
