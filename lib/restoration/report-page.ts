// The HTML report of an evaluation, as the demo and `invdiff eval --report DIR` write it: the table, per
// operator an image grid (ground truth, A⁺y, each method, then each method's error) under its column
// labels, and a chart of PSNR per image.
import * as fs from 'fs';
import * as path from 'path';
import { escapeMarkup } from '../io/markup';
import { writeLineChart } from '../io/plot';
import { scope, type Tensor } from '../tensor';
import type { EvaluationRow } from './evaluate';
import { Column, describeOperator, htmlPage, htmlTable, labelledGrid, writeGrid } from './report';

/** One grid: the images of one operator (one batch of one size), A⁺y and each method's results. */
export interface GridSection {
  heading: string;
  /** The PNG's name in the report folder (default grid-K.png). */
  file?: string;
  /** N×C×H×W ground truth. */
  truth: Tensor;
  baseline: Tensor;
  results: { label: string; images: Tensor }[];
}

export interface ReportOptions<R extends EvaluationRow> {
  title: string;
  /** HTML before the table (what was measured, on what). */
  intro: string;
  rows: R[];
  columns: Column<R>[];
  sections: GridSection[];
  /** HTML after everything else (the demo's training run). */
  extra?: string;
}

/** The errors |x − x_true| × 4 as images in [-1, 1], so a 12% error is white. */
const errorMap = (x: Tensor, truth: Tensor) => x.sub(truth).abs().mul(4).sub(1);

/** Writes DIR/report.html with its PNGs (grid-1.png, …, psnr.png); returns the page's path. */
export async function writeReport<R extends EvaluationRow>(dir: string, o: ReportOptions<R>): Promise<string> {
  fs.mkdirSync(dir, { recursive: true });
  const figures: string[] = [];
  o.sections.forEach((s, k) => {
    const file = s.file ?? `grid-${k + 1}.png`;
    scope(() => writeGrid(path.join(dir, file), [s.truth, s.baseline, ...s.results.map((r) => r.images), ...s.results.map((r) => errorMap(r.images, s.truth))]));
    const labels = ['ground truth', 'A⁺y', ...s.results.map((r) => r.label), ...s.results.map((r) => `|error| × 4, ${r.label}`)];
    const [n, , h, w] = s.truth.shape;
    figures.push(`<h2>${escapeMarkup(s.heading)}</h2>\n${labelledGrid(file, labels, { width: w, height: h, rows: n }, s.heading)}`);
  });
  // PSNR per image: a line per method and operator over the images' indices.
  let chart = '';
  const series = o.rows.filter((r) => r.images.length > 1).map((r) => ({ name: `${r.method} · ${describeOperator(r.operator)}`, points: r.images.map((im, i): [number, number] => [i + 1, im.psnr]) }));
  if (series.length) {
    await writeLineChart(path.join(dir, 'psnr.png'), series.slice(0, 8), { title: 'PSNR per image (dB)', xLabel: 'image' });
    const names = o.rows[0].images.map((im, i) => `${i + 1}: ${escapeMarkup(im.name)}`).join(', ');
    chart = `<h2>PSNR per image</h2><img src="psnr.png" alt="PSNR per image" width="720" height="360"><p>Images ${names}.</p>`;
  }
  const page = path.join(dir, 'report.html');
  fs.writeFileSync(page, htmlPage(escapeMarkup(o.title), `<h1>${escapeMarkup(o.title)}</h1>\n${o.intro}\n${htmlTable(o.rows, o.columns)}\n${figures.join('\n')}\n${chart}\n${o.extra ?? ''}`));
  return page;
}
