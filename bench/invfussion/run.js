#!/usr/bin/env node
'use strict';
// bench/invfussion: the InvFusion paper's Table 1 at small scale (papers.md §2.9), on the three cpu32 models
// the project trains (scripts/train-invfussion.js): held-out 32×32 crops of CBSD68's Y channel (never used in
// training or validation), strided motion blur (s = 4), patch inpainting and a random matrix (2–128 rows),
// noiseless and with σ_n = 0.1. Methods: InvFussion and Palette one-step MMSE (also projected onto A x = y, noiseless) and Heun posterior samples
// (32 steps, 63 NFE), and DDRM, DDNM, DPS, ΠGDM and DAPS on the unconditional HDiT. Prints PSNR/SSIM, NFEs
// and seconds per image, and per-image paired PSNR differences with their standard error.
//   node bench/invfussion/run.js [--images 24] [--noise 0,0.1] [--models DIR] [--quick] [--json FILE] [--methods 'InvFussion MMSE,DDRM-25']
// --quick: 8 images, noiseless only, fewer zero-shot steps (a smoke run; the README reports the full one).
const fs = require('fs');
const path = require('path');
const { parseArgs } = require('util');
const inv = require('../..');
const { mean, paired } = require('../stats');

const { values } = parseArgs({
  options: {
    images: { type: 'string' },
    noise: { type: 'string' },
    models: { type: 'string', default: path.resolve(__dirname, '..', '..', 'models') },
    quick: { type: 'boolean', default: false },
    json: { type: 'string' },
    methods: { type: 'string' },
  },
  strict: true,
});
const quick = values.quick;
const count = Number(values.images ?? (quick ? 8 : 24));
const noises = (values.noise ?? (quick ? '0' : '0,0.1')).split(',').map(Number);
if (!(count > 0) || noises.some((n) => !(n >= 0))) throw new Error('--images must be positive and --noise a list of numbers >= 0');
const cbsd = path.resolve(__dirname, '..', '..', '..', 'shared', 'data', 'CBSD68');
if (!fs.existsSync(cbsd)) throw new Error(`the held-out images '${cbsd}' are missing`);

const FAMILIES = [
  ['motion blur', { family: 'stridedBlur', stride: 4 }],
  // Fixed 4×4 patches, a fifth kept: the training draw's patch sizes reach the whole 32×32 image, where a kept
  // patch shows everything (infinite PSNR).
  ['inpainting', { family: 'inpainting', patchSize: 4, keep: 0.2 }],
  ['matrix', { family: 'matrix', minRows: 2, maxRows: 128 }],
];
// The paper's FFHQ64 PSNR (Table 1, noiseless) beside ours.
const PAPER = {
  'InvFussion MMSE': [25.0, 19.8, 17.9], 'Palette MMSE': [23.5, 19.5, 15.5], 'InvFussion Heun-63': [22.7, 17.1, 15.1], 'Palette Heun-63': [21.0, 17.0, 12.5],
  'DDRM-25': [22.5, 12.6, 10.8], 'DDNM-100': [24.0, 16.2, 11.9], 'DPS': [18.3, 10.1, 9.6], 'ΠGDM': [22.1, 15.2, 10.7], 'DAPS': [17.5, 16.3, 12.0],
};

(async () => {
  inv.setNumThreads(1);
  const load = (name) => inv.models.load(path.join(values.models, `${name}-cpu32.safetensors`));
  const invfussion = load('invfussion'), palette = load('palette'), prior = load('unconditional');
  // Two 32×32 crops per image (top-left and centre), the Y channel in [-1, 1].
  const files = (await inv.io.readImageFolder(cbsd, { mode: 'y' })).slice(0, Math.ceil(count / 2));
  const crops = [];
  for (const { image } of files) {
    const [h, w] = image.shape.slice(2);
    crops.push(image.narrow(2, 0, 32).narrow(3, 0, 32), image.narrow(2, (h >> 1) - 16, 32).narrow(3, (w >> 1) - 16, 32));
  }
  const images = inv.cat(crops.slice(0, count), { dim: 0 });
  const zs = quick ? { ddnm: 50, dps: 100, pigdm: 50, daps: 100 } : { ddnm: 100, dps: 250, pigdm: 100, daps: 200 };
  const methods = [
    ['InvFussion MMSE', inv.mmseRestorer(invfussion)],
    ['Palette MMSE', inv.mmseRestorer(palette)],
    // The same estimates projected onto {x : A x = y} by an exact A⁺ (noiseless rows only): the posterior mean of
    // noiseless y lies in that set. Not in the paper's table.
    ['InvFussion MMSE + projection', inv.mmseRestorer(invfussion, { project: true })],
    ['Palette MMSE + projection', inv.mmseRestorer(palette, { project: true })],
    ['InvFussion Heun-63', inv.samplerRestorer('heun', invfussion, { steps: 32 })],
    ['Palette Heun-63', inv.samplerRestorer('heun', palette, { steps: 32 })],
    ['DDRM-25', inv.samplerRestorer('ddrm', prior, { steps: 25 })],
    [`DDNM-${zs.ddnm}`, inv.samplerRestorer('ddnm', prior, { steps: zs.ddnm })],
    // InvFussion's own DPS step (its code's ζ = 0.5 on the un-squared residual norm), as the paper's Table 1
    // ran it. The default step (ζ = 5 on the squared norm, tuned on the U-Net prior for inpainting and block
    // CS) overshoots on strided blur, whose ‖A‖² is about 13: 9.30 dB there against 24.80 (8 crops, DPS-100).
    ['DPS', inv.samplerRestorer('dps', prior, { steps: zs.dps, step: 'invfussion' })],
    ['ΠGDM', inv.samplerRestorer('pigdm', prior, { steps: zs.pigdm })],
    ['DAPS', inv.samplerRestorer('daps', prior, { steps: zs.daps })],
  ];
  if (values.methods) {
    const wanted = values.methods.split(',');
    const unknown = wanted.filter((w) => !methods.some(([n]) => n === w));
    if (unknown.length) throw new Error(`--methods: unknown ${unknown.join(', ')}; the methods are ${methods.map(([n]) => n).join(', ')}`);
    methods.splice(0, methods.length, ...methods.filter(([n]) => wanted.includes(n)));
  }
  const report = { images: count, noises, rows: [] };
  for (const noise of noises) {
    for (const [label, base] of FAMILIES) {
      const spec = { ...base, noiseStd: noise };
      const perImage = {};
      let baseline;
      for (const [name, method] of methods) {
        if (noise > 0 && name.endsWith('+ projection')) continue;
        const r = inv.restoreImages(method, images, spec, { seed: 1000 });
        perImage[name] = inv.metrics.psnrPerImage(r.restored, images);
        const ssim = inv.metrics.ssimPerImage(r.restored, images);
        baseline ??= inv.metrics.psnrPerImage(r.baseline, images);
        const row = { noise, family: label, method: name, psnr: mean(perImage[name]), ssim: mean(ssim), secondsPerImage: r.seconds / count };
        report.rows.push(row);
        console.log(`σn ${noise} ${label.padEnd(12)} ${name.padEnd(20)} ${row.psnr.toFixed(2)} dB  SSIM ${row.ssim.toFixed(3)}  ${row.secondsPerImage.toFixed(2)} s/image`);
        r.restored.dispose();
        r.baseline.dispose();
      }
      report.rows.push({ noise, family: label, method: 'A⁺y', psnr: mean(baseline) });
      console.log(`σn ${noise} ${label.padEnd(12)} ${'A⁺y'.padEnd(20)} ${mean(baseline).toFixed(2)} dB`);
      const zeroShot = methods.map(([n]) => n).filter((n) => !/InvFussion|Palette/.test(n));
      const best = zeroShot.length ? zeroShot.reduce((a, b) => (mean(perImage[a]) >= mean(perImage[b]) ? a : b)) : undefined;
      const pairs = [['InvFussion MMSE', 'Palette MMSE'], ['InvFussion Heun-63', 'Palette Heun-63'], ['InvFussion MMSE', best],
        ['InvFussion MMSE + projection', 'Palette MMSE + projection'], ['InvFussion MMSE + projection', best]];
      for (const [a, b] of pairs.filter(([a, b]) => perImage[a] && b && perImage[b])) {
        const d = paired(perImage[a], perImage[b]);
        report.rows.push({ noise, family: label, comparison: `${a} − ${b}`, mean: d.mean, se: d.se });
        console.log(`σn ${noise} ${label.padEnd(12)} ${a} − ${b}: ${d.mean >= 0 ? '+' : ''}${d.mean.toFixed(2)} ± ${d.se.toFixed(2)} dB (paired, ± 1 s.e.)`);
      }
    }
  }
  console.log('\n' + markdown(report));
  if (values.json) fs.writeFileSync(values.json, JSON.stringify({ ...report, date: new Date().toISOString(), backend: inv.backend() }, null, 2));
})().catch((e) => {
  console.error(`bench/invfussion: ${e.message}`);
  process.exit(1);
});

function markdown(report) {
  const lines = [];
  for (const noise of report.noises) {
    lines.push(`σ_n = ${noise}, ${report.images} CBSD68 crops (32×32, Y), PSNR / SSIM:`, '');
    lines.push(`| method | ${FAMILIES.map(([l]) => l).join(' | ')} | paper, FFHQ64 PSNR (${FAMILIES.map(([l]) => l).join(' / ')}) |`);
    lines.push(`|---|${FAMILIES.map(() => '---').join('|')}|---|`);
    const names = [...new Set(report.rows.filter((r) => r.noise === noise && r.method).map((r) => r.method))];
    for (const name of names) {
      const cells = FAMILIES.map(([l]) => {
        const r = report.rows.find((x) => x.noise === noise && x.family === l && x.method === name);
        return r ? `${r.psnr.toFixed(2)}${r.ssim !== undefined ? ` / ${r.ssim.toFixed(3)}` : ''}` : '';
      });
      const paper = PAPER[name] ?? PAPER[name.replace(/-\d+$/, '-100')];
      lines.push(`| ${name} | ${cells.join(' | ')} | ${noise === 0 && paper ? paper.join(' / ') : ''} |`);
    }
    lines.push('');
  }
  return lines.join('\n');
}
