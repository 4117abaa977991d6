// Charts as PNG: line charts of training curves (loss, validation PSNR) and bar charts of ratios (the
// benchmark report's); drawn as SVG here, rasterised by sharp.
import * as fs from 'fs';
import sharp from 'sharp';
import { escapeMarkup as escape } from './markup';

export interface Series {
  name: string;
  points: [number, number][];
  /** Plotted against the right-hand axis (e.g. PSNR next to a loss). */
  right?: boolean;
}

const COLOURS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd'];

function ticks(lo: number, hi: number): number[] {
  const step = 10 ** Math.floor(Math.log10((hi - lo) / 4 || 1));
  const nice = [1, 2, 5, 10].map((m) => m * step).find((s) => (hi - lo) / s <= 6) ?? step * 10;
  const out: number[] = [];
  for (let v = Math.ceil(lo / nice) * nice; v <= hi + 1e-12; v += nice) out.push(Number(v.toPrecision(6)));
  return out;
}

/** The chart as an SVG document (width × height pixels). */
export function lineChartSvg(series: Series[], opts: { title?: string; xLabel?: string; width?: number; height?: number } = {}): string {
  const W = opts.width ?? 720;
  const H = opts.height ?? 360;
  const m = { l: 64, r: 64, t: 36, b: 44 };
  const all = series.flatMap((s) => s.points);
  if (!all.length) throw new RangeError('lineChart: no points to plot');
  const xs = all.map((p) => p[0]);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs) === Math.min(...xs) ? Math.min(...xs) + 1 : Math.max(...xs)];
  const range = (right: boolean) => {
    const ys = series.filter((s) => !!s.right === right).flatMap((s) => s.points.map((p) => p[1])).filter(Number.isFinite);
    if (!ys.length) return undefined;
    const [lo, hi] = [Math.min(...ys), Math.max(...ys)];
    const pad = (hi - lo || Math.abs(hi) || 1) * 0.05;
    return [lo - pad, hi + pad] as const;
  };
  const ranges = { left: range(false), right: range(true) };
  const sx = (x: number) => m.l + ((x - x0) / (x1 - x0)) * (W - m.l - m.r);
  const sy = (y: number, r: readonly [number, number]) => H - m.b - ((y - r[0]) / (r[1] - r[0])) * (H - m.t - m.b);
  const parts: string[] = [`<rect width="${W}" height="${H}" fill="white"/>`];
  parts.push(`<rect x="${m.l}" y="${m.t}" width="${W - m.l - m.r}" height="${H - m.t - m.b}" fill="none" stroke="#999"/>`);
  for (const t of ticks(x0, x1)) parts.push(`<text x="${sx(t)}" y="${H - m.b + 16}" text-anchor="middle">${t}</text>`);
  for (const side of ['left', 'right'] as const) {
    const r = ranges[side];
    if (!r) continue;
    for (const t of ticks(r[0], r[1]))
      parts.push(`<text x="${side === 'left' ? m.l - 6 : W - m.r + 6}" y="${sy(t, r) + 4}" text-anchor="${side === 'left' ? 'end' : 'start'}">${t}</text>`);
  }
  series.forEach((s, i) => {
    const r = s.right ? ranges.right! : ranges.left!;
    const d = s.points.filter((p) => Number.isFinite(p[1])).map((p, j) => `${j ? 'L' : 'M'}${sx(p[0]).toFixed(1)},${sy(p[1], r).toFixed(1)}`).join('');
    parts.push(`<path d="${d}" fill="none" stroke="${COLOURS[i % COLOURS.length]}" stroke-width="1.5"/>`);
    parts.push(`<text x="${m.l + 8 + i * 160}" y="${m.t - 10}" fill="${COLOURS[i % COLOURS.length]}">${escape(s.name)}${s.right ? ' (right axis)' : ''}</text>`);
  });
  if (opts.title) parts.push(`<text x="${W / 2}" y="16" text-anchor="middle" font-weight="bold">${escape(opts.title)}</text>`);
  if (opts.xLabel) parts.push(`<text x="${W / 2}" y="${H - 8}" text-anchor="middle">${escape(opts.xLabel)}</text>`);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">${parts.join('')}</svg>`;
}

/** Writes the chart as a PNG file. */
export async function writeLineChart(file: string, series: Series[], opts: Parameters<typeof lineChartSvg>[1] = {}): Promise<void> {
  await writePng(file, lineChartSvg(series, opts));
}

export interface Bars {
  name: string;
  /** One value per label; NaN draws no bar. */
  values: number[];
}

/** Horizontal bars, one row per label and one bar per series in it, with a rule at `reference` (e.g. a ratio of 1). */
export function barChartSvg(labels: string[], bars: Bars[], opts: { title?: string; xLabel?: string; reference?: number; width?: number } = {}): string {
  const finite = bars.flatMap((b) => b.values).filter(Number.isFinite);
  if (!labels.length || !finite.length) throw new RangeError('barChart: no values to plot');
  const bar = 7;
  const row = bar * bars.length + 6;
  const W = opts.width ?? 860;
  const m = { l: 380, r: 24, t: 48, b: 44 };
  const H = m.t + m.b + row * labels.length;
  const hi = Math.max(...finite, opts.reference ?? 0) * 1.05;
  const sx = (v: number) => m.l + (v / hi) * (W - m.l - m.r);
  const parts: string[] = [`<rect width="${W}" height="${H}" fill="white"/>`];
  for (const t of ticks(0, hi)) {
    parts.push(`<line x1="${sx(t)}" x2="${sx(t)}" y1="${m.t}" y2="${H - m.b}" stroke="#ddd"/>`);
    parts.push(`<text x="${sx(t)}" y="${H - m.b + 16}" text-anchor="middle">${t}</text>`);
  }
  labels.forEach((label, i) => {
    const y = m.t + i * row;
    parts.push(`<text x="${m.l - 6}" y="${y + row / 2 + 4}" text-anchor="end">${escape(label)}</text>`);
    bars.forEach((b, j) => {
      const v = b.values[i];
      if (Number.isFinite(v)) parts.push(`<rect x="${m.l}" y="${y + 3 + j * bar}" width="${(sx(v) - m.l).toFixed(1)}" height="${bar - 1}" fill="${COLOURS[j % COLOURS.length]}"/>`);
    });
  });
  if (opts.reference !== undefined) parts.push(`<line x1="${sx(opts.reference)}" x2="${sx(opts.reference)}" y1="${m.t}" y2="${H - m.b}" stroke="black"/>`);
  bars.forEach((b, j) => parts.push(`<text x="${m.l + j * 160}" y="${m.t - 10}" fill="${COLOURS[j % COLOURS.length]}">${escape(b.name)}</text>`));
  if (opts.title) parts.push(`<text x="${W / 2}" y="16" text-anchor="middle" font-weight="bold">${escape(opts.title)}</text>`);
  if (opts.xLabel) parts.push(`<text x="${(m.l + W - m.r) / 2}" y="${H - 8}" text-anchor="middle">${escape(opts.xLabel)}</text>`);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">${parts.join('')}</svg>`;
}

/** Writes the bar chart as a PNG file. */
export async function writeBarChart(file: string, labels: string[], bars: Bars[], opts: Parameters<typeof barChartSvg>[2] = {}): Promise<void> {
  await writePng(file, barChartSvg(labels, bars, opts));
}

async function writePng(file: string, svg: string): Promise<void> {
  await fs.promises.writeFile(file, await sharp(Buffer.from(svg)).png().toBuffer());
}
