// A child process for WAL tests that need a second process (run: node --import tsx wal-child.ts):
//   probe <dir>                 try to open the WAL, print one JSON line {ok} or {code,message}, exit
//   hold <dir>                  open the WAL, print "ready", keep it (and its lock) until killed
//   append <dir> <seed> <segmentBytes> <writers>
//                               recover, print "ready <lastIndex>", then append forever with
//                               concurrent writers and print each index once its save resolved
import { SeededPrng } from '../../src/core/prng.ts';
import { StoreError } from '../../src/core/storage.ts';
import { FileWal } from '../../src/runtime-node/wal.ts';
import { crashEntry, crashSnapshot } from './wal-crash-data.ts';

const [mode, dir = '', ...rest] = process.argv.slice(2);
const logger = { warn: (m: string) => void process.stderr.write(`warning: ${m}\n`) };

// stdout is a pipe, which Node writes synchronously on Linux; a report lost to the kill only
// weakens the check, and a report is never written before its save resolved.
function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

async function append(seed: number, segmentBytes: number, writers: number): Promise<void> {
  const wal = await FileWal.open(dir, { segmentBytes, logger });
  const loaded = await wal.load();
  const snapIndex = loaded.snapshot?.meta.index ?? 0;
  let next = snapIndex + loaded.entries.length + 1;
  let snapshotAt = snapIndex;
  let durable = next - 1;
  const prng = new SeededPrng(seed);
  say(`ready ${next - 1}`);
  const writer = async (): Promise<void> => {
    for (;;) {
      const index = next++;
      await wal.save({ snapshot: null, entries: [crashEntry(index)], hardState: { term: 1, vote: 'a', commit: index } });
      if (index > durable) durable = index;
      say(String(index));
      // Now and then compact, keeping a tail, so segments get deleted under load too.
      if (durable - snapshotAt > 1500 + prng.nextInt(1000)) {
        snapshotAt = durable - 300;
        await wal.saveSnapshot(crashSnapshot(snapshotAt));
      }
    }
  };
  await Promise.all(Array.from({ length: writers }, writer));
}

async function main(): Promise<void> {
  switch (mode) {
    case 'probe': {
      try {
        const wal = await FileWal.open(dir, { logger });
        await wal.close();
        say(JSON.stringify({ ok: true }));
      } catch (err) {
        const e = err as StoreError;
        say(JSON.stringify({ ok: false, code: e.code, message: e.message }));
      }
      return;
    }
    case 'hold': {
      await FileWal.open(dir, { logger });
      say('ready');
      setInterval(() => undefined, 1 << 30);
      return;
    }
    case 'append': {
      const [seed = '1', segmentBytes = '1048576', writers = '16'] = rest;
      await append(Number(seed), Number(segmentBytes), Number(writers));
      return;
    }
    default:
      throw new Error(`unknown mode ${String(mode)}`);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`wal-child ${String(mode)} failed: ${String((err as Error).stack ?? err)}\n`);
  process.exit(2);
});
