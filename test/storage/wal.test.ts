// FileWal against the shared LogStore conformance suite, with tiny segments so that rolls,
// compaction across segments and oversized records are all exercised by the same contract.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileWal } from '../../src/runtime-node/wal.ts';
import { storeConformance } from './conformance.ts';

const root = mkdtempSync(join(tmpdir(), 'edgeraft-wal-conf-'));
let n = 0;
let dir = '';
let current: FileWal | null = null;
const options = { segmentBytes: 8192, logger: { warn: (m: string) => { throw new Error(`unexpected warning: ${m}`); } } };

storeConformance('file wal', {
  async open() {
    dir = join(root, `s${n++}`);
    return (current = await FileWal.open(dir, options));
  },
  async reopen() {
    await current?.close();
    return (current = await FileWal.open(dir, options));
  },
  async dispose() {
    rmSync(root, { recursive: true, force: true });
  },
});
