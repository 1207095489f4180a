// The scope rule (scopes.ts): a key inside a prefix, a range or prefix inside one prefix, compared
// as bytes, with the edges: prefixes ending in 0xff bytes, all-0xff prefixes (no end), empty
// ranges, a range equal to its scope, ranges spanning two scopes; and the refusal sentences.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { byteKey, prefixEnd } from '../../src/core/kv/keys.ts';
import { keyInScopes, keyOutside, rangeInScopes, rangeOutside, showRange } from '../../src/server/scopes.ts';

const t = suite('key scopes');
const acme = ['tenants/acme/'];
const ff = (...b: number[]): string => byteKey(new Uint8Array(b));

t('a key is inside when it starts with a scope; null scopes are the whole keyspace', () => {
  assert.ok(keyInScopes('tenants/acme/x', acme));
  assert.ok(keyInScopes('tenants/acme/', acme), 'the prefix itself');
  assert.not.ok(keyInScopes('tenants/acme', acme), 'one byte short');
  assert.not.ok(keyInScopes('tenants/acme0', acme));
  assert.not.ok(keyInScopes('tenants/other/x', acme));
  assert.not.ok(keyInScopes('', acme));
  assert.ok(keyInScopes('anything', null));
  assert.ok(keyInScopes('b/1', ['a/', 'b/']), 'any of several');
  assert.ok(keyInScopes(byteKey('tenants/acme/ключ'), acme), 'UTF-8 keys compare as bytes');
});

t('a prefix or range is inside when it lies within one scope', () => {
  const pe = prefixEnd('tenants/acme/');
  assert.ok(rangeInScopes('tenants/acme/', pe, acme), 'the scope itself as a prefix');
  assert.ok(rangeInScopes('tenants/acme/a/', prefixEnd('tenants/acme/a/'), acme), 'a narrower prefix');
  assert.ok(rangeInScopes('tenants/acme/a', 'tenants/acme/b', acme));
  assert.not.ok(rangeInScopes('tenants/', prefixEnd('tenants/'), acme), 'a wider prefix');
  assert.not.ok(rangeInScopes('tenants/acme/a', null, acme), 'to the last key');
  assert.ok(rangeInScopes('tenants/acme/a', 'tenants/acme0', acme), 'the end at the scope\'s end (exclusive)');
  assert.not.ok(rangeInScopes('tenants/acme/a', 'tenants/acme0\u0000', acme), 'the end one key past the scope\'s end');
  assert.not.ok(rangeInScopes('tenants/acmd', 'tenants/acme/z', acme), 'starting below the scope');
  assert.not.ok(rangeInScopes('', null, acme), 'the whole keyspace');
  assert.not.ok(rangeInScopes('a/x', 'b/y', ['a/', 'b/']), 'spanning two scopes is not inside one');
  assert.ok(rangeInScopes('', null, null));
});

t('an empty range holds no key: it is inside any scopes', () => {
  assert.ok(rangeInScopes('z', 'a', acme));
  assert.ok(rangeInScopes('tenants/other/', 'tenants/other/', acme));
  assert.is(rangeOutside('z', 'z', acme), null);
});

t('scopes ending in 0xff bytes: their end carries into the byte before; all-0xff scopes have no end', () => {
  const s = [ff(0x61, 0xff)]; // "a\xff": keys a\xff..., end "b"
  assert.is(prefixEnd(s[0]!), 'b');
  assert.ok(keyInScopes(ff(0x61, 0xff, 0xff, 0x00), s));
  assert.ok(rangeInScopes(ff(0x61, 0xff), 'b', s), 'the whole scope');
  assert.not.ok(rangeInScopes(ff(0x61, 0xff), 'b\u0000', s), 'one key past it');
  assert.not.ok(rangeInScopes(ff(0x61, 0xfe), 'b', s));
  const top = [ff(0xff, 0xff)]; // no key above it but its own
  assert.is(prefixEnd(top[0]!), null);
  assert.ok(rangeInScopes(ff(0xff, 0xff), null, top), 'to the last key: every key from there starts with it');
  assert.ok(rangeInScopes(ff(0xff, 0xff, 0x10), ff(0xff, 0xff, 0x20), top));
  assert.not.ok(rangeInScopes(ff(0xff, 0xfe), null, top));
});

t('refusals name the key or the prefix/range and the scopes', () => {
  assert.is(keyOutside('tenants/other/x', acme), 'key "tenants/other/x" is outside this token\'s scopes ("tenants/acme/")');
  assert.is(keyOutside('tenants/acme/x', acme), null);
  assert.match(rangeOutside('tenants/', prefixEnd('tenants/'), ['a/', 'tenants/acme/'])!, /^prefix "tenants\/" reaches outside this token's scopes \("a\/", "tenants\/acme\/"\): it must lie inside one of them \(a wider range is refused, not filtered\)$/);
  assert.is(showRange('a', 'c'), 'range ["a", "c")');
  assert.is(showRange('a', null), 'range ["a", the last key)');
  assert.is(showRange('', null), 'range ["", the last key)');
  assert.is(showRange(ff(0x00, 0xff), null), 'range [<2 bytes>, the last key)', 'bytes that are not UTF-8 show as a length');
});

t.run();
