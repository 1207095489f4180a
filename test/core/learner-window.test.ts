// What a leader sends a slow learner (a browser tab that does not acknowledge): never more bytes
// of entries in flight than learnerInflightBytesMax plus one message, while the voters keep
// their own window and keep committing; and a learner that answers heartbeats but acknowledges
// late is waited for, not sent the same entries again, until the learner's longer stall backstop.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { RaftOptions } from '../../src/core/config.ts';
import type { Message } from '../../src/core/message.ts';
import { RaftNode } from '../../src/core/node.ts';
import { SeededPrng } from '../../src/core/prng.ts';
import { entryBytes } from '../../src/core/types.ts';

const t = suite('learner window');

const window = 16 * 1024;
const msgBytesMax = 4 * 1024;
const entryData = 1000;
const options: Omit<RaftOptions, 'id' | 'prng'> = {
  checkQuorum: false, leaseReads: false, learnerInflightBytesMax: window, msgBytesMax, electionTicks: 10, heartbeatTicks: 1,
};

/**
 * Voters a, b, c (a leads), and an observer `tab` (outside the configuration, as a browser tab is)
 * that follows until `silence()`: from then on messages to it are kept, not delivered.
 */
function setup() {
  const nodes = new Map(['a', 'b', 'c'].map((id, k) => [id, new RaftNode({
    options: { id, prng: new SeededPrng(k + 1), ...options }, bootstrap: { voters: ['a', 'b', 'c'], learners: [] },
  })]));
  const tab = new RaftNode({ options: { id: 'tab', prng: new SeededPrng(9), ...options }, bootstrap: { voters: [], learners: [] } });
  nodes.set('tab', tab);
  const toTab: Message[] = [];
  let silent = false;
  const settle = (): void => {
    for (let round = 0; round < 200; round++) {
      const out: Message[] = [];
      for (const n of nodes.values()) {
        if (!n.hasReady()) continue;
        const rd = n.ready();
        n.advance(rd);
        out.push(...rd.messages, ...rd.messagesAfterPersist);
      }
      if (out.length === 0) return;
      for (const m of out) {
        if (m.to === 'tab' && silent) toTab.push(m);
        else nodes.get(m.to)?.step(m);
      }
    }
    throw new Error('did not settle');
  };
  const a = nodes.get('a')!;
  a.campaign();
  settle();
  assert.is(a.status().role, 'leader');
  a.addObserver('tab');
  a.propose(new Uint8Array(10));
  settle();
  // The tab holds the leader's first append for a gap to fill (reorder buffer), then rejects it.
  for (let tick = 0; tick < 5 && a.status().progress['tab']?.state !== 'replicate'; tick++) {
    for (const n of nodes.values()) n.tick();
    settle();
  }
  assert.is(a.status().progress['tab']?.state, 'replicate', 'the tab follows');
  assert.is(tab.status().applied, a.status().commit);
  const silence = (): void => {
    silent = true;
    nodes.delete('tab');
  };
  return { a, nodes, toTab, settle, silence };
}

/** Bytes of entries (as the window counts them) in the appends the tab was sent. */
function appBytes(msgs: readonly Message[]): { bytes: number; entries: number } {
  let bytes = 0;
  let entries = 0;
  for (const m of msgs) {
    if (m.type !== 'app') continue;
    entries += m.entries.length;
    for (const e of m.entries) bytes += entryBytes(e);
  }
  return { bytes, entries };
}

t('a learner that does not acknowledge is sent at most its bytes window plus one message', () => {
  const { a, toTab, settle, silence } = setup();
  silence();
  const commit0 = a.status().commit;
  for (let k = 0; k < 200; k++) {
    a.propose(new Uint8Array(entryData).fill(k & 0xff));
    settle();
  }
  assert.is(a.status().commit, commit0 + 200, 'the voters commit everything');
  const sent = appBytes(toTab);
  assert.ok(sent.bytes <= window + msgBytesMax + entryBytes({ index: 1, term: 1, type: 'normal', data: new Uint8Array(entryData) }),
    `${sent.bytes} bytes sent to a silent tab, window ${window}`);
  assert.ok(sent.bytes >= window, `the window was used: ${sent.bytes} bytes`);
  const pr = a.status().progress['tab']!;
  assert.is(pr.learner, true);
  assert.is(pr.state, 'replicate');
  assert.ok(pr.inflightBytes >= window, `window full: ${pr.inflightBytes}`);
  // A voter's window is its own (32 MiB by default): b and c got every entry.
  assert.is(a.status().progress['b']!.match, a.status().commit);
});

t('a learner that answers heartbeats but acknowledges late is not sent its entries again before the backstop', () => {
  const { a, toTab, settle, silence } = setup();
  silence();
  for (let k = 0; k < 40; k++) {
    a.propose(new Uint8Array(entryData));
    settle();
  }
  const sentBefore = appBytes(toTab).entries;
  const term = a.status().term;
  const stalled0 = a.status().stats.stalledProbes;
  // Ten ticks (an election timeout; a voter's stall is three): the tab answers each heartbeat.
  for (let tick = 0; tick < 10; tick++) {
    a.tick();
    settle();
    a.step({ type: 'hbResp', from: 'tab', to: 'a', term, round: 0 });
    settle();
  }
  assert.is(a.status().stats.stalledProbes, stalled0, 'no stall declared for a slow learner');
  assert.is(appBytes(toTab).entries, sentBefore, 'nothing sent again');
  // Past the backstop (two election timeouts) the pipeline is probed again, once.
  for (let tick = 0; tick < 12; tick++) {
    a.tick();
    settle();
    a.step({ type: 'hbResp', from: 'tab', to: 'a', term, round: 0 });
    settle();
  }
  assert.is(a.status().stats.stalledProbes, stalled0 + 1, 'the backstop probes a learner that never acknowledges');
});

t('a voter that acknowledges nothing is still probed again after a few ticks', () => {
  const { a, nodes, settle } = setup();
  // Cut c off: it receives nothing more and answers nothing, but b keeps the quorum.
  nodes.delete('c');
  a.propose(new Uint8Array(10));
  settle();
  const term = a.status().term;
  const stalled0 = a.status().stats.stalledProbes;
  for (let tick = 0; tick < 4; tick++) {
    a.tick();
    settle();
    a.step({ type: 'hbResp', from: 'c', to: 'a', term, round: 0 });
    settle();
  }
  assert.ok(a.status().stats.stalledProbes > stalled0, 'a voter keeps the short stall');
});

t.run();
