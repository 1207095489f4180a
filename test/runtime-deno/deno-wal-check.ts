// Run by deno-wal.test.ts under Deno (not by uvu): exercises DenoWal on Deno's file API in a
// fresh directory and prints one JSON line per check, which the Node test asserts on.
import { DenoWal } from '../../src/runtime-deno/deno-wal.ts';
import type { Entry } from '../../src/core/types.ts';

const dir = Deno.args[0]!;
const out = (check: string, value: unknown): void => console.log(JSON.stringify({ check, value }));
const entry = (index: number, term: number): Entry => ({ index, term, type: 'normal', data: new TextEncoder().encode(`e${index}`) });
const summary = (s: { hardState: unknown; snapshot: { meta: { index: number } } | null; entries: readonly Entry[] }) => ({
  hardState: s.hardState, snapshot: s.snapshot?.meta.index ?? 0, entries: s.entries.map((e) => `${e.index}:${e.term}:${new TextDecoder().decode(e.data)}`),
});
const code = (p: Promise<unknown>) => p.then(() => 'ok', (err: Error & { code?: string }) => err.code ?? err.message);

const warnings: string[] = [];
const wal = await DenoWal.open(`${dir}/a`, { warn: (m) => warnings.push(m) });
out('fresh', summary(await wal.load()));
out('second open while held', await code(DenoWal.open(`${dir}/a`)));
// Overlapping saves (one group commit), a conflicting suffix, then a compaction and more.
await Promise.all([
  wal.save({ snapshot: null, entries: [entry(1, 1), entry(2, 1), entry(3, 1)], hardState: { term: 1, vote: 'n1', commit: 1 } }),
  wal.save({ snapshot: null, entries: [entry(3, 2), entry(4, 2)], hardState: { term: 2, vote: 'n1', commit: 2 } }),
]);
await wal.saveSnapshot({ meta: { index: 2, term: 1, conf: { voters: ['n1'], learners: [] } }, data: new Uint8Array([9]) });
await wal.save({ snapshot: null, entries: [entry(5, 2)], hardState: { term: 2, vote: 'n1', commit: 4 } });
out('entries(3, 6)', (await wal.entries(3, 6)).map((e) => e.index));
out('below the snapshot', await code(wal.entries(1, 3)));
await wal.close();

const reopened = await DenoWal.open(`${dir}/a`);
out('reopened', summary(await reopened.load()));
await reopened.close();

// A crash mid-write: half a frame at the end of the log.
const log = await Deno.open(`${dir}/a/deno.log`, { write: true, append: true });
await log.write(new Uint8Array([0xde, 0xad, 0xbe, 0xef, 0x30, 0, 0, 0, 2, 0, 1]));
log.close();
const torn = await DenoWal.open(`${dir}/a`, { warn: (m) => warnings.push(m) });
out('after a torn write', summary(await torn.load()));
await torn.save({ snapshot: null, entries: [entry(6, 2)], hardState: null });
await torn.close();
const again = await DenoWal.open(`${dir}/a`);
out('written after the torn tail', summary(await again.load()).entries);
await again.close();
out('warnings', warnings);

// One save at a time, each awaited: each must start a write of its own (none may wait for a pump that ended).
const serial = await DenoWal.open(`${dir}/b`);
await serial.load();
for (let i = 1; i <= 50; i++) await serial.save({ snapshot: null, entries: [entry(i, 1)], hardState: { term: 1, vote: null, commit: i - 1 } });
await serial.close();
const serialAgain = await DenoWal.open(`${dir}/b`);
out('serial saves', (await serialAgain.load()).entries.length);
await serialAgain.close();

await Deno.mkdir(`${dir}/node`, { recursive: true });
await Deno.writeTextFile(`${dir}/node/VERSION`, 'edgeraft-wal 1\n');
out('a Node WAL directory', await code(DenoWal.open(`${dir}/node`)));
