// The demo page's key-value console: one SDK call per button, answered with one line that says
// what happened and, for reads, which path served it, at which log index and from which member.

import type { Consistency, KvClient, Value } from '../../client/browser.ts';

export type KvOp = 'put' | 'get' | 'delete' | 'cas' | 'scan';

export interface KvInput {
  readonly key: string;
  readonly value: string;
  /** For cas: the value the key must hold; empty means the key must be absent. */
  readonly expected: string;
  readonly consistency: string;
}

const consistencies: readonly Consistency[] = ['linearizable', 'readindex', 'lease', 'follower', 'stale'];
/** Pairs a scan lists on the page. */
const scanLimit = 50;

function show(v: Value | undefined): string {
  if (v === undefined) return '(absent)';
  return typeof v === 'string' ? JSON.stringify(v) : `<${v.byteLength} bytes>`;
}

export async function runKvOp(kv: KvClient, op: KvOp, input: KvInput): Promise<string> {
  const consistency = consistencies.find((c) => c === input.consistency) ?? 'linearizable';
  const key = input.key;
  switch (op) {
    case 'put': {
      const r = await kv.put(key, input.value);
      return `put ${key} = ${show(input.value)}: committed at log index ${r.index}`;
    }
    case 'get': {
      const r = await kv.getWithMeta(key, { consistency });
      return `get ${key} (${consistency}) → ${show(r.value)} via ${r.path} at index ${r.index}, served by ${r.servedBy}`;
    }
    case 'delete': {
      const r = await kv.delete(key);
      return `delete ${key}: ${r.existed ? 'deleted' : 'was already absent'} (log index ${r.index})`;
    }
    case 'cas': {
      const expected = input.expected === '' ? undefined : input.expected;
      const swapped = await kv.cas(key, expected, input.value);
      return `cas ${key} from ${show(expected)} to ${show(input.value)}: ${swapped ? 'swapped' : 'not swapped (the key holds something else)'}`;
    }
    case 'scan': {
      const r = await kv.scanWithMeta({ prefix: key, consistency, limit: scanLimit });
      const pairs = r.value.map(([k, v]) => `${k}=${show(v)}`).join(', ');
      return `scan prefix ${JSON.stringify(key)} (${consistency}) → ${r.value.length} key${r.value.length === 1 ? '' : 's'}${pairs !== '' ? `: ${pairs}` : ''} via ${r.path} at index ${r.index}, served by ${r.servedBy}`;
    }
  }
}
