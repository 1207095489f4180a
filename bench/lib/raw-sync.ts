// The disk's own speed in the same run, for the persist target: `procs` processes at once (as many
// as the cluster has syncing peers), each writing `bytes` then fdatasync through libuv's thread pool
// (the calls a Node program makes) in a loop into its own zero-filled file, for `seconds`.
// Returns the median of the processes' p50s, in ms.

import { spawn } from 'node:child_process';
import { join } from 'node:path';

const child = `
const fs = require('node:fs');
const [path, bytes, seconds] = process.argv.slice(1);
const size = 16 << 20, n = Number(bytes), buf = Buffer.alloc(n, 0x5a), z = Buffer.alloc(1 << 20);
const fd = fs.openSync(path, 'w+');
for (let o = 0; o < size; o += z.length) fs.writeSync(fd, z, 0, z.length, o);
fs.fsyncSync(fd);
const lat = [];
let pos = 0;
const end = performance.now() + Number(seconds) * 1000;
const step = () => {
  if (performance.now() >= end) {
    fs.closeSync(fd); fs.rmSync(path);
    lat.sort((a, b) => a - b);
    process.stdout.write(JSON.stringify({ p50: lat[lat.length >> 1] ?? null, n: lat.length }));
    return;
  }
  if (pos + n > size) pos = 0;
  const t = performance.now();
  fs.write(fd, buf, 0, n, pos, (err) => {
    if (err) throw err;
    fs.fdatasync(fd, (err2) => {
      if (err2) throw err2;
      lat.push(performance.now() - t);
      pos += n;
      step();
    });
  });
};
step();
`;

export async function rawSyncP50(dir: string, procs: number, bytes: number, seconds: number): Promise<number> {
  const n = Math.max(1, Math.round(bytes));
  const p50s = await Promise.all(Array.from({ length: procs }, (_, i) => new Promise<number>((resolve, reject) => {
    const c = spawn(process.execPath, ['-e', child, join(dir, `raw-sync-${i}.dat`), String(n), String(seconds)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    c.stdout.on('data', (d: Buffer) => { out += d.toString('utf8'); });
    c.on('error', reject);
    c.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`the raw write+fdatasync probe exited with ${code}`));
      try {
        const r = JSON.parse(out) as { p50: number | null };
        resolve(r.p50 ?? Number.NaN);
      } catch (err) {
        reject(new Error(`the raw write+fdatasync probe printed ${JSON.stringify(out)}: ${(err as Error).message}`));
      }
    });
  })));
  p50s.sort((a, b) => a - b);
  return p50s[p50s.length >> 1]!;
}
