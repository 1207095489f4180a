// The rpc routing table: which payloads reach the client service, the snapshot streams or the
// removal handler, for each kind of sender.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { routeRpc } from '../../src/server/rpc-routes.ts';
import { removalNotice } from '../../src/transport/snapshot-stream.ts';

const request = new Uint8Array([0x83, 0x05, 0x61, 0x67]); // [5, "g", ...]: a client request, id 5
const chunk = new Uint8Array([0x84, 0x20, 0x01, 0x00]); // [-1, 1, ...]: a snapshot chunk
const ack = new Uint8Array([0x83, 0x20, 0x02, 0x00]); // [-1, 2, ...]: a chunk acknowledgement
const peer = { role: 'peer' as const, replicationLink: false, blocked: false };
const tab = { role: 'reader' as const, replicationLink: true, blocked: false };
const sdk = { role: 'client' as const, replicationLink: false, blocked: false };

test('a peer: requests to the service, chunks and acks to the streams, the removal notice to its handler', () => {
  assert.is(routeRpc(request, peer), 'client');
  assert.is(routeRpc(chunk, peer), 'stream');
  assert.is(routeRpc(ack, peer), 'stream');
  assert.is(routeRpc(removalNotice, peer), 'removal');
});

test('a peer cut off by fault injection: its stream traffic is dropped, its requests still answered', () => {
  const cut = { ...peer, blocked: true };
  assert.is(routeRpc(chunk, cut), 'drop');
  assert.is(routeRpc(removalNotice, cut), 'drop');
  assert.is(routeRpc(request, cut), 'client');
});

test('a follower-reader may acknowledge chunks, nothing else on the stream channel; an SDK may not even that', () => {
  assert.is(routeRpc(ack, tab), 'stream');
  assert.is(routeRpc(chunk, tab), 'client', 'answered ERR_BAD_REQUEST by the service, never fed to a stream');
  assert.is(routeRpc(removalNotice, tab), 'client');
  assert.is(routeRpc(ack, sdk), 'client');
  assert.is(routeRpc(request, sdk), 'client');
});

test.run();
