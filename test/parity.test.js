'use strict';
// Parity with independent PyTorch code (bench/reference/, run by Debian's python3-torch): the same inputs,
// weights and noise give the same outputs and gradients. Every case writes its inputs as safetensors, one
// Python process computes all of them, and each test compares invdiff's numbers with the reference's.
// Skipped, with the reason printed, where /usr/bin/python3 cannot import torch. PARITY_KEEP=1 keeps the
// folder of inputs and outputs (its path is printed) to rerun bench/reference/run.py on it.
const test = require('tape');
const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const inv = require('..');

const PYTHON = '/usr/bin/python3';
const REFERENCE = path.join(__dirname, '..', 'bench', 'reference', 'run.py');
const DTYPE = 'float32';

function torchMissing() {
  const r = spawnSync(PYTHON, ['-c', 'import torch'], { encoding: 'utf8' });
  if (r.error) return `${PYTHON} is not there (${r.error.code}); install python3-torch (node scripts/bootstrap does as root on Debian)`;
  if (r.status !== 0) return `${PYTHON} cannot import torch (${(r.stderr || '').trim().split('\n').pop()}); install python3-torch`;
  return null;
}

// max |a − b| / max(max |b|, floor): float32 rounding scales with the values, and a few outputs are near zero.
function worstRelative(a, b, floor = 1e-6) {
  const d = a.sub(b).abs().max().item();
  return d / Math.max(b.abs().max().item(), floor);
}

// ---- the cases: each writes its inputs and computes invdiff's outputs ----
const IMAGE = [2, 16, 16];
const OPERATORS = [
  ['none', {}],
  ['denoising', {}],
  ['inpainting', { keep: 0.5 }],
  ['inpainting', { keep: 0.3, patchSize: 4 }],
  ['inpainting', { randomPatches: true }],
  ['boxInpainting', { boxSize: [6, 5] }],
  ['outpainting', { visibleSize: [8, 6] }],
  ['blur', { sigma: 1.5 }],
  ['blur', { kernel: 'motion', kernelSize: 7, intensity: 0.8 }],
  ['stridedBlur', { stride: 2 }],
  ['stridedBlur', { stride: 4, noiseStd: 0.05 }],
  ['superResolution', { factor: 2 }],
  ['superResolution', { factor: 4 }],
  ['superResolution', { factor: 2, downsample: 'bicubic', imageShape: [1, 8, 8] }],
  ['blockCS', { ratio: 0.3, blockSize: 8, imageShape: [1, 12, 12] }],
  ['blockCS', { ratio: 0.5, blockSize: 8, scrambled: false }],
  ['blockCS', { ratio: 0.25, blockSize: 4 }],
  ['matrix', { minRows: 5, maxRows: 20, imageShape: [1, 8, 8] }],
  ['mri', { acceleration: 4 }],
  ['mri', { acceleration: 8, lines: 'equispaced' }],
  ['mri', { sampling: 'radial', spokes: 6 }],
  ['ct', { views: 24, imageShape: [1, 16, 16] }],
  ['ct', { views: 24, imageShape: [1, 16, 16], pinv: 'cg' }],
];
// The A⁺ a network layer applies (InvFussion's Feature Degradation layer): the closed form, which families
// whose A⁺ is conjugate gradients do not have.
const hasNetworkPinv = (family, options) => options.pinv !== 'cg' && options.downsample !== 'bicubic';
function operatorCase([family, extra], i) {
  const options = { imageShape: IMAGE, batch: 2, seed: 5, ...extra };
  const label = `${family} ${JSON.stringify(extra)}`;
  return {
    name: `operator-${i}`,
    label,
    spec: { kind: 'operator', family, options, networkPinv: hasNetworkPinv(family, options) },
    inputs() {
      const A = inv.operators.create(family, options);
      const n = options.batch;
      const x = inv.randn([n, ...A.imageShape], { seed: 1, dtype: DTYPE });
      const y = inv.randn([n, ...A.measurementShape], { seed: 2, dtype: DTYPE });
      const w = inv.randn([n, ...A.measurementShape], { seed: 3, dtype: DTYPE });
      const v = inv.randn([n, ...A.imageShape], { seed: 4, dtype: DTYPE });
      return { tensors: { x, y, w, v }, state: A };
    },
    outputs(A, { x, y, w, v }) {
      const out = { forward: A.forward(x), adjoint: A.adjoint(y), pinv: A.pinv(y) };
      if (hasNetworkPinv(family, options)) out.networkPinv = A.networkPinv(y);
      const xg = x.detach().requiresGrad_(true);
      w.mul(A.forward(xg)).sum().add(v.mul(A.pinv(A.forward(xg))).sum()).backward();
      out.gradX = xg.grad;
      return out;
    },
  };
}

// Samplers on the exact denoiser of Gaussian data N(μ, s²I), with the noise both sides draw written out:
// draw i is gaussianNoise keyed by seed·100003 + i, as lib/samplers/common.ts defines it.
const SAMPLE_SHAPE = [2, 1, 8, 8];
const SAMPLERS = [
  ['heun', { steps: 8 }],
  ['heun', { steps: 6, churn: 3 }],
  ['ddim', { steps: 8 }],
  ['ddim', { steps: 8, eta: 0.5 }],
  ['ddnm', { steps: 10, family: 'inpainting', operator: { keep: 0.4 } }],
  ['ddnm', { steps: 10, family: 'blockCS', operator: { ratio: 0.25, blockSize: 4 }, mixing: 'ddim', eta: 0.5 }],
  ['ddnm', { steps: 10, family: 'superResolution', operator: { factor: 2, noiseStd: 0.2 }, mixing: 'invfussion' }],
];

function samplerCase([sampler, { family, operator, ...options }], i) {
  const seed = 3;
  const operatorOptions = family && { imageShape: SAMPLE_SHAPE.slice(1), batch: SAMPLE_SHAPE[0], seed: 7, ...operator };
  return {
    name: `sampler-${i}`,
    label: `${sampler} ${JSON.stringify({ family, ...operator, ...options })}`,
    spec: { kind: sampler, family, options: operatorOptions, ...options },
    inputs() {
      const mu = inv.rand(SAMPLE_SHAPE, { seed: 11, dtype: DTYPE }).mul(2).sub(1);
      const dataStd = inv.tensor([0.5], [1], { dtype: DTYPE });
      const tensors = { mu, dataStd };
      for (let k = 0; k <= options.steps; k++) tensors[`noise${k}`] = inv.gaussianNoise(SAMPLE_SHAPE, { seed: seed * 100003 + k });
      const A = family && inv.operators.create(family, operatorOptions);
      if (A) tensors.y = A.measure(inv.rand(SAMPLE_SHAPE, { seed: 12, dtype: DTYPE }).mul(2).sub(1), { seed: 13 });
      return { tensors, state: A };
    },
    outputs(A, { mu, y }) {
      const s2 = 0.25;
      const denoiser = { denoise: (x, sigma) => x.sub(mu).mul(s2 / (s2 + sigma * sigma)).add(mu) };
      const run = inv.samplers[sampler];
      return { images: run(denoiser, { ...options, seed, ...(A ? { operator: A, y } : { shape: SAMPLE_SHAPE }) }).images };
    },
  };
}

// The shipped EDM U-Net prior, which the reference loads from the same file (float16 there, float32 once
// loaded, on both sides): D(x; σ) from small to large σ and with one σ per image, and a gradient in x.
const PRIOR_FILE = path.join(__dirname, '..', 'models', 'unconditional.safetensors');
const PRIOR_SIGMAS = [0.02, 1, 80];
const priorCase = {
  name: 'prior-0',
  label: `Unconditional.pretrained() D(x; σ) at σ ∈ {${PRIOR_SIGMAS.join(', ')}} and one σ per image, ∂/∂x at σ = ${PRIOR_SIGMAS[1]}`,
  spec: { kind: 'prior', file: PRIOR_FILE, sigmas: PRIOR_SIGMAS },
  inputs() {
    const shape = [2, 1, 16, 16];
    const clean = inv.rand(shape, { seed: 1, dtype: DTYPE }).mul(2).sub(1);
    const noisy = (sigma, seed) => clean.add(inv.randn(shape, { seed, dtype: DTYPE }).mul(sigma));
    const tensors = { w: inv.randn(shape, { seed: 2, dtype: DTYPE }), perImageSigma: inv.tensor([0.3, 5], [2], { dtype: DTYPE }), noisyPerImage: noisy(2, 3) };
    PRIOR_SIGMAS.forEach((sigma, i) => (tensors[`noisy${i}`] = noisy(sigma, 10 + i)));
    return { tensors, state: inv.models.Unconditional.load(PRIOR_FILE) };
  },
  outputs(net, tensors) {
    const out = {};
    PRIOR_SIGMAS.forEach((sigma, i) => (out[`denoised${i}`] = net.denoise(tensors[`noisy${i}`], sigma)));
    out.perImage = net.denoise(tensors.noisyPerImage, tensors.perImageSigma);
    const mid = PRIOR_SIGMAS.length >> 1;
    const xg = tensors[`noisy${mid}`].detach().requiresGrad_(true);
    tensors.w.mul(net.denoise(xg, PRIOR_SIGMAS[mid])).sum().backward();
    out.gradX = xg.grad;
    return out;
  },
};

// IDM: one training step (loss, gradients in every weight and in y) of tiny models whose weights are all
// moved off their initial values (several start at zero), reversible and with stored activations: SD's
// configuration (ε prediction, level skips) and what IDM.fromPrior builds from a small EDM U-Net (its noise
// embedding and preconditioning, block skips, injectors that map before pixel-shuffling: 6 and 12 channels
// do not pixel-shuffle to the image at 1/2 and 1/4); and the shipped blockCS-10% checkpoint as it is. In
// float32 a gradient is compared relative to the step's largest one: the reversible backward rebuilds
// activations by dividing by the coupling weights, which leaves each side ~2e-3 off float64 on the smallest
// gradients (a coupling logit's sum over a whole feature map), in different directions. In float64 every
// weight's gradient is compared on its own, to 1e-9.
const TINY_IDM = { channels: 8, groups: 4, heads: 2, multipliers: [1, 2], blocks: 2, attention: [true, true], steps: 2 };
const SMALL_PRIOR = { channels: 6, groups: 2, heads: 2, multipliers: [1, 2], blocks: 1, attention: [true, true] };
const tiny = { label: 'tiny', moved: true, make: (reversible) => new inv.models.IDM({ ...TINY_IDM, reversible }) };
const fromPrior = {
  label: 'from a small prior',
  moved: true,
  make(reversible) {
    const prior = new inv.models.Unconditional(SMALL_PRIOR);
    try {
      return inv.models.IDM.fromPrior(prior, { reversible });
    } finally {
      prior.dispose();
    }
  },
};
const shipped = { label: 'shipped idm-cs10', moved: false, make: () => inv.models.IDM.pretrained(10, { variant: 'small' }) };
const CS = ['blockCS', { ratio: 0.25, blockSize: 8 }];
const IDMS = [
  [tiny, true, ...CS, 'float32'],
  [tiny, false, ...CS, 'float32'],
  [tiny, true, 'mri', { acceleration: 4 }, 'float32'],
  [tiny, true, 'inpainting', { keep: 0.5 }, 'float64'],
  [tiny, false, 'inpainting', { keep: 0.5 }, 'float64'],
  ...[true, false].flatMap((reversible) => ['float32', 'float64'].map((dtype) => [fromPrior, reversible, ...CS, dtype])),
  [shipped, true, 'blockCS', { ratio: 0.1 }, 'float32'],
];

const largestGradient = (expected) => Math.max(...Object.entries(expected).filter(([k]) => k.startsWith('grad')).map(([, g]) => g.abs().max().item()));

function idmCase([which, reversible, family, operator, dtype], i) {
  const options = { imageShape: [1, 16, 16], batch: 2, seed: 3, ...operator };
  let modelOptions;
  return {
    name: `idm-${i}`,
    label: `IDM ${which.label} (${reversible ? 'reversible' : 'stored activations'}, ${dtype}) on ${family} ${JSON.stringify(operator)}`,
    // float32 reversible: each side's rebuilt activations carry their own rounding into the weight gradients
    // (6e-6 to 1.2e-5 of the largest one between runs and thread counts), so 5e-5 there.
    tolerance: (group) => (dtype === 'float64' ? 1e-9 : reversible && group === 'weight gradients' ? 5e-5 : 1e-5),
    group: `idm ${dtype}`,
    get spec() {
      return { kind: 'idm', family, options, model: { ...modelOptions, reversible } };
    },
    // float64: a floor for the few weights whose gradient is zero in exact arithmetic (an injector bias that a
    // GroupNorm removes), where both sides hold rounding.
    floor: (key, expected) => (key.startsWith('grad') ? (dtype === 'float64' ? 1e-6 : 1) * largestGradient(expected) : 1e-6),
    inputs() {
      const model = which.make(reversible).to({ dtype });
      if (which.moved) {
        const moved = model.namedParameters().map(([name, p], k) => [name, p.add(inv.randn(p.shape, { seed: 100 + k, dtype: p.dtype }).mul(0.05))]);
        model.loadStateDict(moved);
      }
      modelOptions = model.options;
      const A = inv.operators.create(family, options);
      const x = inv.rand([2, 1, 16, 16], { seed: 1, dtype }).mul(2).sub(1);
      const tensors = { x, y: A.forward(x) };
      for (const [name, p] of model.namedParameters()) tensors[`p.${name}`] = p.detach();
      return { tensors, state: { model, A } };
    },
    outputs({ model, A }, { x, y }) {
      for (const p of model.parameters()) p.zeroGrad();
      const yy = y.detach().requiresGrad_(true);
      const out = model.reconstruct(A, yy);
      const loss = out.sub(x).square().mean().add(out.sub(x).abs().mean());
      loss.backward();
      const result = { out, loss: loss.reshape([1]), gradY: yy.grad };
      for (const [name, p] of model.namedParameters()) if (p.grad) result[`grad.${name}`] = p.grad;
      return result;
    },
  };
}

// Neighbourhood attention, one key/value set or InvFusion's two in one softmax, on 6×7 tokens: under κ = 5
// every window but the middle ones is shifted inward at a border. Outputs and the gradients in every input.
const NA_SHAPE = [2, 2, 6, 7, 8];
const NAS = [
  [3, false, undefined],
  [5, true, 1],
  [3, true, 0.7],
];

function naCase([kernelSize, joint, scale], i) {
  const names = ['q', 'k', 'v', ...(joint ? ['k2', 'v2'] : [])];
  return {
    name: `na-${i}`,
    label: `${joint ? 'jointNeighborhoodAttention' : 'neighborhoodAttention'} κ = ${kernelSize}, scale ${scale ?? '1/√d'}, [${NA_SHAPE}]`,
    spec: { kind: 'neighborhoodAttention', kernelSize, joint, scale },
    inputs() {
      const tensors = { w: inv.randn(NA_SHAPE, { seed: 20, dtype: DTYPE }) };
      names.forEach((n, k) => (tensors[n] = inv.randn(NA_SHAPE, { seed: 21 + k, dtype: DTYPE })));
      return { tensors };
    },
    outputs(_, tensors) {
      const inputs = names.map((n) => tensors[n].detach().requiresGrad_(true));
      const opts = { kernelSize, ...(scale === undefined ? {} : { scale }) };
      const out = joint ? inv.jointNeighborhoodAttention(...inputs, opts) : inv.neighborhoodAttention(...inputs, opts);
      tensors.w.mul(out).sum().backward();
      return { out, ...Object.fromEntries(names.map((n, k) => [`grad_${n}`, inputs[k].grad])) };
    },
  };
}

// HDiT in its three conditionings: tiny models (NA-3 on 8×8 tokens, then global attention on 4×4) with every
// weight moved off its initial value (the output projections start at zero, the AdaRMSNorm gains at one), on
// two 16×16 images at one σ per image; InvFussion also through one training step (EDM2's loss with the learned
// u(σ), as lib/training/diffusion.ts computes it: every weight's gradient), on three operator families, once
// without a measurement (ỹ = 0) and once in float64. Then the shipped InvFussion as it is, on one 32×32 image.
// In float32 a gradient is compared relative to the step's largest (u(σ)'s weight), as IDM's are: the smallest
// (a head's attention scale, a lerp factor: sums over every token of terms that mostly cancel, down to 1e-4 of
// the largest) carry float32 rounding of their own size's 1e-5 on each side (the reference's float32 is 7e-6
// off its float64), in different summation orders: compared on their own, the two sides were up to 5e-5 apart
// over a few draws of the weights. In float64 every weight's gradient is compared on its own, to 1e-9, with
// the IDM cases' floor.
const TINY_HDIT = { widths: [16, 32], depths: [1, 1], headDim: 8, kernelSizes: [3, 0], mappingWidth: 32, mappingHidden: 64 };
const INVFUSSION_FILE = path.join(__dirname, '..', 'models', 'invfussion-cpu32.safetensors');
const HDITS = [
  { model: 'InvFussion', family: 'inpainting', operator: { keep: 0.5 }, train: true, unconditional: true },
  { model: 'InvFussion', family: 'matrix', operator: { minRows: 5, maxRows: 20 }, train: true },
  { model: 'InvFussion', family: 'stridedBlur', operator: { stride: 2 }, train: true },
  { model: 'InvFussion', family: 'inpainting', operator: { randomPatches: true }, train: true, dtype: 'float64' },
  { model: 'Palette', family: 'inpainting', operator: { keep: 0.3, patchSize: 4 } },
  { model: 'Unconditional' },
  { model: 'InvFussion', file: INVFUSSION_FILE, family: 'stridedBlur', operator: { stride: 4 }, image: [1, 32, 32], sigmas: [1] },
];
const CONDITIONING = { InvFussion: 'invfussion', Palette: 'palette', Unconditional: 'none' };

function hditCase({ model: kind, file, family, operator, train = false, unconditional = false, image = [1, 16, 16], sigmas = [0.4, 3], dtype = DTYPE }, i) {
  const batch = sigmas.length;
  const options = family && { imageShape: image, batch, seed: 9, ...operator };
  let modelOptions;
  return {
    name: `hdit-${i}`,
    label: `${file ? `shipped ${path.basename(file)}` : `tiny ${kind === 'InvFussion' ? kind : `${kind} HDiT`}`} ${train ? 'training step' : 'D(x; σ)'} (${dtype})${family ? ` on ${family} ${JSON.stringify(operator)}` : ''}`,
    group: `hdit ${dtype}`,
    tolerance: () => (dtype === 'float64' ? 1e-9 : 1e-5),
    floor: (key, expected) => (key.startsWith('grad') ? (dtype === 'float64' ? 1e-6 : 1) * largestGradient(expected) : 1e-6),
    get spec() {
      return { kind: 'hdit', conditioning: CONDITIONING[kind], model: modelOptions, file, family, options, train, unconditional };
    },
    inputs() {
      const Model = inv.models[kind];
      inv.manualSeed(300 + i); // the initial weights, so that the figures repeat
      const model = (file ? Model.load(file) : new Model({ ...(kind === 'InvFussion' ? {} : { architecture: 'hdit' }), ...TINY_HDIT })).to({ dtype });
      if (!file) model.loadStateDict(model.namedParameters().map(([name, p], k) => [name, p.add(inv.randn(p.shape, { seed: 200 + k, dtype: p.dtype }).mul(0.05))]));
      modelOptions = model.options;
      const x = inv.rand([batch, ...image], { seed: 1, dtype }).mul(2).sub(1);
      const sigma = inv.tensor(sigmas, [batch], { dtype });
      const tensors = { x, sigma, noisy: x.add(inv.randn(x.shape, { seed: 2, dtype }).mul(sigma.reshape([batch, 1, 1, 1]))) };
      const A = family && inv.operators.create(family, options);
      if (A) tensors.y = A.forward(x);
      if (!file) for (const [name, p] of model.namedParameters()) tensors[`p.${name}`] = p.detach();
      return { tensors, state: { model, A } };
    },
    outputs({ model, A }, { x, noisy, sigma, y }) {
      const context = A ? { operator: A, y } : {};
      if (!train) return inv.noGrad(() => ({ denoised: model.denoise(noisy, sigma, context) }));
      for (const p of model.parameters()) p.zeroGrad();
      const denoised = model.denoise(noisy, sigma, context);
      const s = sigma.reshape([batch, 1, 1, 1]);
      const sd2 = 0.25;
      const weight = s.square().add(sd2).div(s.square().mul(sd2));
      const u = model.logVariance(sigma).reshape([batch, 1, 1, 1]);
      const loss = denoised.sub(x).square().mul(weight).div(u.exp()).add(u).mean();
      loss.backward();
      const result = { denoised, loss: loss.reshape([1]) };
      if (unconditional) result.unconditional = inv.noGrad(() => model.denoise(noisy, sigma));
      for (const [name, p] of model.namedParameters()) if (p.grad) result[`grad.${name}`] = p.grad;
      return result;
    },
  };
}

const CASES = [...OPERATORS.map(operatorCase), ...SAMPLERS.map(samplerCase), priorCase, ...IDMS.map(idmCase), ...NAS.map(naCase), ...HDITS.map(hditCase)];

// ---- run the reference once for every case ----
const missing = torchMissing();
if (missing) {
  test('parity with the PyTorch reference', (t) => {
    t.comment(`skipped: ${missing}`);
    t.skip('python3-torch is missing');
    t.end();
  });
} else {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'invdiff-parity-'));
  const prepared = CASES.map((c) => {
    const { tensors, state } = c.inputs();
    inv.saveSafetensors(path.join(dir, `${c.name}.in.safetensors`), tensors);
    return { c, tensors, state };
  });
  fs.writeFileSync(path.join(dir, 'cases.json'), JSON.stringify(CASES.map((c) => ({ name: c.name, ...c.spec }))));
  const started = Date.now();
  const python = spawnSync(PYTHON, [REFERENCE, dir], { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '1' } });
  const seconds = (Date.now() - started) / 1000;

  test('the PyTorch reference runs', (t) => {
    t.equal(python.status, 0, `${PYTHON} ${path.relative(process.cwd(), REFERENCE)} ran every case in ${seconds.toFixed(1)} s${python.status ? `: ${python.stderr}` : ''}`);
    t.end();
  });

  const worst = {};
  for (const { c, tensors, state } of prepared) {
    test(`parity: ${c.label}`, (t) => {
      const stem = path.join(dir, c.name);
      if (fs.existsSync(`${stem}.error`)) {
        t.fail(`the reference failed:\n${fs.readFileSync(`${stem}.error`, 'utf8')}`);
        return t.end();
      }
      inv.scope(() => {
        const expected = inv.loadSafetensors(`${stem}.out.safetensors`).tensors;
        const actual = c.outputs(state, tensors);
        // One check per output; a model's weight gradients are one check, naming the worst weight.
        const groups = new Map();
        for (const [key, want] of Object.entries(expected)) {
          const group = key.startsWith('grad.') ? 'weight gradients' : key;
          const got = actual[key];
          const e = !got || got.shape.join() !== want.shape.join() ? Infinity : worstRelative(got, want.to({ dtype: got.dtype }), c.floor?.(key, expected));
          const g = groups.get(group) ?? { e: -1, key, count: 0 };
          g.count++;
          if (e > g.e) Object.assign(g, { e, key, why: got ? `shape [${got.shape}] vs [${want.shape}]` : 'invdiff computed no such output' });
          groups.set(group, g);
        }
        // And the other way: a gradient only invdiff computes would be a weight the reference never reads.
        const unmatched = Object.keys(actual).filter((key) => !(key in expected));
        t.deepEqual(unmatched, [], 'the reference computes every output invdiff does');
        for (const [group, { e, key, count, why }] of groups) {
          const tol = c.tolerance?.(group) ?? 1e-5;
          const kind = c.group ?? c.spec.kind;
          worst[kind] = Math.max(worst[kind] ?? 0, e);
          const where = count > 1 ? ` (${count} tensors, worst ${key})` : '';
          const message = e === Infinity ? `${key}: ${why}` : `${group}: max |invdiff − reference| / max |reference| = ${e.toExponential(2)} <= ${tol}${where}`;
          t.ok(e <= tol, message);
        }
      });
      t.end();
    });
  }

  test('parity: the largest differences', (t) => {
    for (const [kind, e] of Object.entries(worst)) t.comment(`${kind}: ${e.toExponential(2)}`);
    if (!process.env.PARITY_KEEP) fs.rmSync(dir, { recursive: true, force: true });
    else t.comment(`kept ${dir}`);
    t.end();
  });
}
