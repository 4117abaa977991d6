'use strict';
const test = require('tape');
const fs = require('fs');
const os = require('os');
const path = require('path');
const inv = require('..');
const { close } = require('./helpers');

test('linear and conv2d modules compute with their own parameters', (t) => {
  inv.scope(() => {
    const lin = inv.nn.linear({ inFeatures: 3, outFeatures: 2 });
    const params = Object.fromEntries(lin.namedParameters());
    t.deepEqual(Object.keys(params), ['weight', 'bias']);
    t.deepEqual(params.weight.shape, [2, 3]);
    const x = inv.randn([4, 3], { seed: 1 });
    close(t, lin.call(x).toFloat32Array(), x.matmul(params.weight.transpose(0, 1)).add(params.bias).toFloat32Array(), 1e-6, 'linear = x Wᵀ + b');
    const conv = inv.nn.conv2d({ inChannels: 2, outChannels: 3, kernelSize: 3, padding: 1 });
    const [w, b] = conv.parameters();
    const img = inv.randn([1, 2, 5, 5], { seed: 2 });
    close(t, conv.call(img).toFloat32Array(), inv.conv2d(img, w, { bias: b, padding: 1 }).toFloat32Array(), 1e-6, 'conv2d module = functional');
    const gn = inv.nn.groupNorm({ groups: 1, channels: 2 });
    close(t, gn.call(img).mean().toFloat32Array(), [0], 1e-5, 'groupNorm module normalises');
    t.deepEqual(inv.moduleKinds().slice().sort(), ['conv2d', 'groupNorm', 'idm', 'invfussion', 'linear', 'mlp', 'palette', 'unconditional']);
    t.throws(() => new inv.Module('unet', {}), /module kind 'unet' is unknown; known kinds: linear/);
    t.throws(() => inv.nn.linear({ inFeatures: 0, outFeatures: 2 }), /'inFeatures' must be positive/);
    t.throws(() => inv.nn.linear({ outFeatures: 2 }), /option 'inFeatures' is required/);
    t.throws(() => lin.forward(x, x), /expected 1 tensors, got 2/);
  });
  t.end();
});

test('train/eval and to(dtype)', (t) => {
  const m = inv.nn.mlp({ sizes: [2, 4, 1], activation: 'tanh' });
  t.ok(m.training, 'modules start in training mode');
  t.notOk(m.eval().training);
  t.ok(m.train().training);
  m.to({ dtype: 'float64' });
  t.ok(m.parameters().every((p) => p.dtype === 'float64'), 'parameters moved to float64');
  t.throws(() => m.to({ device: 'cuda' }), inv.backend().cuda ? /$^/ : /no usable CUDA device/);
  t.throws(() => inv.nn.mlp({ sizes: [2, 1], activation: 'swish' }), /'activation' must be 'relu'/);
  m.dispose();
  t.end();
});

test('Adam and SGD steps follow their update rules', (t) => {
  inv.scope(() => {
    const start = [1, -2, 0.5];
    const c = [0.3, 0.1, -0.7];
    const target = inv.tensor(c, [3], { dtype: 'float64' });
    const p = inv.tensor(start, [3], { dtype: 'float64', requiresGrad: true });
    const lr = 0.1, b1 = 0.9, b2 = 0.999, eps = 1e-8;
    const adam = new inv.optim.Adam([p], { lr, beta1: b1, beta2: b2, eps });
    const ref = start.slice();
    const m = [0, 0, 0], v = [0, 0, 0];
    for (let step = 1; step <= 3; step++) {
      adam.zeroGrad();
      inv.scope(() => p.sub(target).square().sum().backward());
      adam.step();
      for (let i = 0; i < 3; i++) {
        const g = 2 * (ref[i] - c[i]);
        m[i] = b1 * m[i] + (1 - b1) * g;
        v[i] = b2 * v[i] + (1 - b2) * g * g;
        const mh = m[i] / (1 - b1 ** step), vh = v[i] / (1 - b2 ** step);
        ref[i] -= (lr * mh) / (Math.sqrt(vh) + eps);
      }
    }
    close(t, p.toFloat64Array(), ref, 1e-12, 'three Adam steps match the formula');
    t.equal(adam.lr, 0.1);
    adam.lr = 0.05;
    t.equal(adam.lr, 0.05, 'lr can be set');
    t.throws(() => { adam.lr = -1; }, /positive finite/);

    const q = inv.tensor(start, [3], { dtype: 'float64', requiresGrad: true });
    const sgd = new inv.optim.SGD([q], { lr: 0.1, momentum: 0.9 });
    const r = start.slice(), buf = [0, 0, 0];
    for (let step = 0; step < 3; step++) {
      sgd.zeroGrad();
      inv.scope(() => q.sub(target).square().sum().backward());
      sgd.step();
      for (let i = 0; i < 3; i++) {
        const g = 2 * (r[i] - c[i]);
        buf[i] = step === 0 ? g : 0.9 * buf[i] + g;
        r[i] -= 0.1 * buf[i];
      }
    }
    close(t, q.toFloat64Array(), r, 1e-12, 'SGD with momentum matches the formula');

    const w = inv.tensor([1, 1], [2], { dtype: 'float64', requiresGrad: true });
    const adamw = new inv.optim.AdamW([w], { lr: 0.1, weightDecay: 0.5 });
    w.mul(0).sum().backward(); // zero gradient: only the decoupled decay acts
    adamw.step();
    close(t, w.toFloat64Array(), [1 - 0.1 * 0.5, 1 - 0.1 * 0.5], 1e-12, 'AdamW decays weights directly');

    const g = inv.tensor([3, 4], [2], { requiresGrad: true });
    g.mul(inv.tensor([3, 4], [2])).sum().backward(); // grad = [3, 4], norm 5
    const norm = inv.optim.clipGradNorm([g], 1);
    close(t, [norm], [5], 1e-6, 'clipGradNorm returns the norm before clipping');
    close(t, g.grad.toFloat32Array(), [0.6, 0.8], 1e-5, 'and scales the gradient to norm 1');
    t.throws(() => new inv.optim.Adam([inv.ones([2])]), /does not require grad/);
    t.throws(() => new inv.optim.Adam([]), /at least one Tensor/);
  });
  t.end();
});

test('an MLP learns a smooth function (loss falls tenfold)', (t) => {
  const net = inv.nn.mlp({ sizes: [1, 32, 32, 1], activation: 'tanh' });
  const opt = new inv.optim.Adam(net.parameters(), { lr: 1e-2 });
  const x = inv.keep(inv.linspace(-2, 2, 64).reshape([64, 1]));
  const y = inv.keep(x.mul(3).sin());
  const losses = [];
  for (let i = 0; i < 300; i++) {
    inv.scope(() => {
      opt.zeroGrad();
      const loss = inv.mseLoss(net.call(x), y);
      loss.backward();
      opt.step();
      losses.push(loss.item());
    });
  }
  t.ok(losses[299] < losses[0] / 10, `loss ${losses[0].toFixed(3)} -> ${losses[299].toFixed(4)}`);
  net.dispose();
  opt.dispose();
  t.end();
});

test('Module.save / Module.load round-trip parameters and config', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'invdiff-'));
  const file = path.join(dir, 'mlp.safetensors');
  const a = inv.nn.mlp({ sizes: [3, 5, 2], activation: 'silu' });
  a.save(file, { note: 'test' });
  const b = inv.Module.load(file);
  t.equal(b.kind, 'mlp');
  t.deepEqual(b.options, { sizes: [3, 5, 2], activation: 'silu' });
  inv.scope(() => {
    const x = inv.randn([4, 3], { seed: 3 });
    t.ok(a.call(x).equal(b.call(x)), 'the loaded module computes the same outputs');
  });
  const c = await inv.Module.loadAsync(file);
  t.equal(c.parameters().length, 4, 'loadAsync');
  const other = inv.nn.mlp({ sizes: [3, 4, 2] });
  t.throws(() => other.loadStateDict(Object.fromEntries(a.namedParameters())), /shape \[5, 3\], the module has \[4, 3\]/);
  fs.rmSync(dir, { recursive: true });
  t.end();
});

test('loadStateDict checks the set of names, not their count, and changes nothing when it fails', (t) => {
  inv.scope(() => {
    const net = inv.nn.mlp({ sizes: [3, 4, 2] });
    const before = net.namedParameters().map(([n, p]) => [n, p.clone()]);
    const [w0, b0, w1] = before;
    const twice = [w0, b0, w1, ['1.weight', inv.zeros([2, 4])]]; // four tensors, but 1.bias is absent
    t.throws(() => net.loadStateDict(twice), /argument 'state' names '1\.weight' twice/, 'a duplicated name fails although the count matches');
    t.throws(() => net.loadStateDict([w0, b0, w1]), /argument 'state' lacks '1\.bias' \(it has 3 of the module's 4 tensors\)/, 'a missing name is named');
    t.throws(() => net.loadStateDict([['0.weight', inv.ones([4, 3])], b0, w1, ['1.bias', inv.ones([3])]]), /gives '1\.bias' shape \[3\], the module has \[2\]/);
    t.ok(net.namedParameters().every(([, p], i) => p.equal(before[i][1])), 'after the failures every parameter is as it was (nothing was copied in)');
    net.loadStateDict([['1.bias', inv.ones([2])], ['0.weight', inv.ones([4, 3])], b0, w1]);
    t.ok(Object.fromEntries(net.namedParameters())['1.bias'].equal(inv.ones([2])), 'any order of the same set loads');
  });
  t.end();
});

test('optimizer state round-trips through a safetensors checkpoint: resuming is bit-for-bit', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'invdiff-opt-'));
  const file = path.join(dir, 'ckpt.safetensors');
  const x = inv.keep(inv.randn([16, 3], { seed: 1 }));
  const y = inv.keep(inv.randn([16, 2], { seed: 2 }));
  const train = (net, opt, steps) => {
    for (let i = 0; i < steps; i++) inv.scope(() => { opt.zeroGrad(); inv.mseLoss(net.call(x), y).backward(); opt.step(); });
  };
  for (const Kind of [inv.optim.Adam, inv.optim.AdamW, inv.optim.SGD]) {
    inv.manualSeed(3);
    const straight = inv.nn.mlp({ sizes: [3, 8, 2] });
    const start = Object.fromEntries(straight.namedParameters().map(([n, p]) => [n, inv.keep(p.clone())]));
    const optA = new Kind(straight.parameters(), { lr: 0.05, ...(Kind === inv.optim.SGD ? { momentum: 0.9 } : {}) });
    train(straight, optA, 10);

    const first = inv.nn.mlp({ sizes: [3, 8, 2] });
    first.loadStateDict(start);
    const optB = new Kind(first.parameters(), { lr: 0.05, ...(Kind === inv.optim.SGD ? { momentum: 0.9 } : {}) });
    train(first, optB, 5);
    inv.scope(() => inv.saveSafetensors(file, [...first.namedParameters(), ...optB.stateDict().map(([n, s]) => [`optimizer.${n}`, s])]));

    const { tensors } = inv.loadSafetensors(file);
    const resumed = inv.nn.mlp({ sizes: [3, 8, 2] });
    const params = Object.fromEntries(Object.entries(tensors).filter(([n]) => !n.startsWith('optimizer.')));
    const optimizer = Object.entries(tensors).filter(([n]) => n.startsWith('optimizer.')).map(([n, s]) => [n.slice('optimizer.'.length), s]);
    resumed.loadStateDict(params);
    const optC = new Kind(resumed.parameters(), { lr: 0.05, ...(Kind === inv.optim.SGD ? { momentum: 0.9 } : {}) });
    optC.loadStateDict(optimizer);
    train(resumed, optC, 5);
    const same = straight.namedParameters().every(([n, p]) => p.equal(Object.fromEntries(resumed.namedParameters())[n]));
    t.ok(same, `${Kind.name}: 5 + checkpoint + 5 steps equal 10 straight steps, bit for bit`);
    const fresh = inv.nn.mlp({ sizes: [3, 8, 2] });
    fresh.loadStateDict(params);
    const optD = new Kind(fresh.parameters(), { lr: 0.05, ...(Kind === inv.optim.SGD ? { momentum: 0.9 } : {}) });
    train(fresh, optD, 5);
    t.notOk(straight.namedParameters().every(([n, p]) => p.equal(Object.fromEntries(fresh.namedParameters())[n])), `${Kind.name}: without the optimizer state it differs`);
  }
  fs.rmSync(dir, { recursive: true });
  t.end();
});
