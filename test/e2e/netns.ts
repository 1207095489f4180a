// Peers as separate hosts: one network namespace per member (erN-<pid>-<id>), each with its own
// address 10.213.S.i on its loopback, a veth pair to every other member (one real link per pair,
// routed /32) and one to the test process (10.213.S.254), which reaches every member but relays
// nothing between them. A partition sets both ends of the links it cuts down; healing sets them up
// and restores their routes. Everything is of this process's own making and is removed on close,
// on exit and on SIGINT/SIGTERM; namespaces left by a killed earlier run are removed at start.

import { execFile, spawnSync } from 'node:child_process';
import type { LinkCutter } from './nemesis.ts';

const nsPrefix = 'erN-';
const subnetBase = '10.213';
const rootHost = 254;

function ip(args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('ip', args, { timeout: 10_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`ip ${args.join(' ')}: ${stderr.trim() || err.message}`));
      else resolve(stdout);
    });
  });
}

function ipSync(args: readonly string[]): { ok: boolean; out: string } {
  const r = spawnSync('ip', args, { encoding: 'utf8', timeout: 10_000 });
  return { ok: r.status === 0, out: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

/** Null when namespaces can be made here, else why not (the netns test then skips). */
export function netnsUnavailable(): string | null {
  if (process.platform !== 'linux') return 'not linux';
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return 'not root';
  const v = spawnSync('ip', ['-V'], { encoding: 'utf8' });
  if (v.error !== undefined || v.status !== 0) return 'no iproute2';
  const probe = `${nsPrefix}${process.pid}-probe`;
  const add = ipSync(['netns', 'add', probe]);
  if (!add.ok) return `ip netns add fails: ${add.out.trim()}`;
  ipSync(['netns', 'del', probe]);
  return null;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes namespaces named erN-<pid>-... whose creating process is gone (a run killed with -9). */
export function removeStaleNamespaces(): string[] {
  const removed: string[] = [];
  for (const line of ipSync(['netns', 'list']).out.split('\n')) {
    const name = line.split(' ')[0] ?? '';
    const m = /^erN-(\d+)-/.exec(name);
    if (m === null || Number(m[1]) === process.pid || pidAlive(Number(m[1]))) continue;
    if (ipSync(['netns', 'del', name]).ok) removed.push(name);
  }
  return removed;
}

/** A subnet 10.213.S.0/24 no route of this machine uses yet. */
function pickSubnet(): string {
  const routes = ipSync(['-4', 'route', 'show', 'table', 'all']).out;
  for (let k = 0; k < 250; k++) {
    const s = `${subnetBase}.${1 + ((process.pid + k) % 250)}`;
    if (!routes.includes(`${s}.`)) return s;
  }
  throw new Error(`no free subnet under ${subnetBase}.0.0/16`);
}

interface Host {
  readonly id: string;
  readonly ns: string;
  readonly n: number;
  readonly addr: string;
}

export class NetnsNet implements LinkCutter {
  readonly name = 'link down';
  readonly subnet: string;
  readonly #hosts = new Map<string, Host>();
  /** Cut links as "a|b" (a < b). */
  readonly #cut = new Set<string>();
  readonly #rootAddr: string;
  #closed = false;
  readonly #onExit = (): void => this.#destroySync();
  readonly #onSignal = (sig: NodeJS.Signals): void => {
    this.#destroySync();
    process.exit(sig === 'SIGINT' ? 130 : 143);
  };

  private constructor(subnet: string) {
    this.subnet = subnet;
    this.#rootAddr = `${subnet}.${rootHost}`;
    process.once('exit', this.#onExit);
    process.once('SIGINT', this.#onSignal);
    process.once('SIGTERM', this.#onSignal);
  }

  /** Creates a host per id (more can be added later with addHost). */
  static async create(ids: readonly string[]): Promise<NetnsNet> {
    removeStaleNamespaces();
    const net = new NetnsNet(pickSubnet());
    try {
      for (const id of ids) await net.addHost(id);
    } catch (err) {
      await net.close();
      throw err;
    }
    return net;
  }

  hostOf(id: string): string {
    return this.#host(id).addr;
  }

  nsOf(id: string): string {
    return this.#host(id).ns;
  }

  /** Runs a member's command inside its namespace (`ip netns exec` execs it: same pid). */
  spawnPrefix(id: string): readonly string[] {
    return ['ip', 'netns', 'exec', this.nsOf(id)];
  }

  get namespaces(): string[] {
    return [...this.#hosts.values()].map((h) => h.ns);
  }

  #host(id: string): Host {
    const h = this.#hosts.get(id);
    if (h === undefined) throw new Error(`no netns host for member '${id}' (hosts: ${[...this.#hosts.keys()].join(', ')})`);
    return h;
  }

  #rootLink(h: Host): string {
    return `er${process.pid}-${h.n}`;
  }

  /** A new namespace for member `id`, linked to the test process and to every existing host. */
  async addHost(id: string): Promise<void> {
    if (this.#closed) throw new Error('the namespaces were removed');
    if (this.#hosts.has(id)) return;
    const n = this.#hosts.size + 1;
    if (n >= rootHost) throw new Error(`at most ${rootHost - 1} hosts`);
    const h: Host = { id, ns: `${nsPrefix}${process.pid}-${id}`, n, addr: `${this.subnet}.${n}` };
    await ip(['netns', 'add', h.ns]);
    this.#hosts.set(id, h);
    await ip(['-n', h.ns, 'link', 'set', 'lo', 'up']);
    await ip(['-n', h.ns, 'addr', 'add', `${h.addr}/32`, 'dev', 'lo']);
    // The link to the test process (its clients and the CLI reach every member through these).
    const root = this.#rootLink(h);
    await ip(['link', 'add', root, 'type', 'veth', 'peer', 'name', 'c0', 'netns', h.ns]);
    await ip(['link', 'set', root, 'up']);
    await ip(['-n', h.ns, 'link', 'set', 'c0', 'up']);
    if (n === 1) await ip(['addr', 'add', `${this.#rootAddr}/32`, 'dev', root]);
    await ip(['route', 'replace', `${h.addr}/32`, 'dev', root, 'src', this.#rootAddr]);
    await ip(['-n', h.ns, 'route', 'replace', `${this.#rootAddr}/32`, 'dev', 'c0', 'src', h.addr]);
    for (const other of this.#hosts.values()) {
      if (other.id === id) continue;
      await ip(['link', 'add', `p-${other.id}`, 'netns', h.ns, 'type', 'veth', 'peer', 'name', `p-${id}`, 'netns', other.ns]);
      await this.#linkUp(h, other);
    }
  }

  async #linkUp(a: Host, b: Host): Promise<void> {
    for (const [x, y] of [[a, b], [b, a]] as const) {
      await ip(['-n', x.ns, 'link', 'set', `p-${y.id}`, 'up']);
      await ip(['-n', x.ns, 'route', 'replace', `${y.addr}/32`, 'dev', `p-${y.id}`, 'src', x.addr]);
    }
  }

  async cut(pairs: ReadonlyArray<readonly [string, string]>): Promise<void> {
    for (const [a, b] of pairs) {
      const [x, y] = [this.#host(a), this.#host(b)];
      this.#cut.add(a < b ? `${a}|${b}` : `${b}|${a}`);
      await ip(['-n', x.ns, 'link', 'set', `p-${y.id}`, 'down']);
      await ip(['-n', y.ns, 'link', 'set', `p-${x.id}`, 'down']);
    }
  }

  async heal(): Promise<void> {
    for (const pair of [...this.#cut]) {
      const [a, b] = pair.split('|') as [string, string];
      await this.#linkUp(this.#host(a), this.#host(b));
      this.#cut.delete(pair);
    }
  }

  /** Whether the link between two members is up on both ends (from `ip link`). */
  async linkUp(a: string, b: string): Promise<boolean> {
    const [x, y] = [this.#host(a), this.#host(b)];
    const one = await ip(['-n', x.ns, '-o', 'link', 'show', `p-${y.id}`]);
    const two = await ip(['-n', y.ns, '-o', 'link', 'show', `p-${x.id}`]);
    return /[<,]UP[,>]/.test(one) && /[<,]UP[,>]/.test(two);
  }

  /** Removes every namespace and link this object made (processes inside must be stopped first). */
  async close(): Promise<void> {
    this.#destroySync();
  }

  #destroySync(): void {
    if (this.#closed) return;
    this.#closed = true;
    process.removeListener('exit', this.#onExit);
    process.removeListener('SIGINT', this.#onSignal);
    process.removeListener('SIGTERM', this.#onSignal);
    for (const h of this.#hosts.values()) {
      // Deleting the root end removes the pair even while a process still holds the namespace.
      ipSync(['link', 'del', this.#rootLink(h)]);
      ipSync(['netns', 'del', h.ns]);
    }
  }
}
