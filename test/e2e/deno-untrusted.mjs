// Run by deno.test.ts under Deno without --cert: the SDK's browser build against a TLS member whose
// CA Deno does not trust. It prints the error's code and message as one JSON line.
// Usage: deno run ... deno-untrusted.mjs TOKEN URL
import { connect } from '../../dist/browser/client.js';

const [token, url] = Deno.args;
try {
  const kv = await connect({ peers: [url], token, timeoutMs: 2000 });
  await kv.get('k');
  console.log(JSON.stringify({ code: null, message: 'it connected' }));
} catch (err) {
  console.log(JSON.stringify({ code: err.code ?? null, message: err.message }));
}
