'use strict';
// Tensor factories and ops, checked against values computed independently in JS.
const test = require('tape');
const inv = require('..');
const { close } = require('./helpers');

test('factories make the shapes, dtypes and values asked for', (t) => {
  inv.scope(() => {
    const a = inv.tensor(new Float64Array([1, 2, 3, 4, 5, 6]), [2, 3]);
    t.deepEqual(a.shape, [2, 3]);
    t.equal(a.dtype, 'float64', 'dtype follows a Float64Array');
    t.equal(a.numel, 6);
    t.equal(a.device, 'cpu');
    t.deepEqual(a.toArray(), [[1, 2, 3], [4, 5, 6]]);
    t.equal(inv.tensor([1, 2], [2]).dtype, 'float32', 'number[] becomes float32');
    t.equal(inv.tensor(new Int32Array([1, 2]), [2]).dtype, 'int32');
    t.equal(inv.tensor([1, 2], [2], { dtype: 'float64' }).dtype, 'float64');
    t.deepEqual(Array.from(inv.zeros([3]).toFloat32Array()), [0, 0, 0]);
    t.deepEqual(Array.from(inv.ones([2], { dtype: 'int64' }).toTypedArray()), [1n, 1n]);
    t.deepEqual(Array.from(inv.full([2], 7).toFloat32Array()), [7, 7]);
    t.deepEqual(Array.from(inv.arange(4).toFloat32Array()), [0, 1, 2, 3]);
    t.deepEqual(Array.from(inv.arange(1, 2, 0.25).toFloat32Array()), [1, 1.25, 1.5, 1.75]);
    t.deepEqual(Array.from(inv.linspace(0, 1, 5).toFloat32Array()), [0, 0.25, 0.5, 0.75, 1]);
    t.deepEqual(inv.eye(2).toArray(), [[1, 0], [0, 1]]);
    t.equal(inv.zeros([2, 2]).requiresGrad, false);
    t.equal(inv.zeros([2, 2], { requiresGrad: true }).requiresGrad, true);
  });
  t.end();
});

test('seeded random tensors reproduce and have the right moments', (t) => {
  inv.scope(() => {
    const a = inv.randn([20000], { seed: 7 }).toFloat32Array();
    const b = inv.randn([20000], { seed: 7 }).toFloat32Array();
    const c = inv.randn([20000], { seed: 8 }).toFloat32Array();
    t.deepEqual(a, b, 'same seed, same numbers');
    t.notDeepEqual(a, c, 'another seed, other numbers');
    const mean = a.reduce((s, v) => s + v, 0) / a.length;
    const variance = a.reduce((s, v) => s + (v - mean) ** 2, 0) / a.length;
    t.ok(Math.abs(mean) < 0.03 && Math.abs(variance - 1) < 0.05, `randn mean ${mean.toFixed(3)}, variance ${variance.toFixed(3)}`);
    const u = inv.rand([20000], { seed: 1 }).toFloat32Array();
    t.ok(u.every((v) => v >= 0 && v < 1), 'rand in [0, 1)');
    const p = Array.from(inv.randperm(10, { seed: 3 }).toFloat64Array()).sort((x, y) => x - y);
    t.deepEqual(p, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 'randperm is a permutation');
  });
  t.end();
});

test('broadcasting arithmetic, scalars and unary math match JS', (t) => {
  inv.scope(() => {
    const xs = [0.5, -1.5, 2, 3.25];
    const x = inv.tensor(xs, [2, 2]);
    const row = inv.tensor([10, 20], [1, 2]);
    close(t, x.add(row).toFloat32Array(), [10.5, 18.5, 12, 23.25], 1e-6, 'add broadcasts a row');
    close(t, x.sub(1).toFloat32Array(), xs.map((v) => v - 1), 1e-6, 'sub scalar');
    close(t, x.mul(x).toFloat32Array(), xs.map((v) => v * v), 1e-6, 'mul');
    close(t, x.div(2).toFloat32Array(), xs.map((v) => v / 2), 1e-6, 'div scalar');
    close(t, x.pow(2).toFloat32Array(), xs.map((v) => v ** 2), 1e-5, 'pow');
    close(t, x.abs().exp().log().toFloat32Array(), xs.map(Math.abs), 1e-5, 'log(exp(|x|))');
    close(t, x.tanh().toFloat32Array(), xs.map(Math.tanh), 1e-6, 'tanh');
    close(t, x.sigmoid().toFloat32Array(), xs.map((v) => 1 / (1 + Math.exp(-v))), 1e-6, 'sigmoid');
    close(t, x.relu().toFloat32Array(), xs.map((v) => Math.max(v, 0)), 0, 'relu');
    close(t, x.clamp({ min: 0, max: 1 }).toFloat32Array(), xs.map((v) => Math.min(1, Math.max(0, v))), 0, 'clamp');
    close(t, x.maximum(inv.zeros([2, 2])).toFloat32Array(), xs.map((v) => Math.max(v, 0)), 0, 'maximum');
    t.deepEqual(Array.from(inv.tensor([1, 2, 3], [3], { dtype: 'int32' }).add(1).toTypedArray()), [2, 3, 4], 'integer scalars keep int dtype');
    t.equal(inv.tensor([1, 2, 3], [3], { dtype: 'int32' }).add(1).dtype, 'int32');
  });
  t.end();
});

test('comparisons and where', (t) => {
  inv.scope(() => {
    const x = inv.tensor([1, 5, 3], [3]);
    t.deepEqual(Array.from(x.gt(2).toTypedArray()), [0, 1, 1]);
    t.equal(x.gt(2).dtype, 'bool');
    t.deepEqual(Array.from(inv.where(x.gt(2), x, 0).toFloat32Array()), [0, 5, 3]);
    t.deepEqual(Array.from(inv.where(x.le(1), -1, x).toFloat32Array()), [-1, 5, 3]);
    t.ok(x.allclose(inv.tensor([1, 5, 3.000001], [3])), 'allclose within tolerance');
    t.notOk(x.equal(inv.tensor([1, 5, 4], [3])), 'equal sees a difference');
    t.ok(x.isnan().logicalNot().all(), 'no NaN');
  });
  t.end();
});

test('reductions with dim and keepdim', (t) => {
  inv.scope(() => {
    const x = inv.tensor([1, 2, 3, 4, 5, 6], [2, 3]);
    t.equal(x.sum().item(), 21);
    t.deepEqual(Array.from(x.sum({ dim: 0 }).toFloat32Array()), [5, 7, 9]);
    t.deepEqual(x.sum({ dim: 1, keepdim: true }).shape, [2, 1]);
    t.deepEqual(Array.from(x.mean({ dim: 1 }).toFloat32Array()), [2, 5]);
    t.equal(x.max().item(), 6);
    t.deepEqual(Array.from(x.max({ dim: 1 }).toFloat32Array()), [3, 6]);
    t.equal(x.argmax().item(), 5);
    t.deepEqual(Array.from(x.amin({ dim: [0, 1] }).toFloat32Array()), [1]);
    close(t, [x.std().item()], [Math.sqrt(17.5 / 5)], 1e-6, 'unbiased std');
    close(t, [x.norm().item()], [Math.sqrt(91)], 1e-5, 'Frobenius norm');
    close(t, [x.logsumexp(1).toFloat32Array()[0]], [Math.log(Math.exp(1) + Math.exp(2) + Math.exp(3))], 1e-5, 'logsumexp');
    t.deepEqual(Array.from(x.cumsum(1).toFloat32Array()), [1, 3, 6, 4, 9, 15]);
    t.equal(x.prod().item(), 720);
  });
  t.end();
});

test('shape ops move the right elements', (t) => {
  inv.scope(() => {
    const x = inv.arange(6).reshape([2, 3]);
    t.deepEqual(x.transpose(0, 1).toArray(), [[0, 3], [1, 4], [2, 5]]);
    t.deepEqual(x.permute([1, 0]).contiguous().toArray(), [[0, 3], [1, 4], [2, 5]]);
    t.deepEqual(x.flatten().shape, [6]);
    t.deepEqual(x.unsqueeze(0).shape, [1, 2, 3]);
    t.deepEqual(x.unsqueeze(0).squeeze().shape, [2, 3]);
    t.deepEqual(inv.tensor([1, 2], [2, 1]).expand([2, 3]).toArray(), [[1, 1, 1], [2, 2, 2]]);
    t.deepEqual(inv.cat([x, x], { dim: 0 }).shape, [4, 3]);
    t.deepEqual(inv.stack([x, x], { dim: 0 }).shape, [2, 2, 3]);
    t.deepEqual(x.chunk(3, { dim: 1 }).map((c) => c.shape), [[2, 1], [2, 1], [2, 1]]);
    t.deepEqual(x.split(2, { dim: 1 }).map((c) => c.shape), [[2, 2], [2, 1]]);
    t.deepEqual(x.narrow(1, 1, 2).toArray(), [[1, 2], [4, 5]]);
    t.deepEqual(x.slice(1, { start: 0, step: 2 }).toArray(), [[0, 2], [3, 5]]);
    t.deepEqual(x.select(0, 1).toArray(), [3, 4, 5]);
    t.deepEqual(x.indexSelect(1, inv.tensor(new BigInt64Array([2n, 0n]), [2])).toArray(), [[2, 0], [5, 3]]);
    t.deepEqual(x.gather(1, inv.tensor(new BigInt64Array([1n, 1n, 0n, 2n]), [2, 2])).toArray(), [[1, 1], [3, 5]]);
    t.deepEqual(x.flip([1]).toArray(), [[2, 1, 0], [5, 4, 3]]);
    t.deepEqual(x.roll([1], { dims: [1] }).toArray(), [[2, 0, 1], [5, 3, 4]]);
    t.deepEqual(x.pad([1, 0]).toArray(), [[0, 0, 1, 2], [0, 3, 4, 5]]);
    t.deepEqual(x.reshape([1, 1, 2, 3]).pad([1, 1, 0, 0], { mode: 'circular' }).reshape([2, 5]).toArray(), [[2, 0, 1, 2, 0], [5, 3, 4, 5, 3]]);
    t.deepEqual(x.repeat([1, 2]).shape, [2, 6]);
  });
  t.end();
});

test('linear algebra: matmul, svd, qr, pinverse, solve', (t) => {
  inv.scope(() => {
    const a = inv.tensor([1, 2, 3, 4, 5, 6], [2, 3]);
    const b = inv.tensor([1, 0, 0, 1, 1, 1], [3, 2]);
    t.deepEqual(a.matmul(b).toArray(), [[4, 5], [10, 11]], 'matmul by hand');
    t.deepEqual(a.unsqueeze(0).bmm(b.unsqueeze(0)).shape, [1, 2, 2]);
    const m = inv.randn([5, 4], { seed: 2, dtype: 'float64' });
    const [u, s, vh] = m.svd();
    close(t, u.mul(s.unsqueeze(0)).matmul(vh).toFloat64Array(), m.toFloat64Array(), 1e-10, 'U diag(S) Vh = M');
    const [q, r] = m.qr();
    close(t, q.matmul(r).toFloat64Array(), m.toFloat64Array(), 1e-10, 'Q R = M');
    close(t, q.transpose(0, 1).matmul(q).toFloat64Array(), inv.eye(4, undefined, { dtype: 'float64' }).toFloat64Array(), 1e-10, 'QᵀQ = I');
    const p = m.pinverse();
    close(t, m.matmul(p).matmul(m).toFloat64Array(), m.toFloat64Array(), 1e-10, 'M M⁺ M = M');
    const sq = m.transpose(0, 1).matmul(m);
    const rhs = inv.randn([4, 1], { seed: 3, dtype: 'float64' });
    close(t, sq.matmul(sq.solve(rhs)).toFloat64Array(), rhs.toFloat64Array(), 1e-8, 'A solve(A, b) = b');
    t.equal(inv.einsum('ij,jk->ik', [a, b]).equal(a.matmul(b)), true, 'einsum matmul');
  });
  t.end();
});

test('FFT: inverse, Parseval, shifts, complex views', (t) => {
  inv.scope(() => {
    const x = inv.randn([2, 8, 8], { seed: 4, dtype: 'float64' });
    const k = x.fft2({ norm: 'ortho' });
    t.equal(k.dtype, 'complex128');
    close(t, k.ifft2({ norm: 'ortho' }).real().toFloat64Array(), x.toFloat64Array(), 1e-12, 'ifft2(fft2(x)) = x');
    close(t, [k.abs().square().sum().item()], [x.square().sum().item()], 1e-9, 'Parseval with the unitary FFT');
    t.equal(inv.ones([4, 4]).fft2().abs().fftshift().argmax().item(), 10, 'fftshift moves DC to the centre');
    close(t, k.fftshift().ifftshift().viewAsReal().toFloat64Array(), k.viewAsReal().toFloat64Array(), 0, 'ifftshift undoes fftshift');
    const z = inv.complex(inv.tensor([3], [1]), inv.tensor([4], [1]));
    t.equal(z.abs().item(), 5, '|3 + 4i| = 5');
    close(t, [z.angle().item()], [Math.atan2(4, 3)], 1e-6, 'angle');
    t.deepEqual(z.conj().viewAsReal().toArray(), [[3, -4]]);
  });
  t.end();
});

test('network functionals agree with direct computations', (t) => {
  inv.scope(() => {
    const img = inv.arange(16).reshape([1, 1, 4, 4]);
    const box = inv.ones([1, 1, 2, 2]);
    const conv = inv.conv2d(img, box, { stride: 2 });
    t.deepEqual(conv.toArray(), [[[[0 + 1 + 4 + 5, 2 + 3 + 6 + 7], [8 + 9 + 12 + 13, 10 + 11 + 14 + 15]]]], 'conv2d with a 2x2 box, stride 2');
    t.deepEqual(inv.avgPool2d(img, 2).mul(4).toArray(), conv.toArray(), 'avg pooling = box conv / 4');
    // A batch of single-channel images with a 5x5 kernel takes a LibTorch path that allocates through
    // raw_allocate; the counting allocator once failed an internal assert there.
    const blurred = inv.conv2d(inv.ones([8, 1, 32, 32]), inv.full([1, 1, 5, 5], 1 / 25), { padding: 2 });
    close(t, [blurred.select(2, 16).select(2, 16).mean().item()], [1], 1e-5, 'conv2d on an 8x1x32x32 batch (raw allocation path)');
    t.deepEqual(inv.maxPool2d(img, 2).toArray(), [[[[5, 7], [13, 15]]]]);
    const up = inv.convTranspose2d(inv.ones([1, 1, 2, 2]), box, { stride: 2 });
    t.deepEqual(up.sum().item(), 16, 'transposed conv spreads each input over a 2x2 block');
    const un = inv.pixelUnshuffle(img, 2);
    t.deepEqual(un.shape, [1, 4, 2, 2]);
    t.ok(inv.pixelShuffle(un, 2).equal(img), 'pixelShuffle inverts pixelUnshuffle');
    t.deepEqual(inv.interpolate(inv.ones([1, 1, 2, 2]), { scaleFactor: 2, mode: 'bilinear', alignCorners: false }).shape, [1, 1, 4, 4]);
    t.deepEqual(inv.interpolate(img, { size: [2, 2], mode: 'area' }).toArray(), inv.avgPool2d(img, 2).toArray(), 'area resize = average pooling');
    t.deepEqual(inv.adaptiveAvgPool2d(img, [1, 1]).item(), 7.5);
    const sm = inv.randn([3, 5], { seed: 1 }).softmax(1);
    close(t, sm.sum({ dim: 1 }).toFloat32Array(), [1, 1, 1], 1e-6, 'softmax rows sum to 1');
    close(t, sm.log().toFloat32Array(), inv.randn([3, 5], { seed: 1 }).logSoftmax(1).toFloat32Array(), 1e-5, 'logSoftmax = log softmax');
    const x = inv.randn([2, 4, 3, 3], { seed: 5 });
    const gn = inv.groupNorm(x, 2);
    close(t, gn.reshape([2, 2, 18]).mean({ dim: 2 }).toFloat32Array(), [0, 0, 0, 0], 1e-5, 'groupNorm zero mean per group');
    const ln = inv.layerNorm(x, [3, 3]);
    close(t, ln.var({ dim: [2, 3], unbiased: false }).flatten().toFloat32Array(), new Array(8).fill(1), 1e-3, 'layerNorm unit variance');
    const q = inv.randn([1, 3, 4], { seed: 6 });
    const k = inv.randn([1, 5, 4], { seed: 7 });
    const v = inv.randn([1, 5, 2], { seed: 8 });
    const manual = q.matmul(k.transpose(1, 2)).div(2).softmax(2).matmul(v);
    close(t, inv.attention(q, k, v).toFloat32Array(), manual.toFloat32Array(), 1e-6, 'attention = softmax(q kᵀ/√d) v');
    const mask = inv.tensor(new Uint8Array([1, 1, 0, 0, 0]), [1, 1, 5]).ne(0);
    const masked = inv.attention(q, k, v, { mask });
    close(t, masked.toFloat32Array(), inv.attention(q, k.narrow(1, 0, 2), v.narrow(1, 0, 2)).toFloat32Array(), 1e-6, 'a bool mask removes keys');
    t.equal(inv.mseLoss(inv.ones([4]), inv.zeros([4])).item(), 1);
    t.equal(inv.l1Loss(inv.full([4], 3), inv.zeros([4]), { reduction: 'sum' }).item(), 12);
    const w = inv.randn([3, 2], { seed: 9 });
    close(t, inv.linear(inv.ones([1, 2]), w).toFloat32Array(), w.sum({ dim: 1 }).toFloat32Array(), 1e-6, 'linear');
    t.equal(inv.dropout(inv.ones([1000]), 0.5, { train: false }).sum().item(), 1000, 'dropout is identity in eval');
  });
  t.end();
});

test('dtypes float32/float64/float16/bfloat16 convert both ways', (t) => {
  inv.scope(() => {
    const x = inv.tensor([0.5, 1.25, -2], [3]);
    for (const dtype of ['float32', 'float64', 'float16', 'bfloat16']) {
      const y = x.to({ dtype });
      t.equal(y.dtype, dtype);
      close(t, y.toFloat32Array(), [0.5, 1.25, -2], 0, `${dtype} holds exactly representable values`);
    }
    close(t, x.to({ dtype: 'float16' }).mul(2).to({ dtype: 'float32' }).toFloat32Array(), [1, 2.5, -4], 0, 'arithmetic in float16');
    t.equal(inv.tensor([1 / 3], [1]).to({ dtype: 'bfloat16' }).toFloat32Array()[0], 0.333984375, 'bfloat16 rounds to 8 bits of mantissa');
  });
  t.end();
});
