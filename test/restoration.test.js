'use strict';
// The restoration layer: which method suits which model, evaluation over methods × operators × images, and
// the reports built from its rows.
const test = require('tape');
const fs = require('fs');
const os = require('os');
const path = require('path');
const inv = require('..');
const restoration = require('../dist/restoration');

const TINY = { channels: 8, groups: 4, heads: 2, multipliers: [1, 2] };
const tinyIDM = () => new inv.models.IDM({ channels: 8, groups: 4, heads: 2, blocks: 1, steps: 2 });
const maxDiff = (a, b) => inv.scope(() => a.sub(b).abs().max().item());

test('restorerFor: an IDM is its own method, zero-shot solvers on a prior, any sampler or MMSE on a palette', (t) => {
  const idm = tinyIDM();
  const prior = new inv.models.Unconditional(TINY);
  const palette = new inv.models.Palette(TINY);
  t.equal(inv.restorerFor(idm).label, 'IDM (T = 2)', 'an IDM restores as itself');
  t.equal(inv.idmRestorer(idm).sizeMultiple, idm.sizeMultiple, 'at its size multiple');
  t.equal(inv.restorerFor(prior).label, 'DDNM, 100 steps', 'a prior defaults to DDNM, 100 steps');
  t.equal(inv.restorerFor(palette).label, 'Heun, 32 steps', 'a palette to Heun, 32 steps');
  t.equal(inv.restorerFor(palette, { method: 'mmse' }).label, 'MMSE (1 step)', 'or its one-step MMSE');
  t.equal(inv.restorerFor(prior, { method: 'dps', steps: 7 }).label, 'DPS, 7 steps', 'steps pass through');
  for (const name of restoration.ZERO_SHOT) t.equal(restoration.unsuitable(prior, name), undefined, `${name} suits a prior`);
  for (const name of inv.SAMPLER_NAMES) t.equal(restoration.unsuitable(palette, name), undefined, `${name} suits a palette`);
  const cases = [
    [prior, { method: 'heun' }, /'method' heun on an unconditional model would ignore the measurement; use one of ddnm/],
    [prior, { method: 'mmse' }, /'method' mmse needs a conditional \(palette or invfussion\) model/],
    [idm, { method: 'ddnm' }, /'method' ddnm does not apply to an IDM model/],
    [palette, { method: 'idm' }, /'method' idm applies to IDM models only/],
    [palette, { method: 'nope' }, /'method' nope is not a method; use one of heun, .*, mmse/],
    [prior, { steps: 0 }, /'steps' must be a positive integer, got 0/],
  ];
  for (const [model, opts, message] of cases) t.throws(() => inv.restorerFor(model, opts), message, message.source);
  for (const m of [idm, prior, palette]) m.dispose();
  t.end();
});

test('trainedOperator reads what a saved model was trained for', (t) => {
  const idm = tinyIDM();
  idm.metadata = { 'invdiff.trained': JSON.stringify({ operator: { family: 'blockCS', ratio: 0.25 } }) };
  t.deepEqual(restoration.trainedOperator(idm), { family: 'blockCS', ratio: 0.25 }, "an IDM's operator");
  const palette = new inv.models.Palette(TINY);
  palette.metadata = { 'invdiff.trained': JSON.stringify({ degradations: [{ family: 'inpainting' }] }) };
  t.deepEqual(restoration.trainedOperator(palette), { family: 'inpainting' }, "a palette's first degradation");
  const prior = new inv.models.Unconditional(TINY);
  t.equal(restoration.trainedOperator(prior), undefined, 'nothing for a model that does not say');
  for (const m of [idm, prior, palette]) m.dispose();
  t.end();
});

test('evaluate: an A⁺y row then a row per method for each operator; a batch and named images agree', (t) => {
  const idm = tinyIDM();
  const prior = new inv.models.Unconditional(TINY);
  const images = inv.deadLeaves({ count: 2, size: 16, seed: 3 });
  const named = [0, 1].map((i) => ({ name: `dl${i}.png`, image: images.narrow(0, i, 1) }));
  const methods = [idm, inv.samplerRestorer('ddnm', prior, { steps: 2 })];
  const operators = [{ family: 'blockCS', ratio: 0.25 }, { family: 'inpainting' }];
  const live = inv.memory().tensors;
  const seen = [];
  const batch = inv.evaluate({ methods, operators, images, seed: 5, onRow: (r) => seen.push(r.method) });
  t.equal(inv.memory().tensors, live, 'no tensor is left behind');
  t.deepEqual(batch.map((r) => `${r.operator.family} ${r.method}`), ['blockCS A⁺y', 'blockCS IDM (T = 2)', 'blockCS DDNM, 2 steps', 'inpainting A⁺y', 'inpainting IDM (T = 2)', 'inpainting DDNM, 2 steps'], 'rows per operator, A⁺y first');
  t.deepEqual(seen, batch.map((r) => r.method), 'onRow sees each row in order');
  t.ok(batch.every((r) => (r.method === 'A⁺y' ? r.secondsPerImage === 0 : r.secondsPerImage > 0)), 'methods are timed, A⁺y is not');
  t.deepEqual(batch[1].images.map((s) => s.name), ['image 1', 'image 2'], 'a per-image score for each image of a batch');
  const list = restoration.evaluate({ methods, operators, images: named, seed: 5 });
  t.deepEqual(list.map((r) => [r.psnr, r.ssim]), batch.map((r) => [r.psnr, r.ssim]), 'named images one at a time give the same numbers (image i uses seed + i either way)');
  t.deepEqual(list[1].images.map((s) => s.name), ['dl0.png', 'dl1.png'], 'and keep their names');
  const direct = inv.restoreImages(idm, images, operators[0], { seed: 5 });
  t.equal(batch[1].psnr, inv.metrics.psnr(direct.restored, images), 'the row is the mean PSNR of restoreImages');
  const kept = inv.evaluate({ methods: [idm], operators: [operators[0]], images, seed: 5, keepImages: true });
  t.equal(maxDiff(kept[1].restored[0], direct.restored), 0, 'keepImages hands over the restored images');
  t.equal(maxDiff(kept[0].restored[0], direct.baseline), 0, 'and A⁺y');
  for (const r of kept) for (const x of r.restored) x.dispose();
  t.throws(() => inv.evaluate({ methods: [], operators, images }), /evaluate: 'methods' is empty/);
  t.throws(() => inv.evaluate({ methods, operators, images: inv.ones([1, 8, 8]) }), /evaluate: 'images' must be N×C×H×W/);
  for (const m of [idm, prior]) m.dispose();
  t.end();
});

test('report: Markdown and HTML tables from rows, and an image grid', (t) => {
  const rows = [
    { operator: { family: 'blockCS', ratio: 0.1 }, method: 'A⁺y', psnr: 11.614, ssim: 0.12345, secondsPerImage: 0, images: [] },
    { operator: { family: 'inpainting' }, method: 'IDM (T = 3)', psnr: 19.87, ssim: 0.5, secondsPerImage: 0.123, images: [] },
  ];
  const columns = [{ header: 'operator', cell: (r) => restoration.describeOperator(r.operator) }, ...restoration.SCORE_COLUMNS];
  t.equal(
    restoration.markdownTable(rows, columns),
    '| operator | method | PSNR (dB) | SSIM | s/image |\n|---|---|---|---|---|\n| blockCS 10% | A⁺y | 11.61 | 0.1235 |  |\n| inpainting | IDM (T = 3) | 19.87 | 0.5000 | 0.12 |',
    'Markdown: PSNR to 2 places, SSIM to 4, no seconds for A⁺y',
  );
  t.match(restoration.htmlTable(rows, columns), /^<table><tr><th>operator<\/th>.*<td>blockCS 10%<\/td><td>A⁺y<\/td><td>11\.61<\/td>/s, 'HTML the same');
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'grid-')), 'grid.png');
  const a = inv.deadLeaves({ count: 2, size: 8, seed: 1 });
  restoration.writeGrid(file, [a, a.neg()]);
  const png = fs.readFileSync(file);
  t.equal(png.readUInt32BE(16), 16, 'two columns side by side');
  t.equal(png.readUInt32BE(20), 16, 'a row per image');
  t.throws(() => restoration.writeGrid(file, [a, inv.zeros([2, 1, 8, 4])]), /writeGrid: 'columns' must be tensors of one N×C×H×W shape with C = 1 or 3/);
  fs.rmSync(path.dirname(file), { recursive: true });
  t.end();
});
