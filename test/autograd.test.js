'use strict';
const test = require('tape');
const inv = require('..');
const { close } = require('./helpers');

test('backward computes the gradients of known functions', (t) => {
  inv.scope(() => {
    const xs = [0.5, -1, 2];
    const x = inv.tensor(xs, [3], { requiresGrad: true, dtype: 'float64' });
    x.mul(x).sum().backward();
    close(t, x.grad.toFloat64Array(), xs.map((v) => 2 * v), 1e-12, 'd/dx Σx² = 2x');
    x.sin().sum().backward();
    close(t, x.grad.toFloat64Array(), xs.map((v) => 2 * v + Math.cos(v)), 1e-12, 'gradients accumulate');
    x.zeroGrad();
    t.equal(x.grad, null, 'zeroGrad drops the gradient');
    const w = inv.randn([3, 2], { seed: 1, dtype: 'float64', requiresGrad: true });
    const y = x.detach().unsqueeze(0).matmul(w); // [1, 2]
    y.backward(inv.ones([1, 2], { dtype: 'float64' }));
    close(t, w.grad.toFloat64Array(), xs.flatMap((v) => [v, v]), 1e-12, 'non-scalar backward with an explicit gradient');
    t.notOk(x.detach().requiresGrad, 'detach cuts the graph');
  });
  t.end();
});

test('noGrad stops recording and restores the mode, also after a throw', (t) => {
  inv.scope(() => {
    const x = inv.ones([2], { requiresGrad: true });
    const y = inv.noGrad(() => x.mul(2));
    t.notOk(y.requiresGrad, 'no history inside noGrad');
    t.ok(x.mul(2).requiresGrad, 'history again afterwards');
    t.throws(() => inv.noGrad(() => { throw new Error('boom'); }), /boom/);
    t.ok(x.mul(2).requiresGrad, 'mode restored after an exception');
    t.ok(inv.noGrad(() => inv.enableGrad(() => x.mul(2))).requiresGrad, 'enableGrad inside noGrad');
    const flag = inv.tensor([1], [1]);
    flag.requiresGrad = true;
    t.ok(flag.requiresGrad, 'requiresGrad setter');
  });
  t.end();
});

test('async ops inherit the grad mode of their caller', async (t) => {
  await inv.scopeAsync(async () => {
    const x = inv.ones([2, 2], { requiresGrad: true });
    const tracked = await x.matmulAsync(x);
    const untracked = await inv.noGrad(() => x.matmulAsync(x));
    t.ok(tracked.requiresGrad, 'recorded when grad is on');
    t.notOk(untracked.requiresGrad, 'not recorded when started inside noGrad');
    tracked.sum().backward();
    close(t, x.grad.toFloat32Array(), [4, 4, 4, 4], 1e-6, 'backward through an op run on a worker thread');
  });
});

test('grad(output, inputs) gives input gradients without touching .grad', (t) => {
  inv.scope(() => {
    const w = inv.tensor([1, 2, 3], [3], { requiresGrad: true, dtype: 'float64' });
    const x = inv.tensor([0.5, -1, 2], [3], { requiresGrad: true, dtype: 'float64' });
    const unused = inv.ones([2], { requiresGrad: true });
    const [gx, gu] = inv.grad(w.mul(x).square().sum(), [x, unused]);
    t.deepEqual(Array.from(gx.toFloat64Array()), [2 * 1 * 0.5, 2 * 4 * -1, 2 * 9 * 2], 'd/dx Σ(wx)² = 2w²x');
    t.deepEqual(Array.from(gu.toFloat32Array()), [0, 0], 'zeros for an input the output does not use');
    t.equal(w.grad, null, 'the weights\' .grad is untouched');
    t.equal(x.grad, null, 'and so is the input\'s');
    t.throws(() => inv.grad(x.mul(2), [x]), /argument 'output' expected a one-element tensor/);
  });
  t.end();
});
