'use strict';
// IDM the paper's way (issue 15): initialised from a diffusion prior of the project, and the block-CS
// sensing matrix Φ of the official IDM code.
const test = require('tape');
const inv = require('..');
const OFFICIAL = require('./fixtures/official-phi.json');

const PRIOR = { channels: 8, groups: 4, heads: 2, multipliers: [1, 2], blocks: 1, attention: [false, true] };

// A prior with every tensor moved off its initial value (its output layer starts at zero, which would hide
// both a weight that was not copied and every gradient upstream of it).
function trainedPrior() {
  const prior = new inv.models.Unconditional(PRIOR);
  prior.loadStateDict(inv.scope(() => prior.namedParameters().map(([n, p], i) => [n, inv.keep(p.add(inv.randn(p.shape, { seed: i }).mul(0.1)))])));
  return prior;
}

test('IDM.fromPrior takes the prior configuration and every prior weight it maps, and prunes only the mid block', (t) => {
  const prior = trainedPrior();
  const idm = inv.models.IDM.fromPrior(prior, { steps: 2 });
  t.deepEqual(
    [idm.options.channels, idm.options.multipliers, idm.options.blocks, idm.options.attention, idm.options.skips, idm.options.parameterization, idm.steps],
    [8, [1, 2], 1, [0, 1], 'block', 'edm', 2],
    'the configuration is the prior’s, with block skips, the EDM parameterization and the steps asked for',
  );
  const mine = new Map(idm.namedParameters());
  let copied = 0;
  let pruned = 0;
  for (const [name, p] of prior.namedParameters()) {
    if (name.startsWith('mid_block.')) {
      pruned++;
      continue;
    }
    const q = mine.get(`unet.${name}`);
    if (!q || q.sub(p).abs().max().item() !== 0) t.fail(`unet.${name} holds the prior's ${name}`);
    else copied++;
  }
  t.ok(copied > 40 && pruned > 0, `${copied} prior tensors copied (time embedding included), ${pruned} of the mid block pruned`);
  t.ok(mine.has('unet.time_embedding.linear_1.weight'), 'the noise embedding is kept');
  const injector = [...mine.keys()].filter((n) => n.includes('injectors') && n.endsWith('feature_weight'));
  t.ok(injector.length > 0 && injector.every((n) => mine.get(n).abs().max().item() === 0), 'the injectors start at zero (so they add nothing at first)');

  // One prior tensor perturbed further is seen in a new IDM: the weights are read, not assumed.
  const name = 'up_blocks.1.resnets.0.conv1.weight';
  const before = mine.get(`unet.${name}`).clone();
  prior.loadStateDict(prior.namedParameters().map(([n, p]) => [n, n === name ? p.add(1) : p]));
  const again = inv.models.IDM.fromPrior(prior, { steps: 2 });
  const after = new Map(again.namedParameters()).get(`unet.${name}`);
  t.ok(Math.abs(after.sub(before).mean().item() - 1) < 1e-6, `a change to the prior's ${name} reaches the IDM`);
  for (const m of [prior, idm, again]) m.dispose();
  t.end();
});

test('IDM.fromPrior reconstructs and trains: the gradient reaches the copied weights, the noise embedding and the schedule', (t) => {
  const prior = trainedPrior();
  const idm = inv.models.IDM.fromPrior(prior);
  const A = inv.operators.create('blockCS', { imageShape: [1, 16, 16], ratio: 0.3, blockSize: 8, batch: 2, seed: 1 });
  const x = inv.rand([2, 1, 16, 16], { seed: 2 }).mul(2).sub(1);
  const out = idm.reconstruct(A, A.forward(x));
  t.deepEqual(out.shape, [2, 1, 16, 16], 'an image per measurement');
  t.ok(out.isfinite().all(), 'finite');
  out.sub(x).abs().mean().backward();
  const grads = new Map(idm.namedParameters().map(([n, p]) => [n, p.grad ? p.grad.abs().max().item() : 0]));
  for (const n of ['unet.conv_in.weight', 'unet.time_embedding.linear_1.weight', 'unet.down_blocks.1.resnets.0.time_emb_proj.weight', 'alpha'])
    t.ok(grads.get(n) > 0, `${n} has a gradient`);
  for (const m of [prior, idm, A]) m.dispose();
  t.end();
});

test('IDM.fromPrior refuses priors and options that do not fit, naming the mismatch', (t) => {
  const hdit = new inv.models.Unconditional({ architecture: 'hdit', preset: 'cpu32' });
  t.throws(() => inv.models.IDM.fromPrior(hdit), /must be a U-Net \(architecture 'unet'\), this one is 'hdit'/, 'an HDiT prior');
  hdit.dispose();
  const patch4 = new inv.models.Unconditional({ ...PRIOR, patch: 4 });
  t.throws(() => inv.models.IDM.fromPrior(patch4), /patch its input by 2 .* this one by 4/, 'a prior that patches by 4');
  patch4.dispose();
  const prior = new inv.models.Unconditional(PRIOR);
  t.throws(() => inv.models.IDM.fromPrior(prior, { channels: 16 }), /option 'channels' comes from the prior/, 'an architecture option');
  t.throws(() => inv.models.IDM.fromPrior(prior, { steps: 0 }), /steps/, 'a bad step count');
  t.throws(() => inv.models.IDM.fromPrior(new inv.models.Palette(PRIOR)), /argument 'prior' must be an Unconditional model/, 'a Palette model');
  t.throws(() => inv.models.IDM.fromPrior('/nonexistent/prior.safetensors'), /prior\.safetensors/, 'a missing file, named');
  prior.dispose();
  t.end();
});

test('IDM.fromPrior reads a prior file, and the shipped prior gives an IDM of its configuration', (t) => {
  const idm = inv.models.IDM.fromPrior(require('path').join(__dirname, '..', 'models', 'unconditional.safetensors'));
  t.equal(idm.options.channels, 48, 'the shipped prior’s width');
  t.deepEqual(idm.options.multipliers, [1, 2, 2], 'and levels');
  t.equal(idm.sizeMultiple, 8, 'images must be multiples of 8');
  idm.dispose();
  t.end();
});

// The rows of Φ from A applied to the unit images of one block (a plain, unscrambled block).
function sensingMatrix(blockSize, ratio, options = {}) {
  const n = blockSize * blockSize;
  return inv.scope(() => {
    const A = inv.operators.create('blockCS', { imageShape: [1, blockSize, blockSize], ratio, blockSize, scrambled: false, ...options });
    return inv.keep(A.forward(inv.eye(n).reshape([n, 1, blockSize, blockSize])).reshape([n, -1]));
  });
}

test(`the default block-CS Φ is the official IDM code's (PyTorch ${OFFICIAL.torch}: manual_seed(2025), float32 randn, U·Vᵀ)`, (t) => {
  const small = sensingMatrix(OFFICIAL.small.blockSize, OFFICIAL.small.ratio);
  const ref = OFFICIAL.small.phi;
  t.deepEqual(small.shape, [ref.length, ref[0].length], `${ref.length}×${ref[0].length} for block 8 at 25%`);
  const d = small.sub(inv.tensor(ref.flat(), [ref.length, ref[0].length])).abs().max().item();
  t.ok(d < 1e-5, `every entry equals PyTorch's to float32 rounding (largest difference ${d.toExponential(2)})`);

  const { large } = OFFICIAL;
  const phi = sensingMatrix(large.blockSize, large.ratio);
  t.deepEqual(phi.shape, [large.rows, large.columns], `${large.rows}×${large.columns} for block 32 at 10% (q = ⌈γN⌉)`);
  const first = phi.narrow(1, 0, 2).transpose(0, 1).sub(inv.tensor(large.firstColumns.flat(), [2, large.rows])).abs().max().item();
  const corner = phi.narrow(0, 0, 8).narrow(1, 0, 8).sub(inv.tensor(large.corner.flat(), [8, 8])).abs().max().item();
  const sums = phi.sum({ dim: 0 }).sub(inv.tensor(large.columnSums, [large.columns])).abs().max().item();
  t.ok(first < 1e-5 && corner < 1e-5, `its first columns and corner agree (${first.toExponential(2)}, ${corner.toExponential(2)})`);
  t.ok(sums < 1e-4, `every column sum agrees (${sums.toExponential(2)})`);
  // A different seed is a different matrix: the comparison above is not vacuous.
  const other = sensingMatrix(OFFICIAL.small.blockSize, OFFICIAL.small.ratio, { matrixSeed: 7 });
  t.ok(other.sub(small).abs().max().item() > 0.1, 'matrixSeed 7 draws another Φ');
  t.end();
});
