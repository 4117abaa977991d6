// Line charts of training curves (loss, validation PSNR) as PNG: drawn as SVG here, rasterised by sharp.
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
  const png = await sharp(Buffer.from(lineChartSvg(series, opts))).png().toBuffer();
  await fs.promises.writeFile(file, png);
}
