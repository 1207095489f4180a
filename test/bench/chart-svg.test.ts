// The hand-written SVG chart of docs/benchmarks-latency.svg: well-formed XML with one line and one
// marker per point of each series, text escaped, unusable points left out, log ticks that cover
// the data. No timings: the chart gets made-up figures.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { chartSvg, escapeXml, logTicks, tickLabel, type ChartSeries, type ChartSpec } from '../../bench/lib/chart-svg.ts';

const test = suite('chart-svg');

interface XmlElement {
  readonly name: string;
  readonly attrs: Record<string, string>;
  readonly children: XmlElement[];
  text: string;
}

/** A strict little XML reader: throws on unbalanced tags, unquoted or repeated attributes, bare & or <. */
function parseXml(xml: string): XmlElement {
  const root: XmlElement = { name: '#root', attrs: {}, children: [], text: '' };
  const stack: XmlElement[] = [root];
  const checkText = (t: string) => {
    if (/&(?!(amp|lt|gt|quot|apos|#\d+);)/.test(t)) throw new Error(`bare & in ${JSON.stringify(t)}`);
    if (t.includes('<') || t.includes('>')) throw new Error(`bare < or > in ${JSON.stringify(t)}`);
  };
  let i = 0;
  while (i < xml.length) {
    const lt = xml.indexOf('<', i);
    const text = xml.slice(i, lt === -1 ? xml.length : lt);
    checkText(text);
    stack[stack.length - 1]!.text += text;
    if (lt === -1) break;
    const gt = xml.indexOf('>', lt);
    if (gt === -1) throw new Error(`unclosed tag at ${lt}`);
    const tag = xml.slice(lt + 1, gt);
    i = gt + 1;
    if (tag.startsWith('/')) {
      const open = stack.pop();
      if (open === undefined || open.name !== tag.slice(1).trim()) throw new Error(`</${tag.slice(1)}> closes <${open?.name}>`);
      continue;
    }
    const selfClosing = tag.endsWith('/');
    const body = selfClosing ? tag.slice(0, -1) : tag;
    const m = /^([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"]*")*)\s*$/.exec(body);
    if (m === null) throw new Error(`malformed tag <${tag}>`);
    const attrs: Record<string, string> = {};
    for (const a of m[2]!.matchAll(/([\w:-]+)="([^"]*)"/g)) {
      if (a[1]! in attrs) throw new Error(`attribute ${a[1]} twice in <${m[1]}>`);
      checkText(a[2]!);
      attrs[a[1]!] = a[2]!;
    }
    const el: XmlElement = { name: m[1]!, attrs, children: [], text: '' };
    stack[stack.length - 1]!.children.push(el);
    if (!selfClosing) stack.push(el);
  }
  if (stack.length !== 1) throw new Error(`<${stack[stack.length - 1]!.name}> is never closed`);
  if (root.children.length !== 1) throw new Error(`${root.children.length} root elements`);
  return root.children[0]!;
}

function all(el: XmlElement, name: string): XmlElement[] {
  return [...(el.name === name ? [el] : []), ...el.children.flatMap((c) => all(c, name))];
}

function series(name: string, points: Array<[number, number]>, over: Partial<ChartSeries> = {}): ChartSeries {
  return { name, color: '#1f77b4', dashed: false, marker: 'circle', points: points.map(([x, y], i) => ({ x, y, label: String(i) })), ...over };
}

const spec: ChartSpec = {
  title: 'Latency & throughput <test>', subtitle: 'made-up "figures"', xLabel: 'ops/s', yLabel: 'ms', columns: 2,
  panels: [
    { title: '3 members: p50', series: [series('edgeraft writes', [[300, 2.5], [4000, 4], [27000, 8]]), series('etcd writes', [[500, 1.9], [2000, 8], [2500, 90]], { dashed: true, marker: 'square', color: '#d62728' })] },
    { title: '3 members: p99', series: [series('edgeraft writes', [[300, 12], [4000, 20], [27000, 26]]), series('etcd writes', [[500, 5], [2000, 30], [2500, 200]], { dashed: true, marker: 'square', color: '#d62728' })] },
  ],
};

test('the chart is one well-formed <svg> document', () => {
  const svg = parseXml(chartSvg(spec));
  assert.is(svg.name, 'svg');
  assert.is(svg.attrs.xmlns, 'http://www.w3.org/2000/svg');
  assert.ok(Number(svg.attrs.width) > 0 && Number(svg.attrs.height) > 0);
  assert.is(svg.attrs.viewBox, `0 0 ${svg.attrs.width} ${svg.attrs.height}`);
});

test('one polyline per series per panel, with a vertex and a marker per point', () => {
  const svg = parseXml(chartSvg(spec));
  const groups = all(svg, 'g').filter((g) => g.attrs.class === 'series');
  assert.is(groups.length, 4);
  for (const g of groups) {
    const lines = all(g, 'polyline');
    assert.is(lines.length, 1);
    assert.is(lines[0]!.attrs.points!.split(' ').length, 3);
    assert.is(all(g, g.attrs['data-name'] === 'etcd writes' ? 'rect' : 'circle').length, 3);
  }
  const etcd = groups.filter((g) => g.attrs['data-name'] === 'etcd writes');
  assert.is(etcd.length, 2);
  for (const g of etcd) assert.is(all(g, 'polyline')[0]!.attrs['stroke-dasharray'], '5 3');
});

test('a faster point is drawn further right and a slower one higher up', () => {
  const svg = parseXml(chartSvg(spec));
  const g = all(svg, 'g').find((e) => e.attrs.class === 'series' && e.attrs['data-name'] === 'edgeraft writes')!;
  const xy = all(g, 'polyline')[0]!.attrs.points!.split(' ').map((p) => p.split(',').map(Number) as [number, number]);
  assert.ok(xy[0]![0] < xy[1]![0] && xy[1]![0] < xy[2]![0], 'x grows with ops/s');
  assert.ok(xy[0]![1] > xy[1]![1] && xy[1]![1] > xy[2]![1], 'y (downwards in SVG) shrinks as latency grows');
});

test('titles and names are escaped, and the legend names each series once', () => {
  const text = chartSvg(spec);
  assert.ok(text.includes('Latency &amp; throughput &lt;test&gt;'));
  assert.ok(text.includes('made-up &quot;figures&quot;'));
  const svg = parseXml(text);
  const texts = all(svg, 'text').map((t) => t.text);
  assert.is(texts.filter((t) => t === 'edgeraft writes').length, 1);
  assert.is(texts.filter((t) => t === 'etcd writes').length, 1);
});

test('points that are not positive numbers are left out; an empty series draws nothing', () => {
  const svg = parseXml(chartSvg({
    ...spec, panels: [{ title: 'p', series: [series('a', [[100, 1], [Number.NaN, 2], [200, 0], [300, 3]]), series('none', [[Number.NaN, 1]])] }],
  }));
  const groups = all(svg, 'g').filter((g) => g.attrs.class === 'series');
  assert.is(groups.length, 1);
  assert.is(all(groups[0]!, 'circle').length, 2);
  assert.not.ok(all(svg, 'text').some((t) => t.text === 'none'));
});

test('log ticks span the data in decades (with 2s and 5s when the range is short)', () => {
  const wide = logTicks(230, 180_000);
  assert.is(wide.min, 100);
  assert.is(wide.max, 1_000_000);
  assert.equal(wide.ticks, [100, 1000, 10_000, 100_000, 1_000_000]);
  const short = logTicks(0.3, 8);
  assert.equal(short.ticks, [0.1, 0.2, 0.5, 1, 2, 5, 10]);
  assert.is(tickLabel(100_000), '100k');
  assert.is(tickLabel(1_000_000), '1M');
  assert.is(tickLabel(0.2), '0.2');
  assert.is(escapeXml(`a&b<c>"d"'e'`), 'a&amp;b&lt;c&gt;&quot;d&quot;&apos;e&apos;');
});

test.run();
