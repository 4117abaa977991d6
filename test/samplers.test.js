'use strict';
// Samplers against exact answers: for a Gaussian prior x ~ N(μ, Σ) the MMSE denoiser is
// D(x, σ) = μ + Σ(Σ + σ²I)⁻¹(x − μ), and for y = A x + n the posterior is Gaussian in closed form.
const test = require('tape');
const inv = require('..');

const D = 64; // 1×8×8 images

// A smooth correlated prior: squared-exponential covariance on the 8×8 grid plus a small diagonal.
function correlatedPrior() {
  return inv.scope(() => {
    const idx = inv.arange(D, undefined, 1, { dtype: 'float64' });
    const r = idx.div(8).floor();
    const c = idx.remainder(8);
    const d2 = r.unsqueeze(1).sub(r.unsqueeze(0)).square().add(c.unsqueeze(1).sub(c.unsqueeze(0)).square());
    const sigma = d2.div(-2 * 1.5 * 1.5).exp().mul(0.5).add(inv.eye(D, undefined, { dtype: 'float64' }).mul(0.05));
    const mu = r.sub(3.5).div(7).mul(0.6); // a vertical ramp
    return { mu: inv.keep(mu), sigma: inv.keep(sigma) };
  });
}

function independentPrior() {
  return { mu: inv.keep(inv.zeros([D], { dtype: 'float64' })), sigma: inv.keep(inv.eye(D, undefined, { dtype: 'float64' })) };
}

// E[x | x_σ] for the prior, or for the posterior given y when A and σ_y are set.
function gaussianDenoiser({ mu, sigma }, condition) {
  const precision = inv.keep(sigma.pinverse());
  let calls = 0;
  return {
    get calls() { return calls; },
    denoise(x, s) {
      calls++;
      return inv.scope(() => {
        const flat = x.to({ dtype: 'float64' }).reshape([x.shape[0], D]);
        let P = precision.add(inv.eye(D, undefined, { dtype: 'float64' }).div(s * s));
        let rhs = flat.div(s * s).add(precision.matmul(mu.unsqueeze(1)).squeeze({ dim: 1 }));
        if (condition) {
          P = P.add(condition.M.transpose(0, 1).matmul(condition.M).div(condition.sigmaY ** 2));
          rhs = rhs.add(condition.y.matmul(condition.M).div(condition.sigmaY ** 2));
        }
        const mean = rhs.matmul(P.pinverse()); // P symmetric
        return mean.to({ dtype: x.dtype }).reshape(x.shape);
      });
    },
  };
}

// Sample mean and covariance of N×1×8×8 images.
function moments(images) {
  return inv.scope(() => {
    const flat = images.to({ dtype: 'float64' }).reshape([images.shape[0], D]);
    const mean = flat.mean({ dim: 0 });
    const centred = flat.sub(mean);
    return { mean: inv.keep(mean), cov: inv.keep(centred.transpose(0, 1).matmul(centred).div(images.shape[0] - 1)) };
  });
}

const rel = (a, b) => inv.scope(() => a.sub(b).norm().item() / b.norm().item());

// The relative Frobenius error a sample covariance of n exact draws has on average:
// E‖C − Σ‖²_F ≈ ((tr Σ)² + ‖Σ‖²_F)/n.
function expectedCovError(sigma, n) {
  return inv.scope(() => {
    const trace = sigma.mul(inv.eye(D, undefined, { dtype: 'float64' })).sum().item();
    const frob = sigma.norm().item();
    return Math.sqrt((trace * trace + frob * frob) / n) / frob;
  });
}

// The operator as a dense matrix (rows = measurements) for the closed-form posterior.
function matrixOf(A) {
  return inv.scope(() => inv.keep(A.forward(inv.eye(D, undefined, { dtype: 'float64' }).reshape([D, 1, 8, 8])).reshape([D, -1]).transpose(0, 1)));
}

test('schedule: EDM ρ = 7 from σ_max to σ_min, then 0', (t) => {
  const s = inv.samplers.edmSigmas({ steps: 18 });
  t.equal(s.length, 19);
  t.ok(Math.abs(s[0] - 80) < 1e-9 && Math.abs(s[17] - 0.002) < 1e-12 && s[18] === 0, 'endpoints');
  t.ok(s.every((v, i) => i === 0 || v < s[i - 1]), 'decreasing');
  t.end();
});

test('unconditional Heun, Euler and DDIM sample the Gaussian prior', (t) => {
  const prior = correlatedPrior();
  const n = 400;
  const expected = expectedCovError(prior.sigma, n);
  for (const [name, run, tol] of [
    ['heun (18 steps, exact ODE solver)', (d) => inv.samplers.heun(d, { shape: [n, 1, 8, 8], steps: 18, seed: 1 }), 1.5 * expected],
    ['euler (50 steps, first order)', (d) => inv.samplers.euler(d, { shape: [n, 1, 8, 8], steps: 50, seed: 2 }), 1.7 * expected],
    ['ddim η = 1 (50 steps, ancestral)', (d) => inv.samplers.ddim(d, { shape: [n, 1, 8, 8], steps: 50, seed: 3, eta: 1 }), 1.7 * expected],
    ['heun with churn 20 (18 steps)', (d) => inv.samplers.heun(d, { shape: [n, 1, 8, 8], steps: 18, seed: 4, churn: 20 }), 1.7 * expected],
  ]) {
    const d = gaussianDenoiser(prior);
    const { images, nfe } = run(d);
    const m = moments(images);
    // E‖mean − μ‖² = tr Σ / n for exact samples.
    const trace = inv.scope(() => prior.sigma.mul(inv.eye(D, undefined, { dtype: 'float64' })).sum().item());
    const meanError = inv.scope(() => m.mean.sub(prior.mu).norm().item()) / Math.sqrt(trace / n);
    t.ok(meanError < 3, `${name}: sample mean within sampling error (${meanError.toFixed(2)} standard errors)`);
    const covError = rel(m.cov, prior.sigma);
    t.ok(covError < tol, `${name}: covariance relative error ${covError.toFixed(3)} (sampling error alone: ${expected.toFixed(3)})`);
    t.equal(nfe, d.calls, `${name}: nfe ${nfe} counts every denoiser call`);
    images.dispose();
  }
  t.end();
});

test('NFE formulas, determinism and seeds', (t) => {
  const d = gaussianDenoiser(correlatedPrior());
  const shape = [4, 1, 8, 8];
  t.equal(inv.samplers.heun(d, { shape, steps: 10 }).nfe, 19, 'heun: 2N − 1');
  t.equal(inv.samplers.euler(d, { shape, steps: 10 }).nfe, 10, 'euler: N');
  t.equal(inv.samplers.ddim(d, { shape, steps: 10 }).nfe, 10, 'ddim: N');
  t.equal(inv.samplers.heun(inv.samplers.classifierFreeGuidance(d, 1.5), { shape, steps: 10 }).nfe, 38, 'guidance doubles the NFEs');
  const a = inv.samplers.ddim(d, { shape, steps: 8, seed: 5, eta: 0.5 }).images;
  const b = inv.samplers.ddim(d, { shape, steps: 8, seed: 5, eta: 0.5 }).images;
  const c = inv.samplers.ddim(d, { shape, steps: 8, seed: 6, eta: 0.5 }).images;
  t.ok(a.equal(b), 'same seed, bit-for-bit the same samples');
  t.notOk(a.equal(c), 'another seed, other samples');
  t.end();
});

test('an explicit σ schedule: edmSigmas given as sigmas is the same run bit for bit; bad schedules are refused by name', (t) => {
  const d = gaussianDenoiser(correlatedPrior());
  const shape = [4, 1, 8, 8];
  const A = inv.operators.create('inpainting', { imageShape: [1, 8, 8], keep: 0.5, seed: 2 });
  const y = inv.keep(A.forward(inv.randn(shape, { seed: 3 })));
  const schedule = { steps: 6, sigmaMin: 0.005, sigmaMax: 20, rho: 5 };
  const sigmas = inv.samplers.edmSigmas(schedule);
  const measured = { operator: A, y };
  for (const [name, extra] of [
    ['heun', { shape, churn: 10 }], ['euler', { shape }], ['ddim', { shape, eta: 0.5 }], ['ddnm', measured], ['ddrm', measured],
    ['dps', measured], ['pigdm', measured], ['daps', { ...measured, odeSteps: 2, langevinSteps: 3 }],
  ]) {
    const byOptions = inv.samplers[name](d, { ...extra, ...schedule, seed: 3 });
    const bySigmas = inv.samplers[name](d, { ...extra, sigmas, seed: 3 });
    t.ok(byOptions.images.equal(bySigmas.images) && byOptions.nfe === bySigmas.nfe, `${name}: sigmas = edmSigmas(…) gives the same ${bySigmas.nfe} NFEs and images`);
    byOptions.images.dispose();
    bySigmas.images.dispose();
  }
  const seen = [];
  const custom = [10, 4, 1, 0.3, 0];
  const own = inv.samplers.heun(d, { shape, sigmas: custom });
  t.equal(own.nfe, 7, 'heun on a 4-step schedule of one\'s own: 2N − 1 NFEs');
  own.images.dispose();
  inv.samplers.euler(d, { shape, sigmas: custom, steps: 4, onStep: ({ sigma }) => seen.push(sigma) }).images.dispose();
  t.deepEqual(seen, [10, 4, 1, 0.3], 'the steps run at the given σ (and a matching steps is accepted)');
  const bad = /heun: option 'sigmas' must be positive, strictly decreasing and end in 0/;
  for (const s of [[1, 2, 0], [5, 1], [0], [], [5, Number.NaN, 0], [5, 1, 0, -1]]) t.throws(() => inv.samplers.heun(d, { shape, sigmas: s }), bad, `[${s}] is refused`);
  t.throws(() => inv.samplers.heun(d, { shape, sigmas: '5,1,0' }), /option 'sigmas' must be an array of numbers/);
  t.throws(() => inv.samplers.heun(d, { shape, sigmas, steps: 3 }), /option 'steps' \(3\) conflicts with option 'sigmas' \(7 numbers: 6 steps\)/);
  t.throws(() => inv.samplers.heun(d, { shape, sigmas, sigmaMax: 80, rho: 7 }), /option 'sigmas' replaces the EDM schedule; drop 'sigmaMax' and 'rho'/);
  t.end();
});

test('a conditional exact denoiser through Heun samples the posterior', (t) => {
  const prior = correlatedPrior();
  const A = inv.operators.create('inpainting', { imageShape: [1, 8, 8], keep: 0.5, seed: 4, noiseStd: 0.1 });
  const M = matrixOf(A);
  const truth = inv.keep(inv.randn([1, 1, 8, 8], { seed: 7, dtype: 'float64' }));
  const y = inv.keep(A.measure(truth, { seed: 8 }).reshape([1, D]));
  // Closed-form posterior: Σ_post = (Σ⁻¹ + MᵀM/σ_y²)⁻¹, μ_post = Σ_post(Σ⁻¹μ + Mᵀy/σ_y²).
  const post = inv.scope(() => {
    const cov = prior.sigma.pinverse().add(M.transpose(0, 1).matmul(M).div(0.01)).pinverse();
    const mean = cov.matmul(prior.sigma.pinverse().matmul(prior.mu.unsqueeze(1)).add(M.transpose(0, 1).matmul(y.transpose(0, 1)).div(0.01))).squeeze({ dim: 1 });
    return { mean: inv.keep(mean), cov: inv.keep(cov) };
  });
  const d = gaussianDenoiser(prior, { M, y: inv.keep(y.expand([400, D]).contiguous()), sigmaY: 0.1 });
  const { images } = inv.samplers.heun(d, { shape: [400, 1, 8, 8], steps: 18, seed: 9 });
  const m = moments(images);
  const meanError = rel(m.mean, post.mean);
  t.ok(meanError < 0.1, `posterior mean relative error ${meanError.toFixed(3)}`);
  const covError = rel(m.cov, post.cov);
  const expected = expectedCovError(post.cov, 400);
  t.ok(covError < 1.5 * expected, `posterior covariance relative error ${covError.toFixed(3)} (sampling error alone: ${expected.toFixed(3)})`);
  t.end();
});

test('DDNM: consistent with y; its noise mixing sets the posterior spread (exact: hidden-pixel variance ratio 1)', (t) => {
  // Independent unit-variance pixels, 50% inpainting, noiseless: the exact posterior keeps the seen pixels
  // and leaves hidden ones at the prior (mean 0, variance 1). DDNM is approximate and shrinks that variance.
  const prior = independentPrior();
  const A = inv.operators.create('inpainting', { imageShape: [1, 8, 8], keep: 0.5, seed: 2 });
  const truth = inv.keep(inv.randn([1, 1, 8, 8], { seed: 3 }));
  const y = inv.keep(A.forward(truth).expand([400, 1, 8, 8]).contiguous());
  const hidden = inv.keep(A.forward(inv.ones([1, 1, 8, 8])).eq(0).reshape([D]));
  const ratios = {};
  for (const mixing of ['ddim', 'ddnm', 'invfussion']) {
    const { images, consistency, nfe } = inv.samplers.ddnm(gaussianDenoiser(prior), { operator: A, y, steps: 100, seed: 4, eta: 0.85, mixing });
    t.equal(nfe, 100, `${mixing}: N NFEs`);
    t.ok(Math.max(...consistency) < 1e-4, `${mixing}: ‖A x − y‖ ≤ ${Math.max(...consistency).toExponential(1)}`);
    ratios[mixing] = inv.scope(() => {
      const flat = images.reshape([400, D]);
      const v = flat.var({ dim: 0 });
      return v.mul(hidden.to({ dtype: 'float32' })).sum().item() / hidden.to({ dtype: 'float32' }).sum().item();
    });
    const meanHidden = inv.scope(() => images.reshape([400, D]).mean({ dim: 0 }).mul(hidden.to({ dtype: 'float32' })).abs().max().item());
    t.ok(meanHidden < 0.25, `${mixing}: hidden pixels' mean stays near the posterior mean 0 (max |mean| ${meanHidden.toFixed(3)})`);
    images.dispose();
  }
  t.comment(`hidden-pixel variance / prior variance at 100 steps: ddim ${ratios.ddim.toFixed(2)}, ddnm ${ratios.ddnm.toFixed(2)}, invfussion ${ratios.invfussion.toFixed(2)} (exact posterior: 1)`);
  t.ok(ratios.ddim > ratios.ddnm && ratios.ddnm > ratios.invfussion, 'DDIM-η keeps the most spread, DDNM less, InvFussion\'s mixing least');
  t.ok(Math.abs(ratios.ddnm - 0.68) < 0.12, `DDNM's form ≈ 0.68 as a separate simulation found (${ratios.ddnm.toFixed(2)})`);
  t.ok(Math.abs(ratios.ddim - 0.92) < 0.12, `DDIM-η form ≈ 0.92 (${ratios.ddim.toFixed(2)})`);
  t.ok(Math.abs(ratios.invfussion - 0.39) < 0.12, `InvFussion's form ≈ 0.39 (${ratios.invfussion.toFixed(2)})`);
  t.end();
});

test('progress, cancellation, memory and bad options', async (t) => {
  const d = gaussianDenoiser(correlatedPrior());
  const seen = [];
  inv.samplers.euler(d, { shape: [2, 1, 8, 8], steps: 5, onStep: ({ step, sigma, x0 }) => seen.push([step, sigma, x0.shape.join('x')]) }).images.dispose();
  t.deepEqual(seen.map((s) => s[0]), [0, 1, 2, 3, 4], 'onStep sees every step');
  t.equal(seen[0][2], '2x1x8x8', 'with x̂₀');
  // Tensors earlier tests let escape are freed by the garbage collector at any moment: let it finish first,
  // so the live count below moves only with what this test does.
  for (let i = 0; i < 3; i++) {
    global.gc();
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const before = inv.memory().tensors;
  const r = inv.samplers.heun(d, { shape: [2, 1, 8, 8], steps: 30 });
  r.images.dispose();
  t.equal(inv.memory().tensors, before, 'no tensor is left behind after 59 NFEs');
  const controller = new AbortController();
  let steps = 0;
  const cancelled = inv.samplers.heunAsync(d, { shape: [2, 1, 8, 8], steps: 50, signal: controller.signal, onStep: () => { if (++steps === 3) controller.abort(); } });
  try {
    await cancelled;
    t.fail('cancellation did not stop the sampler');
  } catch (err) {
    t.equal(err.name, 'AbortError', `cancelled after ${steps} steps`);
  }
  t.equal(inv.memory().tensors, before, 'cancellation frees the sampler\'s tensors');
  const asyncResult = await inv.samplers.eulerAsync(d, { shape: [2, 1, 8, 8], steps: 6, seed: 1 });
  t.ok(asyncResult.images.equal(inv.samplers.euler(d, { shape: [2, 1, 8, 8], steps: 6, seed: 1 }).images), 'async equals sync');
  const A = inv.operators.create('inpainting', { imageShape: [1, 8, 8] });
  // DAPS hands its Langevin chains to the driver: the async driver runs them off the event loop, same numbers.
  const yA = A.forward(inv.randn([2, 1, 8, 8], { seed: 4 }));
  const dapsOptions = { operator: A, y: yA, steps: 3, odeSteps: 2, langevinSteps: 5, seed: 2 };
  const dapsAsync = await inv.samplers.dapsAsync(d, dapsOptions);
  const dapsSync = inv.samplers.daps(d, dapsOptions);
  // 3 annealing levels of 2 ODE calls, except the last (σ = 0.002 < 0.01: one call); 15 Langevin steps, no NFEs.
  t.ok(dapsAsync.images.equal(dapsSync.images), 'dapsAsync equals daps');
  t.ok(dapsAsync.nfe === 5 && dapsSync.nfe === 5, `the Langevin chains are not counted as NFEs (${dapsAsync.nfe})`);
  const held = inv.memory().tensors;
  (await inv.samplers.dapsAsync(d, dapsOptions)).images.dispose();
  t.equal(inv.memory().tensors, held, 'and DAPS leaves no tensor behind');
  t.throws(() => inv.samplers.heun(d, { shape: [2, 1, 8, 8], steps: 0 }), /option 'steps' must be a positive integer/);
  t.throws(() => inv.samplers.heun(d, { shape: [2, 1, 8, 8], sigmaMin: -1 }), /0 < sigmaMin < sigmaMax/);
  t.throws(() => inv.samplers.heun(d, { steps: 3 }), /option 'shape' must be N×C×H×W/);
  t.throws(() => inv.samplers.ddnm(d, { operator: A, y: inv.ones([2, 1, 8, 7]) }), /option 'y' has shape \[2,1,8,7\], but the inpainting operator measures \[N, 1,8,8\]/);
  t.throws(() => inv.samplers.ddnm(d, { shape: [2, 1, 8, 8] }), /'operator' and 'y' are required/);
  t.throws(() => inv.samplers.ddim(d, { shape: [2, 1, 8, 8], eta: 2 }), /'eta' must lie in \[0, 1\]/);
});

test('zero-shot solvers against the closed-form posterior: consistency, posterior mean, NFE and VJP counts', (t) => {
  // Truth drawn from the correlated prior. Every solver here is approximate for a correlated prior
  // (only the conditional denoiser above is exact), so each tolerance below is that solver's own, measured
  // with margin; DDNM, DDRM and ΠGDM are exactly consistent with a noiseless y by construction.
  const prior = correlatedPrior();
  const d = gaussianDenoiser(prior);
  const truth = inv.scope(() => {
    const [u, s] = prior.sigma.svd();
    const L = u.mul(s.sqrt().unsqueeze(0));
    return inv.keep(L.matmul(inv.randn([D, 1], { seed: 7, dtype: 'float64' })).squeeze({ dim: 1 }).add(prior.mu).reshape([1, 1, 8, 8]));
  });
  const n = 100;
  const cases = [
    ['inpainting', { keep: 0.5, seed: 2 }, { ddnm: 0.2, ddrm: 0.2, pigdm: 0.12, dps: 0.25, daps: 0.3 }, { dps: 0.1, daps: 0.05 }],
    ['denoising', { noiseStd: 0.3 }, { ddnm: 0.3, ddrm: 0.1, pigdm: 0.35, dps: 0.35, daps: 0.35 }, null],
  ];
  for (const [family, opts, meanTol, consistencyTol] of cases) {
    const A = inv.operators.create(family, { imageShape: [1, 8, 8], ...opts });
    const M = matrixOf(A);
    const y1 = inv.keep(A.measure(truth, { seed: 8 }));
    const sy2 = Math.max(A.noiseStd, 1e-3) ** 2;
    const post = inv.scope(() => {
      const precision = prior.sigma.pinverse();
      const cov = precision.add(M.transpose(0, 1).matmul(M).div(sy2)).pinverse();
      return inv.keep(cov.matmul(precision.matmul(prior.mu.unsqueeze(1)).add(M.transpose(0, 1).matmul(y1.reshape([D, 1])).div(sy2))).squeeze({ dim: 1 }));
    });
    const y = inv.keep(y1.to({ dtype: 'float32' }).expand([n, 1, 8, 8]).contiguous());
    const yNorm = y1.norm().item();
    const dapsLr = A.noiseStd > 0 ? 0.02 : 1e-4; // stable while lr/τ² ≲ 1, τ = max(σ_y, 0.01)
    const dapsNfe = inv.samplers.edmSigmas({ steps: 30 }).slice(0, -1).reduce((sum, s) => sum + (s > 0.01 ? 5 : 1), 0);
    const runs = {
      ddnm: [() => inv.samplers.ddnm(d, { operator: A, y, steps: 100, seed: 1 }), 100, 0],
      ddrm: [() => inv.samplers.ddrm(d, { operator: A, y, steps: family === 'inpainting' ? 100 : 25, eta: family === 'inpainting' ? 1 : 0.85, seed: 1 }), family === 'inpainting' ? 100 : 25, 0],
      pigdm: [() => inv.samplers.pigdm(d, { operator: A, y, steps: 100, seed: 1 }), 100, 100],
      dps: [() => inv.samplers.dps(d, { operator: A, y, steps: 200, zeta: 0.5, step: 'invfussion', seed: 1 }), 200, 200],
      daps: [() => inv.samplers.daps(d, { operator: A, y, steps: 30, odeSteps: 5, langevinSteps: 50, lr: dapsLr, seed: 1 }), dapsNfe, 0],
    };
    for (const [name, [run, nfe, vjp]] of Object.entries(runs)) {
      const r = run();
      t.deepEqual([r.nfe, r.vjp], [nfe, vjp], `${family} ${name}: ${nfe} NFEs, ${vjp} VJPs`);
      const meanError = inv.scope(() => r.images.to({ dtype: 'float64' }).reshape([n, D]).mean({ dim: 0 }).sub(post).norm().item() / post.norm().item());
      t.ok(meanError < meanTol[name], `${family} ${name}: sample mean within ${meanTol[name]} of the posterior mean (${meanError.toFixed(3)})`);
      const misfit = Math.max(...r.consistency) / yNorm;
      if (A.noiseStd === 0) {
        const tol = consistencyTol[name] ?? 1e-4;
        t.ok(misfit <= tol, `${family} ${name}: ‖A x − y‖/‖y‖ = ${misfit.toExponential(1)} (${tol === 1e-4 ? 'consistent by construction' : 'approximately consistent'})`);
      } else {
        t.comment(`${family} ${name}: ‖A x − y‖/‖y‖ = ${misfit.toExponential(1)} with σ_y = ${A.noiseStd} (no exact consistency expected)`);
      }
      r.images.dispose();
    }
  }
  t.end();
});
