// One member's log across all its runs: the child's stderr (JSON lines) and stdout, plus the
// harness's own '--- harness:' lines (spawns, signals, exits), kept in memory (bounded) for
// assertions and appended to a file for a human reading a failed run.

import { createWriteStream, type WriteStream } from 'node:fs';

/** Lines kept in memory per member (the file has them all). */
export const logLinesMax = 20_000;

interface Line {
  readonly seq: number;
  readonly text: string;
}

export type LogRecord = Record<string, unknown>;

export class PeerLog {
  readonly path: string;
  #lines: Line[] = [];
  #seq = 0;
  #file: WriteStream | null = null;
  readonly #listeners = new Set<(line: Line) => void>();

  constructor(path: string) {
    this.path = path;
  }

  /** One line of the member's output (the harness feeds them: local-member.ts). */
  record(text: string): void {
    const line = { seq: ++this.#seq, text };
    this.#lines.push(line);
    if (this.#lines.length > logLinesMax) this.#lines.splice(0, this.#lines.length - logLinesMax);
    this.#file ??= createWriteStream(this.path, { flags: 'a' });
    if (!this.#file.writableEnded) this.#file.write(`${text}\n`);
    for (const l of this.#listeners) l(line);
  }

  /** Whether anything was logged. */
  get empty(): boolean {
    return this.#seq === 0;
  }

  /** A mark: lines after it are since(mark). */
  mark(): number {
    return this.#seq;
  }

  lines(): string[] {
    return this.#lines.map((l) => l.text);
  }

  since(mark: number): string[] {
    return this.#lines.filter((l) => l.seq > mark).map((l) => l.text);
  }

  /** The JSON records (lines that are not JSON are skipped). */
  records(): LogRecord[] {
    return this.#lines.flatMap((l) => {
      const j = parseRecord(l.text);
      return j === null ? [] : [j];
    });
  }

  /** The last `n` lines, indented, for error messages. */
  tail(n: number): string {
    return this.#lines.slice(-n).map((l) => `    ${l.text}`).join('\n');
  }

  /** Waits for a JSON record after `mark` that `pred` accepts. */
  waitFor(pred: (rec: LogRecord) => boolean, what: string, timeoutMs: number, mark = 0): Promise<LogRecord> {
    const test = (l: Line) => {
      const j = l.seq > mark ? parseRecord(l.text) : null;
      return j !== null && pred(j) ? j : null;
    };
    for (const l of this.#lines) {
      const hit = test(l);
      if (hit !== null) return Promise.resolve(hit);
    }
    return new Promise((res, rej) => {
      const listener = (l: Line) => {
        const hit = test(l);
        if (hit === null) return;
        clearTimeout(timer);
        this.#listeners.delete(listener);
        res(hit);
      };
      const timer = setTimeout(() => {
        this.#listeners.delete(listener);
        rej(new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${this.tail(15)}`));
      }, timeoutMs);
      this.#listeners.add(listener);
    });
  }

  /** Flushes and closes the file (later lines stay in memory only). */
  close(): Promise<void> {
    const f = this.#file;
    if (f === null || f.writableEnded) return Promise.resolve();
    return new Promise((res) => f.end(() => res()));
  }
}

function parseRecord(text: string): LogRecord | null {
  if (!text.startsWith('{')) return null;
  try {
    const v: unknown = JSON.parse(text);
    return typeof v === 'object' && v !== null ? (v as LogRecord) : null;
  } catch {
    return null;
  }
}
