// A peer's learner window (--learner-inflight-bytes) must leave room for one more message under
// the links' high-water mark, or appends to a slow tab would be shed and sent again.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { defaults } from '../../src/core/config.ts';
import { learnerWindowMax, PeerOptionError, resolvePeerOptions } from '../../src/server/peer-options.ts';
import { meshDefaults } from '../../src/transport/mesh-options.ts';

const base = { id: 'n1', port: 0, peers: { n1: 'ws://127.0.0.1:7001' }, dataDir: '/tmp/none', insecure: true } as const;

test('the default learner window and one message fit under the high-water mark', () => {
  assert.ok(defaults.learnerInflightBytesMax + defaults.msgBytesMax <= meshDefaults.highWaterBytes);
  assert.is(learnerWindowMax, meshDefaults.highWaterBytes - defaults.msgBytesMax);
  resolvePeerOptions(base);
  resolvePeerOptions({ ...base, raft: { learnerInflightBytesMax: learnerWindowMax } });
});

test('a learner window that reaches the high-water mark is refused, naming the flag and the limit', () => {
  for (const raft of [{ learnerInflightBytesMax: learnerWindowMax + 1 }, { learnerInflightBytesMax: 4 * 1024 * 1024, msgBytesMax: 6 * 1024 * 1024 }]) {
    try {
      resolvePeerOptions({ ...base, raft });
      assert.unreachable(`accepted ${JSON.stringify(raft)}`);
    } catch (err) {
      assert.instance(err, PeerOptionError);
      assert.match((err as Error).message, 'learner-inflight-bytes');
      assert.match((err as Error).message, String(meshDefaults.highWaterBytes));
    }
  }
});

test.run();
