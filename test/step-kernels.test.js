'use strict';
// The fused arithmetic samplers step with: gaussianNoise (the counter-based generator), combine (a linear
// combination plus noise in one pass) and Operator.langevin (DAPS's inner chain, run natively).
const test = require('tape');
const inv = require('..');

// max |a − b| over the broadcast shapes, in float64.
const maxAbsDiff = (a, b) => inv.scope(() => a.to({ dtype: 'float64' }).sub(b.to({ dtype: 'float64' })).abs().max().item());

// P(|Z| > t) for a standard normal, from erfc by its continued-fraction-free series (t ≥ 1 here).
const twoSidedTail = { 1: 0.31731050786, 2: 0.04550026390, 3: 0.00269979606, 3.442619855899: 0.00057613722, 4: 0.00006334248 };

test('gaussianNoise: standard normal moments and tails, the ziggurat tail included', (t) => {
  const n = 1 << 21;
  const z = inv.gaussianNoise([n], { seed: 7, dtype: 'float64' }).toFloat64Array();
  let m = 0;
  for (const v of z) m += v;
  m /= n;
  let v2 = 0;
  let v3 = 0;
  let v4 = 0;
  let lag = 0;
  for (let i = 0; i < n; i++) {
    const d = z[i] - m;
    v2 += d * d;
    v3 += d * d * d;
    v4 += d * d * d * d;
    if (i) lag += d * (z[i - 1] - m);
  }
  v2 /= n;
  // Standard errors for n = 2²¹: mean 7e-4, variance 1e-3, skewness 1.7e-3, kurtosis 3.4e-3.
  t.ok(Math.abs(m) < 4 * 7e-4, `mean ${m.toExponential(2)}`);
  t.ok(Math.abs(v2 - 1) < 4 * 1e-3, `variance ${v2.toFixed(4)}`);
  t.ok(Math.abs(v3 / n / v2 ** 1.5) < 4 * 1.7e-3, `skewness ${(v3 / n / v2 ** 1.5).toExponential(2)}`);
  t.ok(Math.abs(v4 / n / (v2 * v2) - 3) < 4 * 3.4e-3, `kurtosis ${(v4 / n / (v2 * v2)).toFixed(4)}`);
  t.ok(Math.abs(lag / (n - 1) / v2) < 4 / Math.sqrt(n), `neighbours uncorrelated (${(lag / (n - 1) / v2).toExponential(2)})`);
  for (const [edge, p] of Object.entries(twoSidedTail)) {
    let count = 0;
    for (const v of z) if (Math.abs(v) > Number(edge)) count++;
    const sd = Math.sqrt(n * p * (1 - p));
    t.ok(Math.abs(count - n * p) < 4.5 * sd, `P(|z| > ${Number(edge).toFixed(2)}): ${count} draws, ${(n * p).toFixed(0)} ± ${sd.toFixed(0)} expected`);
  }
  t.end();
});

test('gaussianNoise: a seed gives the same numbers on any thread count, in any dtype, in any slice', (t) => {
  const threads = inv.backend().threads;
  const shape = [4, 3, 128, 128]; // big enough to be split between threads
  inv.setNumThreads(1);
  const one = inv.gaussianNoise(shape, { seed: 11, dtype: 'float64' });
  inv.setNumThreads(Math.max(2, threads));
  const many = inv.gaussianNoise(shape, { seed: 11, dtype: 'float64' });
  inv.setNumThreads(threads);
  t.ok(one.equal(many), 'one thread and several: bit for bit');
  const f32 = inv.gaussianNoise(shape, { seed: 11 });
  t.equal(f32.dtype, 'float32');
  t.ok(maxAbsDiff(f32.to({ dtype: 'float64' }), one) < 1e-6, 'float32 is the float64 draw rounded');
  // Element n depends on (seed, n) only: a flat draw's prefix is a shorter draw.
  const flat = inv.gaussianNoise([1000], { seed: 11, dtype: 'float64' });
  t.ok(flat.equal(one.flatten().narrow(0, 0, 1000)), 'a shorter draw is a prefix');
  t.notOk(inv.gaussianNoise([1000], { seed: 12, dtype: 'float64' }).equal(flat), 'another seed, other numbers');
  const scaled = inv.gaussianNoise([1000], { seed: 11, std: 2.5, dtype: 'float64' });
  t.ok(maxAbsDiff(scaled, flat.mul(2.5)) < 1e-12, 'std scales the draw');
  t.ok(inv.gaussianNoise([3], { seed: 1, std: 0 }).equal(inv.zeros([3])), 'std 0 is zeros');
  t.end();
});

test('gaussianNoise: bad arguments name themselves', (t) => {
  t.throws(() => inv.gaussianNoise([4], { seed: -1 }), /seed.*non-negative/, 'negative seed');
  t.throws(() => inv.gaussianNoise([4], { dtype: 'int64' }), /dtype.*floating/, 'integer dtype');
  t.throws(() => inv.gaussianNoise([4], { std: NaN }), /std.*finite/, 'NaN std');
  t.throws(() => inv.gaussianNoise([-2]), /shape/, 'negative size');
  t.end();
});

test('combine: the fused pass equals the same arithmetic in separate ops', (t) => {
  for (const dtype of ['float32', 'float64']) {
    inv.scope(() => {
      const [a, b, c] = [1, 2, 3].map((s) => inv.randn([2, 3, 17, 19], { seed: s, dtype }));
      const fused = inv.combine([a, b, c], [0.5, -1.25, 2]);
      const plain = a.mul(0.5).add(b.mul(-1.25)).add(c.mul(2));
      const tol = dtype === 'float32' ? 1e-5 : 1e-12;
      t.ok(maxAbsDiff(fused, plain) < tol, `${dtype}: Σ cₖ tₖ (max diff ${maxAbsDiff(fused, plain).toExponential(1)})`);
      t.equal(fused.dtype, dtype, `${dtype} stays ${dtype}`);
      const noisy = inv.combine([a, b], [1, 2], { noise: 0.3, seed: 5 });
      const expected = a.add(b.mul(2)).add(inv.gaussianNoise(a.shape, { seed: 5, std: 0.3, dtype }));
      t.ok(maxAbsDiff(noisy, expected) < tol, `${dtype}: plus noise · z with z = gaussianNoise(seed)`);
    });
  }
  t.end();
});

test('combine: broadcasting, other dtypes and autograd take LibTorch ops, with the same noise', (t) => {
  inv.scope(() => {
    const a = inv.randn([2, 1, 4, 4], { seed: 1, dtype: 'float64' });
    const row = inv.randn([4], { seed: 2, dtype: 'float64' });
    t.ok(maxAbsDiff(inv.combine([a, row], [2, 3]), a.mul(2).add(row.mul(3))) < 1e-12, 'broadcasts');
    const view = inv.randn([4, 4], { seed: 3, dtype: 'float64' }).transpose(0, 1);
    t.ok(maxAbsDiff(inv.combine([view], [2], { noise: 1, seed: 4 }), view.mul(2).add(inv.gaussianNoise([4, 4], { seed: 4, dtype: 'float64' }))) < 1e-12,
      'a non-contiguous view, with the same noise');
    const w = inv.randn([3], { seed: 5, requiresGrad: true });
    const out = inv.combine([w, w.square()], [2, 1]).sum();
    out.backward();
    t.ok(maxAbsDiff(w.grad, w.detach().mul(2).add(2)) < 1e-6, 'gradients flow: d/dw (2w + w²) = 2 + 2w');
  });
  t.end();
});

test('combine: bad arguments name themselves', (t) => {
  const a = inv.ones([2]);
  t.throws(() => inv.combine([], []), /tensors.*at least one/, 'no tensors');
  t.throws(() => inv.combine([a, a], [1]), /coefficients.*one number per tensor \(2\), got 1/, 'too few coefficients');
  t.throws(() => inv.combine([a], ['x']), /coefficients.*numbers/, 'a string coefficient');
  t.throws(() => inv.combine([a], [1], { noise: Infinity }), /noise.*finite/, 'infinite noise');
  t.throws(() => inv.combine([a], [1], { seed: 1.5 }), /seed/, 'fractional seed');
  const gone = inv.ones([2]);
  gone.dispose();
  t.throws(() => inv.combine([a, gone], [1, 1]), /disposed/, 'a disposed tensor');
  t.end();
});

test('Operator.langevin caps its rate where the steps would diverge, with the operator\'s own ‖A‖²', (t) => {
  // Strided blur's ‖A‖² is about 13: a cap that assumed ‖A‖ ≤ 1 let DAPS's chain grow by |1 − 13| a step.
  const A = inv.operators.create('stridedBlur', { imageShape: [1, 32, 32], batch: 2, stride: 4, seed: 1 });
  inv.scope(() => {
    const truth = inv.rand([2, 1, 32, 32], { seed: 1 });
    const y = A.forward(truth);
    const x = inv.zeros([2, 1, 32, 32]);
    const residual = (z) => A.forward(z).sub(y).square().sum().item();
    const chain = (lr) => inv.langevin(A, x, { center: x, y, lr, priorStd: 1, dataStd: 0.01, steps: 100, seed: 5 });
    const z = chain(1e-4); // 1/(1/τ² + 1/σ²): the old cap, 13× too large here
    t.ok(z.isfinite().all(), 'the chain stays finite');
    t.ok(residual(z) < 0.1 * residual(x), `and moves towards A x = y (‖Ax − y‖² ${residual(x).toFixed(2)} → ${residual(z).toFixed(4)})`);
    t.ok(chain(1).equal(z), 'a larger rate is capped to the same one');
    t.ok(!chain(1e-6).equal(z), 'a rate below the cap is used as given');
  });
  A.dispose();
  t.end();
});

test('Operator.langevin: the native chain is the TS chain, and it samples the Gaussian it targets', (t) => {
  const A = inv.operators.create('inpainting', { imageShape: [1, 8, 8], keep: 0.5, seed: 3 });
  inv.scope(() => {
    const x = inv.randn([4, 1, 8, 8], { seed: 1 });
    const center = inv.randn([4, 1, 8, 8], { seed: 2 });
    const y = A.forward(inv.randn([4, 1, 8, 8], { seed: 3 }));
    const [lr, priorStd, dataStd, seed] = [0.01, 1, 0.5, 40];
    // The same steps written with separate ops, noise keyed by seed + k.
    let ref = x;
    for (let k = 0; k < 5; k++) {
      const grad = A.adjoint(A.forward(ref).sub(y)).div(dataStd ** 2).add(ref.sub(center).div(priorStd ** 2));
      ref = ref.sub(grad.mul(lr)).add(inv.gaussianNoise(x.shape, { seed: seed + k, std: Math.sqrt(2 * lr) }));
    }
    const native = inv.langevin(A, x, { center, y, lr, priorStd, dataStd, steps: 5, seed });
    t.ok(maxAbsDiff(native, ref) < 1e-5, `5 steps agree with the TS chain (max diff ${maxAbsDiff(native, ref).toExponential(1)})`);
    t.ok(inv.langevin(A, x, { center, y, lr, priorStd, dataStd, steps: 0 }).equal(x), '0 steps leave x');
  });
  // Stationary law: per pixel, precision 1/σ² + m/τ² and mean (c/σ² + m·y/τ²)/precision (m the mask).
  inv.scope(() => {
    const n = 512;
    const mask = A.forward(inv.ones([1, 1, 8, 8])); // 1 where kept
    const center = inv.full([n, 1, 8, 8], 0.5);
    const y = mask.mul(-1).expand([n, 1, 8, 8]).contiguous();
    const [priorStd, dataStd, lr] = [1, 0.5, 0.005];
    const chain = inv.langevin(A, inv.zeros([n, 1, 8, 8]), { center, y, lr, priorStd, dataStd, steps: 1500, seed: 9 });
    const mean = chain.mean({ dim: 0 });
    const variance = chain.var({ dim: 0 });
    const precision = mask.mul(1 / dataStd ** 2).add(1 / priorStd ** 2);
    const expectedMean = mask.mul(-1 / dataStd ** 2).add(0.5 / priorStd ** 2).div(precision);
    // Unadjusted Langevin's own bias: variance 1/(p(1 − lr·p/2)) for precision p (≤ 1.3% here).
    const expectedVariance = precision.mul(precision.mul(-lr / 2).add(1)).reciprocal();
    const worstZ = mean.sub(expectedMean).div(expectedVariance.div(n).sqrt()).abs().max().item();
    const varErr = variance.div(expectedVariance).sub(1).abs().mean().item();
    t.ok(worstZ < 4.5, `pixel means match the target's: worst of 64 is ${worstZ.toFixed(2)} standard errors`);
    // One pixel's variance has relative standard error √(2/n) = 6.3%; the mean of 64 such |errors| ≈ 5%.
    t.ok(varErr < 0.08, `pixel variances within 8% on average (${(100 * varErr).toFixed(1)}%)`);
  });
  t.end();
});

test('Operator.langevin: bad arguments name themselves', (t) => {
  const A = inv.operators.create('inpainting', { imageShape: [1, 8, 8], keep: 0.5, seed: 3 });
  const x = inv.zeros([2, 1, 8, 8]);
  const y = A.forward(x);
  const good = { center: x, y, lr: 0.01, priorStd: 1, dataStd: 1, steps: 2 };
  t.throws(() => inv.langevin(A, x, { ...good, lr: 0 }), /lr.*positive/, 'lr 0');
  t.throws(() => inv.langevin(A, x, { ...good, priorStd: -1 }), /priorStd.*positive/, 'negative priorStd');
  t.throws(() => inv.langevin(A, x, { ...good, steps: -1 }), /steps.*non-negative/, 'negative steps');
  t.throws(() => inv.langevin(A, x, { ...good, center: inv.zeros([1, 1, 8, 8]) }), /center.*shape/, 'center of another shape');
  t.throws(() => inv.langevin(A, x, { ...good, y: inv.zeros([2, 1, 4, 4]) }), /'y'.*measurement shape/, 'y of another shape');
  t.end();
});
