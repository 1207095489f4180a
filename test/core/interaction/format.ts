// How the interaction scripts print what the core did: an entry, a message, a node's status, each
// on one stable line, so an expected output reads as a protocol trace and a broken rule shows up
// as a changed line. Nothing here decides anything; env.ts calls it.

import type { Message } from '../../../src/core/message.ts';
import type { RaftNode } from '../../../src/core/node.ts';
import type { Entry, Index, ReadContext } from '../../../src/core/types.ts';

const utf8 = new TextDecoder();

/** `index/term what`: a hole, a no-op, a config change or the proposal's text; `(origin t)` when re-stamped. */
export function entry(node: RaftNode, e: Entry): string {
  const at = `${e.index}/${e.term}`;
  if (e.term === 0) return `${at} hole`;
  const origin = node.originTermOf(e);
  const stamp = origin !== e.term ? ` (origin ${origin})` : '';
  switch (e.type) {
    case 'noop': return `${at} noop${stamp}`;
    case 'config': return `${at} config ${e.conf?.type ?? '?'} ${e.conf?.node ?? '?'}${stamp}`;
    case 'normal': return `${at} ${utf8.decode(node.payloadOf(e))}${stamp}`;
  }
}

export function entries(node: RaftNode, es: readonly Entry[]): string {
  return `[${es.map((e) => entry(node, e)).join(', ')}]`;
}

/** A relay's reserved prefix starts with a NUL byte: printed readably. */
export function context(c: ReadContext): string {
  return String(c).replace('\u0000', '\\0');
}

function set(name: string, s: readonly Index[] | undefined): string {
  return s === undefined ? '' : ` ${name}=[${s.join(',')}]`;
}

/** One message with every field that matters to the protocol. `node` decodes entries. */
export function message(node: RaftNode, m: Message): string {
  const head = `${m.from}->${m.to} ${m.type} term=${m.term}`;
  switch (m.type) {
    case 'app':
      return `${head} prev=${m.prevIndex}/${m.prevTerm} commit=${m.commit}${set('commitSet', m.commitSet)} ${entries(node, m.entries)}`;
    case 'appResp':
      return m.reject
        ? `${head} reject index=${m.index} hint=${m.hintIndex}/${m.hintTerm}`
        : `${head} index=${m.index}${set('acks', m.acks)}`;
    case 'hb': return `${head} commit=${m.commit} round=${m.round}${set('commitSet', m.commitSet)}`;
    case 'hbResp': return `${head} round=${m.round}`;
    case 'vote':
    case 'preVote':
      return `${head} last=${m.lastIndex}/${m.lastTerm}${m.transfer ? ' transfer' : ''}${m.commit !== undefined ? ` commit=${m.commit}` : ''}`;
    case 'voteResp':
    case 'preVoteResp': {
      const merge = m.merge === undefined ? '' : ` merge(commit=${m.merge.commit} ${entries(node, m.merge.entries)})`;
      return `${head} ${m.reject ? 'rejected' : 'granted'}${merge}`;
    }
    case 'snap': return `${head} snapshot=${m.snapshot.meta.index}/${m.snapshot.meta.term}`;
    case 'timeoutNow': return head;
    case 'readIndex': return `${head} ctx=${context(m.context)}`;
    case 'readIndexResp': return `${head} ctx=${context(m.context)} ${m.reject ? 'reject' : `index=${m.index}`}`;
  }
}

/** Counters worth seeing in a script (zeros left out). */
function stats(node: RaftNode): string {
  const s = node.status().stats;
  const picked: Record<string, number> = {
    leaseReads: s.leaseReads, leaseForfeitedTerms: s.leaseForfeitedTerms, ...s.parallel,
  };
  return Object.entries(picked).filter(([, v]) => v > 0).map(([k, v]) => `${k}=${v}`).join(' ');
}

/** The node's role, term, cursors and lease, then one line per follower it tracks (leader only). */
export function status(node: RaftNode): string[] {
  const s = node.status();
  const out = [
    `${s.id}: ${s.role} term=${s.term} leader=${s.leader ?? '-'} vote=${s.vote ?? '-'} commit=${s.commit} applied=${s.applied} last=${s.lastIndex} lease=${s.leaseValid ? 'on' : 'off'}`,
  ];
  if (s.committedAbove.length > 0 || s.appliedAbove.length > 0) {
    out.push(`  committedAbove=[${s.committedAbove.join(',')}] appliedAbove=[${s.appliedAbove.join(',')}]`);
  }
  for (const [id, p] of Object.entries(s.progress)) {
    if (id === s.id) continue;
    out.push(`  ${id}: match=${p.match} next=${p.next} ${p.state} inflight=${p.inflightMsgs}${p.learner ? ' learner' : ''}`);
  }
  const st = stats(node);
  if (st !== '') out.push(`  stats: ${st}`);
  return out;
}

/** The in-memory log, holes included. */
export function log(node: RaftNode): string {
  const s = node.status();
  const es: Entry[] = [];
  for (let i = s.firstIndex; i <= s.lastIndex; i++) {
    const e = node.entryAt(i);
    if (e !== undefined) es.push(e);
  }
  return `${s.id} log: ${es.length === 0 ? '(empty)' : entries(node, es).slice(1, -1)}`;
}
