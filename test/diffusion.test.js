'use strict';
// Unconditional and Palette denoisers: EDM preconditioning, per-image σ, conditioning on A⁺y, save/load,
// checked errors; trainDiffusion learns, resumes bit for bit, and the models drive the samplers.
const test = require('tape');
const fs = require('fs');
const os = require('os');
const path = require('path');
const inv = require('..');

const TINY = { channels: 8, groups: 4, heads: 2, multipliers: [1, 2] };

function perturb(model, seed, scale = 0.05) {
  inv.scope(() =>
    model.loadStateDict(model.namedParameters().map(([name, p], i) => [name, p.add(inv.randn(p.shape, { seed: seed + i, dtype: p.dtype }).mul(scale))])),
  );
  return model;
}
const maxDiff = (a, b) => inv.scope(() => a.sub(b).abs().max().item());

test('Unconditional: EDM preconditioning, per-image σ, float64, save and load', (t) => {
  inv.scope(() => {
    const model = new inv.models.Unconditional(TINY);
    t.equal(model.sizeMultiple, 4, 'patch 2 and two levels: multiples of 4');
    const x = inv.deadLeaves({ count: 2, size: 16, seed: 1 });
    // A fresh network's last layer is zero, so D(x; σ) = c_skip·x = σ_d²/(σ² + σ_d²)·x exactly.
    const sigma = 0.7;
    t.ok(maxDiff(model.denoise(x, sigma), x.mul(0.25 / (sigma * sigma + 0.25))) < 1e-7, 'untrained: D = c_skip·x');
    perturb(model, 10);
    const both = model.denoise(x, inv.tensor([0.3, 2], [2]));
    const first = model.denoise(x.narrow(0, 0, 1), 0.3);
    const second = model.denoise(x.narrow(0, 1, 1), 2);
    t.ok(maxDiff(both, inv.cat([first, second], { dim: 0 })) < 1e-5, 'one σ per image equals separate calls');
    t.ok(maxDiff(model.denoise(x, 0.3), model.denoise(x, 0.31)) > 1e-4, 'the output depends on σ through the noise embedding');
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'uncond-')), 'm.safetensors');
    model.save(file);
    const loaded = inv.models.Unconditional.load(file);
    t.equal(maxDiff(loaded.denoise(x, 0.5), model.denoise(x, 0.5)), 0, 'a loaded model gives the same output');
    t.throws(() => inv.models.Palette.load(file), /holds a 'unconditional' module, not a 'palette' one/);
    const half = file.replace('.safetensors', '-f16.safetensors');
    model.save(half, {}, { dtype: 'float16' });
    t.ok(fs.statSync(half).size < 0.6 * fs.statSync(file).size, 'stored as float16: about half the file');
    const fromHalf = inv.models.load(half);
    t.equal(fromHalf.parameters()[0].dtype, 'float32', 'and loaded back as float32');
    const d = maxDiff(fromHalf.denoise(x, 0.5), model.denoise(x, 0.5));
    t.ok(d > 0 && d < 1e-2, `within float16 rounding of the original (max |diff| ${d.toExponential(1)})`);
    const m64 = new inv.models.Unconditional(TINY).to({ dtype: 'float64' });
    perturb(m64, 10);
    t.equal(m64.denoise(x.to({ dtype: 'float64' }), 0.5).dtype, 'float64', 'runs in float64');
  });
  t.end();
});

test('Palette: reads A⁺y; errors name the argument', (t) => {
  inv.scope(() => {
    const model = perturb(new inv.models.Palette(TINY), 20);
    const x = inv.deadLeaves({ count: 1, size: 16, seed: 2 });
    const A = inv.operators.create('inpainting', { imageShape: [1, 16, 16], seed: 3 });
    const y = A.forward(x);
    const noisy = x.add(inv.randn(x.shape, { seed: 4 }).mul(0.5));
    const d1 = model.denoise(noisy, 0.5, { operator: A, y });
    const d2 = model.denoise(noisy, 0.5, { operator: A, y: y.mul(0.5) });
    t.ok(maxDiff(d1, d2) > 1e-4, 'the output depends on y');
    t.throws(() => model.denoise(noisy, 0.5), /needs 'operator' and 'y'/, 'no measurement: a clear error');
    const u = new inv.models.Unconditional(TINY);
    t.throws(() => u.denoise(noisy, -1), /'sigma' must be a positive finite number/);
    t.throws(() => u.denoise(noisy, inv.tensor([0.1, 0.2, 0.3], [3])), /one value or one per image/);
    t.throws(() => u.denoise(inv.randn([1, 1, 18, 18]), 1), /multiples of 4/);
    t.throws(() => u.denoise(inv.randn([1, 3, 16, 16]), 1), /N×1×H×W/);
    t.throws(() => new inv.models.Unconditional({ width: 3 }), /unknown option 'width'/);
    t.throws(() => new inv.models.Unconditional({ channels: 12, groups: 8 }), /'groups' must divide/);
    t.throws(() => new inv.models.Unconditional({ attention: [true] }), /one 0\/1 flag per level \(3\)/);
    A.dispose();
  });
  t.end();
});

test('trainDiffusion: the denoiser learns (loss falls, denoising PSNR rises)', async (t) => {
  const threads = inv.backend().threads;
  inv.setNumThreads(1);
  const images = inv.deadLeaves({ count: 16, size: 32, seed: 30 });
  const data = new inv.ImageDataset(Array.from({ length: 16 }, (_, i) => images.narrow(0, i, 1)), { crop: 16, batch: 8, seed: 1 });
  const validation = inv.deadLeaves({ count: 4, size: 16, seed: 99 });
  inv.manualSeed(5); // the initial weights: LibTorch seeds its global generator afresh in every process
  const model = new inv.models.Unconditional({ ...TINY, patch: 1 }); // full resolution learns fastest at this size
  const sigma = 0.2;
  const measure = () => inv.noGrad(() => inv.scope(() => inv.metrics.psnr(model.denoise(validation.add(inv.randn(validation.shape, { seed: 7 }).mul(sigma)), sigma), validation)));
  const start = measure();
  const result = await inv.training.trainDiffusion({ model, data, steps: 300, lr: 2e-3, ema: 0, pMean: Math.log(sigma), pStd: 0.5, seed: 3, progress: false });
  const end = measure();
  const early = result.losses.slice(0, 20).reduce((a, b) => a + b) / 20;
  const late = result.losses.slice(-20).reduce((a, b) => a + b) / 20;
  t.ok(late < 0.8 * early, `the loss falls by 20% or more (${early.toFixed(3)} → ${late.toFixed(3)})`);
  t.ok(end - start >= 1, `denoising PSNR at σ = ${sigma} rises by at least 1 dB (${start.toFixed(2)} → ${end.toFixed(2)} dB, ${result.seconds.toFixed(1)} s)`);
  inv.setNumThreads(threads);
  data.dispose();
  t.end();
});

test('trainDiffusion: Palette over two degradations; resume equals the uninterrupted run bit for bit (float64)', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'diffusion-resume-'));
  const images = inv.deadLeaves({ count: 6, size: 24, seed: 5 });
  const initial = new inv.models.Palette(TINY).to({ dtype: 'float64' });
  // Every run starts from the same initial weights.
  const setup = () => {
    const model = new inv.models.Palette(TINY).to({ dtype: 'float64' });
    model.loadStateDict(initial.namedParameters());
    return { data: new inv.ImageDataset(Array.from({ length: 6 }, (_, i) => images.narrow(0, i, 1)), { crop: 16, batch: 2, seed: 5 }), model };
  };
  const degradations = [{ family: 'inpainting' }, { family: 'blockCS', ratio: 0.25, blockSize: 8 }];
  const common = { degradations, lr: 1e-3, milestones: [3], seed: 4, progress: false, ema: 0.9, validation: inv.deadLeaves({ count: 1, size: 20, seed: 8 }), validateEvery: 2 };
  const straight = setup();
  const full = await inv.training.trainDiffusion({ ...common, ...straight, steps: 6 });
  const ckpt = path.join(dir, 'run.safetensors');
  const first = setup();
  await inv.training.trainDiffusion({ ...common, ...first, steps: 4, checkpoint: ckpt });
  const second = setup();
  const resumed = await inv.training.trainDiffusion({ ...common, ...second, steps: 6, checkpoint: ckpt, resume: true });
  t.deepEqual(resumed.losses, full.losses, 'the same losses at every step');
  t.deepEqual(resumed.validation, full.validation, 'the same validation PSNRs (one-step MMSE)');
  const a = straight.model.namedParameters();
  const b = second.model.namedParameters();
  t.ok(a.every(([n, p], i) => b[i][0] === n && maxDiff(p, b[i][1]) === 0), 'the same EMA weights, bit for bit');
  const rejects = async (options, pattern) => {
    const error = await inv.training.trainDiffusion(options).then(() => null, (e) => e);
    t.ok(error && pattern.test(error.message), `rejects: ${error?.message}`);
  };
  await rejects({ ...common, ...setup(), degradations: undefined, steps: 1 }, /needs option 'degradations'/);
  await rejects({ model: new inv.models.Unconditional(TINY), data: first.data, degradations, steps: 1 }, /applies to conditional models only/);
  await rejects({ model: new inv.models.IDM(), data: first.data, steps: 1 }, /expected an Unconditional, Palette or InvFussion model/);
  t.end();
});

test('the zero-shot samplers and MMSE run on a model', (t) => {
  return inv.scopeAsync(() => {
    const model = perturb(new inv.models.Unconditional(TINY), 40);
    const x = inv.deadLeaves({ count: 1, size: 16, seed: 6 });
    const A = inv.operators.create('inpainting', { imageShape: [1, 16, 16], seed: 7 });
    const y = A.forward(x);
    const { images, nfe, consistency } = inv.samplers.ddnm(model, { operator: A, y, steps: 4, seed: 1 });
    t.equal(nfe, 4, 'DDNM: one NFE per step');
    t.ok(consistency[0] < 1e-4, `DDNM's result is consistent with y (‖Ax − y‖ = ${consistency[0].toExponential(1)})`);
    t.deepEqual(images.shape, [1, 1, 16, 16]);
    const heun = inv.samplers.heun(model, { shape: [2, 1, 16, 16], steps: 3, seed: 2 });
    t.equal(heun.nfe, 5, 'Heun: 2N − 1 NFEs');
    const palette = perturb(new inv.models.Palette(TINY), 41);
    const m = palette.mmse(A, y, { seed: 3 });
    t.deepEqual(m.shape, [1, 1, 16, 16], 'Palette MMSE: one image per measurement');
    t.ok(maxDiff(m, palette.mmse(A, y, { seed: 3 })) === 0, 'MMSE is reproducible by seed');
    return palette.mmseAsync(A, y, { seed: 3 }).then((async) => {
      t.equal(maxDiff(async, m), 0, 'mmseAsync gives the same estimate off the event loop');
      A.dispose();
    });
  });
});

test('restoreImages and restoreImagesAsync agree for IDM, a sampler and MMSE; padding and A⁺y', async (t) => {
  const images = inv.deadLeaves({ count: 2, size: 18, seed: 12 }); // 18 is not a multiple of 4: padded
  const spec = { family: 'inpainting' };
  const idm = new inv.models.IDM({ channels: 8, groups: 4, heads: 2, blocks: 1, steps: 2 });
  const prior = perturb(new inv.models.Unconditional(TINY), 50);
  const palette = perturb(new inv.models.Palette(TINY), 51);
  // An IDM is its own method: restoreImages takes it directly.
  for (const method of [idm, inv.samplerRestorer('ddnm', prior, { steps: 3 }), inv.mmseRestorer(palette)]) {
    const label = method === idm ? 'IDM' : method.label;
    const sync = inv.restoreImages(method, images, spec, { seed: 4 });
    const async = await inv.restoreImagesAsync(method, images, spec, { seed: 4 });
    t.deepEqual(sync.restored.shape, [2, 1, 18, 18], `${label}: cropped back to the images' size`);
    t.equal(maxDiff(sync.restored, async.restored), 0, `${label}: the async twin gives the same images`);
    t.equal(maxDiff(sync.baseline, async.baseline), 0, `${label}: and the same A⁺y`);
    t.ok(sync.seconds > 0 && async.seconds > 0, `${label}: both are timed`);
  }
  const live = inv.memory().tensors;
  const again = await inv.restoreImagesAsync(inv.samplerRestorer('ddnm', prior, { steps: 2 }), images, spec);
  again.restored.dispose();
  again.baseline.dispose();
  t.equal(inv.memory().tensors, live, 'restoreImagesAsync leaves no tensors behind');
  t.throws(() => inv.restoreImages(idm, inv.ones([1, 8, 8]), spec), /'images' must be N×C×H×W/);
  t.end();
});
