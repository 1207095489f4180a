// A compact binary form for plain data trees (null, booleans, numbers, strings, bytes, arrays,
// objects): how the machine's snapshot keeps the cached answers of client sessions, which may hold
// byte values that JSON cannot.

import type { ByteReader, ByteWriter } from './bytes.ts';

export type Tree = null | boolean | number | string | Uint8Array | readonly Tree[] | { readonly [k: string]: Tree };

const NULL = 0, FALSE = 1, TRUE = 2, NUM = 3, STR = 4, BYTES = 5, ARRAY = 6, OBJECT = 7, UNDEF = 8;

export function writeTree(w: ByteWriter, t: Tree | undefined): void {
  if (t === undefined) w.u8(UNDEF);
  else if (t === null) w.u8(NULL);
  else if (t === false) w.u8(FALSE);
  else if (t === true) w.u8(TRUE);
  else if (typeof t === 'number') w.u8(NUM).num(t);
  else if (typeof t === 'string') w.u8(STR).str(t);
  else if (t instanceof Uint8Array) w.u8(BYTES).bytes(t);
  else if (Array.isArray(t)) {
    w.u8(ARRAY).varint(t.length);
    for (const x of t as readonly Tree[]) writeTree(w, x);
  } else {
    const entries = Object.entries(t as { readonly [k: string]: Tree }).filter(([, v]) => v !== undefined);
    w.u8(OBJECT).varint(entries.length);
    for (const [k, v] of entries) {
      w.str(k);
      writeTree(w, v);
    }
  }
}

export function readTree(r: ByteReader, depth = 0): Tree {
  if (depth > 32) throw new RangeError('data tree nested too deep');
  const tag = r.u8();
  switch (tag) {
    case NULL: case UNDEF: return null;
    case FALSE: return false;
    case TRUE: return true;
    case NUM: return r.num();
    case STR: return r.str();
    case BYTES: return r.bytes().slice();
    case ARRAY: {
      const out: Tree[] = [];
      for (let n = r.varint(); n > 0; n--) out.push(readTree(r, depth + 1));
      return out;
    }
    case OBJECT: {
      const out: { [k: string]: Tree } = {};
      for (let n = r.varint(); n > 0; n--) {
        const k = r.str();
        out[k] = readTree(r, depth + 1);
      }
      return out;
    }
    default: throw new RangeError(`data tree: unknown tag ${tag}`);
  }
}
