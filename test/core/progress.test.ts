// Progress: the leader's per-follower state machine (probe, replicate, snapshot), how
// acknowledgements and rejections move match/next, and when sending pauses.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { AssertionError } from '../../src/core/assert.ts';
import { Progress } from '../../src/core/progress.ts';

const test = suite('Progress');

function progress(next = 1, msgsMax = 4, bytesMax = 1_000_000): Progress {
  return new Progress(next, false, msgsMax, bytesMax);
}

test('a new progress probes from the given next index with nothing matched', () => {
  const pr = progress(7);
  assert.is(pr.state, 'probe');
  assert.is(pr.next, 7);
  assert.is(pr.match, 0);
  assert.is(pr.isPaused(), false);
});

test('becomeReplicate restarts sending right after match with an empty window', () => {
  const pr = progress(10);
  pr.maybeUpdate(4);
  pr.becomeReplicate();
  assert.is(pr.state, 'replicate');
  assert.is(pr.next, 5);
  pr.sentTo(8, 10);
  assert.is(pr.next, 9);
  assert.is(pr.inflights.count, 1);
  pr.becomeReplicate();
  assert.is(pr.inflights.count, 0);
});

test('becomeProbe from replicate resends from match + 1 and clears the window', () => {
  const pr = progress(1);
  pr.maybeUpdate(3);
  pr.becomeReplicate();
  pr.sentTo(6, 10);
  pr.sentTo(9, 10);
  pr.becomeProbe();
  assert.is(pr.state, 'probe');
  assert.is(pr.next, 4);
  assert.is(pr.inflights.count, 0);
  assert.is(pr.probeSent, false);
});

test('becomeProbe after a snapshot probes from past the snapshot index', () => {
  const pr = progress(1);
  pr.maybeUpdate(2);
  pr.becomeSnapshot(50);
  assert.is(pr.state, 'snapshot');
  assert.is(pr.pendingSnapshot, 50);
  pr.becomeProbe();
  assert.is(pr.state, 'probe');
  assert.is(pr.next, 51);
  assert.is(pr.pendingSnapshot, 0);
});

test('becomeProbe after a snapshot uses match when the follower got further than the snapshot', () => {
  const pr = progress(1);
  pr.becomeSnapshot(50);
  pr.maybeUpdate(60);
  pr.becomeProbe();
  assert.is(pr.next, 61);
});

test('sentTo outside replicate state is an AssertionError', () => {
  const pr = progress(1);
  assert.throws(() => pr.sentTo(3, 1), (e: unknown) => e instanceof AssertionError);
});

test('maybeUpdate raises match and next on a new acknowledgement', () => {
  const pr = progress(3);
  pr.probeSent = true;
  assert.is(pr.maybeUpdate(5), true);
  assert.is(pr.match, 5);
  assert.is(pr.next, 6);
  assert.is(pr.probeSent, false, 'an acknowledgement answers the outstanding probe');
});

test('maybeUpdate reports a stale acknowledgement and moves nothing back', () => {
  const pr = progress(1);
  pr.maybeUpdate(5);
  pr.becomeReplicate();
  pr.sentTo(9, 1);
  assert.is(pr.maybeUpdate(5), false);
  assert.is(pr.maybeUpdate(3), false);
  assert.is(pr.match, 5);
  assert.is(pr.next, 10, 'next keeps the pipelined position');
});

test('maybeUpdate never lowers next when the ack is behind what was sent', () => {
  const pr = progress(1);
  pr.becomeReplicate();
  pr.sentTo(10, 1);
  assert.is(pr.maybeUpdate(4), true);
  assert.is(pr.match, 4);
  assert.is(pr.next, 11);
});

test('maybeDecrTo in replicate ignores a rejection at or below match', () => {
  const pr = progress(1);
  pr.maybeUpdate(5);
  pr.becomeReplicate();
  pr.sentTo(9, 1);
  assert.is(pr.maybeDecrTo(5, 0), false);
  assert.is(pr.maybeDecrTo(2, 0), false);
  assert.is(pr.next, 10);
});

test('maybeDecrTo in replicate falls back to match + 1 on a fresh rejection', () => {
  const pr = progress(1);
  pr.maybeUpdate(5);
  pr.becomeReplicate();
  pr.sentTo(9, 1);
  assert.is(pr.maybeDecrTo(7, 2), true);
  assert.is(pr.next, 6, 'the hint cannot take next below match + 1');
});

test('maybeDecrTo in probe ignores a rejection of anything but the last probe', () => {
  const pr = progress(10);
  pr.probeSent = true;
  assert.is(pr.maybeDecrTo(7, 3), false, 'prev 7 is not next - 1 = 9');
  assert.is(pr.next, 10);
  assert.is(pr.probeSent, true);
});

test('maybeDecrTo in probe applies the conflict hint and allows the next probe', () => {
  const pr = progress(10);
  pr.probeSent = true;
  assert.is(pr.maybeDecrTo(9, 3), true);
  assert.is(pr.next, 4, 'probe right after the hinted index');
  assert.is(pr.probeSent, false);
});

test('maybeDecrTo in probe never moves next past the rejected index or below match + 1', () => {
  const high = progress(10);
  assert.is(high.maybeDecrTo(9, 50), true);
  assert.is(high.next, 9, 'a hint above the rejection still steps back');
  const low = progress(10);
  low.maybeUpdate(6);
  low.next = 10;
  assert.is(low.maybeDecrTo(9, 6), true);
  assert.is(low.next, 7, 'never below match + 1');
});

test('a probe hint below match means the follower lost acknowledged entries: match follows it down', () => {
  // Without this the leader would probe at match + 1 forever (found by the fault suite's soak:
  // a WAL tail truncated past acknowledged records left a follower behind for good).
  const pr = progress(10);
  pr.maybeUpdate(8);
  pr.next = 9;
  assert.is(pr.maybeDecrTo(8, 5), true);
  assert.is(pr.match, 5);
  assert.is(pr.next, 6);
});

test('isPaused: probe waits for its answer, replicate for window room, snapshot always', () => {
  const pr = progress(1, 2);
  assert.is(pr.isPaused(), false);
  pr.probeSent = true;
  assert.is(pr.isPaused(), true);
  pr.becomeReplicate();
  assert.is(pr.isPaused(), false);
  pr.sentTo(1, 1);
  assert.is(pr.isPaused(), false);
  pr.sentTo(2, 1);
  assert.is(pr.isPaused(), true, 'window of 2 is full');
  pr.inflights.freeLE(1);
  assert.is(pr.isPaused(), false);
  pr.becomeSnapshot(5);
  assert.is(pr.isPaused(), true);
});

test('isPaused in replicate follows the byte cap as well', () => {
  const pr = progress(1, 100, 50);
  pr.becomeReplicate();
  pr.sentTo(1, 30);
  assert.is(pr.isPaused(), false);
  pr.sentTo(2, 30);
  assert.is(pr.isPaused(), true);
});

test.run();
