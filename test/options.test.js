'use strict';
// Options are checked once, natively: a value of the wrong type and a key nothing reads are errors that name
// the option, for models, layers, operator families and optimizers alike.
const test = require('tape');
const inv = require('..');

test('models and layers: wrong types and unknown keys are refused by name', (t) => {
  t.throws(() => new inv.models.Unconditional({ channels: 'wide' }), /unconditional: option 'channels' must be a number, got a string/);
  t.throws(() => new inv.models.Palette({ multipliers: 2 }), /palette: option 'multipliers' must be a list of integers, got a number/);
  t.throws(() => new inv.models.IDM({ reversible: 1 }), /idm: option 'reversible' must be a boolean, got a number/);
  t.throws(() => new inv.models.IDM({ skips: true }), /idm: option 'skips' must be a string, got a boolean/);
  t.throws(() => new inv.models.Unconditional({ width: 3 }), /unconditional: unknown option 'width' \(it takes .*channels.*\)/);
  t.throws(() => inv.nn.linear({ inFeatures: 2, outFeatures: 2, bais: false }), /linear: unknown option 'bais' \(did you mean 'bias'\? it takes bias, inFeatures, outFeatures\)/);
  t.throws(() => inv.nn.mlp({ sizes: [2, 2], activation: 3 }), /mlp: option 'activation' must be a string, got a number/);
  const m = inv.nn.linear({ inFeatures: 2, outFeatures: 3, bias: false });
  t.deepEqual(m.namedParameters().map(([n]) => n), ['weight'], 'a known option still takes effect');
  m.dispose();
  t.end();
});

test('operator families: wrong types and unknown keys are refused by name', (t) => {
  const imageShape = [1, 16, 16];
  t.throws(() => inv.operators.create('inpainting', { imageShape, keep: 0.5, kep: 0.3 }), /inpainting: unknown option 'kep' \(did you mean 'keep'\? it takes .*keep.*\)/);
  t.throws(() => inv.operators.create('blockCS', { imageShape, ratio: 0.3, blockSize: 8, scrambled: 'yes' }), /blockCS: option 'scrambled' must be a boolean, got a string/);
  t.throws(() => inv.operators.create('blur', { imageShape, kernel: 1 }), /blur: option 'kernel' must be a string, got a number/);
  t.throws(() => inv.operators.create('superResolution', { imageShape, ratio: 0.3 }), /superResolution: unknown option 'ratio'/);
  const A = inv.operators.create('blockCS', { imageShape, ratio: 0.25, blockSize: 8, scrambled: false, noiseStd: 0.1, batch: 2, seed: 3 });
  t.equal(A.batch, 2, 'the shared options are read');
  A.dispose();
  t.end();
});

test('optimizers: options of another kind are refused', (t) => {
  inv.scope(() => {
    const p = inv.zeros([2], { requiresGrad: true });
    t.throws(() => new inv.optim.Adam([p], { momentum: 0.9 }), /adam: unknown option 'momentum' \(it takes .*beta1.*\)/);
    t.throws(() => new inv.optim.SGD([p], { nesterov: 1 }), /sgd: option 'nesterov' must be a boolean, got a number/);
    const sgd = new inv.optim.SGD([p], { lr: 0.1, momentum: 0.9, nesterov: true });
    t.equal(sgd.lr, 0.1, 'the options that belong are taken');
    sgd.dispose();
  });
  t.end();
});
