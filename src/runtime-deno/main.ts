// The runnable native Deno peer (dist/deno/peer.js):
//   deno run --allow-net --allow-read --allow-write dist/deno/peer.js --id ... --peers ... --data ...
// Parses the flags of `edgeraft peer`, reads the secret and TLS files, starts a DenoPeer, and stops
// it gracefully on SIGTERM/SIGINT (a second signal exits at once) or when stdin closes
// (--exit-with-parent, as the local-cluster harness runs members); SIGHUP reloads the secret and
// token key files. Exit codes as `edgeraft peer`.

import { PeerOptionError } from '../server/peer-options.ts';
import { runPeer } from '../server/peer-process.ts';
import { readSecrets } from '../server/peer-credentials.ts';
import { denoPeerFlags, denoPeerHelp, denoPeerOptions, parseFlags, UsageError } from './flags.ts';
import { DenoPeer, type DenoTls } from './peer.ts';

const encoder = new TextEncoder();
const say = (line: string): void => { Deno.stderr.writeSync(encoder.encode(`${line}\n`)); };

async function readFileFor(flag: string, path: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (err) {
    throw new UsageError(`cannot read ${flag} ${path}: ${(err as Error).message}`);
  }
}

async function readTls(files: { certFile: string; keyFile: string; caFile: string | null }): Promise<DenoTls> {
  const cert = await readFileFor('--tls-cert', files.certFile);
  const key = await readFileFor('--tls-key', files.keyFile);
  if (!cert.includes('-----BEGIN CERTIFICATE-----')) throw new UsageError(`--tls-cert ${files.certFile}: not a PEM certificate file (no -----BEGIN CERTIFICATE----- block)`);
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(key)) throw new UsageError(`--tls-key ${files.keyFile}: not a PEM private key (no -----BEGIN ... PRIVATE KEY----- block)`);
  return { cert, key, ca: files.caFile !== null ? await readFileFor('--tls-ca', files.caFile) : null };
}

async function main(argv: readonly string[]): Promise<number> {
  let peer: DenoPeer;
  let exitWithParent = false;
  try {
    const values = parseFlags(argv, denoPeerFlags);
    if (values.help === true) {
      Deno.stdout.writeSync(encoder.encode(denoPeerHelp));
      return 0;
    }
    const flags = denoPeerOptions(values);
    exitWithParent = flags.exitWithParent;
    const secret = flags.secretFile !== null ? await readSecrets(flags.secretFile, (p) => Deno.readTextFile(p)) : null;
    const tls = flags.tls !== null ? await readTls(flags.tls) : null;
    peer = await DenoPeer.start({ ...flags.options, secret, secretFile: flags.secretFile }, tls);
  } catch (err) {
    if (err instanceof UsageError) {
      say(`edgeraft peer (deno): ${err.message}\n(see dist/deno/peer.js --help)`);
      return 2;
    }
    say(`edgeraft peer (deno): ${(err as Error).message}`);
    return err instanceof PeerOptionError ? 2 : 1;
  }
  return runPeer(peer, 'edgeraft peer (deno)', exitWithParent, {
    onSignal: (signal, f) => Deno.addSignalListener(signal, f),
    onParentGone: (f) => {
      // A supervisor holds our stdin open; when it dies the pipe closes.
      void (async () => {
        try {
          for await (const _ of Deno.stdin.readable) { /* nothing is sent on it */ }
        } catch { /* a broken pipe is the same news */ }
        f();
      })();
      return () => {};
    },
    exit: (code) => Deno.exit(code),
    say,
  });
}

Deno.exit(await main(Deno.args));
