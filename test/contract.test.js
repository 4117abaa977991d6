'use strict';
// The one native model contract (denoise with a context), the facts models state about themselves, and the
// object methods generated from the op schema.
const test = require('tape');
const inv = require('..');

const TINY = { channels: 8, groups: 4, heads: 2, multipliers: [1, 2] };
const IDM_TINY = { channels: 8, groups: 4, heads: 2, blocks: 2, attention: [true, true], steps: 3 };
const maxDiff = (a, b) => inv.scope(() => a.sub(b).abs().max().item());

function perturb(model, seed, scale = 0.05) {
  inv.scope(() =>
    model.loadStateDict(model.namedParameters().map(([name, p], i) => [name, p.add(inv.randn(p.shape, { seed: seed + i, dtype: p.dtype }).mul(scale))])),
  );
  return model;
}

test('models state their size multiple and channels natively', (t) => {
  const cases = [
    [new inv.models.Unconditional(TINY), 4, 1],
    [new inv.models.Unconditional({ ...TINY, patch: 1, multipliers: [1, 2, 2] }), 4, 1],
    [new inv.models.Palette({ ...TINY, imageChannels: 3, multipliers: [1, 2, 2, 2] }), 16, 3],
    [new inv.models.IDM({ ...IDM_TINY, multipliers: [1, 2] }), 4, 1],
    [new inv.models.IDM({ ...IDM_TINY, attention: [true, true, false], multipliers: [1, 2, 2] }), 8, 1],
  ];
  for (const [model, multiple, channels] of cases) {
    t.equal(model.sizeMultiple, multiple, `${model.kind} ${JSON.stringify(model.options.multipliers)}: multiples of ${multiple}`);
    t.equal(model.info.sizeMultiple, multiple, 'info says the same');
    t.equal(model.info.imageChannels, channels, `${channels} image channels`);
    model.dispose();
  }
  const layer = inv.nn.linear({ inFeatures: 2, outFeatures: 3 });
  t.deepEqual(layer.info, { arity: 1 }, 'a layer states its arity only');
  layer.dispose();
  t.end();
});

test('Palette reads A⁺y from the context natively: the same as feeding it by hand', (t) => {
  inv.scope(() => {
    const model = perturb(new inv.models.Palette(TINY), 3);
    const x = inv.deadLeaves({ count: 2, size: 16, seed: 4 });
    const A = inv.operators.create('inpainting', { imageShape: [1, 16, 16], keep: 0.5, seed: 2 });
    const y = A.forward(x);
    const noisy = x.add(inv.randn(x.shape, { seed: 5 }).mul(0.5));
    const viaContext = model.denoise(noisy, 0.5, { operator: A, y });
    const byHand = model.call(noisy, inv.tensor([0.5], [1]), A.pinv(y));
    t.equal(maxDiff(viaContext, byHand), 0, 'bit for bit');
    t.ok(maxDiff(viaContext, model.denoise(noisy, 0.5, { operator: A, y: y.mul(0) })) > 1e-4, 'the output depends on y');
    t.throws(() => model.denoise(noisy, 0.5), /palette: the context needs 'operator' and 'y'/, 'no context: a clear error');
    t.throws(() => model.denoise(noisy, 0.5, { operator: A }), /argument 'y' expected a value when the other of 'operator' and 'y' is given/);
  });
  t.end();
});

test('Unconditional ignores the context; IDM runs its chain through the same row', async (t) => {
  await inv.scopeAsync(async () => {
    const prior = perturb(new inv.models.Unconditional(TINY), 7);
    const x = inv.deadLeaves({ count: 1, size: 16, seed: 8 });
    const A = inv.operators.create('blockCS', { imageShape: [1, 16, 16], ratio: 0.3, blockSize: 8, seed: 1 });
    const y = A.forward(x);
    t.equal(maxDiff(prior.denoise(x, 1, { operator: A, y }), prior.denoise(x, 1)), 0, 'the unconditional prior ignores the measurement');
    t.equal(maxDiff(await prior.denoiseAsync(x, 1, { operator: A, y }), prior.denoise(x, 1)), 0, 'async: the same');

    const idm = perturb(new inv.models.IDM({ ...IDM_TINY, multipliers: [1, 2] }), 9);
    const sync = idm.reconstruct(A, y);
    t.deepEqual(sync.shape, [1, 1, 16, 16], 'IDM reconstructs an image');
    t.equal(maxDiff(await idm.reconstructAsync(A, y), sync), 0, 'async: the same');
  });
  t.end();
});

test('generated object methods check their options', (t) => {
  inv.scope(() => {
    const A = inv.operators.create('inpainting', { imageShape: [1, 8, 8], keep: 0.5 });
    const x = inv.randn([1, 1, 8, 8], { seed: 1 });
    const y = A.forward(x);
    t.throws(() => A.measure(x, { sed: 1 }), /measure: unknown option 'sed' \(did you mean 'seed'\?\); it takes seed/);
    t.throws(() => inv.langevin(A, x, { center: x, y, priorStd: 1, dataStd: 1, steps: 2 }), /argument 'lr' expected a value \(it is required\)/);
    const z = inv.langevin(A, x, { center: x, y, lr: 1e-3, priorStd: 1, dataStd: 1, steps: 2, seed: 3 });
    t.equal(maxDiff(z, inv.langevin(A, x, { center: x, y, lr: 1e-3, priorStd: 1, dataStd: 1, steps: 2, seed: 3 })), 0, 'langevin is reproducible by seed');
    t.ok(A instanceof inv.operators.Operator, 'an Operator');
  });
  t.end();
});
