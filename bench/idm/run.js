#!/usr/bin/env node
'use strict';
// bench/idm: (1) training memory and time per step, reversible vs reversible: false, over depth and T, as
// ratios measured side by side in child processes; (2) the IDM checkpoints (models/idm-cs*.safetensors, and
// idm-inpaint90 for 90% random-pixel inpainting, where present) on Set11, next to A⁺y, to DDNM with 100 steps
// on the shipped unconditional prior (models/unconditional.safetensors; the prior an IDM.fromPrior checkpoint
// was fine-tuned from, so both run the same network), per-image paired differences IDM − DDNM with their
// standard error, and the paper's figures; IDM-3's speed-up over DDNM-100.
//   node bench/idm/run.js [--quick] [--skip-memory] [--ratios 10,30,50] [--models DIR] [--images N] [--only-ddnm]
//   (--quick: fewer memory configurations, DDNM on 3 images; --images N: the first N images for both methods)
// DDNM's per-image PSNR/SSIM are kept in bench/results/ddnm-cache.json, keyed by the prior's content hash, the
// operator, the image and the seed, so rerunning for new IDM checkpoints does not redo 100-step samples;
// --only-ddnm fills that cache for every task and stops (to run while the IDM checkpoints still train; image
// by image across the tasks, the 256² images first); --ddnm-cached-only runs no new DDNM sample: DDNM's
// columns then cover the images in the cache, as many as each row says. The
// seconds per image and the speed-up are timed afresh in every run: IDM and DDNM-100 in turns on one 256²
// image (--timing-rounds, default three; medians), so both see the same machine.
const { execFileSync } = require('child_process');
const fs = require('fs');
const path = require('path');
const inv = require('../..');
const { paired } = require('../stats');

const root = path.resolve(__dirname, '..', '..');
const quick = process.argv.includes('--quick');
const skipMemory = process.argv.includes('--skip-memory');
const ratioArg = process.argv.indexOf('--ratios');
const ratios = ratioArg > 0 ? process.argv[ratioArg + 1].split(',').map(Number) : [10, 30, 50];
const argument = (name) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const modelsDir = path.resolve(argument('--models') ?? path.join(root, 'models'));
const onlyDdnm = process.argv.includes('--only-ddnm');
const cachedOnly = process.argv.includes('--ddnm-cached-only');
const timingRounds = Number(argument('--timing-rounds') ?? 3);
if (!(Number.isInteger(timingRounds) && timingRounds > 0)) throw new Error(`--timing-rounds must be a positive integer, got '${argument('--timing-rounds')}'`);
const imageCount = argument('--images') === undefined ? undefined : Number(argument('--images'));
if (imageCount !== undefined && !(Number.isInteger(imageCount) && imageCount > 0)) throw new Error(`--images must be a positive integer, got '${argument('--images')}'`);

// Training steps in a fresh process: activation bytes of one step (peak minus live before) and the median
// wall time of three more.
const child = `
const inv = require(${JSON.stringify(root)});
const [blocks, steps, reversible] = process.argv.slice(1).map(Number);
// blocks 0: the shipped configuration, IDM.fromPrior of the shipped prior (2.9M parameters).
const model = blocks === 0
  ? inv.models.IDM.fromPrior(inv.models.Unconditional.pretrained(), { steps, reversible: reversible === 1 })
  : new inv.models.IDM({ channels: 16, heads: 2, multipliers: [1, 2], attention: [false, true], blocks, steps, reversible: reversible === 1 });
const A = inv.operators.create('blockCS', { imageShape: [1, 64, 64], batch: 4, seed: 3, ratio: 0.1 });
const x = inv.rand([4, 1, 64, 64], { seed: 1 });
const y = A.forward(x);
const step = () => inv.scope(() => model.reconstruct(A, y).sub(x).abs().mean().backward());
step();
global.gc();
const before = inv.memory().bytes;
inv.resetPeakMemory();
step();
const activation = inv.memory().peakBytes - before;
const times = [0, 1, 2].map(() => { const t0 = process.hrtime.bigint(); step(); return Number(process.hrtime.bigint() - t0) / 1e6; });
process.stdout.write(JSON.stringify({ activation, ms: times.sort((a, b) => a - b)[1] }));
`;
const measure = (blocks, steps, reversible) =>
  JSON.parse(execFileSync(process.execPath, ['--expose-gc', '-e', child, String(blocks), String(steps), reversible ? '1' : '0'], { encoding: 'utf8' }));
const mib = (b) => (b / 2 ** 20).toFixed(1);

if (!skipMemory && !onlyDdnm) {
console.log('## IDM training memory and time per step (batch 4 × 1×64×64, 10% block CS; width 16, and the shipped configuration)\n');
console.log('| blocks/level | T | reversible MiB | stored MiB | stored/reversible | reversible ms/step | stored ms/step | time ratio |');
console.log('|---|---|---|---|---|---|---|---|');
const configs = quick ? [[4, 3], [16, 3], [2, 1], [2, 8]] : [[4, 3], [8, 3], [16, 3], [2, 1], [2, 3], [2, 8], [0, 3]];
for (const [blocks, steps] of configs) {
  const r = measure(blocks, steps, true);
  const s = measure(blocks, steps, false);
  console.log(`| ${blocks || 'shipped (IDM.fromPrior, 2.9M)'} | ${steps} | ${mib(r.activation)} | ${mib(s.activation)} | ${(s.activation / r.activation).toFixed(1)}× | ${r.ms.toFixed(0)} | ${s.ms.toFixed(0)} | ${(r.ms / s.ms).toFixed(2)}× |`);
}
}

// keepSteps at T = 3: the reversible step's time against the stored-activation one, the variants taking
// turns in one process (seven rounds, the median ratio and its range), and activation memory in fresh
// processes with the parameters' gradients (a copy the sequences' backward holds, which grows with depth)
// and without them (parameters frozen, the gradient still flowing to y through every layer).
const keepChild = `
const inv = require(${JSON.stringify(root)});
inv.setNumThreads(1);
const [blocks, mode, keep] = process.argv.slice(1);
const A = inv.operators.create('blockCS', { imageShape: [1, 64, 64], batch: 4, seed: 3, ratio: 0.1 });
const x = inv.keep(inv.rand([4, 1, 64, 64], { seed: 1 }));
const config = (o) => ({ channels: 16, heads: 2, multipliers: [1, 2], attention: [false, true], blocks: Number(blocks), steps: 3, ...o });
const loss = (m, y) => m.reconstruct(A, y).sub(x).abs().mean();
if (mode === 'time') {
  const y = inv.keep(A.forward(x));
  const variants = [{ reversible: false }, ...[0, 1, 2, 3].map((keepSteps) => ({ keepSteps }))];
  const models = variants.map((o) => { inv.manualSeed(0); return new inv.models.IDM(config(o)); });
  const step = (m) => inv.scope(() => loss(m, y).backward());
  models.forEach(step);
  const times = models.map(() => []);
  for (let r = 0; r < 7; r++) models.forEach((m, i) => { const t0 = process.hrtime.bigint(); step(m); times[i].push(Number(process.hrtime.bigint() - t0) / 1e6); });
  process.stdout.write(JSON.stringify(times));
} else {
  const model = new inv.models.IDM(config({ keepSteps: Number(keep) }));
  const frozen = mode === 'frozen';
  if (frozen) for (const p of model.parameters()) p.requiresGrad = false;
  const y = inv.keep(A.forward(x).requiresGrad_(frozen));
  const step = () => inv.scope(() => loss(model, y).backward());
  step();
  global.gc();
  const before = inv.memory().bytes;
  inv.resetPeakMemory();
  step();
  process.stdout.write(String(inv.memory().peakBytes - before));
}
`;
const keepRun = (...args) => JSON.parse(execFileSync(process.execPath, ['--expose-gc', '-e', keepChild, ...args.map(String)], { encoding: 'utf8' }));
const median = (a) => a.slice().sort((p, q) => p - q)[a.length >> 1];

if (!skipMemory && !onlyDdnm) {
  console.log('\n## keepSteps: reversible training step at T = 3 against stored activations (1 thread; memory with / without parameter gradients)\n');
  console.log('| blocks/level | keepSteps | time ratio (median, range) | activation MiB with parameter gradients | without |');
  console.log('|---|---|---|---|---|');
  for (const blocks of quick ? [2] : [2, 4, 16]) {
    const times = keepRun(blocks, 'time', 0);
    for (let keep = 0; keep <= 3; keep++) {
      const ratios = times[keep + 1].map((t, r) => t / times[0][r]);
      const memory = ['grads', 'frozen'].map((mode) => mib(keepRun(blocks, mode, keep)));
      console.log(`| ${blocks} | ${keep}${keep === 2 ? ' (default)' : ''} | ${median(ratios).toFixed(2)}× (${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}) | ${memory[0]} | ${memory[1]} |`);
    }
  }
}

// The paper's Set11 PSNR (Table 2 of IDM: IDM and DDNM on SD-1.5), and its 90% inpainting figures where it gives them.
const PAPER = { 10: 32.92, 30: 38.85, 50: 42.48 };
const set11Dir = path.resolve(root, '..', 'shared', 'data', 'Set11');
(async () => {
  console.log('\n## Shipped IDM checkpoints on Set11 (Y channel, scrambled block CS), beside DDNM-100 on the shipped prior\n');
  if (!fs.existsSync(set11Dir)) return console.log('Set11 not found beside the checkout (../shared/data/Set11): skipped.');
  const files = (await inv.io.readImageFolder(set11Dir, { mode: 'y' })).slice(0, imageCount);
  const set11 = files.map((i) => i.image);
  // Both methods on every image (three of them for DDNM with --quick).
  const small = set11.map((t, i) => [t, i]).slice(0, quick ? 3 : undefined);
  const priorFile = path.join(root, 'models', 'unconditional.safetensors');
  const prior = fs.existsSync(priorFile) ? inv.models.Unconditional.load(priorFile) : undefined;
  const ddnmRestorer = prior && inv.samplerRestorer('ddnm', prior, { steps: 100 });
  const cacheFile = path.join(root, 'bench', 'results', 'ddnm-cache.json');
  const cache = fs.existsSync(cacheFile) ? JSON.parse(fs.readFileSync(cacheFile, 'utf8')) : {};
  const priorHash = prior && inv.safetensorsContentHash(priorFile);
  const keyOf = (operator, i) => JSON.stringify([priorHash, operator, files[i].name, i, 100]);
  const cached = (operator, i) => Boolean(cache[keyOf(operator, i)]);
  // DDNM-100 on one image, from the cache when this prior, operator, image and seed were run before.
  const ddnm = prior && ((image, operator, i) => {
    const key = keyOf(operator, i);
    if (!cache[key]) {
      const { seconds, ...quality } = score(ddnmRestorer, image, operator, i);
      cache[key] = quality;
      fs.mkdirSync(path.dirname(cacheFile), { recursive: true });
      fs.writeFileSync(cacheFile, JSON.stringify(cache));
    }
    return cache[key];
  });
  console.log(`${set11.length} images (sizes ${[...new Set(set11.map((t) => t.shape.slice(2).join('×')))].join(', ')}; padded to each method's size multiple and cropped back). `
    + `DDNM-100 and the speed-up use ${small.length} of them${prior ? '' : ' (no models/unconditional.safetensors: run npm run train:diffusion)'}. IDM checkpoints from ${path.relative(process.cwd(), modelsDir) || '.'}. Seconds per image on ${inv.backend().threads} thread(s), IDM and DDNM-100 timed in turns on one 256² image (${timingRounds} round(s), medians).\n`);
  const m = inv.metrics;
  const score = (method, image, operator, seed) => {
    const { restored, baseline, seconds } = inv.restoreImages(method, image, operator, { seed });
    const row = { psnr: m.psnr(restored, image), ssim: m.ssim(restored, image), psnrB: m.psnr(baseline, image), ssimB: m.ssim(baseline, image), seconds };
    restored.dispose();
    baseline.dispose();
    return row;
  };
  // Seconds per image of each method on one image, the methods in turns for three rounds (medians).
  const timingImage = set11.find((t) => t.shape[2] === 256) ?? set11[0];
  const timeInTurns = (methods, image, operator) => {
    const times = methods.map(() => []);
    for (let round = 0; round < timingRounds; round++)
      methods.forEach((method, k) => {
        const { restored, baseline, seconds } = inv.restoreImages(method, image, operator, { seed: 0 });
        restored.dispose();
        baseline.dispose();
        times[k].push(seconds);
      });
    return times.map((t) => median(t));
  };
  const avg = (rows, k) => rows.reduce((a, r) => a + r[k], 0) / rows.length;
  const pairedPsnr = (a, b) => {
    const d = paired(a.map((r) => r.psnr), b.map((r) => r.psnr));
    return `${d.mean >= 0 ? '+' : ''}${d.mean.toFixed(2)} ± ${d.se.toFixed(2)} dB`;
  };
  // Each task's checkpoints: fine-tuned from the prior (idm-prior-*) and the small network (idm-*), where present.
  const tasks = [
    ...ratios.map((ratio) => ({ name: `CS ${ratio}%`, files: [`idm-prior-cs${ratio}`, `idm-cs${ratio}`], operator: { family: 'blockCS', ratio: ratio / 100 }, paper: PAPER[ratio] })),
    { name: 'inpainting 90%', files: ['idm-prior-inpaint90', 'idm-inpaint90'], operator: { family: 'inpainting', keep: 0.1 }, paper: '' },
  ];
  if (onlyDdnm) {
    // Image by image across the tasks, the 256² images first: stopped early, every task has as many.
    for (const large of [false, true])
      for (const [image, i] of small.filter(([t]) => (t.shape[2] > 256) === large))
        for (const { name, operator } of tasks) console.log(`${name}, ${files[i].name}: DDNM-100 ${ddnm(image, operator, i).psnr.toFixed(2)} dB (cached in ${path.relative(process.cwd(), cacheFile)})`);
    return;
  }
  console.log('| task | IDM (init, parameters) | IDM PSNR / SSIM (all) | A⁺y PSNR / SSIM (all) | IDM PSNR on the DDNM images (how many) | DDNM-100 PSNR / SSIM | IDM − DDNM (paired, ± s.e.) | IDM s/image | DDNM-100 s/image | IDM-3 speed-up over DDNM-100 | paper IDM PSNR (117M U-Net, 4 GPUs) |');
  console.log('|---|---|---|---|---|---|---|---|---|---|---|');
  for (const { name, files: bases, operator, paper } of tasks) {
    const present = bases.map((b) => path.join(modelsDir, `${b}.safetensors`)).filter((f) => fs.existsSync(f));
    if (!present.length) console.log(`| ${name} | (no ${bases.map((b) => `${b}.safetensors`).join(' or ')} in ${path.relative(process.cwd(), modelsDir) || '.'}) | | | | | | | | | ${paper} |`);
    // Every checkpoint of the task and DDNM-100 take turns in one timing, so their seconds compare.
    const models = present.map((file) => inv.models.IDM.load(file));
    const seconds = models.length ? timeInTurns(ddnm ? [...models, ddnmRestorer] : models, timingImage, operator) : [];
    const ddnmSeconds = ddnm ? seconds[models.length] : NaN;
    // DDNM's images and results are the task's, the same for each of its checkpoints.
    const compared = cachedOnly ? small.filter(([, i]) => cached(operator, i)) : small;
    const d = ddnm && models.length && compared.length ? compared.map(([image, i]) => ddnm(image, operator, i)) : [];
    for (const [k, model] of models.entries()) {
      const trained = JSON.parse(model.metadata['invdiff.trained'] ?? '{}');
      const parameters = model.parameters().reduce((n, p) => n + p.numel, 0);
      const rows = set11.map((image, i) => score(model, image, operator, i));
      const subset = compared.map(([, i]) => rows[i]);
      const idmSeconds = seconds[k];
      const speedup = ddnmSeconds / idmSeconds;
      console.log(`| ${name} | ${trained.init ?? 'small'}, ${(parameters / 1e6).toFixed(2)}M | ${avg(rows, 'psnr').toFixed(2)} / ${avg(rows, 'ssim').toFixed(4)} | ${avg(rows, 'psnrB').toFixed(2)} / ${avg(rows, 'ssimB').toFixed(4)} | ${subset.length ? avg(subset, 'psnr').toFixed(2) : '-'} (${subset.length}) | `
        + `${d.length ? `${avg(d, 'psnr').toFixed(2)} / ${avg(d, 'ssim').toFixed(4)}` : '-'} | ${d.length ? pairedPsnr(subset, d) : '-'} | ${idmSeconds.toFixed(2)} | ${d.length ? ddnmSeconds.toFixed(1) : '-'} | ${d.length ? `${speedup.toFixed(1)}×` : '-'} | ${paper} |`);
      model.dispose();
    }
  }
  console.log('\nThe paper reports IDM 14.5× faster than DDNM (both on its SD-sized U-Nets).');
})();
