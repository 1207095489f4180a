// A small Prometheus registry: counters, gauges and histograms with fixed buckets, rendered in
// the text exposition format at /metrics. Label sets are bounded by what the peer creates (one
// per member), never by client input. Runtime-neutral (the native Deno peer uses it too); the
// Node process's own metrics come from prom-client (runtime-node/process-metrics.ts).

type Labels = Readonly<Record<string, string>>;

function labelText(labels: Labels): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`);
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}

interface Family {
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'gauge' | 'histogram';
  render(): string[];
}

export class Counter implements Family {
  readonly type = 'counter';
  readonly #values = new Map<string, number>();
  constructor(readonly name: string, readonly help: string) {}
  inc(by = 1, labels: Labels = {}): void {
    const k = labelText(labels);
    this.#values.set(k, (this.#values.get(k) ?? 0) + by);
  }

  /** An incrementer bound to one label set, for hot paths (the label text is built once). */
  child(labels: Labels): (by?: number) => void {
    const k = labelText(labels);
    if (!this.#values.has(k)) this.#values.set(k, 0);
    return (by = 1) => { this.#values.set(k, this.#values.get(k)! + by); };
  }
  render(): string[] {
    return [...this.#values].map(([l, v]) => `${this.name}${l} ${v}`);
  }
}

export class Gauge implements Family {
  readonly type = 'gauge';
  readonly #values = new Map<string, number>();
  #collect: (() => void) | null = null;
  constructor(readonly name: string, readonly help: string) {}
  set(value: number, labels: Labels = {}): void {
    this.#values.set(labelText(labels), value);
  }
  /** Reads current values right before each scrape. */
  collect(fn: () => void): this {
    this.#collect = fn;
    return this;
  }
  render(): string[] {
    if (this.#collect !== null) {
      this.#values.clear();
      this.#collect();
    }
    return [...this.#values].map(([l, v]) => `${this.name}${l} ${v}`);
  }
}

export class Histogram implements Family {
  readonly type = 'histogram';
  readonly #buckets: readonly number[];
  readonly #counts: number[];
  #sum = 0;
  #count = 0;
  constructor(readonly name: string, readonly help: string, buckets: readonly number[]) {
    this.#buckets = [...buckets].sort((a, b) => a - b);
    this.#counts = new Array<number>(this.#buckets.length).fill(0);
  }
  observe(value: number): void {
    this.#sum += value;
    this.#count++;
    for (let i = 0; i < this.#buckets.length; i++) if (value <= this.#buckets[i]!) this.#counts[i]!++;
  }
  render(): string[] {
    const lines = this.#buckets.map((b, i) => `${this.name}_bucket{le="${b}"} ${this.#counts[i]}`);
    lines.push(`${this.name}_bucket{le="+Inf"} ${this.#count}`, `${this.name}_sum ${this.#sum}`, `${this.name}_count ${this.#count}`);
    return lines;
  }
}

export class Registry {
  readonly #families: Family[] = [];

  counter(name: string, help: string): Counter {
    return this.#add(new Counter(name, help));
  }

  gauge(name: string, help: string): Gauge {
    return this.#add(new Gauge(name, help));
  }

  histogram(name: string, help: string, buckets: readonly number[]): Histogram {
    return this.#add(new Histogram(name, help, buckets));
  }

  #add<F extends Family>(f: F): F {
    if (this.#families.some((x) => x.name === f.name)) throw new Error(`metric ${f.name} is registered twice`);
    this.#families.push(f);
    return f;
  }

  /** The text exposition format (version 0.0.4). */
  render(): string {
    const out: string[] = [];
    for (const f of this.#families) {
      out.push(`# HELP ${f.name} ${f.help}`, `# TYPE ${f.name} ${f.type}`, ...f.render());
    }
    return `${out.join('\n')}\n`;
  }
}
