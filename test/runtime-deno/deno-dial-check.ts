// Run by deno-dial.test.ts under Deno (not by uvu): the native Deno listener and dialer over TLS.
// Args: the dir of CA "a" (ca.pem, cert.pem, key.pem), the dir of another CA "b", and the port of
// a Node https server that asks for client certificates and answers with what it was shown.
// Prints one JSON line per check.
import { denoDialer } from '../../src/runtime-deno/deno-dial.ts';
import { DenoListener } from '../../src/runtime-deno/deno-listener.ts';

const [a, b, nodePort] = Deno.args as [string, string, string];
const read = (dir: string, f: string) => Deno.readTextFile(`${dir}/${f}`);
const out = (check: string, value: unknown): void => console.log(JSON.stringify({ check, value }));
const options = { frameBytesMax: 1 << 20, timeoutMs: 3000 };
const outcome = (p: Promise<{ close(code: number, reason: string): void }>) =>
  p.then((s) => { s.close(1000, 'done'); return 'open'; }, (err: Error) => `${err.name}: ${err.message}`);

const listener = await DenoListener.open({
  host: '127.0.0.1', port: 0, tls: { cert: await read(a, 'cert.pem'), key: await read(a, 'key.pem') },
  onHttp: () => new Response('ok'),
});
listener.listen((s) => s.listen({ message: () => {}, close: () => {} }));
const url = `wss://127.0.0.1:${listener.port}`;
out('trusting its CA', await outcome(denoDialer({ ca: await read(a, 'ca.pem'), clientCert: null })(url, options)));
out('trusting another CA', await outcome(denoDialer({ ca: await read(b, 'ca.pem'), clientCert: null })(url, options)));
out('trusting the system store only', await outcome(denoDialer({ ca: null, clientCert: null })(url, options)));
// A Node peer with --peer-mtls: the dial presents this peer's certificate.
const withCert = denoDialer({ ca: await read(a, 'ca.pem'), clientCert: { cert: await read(a, 'cert.pem'), key: await read(a, 'key.pem') } });
const shown = await new Promise<string>((resolve) => {
  withCert(`wss://127.0.0.1:${nodePort}`, options).then((s) => s.listen({ message: (d) => resolve(String(d)), close: () => resolve('closed') }), (err: Error) => resolve(err.message));
});
out('client certificate shown to Node', shown);
await listener.close();
Deno.exit(0);
