// A hand-written SVG chart for docs/benchmarks-latency.svg: panels of latency against throughput
// on log-log axes, one line per system and load shape, a shared legend. Pure (a string out), so
// the docs need no plotting package and a test can check the markup.

export interface ChartPoint {
  readonly x: number;
  readonly y: number;
  /** Drawn beside the marker (the number of clients, say). */
  readonly label?: string;
}

export interface ChartSeries {
  readonly name: string;
  readonly color: string;
  readonly dashed: boolean;
  readonly marker: 'circle' | 'square';
  /** Joined in the order given; points with a value that is not a positive number are left out. */
  readonly points: readonly ChartPoint[];
}

export interface ChartPanel {
  readonly title: string;
  readonly series: readonly ChartSeries[];
}

export interface ChartSpec {
  readonly title: string;
  readonly subtitle?: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly panels: readonly ChartPanel[];
  readonly columns: number;
}

const panelW = 470;
const panelH = 330;
const pad = { left: 62, right: 16, top: 28, bottom: 44 } as const;
const headerH = 54;
const legendRowH = 18;
const legendColW = 310;

export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
}

function usable(p: ChartPoint): boolean {
  return Number.isFinite(p.x) && Number.isFinite(p.y) && p.x > 0 && p.y > 0;
}

/** Decades (and 2s and 5s when there are few decades) covering [lo, hi]. */
export function logTicks(lo: number, hi: number): { min: number; max: number; ticks: number[] } {
  const min = 10 ** Math.floor(Math.log10(lo));
  const max = 10 ** Math.ceil(Math.log10(hi) + 1e-9);
  const decades = Math.round(Math.log10(max / min));
  const steps = decades <= 2 ? [1, 2, 5] : [1];
  const ticks: number[] = [];
  for (let d = min; d <= max * 1.0001; d *= 10) for (const s of steps) if (d * s <= max * 1.0001) ticks.push(Number((d * s).toPrecision(6)));
  return { min, max, ticks };
}

export function tickLabel(v: number): string {
  if (v >= 1e6) return `${Number((v / 1e6).toPrecision(3))}M`;
  if (v >= 1e3) return `${Number((v / 1e3).toPrecision(3))}k`;
  return `${Number(v.toPrecision(3))}`;
}

function n(v: number): string {
  return Number(v.toFixed(1)).toString();
}

function marker(s: ChartSeries, x: number, y: number): string {
  const fill = s.dashed ? 'white' : s.color;
  return s.marker === 'circle'
    ? `<circle cx="${n(x)}" cy="${n(y)}" r="3.5" fill="${fill}" stroke="${escapeXml(s.color)}" stroke-width="1.5"/>`
    : `<rect x="${n(x - 3.5)}" y="${n(y - 3.5)}" width="7" height="7" fill="${fill}" stroke="${escapeXml(s.color)}" stroke-width="1.5"/>`;
}

interface Scale {
  readonly x: (v: number) => number;
  readonly y: (v: number) => number;
  readonly xTicks: number[];
  readonly yTicks: number[];
}

function panelSvg(p: ChartPanel, spec: ChartSpec, sc: Scale, ox: number, oy: number): string {
  const out: string[] = [`<g transform="translate(${ox},${oy})">`];
  const w = panelW - pad.left - pad.right;
  const h = panelH - pad.top - pad.bottom;
  out.push(`<text x="${pad.left + w / 2}" y="18" text-anchor="middle" font-weight="bold">${escapeXml(p.title)}</text>`);
  out.push(`<rect x="${pad.left}" y="${pad.top}" width="${w}" height="${h}" fill="none" stroke="#888"/>`);
  for (const t of sc.xTicks) {
    const x = n(pad.left + sc.x(t) * w);
    out.push(`<line x1="${x}" y1="${pad.top}" x2="${x}" y2="${pad.top + h}" stroke="#e4e4e4"/>`);
    out.push(`<text x="${x}" y="${pad.top + h + 14}" text-anchor="middle" font-size="10">${escapeXml(tickLabel(t))}</text>`);
  }
  for (const t of sc.yTicks) {
    const y = n(pad.top + h - sc.y(t) * h);
    out.push(`<line x1="${pad.left}" y1="${y}" x2="${pad.left + w}" y2="${y}" stroke="#e4e4e4"/>`);
    out.push(`<text x="${pad.left - 5}" y="${y}" text-anchor="end" dominant-baseline="middle" font-size="10">${escapeXml(tickLabel(t))}</text>`);
  }
  out.push(`<text x="${pad.left + w / 2}" y="${panelH - 8}" text-anchor="middle" font-size="11">${escapeXml(spec.xLabel)}</text>`);
  out.push(`<text transform="translate(14,${pad.top + h / 2}) rotate(-90)" text-anchor="middle" font-size="11">${escapeXml(spec.yLabel)}</text>`);
  for (const s of p.series) {
    const pts = s.points.filter(usable).map((q) => ({ q, x: pad.left + sc.x(q.x) * w, y: pad.top + h - sc.y(q.y) * h }));
    if (pts.length === 0) continue;
    out.push(`<g class="series" data-name="${escapeXml(s.name)}">`);
    if (pts.length > 1) {
      out.push(`<polyline fill="none" stroke="${escapeXml(s.color)}" stroke-width="1.6"${s.dashed ? ' stroke-dasharray="5 3"' : ''} points="${pts.map((pt) => `${n(pt.x)},${n(pt.y)}`).join(' ')}"/>`);
    }
    for (const pt of pts) {
      out.push(marker(s, pt.x, pt.y));
      if (pt.q.label !== undefined) out.push(`<text x="${n(pt.x + 5)}" y="${n(pt.y - 5)}" font-size="9" fill="#555">${escapeXml(pt.q.label)}</text>`);
    }
    out.push('</g>');
  }
  out.push('</g>');
  return out.join('\n');
}

function legendSvg(series: readonly ChartSeries[], oy: number, columns: number): string {
  const out: string[] = [`<g transform="translate(${pad.left},${oy})">`];
  series.forEach((s, i) => {
    const x = (i % columns) * legendColW;
    const y = Math.floor(i / columns) * legendRowH;
    out.push(`<line x1="${x}" y1="${y}" x2="${x + 26}" y2="${y}" stroke="${escapeXml(s.color)}" stroke-width="1.6"${s.dashed ? ' stroke-dasharray="5 3"' : ''}/>`);
    out.push(marker(s, x + 13, y));
    out.push(`<text x="${x + 32}" y="${y}" dominant-baseline="middle" font-size="11">${escapeXml(s.name)}</text>`);
  });
  out.push('</g>');
  return out.join('\n');
}

/** The whole chart as an SVG document. Every panel shares the axes, so panels compare at a glance. */
export function chartSvg(spec: ChartSpec): string {
  const all = spec.panels.flatMap((p) => p.series.flatMap((s) => s.points.filter(usable)));
  const xs = all.map((p) => p.x);
  const ys = all.map((p) => p.y);
  const xr = logTicks(xs.length > 0 ? Math.min(...xs) : 1, xs.length > 0 ? Math.max(...xs) : 10);
  const yr = logTicks(ys.length > 0 ? Math.min(...ys) : 1, ys.length > 0 ? Math.max(...ys) : 10);
  const frac = (r: { min: number; max: number }) => (v: number) => Math.log(v / r.min) / Math.log(r.max / r.min);
  const sc: Scale = { x: frac(xr), y: frac(yr), xTicks: xr.ticks, yTicks: yr.ticks };
  const columns = Math.max(1, Math.min(spec.columns, spec.panels.length));
  const rowsN = Math.ceil(spec.panels.length / columns);
  const legend = new Map<string, ChartSeries>();
  for (const p of spec.panels) for (const s of p.series) if (!legend.has(s.name) && s.points.some(usable)) legend.set(s.name, s);
  const width = columns * panelW;
  const legendColumns = Math.max(1, Math.floor((width - pad.left) / legendColW));
  const legendH = Math.ceil(legend.size / legendColumns) * legendRowH + 10;
  const height = headerH + rowsN * panelH + legendH + 10;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${width / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${escapeXml(spec.title)}</text>`,
    ...(spec.subtitle !== undefined ? [`<text x="${width / 2}" y="40" text-anchor="middle" font-size="11" fill="#444">${escapeXml(spec.subtitle)}</text>`] : []),
    ...spec.panels.map((p, i) => panelSvg(p, spec, sc, (i % columns) * panelW, headerH + Math.floor(i / columns) * panelH)),
    legendSvg([...legend.values()], headerH + rowsN * panelH + 10, legendColumns),
    '</svg>',
  ];
  return `${parts.join('\n')}\n`;
}
