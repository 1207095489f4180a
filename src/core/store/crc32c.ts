// CRC32C (Castagnoli), pure and table-driven (slice-by-8), for every runtime: the Node WAL falls
// back to it when the native addon does not load, and the Deno WAL uses it alone. The checksum
// chains through `initial` (the CRC of the bytes before `input`).

const polyReflected = 0x82f63b78;

function makeTables(): Uint32Array[] {
  const tables: Uint32Array[] = [];
  const t0 = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ polyReflected : c >>> 1;
    t0[n] = c >>> 0;
  }
  tables.push(t0);
  for (let t = 1; t < 8; t++) {
    const prev = tables[t - 1]!;
    const cur = new Uint32Array(256);
    for (let n = 0; n < 256; n++) cur[n] = (prev[n]! >>> 8) ^ t0[prev[n]! & 0xff]!;
    tables.push(cur);
  }
  return tables;
}

let tables: Uint32Array[] | null = null;

/** CRC32C of `input`, continuing from `initial`. */
export function crc32cJs(input: Uint8Array, initial = 0): number {
  tables ??= makeTables();
  const [t0, t1, t2, t3, t4, t5, t6, t7] = tables as [
    Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array,
  ];
  let crc = ~initial >>> 0;
  let i = 0;
  const n = input.length;
  const end8 = n - (n % 8);
  for (; i < end8; i += 8) {
    const lo = (crc ^ (input[i]! | (input[i + 1]! << 8) | (input[i + 2]! << 16) | (input[i + 3]! << 24))) >>> 0;
    crc =
      t7[lo & 0xff]! ^ t6[(lo >>> 8) & 0xff]! ^ t5[(lo >>> 16) & 0xff]! ^ t4[lo >>> 24]! ^
      t3[input[i + 4]!]! ^ t2[input[i + 5]!]! ^ t1[input[i + 6]!]! ^ t0[input[i + 7]!]!;
  }
  for (; i < n; i++) crc = t0[(crc ^ input[i]!) & 0xff]! ^ (crc >>> 8);
  return ~crc >>> 0;
}
