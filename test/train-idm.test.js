'use strict';
// trainIDM: a short run on real patches improves Set11 PSNR; a resumed run equals an uninterrupted one bit
// for bit; Ctrl-C leaves a loadable checkpoint.
const test = require('tape');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawn } = require('child_process');
const inv = require('..');

const shared = path.resolve(__dirname, '..', '..', 'shared', 'data');
const haveData = fs.existsSync(path.join(shared, 'Train400')) && fs.existsSync(path.join(shared, 'Set11'));

test('trainIDM: a short run on 64×64 Train400 patches (10% block CS) gains at least 3 dB on Set11', { skip: !haveData }, async (t) => {
  const data = await inv.ImageDataset.fromFolder(path.join(shared, 'Train400'), { crop: 64, batch: 4, seed: 1, mode: 'y' });
  // Centre 128×128 crops of Set11 keep the check quick.
  const set11 = (await inv.io.readImageFolder(path.join(shared, 'Set11'), { mode: 'y' })).map(({ image }) => {
    const [h, w] = image.shape.slice(2);
    return image.narrow(2, (h - 128) >> 1, 128).narrow(3, (w - 128) >> 1, 128);
  });
  const val = inv.cat(set11, { dim: 0 });
  // One thread: faster for this small network, and reductions then sum in a fixed order.
  const threads = inv.backend().threads;
  inv.setNumThreads(1);
  // LibTorch seeds its global generator afresh in every process; the initial weights come from it, and
  // unseeded they made this gain vary from run to run (2.9–4.6 dB).
  inv.manualSeed(5);
  const model = new inv.models.IDM({ channels: 16, blocks: 1, heads: 2 });
  const operator = { family: 'blockCS', ratio: 0.1 };
  const before = inv.restoreImages(model, val, operator);
  const start = inv.metrics.psnr(before.restored, val);
  const result = await inv.training.trainIDM({ model, data, operator, steps: 120, lr: 1e-3, ema: 0, seed: 2, progress: false });
  const after = inv.restoreImages(model, val, operator);
  const end = inv.metrics.psnr(after.restored, val);
  t.comment(`Set11 (128² centres) PSNR ${start.toFixed(2)} → ${end.toFixed(2)} dB in ${result.seconds.toFixed(0)} s; A⁺y ${inv.metrics.psnr(before.baseline, val).toFixed(2)} dB`);
  t.equal(result.step, 120, 'all steps ran');
  t.ok(end - start >= 3, `PSNR improves by at least 3 dB (${(end - start).toFixed(2)})`);
  const early = result.losses.slice(0, 10).reduce((a, b) => a + b) / 10;
  const late = result.losses.slice(-10).reduce((a, b) => a + b) / 10;
  t.ok(late < early, `the loss falls (${early.toFixed(3)} → ${late.toFixed(3)})`);
  data.dispose();
  inv.setNumThreads(threads);
  t.end();
});

function tinySetup() {
  const images = inv.deadLeaves({ count: 6, size: 32, seed: 3 });
  const list = Array.from({ length: 6 }, (_, i) => images.narrow(0, i, 1));
  const data = new inv.ImageDataset(list, { crop: 16, batch: 2, seed: 5 });
  const model = new inv.models.IDM({ channels: 8, groups: 4, heads: 2, blocks: 1, steps: 2 }).to({ dtype: 'float64' });
  return { data, model };
}

test('trainIDM: validation measures every run with the same operators, whatever its training seed', async (t) => {
  const validation = inv.deadLeaves({ count: 3, size: 16, seed: 9 });
  const operator = { family: 'blockCS', ratio: 0.25, blockSize: 8 }; // scrambled: the seed draws the permutation
  inv.manualSeed(1);
  const reference = tinySetup().model;
  const { restored } = inv.restoreImages(reference, validation, operator, { seed: 0 });
  const expected = inv.metrics.psnr(restored, validation);
  const { restored: other } = inv.restoreImages(reference, validation, operator, { seed: 7 });
  t.notEqual(inv.metrics.psnr(other, validation), expected, 'the operator seed changes the PSNR of the same weights');
  for (const seed of [0, 7]) {
    inv.manualSeed(1); // the same initial weights
    const { data, model } = tinySetup();
    const result = await inv.training.trainIDM({ model, data, operator, steps: 1, seed, lr: 1e-3, progress: false, validation, validateEvery: 1 });
    t.equal(result.validation[0].psnr, expected, `training seed ${seed}: the step-0 PSNR is that of image i measured with seed i`);
  }
  t.end();
});

test('trainIDM: resuming from a checkpoint equals the uninterrupted run, bit for bit (float64)', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'resume-'));
  const validation = inv.deadLeaves({ count: 2, size: 20, seed: 9 }); // not a multiple of 4: padded
  const common = { operator: { family: 'blockCS', ratio: 0.25, blockSize: 8 }, lr: 1e-3, milestones: [3], seed: 4, progress: false, validation, validateEvery: 2 };
  const straight = tinySetup();
  const initial = straight.model.namedParameters().map(([n, p]) => [n, inv.keep(p.clone())]);
  const full = await inv.training.trainIDM({ ...common, ...straight, steps: 5, ema: 0.9 });

  const ckpt = path.join(dir, 'run.safetensors');
  const first = tinySetup();
  first.model.loadStateDict(initial);
  await inv.training.trainIDM({ ...common, ...first, steps: 2, ema: 0.9, checkpoint: ckpt });
  const second = tinySetup(); // fresh objects, as in a new process
  const resumed = await inv.training.trainIDM({ ...common, ...second, steps: 5, ema: 0.9, checkpoint: ckpt, resume: true });

  t.deepEqual(resumed.losses, full.losses, 'the same loss at every step');
  t.deepEqual(resumed.validation.map((v) => v.step), [0, 2, 4, 5], 'validation ran at the start, every 2 steps and at the end');
  t.deepEqual(resumed.validation, full.validation, 'with the same PSNRs');
  let worst = 0;
  const a = straight.model.namedParameters();
  const b = second.model.namedParameters();
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, a[i][1].sub(b[i][1]).abs().max().item());
  t.equal(worst, 0, `the same (EMA) weights after 5 steps, over ${a.length} tensors`);
  const { weights } = inv.training.checkpointWeights(ckpt, 'model');
  t.equal(weights.length, a.length, 'checkpointWeights reads the model back');
  fs.rmSync(dir, { recursive: true });
  t.end();
});

test('trainIDM: Ctrl-C (SIGINT) saves a loadable checkpoint and exits cleanly', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sigint-'));
  const ckpt = path.join(dir, 'run.safetensors');
  const script = `
    const inv = require(${JSON.stringify(path.resolve(__dirname, '..'))});
    const images = inv.deadLeaves({ count: 4, size: 32, seed: 3 });
    const data = new inv.ImageDataset(Array.from({ length: 4 }, (_, i) => images.narrow(0, i, 1)), { crop: 16, batch: 2 });
    const model = new inv.models.IDM({ channels: 8, groups: 4, heads: 2, blocks: 1, steps: 2 });
    inv.training.trainIDM({ model, data, operator: { family: 'inpainting', keep: 0.5 }, steps: 100000, checkpoint: ${JSON.stringify(ckpt)},
      handleInterrupt: true, progress: false, onStep: ({ step }) => { if (step === 2) console.log('running'); } })
      .then((r) => { console.log('stopped', r.step, r.interrupted); });
  `;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => {
    out += d;
    if (out.includes('running') && !child.signalled) {
      child.signalled = true;
      child.kill('SIGINT');
    }
  });
  child.on('exit', (code) => {
    t.equal(code, 0, 'the process exits normally');
    const m = /stopped (\d+) true/.exec(out);
    t.ok(m, `training reports it was interrupted (${out.trim().split('\n').pop()})`);
    const { weights, metadata } = inv.training.checkpointWeights(ckpt);
    const meta = JSON.parse(metadata['invdiff.checkpoint']);
    t.equal(meta.step, Number(m && m[1]), 'the checkpoint holds the step reached');
    const model = new inv.models.IDM(JSON.parse(metadata['invdiff.options']));
    model.loadStateDict(weights);
    t.pass('its weights load into a model');
    fs.rmSync(dir, { recursive: true });
    t.end();
  });
});
