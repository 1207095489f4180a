// The native Deno peer's command line: the flags of `edgeraft peer` (server/peer-flags.ts: one
// table and one mapping onto PeerOptions for both runtimes), parsed without node:util (strict: an
// unknown flag or a missing value is a usage error naming it). Flags a Deno peer cannot honour are
// refused here, with the reason.

import { UsageError, type FlagSpec, type FlagValues } from '../server/flag-values.ts';
import { peerFlagOptions, peerFlagSpec, type PeerFlags } from '../server/peer-flags.ts';

export { UsageError, type FlagValues };

/** `--name value`, `--name=value`, `--flag` and `-h`; anything else is a UsageError. A repeated flag keeps its last value (a 'list' flag, all). */
export function parseFlags(argv: readonly string[], spec: FlagSpec): FlagValues {
  const out: Record<string, string | boolean | string[]> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '-h') { out.help = true; continue; }
    if (!arg.startsWith('--')) throw new UsageError(`unexpected argument '${arg}'`);
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    const type = spec[name];
    if (type === undefined) throw new UsageError(`unknown option '--${name}'`);
    if (type === 'boolean') {
      if (eq >= 0) throw new UsageError(`option '--${name}' does not take a value`);
      out[name] = true;
      continue;
    }
    const value = eq >= 0 ? arg.slice(eq + 1) : argv[++i];
    if (value === undefined || (eq < 0 && value.startsWith('--'))) throw new UsageError(`option '--${name} <value>' argument missing`);
    if (type === 'list') out[name] = [...((out[name] as string[] | undefined) ?? []), value];
    else out[name] = value;
  }
  return out;
}

/** The flags of `edgeraft peer`, all of them (those a Deno peer refuses say why in denoPeerOptions). */
export const denoPeerFlags: FlagSpec = peerFlagSpec;

/** The options of a Deno peer, but for the secret and TLS files, which main.ts reads. */
export type DenoPeerFlags = PeerFlags;

/** Maps the parsed flags onto options; a flag a Deno peer cannot honour is a UsageError saying why. */
export function denoPeerOptions(values: FlagValues): DenoPeerFlags {
  if (typeof values['web-root'] === 'string') throw new UsageError('--web-root is not served by the native Deno peer (run the demo page with `edgeraft start` under Node)');
  if (values['peer-mtls'] === true) {
    throw new UsageError('--peer-mtls cannot be honoured by the native Deno peer: Deno.serve cannot ask connecting peers for client certificates (it still presents its own certificate when it dials a Node peer that requires them)');
  }
  return peerFlagOptions(values);
}

export const denoPeerHelp = `usage: deno run --allow-net --allow-read --allow-write dist/deno/peer.js
         --id ID --listen HOST:PORT --peers ID=HOST:PORT,... --data DIR (--secret-file FILE | --insecure)

A voting member on Deno's own APIs (Deno.serve, Deno.open, Web Crypto): the flags of
\`edgeraft peer\` (see \`edgeraft peer --help\` for each), with these differences:
  --data DIR           holds the Deno WAL (its own format: a Node peer's directory is refused)
  --tls-cert/--tls-key serve wss:// and https://; peers are dialed over wss:// presenting this
                       certificate as a client certificate
  --tls-ca FILE        CA for dialing peers, trusted beside the system's roots
  --peer-mtls          refused: Deno.serve cannot ask for client certificates
  --web-root           refused: the Deno peer serves no demo page
  --token-public-key FILE, --token-jwks FILE, --token-algs LIST, --token-ttl-max-ms N
                       as for \`edgeraft peer\`
  SIGHUP               reloads --secret-file and the token key files, but not the certificate
                       (Deno.serve keeps its own): restart the peer after a certificate rotation
docs/operations.md "Deno peers" says more.
`;

