'use strict';
// Numerical faults are reported, not passed on: a batch whose loss is NaN or ±Inf is skipped (no update) and
// counted, and too many in a row stop the run with an error; a sampler whose result holds NaN or ±Inf
// throws, naming the images, instead of returning them.
const test = require('tape');
const inv = require('..');

// A tiny MLP autoencoder run by the shared runner; `poison(call)` says which loss evaluations become NaN.
async function run(steps, poison, extra = {}) {
  inv.manualSeed(0);
  const model = inv.nn.mlp({ sizes: [64, 16, 64] });
  const data = new inv.ImageDataset([inv.deadLeaves({ count: 1, size: 16, seed: 1 })], { crop: 8, batch: 2, seed: 2 });
  const optimizer = new inv.optim.Adam(model.parameters(), { lr: 1e-2 });
  const weights = () => inv.scope(() => inv.cat(model.parameters().map((p) => p.flatten())).toFloat32Array());
  const seen = [];
  let call = 0;
  const loss = (batch) => {
    const x = batch.flatten({ startDim: 1 });
    const l = inv.mseLoss(model.call(x), x);
    seen.push(weights());
    return poison(call++) ? l.mul(NaN) : l;
  };
  try {
    const result = await inv.training.runTraining({ model, optimizer, data, steps, loss, lr: 1e-2, ema: 0, progress: false, ...extra });
    return { result, seen, final: weights() };
  } finally {
    optimizer.dispose();
    data.dispose();
    model.dispose();
  }
}

test('a NaN or infinite loss skips its update and is counted; the run still makes all its steps', async (t) => {
  const bad = new Set([2, 3, 7]);
  const { result, seen } = await run(6, (c) => bad.has(c));
  t.equal(result.nonFiniteLosses, 3, 'three batches skipped, counted in nonFiniteLosses');
  t.equal(result.step, 6, 'six updates made (a skipped batch is not a step)');
  t.equal(result.losses.length, 6, 'and six finite losses recorded');
  t.ok(result.losses.every(Number.isFinite), 'all of them finite');
  t.ok(seen[3].every((v, i) => v === seen[2][i]), 'the weights after a skipped batch are those before it (no update)');
  t.ok(seen[2].some((v, i) => v !== seen[1][i]), 'while a finite batch updates them');
  const infinite = await run(3, (c) => c === 1, {});
  t.equal(infinite.result.nonFiniteLosses, 1, 'one NaN batch among finite ones');
});

test('too many non-finite losses in a row stop the run with an error naming the option', async (t) => {
  let message = '';
  let calls = 0;
  try {
    await run(50, (c) => (calls = c + 1) && c >= 4, { maxNonFiniteLosses: 3 });
  } catch (e) {
    message = e.message;
  }
  t.match(message, /^training: the loss was NaN for 3 batches in a row at step 5 \(option 'maxNonFiniteLosses' is 3\)/, 'stopped with a clear error');
  t.equal(calls, 7, 'after exactly 3 bad batches following 4 good steps');
  await run(3, () => false, { maxNonFiniteLosses: 0 }).then(
    () => t.fail('maxNonFiniteLosses 0 accepted'),
    (e) => t.match(e.message, /option 'maxNonFiniteLosses' must be a positive integer \(batches in a row\), got 0/),
  );
});

test('samplers refuse to return NaN or ±Inf images: an error naming which images, and nothing left behind', async (t) => {
  const A = inv.operators.create('inpainting', { imageShape: [1, 8, 8], batch: 3, seed: 1 });
  const y = A.forward(inv.rand([3, 1, 8, 8], { seed: 2 }));
  // Image 1 of the batch turns non-finite at small σ: a model that breaks down near the end of sampling.
  const broken = (value) => ({
    denoise: (x, sigma) => (sigma < 0.5 ? inv.cat([x.narrow(0, 0, 1), x.narrow(0, 1, 1).mul(value), x.narrow(0, 2, 1)], { dim: 0 }) : x.div(sigma * sigma + 1)),
  });
  const base = inv.memory().tensors;
  for (const [sampler, value] of [['ddim', NaN], ['heun', Infinity], ['ddnm', NaN]]) {
    t.throws(
      () => inv.samplers[sampler](broken(value), { operator: A, y, steps: 6 }),
      new RegExp(`${sampler}: the result holds NaN or ±Inf in image 1 of 3 after \\d+ NFEs`),
      `${sampler}: an Error naming image 1`,
    );
    t.equal(inv.memory().tensors, base, `${sampler}: no tensor left behind`);
  }
  const rejected = await inv.samplers.heunAsync(broken(NaN), { operator: A, y, steps: 6 }).then(() => '', (e) => e.message);
  t.match(rejected, /^heunAsync: the result holds NaN or ±Inf in image 1 of 3/, 'the async twin rejects the same way');
  const fine = inv.samplers.ddim(broken(1), { operator: A, y, steps: 6 });
  t.deepEqual(fine.images.shape, [3, 1, 8, 8], 'a finite result is returned as before');
  fine.images.dispose();
  y.dispose();
  A.dispose();
});
