#!/usr/bin/env node
'use strict';
// Trains the diffusion denoiser the package ships (models/unconditional.safetensors), reproducibly:
//   node scripts/train-diffusion.js [--model unconditional|palette] [--steps 12000] [--data DIR] [--out models] [--resume]
//     [--degradations '[{"family":"blockCS","ratio":0.3}]'] (palette)
// Patches come from --data (default ../shared/data/Train400 when present, else generated dead-leaves images), as
// the Y channel. Validation: four CBSD68 images (Y) when present. One thread: this network's ops are too small
// for intra-op threads on a 2-core machine. Writes the EMA weights (as float16) and prints the wall time.
const fs = require('fs');
const path = require('path');
const { parseArgs } = require('util');
const inv = require('..');

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'unconditional' },
    steps: { type: 'string', default: '12000' },
    batch: { type: 'string', default: '8' },
    crop: { type: 'string', default: '64' },
    lr: { type: 'string', default: '1e-3' },
    data: { type: 'string' },
    out: { type: 'string', default: path.resolve(__dirname, '..', 'models') },
    degradations: { type: 'string', default: '[{"family":"blockCS","ratio":0.3}]' },
    resume: { type: 'boolean', default: false },
    seed: { type: 'string', default: '0' },
  },
});
const shared = path.resolve(__dirname, '..', '..', 'shared', 'data');
const dataDir = values.data ?? (fs.existsSync(path.join(shared, 'Train400')) ? path.join(shared, 'Train400') : undefined);

// The shipped network: 3 levels at 48/96/96 channels on 2×2-unshuffled pixels, attention at the coarsest.
const MODEL = { channels: 48, multipliers: [1, 2, 2], blocks: 1, heads: 4 };

(async () => {
  if (!['unconditional', 'palette'].includes(values.model)) throw new Error(`--model must be 'unconditional' or 'palette', got '${values.model}'`);
  if (!process.env.INVDIFF_NUM_THREADS) inv.setNumThreads(1);
  fs.mkdirSync(values.out, { recursive: true });
  const seed = Number(values.seed);
  const steps = Number(values.steps);
  const crop = Number(values.crop);
  const batch = Number(values.batch);
  const data = dataDir
    ? await inv.ImageDataset.fromFolder(dataDir, { crop, batch, seed, mode: 'y' })
    : inv.ImageDataset.deadLeaves({ count: 64, size: 128, imageSeed: 1000, crop, batch, seed });
  const cbsd = path.join(shared, 'CBSD68');
  const validation = fs.existsSync(cbsd)
    ? inv.cat((await inv.io.readImageFolder(cbsd, { mode: 'y' })).slice(0, 4).map((i) => i.image.narrow(2, 0, 256).narrow(3, 0, 256)), { dim: 0 })
    : undefined;
  const palette = values.model === 'palette';
  inv.manualSeed(seed); // the initial weights: LibTorch seeds its global generator afresh in every process
  const model = palette ? new inv.models.Palette(MODEL) : new inv.models.Unconditional(MODEL);
  const degradations = palette ? JSON.parse(values.degradations) : undefined;
  const name = palette ? `palette-${degradations.map((d) => d.family).join('-')}` : 'unconditional';
  const started = Date.now();
  const result = await inv.training.trainDiffusion({
    model, data, degradations, steps, lr: Number(values.lr), milestones: [Math.round(steps * 0.6), Math.round(steps * 0.85)], seed,
    validation, validateEvery: 1000,
    checkpoint: path.join(values.out, `${name}.checkpoint.safetensors`), checkpointEvery: 200, resume: values.resume,
    handleInterrupt: true, progress: false,
    onStep: ({ step, loss, imagesPerSecond, etaSeconds }) => {
      if (step % 250 === 0) console.log(`step ${step}/${steps} loss ${loss.toFixed(4)} ${imagesPerSecond.toFixed(1)} img/s, ${Math.round(etaSeconds / 60)} min left`);
    },
  });
  const file = path.join(values.out, `${name}.safetensors`);
  const seconds = Math.round((Date.now() - started) / 1000);
  // Stored as float16, half the size: the outputs differ by about 1e-4 (tested in test/diffusion.test.js).
  model.save(file, { 'invdiff.trained': JSON.stringify({ steps: result.step, seconds, data: dataDir ? path.basename(dataDir) : 'dead-leaves', crop, batch, seed, degradations }) }, { dtype: 'float16' });
  inv.models.writeCard(file, { name, trainedFor: degradations ?? [], data: dataDir ? path.basename(dataDir) : 'dead-leaves', steps: result.step });
  for (const v of result.validation) console.log(`  validation at step ${v.step}: ${v.psnr.toFixed(2)} dB`);
  console.log(`${name}: ${result.step} steps in ${(seconds / 60).toFixed(1)} min this run, final loss ${result.losses.at(-1).toFixed(4)} -> ${file}`);
  process.exit(result.interrupted ? 130 : 0);
})().catch((e) => {
  console.error(`train-diffusion: ${e.message}`);
  process.exit(1);
});
