// The key scopes of a token: the prefixes its holder may touch, compared as bytes (keys.ts), and
// the sentences that name a key or range refused for lying outside them. A range (or prefix) must
// lie inside one scope: a scan or watch wider than every scope is refused, never filtered.

import { prefixEnd, userKey, type ByteKey } from '../core/kv/keys.ts';

/** Key prefixes as the machine's byte strings; null: the whole keyspace. */
export type Scopes = readonly ByteKey[] | null;

/** Whether `key` starts with one of the scopes. */
export function keyInScopes(key: ByteKey, scopes: Scopes): boolean {
  return scopes === null || scopes.some((s) => key.startsWith(s));
}

/**
 * Whether every key of [start, end) (end null: to the last key) starts with one and the same
 * scope. An empty range (end at or below start) holds no key, so it is inside any scopes.
 */
export function rangeInScopes(start: ByteKey, end: ByteKey | null, scopes: Scopes): boolean {
  if (scopes === null || (end !== null && end <= start)) return true;
  return scopes.some((s) => rangeInScope(start, end, s));
}

/**
 * The keys starting with `scope` are exactly [scope, prefixEnd(scope)); when the scope is all
 * 0xff bytes there is no end, and every key from the scope on starts with it.
 */
function rangeInScope(start: ByteKey, end: ByteKey | null, scope: ByteKey): boolean {
  if (!start.startsWith(scope)) return false;
  const pe = prefixEnd(scope);
  return pe === null || (end !== null && end <= pe);
}

/** A key as an error message shows it: its string in quotes (shortened), else its length in bytes. */
export function showKey(k: ByteKey): string {
  const u = userKey(k);
  return typeof u === 'string' ? JSON.stringify(u.length > 60 ? `${u.slice(0, 60)}…` : u) : `<${u.byteLength} bytes>`;
}

/** `prefix "p"` when [start, end) is a prefix's range, else `range ["a", "b")`. */
export function showRange(start: ByteKey, end: ByteKey | null): string {
  if (end === prefixEnd(start) && start !== '') return `prefix ${showKey(start)}`;
  return `range [${showKey(start)}, ${end === null ? 'the last key' : showKey(end)})`;
}

/** The scopes as a message lists them: `("a/", "b/")`. */
export function showScopes(scopes: readonly ByteKey[]): string {
  return `(${scopes.map(showKey).join(', ')})`;
}

/** Why `key` is refused, or null when it is inside the scopes. */
export function keyOutside(key: ByteKey, scopes: Scopes): string | null {
  if (scopes === null || keyInScopes(key, scopes)) return null;
  return `key ${showKey(key)} is outside this token's scopes ${showScopes(scopes)}`;
}

/** Why [start, end) is refused, or null when it lies inside one scope. */
export function rangeOutside(start: ByteKey, end: ByteKey | null, scopes: Scopes): string | null {
  if (scopes === null || rangeInScopes(start, end, scopes)) return null;
  return `${showRange(start, end)} reaches outside this token's scopes ${showScopes(scopes)}: it must lie inside one of them (a wider range is refused, not filtered)`;
}
