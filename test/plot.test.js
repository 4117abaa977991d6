'use strict';
// Training charts: SVG drawn by invdiff, rasterised to PNG by sharp.
const test = require('tape');
const fs = require('fs');
const os = require('os');
const path = require('path');
const inv = require('..');

test('lineChartSvg draws each series; writeLineChart writes a PNG of the asked size', async (t) => {
  const loss = Array.from({ length: 50 }, (_, i) => [i + 1, 1 / (i + 1)]);
  const svg = inv.io.lineChartSvg([{ name: 'loss', points: loss }, { name: 'PSNR <dB>', points: [[10, 20], [50, 25]], right: true }], { title: 'run' });
  t.equal((svg.match(/<path /g) || []).length, 2, 'one path per series');
  t.ok(svg.includes('PSNR &#60;dB&#62; (right axis)'), 'names are escaped and the right axis is labelled');
  t.throws(() => inv.io.lineChartSvg([{ name: 'empty', points: [] }]), /no points/);
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'plot-')), 'chart.png');
  await inv.io.writeLineChart(file, [{ name: 'loss', points: loss }], { width: 400, height: 200 });
  const image = await inv.io.readImage(file, { mode: 'gray' });
  t.deepEqual(image.shape, [1, 1, 200, 400], 'the PNG decodes at 400×200');
  t.ok(image.min().item() < 0, 'and has dark strokes on the white ground');
  fs.rmSync(path.dirname(file), { recursive: true });
});

test('barChartSvg draws a bar per finite value and the reference rule; writeBarChart writes a PNG', async (t) => {
  const svg = inv.io.barChartSvg(['a', 'b <c>'], [{ name: 'TS/native', values: [1.1, NaN] }, { name: 'TS/Python', values: [0.9, 1.2] }], { reference: 1 });
  t.equal((svg.match(/<rect [^>]*fill="#/g) || []).length, 3, 'three bars: the NaN draws none');
  t.ok(svg.includes('b &#60;c&#62;'), 'labels are escaped');
  t.throws(() => inv.io.barChartSvg(['a'], [{ name: 'x', values: [NaN] }]), /no values/);
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'plot-')), 'bars.png');
  await inv.io.writeBarChart(file, ['a', 'b'], [{ name: 'r', values: [0.5, 2] }], { width: 500 });
  const image = await inv.io.readImage(file, { mode: 'gray' });
  t.equal(image.shape[3], 500, 'the PNG decodes at the asked width');
  fs.rmSync(path.dirname(file), { recursive: true });
});
