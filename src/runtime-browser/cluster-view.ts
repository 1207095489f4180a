// What a follower-reader learns before and while it follows: whether its token can work at all,
// who leads and which voters could relay, and which replication mode the cluster runs, read from
// a member's status reply. The reply comes from the network, so it is parsed field by field into
// a typed view, never trusted as it is.

import type { KvClient } from '../client/kv.ts';
import type { ReplicationModeName } from '../core/index.ts';
import { scopedReplicaRefusal } from '../transport/handshake.ts';
import { readClaims, type TokenClaims } from '../transport/token-claims.ts';
import { FollowerError } from './follower-error.ts';
import type { ClusterView, Target } from './source-policy.ts';

/** A member's status, as far as a follower-reader needs it. */
export interface MemberStatus {
  /** The leader's commit index as this member knows it, if it says. */
  readonly commit: number | null;
  /** Null while the member knows no leader (or not its address). */
  readonly view: ClusterView | null;
}

function isTarget(x: unknown): x is Record<string, unknown> & Target {
  if (typeof x !== 'object' || x === null) return false;
  const t = x as Record<string, unknown>;
  return typeof t.id === 'string' && t.id.length > 0 && typeof t.url === 'string' && /^wss?:\/\//.test(t.url);
}

/** Reads a status reply (client protocol 'status'); anything malformed is ignored, never used. */
export function memberStatus(st: Record<string, unknown>): MemberStatus {
  const commit = typeof st.commit === 'number' && Number.isSafeInteger(st.commit) && st.commit >= 0 ? st.commit : null;
  if (typeof st.leader !== 'string' || typeof st.leaderUrl !== 'string') return { commit, view: null };
  const leader = { id: st.leader, url: st.leaderUrl };
  if (!isTarget(leader)) return { commit, view: null };
  const list = (st.members as { members?: unknown } | undefined)?.members;
  const followers: Target[] = [];
  if (Array.isArray(list)) {
    for (const m of list as unknown[]) {
      if (isTarget(m) && (m as Record<string, unknown>).role === 'voter' && m.id !== leader.id) followers.push({ id: m.id, url: m.url });
    }
  }
  return { commit, view: { leader, followers } };
}

/** The modes a follower-reader can follow: a member naming another one runs a newer edgeraft. */
const knownModes: ReadonlySet<string> = new Set<ReplicationModeName>(['raft', 'parallel']);

/**
 * The replication mode a member's status says its cluster runs (every member runs the same one,
 * fixed per data directory). The replica builds its core, store and link for it, so a member that
 * names no mode or one this edgeraft does not know is refused (ERR_UNKNOWN_MODE), never guessed.
 */
export function clusterMode(st: Record<string, unknown>, member: string): ReplicationModeName {
  const mode = st.mode;
  if (typeof mode === 'string' && knownModes.has(mode)) return mode as ReplicationModeName;
  if (mode === undefined) {
    throw new FollowerError('ERR_UNKNOWN_MODE', `${member} did not say which replication mode it runs (no 'mode' in its status): it is not an edgeraft peer this replica can follow`);
  }
  throw new FollowerError('ERR_UNKNOWN_MODE', `${member} runs replication mode ${JSON.stringify(mode)}, which this edgeraft does not know (it follows ${[...knownModes].map((m) => `'${m}'`).join(' and ')}): upgrade edgeraft in the page`);
}

/** The token's claims, refused early when they cannot work: malformed, expired, for another cluster, or scoped. */
export function checkToken(token: string, cluster: string | undefined, nowMs: number): TokenClaims {
  let claims: TokenClaims;
  try {
    claims = readClaims(token);
  } catch (err) {
    throw new FollowerError('ERR_FORBIDDEN', `the token is malformed: ${(err as Error).message}`);
  }
  if (cluster !== undefined && claims.cluster !== cluster) {
    throw new FollowerError('ERR_WRONG_CLUSTER', `the token of ${claims.sub} is for cluster '${claims.cluster}', not '${cluster}'`);
  }
  if (claims.expMs <= nowMs) {
    throw new FollowerError('ERR_TOKEN_EXPIRED', `the token of ${claims.sub} expired at ${new Date(claims.expMs).toISOString()} (now ${new Date(nowMs).toISOString()}): get a new token`);
  }
  // Members refuse it too (handshake.ts), but only with a generic close: say why here, at once.
  if (claims.scopes !== null) throw new FollowerError('ERR_FORBIDDEN', scopedReplicaRefusal(claims));
  return claims;
}

/**
 * Asks each member in turn who leads, until one names a leader (an election may be running).
 * Credentials a member refuses fail at once: retrying elsewhere would not change the answer.
 */
export async function findLeader(kv: KvClient, peers: readonly string[], claims: TokenClaims, timeoutMs: number): Promise<{ view: ClusterView; commit: number | null; mode: ReplicationModeName }> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no member answered';
  for (let round = 0; ; round++) {
    for (const url of peers) {
      let reply: Record<string, unknown>;
      try {
        reply = await kv.status(url);
      } catch (err) {
        const e = err as { code?: string; message?: string };
        // The SDK names the member's cluster when it answers for another one (ERR_WRONG_CLUSTER).
        const other = e.code === 'ERR_WRONG_CLUSTER' ? /belongs to cluster "([^"]*)"/.exec(e.message ?? '') ?? ['', '?'] : /for cluster "([^"]*)", this is "([^"]*)"/.exec(e.message ?? '');
        if (other !== null) {
          throw new FollowerError('ERR_WRONG_CLUSTER', `the token of ${claims.sub} is for cluster '${claims.cluster}', but ${url} serves cluster '${other[1]}'`);
        }
        if (e.code === 'ERR_FORBIDDEN') throw new FollowerError('ERR_FORBIDDEN', e.message ?? `${url} refused the token of ${claims.sub}`);
        last = e.message ?? String(err);
        continue;
      }
      const st = memberStatus(reply);
      // The mode is what the core, the store and the link are built for: taken from the member
      // that named the leader, and refused at once if unknown (another member would say the same).
      if (st.view !== null) return { view: st.view, commit: st.commit, mode: clusterMode(reply, url) };
      last = `${url} knows no leader yet`;
    }
    if (Date.now() > deadline) throw new FollowerError('ERR_NO_LEADER', `no member named a leader within ${timeoutMs} ms (last: ${last})`);
    await new Promise((r) => setTimeout(r, Math.min(1000, 100 * 2 ** round)));
  }
}
