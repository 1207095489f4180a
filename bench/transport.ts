// `npm run bench:transport`: two processes on loopback. Throughput of AppendEntries frames of
// 64 x 256-byte entries through the full mesh path (encode, ws, decode, validate) against a bare
// `ws` sender of the same bytes (the ceiling), and 64-byte ping-pong latency for both. Prints a
// table with medians of several runs; `--json` adds one JSON object as the last line.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import WebSocket, { WebSocketServer } from 'ws';
import type { Message } from '../src/core/message.ts';
import type { Entry } from '../src/core/types.ts';
import { WsListener } from '../src/runtime-node/ws-server.ts';
import { dialWs } from '../src/runtime-node/ws-socket.ts';
import { FrameCodec } from '../src/transport/codec.ts';
import { Mesh } from '../src/transport/mesh.ts';

const args = process.argv.slice(2);
const flag = (name: string, fallback: number): number => {
  const at = args.indexOf(`--${name}`);
  return at >= 0 ? Number(args[at + 1]) : fallback;
};
const json = args.includes('--json');
const runs = flag('runs', 3);
const seconds = flag('seconds', 2);
const pings = flag('pings', 5000);
// The mesh path has more code for the JIT to settle than bare ws: without a long warm-up its
// first few thousand round trips dominate p99.
const warmupPings = flag('warmup-pings', 3000);
const windowBytes = 4 * 1024 * 1024;
const entriesPerFrame = 64;
const entryBytes = 256;
const secret = 'bench secret, not a real one';
const cluster = 'bench';
const endMarker = 0xbeef;

const entries: Entry[] = Array.from({ length: entriesPerFrame }, (_, i) => ({
  term: 2, index: 1 + i, type: 'normal', data: new Uint8Array(entryBytes).fill(i),
}));
const appMsg: Message = { type: 'app', from: 's', to: 'r', term: 2, prevIndex: 0, prevTerm: 0, commit: 0, entries };
const pingMsg: Message = {
  type: 'app', from: 's', to: 'r', term: 2, prevIndex: 0, prevTerm: 0, commit: 0,
  entries: [{ term: 2, index: 1, type: 'normal', data: new Uint8Array(64).fill(1) }],
};

// ---- the receiving process ------------------------------------------------------------------

async function child(): Promise<void> {
  const listener = await WsListener.open();
  const mesh = await Mesh.start({ id: 'r', cluster, secret, listener, logger: () => {} });
  let count = 0;
  let firstMs = 0;
  let lastMs = 0;
  let cpu0 = process.cpuUsage();
  const cpuSince = (c: NodeJS.CpuUsage): number => { const d = process.cpuUsage(c); return d.user + d.system; };
  mesh.on('messages', (e) => {
    for (const m of e.msgs) {
      if (m.type === 'app') {
        if (m.entries.length === 1) {
          mesh.send([{ type: 'appResp', from: 'r', to: 's', term: m.term, index: 1, reject: false, hintIndex: 0, hintTerm: 0 }]);
          continue;
        }
        if (count === 0) { firstMs = performance.now(); cpu0 = process.cpuUsage(); }
        count += m.entries.length;
        lastMs = performance.now();
      } else if (m.type === 'hb' && m.round === endMarker) {
        console.log(JSON.stringify({ kind: 'mesh', entries: count, ms: lastMs - firstMs, cpuUs: cpuSince(cpu0) }));
        count = 0;
      }
    }
  });
  const bare = await new Promise<WebSocketServer>((resolve) => {
    const s: WebSocketServer = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false, maxPayload: 64 << 20 }, () => resolve(s));
  });
  bare.on('connection', (ws) => {
    let frames = 0;
    let first = 0;
    let last = 0;
    let bareCpu0 = process.cpuUsage();
    ws.on('message', (data: Buffer) => {
      if (data.byteLength === 64) return ws.send(data);
      if (data.byteLength === 1) {
        console.log(JSON.stringify({ kind: 'bare', entries: frames * entriesPerFrame, ms: last - first, cpuUs: cpuSince(bareCpu0) }));
        frames = 0;
        return;
      }
      if (frames === 0) { first = performance.now(); bareCpu0 = process.cpuUsage(); }
      frames += 1;
      last = performance.now();
    });
  });
  const barePort = (bare.address() as { port: number }).port;
  console.log(JSON.stringify({ kind: 'ready', meshUrl: listener.url, bareUrl: `ws://127.0.0.1:${barePort}` }));
}

// ---- the sending process --------------------------------------------------------------------

const immediate = (): Promise<void> => new Promise((r) => setImmediate(r));

function lines(proc: ChildProcess): () => Promise<Record<string, unknown>> {
  const queue: Record<string, unknown>[] = [];
  const waiters: ((v: Record<string, unknown>) => void)[] = [];
  createInterface({ input: proc.stdout! }).on('line', (line) => {
    const v = JSON.parse(line) as Record<string, unknown>;
    const w = waiters.shift();
    if (w) w(v); else queue.push(v);
  });
  return () => new Promise((resolve) => {
    const v = queue.shift();
    if (v) resolve(v); else waiters.push(resolve);
  });
}

interface Phase { entries: number; ms: number; senderCpuUs: number; receiverCpuUs: number }

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Sends for `ms` keeping at most windowBytes queued, then the end marker; the receiver reports. */
async function phase(kind: 'mesh' | 'bare', mesh: Mesh, ws: WebSocket, frame: Uint8Array, ms: number, next: () => Promise<Record<string, unknown>>): Promise<Phase> {
  const queued = (): number => (kind === 'mesh' ? mesh.bufferedBytes('r') : ws.bufferedAmount);
  const cpu0 = process.cpuUsage();
  const endMs = performance.now() + ms;
  while (performance.now() < endMs) {
    for (let i = 0; i < 64 && queued() < windowBytes; i++) {
      if (kind === 'mesh') {
        mesh.send([appMsg]);
        // Let the outbox flush: one message per frame, like a leader replicating one batch.
        await Promise.resolve();
      } else {
        ws.send(frame);
      }
    }
    // Wait without spinning when the window is full, so CPU time measures work, not polling.
    if (queued() >= windowBytes) await sleep(1);
    else await immediate();
  }
  while (queued() > 0) await sleep(1);
  if (kind === 'mesh') mesh.send([{ type: 'hb', from: 's', to: 'r', term: 2, commit: 0, round: endMarker }]);
  else ws.send(new Uint8Array(1));
  const cpu = process.cpuUsage(cpu0);
  const r = await next();
  return { entries: r.entries as number, ms: r.ms as number, senderCpuUs: cpu.user + cpu.system, receiverCpuUs: r.cpuUs as number };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
}

async function meshPingPong(mesh: Mesh): Promise<{ p50: number; p99: number }> {
  const rtts: number[] = [];
  let resolveReply: (() => void) | null = null;
  const off = mesh.on('messages', () => resolveReply?.());
  for (let i = 0; i < pings + warmupPings; i++) {
    const t0 = performance.now();
    await new Promise<void>((r) => { resolveReply = r; mesh.send([pingMsg]); });
    if (i >= warmupPings) rtts.push(performance.now() - t0);
  }
  off();
  rtts.sort((x, y) => x - y);
  return { p50: percentile(rtts, 0.5), p99: percentile(rtts, 0.99) };
}

async function barePingPong(ws: WebSocket): Promise<{ p50: number; p99: number }> {
  const rtts: number[] = [];
  const ping = new Uint8Array(64).fill(1);
  let resolveReply: (() => void) | null = null;
  ws.on('message', () => resolveReply?.());
  for (let i = 0; i < pings + warmupPings; i++) {
    const t0 = performance.now();
    await new Promise<void>((r) => { resolveReply = r; ws.send(ping); });
    if (i >= warmupPings) rtts.push(performance.now() - t0);
  }
  ws.removeAllListeners('message');
  rtts.sort((x, y) => x - y);
  return { p50: percentile(rtts, 0.5), p99: percentile(rtts, 0.99) };
}

function codecEntriesPerSecond(): number {
  const codec = new FrameCodec({ cluster });
  const startMs = performance.now();
  let frames = 0;
  while (performance.now() - startMs < 1000) {
    for (let i = 0; i < 100; i++) codec.decodeData(codec.encodeData('s', 'r', [appMsg]));
    frames += 100;
  }
  return (frames * entriesPerFrame) / ((performance.now() - startMs) / 1000);
}

interface Side { entriesPerS: number; senderCpuUsPerKEntries: number; receiverCpuUsPerKEntries: number }
interface RunResult { mesh: Side; bare: Side; meshPing: { p50: number; p99: number }; barePing: { p50: number; p99: number } }

function side(phases: Phase[]): Side {
  const entries = phases.reduce((n, p) => n + p.entries, 0);
  const ms = phases.reduce((n, p) => n + p.ms, 0);
  const perK = (us: number): number => us / (entries / 1000);
  return {
    entriesPerS: entries / (ms / 1000),
    senderCpuUsPerKEntries: perK(phases.reduce((n, p) => n + p.senderCpuUs, 0)),
    receiverCpuUsPerKEntries: perK(phases.reduce((n, p) => n + p.receiverCpuUs, 0)),
  };
}

async function oneRun(run: number): Promise<RunResult> {
  const proc = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--child'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const next = lines(proc);
  try {
    const ready = await next();
    const mesh = await Mesh.start({ id: 's', cluster, secret, dial: dialWs, peers: { r: ready.meshUrl as string }, logger: () => {} });
    while (!mesh.isConnected('r')) await sleep(5);
    const ws = new WebSocket(ready.bareUrl as string, { perMessageDeflate: false });
    await new Promise((r) => ws.once('open', r));
    const frame = mesh.codec.encodeData('s', 'r', [appMsg]);
    process.stderr.write(`run ${run + 1}/${runs}: throughput`);
    // Short alternating phases, so load from anything else on the machine hits both alike.
    const phases: Record<'mesh' | 'bare', Phase[]> = { mesh: [], bare: [] };
    const phaseMs = 500;
    const count = Math.max(2, Math.round((seconds * 1000) / phaseMs));
    await phase('mesh', mesh, ws, frame, 200, next);
    await phase('bare', mesh, ws, frame, 200, next);
    for (let p = 0; p < 2 * count; p++) {
      const kind = (p + run) % 2 === 0 ? 'mesh' : 'bare';
      phases[kind].push(await phase(kind, mesh, ws, frame, phaseMs, next));
      process.stderr.write('.');
    }
    process.stderr.write(' ping-pong...');
    const meshPing = await meshPingPong(mesh);
    const barePing = await barePingPong(ws);
    process.stderr.write(' done\n');
    ws.close();
    await mesh.close();
    return { mesh: side(phases.mesh), bare: side(phases.bare), meshPing, barePing };
  } finally {
    proc.kill();
  }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const results: RunResult[] = [];
  for (let i = 0; i < runs; i++) results.push(await oneRun(i));
  process.stderr.write('codec alone (encode + decode + validate, one process)...\n');
  const codec = codecEntriesPerSecond();
  const med = (f: (r: RunResult) => number): number => median(results.map(f));
  const all = (f: (r: RunResult) => number, fmt: (n: number) => string): string => results.map((r) => fmt(f(r))).join(' ');
  const int = (n: number): string => Math.round(n).toLocaleString('en-US');
  const ms = (n: number): string => n.toFixed(3);
  const r2 = (n: number): string => n.toFixed(2);
  const ratio = (r: RunResult): number => r.mesh.entriesPerS / r.bare.entriesPerS;
  const rows: [string, number, (r: RunResult) => number, (n: number) => string][] = [
    ['mesh entries/s', med((r) => r.mesh.entriesPerS), (r) => r.mesh.entriesPerS, int],
    ['bare ws entries/s (ceiling)', med((r) => r.bare.entriesPerS), (r) => r.bare.entriesPerS, int],
    ['ratio_to_bare', med(ratio), ratio, r2],
    ['sender cpu us / 1k entries, mesh', med((r) => r.mesh.senderCpuUsPerKEntries), (r) => r.mesh.senderCpuUsPerKEntries, int],
    ['sender cpu us / 1k entries, bare', med((r) => r.bare.senderCpuUsPerKEntries), (r) => r.bare.senderCpuUsPerKEntries, int],
    ['receiver cpu us / 1k entries, mesh', med((r) => r.mesh.receiverCpuUsPerKEntries), (r) => r.mesh.receiverCpuUsPerKEntries, int],
    ['receiver cpu us / 1k entries, bare', med((r) => r.bare.receiverCpuUsPerKEntries), (r) => r.bare.receiverCpuUsPerKEntries, int],
    ['mesh ping-pong p50 ms', med((r) => r.meshPing.p50), (r) => r.meshPing.p50, ms],
    ['mesh ping-pong p99 ms', med((r) => r.meshPing.p99), (r) => r.meshPing.p99, ms],
    ['bare ping-pong p50 ms', med((r) => r.barePing.p50), (r) => r.barePing.p50, ms],
    ['bare ping-pong p99 ms', med((r) => r.barePing.p99), (r) => r.barePing.p99, ms],
  ];
  const line = (a: string, b: string, c: string): string => `| ${a.padEnd(36)} | ${b.padStart(12)} | ${c.padEnd(34)} |`;
  console.log(`machine: ${cpus()[0]?.model ?? '?'} x ${cpus().length} cores, Node ${process.version}, load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  console.log(`frames of ${entriesPerFrame} x ${entryBytes} B entries (${frame64Bytes()} B), ${runs} runs of ~${seconds} s per side, medians`);
  console.log(line('metric', 'median', 'per run'));
  console.log(`|${'-'.repeat(38)}|${'-'.repeat(14)}|${'-'.repeat(36)}|`);
  for (const [name, value, f, fmt] of rows) console.log(line(name, fmt(value), all(f, fmt)));
  console.log(line('codec alone entries/s (1 process)', int(codec), 'encode + decode + validate'));
  if (json) {
    console.log(JSON.stringify({
      entries_per_s: Math.round(med((r) => r.mesh.entriesPerS)),
      bare_entries_per_s: Math.round(med((r) => r.bare.entriesPerS)),
      ratio_to_bare: Number(med(ratio).toFixed(3)),
      sender_cpu_us_per_kentries: Math.round(med((r) => r.mesh.senderCpuUsPerKEntries)),
      bare_sender_cpu_us_per_kentries: Math.round(med((r) => r.bare.senderCpuUsPerKEntries)),
      receiver_cpu_us_per_kentries: Math.round(med((r) => r.mesh.receiverCpuUsPerKEntries)),
      bare_receiver_cpu_us_per_kentries: Math.round(med((r) => r.bare.receiverCpuUsPerKEntries)),
      p50_ms: Number(med((r) => r.meshPing.p50).toFixed(4)), p99_ms: Number(med((r) => r.meshPing.p99).toFixed(4)),
      bare_p50_ms: Number(med((r) => r.barePing.p50).toFixed(4)), bare_p99_ms: Number(med((r) => r.barePing.p99).toFixed(4)),
      codec_entries_per_s: Math.round(codec),
    }));
  }
}

function frame64Bytes(): number {
  return new FrameCodec({ cluster }).encodeData('s', 'r', [appMsg]).byteLength;
}

if (args.includes('--child')) await child();
else await main();
