#!/usr/bin/env node
'use strict';
// Trains the IDM checkpoints the project ships (models/idm-prior-cs<ratio>.safetensors, idm-cs<ratio>), reproducibly:
//   node scripts/train-idm.js [--task cs|inpainting] [--ratios 10,30,50] [--steps 5000] [--init prior|random|small|FILE]
//     [--prior FILE] [--data DIR] [--out models] [--resume] [--jobs N] [--validate-every N] [--lr RATE]
//     [--crop 64] [--batch 4] [--help]
// --task cs: scrambled block CS at each sampling ratio (cs<ratio>); --task inpainting: random-pixel
// inpainting with <ratio>% of the pixels missing (inpaint<ratio>, the seed's 90%). The file is
// idm-prior-<task> for --init prior or FILE, idm-random-<task> for random, idm-<task> for small.
// --init prior (default) fine-tunes IDM.fromPrior of the shipped unconditional U-Net (or --prior FILE), as the
// paper fine-tunes SD; random trains the same network from random weights (the ablation); small is the
// 153k-parameter network trained from scratch that shipped before; --init FILE.safetensors fine-tunes an IDM
// checkpoint further (one trained at another ratio or task: the chain's weights do not depend on the operator).
// Patches come from --data (default ../shared/data/Train400 when present, else generated dead-leaves images).
// Validation PSNR on Set14 crops (never the Set11 images reported) every --validate-every steps; prints Set11
// PSNR (when ../shared/data/Set11 exists), wall time, and writes the weights.
// Several ratios train in parallel, one process per ratio with one thread each (--jobs, default the core
// count): this small network's ops are too small for intra-op threads, which made a step 2.6× slower.
const fs = require('fs');
const path = require('path');
const { parseArgs } = require('util');
const { spawn } = require('child_process');
const os = require('os');
const inv = require('..');

// The usage text is the comment above.
const lines = fs.readFileSync(__filename, 'utf8').split('\n').slice(2);
const USAGE = lines.slice(0, lines.findIndex((l) => !l.startsWith('//'))).map((l) => l.slice(3)).join('\n');
function fail(message) {
  console.error(`train-idm: ${message}`);
  process.exit(1);
}
let parsed;
try {
  parsed = parseArgs({
    options: {
      ratios: { type: 'string', default: '10,30,50' },
      steps: { type: 'string', default: '5000' },
      jobs: { type: 'string', default: String(os.availableParallelism?.() ?? os.cpus().length) },
      data: { type: 'string' },
      out: { type: 'string', default: path.resolve(__dirname, '..', 'models') },
      resume: { type: 'boolean', default: false },
      seed: { type: 'string', default: '0' },
      init: { type: 'string', default: 'prior' },
      task: { type: 'string', default: 'cs' },
      prior: { type: 'string' },
      lr: { type: 'string' },
      crop: { type: 'string', default: '64' },
      batch: { type: 'string', default: '4' },
      'validate-every': { type: 'string', default: '250' },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
} catch (e) {
  fail(`${e.message.split('\n')[0]}\n\n${USAGE}`);
}
const { values } = parsed;
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
const INITS = ['prior', 'random', 'small'];
const initFile = INITS.includes(values.init) ? undefined : path.resolve(values.init);
if (initFile && !(values.init.endsWith('.safetensors') && fs.existsSync(initFile)))
  fail(`--init must be one of ${INITS.join(', ')} or an existing IDM .safetensors file, got '${values.init}'`);
const TASKS = {
  cs: { name: (r) => `cs${r}`, operator: (r) => ({ family: 'blockCS', ratio: r / 100 }) },
  inpainting: { name: (r) => `inpaint${r}`, operator: (r) => ({ family: 'inpainting', keep: (100 - r) / 100 }) },
};
const prefix = { small: 'idm-', random: 'idm-random-' }[values.init] ?? 'idm-prior-';
const task = TASKS[values.task];
if (!task) fail(`--task must be one of ${Object.keys(TASKS).join(', ')}, got '${values.task}'`);
const crop = Number(values.crop);
const batch = Number(values.batch);
// Block CS measures whole 32×32 blocks, so its training patches hold a whole number of them.
if (!(Number.isInteger(crop) && crop >= 32 && (values.task !== 'cs' || crop % 32 === 0)))
  fail(`--crop must be an integer of at least 32${values.task === 'cs' ? ' and a multiple of 32 (the CS block)' : ''}, got '${values.crop}'`);
if (!(Number.isInteger(batch) && batch >= 1)) fail(`--batch must be a positive integer, got '${values.batch}'`);
const shared = path.resolve(__dirname, '..', '..', 'shared', 'data');
const dataDir = values.data ?? (fs.existsSync(path.join(shared, 'Train400')) ? path.join(shared, 'Train400') : undefined);

// The network trained from scratch before IDM.fromPrior: sized so a 2-core CPU trains it in minutes.
const SMALL = { channels: 16, blocks: 1, heads: 2, steps: 3 };

function initialModel() {
  if (initFile) return inv.models.IDM.load(initFile);
  if (values.init === 'small') return new inv.models.IDM(SMALL);
  const prior = values.prior ? inv.models.Unconditional.load(values.prior) : inv.models.Unconditional.pretrained();
  try {
    const model = inv.models.IDM.fromPrior(prior);
    if (values.init === 'prior') return model;
    const random = new inv.models.IDM(model.options);
    model.dispose();
    return random;
  } finally {
    prior.dispose();
  }
}

// A fine-tuned network keeps the training record of the file it started from, so its lineage stays readable.
function earlier(model) {
  const record = initFile && model.metadata['invdiff.trained'];
  return record ? { earlier: JSON.parse(record) } : {};
}

async function validationImages() {
  const dir = path.join(shared, 'Set14');
  if (!fs.existsSync(dir)) return undefined;
  const images = (await inv.io.readImageFolder(dir, { mode: 'y' })).slice(0, 6);
  return inv.cat(images.map((i) => i.image.narrow(2, 0, 128).narrow(3, 0, 128)), { dim: 0 });
}

// One child per ratio, at most --jobs at a time; each child trains a single ratio on one thread.
async function parallel(ratios) {
  const pending = [...ratios];
  let failed = 0;
  const worker = async () => {
    for (let ratio; (ratio = pending.shift()) !== undefined; ) {
      const args = [__filename, '--ratios', ratio, '--steps', values.steps, '--out', values.out, '--seed', values.seed, '--init', values.init, '--task', values.task,
        '--validate-every', values['validate-every'], '--crop', values.crop, '--batch', values.batch, ...(values.prior ? ['--prior', values.prior] : []), ...(values.lr ? ['--lr', values.lr] : []),
        ...(values.data ? ['--data', values.data] : []), ...(values.resume ? ['--resume'] : [])];
      const code = await new Promise((done) => {
        const child = spawn(process.execPath, args, { env: { ...process.env, INVDIFF_NUM_THREADS: '1' }, stdio: ['ignore', 'pipe', 'inherit'] });
        child.stdout.on('data', (d) => process.stdout.write(String(d).replace(/^(?=.)/gm, `[${ratio}%] `)));
        child.on('exit', done);
      });
      if (code !== 0) failed++;
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Number(values.jobs)) }, worker));
  process.exit(failed ? 1 : 0);
}

(async () => {
  fs.mkdirSync(values.out, { recursive: true });
  const ratios = values.ratios.split(',');
  if (ratios.length > 1) return parallel(ratios);
  const seed = Number(values.seed);
  for (const ratio of values.ratios.split(',').map(Number)) {
    const data = dataDir
      ? await inv.ImageDataset.fromFolder(dataDir, { crop, batch, seed, mode: 'y' })
      : inv.ImageDataset.deadLeaves({ count: 64, size: Math.max(128, crop), imageSeed: 1000, crop, batch, seed });
    inv.manualSeed(seed); // the initial weights: LibTorch seeds its global generator afresh in every process
    const model = initialModel();
    if (!(ratio > 0 && ratio < 100)) throw new Error(`--ratios must hold percentages in (0, 100), got '${ratio}'`);
    const operator = task.operator(ratio);
    const name = prefix + task.name(ratio);
    const steps = Number(values.steps);
    // Fine-tuning a prior takes a smaller rate than training from scratch.
    const lr = Number(values.lr ?? (values.init === 'prior' || initFile ? 1e-4 : 1e-3));
    if (!(lr > 0)) throw new Error(`--lr must be a positive number, got '${values.lr}'`);
    const validation = await validationImages();
    const started = Date.now();
    const result = await inv.training.trainIDM({
      model, data, operator, steps, lr, milestones: [Math.round(steps * 0.6), Math.round(steps * 0.85)], seed,
      validation, validateEvery: Number(values['validate-every']),
      checkpoint: path.join(values.out, `${name}.checkpoint.safetensors`), checkpointEvery: 100, resume: values.resume,
      handleInterrupt: true, progress: false,
      onStep: ({ step, loss, imagesPerSecond, etaSeconds }) => {
        if (step % 250 === 0) console.log(`step ${step}/${steps} loss ${loss.toFixed(4)} ${imagesPerSecond.toFixed(1)} img/s, ${Math.round(etaSeconds / 60)} min left`);
      },
    });
    const file = path.join(values.out, `${name}.safetensors`);
    const validated = result.validation.map((v) => [v.step, Number(v.psnr.toFixed(2))]);
    // The prior-sized networks are stored as float16, half the size (as the prior is); the small ones as trained.
    model.save(file, { 'invdiff.trained': JSON.stringify({ operator, init: initFile ? path.basename(initFile) : values.init, steps: result.step, seconds: Math.round((Date.now() - started) / 1000), data: dataDir ? path.basename(dataDir) : 'dead-leaves', crop, batch, seed, lr, validation: validated, ...earlier(model) }) },
      values.init === 'small' ? {} : { dtype: 'float16' });
    for (const [step, psnr] of validated) console.log(`  validation (Set14 crops) at step ${step}: ${psnr} dB`);
    inv.models.writeCard(file, { name, trainedFor: [operator], data: dataDir ? path.basename(dataDir) : 'dead-leaves', steps: result.step });
    console.log(`${name}: ${result.step} steps in ${((Date.now() - started) / 60000).toFixed(1)} min, final loss ${result.losses.at(-1).toFixed(4)} -> ${file}`);
    if (fs.existsSync(path.join(shared, 'Set11'))) {
      const set11 = inv.cat((await inv.io.readImageFolder(path.join(shared, 'Set11'), { mode: 'y' })).map((i) => i.image).filter((t) => t.shape[2] === 256), { dim: 0 });
      const { restored, baseline, seconds } = inv.restoreImages(model, set11, operator);
      console.log(`  Set11 (${set11.shape[0]} images of 256²): IDM ${inv.metrics.psnr(restored, set11).toFixed(2)} dB, A⁺y ${inv.metrics.psnr(baseline, set11).toFixed(2)} dB, ${(seconds / set11.shape[0]).toFixed(2)} s/image`);
    }
    if (result.interrupted) process.exit(130);
    data.dispose();
  }
})().catch((e) => fail(e.message));
