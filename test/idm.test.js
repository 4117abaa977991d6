'use strict';
// IDM: the reversible model gives the same loss and gradients as the same network with stored activations,
// for several operator families; options are checked; checkpoints and SD-1.5 weights load by name.
const test = require('tape');
const fs = require('fs');
const os = require('os');
const path = require('path');
const inv = require('..');

const TINY = { channels: 8, groups: 4, heads: 2, multipliers: [1, 2], blocks: 2, attention: [true, true], steps: 3 };

// Every parameter moved off its initial value (several start at zero), the same for both models.
function perturbed(model, seed, scale = 0.05) {
  return inv.scope(() =>
    model.namedParameters().map(([name, p], i) => [name, inv.keep(p.add(inv.randn(p.shape, { seed: seed + i, dtype: p.dtype }).mul(scale)))]),
  );
}

function gradients(model, A, x, y) {
  for (const p of model.parameters()) p.zeroGrad();
  const yy = y.detach().requiresGrad_(true);
  const out = model.reconstruct(A, yy);
  const loss = out.sub(x).square().mean().add(out.sub(x).abs().mean());
  loss.backward();
  return { loss: loss.item(), grads: model.namedParameters().map(([n, p]) => [n, p.grad]), dy: yy.grad };
}

// Relative to the larger of the reference's magnitude and a floor: a few parameters have an exactly zero
// gradient in exact arithmetic (an injector bias that a GroupNorm with whole channel groups removes), so
// both sides hold rounding noise there.
function worstRelative(a, b, floor = 0) {
  const d = a.sub(b).abs().max().item();
  const s = Math.max(b.abs().max().item(), floor);
  return s === 0 ? d : d / s;
}

const FAMILIES = [
  ['blockCS', { ratio: 0.3, blockSize: 8 }],
  ['inpainting', { keep: 0.5 }],
  ['mri', { acceleration: 4 }],
];

// IDM.fromPrior's configuration of a small EDM U-Net: noise embedding, EDM preconditioning, SD's block skips,
// and injectors that map before shuffling (12 channels at 1/4 do not pixel-shuffle to the image).
const PRIOR = { channels: 6, groups: 2, heads: 2, multipliers: [1, 2], blocks: 1, attention: [true, true] };
const FROM_PRIOR = (() => {
  const prior = new inv.models.Unconditional(PRIOR);
  const idm = inv.models.IDM.fromPrior(prior);
  const options = { ...idm.options };
  idm.dispose();
  prior.dispose();
  return options;
})();
const CASES = [
  ...[['float64', 1e-8], ['float32', 1e-4]].flatMap(([dtype, tol]) => (dtype === 'float64' ? FAMILIES : FAMILIES.slice(0, 1)).map((f) => ['', TINY, dtype, tol, f])),
  ['from a prior, ', FROM_PRIOR, 'float64', 1e-8, FAMILIES[0]],
  // Steps that keep their graph from forward (the default keeps 2): none, and all three.
  ...[0, 3].map((keepSteps) => [`keepSteps ${keepSteps}, `, { ...TINY, keepSteps }, 'float64', 1e-8, FAMILIES[0]]),
];

for (const [label, config, dtype, tol, [family, opts]] of CASES) {
    test(`IDM T=3 ${label}on ${family} (${dtype}): reversible and stored activations give the same loss and gradients`, (t) => {
      inv.scope(() => {
        const A = inv.operators.create(family, { imageShape: [1, 16, 16], batch: 2, seed: 3, ...opts });
        const x = inv.rand([2, 1, 16, 16], { seed: 1, dtype }).mul(2).sub(1);
        const y = A.forward(x);
        const rev = new inv.models.IDM({ ...config, reversible: true }).to({ dtype });
        const ref = new inv.models.IDM({ ...config, reversible: false }).to({ dtype });
        const state = perturbed(rev, 100);
        rev.loadStateDict(state);
        ref.loadStateDict(state);
        const a = gradients(rev, A, x, y);
        const b = gradients(ref, A, x, y);
        t.ok(Math.abs(a.loss - b.loss) <= tol * Math.abs(b.loss), `same loss (${a.loss} vs ${b.loss})`);
        let worst = 0;
        let worstName = '';
        let zero = 0;
        const floor = (dtype === 'float64' ? 1e-6 : 1e-3) * Math.max(...b.grads.map(([, g]) => (g ? g.abs().max().item() : 0)));
        for (let i = 0; i < a.grads.length; i++) {
          const [name, ga] = a.grads[i];
          const gb = b.grads[i][1];
          if (!ga || !gb) {
            t.fail(`${name} has a gradient in both (${!!ga}, ${!!gb})`);
            continue;
          }
          if (gb.abs().max().item() === 0) zero++;
          const r = worstRelative(ga, gb, floor);
          if (r > worst) [worst, worstName] = [r, name];
        }
        let num = 0;
        let den = 0;
        for (let i = 0; i < a.grads.length; i++) {
          if (!a.grads[i][1] || !b.grads[i][1]) continue;
          num += a.grads[i][1].sub(b.grads[i][1]).square().sum().item();
          den += b.grads[i][1].square().sum().item();
        }
        const global = Math.sqrt(num / den);
        t.ok(global <= tol, `the whole gradient agrees: relative error ${global.toExponential(2)} <= ${tol}`);
        // float32 cannot hold every scalar to 1e-4: a coupling weight's gradient sums (x₂ − body)·dy over a nearly
        // duplicated stream, and x₂ is rebuilt by division, so its cancellation magnifies rounding (the stored
        // float32 gradient itself is ~1e-5 off float64 there). float64 holds every tensor to the tolerance.
        const perTensor = dtype === 'float64' ? tol : 1e-2;
        t.ok(worst <= perTensor, `each of ${a.grads.length} parameter gradients agrees to ${perTensor} (worst ${worst.toExponential(2)} at ${worstName})`);
        t.ok(zero <= 2, `gradients are not trivially zero (${zero} all-zero)`);
        const ry = worstRelative(a.dy, b.dy);
        t.ok(ry <= tol, `the gradient with respect to the input y agrees (${ry.toExponential(2)})`);
        for (const m of [rev, ref]) m.dispose();
        A.dispose();
      });
      t.end();
    });
}

test('IDM options and inputs are checked with clear errors', (t) => {
  t.throws(() => new inv.models.IDM({ channel: 8 }), /unknown option 'channel'/);
  t.throws(() => new inv.models.IDM({ preset: 'huge' }), /'preset' must be 'small' or 'paper'/);
  t.throws(() => new inv.models.IDM({ skips: 'some' }), /'skips' must be 'level' or 'block'/);
  t.throws(() => new inv.models.IDM({ channels: 6, groups: 4 }), /'groups' must divide/);
  t.throws(() => new inv.models.IDM({ attention: [true] }), /one 0\/1 flag per level/);
  // 8 channels at 1/4 do not pixel-shuffle to the image: that injector maps to 16 image values per feature pixel first.
  const narrow = new inv.models.IDM({ channels: 4, groups: 2, heads: 1 });
  const shapes = Object.fromEntries(narrow.namedParameters().filter(([n]) => n.startsWith('unet.down_blocks.1.injectors.0.')).map(([n, p]) => [n.split('.').pop(), p.shape]));
  t.deepEqual(shapes, { image_weight: [3, 16, 8], image_bias: [3, 1], feature_weight: [3, 8, 48], feature_bias: [3, 8] }, 'an injector that maps before shuffling');
  narrow.dispose();
  const m = new inv.models.IDM(TINY);
  t.equal(m.sizeMultiple, 4, 'two levels: sizes must be multiples of 4');
  inv.scope(() => {
    const odd = inv.operators.create('inpainting', { imageShape: [1, 18, 18] });
    t.throws(() => m.reconstruct(odd, inv.zeros([1, 1, 18, 18])), /multiples of 4, the operator's are 18×18 \(pad the images\)/);
    const rgb = inv.operators.create('inpainting', { imageShape: [3, 16, 16] });
    t.throws(() => m.reconstruct(rgb, inv.zeros([1, 3, 16, 16])), /3 channels, this model was built for imageChannels 1/);
    const A = inv.operators.create('blockCS', { imageShape: [1, 16, 16], ratio: 0.25, blockSize: 8 });
    t.throws(() => m.reconstruct(A, inv.zeros([1, 5])), /y/, 'a measurement of the wrong shape is rejected');
    t.throws(() => m.forward(inv.zeros([1, 1, 16, 16])), /needs the operator/);
  });
  m.dispose();
  t.end();
});

test('IDM finalProjection: the output satisfies A x̂ = y and is the unprojected output moved by A⁺(y − A x̂); never further from a noiseless image', (t) => {
  inv.scope(() => {
    for (const [family, opts] of FAMILIES) {
      const A = inv.operators.create(family, { imageShape: [1, 16, 16], batch: 2, seed: 3, ...opts });
      const x = inv.rand([2, 1, 16, 16], { seed: 1, dtype: 'float64' });
      const y = A.forward(x);
      const on = new inv.models.IDM(TINY).to({ dtype: 'float64' });
      const off = new inv.models.IDM({ ...TINY, finalProjection: false }).to({ dtype: 'float64' });
      const state = perturbed(on, 40, 0.2);
      on.loadStateDict(state);
      off.loadStateDict(state);
      const [p, q] = inv.noGrad(() => [on.reconstruct(A, y), off.reconstruct(A, y)]);
      const residual = (r) => A.forward(r).sub(y).abs().max().item() / y.abs().max().item();
      t.ok(residual(p) < 1e-10, `${family}: A x̂ = y (relative residual ${residual(p).toExponential(1)})`);
      t.ok(residual(q) > 1e-3, `${family}: without it the output is not consistent (${residual(q).toExponential(1)}), so the test can tell`);
      t.ok(p.sub(q.sub(A.pinv(A.forward(q).sub(y)))).abs().max().item() < 1e-12, `${family}: x̂ = x̂' − A⁺(A x̂' − y)`);
      t.ok(p.sub(x).square().sum().item() <= q.sub(x).square().sum().item(), `${family}: no further from the image (${p.sub(x).norm().item().toFixed(3)} ≤ ${q.sub(x).norm().item().toFixed(3)})`);
      const noisy = inv.operators.create(family, { imageShape: [1, 16, 16], batch: 2, seed: 3, noiseStd: 0.05, ...opts });
      const yn = noisy.measure(x, { seed: 9 });
      const [pn, qn] = inv.noGrad(() => [on.reconstruct(noisy, yn), off.reconstruct(noisy, yn)]);
      t.equal(pn.sub(qn).abs().max().item(), 0, `${family}: with noise in y nothing is projected (it would put the noise back)`);
      on.dispose();
      off.dispose();
      A.dispose();
      noisy.dispose();
    }
  });
  t.throws(() => new inv.models.IDM({ finalProjection: 'yes' }), /finalProjection/, 'a non-boolean is refused naming the option');
  t.end();
});

test('IDM save/load round-trips the model; reconstructAsync matches reconstruct', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'idm-'));
  const file = path.join(dir, 'model.safetensors');
  const m = new inv.models.IDM({ ...TINY, steps: 2 });
  m.loadStateDict(perturbed(m, 7));
  m.save(file);
  const back = inv.models.IDM.load(file);
  t.ok(back instanceof inv.models.IDM, 'IDM.load gives an IDM');
  const A = inv.operators.create('blockCS', { imageShape: [1, 16, 16], ratio: 0.25, blockSize: 8, seed: 2 });
  const y = A.forward(inv.rand([1, 1, 16, 16], { seed: 4 }));
  const a = inv.noGrad(() => m.reconstruct(A, y));
  const b = inv.noGrad(() => back.reconstruct(A, y));
  const c = await back.reconstructAsync(A, y);
  t.equal(a.sub(b).abs().max().item(), 0, 'the loaded model reconstructs identically');
  t.equal(b.sub(c).abs().max().item(), 0, 'the async reconstruction is identical');
  t.deepEqual(back.options, m.options, 'options come back with it');
  fs.rmSync(dir, { recursive: true });
  t.end();
});

test('IDM.fromStableDiffusion maps SD-1.5 diffusers names onto the paper preset (synthetic file)', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sd-'));
  const file = path.join(dir, 'unet.safetensors');
  const small = { channels: 32, groups: 8, heads: 4 }; // the paper's structure at a tenth of its width
  const shapeOf = new inv.models.IDM({ preset: 'paper', ...small });
  const sd = {};
  const expected = {};
  let i = 0;
  for (const [name, p] of shapeOf.namedParameters()) {
    if (!name.startsWith('unet.') || /injectors|coupling_logits|stream_scale|skip_merge/.test(name)) continue;
    const sdName = name.slice(5).replace(/^up_blocks\.(\d)\./, (_, k) => `up_blocks.${Number(k) + 2}.`);
    sd[sdName] = inv.randn(p.shape, { seed: i++ }).to({ dtype: 'float16' });
    expected[name] = sd[sdName];
  }
  t.ok(Object.keys(sd).some((k) => k.startsWith('up_blocks.3.resnets.2.conv1')), 'the file names SD up_blocks 2 and 3');
  // Layers IDM prunes are in a real SD file and must be ignored.
  sd['time_embedding.linear_1.weight'] = inv.randn([4, 4]);
  sd['down_blocks.0.resnets.0.time_emb_proj.weight'] = inv.randn([4, 4]);
  sd['down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight'] = inv.randn([4, 4]);
  sd['mid_block.resnets.0.conv1.weight'] = inv.randn([4, 4]);
  inv.saveSafetensors(file, sd);
  const model = inv.models.IDM.fromStableDiffusion(file, small);
  let worst = 0;
  let mapped = 0;
  for (const [name, p] of model.namedParameters()) {
    if (expected[name]) {
      worst = Math.max(worst, p.sub(expected[name].to({ dtype: 'float32' })).abs().max().item());
      mapped++;
    }
  }
  t.ok(mapped > 100, `${mapped} SD tensors mapped`);
  t.equal(worst, 0, 'each mapped parameter holds the SD tensor');
  const alpha = model.namedParameters().find(([n]) => n === 'alpha')[1];
  t.deepEqual(Array.from(alpha.toFloat32Array()), [0.5, 0.5, 0.5], "IDM's own parameters keep their initial values");
  delete sd['conv_in.weight'];
  sd['conv_out.weight'] = inv.randn([4, 32, 1, 1]);
  inv.saveSafetensors(file, sd);
  t.throws(() => inv.models.IDM.fromStableDiffusion(file, small), /2 problems\): 'conv_in.weight' is missing; 'conv_out.weight' has shape \[4,32,1,1\], IDM needs \[4,32,3,3\]/);
  fs.rmSync(dir, { recursive: true });
  t.end();
});

for (const keepSteps of [0, 1, 3])
test(`IDM with dropout in training mode (keepSteps ${keepSteps}): the reversible backward replays the masks, so gradients still agree`, (t) => {
  inv.scope(() => {
    const A = inv.operators.create('inpainting', { imageShape: [1, 16, 16], batch: 2, seed: 3, keep: 0.5 });
    const x = inv.rand([2, 1, 16, 16], { seed: 1, dtype: 'float64' });
    const y = A.forward(x);
    const models = [true, false].map((reversible) => new inv.models.IDM({ ...TINY, dropout: 0.2, reversible, keepSteps }).to({ dtype: 'float64' }).train());
    const state = perturbed(models[0], 300);
    const runs = models.map((m) => {
      m.loadStateDict(state);
      inv.manualSeed(42);
      const r = gradients(m, A, x, y);
      return { ...r, after: inv.rand([1]).item() };
    });
    t.ok(Math.abs(runs[0].loss - runs[1].loss) < 1e-12, `same loss with the same masks (${runs[0].loss})`);
    let worst = 0;
    for (let i = 0; i < runs[0].grads.length; i++) worst = Math.max(worst, worstRelative(runs[0].grads[i][1], runs[1].grads[i][1], 1e-6));
    t.ok(worst < 1e-8, `gradients agree (worst ${worst.toExponential(2)})`);
    t.equal(runs[0].after, runs[1].after, 'the generator ends where the stored-activation run leaves it');
    inv.manualSeed(43);
    const other = gradients(models[1], A, x, y).loss;
    t.notEqual(other, runs[1].loss, 'dropout is active (another seed, another loss)');
  });
  t.end();
});

test('IDM attention in query chunks gives the same output and gradients as one block', (t) => {
  inv.scope(() => {
    const A = inv.operators.create('blockCS', { imageShape: [1, 16, 16], batch: 2, seed: 3, ratio: 0.3, blockSize: 8 });
    const x = inv.rand([2, 1, 16, 16], { seed: 1, dtype: 'float64' });
    const y = A.forward(x);
    // 64 tokens at the first level: chunks of 24 split them unevenly.
    let state;
    const runs = [24, 2048].map((attentionChunk) => {
      const m = new inv.models.IDM({ ...TINY, attentionChunk }).to({ dtype: 'float64' });
      state = state ?? perturbed(m, 500);
      m.loadStateDict(state);
      return gradients(m, A, x, y);
    });
    t.ok(Math.abs(runs[0].loss - runs[1].loss) < 1e-12 * Math.abs(runs[1].loss), 'same loss');
    let worst = 0;
    for (let i = 0; i < runs[0].grads.length; i++) worst = Math.max(worst, worstRelative(runs[0].grads[i][1], runs[1].grads[i][1], 1e-6));
    t.ok(worst < 1e-10, `same gradients (worst ${worst.toExponential(2)})`);
  });
  t.throws(() => new inv.models.IDM({ attentionChunk: 0 }), /'attentionChunk' must be a positive integer/);
  t.end();
});

test('IDM reconstructs and trains with every operator family', (t) => {
  // Without the final projection: an untrained chain's null-space part does not depend on the schedule (it
  // starts at A⁺y and the U-Net's output starts at zero), so projected, masks would leave α no gradient.
  const m = new inv.models.IDM({ channels: 8, groups: 4, heads: 2, blocks: 1, steps: 2, finalProjection: false });
  for (const family of inv.operators.names()) {
    inv.scope(() => {
      const A = inv.operators.create(family, { imageShape: [1, 16, 16], seed: 1 });
      const x = inv.rand([1, 1, 16, 16], { seed: 2 });
      const y = A.forward(x);
      for (const p of m.parameters()) p.zeroGrad();
      const out = m.reconstruct(A, y);
      out.sub(x).abs().mean().backward();
      const alphaGrad = m.namedParameters().find(([n]) => n === 'alpha')[1].grad.abs().sum().item();
      const finite = Number.isFinite(out.sum().item());
      if (family === 'none') t.ok(finite && out.sub(y).abs().max().item() < 1e-5, 'none: the projection returns y itself');
      else t.ok(finite && alphaGrad > 0, `${family}: a finite reconstruction and a gradient for the schedule`);
    });
  }
  t.end();
});
