// Reporting an evaluation: tables in Markdown or HTML, and image grids (ground truth, A⁺y, each method,
// their errors) as PNG.
import * as fs from 'fs';
import { escapeMarkup as escapeHtml } from '../io/markup';
import { encodePng } from '../io/png';
import type { OperatorSpec } from '../operators/operator';
import type { Tensor } from '../tensor';
import type { EvaluationRow } from './evaluate';

/** One column of a table: its header and how a row fills its cell. */
export interface Column<R> {
  header: string;
  cell: (row: R) => string;
}

/** 'blockCS 25%' for block CS, the family's name otherwise. */
export function describeOperator(o: OperatorSpec): string {
  return `${o.family}${o.ratio ? ` ${Math.round(Number(o.ratio) * 100)}%` : ''}`;
}

/** The columns every results table ends with; A⁺y takes no time of its own, so its seconds stay blank. */
export const SCORE_COLUMNS: Column<EvaluationRow>[] = [
  { header: 'method', cell: (r) => r.method },
  { header: 'PSNR (dB)', cell: (r) => r.psnr.toFixed(2) },
  { header: 'SSIM', cell: (r) => r.ssim.toFixed(4) },
  { header: 's/image', cell: (r) => (r.secondsPerImage ? r.secondsPerImage.toFixed(2) : '') },
];

export function markdownTable<R>(rows: R[], columns: Column<R>[]): string {
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [line(columns.map((c) => c.header)), `|${columns.map(() => '---').join('|')}|`, ...rows.map((r) => line(columns.map((c) => c.cell(r))))].join('\n');
}

export function htmlTable<R>(rows: R[], columns: Column<R>[]): string {
  const line = (tag: string, cells: string[]) => `<tr>${cells.map((c) => `<${tag}>${c}</${tag}>`).join('')}</tr>`;
  return `<table>${line('th', columns.map((c) => c.header))}\n${rows.map((r) => line('td', columns.map((c) => c.cell(r)))).join('\n')}</table>`;
}

/** A whole HTML page around `body`. */
export function htmlPage(title: string, body: string): string {
  return `<!doctype html><meta charset="utf-8"><title>${title}</title>
<style>body{font-family:sans-serif;max-width:80em;margin:2em auto}td,th{padding:.3em 1em;text-align:left}
figure{margin:1em 0}.labels{display:grid;font-size:12px;text-align:center}.label{padding:2px;overflow:hidden}img{image-rendering:pixelated}</style>
${body}
`;
}

/** A PNG with one row per image and the N×C×H×W `columns` (C = 1 or 3) side by side, [-1, 1] as 8 bits. */
export function writeGrid(file: string, columns: Tensor[]): void {
  const [n, c, h, w] = columns[0]?.shape ?? [];
  if ((c !== 1 && c !== 3) || columns.some((t) => t.shape.join() !== columns[0].shape.join()))
    throw new RangeError(`writeGrid: 'columns' must be tensors of one N×C×H×W shape with C = 1 or 3, got ${columns.map((t) => `[${t.shape}]`).join(', ') || 'none'}`);
  const W = w * columns.length;
  const px = new Uint8Array(n * h * W * c);
  columns.forEach((col, k) => {
    const v = col.toFloat32Array();
    for (let i = 0; i < n; i++)
      for (let ch = 0; ch < c; ch++)
        for (let y = 0; y < h; y++)
          for (let x = 0; x < w; x++)
            px[((i * h + y) * W + k * w + x) * c + ch] = Math.round(Math.min(1, Math.max(0, (v[((i * c + ch) * h + y) * w + x] + 1) / 2)) * 255);
  });
  fs.writeFileSync(file, encodePng(px, W, n * h, c as 1 | 3));
}

/** A grid image under a row of its column labels, each label as wide as its column (scaled up to at least 128 px). */
export function labelledGrid(file: string, labels: string[], tile: { width: number; height: number; rows: number }, alt: string): string {
  const scale = Math.max(1, Math.ceil(128 / tile.width));
  const width = tile.width * scale;
  const cells = labels.map((l) => `<div class="label">${escapeHtml(l)}</div>`).join('');
  return `<figure><div class="labels" style="grid-template-columns:repeat(${labels.length},${width}px)">${cells}</div>` +
    `<img src="${escapeHtml(file)}" alt="${escapeHtml(alt)}" width="${width * labels.length}" height="${tile.height * tile.rows * scale}"></figure>`;
}
