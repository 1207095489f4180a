// The TLS flags of the CLI: a client command's --ca (or EDGERAFT_CA), with which a bare HOST:PORT
// means wss://. (A peer's --tls-cert, --tls-key, --tls-ca and --peer-mtls: server/peer-flags.ts;
// the files themselves: tls.ts.)

import { readFileSync } from 'node:fs';
import { opt, UsageError, type Scheme } from './cli-args.ts';

type Values = Record<string, string | boolean | undefined>;

/** The client commands' TLS flag (cli-kv-help.ts says the same for kv). */
export const tlsClientHelp = `
  --ca FILE   a TLS cluster: trust the CA in FILE (PEM; or set EDGERAFT_CA) for wss://, and read
              bare HOST:PORT peers as wss:// (without it: ws://, or wss:// given in full, checked
              against the system's CA store)
`;

/** A client's --ca FILE, or EDGERAFT_CA. */
export function caFileOf(values: Values): string | undefined {
  return opt(values, 'ca') ?? process.env.EDGERAFT_CA;
}

/** With --ca the cluster is a TLS one: a bare HOST:PORT (in --peers, or a member's address) means wss://. */
export function schemeOf(values: Values): Scheme {
  return caFileOf(values) !== undefined ? 'wss' : 'ws';
}

/** The PEM of a client's --ca FILE; a usage error names the file when it cannot be read or holds no certificate. */
export function readCaFile(path: string): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read --ca ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  if (!text.includes('-----BEGIN CERTIFICATE-----')) throw new UsageError(`--ca ${path} is not a PEM certificate file (no -----BEGIN CERTIFICATE----- block)`);
  return text;
}
