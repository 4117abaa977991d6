'use strict';
// InvFussion and the HDiT variants of Unconditional and Palette: presets, EDM preconditioning, the measurement
// reaching every level (per-sample operators, batch permutation, ỹ = 0 without one), the network A⁺, checked
// errors, save/load, samplers and MMSE, EDM2 training with the learned log-variance.
const test = require('tape');
const fs = require('fs');
const os = require('os');
const path = require('path');
const inv = require('..');

// Two levels on 16×16 images: 8×8 tokens with a 3×3 window, then 4×4 with global attention; FD at both (K = 4, 2).
const TINY = { widths: [16, 32], depths: [1, 1], kernelSizes: [3, 0], headDim: 8, mappingWidth: 16, mappingHidden: 32 };

function perturb(model, seed, scale = 0.2) {
  inv.scope(() =>
    model.loadStateDict(
      model.namedParameters().map(([name, p], i) => [name, name.endsWith('layer.scale') ? p : p.add(inv.randn(p.shape, { seed: seed + i, dtype: p.dtype }).mul(scale))]),
    ),
  );
  return model;
}
const maxDiff = (a, b) => inv.scope(() => a.sub(b).abs().max().item());
const count = (model) => inv.scope(() => model.parameters().reduce((n, p) => n + p.shape.reduce((a, b) => a * b, 1), 0));

// Per-sample masks given as a tensor, so the same operators can be rebuilt in another order.
function masks(n, seed, size = 16) {
  return inv.scope(() => inv.keep(inv.rand([n, size, size], { seed }).lt(0.4).to({ dtype: 'float32' })));
}

test('presets: cpu32 and ffhq64 build; fresh networks output c_skip·x', (t) => {
  inv.scope(() => {
    const cpu32 = new inv.models.InvFussion();
    t.equal(cpu32.sizeMultiple, 4, 'cpu32: patch 2, two levels');
    t.equal(cpu32.imageChannels, 1);
    t.deepEqual(cpu32.imageShape, [1, 32, 32], 'cpu32 is built for 32×32 grayscale');
    t.deepEqual(new inv.models.Palette({ architecture: 'hdit', imageSize: 48 }).imageShape, [1, 48, 48], 'imageSize overrides the preset');
    t.deepEqual(new inv.models.Unconditional().imageShape, [1, 64, 64], 'the U-Net is built for its 64² training crops');
    const n = count(cpu32);
    t.ok(n > 2e6 && n < 4e6, `cpu32 InvFussion has ${(n / 1e6).toFixed(2)}M parameters`);
    const prior = new inv.models.Unconditional({ architecture: 'hdit' });
    t.ok(count(prior) < n, 'the unconditional HDiT lacks the FD and joint weights');
    const x = inv.randn([2, 1, 32, 32], { seed: 1 });
    const sigma = 0.7;
    t.ok(maxDiff(cpu32.denoise(x, sigma), x.mul(0.25 / (sigma * sigma + 0.25))) < 1e-6, 'zero-initialised outputs: D = c_skip·x');
    t.deepEqual(Array.from(cpu32.logVariance(inv.tensor([0.1, 1, 100], [3])).toArray()), [0, 0, 0], 'u(σ) starts at 0');
    t.throws(() => new inv.models.Unconditional().logVariance(inv.tensor([1], [1])), /no learned loss weighting/, 'the U-Net has no u(σ)');
  });
  inv.scope(() => {
    const ffhq = new inv.models.InvFussion({ preset: 'ffhq64' });
    t.equal(ffhq.imageChannels, 3, 'ffhq64: RGB');
    t.deepEqual(ffhq.imageShape, [3, 64, 64], 'ffhq64 is built for 64×64 RGB');
    const A = inv.operators.create('matrix', { imageShape: [3, 64, 64], seed: 2 });
    const x = inv.randn([1, 3, 64, 64], { seed: 3 });
    const d = ffhq.denoise(x, 1, { operator: A, y: A.forward(x) });
    t.deepEqual(d.shape, [1, 3, 64, 64], 'ffhq64 runs a forward with a matrix operator on 64×64 RGB');
    t.comment(`ffhq64 InvFussion: ${(count(ffhq) / 1e6).toFixed(1)}M parameters`);
    A.dispose();
  });
  t.end();
});

test('InvFussion sees the operator: per-sample operators, batch permutation, ỹ = 0 without a measurement', (t) => {
  inv.scope(() => {
    const model = perturb(new inv.models.InvFussion(TINY), 10);
    const x = inv.deadLeaves({ count: 3, size: 16, seed: 4 }).mul(2).sub(1);
    const m = masks(3, 5);
    const A = inv.operators.create('inpainting', { imageShape: [1, 16, 16], batch: 3, mask: m });
    const y = A.forward(x);
    const sigma = inv.tensor([0.3, 1.5, 6], [3]);
    const together = model.denoise(x, sigma, { operator: A, y });
    const alone = [0, 1, 2].map((b) => {
      const one = inv.operators.create('inpainting', { imageShape: [1, 16, 16], mask: m.narrow(0, b, 1) });
      return model.denoise(x.narrow(0, b, 1), sigma.narrow(0, b, 1), { operator: one, y: y.narrow(0, b, 1) });
    });
    t.ok(maxDiff(together, inv.cat(alone, { dim: 0 })) < 1e-4, 'a batch of per-sample operators equals each sample with its own operator');
    const order = inv.tensor([2, 0, 1], [3], { dtype: 'int64' });
    const P = inv.operators.create('inpainting', { imageShape: [1, 16, 16], batch: 3, mask: m.indexSelect(0, order) });
    const permuted = model.denoise(x.indexSelect(0, order), sigma.indexSelect(0, order), { operator: P, y: y.indexSelect(0, order) });
    t.ok(maxDiff(permuted, together.indexSelect(0, order)) < 1e-4, 'the network permutes with the batch');
    const other = inv.operators.create('inpainting', { imageShape: [1, 16, 16], batch: 3, mask: masks(3, 6) });
    t.ok(maxDiff(model.denoise(x, sigma, { operator: other, y: other.forward(x) }), together) > 1e-3, 'another operator gives another result');
    const none = inv.operators.create('none', { imageShape: [1, 16, 16] });
    const blank = model.denoise(x, sigma, { operator: none, y: none.forward(x) });
    t.ok(maxDiff(model.denoise(x, sigma), blank) < 1e-6, "no measurement is the 'none' operator: A⁺y = 0 and ỹ = 0 at every layer");
    t.ok(maxDiff(blank, together) > 1e-3, 'and differs from a measured call');
    t.throws(() => model.denoise(x, sigma, { operator: A }), /'operator' and 'y'/, 'an operator without y is refused');
    t.throws(() => model.denoise(x, sigma, { operator: A, y: y.narrow(0, 0, 2) }), /2 measurements for 3 images/);
    const wrong = inv.operators.create('inpainting', { imageShape: [1, 8, 8] });
    t.throws(() => model.denoise(x, sigma, { operator: wrong, y: wrong.forward(inv.zeros([3, 1, 8, 8])) }), /built for images \[1, 8, 8\]/);
  });
  t.end();
});

test('HDiT Palette reads A⁺y only; the three conditionings share one code path', (t) => {
  inv.scope(() => {
    const palette = perturb(new inv.models.Palette({ architecture: 'hdit', ...TINY }), 20);
    const x = inv.deadLeaves({ count: 2, size: 16, seed: 7 }).mul(2).sub(1);
    const A = inv.operators.create('matrix', { imageShape: [1, 16, 16], batch: 2, seed: 8 });
    const y = A.forward(x);
    t.deepEqual(palette.denoise(x, 1, { operator: A, y }).shape, [2, 1, 16, 16]);
    t.throws(() => palette.denoise(x, 1), /needs 'operator' and 'y'/, 'Palette needs the measurement');
    // Palette sees A⁺y and nothing else: a different operator with the same A⁺y gives the same output.
    const pinvY = A.networkPinv(y);
    const denoising = inv.operators.create('denoising', { imageShape: [1, 16, 16] });
    t.ok(maxDiff(palette.denoise(x, 1, { operator: A, y }), palette.denoise(x, 1, { operator: denoising, y: pinvY })) < 1e-5, 'Palette depends on the measurement only through A⁺y');
    const names = (m) => inv.scope(() => m.namedParameters().map(([n]) => n));
    const fussion = names(new inv.models.InvFussion(TINY));
    const pal = names(palette);
    t.ok(pal.every((n) => fussion.includes(n)), "every Palette weight has InvFussion's name: they differ only in the FD and joint parts");
    t.ok(fussion.some((n) => n.includes('.fd.mix')) && fussion.some((n) => n.includes('joint_k_proj')), 'InvFussion adds FD maps and joint keys');
  });
  t.end();
});

test('network A⁺: closed form, capped gain, refused when built for CG; given blur kernels', (t) => {
  inv.scope(() => {
    const blur = inv.operators.create('blur', { imageShape: [1, 16, 16], kernel: 'gaussian', sigma: 3, pinvThreshold: 0 });
    const y = inv.randn([1, 1, 16, 16], { seed: 9 });
    const norm = (v) => v.square().sum().sqrt().item();
    const exact = norm(blur.pinv(y)) / norm(y), capped = norm(blur.networkPinv(y)) / norm(y);
    t.ok(exact > 100 && capped <= 100, `a wide Gaussian's A⁺ gains ${exact.toExponential(1)}, the network's ${capped.toFixed(1)} (at most 100)`);
    const strided = inv.operators.create('stridedBlur', { imageShape: [1, 16, 16], stride: 2, seed: 1 });
    const ys = strided.forward(inv.randn([1, 1, 16, 16], { seed: 10 }));
    t.ok(strided.networkPinv(ys).isfinite().all(), 'strided blur has a network A⁺');
    t.equal(strided.networkPinv(ys.to({ dtype: 'float16' })).dtype, 'float16', 'half precision in, half out (float32 inside)');
    const cg = inv.operators.create('ct', { imageShape: [1, 16, 16], views: 8, pinv: 'cg' });
    t.throws(() => cg.networkPinv(inv.zeros([1, ...cg.measurementShape])), /ct: this operator was built with pinv: 'cg'.*pinv: 'closed'/, 'a CG A⁺ is refused inside a network, naming the family');
    const model = new inv.models.InvFussion(TINY);
    const cg16 = inv.operators.create('blur', { imageShape: [1, 16, 16], pinv: 'cg' });
    t.throws(() => model.denoise(inv.zeros([1, 1, 16, 16]), 1, { operator: cg16, y: inv.zeros([1, 1, 16, 16]) }), /blur: this operator was built with pinv: 'cg'/);
    // A Gaussian given as a tensor equals the built-in one of the same size and σ.
    const g = inv.tensor([-2, -1, 0, 1, 2].map((r) => Math.exp(-(r * r) / 2)), [5]);
    const kernel = g.reshape([5, 1]).mul(g.reshape([1, 5]));
    const given = inv.operators.create('blur', { imageShape: [1, 16, 16], kernel: kernel.div(kernel.sum()) });
    const builtin = inv.operators.create('blur', { imageShape: [1, 16, 16], kernel: 'gaussian', sigma: 1, kernelSize: 5 });
    t.ok(maxDiff(given.forward(y), builtin.forward(y)) < 1e-6, 'a kernel tensor gives the same blur as the built-in Gaussian');
    const two = inv.operators.create('stridedBlur', { imageShape: [1, 16, 16], stride: 2, batch: 2, kernel: inv.stack([kernel, kernel.transpose(0, 1).add(inv.eye(5))], { dim: 0 }) });
    const yy = two.forward(inv.cat([y, y], { dim: 0 }));
    t.ok(maxDiff(yy.narrow(0, 0, 1), yy.narrow(0, 1, 1)) > 1e-3, 'per-sample kernel tensors for strided blur');
    t.throws(() => inv.operators.create('blur', { imageShape: [1, 16, 16], kernel: inv.ones([17, 17]) }), /option 'kernel' as a tensor must be k×k or B×k×k with k <= min\(H, W\) = 16/);
  });
  t.end();
});

test('checked options, save and load, samplers and MMSE', async (t) => {
  t.throws(() => new inv.models.InvFussion({ ...TINY, featureDegradation: [1, 1], widths: [16, 24] }), /level 1, whose width 24 is not a multiple of \(patch·2\^level\)²·imageChannels = 16/);
  t.throws(() => new inv.models.InvFussion({ preset: 'ffhq256' }), /option 'preset' must be 'cpu32' or 'ffhq64'/);
  t.throws(() => new inv.models.Unconditional({ architecture: 'dit' }), /option 'architecture' must be 'unet' or 'hdit'/);
  t.throws(() => new inv.models.InvFussion({ ...TINY, kernelSizes: [4, 0] }), /odd neighbourhood windows, or 0 for global/);
  t.throws(() => new inv.models.InvFussion({ ...TINY, widhts: [8] }), /widhts/, 'a misspelt option is an error naming it');
  t.throws(() => new inv.models.InvFussion({ ...TINY, headDim: 12 }), /head dimension must be a multiple of 8/);
  t.throws(() => new inv.models.InvFussion({ imageSize: 30 }), /option 'imageSize' must be a positive multiple of 4, got 30/);
  t.throws(() => new inv.models.Unconditional({ imageSize: 0 }), /option 'imageSize' must be a positive multiple of 8, got 0/);
  await inv.scopeAsync(async () => {
    const model = perturb(new inv.models.InvFussion(TINY), 30);
    const x = inv.deadLeaves({ count: 2, size: 16, seed: 11 }).mul(2).sub(1);
    const A = inv.operators.create('stridedBlur', { imageShape: [1, 16, 16], stride: 4, batch: 2, seed: 12 });
    const y = A.forward(x);
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'invfussion-')), 'm.safetensors');
    model.save(file);
    const loaded = inv.models.load(file);
    t.ok(loaded instanceof inv.models.InvFussion, 'models.load rebuilds an InvFussion');
    t.deepEqual(loaded.imageShape, model.imageShape, 'and its imageShape');
    t.equal(maxDiff(loaded.denoise(x, 0.5, { operator: A, y }), model.denoise(x, 0.5, { operator: A, y })), 0, 'a loaded model gives the same output');
    const mmse = model.mmse(A, y, { seed: 3 });
    t.equal(maxDiff(mmse, await model.mmseAsync(A, y, { seed: 3 })), 0, 'MMSE in one call, sync and async alike');
    // project: onto {x : A x = y} by CG, although strided blur's own A⁺ is an approximation.
    const residual = (r) => A.forward(r).sub(y).norm().item() / y.norm().item();
    const projected = model.mmse(A, y, { seed: 3, project: true });
    t.ok(residual(mmse) > 1e-2 && residual(projected) < 1e-4, `MMSE projected: relative residual ${residual(mmse).toExponential(1)} → ${residual(projected).toExponential(1)}`);
    t.ok(residual(A.project(mmse, y)) > 10 * residual(projected), `strided blur's closed-form projection is not exact (${residual(A.project(mmse, y)).toExponential(1)}), the exact one is`);
    t.ok(projected.sub(x).norm().item() <= mmse.sub(x).norm().item(), 'noiseless: no further from the image');
    t.equal(maxDiff(projected, await model.mmseAsync(A, y, { seed: 3, project: true })), 0, 'and the same off the event loop');
    const noisy = inv.operators.create('stridedBlur', { imageShape: [1, 16, 16], stride: 4, batch: 2, seed: 12, noiseStd: 0.1 });
    t.throws(() => model.mmse(noisy, noisy.measure(x), { project: true }), /option 'project' needs a noiseless operator \(this one has noiseStd 0.1\)/);
    t.throws(() => model.mmse(A, y, { project: 1 }), /option 'project' must be a boolean/);
    t.throws(() => model.mmse(A, y, { projected: true }), /projected/, 'a misspelt option is named');
    t.throws(() => inv.mmseRestorer(model, { project: 'yes' }), /'project' must be a boolean/);
    t.equal(inv.mmseRestorer(model, { project: true }).label, 'MMSE (1 step) + projection');
    const heun = inv.samplers.heun(model, { shape: [2, 1, 16, 16], operator: A, y, steps: 3, seed: 2 });
    t.equal(heun.nfe, 5, 'Heun drives InvFussion as a posterior sampler');
    const prior = perturb(new inv.models.Unconditional({ architecture: 'hdit', ...TINY }), 31);
    const ddnm = inv.samplers.ddnm(prior, { operator: A, y, steps: 3, seed: 1 });
    t.deepEqual(ddnm.images.shape, [2, 1, 16, 16], 'the zero-shot samplers run on the HDiT prior');
  });
  t.end();
});

test('trainDiffusion: EDM2 weighting with u(σ), σ = 100 draws and a weighted degradation mixture', async (t) => {
  const data = inv.ImageDataset.deadLeaves({ count: 16, size: 32, imageSeed: 3, crop: 16, batch: 8, seed: 1 });
  inv.manualSeed(0);
  const model = new inv.models.InvFussion(TINY);
  const degradations = [{ family: 'matrix', minRows: 2, maxRows: 64 }, { family: 'stridedBlur', stride: 2 }, { family: 'inpainting', randomPatches: true }, { family: 'none' }];
  const result = await inv.training.trainDiffusion({
    model, data, steps: 40, lr: 3e-3, warmup: 5, rsqrtDecay: 20, degradations, degradationWeights: [1, 1, 1, 1], weighting: 'edm2', pMean: -0.8, pStd: 1.6,
    mmseShare: 0.1, emaHalfLife: 200, seed: 2,
  });
  const rejects = async (promise, pattern, message) => {
    try {
      await promise;
      t.fail(message);
    } catch (e) {
      t.match(e.message, pattern, message);
    }
  };
  const mean = (a) => a.reduce((s, v) => s + v, 0) / a.length;
  const first = mean(result.losses.slice(0, 10)), last = mean(result.losses.slice(-10));
  t.ok(last < first, `the EDM2 loss falls: ${first.toFixed(3)} over the first 10 steps, ${last.toFixed(3)} over the last 10`);
  t.equal(result.nonFiniteSteps, 0, 'no step had non-finite gradients');
  t.ok(inv.scope(() => model.logVariance(inv.tensor([0.05, 1, 100], [3])).abs().max().item()) > 0, 'u(σ) was learned');
  await rejects(inv.training.trainDiffusion({ model: new inv.models.Unconditional({ channels: 8, groups: 4, heads: 2, multipliers: [1, 2] }), data, steps: 1, weighting: 'edm2' }), /no learned loss weighting/, 'EDM2 weighting on a U-Net fails before training');
  await rejects(inv.training.trainDiffusion({ model, data, steps: 1, degradations, degradationWeights: [1] }), /one non-negative weight per degradation \(4\)/, 'one weight per degradation');
  await rejects(inv.training.trainDiffusion({ model, data, steps: 1, degradations, mmseShare: 1 }), /'mmseShare' must lie in \[0, 1\)/, 'mmseShare is checked');
  await rejects(inv.training.trainDiffusion({ model, data, steps: 1 }), /needs option 'degradations'/, 'a conditional model needs degradations');
  t.end();
});

test('runTraining zeroes gradients that are NaN, infinite, or too large to square, and counts those steps', async (t) => {
  const data = inv.ImageDataset.deadLeaves({ count: 4, size: 16, imageSeed: 5, crop: 8, batch: 2, seed: 1 });
  for (const [scale, label] of [[1e25, 'a finite gradient of ~1e25 (its square overflows float32)'], [1, 'an ordinary gradient']]) {
    inv.manualSeed(3);
    const model = new inv.Module('linear', { inFeatures: 8, outFeatures: 1 });
    const before = inv.scope(() => inv.keep(model.parameters()[0].clone()));
    const optimizer = new inv.optim.Adam(model.parameters(), { lr: 0.1 });
    const result = await inv.training.runTraining({ model, optimizer, data, steps: 3, lr: 0.1, ema: 0, loss: (x) => model.call(x.reshape([-1, 8])).sum().mul(scale) });
    optimizer.dispose();
    const moved = inv.scope(() => model.parameters()[0].sub(before).abs().max().item());
    if (scale > 1) {
      t.equal(result.nonFiniteSteps, 3, `${label}: every step counted`);
      t.equal(moved, 0, `${label}: zeroed, so Adam's moments stay finite and the weights do not move`);
    } else {
      t.equal(result.nonFiniteSteps, 0, `${label}: no step counted`);
      t.ok(moved > 0, `${label}: the weights move`);
    }
  }
  t.end();
});
