#!/usr/bin/env node
'use strict';
// Trains the three cpu32 HDiT models the package ships, with the same data, budget, σ draws and noise:
//   node scripts/train-invfussion.js --model invfussion|palette|unconditional [--steps 6000] [--batch 16] [--data DIR]
//     [--out models] [--resume] [--threads 1] [--init FILE]
// --init FILE continues from that model's saved weights (a shipped cpu32 file) with a fresh optimizer, warm-up
// and schedule, for when the resumable checkpoint is gone; give the three models the same --init budget and
// --seed so they stay comparable (--resume with the same --init continues such a run). The file's own training
// record is kept under 'earlier'.
// InvFussion and Palette see the paper's degradation mixture drawn per batch (papers.md §2.2, §2.6): a random
// matrix with 2–128 rows, strided motion blur with s ∈ {2, 4, 8}, patch inpainting and none, uniformly over the
// four families. EDM2 loss with the learned log-variance, ln σ ~ N(−0.8, 1.6²) with 5 % of draws at σ = 100,
// Adam (0.9, 0.99) with warm-up and inverse-square-root decay, EMA by half-life in images. 32×32 crops of the
// Y channel of Train400 (../shared/data); validation (the one-step MMSE on the first degradation, or denoising
// at σ = 0.2) on Set14 crops, never on the CBSD68 images bench/invfussion reports. Writes
// models/<model>-cpu32.safetensors (float16 weights) and a resumable checkpoint beside it.
const fs = require('fs');
const path = require('path');
const { parseArgs } = require('util');
const inv = require('..');

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'invfussion' },
    steps: { type: 'string', default: '6000' },
    batch: { type: 'string', default: '16' },
    lr: { type: 'string', default: '5e-4' },
    data: { type: 'string' },
    out: { type: 'string', default: path.resolve(__dirname, '..', 'models') },
    resume: { type: 'boolean', default: false },
    init: { type: 'string' },
    seed: { type: 'string', default: '0' },
    threads: { type: 'string', default: '1' },
  },
  strict: true,
});
const MODELS = ['invfussion', 'palette', 'unconditional'];
const shared = path.resolve(__dirname, '..', '..', 'shared', 'data');

const DEGRADATIONS = inv.training.INVFUSSION_DEGRADATIONS;
const WEIGHTS = inv.training.INVFUSSION_WEIGHTS;

function positive(name) {
  const v = Number(values[name]);
  if (!(v > 0)) throw new Error(`--${name} must be a positive number, got '${values[name]}'`);
  return v;
}

async function validationImages(crop) {
  const dir = path.join(shared, 'Set14');
  if (!fs.existsSync(dir)) return undefined;
  const images = (await inv.io.readImageFolder(dir, { mode: 'y' })).slice(0, 8);
  return inv.cat(images.map((i) => i.image.narrow(2, 0, crop).narrow(3, 0, crop)), { dim: 0 });
}

(async () => {
  if (!MODELS.includes(values.model)) throw new Error(`--model must be one of ${MODELS.join(', ')}, got '${values.model}'`);
  inv.setNumThreads(positive('threads'));
  fs.mkdirSync(values.out, { recursive: true });
  const seed = Number(values.seed);
  const steps = positive('steps');
  const batch = positive('batch');
  const crop = 32;
  const dataDir = values.data ?? path.join(shared, 'Train400');
  if (!fs.existsSync(dataDir)) throw new Error(`the training images '${dataDir}' are missing (give --data DIR)`);
  const data = await inv.ImageDataset.fromFolder(dataDir, { crop, batch, seed, mode: 'y' });
  const validation = await validationImages(crop);
  inv.manualSeed(seed); // the initial weights
  const options = { preset: 'cpu32' };
  const Kind = { invfussion: inv.models.InvFussion, palette: inv.models.Palette, unconditional: inv.models.Unconditional }[values.model];
  const initFile = values.init === undefined ? undefined : path.resolve(values.init);
  if (initFile && !(initFile.endsWith('.safetensors') && fs.existsSync(initFile))) throw new Error(`--init must be an existing .safetensors file, got '${values.init}'`);
  const model = initFile ? Kind.load(initFile)
    : values.model === 'invfussion' ? new Kind(options)
    : new Kind({ architecture: 'hdit', ...options });
  if (initFile && model.imageShape.join('x') !== '1x32x32')
    throw new Error(`--init '${values.init}' is not a cpu32 model: its images are ${model.imageShape.join('×')}, not 1×32×32`);
  const earlierRecord = initFile ? model.metadata['invdiff.trained'] : undefined;
  const conditional = values.model !== 'unconditional';
  const name = `${values.model}-cpu32`;
  const started = Date.now();
  const result = await inv.training.trainDiffusion({
    model, data, steps, seed, validation, validateEvery: 500,
    degradations: conditional ? DEGRADATIONS : undefined, degradationWeights: conditional ? WEIGHTS : undefined,
    lr: positive('lr'), warmup: 200, rsqrtDecay: 2000, ...inv.training.EDM2_TRAINING, emaHalfLife: 5000,
    checkpoint: path.join(values.out, `${name}.checkpoint.safetensors`), checkpointEvery: 100, resume: values.resume,
    handleInterrupt: true, progress: false,
    onStep: ({ step, loss, imagesPerSecond, etaSeconds }) => {
      if (step % 50 === 0) console.log(`${name} step ${step}/${steps} loss ${loss.toFixed(4)} ${imagesPerSecond.toFixed(1)} img/s, ${Math.round(etaSeconds / 60)} min left`);
    },
  });
  const seconds = Math.round((Date.now() - started) / 1000);
  const file = path.join(values.out, `${name}.safetensors`);
  const earlier = earlierRecord ? { init: path.basename(initFile), earlier: JSON.parse(earlierRecord) } : {};
  const trained = { steps: result.step, seconds, data: path.basename(dataDir), crop, batch, seed, degradations: conditional ? DEGRADATIONS : [], weights: conditional ? WEIGHTS : [], nonFiniteSteps: result.nonFiniteSteps, ...earlier };
  model.save(file, { 'invdiff.trained': JSON.stringify(trained) }, { dtype: 'float16' });
  inv.models.writeCard(file, { name, trainedFor: conditional ? DEGRADATIONS : [], data: path.basename(dataDir), steps: result.step + (earlier.earlier?.steps ?? 0) });
  for (const v of result.validation) console.log(`  validation at step ${v.step}: ${v.psnr.toFixed(2)} dB`);
  console.log(`${name}: ${result.step} steps in ${(seconds / 60).toFixed(1)} min this run, final loss ${result.losses.at(-1).toFixed(4)}, ${result.nonFiniteSteps} steps with non-finite gradients -> ${file}`);
  process.exit(result.interrupted ? 130 : 0);
})().catch((e) => {
  console.error(`train-invfussion: ${e.message}`);
  process.exit(1);
});
